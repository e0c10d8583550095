/**
 * `keyledger rskeymgmt`: SSRS's rskeymgmt command line ("rskeymgmt Utility (SSRS)") over keyledger's own commands,
 * with its rules: one operation per call (-e -a -d -s -j -r -l), -f and -p required with -e and -a (-p not empty),
 * -m with -j (-n defaults to MSSQLSERVER, as in SSRS), -v required with -u, -? for the syntax. -u / -v are accepted
 * for SSRS scripts and not needed here: the newcomer registered its own public key in the ledger, so no administrator
 * account on the remote machine is used. -t copies the error messages to the trace log (the operations log).
 */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { loadConfig } from '../../infra/config';
import { fileOpLog } from '../../infra/oplog';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { fail } from '../session';
import { deleteContentCommand } from './delete-content';
import { backupCommand, type PasswordSource, restoreCommand } from './backup-restore';
import { joinCommand, removeCommand } from './join-remove';
import { recreateCommand } from './recreate';
import { listCommand } from './status-list';

export type RskeymgmtFlags = Readonly<Record<string, string | boolean | undefined>>;

/** SSRS's default instance name, the default of -n (and of -i). */
export const DEFAULT_INSTANCE = 'MSSQLSERVER';

/** The operations, in the order SSRS's syntax lists them. */
const OPERATIONS = ['e', 'a', 'd', 's', 'j', 'r', 'l'] as const;
type Operation = (typeof OPERATIONS)[number];

/** What one call does, once the flags are known to follow SSRS's rules. */
export type RskeymgmtPlan =
  | { readonly op: 'extract' | 'apply'; readonly file: string; readonly password: PasswordSource; readonly force: boolean }
  | { readonly op: 'delete'; readonly confirm: string | undefined }
  | { readonly op: 'recreate' }
  | { readonly op: 'join'; readonly machine: string; readonly instance: string; readonly expectThumbprint?: string; readonly credentialsIgnored: boolean }
  | { readonly op: 'remove'; readonly installationId: string; readonly force: boolean; readonly rotate: boolean }
  | { readonly op: 'list' };

const given = (f: RskeymgmtFlags, k: string): boolean => f[k] !== undefined && f[k] !== false;
const text = (f: RskeymgmtFlags, k: string): string | undefined => (typeof f[k] === 'string' ? (f[k] as string) : undefined);

/** Flags that belong to some operations only: [flag, the operations it goes with, how SSRS names its use]. */
const ONLY_WITH: ReadonlyArray<readonly [string, ReadonlyArray<Operation>, string]> = [
  ['f', ['e', 'a'], '-f (the backup file) goes with -e or -a'],
  ['p', ['e', 'a'], '-p (the backup password) goes with -e or -a'],
  ['passwordFile', ['e', 'a'], '--password-file goes with -e or -a'],
  ['passwordStdin', ['e', 'a'], '--password-stdin goes with -e or -a'],
  ['m', ['j'], '-m (the remote computer) goes with -j'],
  ['n', ['j'], '-n (the instance on the remote computer) goes with -j'],
  ['u', ['j'], '-u (an administrator account on the remote computer) goes with -j'],
  ['v', ['j'], '-v (that account\u2019s password) goes with -j'],
  ['expectThumbprint', ['j'], '--expect-thumbprint goes with -j'],
  ['force', ['r', 'e'], '--force goes with -r (removing the last member) or -e (overwriting a backup file)'],
  ['rotate', ['r'], '--rotate goes with -r'],
  ['confirm', ['d'], '--confirm goes with -d'],
];

const SYNTAX = 'run keyledger rskeymgmt -? for the syntax';

