/**
 * `keyledger backup -f FILE` and `keyledger restore -f FILE` (rskeymgmt -e / -a; docs/adr/0012). The password
 * comes from a terminal prompt (not echoed), --password-stdin or --password-file — never an argument, which
 * every user of the machine sees in its process list (rskeymgmt -p takes one, with a warning, for SSRS scripts).
 * It is never written to the ledger, the operations log, an error or the output.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { type BackupDeps, backupKey, restoreKey } from '../../commands/backup';
import type { InstanceDeps } from '../../commands/instance';
import { shown } from '../../domain/text';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { outcomeRemedy, outcomeText, remedyJson } from '../render';
import { emit, fail, instanceDeps, type Session, usage, withSession } from '../session';

/** The shortest password `backup` accepts (characters). */
export const MIN_PASSWORD_LENGTH = 12;
/** Tests only: a lower PBES2 iteration count for the files `backup` writes (never below the RFC's 1000; a warning says so). */
export const TEST_ITERATIONS_ENV = 'KEYLEDGER_TEST_BACKUP_ITERATIONS';

export interface PasswordSource {
  readonly stdin?: boolean;
  readonly file?: string;
  /** rskeymgmt -p only. */
  readonly argument?: string;
}

const withoutNewline = (s: string): string => s.replace(/\r?\n$/, '');

/** The password from exactly one source; for a new backup, asked twice on a terminal and held to the minimum length. */
export const readPassword = async (io: Io, src: PasswordSource, forNewBackup: boolean): Promise<E.Either<CliError, string>> => {
  const given = [src.stdin === true, src.file !== undefined, src.argument !== undefined].filter(Boolean).length;
  if (given > 1) return usage('give the password one way: --password-stdin, --password-file FILE, or (rskeymgmt) -p');
  let password: string;
  if (src.argument !== undefined) {
    io.stderr('keyledger: warning: a password given with -p is visible to every user of this machine in its process list; prefer --password-file\n');
    password = src.argument;
  } else if (src.file !== undefined) {
    try {
      password = withoutNewline(fs.readFileSync(src.file, 'utf8'));
    } catch (e) {
      return usage(`cannot read --password-file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'}): give a readable file`);
    }
  } else if (src.stdin === true) {
    if (!io.readStdin) return usage('--password-stdin: nothing to read on stdin');
    password = withoutNewline((await io.readStdin()).toString('utf8'));
  } else if (io.prompt) {
    password = await io.prompt('Backup password: ', { hidden: true });
    if (forNewBackup && password.length > 0 && (await io.prompt('The same password again: ', { hidden: true })) !== password)
      return usage('the two passwords differ: nothing was written');
  } else return usage('no password: run on a terminal to be asked, or give --password-stdin or --password-file FILE (never an argument)');
  if (password.length === 0) return usage('the password is empty: a backup needs one (SSRS: "password may not be empty"); nothing was done');
  if (forNewBackup && [...password].length < MIN_PASSWORD_LENGTH)
    return usage(`the password is too short (${[...password].length} characters; at least ${MIN_PASSWORD_LENGTH}): nothing was written`);
  return E.right(password);
};

export const iterationsFrom = async (io: Io): Promise<E.Either<CliError, number>> => {
  const { DEFAULT_ITERATIONS, FLOOR } = await import('../../infra/key-backup');
  const raw = io.env[TEST_ITERATIONS_ENV];
  if (raw === undefined || raw === '') return E.right(DEFAULT_ITERATIONS);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < FLOOR || n > DEFAULT_ITERATIONS)
    return usage(`${TEST_ITERATIONS_ENV} must be an integer from ${FLOOR} to ${DEFAULT_ITERATIONS} (it is for tests only): nothing was written`);
  if (n < DEFAULT_ITERATIONS)
    io.stderr(`keyledger: warning: ${TEST_ITERATIONS_ENV}=${n}: this backup uses fewer PBES2 iterations than ${DEFAULT_ITERATIONS} (tests only)\n`);
  return E.right(n);
};

const backupDeps = async (s: Session, command: string): Promise<BackupDeps> => {
  const { keyBackupCipher } = await import('../../infra/key-backup');
  const deps: InstanceDeps = await instanceDeps(s, command);
  return { ...deps, backups: keyBackupCipher };
};

export const backupCommand = async (io: Io, g: GlobalOptions, file: string, src: PasswordSource, force: boolean): Promise<number> => {
  const iterations = await iterationsFrom(io);
  if (E.isLeft(iterations)) return fail(io, iterations.left);
  const password = await readPassword(io, src, true);
  if (E.isLeft(password)) return fail(io, password.left);
  return withSession(io, g, async (s) => {
    const { writeBackupFile } = await import('../../infra/key-backup-file');
    const r = await backupKey(await backupDeps(s, 'backup'), s.config.instance, password.right, iterations.right, file, (text) =>
      writeBackupFile(file, text, force),
    );
    if (E.isLeft(r)) {
      s.log.write({ command: 'backup', installationId: s.config.instance.installationId, outcome: 'error', error: r.left._tag });
      return r;
    }
    const o = r.right;
    s.log.write({ command: 'backup', keyVersion: o.keyVersion, fingerprint: o.fingerprint, iterations: o.iterations, recorded: o.recorded });
    emit(
      io,
      g,
      o,
      `backed up: symmetric key version ${o.keyVersion} of deployment ${shown(o.deploymentId)} to ${shown(o.path)} ` +
        `(PBES2-HS512+A256KW, ${o.iterations} iterations; fingerprint ${o.fingerprint}; KeyBackedUp recorded).\n` +
        'Keep the file and its password apart: whoever has both has the key. Restore it with keyledger restore -f FILE.\n',
    );
    return E.right(EXIT.ok);
  });
};

