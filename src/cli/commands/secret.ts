/**
 * `keyledger secret put | get | list | delete`: named secrets encrypted under the deployment's key (issue 12,
 * docs/adr/0011-encrypted-content.md). A value comes from stdin or a file, never from an argument (arguments
 * are visible to every user of the machine in its process list); `get` prints it only to a terminal, or with
 * --reveal. No value, and no ciphertext, is ever written to the operations log, an error or other output.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { deleteSecret, getSecret, listSecrets, putSecret, type SecretListing } from '../../commands/secrets';
import type { SecretName } from '../../domain/events';
import { nameProblem, shown } from '../../domain/text';
import { sha256Hex } from '../../infra/sha256';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { emit, fail, secretDeps, usage, withSession } from '../session';

const nameAtTheDoor = (name: string): E.Either<CliError, SecretName> => {
  const problem = nameProblem(name);
  return problem === undefined
    ? E.right(name as SecretName)
    : usage(`the secret name ${problem}: give 1–128 printable characters (e.g. reportserver/datasource/sales)`);
};

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The value to store: the file's bytes, or all of stdin. Never echoed, whatever goes wrong. */
const readValue = async (io: Io, file: string | undefined): Promise<E.Either<CliError, Buffer>> => {
  let value: Buffer;
  if (file !== undefined && file !== '-') {
    try {
      value = fs.readFileSync(file);
    } catch (e) {
      return usage(`cannot read the value from --file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'}): give a readable file, or pipe the value in`);
    }
  } else if (io.readStdin) value = await io.readStdin();
  else return usage('no value: pipe it on stdin (e.g. keyledger secret put NAME < value.txt) or give --file PATH');
  if (value.length === 0) return usage('the value is empty: nothing was stored (pipe the value on stdin, or give --file PATH)');
  try {
    UTF8.decode(value);
  } catch {
    return usage('the value is not UTF-8 text: secrets are text (connection strings, credentials); nothing was stored');
  }
  return E.right(value);
};

const putCommand = async (io: Io, g: GlobalOptions, rawName: string, file: string | undefined): Promise<number> => {
  const name = nameAtTheDoor(rawName);
  if (E.isLeft(name)) return fail(io, name.left);
  return withSession(io, g, async (s) => {
    const value = await readValue(io, file);
    if (E.isLeft(value)) return value;
    const deps = await secretDeps(s, 'secret-put');
    if (E.isLeft(deps)) return deps;
    try {
      const r = await putSecret(deps.right, s.config.instance, name.right, value.right);
      if (E.isLeft(r)) return r;
      const { loaded: _loaded, ...o } = r.right;
      s.log.write({ command: 'secret put', name: o.name, keyVersion: o.keyVersion, fingerprint: o.fingerprint, recorded: o.recorded });
      const text =
        o.recorded.length === 0
          ? `secret "${shown(o.name)}" already holds this ciphertext; nothing recorded\n`
          : `stored: secret "${shown(o.name)}" encrypted under key version ${o.keyVersion} (fingerprint ${o.fingerprint}; SecretPut recorded)\n`;
      emit(io, g, o, text);
      return E.right(EXIT.ok);
    } finally {
      value.right.fill(0);
    }
  });
};

const getCommand = async (io: Io, g: GlobalOptions, rawName: string, reveal: boolean): Promise<number> => {
  const name = nameAtTheDoor(rawName);
  if (E.isLeft(name)) return fail(io, name.left);
  if (!reveal && io.stdoutIsTTY !== true)
    return fail(io, {
      _tag: 'UsageError',
      message: 'not printing a secret to a pipe or a file: pass --reveal to print it there (nothing was read or recorded)',
    });
  return withSession(io, g, async (s) => {
    const deps = await secretDeps(s, 'secret-get');
    if (E.isLeft(deps)) return deps;
    const r = await getSecret(deps.right, s.config.instance, name.right);
    if (E.isLeft(r)) return r;
    const { entry, value } = r.right;
    s.log.write({ command: 'secret get', name: entry.name, keyVersion: entry.keyVersion, fingerprint: entry.fingerprint, recorded: r.right.recorded });
    const text = value.toString('utf8');
    value.fill(0);
    if (g.json) io.stdout(`${JSON.stringify({ name: entry.name, keyVersion: entry.keyVersion, fingerprint: entry.fingerprint, value: text }, null, 2)}\n`);
    else io.stdout(io.stdoutIsTTY === true && !text.endsWith('\n') ? `${text}\n` : text);
    return E.right(EXIT.ok);
  });
};