/** SSRS's rules over the parsed flags: the plan, or the one line that says what is wrong and what to do. */
export const planRskeymgmt = (f: RskeymgmtFlags): E.Either<string, RskeymgmtPlan> => {
  const chosen = OPERATIONS.filter((o) => given(f, o));
  if (chosen.length === 0) return E.left(`rskeymgmt needs one operation: -e, -a, -d, -s, -j, -r or -l (${SYNTAX})`);
  if (chosen.length > 1) return E.left(`rskeymgmt takes one operation per call, not ${chosen.map((o) => `-${o}`).join(' and ')}: run them one after the other`);
  const op = chosen[0]!;
  for (const [flag, ops, why] of ONLY_WITH) if (given(f, flag) && !ops.includes(op)) return E.left(`${why}, not with -${op} (${SYNTAX})`);
  switch (op) {
    case 'e':
    case 'a': {
      const file = text(f, 'f');
      if (file === undefined || file === '') return E.left(`rskeymgmt -${op} needs -f <file>: the backup file to ${op === 'e' ? 'write' : 'apply'}`);
      const password = text(f, 'p');
      if (password === '') return E.left('-p: this value cannot be empty (the backup password); nothing was done');
      const sources = [password !== undefined, given(f, 'passwordFile'), given(f, 'passwordStdin')].filter(Boolean).length;
      if (sources === 0)
        return E.left(`rskeymgmt -${op} needs -p <password> (or, keeping it out of the process list, --password-file FILE or --password-stdin)`);
      if (sources > 1) return E.left('give the password one way: -p, --password-file FILE or --password-stdin');
      const src: PasswordSource =
        password !== undefined ? { argument: password } : given(f, 'passwordStdin') ? { stdin: true } : { file: text(f, 'passwordFile') ?? '' };
      return E.right({ op: op === 'e' ? 'extract' : 'apply', file, password: src, force: given(f, 'force') });
    }
    case 'd':
      return E.right({ op: 'delete', confirm: text(f, 'confirm') });
    case 's':
      return E.right({ op: 'recreate' });
    case 'j': {
      const machine = text(f, 'm');
      if (machine === undefined || machine === '')
        return E.left('rskeymgmt -j needs -m <remotecomputer>: the machine of the instance to join (and -n <instance>)');
      if (given(f, 'v') && !given(f, 'u')) return E.left('-v (a password) is given without -u (the account it belongs to)');
      if (given(f, 'u') && !given(f, 'v')) return E.left('-u needs -v: the password of that administrator account (required for -u)');
      const expect = text(f, 'expectThumbprint');
      return E.right({
        op: 'join',
        machine,
        instance: text(f, 'n') || DEFAULT_INSTANCE,
        ...(expect !== undefined ? { expectThumbprint: expect } : {}),
        credentialsIgnored: given(f, 'u'),
      });
    }
    case 'r':
      return E.right({ op: 'remove', installationId: text(f, 'r') ?? '', force: given(f, 'force'), rotate: given(f, 'rotate') });
    case 'l':
      return E.right({ op: 'list' });
  }
};

/** The io of one call, copying what it prints on stderr so that -t can put the error messages in the trace log. */
const tracing = (io: Io): { readonly io: Io; readonly lines: () => ReadonlyArray<string> } => {
  const seen: string[] = [];
  return {
    io: {
      ...io,
      stderr: (s: string) => {
        seen.push(s);
        io.stderr(s);
      },
    },
    lines: () =>
      seen
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('keyledger: ')),
  };
};

const run = async (io: Io, g: GlobalOptions, plan: RskeymgmtPlan): Promise<number> => {
  switch (plan.op) {
    case 'extract':
      return backupCommand(io, g, plan.file, plan.password, plan.force);
    case 'apply':
      return restoreCommand(io, g, plan.file, plan.password);
    case 'delete':
      return deleteContentCommand(io, g, plan.confirm === undefined ? {} : { confirm: plan.confirm });
    case 'recreate':
      return recreateCommand(io, g);
    case 'join':
      if (plan.credentialsIgnored)
        io.stderr(
          'keyledger: note: -u / -v are not needed here (the newcomer registered its own public key in the ledger; no account on the remote machine is used): ignored\n',
        );
      return joinCommand(io, g, {
        machine: plan.machine,
        instance: plan.instance,
        ...(plan.expectThumbprint ? { expectThumbprint: plan.expectThumbprint } : {}),
      });
    case 'remove':
      return removeCommand(io, g, plan.installationId, plan.force, plan.rotate);
    case 'list':
      return listCommand(io, g);
  }
};

const rskeymgmt = async (io: Io, g: GlobalOptions, f: RskeymgmtFlags): Promise<number> => {
  const plan = planRskeymgmt(f);
  if (E.isLeft(plan)) return fail(io, { _tag: 'UsageError', message: plan.left });
  const local = text(f, 'i');
  const config = loadConfig(g.config);
  if (local !== undefined) {
    if (E.isLeft(config)) return fail(io, config.left);
    if (config.right.instance.instanceName.toLowerCase() !== local.toLowerCase())
      return fail(io, {
        _tag: 'UsageError',
        message: `-i ${local} does not match the config's instance ${config.right.instance.instanceName}: pass that instance's config with -c`,
      });
  }
  if (!given(f, 't')) return run(io, g, plan.right);
  const traced = tracing(io);
  const code = await run(traced.io, g, plan.right);
  if (E.isRight(config)) {
    const log = fileOpLog(config.right.stateDir);
    for (const line of traced.lines()) log.write({ command: 'rskeymgmt', trace: line.slice('keyledger: '.length) });
  } else io.stderr('keyledger: note: -t: no trace log without a readable config (the operations log lives in its state folder)\n');
  return code;
};