export const restoreCommand = async (io: Io, g: GlobalOptions, file: string, src: PasswordSource): Promise<number> =>
  withSession(io, g, async (s) => {
    const { readBackupFile } = await import('../../infra/key-backup-file');
    const text = readBackupFile(file);
    if (E.isLeft(text)) return E.left({ _tag: 'BackupMalformed', detail: `it cannot be read (${shown(text.left)})` });
    const password = await readPassword(io, src, false);
    if (E.isLeft(password)) return password;
    const r = await restoreKey(await backupDeps(s, 'restore'), s.config.instance, text.right, password.right);
    if (E.isLeft(r)) {
      s.log.write({ command: 'restore', installationId: s.config.instance.installationId, outcome: 'error', error: r.left._tag });
      return r;
    }
    const o = r.right;
    s.log.write({ command: 'restore', keyVersion: o.keyVersion, fingerprint: o.fingerprint, genesisDeclared: o.genesisDeclared, recorded: o.recorded });
    const restored = o.alreadyRestored
      ? `this instance already holds a certified copy of key version ${o.keyVersion}; nothing to restore.\n`
      : `restored: key version ${o.keyVersion} from ${shown(file)} (fingerprint ${o.fingerprint}) wrapped for this instance's key pair (KeyRestored recorded).\n`;
    const genesis =
      o.genesisDeclared === null
        ? ''
        : `No certified member remained: this instance is now the deployment's root of trust (genesis ${o.genesisDeclared}; GenesisDeclared recorded).\n` +
          `On every other instance, once its operator has confirmed ${o.genesisDeclared} with you out of band, run ` +
          `\`keyledger trust --expect-genesis ${o.genesisDeclared}\`.\n`;
    const remedy = outcomeRemedy(o.activation);
    emit(io, g, { ...o, ...(remedy ? { remedy: remedyJson(remedy) } : {}) }, restored + genesis + outcomeText(o.activation, 'start'));
    return E.right(o.activation.state === 'activated' ? EXIT.ok : EXIT.notActivated);
  });

const PASSWORD_HELP = `
The password: asked on a terminal (not echoed), or --password-stdin, or --password-file FILE;
never an argument (every user of the machine sees arguments in its process list).`;

export const registerBackupRestore = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('backup')
    .requiredOption('-f, --file <file>', 'the backup file to write (0600; refused if it exists, unless --force)')
    .option('--password-stdin', 'read the password from stdin (one line)')
    .option('--password-file <file>', 'read the password from a file (its first line)')
    .option('--force', 'replace an existing file')
    .description(
      "export the deployment's symmetric key to a password-protected file (rskeymgmt -e), on an activated member: a JWE, " +
        `PBES2-HS512+A256KW at 600,000 iterations, naming the deployment, key version and genesis; at least ${MIN_PASSWORD_LENGTH} characters ` +
        "of password. The ledger records who, when, the key version and the file's fingerprint (KeyBackedUp) — never the key",
    )
    .addHelpText(
      'after',
      `${PASSWORD_HELP}

Examples:
  keyledger backup -f /secure/rs-key.snk                       # asked twice for the password
  keyledger backup -f rs-key.snk --password-file ./pw.txt
Exit codes: 0 written and recorded, 2 usage (short password, file exists), 3 failure, 5 refused (this instance holds no usable copy).`,
    )
    .action(async (o: { file: string; passwordStdin?: boolean; passwordFile?: string; force?: boolean }) =>
      done(
        await backupCommand(
          io,
          globals(),
          o.file,
          { stdin: o.passwordStdin === true, ...(o.passwordFile !== undefined ? { file: o.passwordFile } : {}) },
          o.force === true,
        ),
      ),
    );

  program
    .command('restore')
    .requiredOption('-f, --file <file>', 'the backup file keyledger backup (or rskeymgmt -e) wrote')
    .option('--password-stdin', 'read the password from stdin (one line)')
    .option('--password-file <file>', 'read the password from a file (its first line)')
    .description(
      'apply a key backup to this instance (rskeymgmt -a): its copy lost or mismatched, a rebuilt machine with a new key pair, or the last ' +
        "member removed. The backup's key must match the deployment's signed key check; it is wrapped for this instance's key pair, " +
        'recorded (KeyRestored) and the instance started. With no certified member left, this instance becomes the root of trust ' +
        '(GenesisDeclared) and the output names the thumbprint other instances confirm (trust --expect-genesis)',
    )
    .addHelpText(
      'after',
      `${PASSWORD_HELP}

Refused before anything changes, each with its own message: a damaged or truncated file, more PBES2 iterations than the ceiling,
a backup of another deployment or of an older key version, a wrong password, a key that is not the deployment's.

Examples:
  keyledger restore -f /secure/rs-key.snk
  keyledger restore -f rs-key.snk --password-stdin < pw.txt
Exit codes: 0 restored and activated, 1 restored but not activated (see the reason), 2 usage, 3 failure, 4 altered file, 5 refused.`,
    )
    .action(async (o: { file: string; passwordStdin?: boolean; passwordFile?: string }) =>
      done(
        await restoreCommand(io, globals(), o.file, {
          stdin: o.passwordStdin === true,
          ...(o.passwordFile !== undefined ? { file: o.passwordFile } : {}),
        }),
      ),
    );
};