const listText = (rows: ReadonlyArray<SecretListing>): string => {
  if (rows.length === 0) return 'no secrets in this deployment (keyledger secret put NAME < value stores one)\n';
  const header = ['name', 'key', 'fingerprint', 'put at', 'put by', 'reads (CLI / library)'];
  const cells = rows.map((r) => [
    shown(r.name, 64),
    `v${r.keyVersion}`,
    `${r.fingerprint.slice(0, 12)}…`,
    r.putAt,
    shown(r.putByActor, 48),
    `${r.reads} / ${r.countedReads}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: ReadonlyArray<string>): string => `${c.map((x, i) => x.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  return `${[line(header), ...cells.map(line)].join('\n')}\n`;
};

const listCommand = async (io: Io, g: GlobalOptions): Promise<number> =>
  withSession(io, g, async (s) => {
    const r = await listSecrets({ store: s.store, digest: sha256Hex }, s.config.instance.deploymentId);
    if (E.isLeft(r)) return r;
    emit(io, g, r.right, listText(r.right));
    return E.right(EXIT.ok);
  });

const deleteCommand = async (io: Io, g: GlobalOptions, rawName: string): Promise<number> => {
  const name = nameAtTheDoor(rawName);
  if (E.isLeft(name)) return fail(io, name.left);
  return withSession(io, g, async (s) => {
    const deps = await secretDeps(s, 'secret-delete');
    if (E.isLeft(deps)) return deps;
    const r = await deleteSecret(deps.right, s.config.instance, name.right);
    if (E.isLeft(r)) return r;
    s.log.write({ command: 'secret delete', name: r.right.name, fingerprint: r.right.fingerprint, recorded: r.right.recorded });
    emit(io, g, r.right, `deleted: secret "${shown(r.right.name)}" (SecretDeleted recorded; its ciphertext removed)\n`);
    return E.right(EXIT.ok);
  });
};

const HELP = `
Secrets are encrypted under the deployment's current symmetric key (JWE, A256GCM) by an activated member, and
kept in the content store beside the ledger; the ledger records which secret changed, by whom, under which key
version, with a fingerprint of the ciphertext — never the value. Every 'get' is recorded (SecretRead).

Values come from stdin or a file, never from an argument (the process list shows arguments to every user):
  keyledger secret put reportserver/datasource/sales < conn.txt
  printf %s "$VALUE" | keyledger secret put smtp/password
  keyledger secret put smtp/password --file ./password.txt
  keyledger secret get smtp/password                 prints on a terminal only
  keyledger secret get smtp/password --reveal | cmd  prints to a pipe too (you asked for it)
  keyledger secret list [--json]
  keyledger secret delete smtp/password

The bytes are stored exactly (echo adds a newline; printf %s does not). Values are UTF-8 text of at most 64 KiB.
Service code uses the library instead: openDeployment(config) → encrypt / decrypt / status (see README).
`;

export const registerSecret = (program: Command, { io, globals, done: setExit }: CommandScope): void => {
  const secret = program
    .command('secret')
    .description("named secrets (connection strings, credentials) encrypted under the deployment's key, beside the ledger")
    .addHelpText('after', HELP);
  secret
    .command('put')
    .argument('<name>', 'the secret, e.g. reportserver/datasource/sales (1–128 printable characters)')
    .option('--file <path>', 'read the value from this file (default: stdin)')
    .description('encrypt a value read from stdin (or --file) and store it under NAME, replacing its value; recorded as SecretPut')
    .addHelpText(
      'after',
      '\nThe value never goes on the command line (every user of the machine sees arguments):\n' +
        '  keyledger secret put reportserver/datasource/sales < conn.txt\n' +
        '  printf %s "$PASSWORD" | keyledger secret put smtp/password      (echo would add a newline)\n' +
        '  keyledger secret put smtp/password --file ./password.txt\n' +
        'Needs an activated instance (keyledger start); exit 1 otherwise.\n',
    )
    .action(async (name: string, o: { file?: string }) => setExit(await putCommand(io, globals(), name, o.file)));
  secret
    .command('get')
    .argument('<name>', 'the secret')
    .option('--reveal', 'print the value even when stdout is not a terminal (a pipe, a file)')
    .description('decrypt NAME and print its value (on a terminal, or with --reveal); the read is recorded as SecretRead first')
    .addHelpText(
      'after',
      '\n  keyledger secret get smtp/password                  on a terminal\n' +
        '  keyledger secret get smtp/password --reveal | cmd   into a pipe (you asked for it)\n' +
        'Exit 5: no such secret; 4: its ciphertext or event was altered (nothing printed); 1: this instance is not activated.\n',
    )
    .action(async (name: string, o: { reveal?: boolean }) => setExit(await getCommand(io, globals(), name, o.reveal === true)));
  secret
    .command('list')
    .description('the secrets of this deployment: name, key version, fingerprint, when and by whom put, reads; nothing is decrypted')
    .action(async () => setExit(await listCommand(io, globals())));
  secret
    .command('delete')
    .argument('<name>', 'the secret')
    .description('delete NAME: SecretDeleted recorded, then its ciphertext removed from the content store')
    .action(async (name: string) => setExit(await deleteCommand(io, globals(), name)));
};