const SSRS_SYNTAX = `
SSRS syntax (rskeymgmt Utility), one operation per call:
  -e -f FILE -p PASSWORD         extract the symmetric key to a password-protected file (keyledger backup)
  -a -f FILE -p PASSWORD         apply a backup: every copy of the key is replaced (keyledger restore)
  -d [--confirm DEPLOYMENT]      delete every key copy and all encrypted content, the last resort (keyledger delete-content)
  -s                             re-create the key and re-encrypt every secret (keyledger recreate)
  -j -m COMPUTER [-n INSTANCE]   join a remote instance (-n defaults to ${DEFAULT_INSTANCE}; keyledger join)
  -r INSTALLATIONID              remove an instance's key: it leaves the scale-out (keyledger remove)
  -l                             list the instances of the deployment (keyledger list)
  -i INSTANCE                    the local instance (checked against the config's)
  -u ACCOUNT -v PASSWORD         accepted with -j for SSRS scripts, not needed here: the newcomer registered its own
                                 public key in the ledger, so no administrator account on the remote machine is used
  -t                             also write the error messages to the trace log (<stateDir>/keyledger.log)
  -?                             this syntax
-p puts the password in the process list: keyledger also takes --password-file FILE or --password-stdin in its place.
`;

export const registerRskeymgmt = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('rskeymgmt')
    .description('the SSRS rskeymgmt flags over keyledger: extract, apply, delete, re-create the key; join, remove, list instances')
    .option('-e', 'extract the symmetric key to a password-protected backup file (needs -f and -p)')
    .option('-a', 'apply a backup: replace the key with the copy in the file (needs -f and -p)')
    .option('-d', 'delete all key copies and all encrypted content (the last resort, when no backup exists)')
    .option('-s', 'generate a new symmetric key and re-encrypt all encrypted content with it')
    .option('-j', 'join a remote instance to this deployment (needs -m; run on a member)')
    .option('-r <installationID>', "remove an instance's key information: it leaves the scale-out")
    .option('-l', 'list the instances of the deployment')
    .option('-i <instance>', 'the local instance (must match the config)')
    .option('-f <file>', 'the backup file (with -e / -a)')
    .option('-p <password>', 'the backup password (with -e / -a; not empty; visible in the process list)')
    .option('-m <remotecomputer>', 'the remote computer (with -j)')
    .option('-n <instance>', `the instance on the remote computer (with -j; default ${DEFAULT_INSTANCE})`)
    .option('-u <account>', 'an administrator account on the remote computer (with -j; accepted, not needed here)')
    .option('-v <password>', 'that account\u2019s password (required with -u; accepted, not needed here)')
    .option('-t', 'also write the error messages to the trace log')
    .option('--password-file <file>', 'with -e / -a: read the password from a file instead of -p')
    .option('--password-stdin', 'with -e / -a: read the password from stdin instead of -p')
    .option('--force', 'with -r: allow removing the last member; with -e: overwrite the file')
    .option('--rotate', 'with -r: re-create the key after the removal (keyledger remove --rotate)')
    .option('--expect-thumbprint <thumbprint>', "with -j: the newcomer's key thumbprint, as `keyledger status` prints it there")
    .option('--confirm <deploymentId>', 'with -d: the deployment ID, to confirm the deletion (without it, -d only shows what would be destroyed)')
    .addHelpText('after', SSRS_SYNTAX)
    .action(async (o: RskeymgmtFlags) => done(await rskeymgmt(io, globals(), o)));
};

/** `rskeymgmt -?` is SSRS's way to ask for the syntax: the same as `rskeymgmt --help`. */
export const rskeymgmtHelpFlag = (argv: ReadonlyArray<string>): string[] => {
  const at = argv.indexOf('rskeymgmt');
  return argv.map((a, i) => (at >= 0 && i > at && a === '-?' ? '--help' : a));
};
