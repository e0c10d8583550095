#!/usr/bin/env node
/**
 * The `keyledger` command line: wiring only. Each command lives in its own
 * module under ./commands; the shared composition (config, store, deps,
 * view) is ./session.ts.
 */
import { Command, CommanderError, Option } from 'commander';
import { registerAcceptRollback } from './commands/accept-rollback';
import { registerAudit } from './commands/audit';
import { registerDiagnose } from './commands/diagnose';
import { registerTrust } from './commands/trust';
import { registerBackupRestore } from './commands/backup-restore';
import { registerRecreate } from './commands/recreate';
import { registerReport } from './commands/report';
import { registerDeleteContent } from './commands/delete-content';
import { registerChangeIdentity } from './commands/change-identity';
import { registerConfig } from './commands/config';
import { registerInitStart } from './commands/init-start';
import { registerJoinRemove } from './commands/join-remove';
import { registerRskeymgmt, rskeymgmtHelpFlag } from './commands/rskeymgmt';
import { registerSecret } from './commands/secret';
import { registerStatusList } from './commands/status-list';
import { registerVerify } from './commands/verify';
import { registerTree } from './commands/tree';
import { registerWatch } from './commands/watch';
import { registerServe } from './commands/serve';
import { registerToken } from './commands/token';
import { errorMessage } from '../infra/error-message';
import { EXIT } from './errors';
import { Thumbprint } from '../domain/ids';
import { shown } from '../domain/text';
import type { CommandScope, GlobalOptions, Io } from './io';

export type { Io } from './io';

const HELP_FOOTER = `
Exit codes: 0 ok / activated, 1 not activated (RSReportServerNotActivated),
            2 bad input (usage, config), 3 failure (store, keystore, unreadable ledger),
            4 tampering found (verify, or any command meeting an altered event),
            5 refused by the ledger's rules (e.g. removing the last member without --force),
            6 findings (report: something against its policy).

Quick start:
  keyledger config new          write ./keyledger.config.json for this machine
  keyledger init                run the five initialization steps (resumable)
  keyledger status              activated? if not, exactly why and what to do

Scale-out (each instance has its own config and keystore; they share the store):
  keyledger -c node2.json init            node 2: steps 1-3, then waits to join
  keyledger -c node1.json join <id>       on an activated member: wrap the key for node 2
  keyledger -c node2.json start           node 2 proves its copy and activates
  keyledger remove <id> [--force]         revoke a member's copy (rskeymgmt -r)
  keyledger change-identity <account>     new key pair under a new service identity
  keyledger init --new-installation-id    a new identity for an instance whose key pair is lost
  keyledger rskeymgmt -l | -j -m M -n N | -r <id> | -e -f F -p P | -a -f F -p P | -s | -d   the SSRS flags (rskeymgmt -? for all)

Key backup (a password-protected file; the password is asked, or --password-stdin / --password-file):
  keyledger backup -f rs-key.snk          on an activated member (rskeymgmt -e)
  keyledger restore -f rs-key.snk         on an instance that lost its key, or after the last member left (rskeymgmt -a)
  keyledger recreate                      a new key version, every secret re-encrypted, the old one retired (rskeymgmt -s)
  keyledger delete-content [--confirm D]  no backup and the key lost: destroy every secret and the key, then init afresh (dry run without --confirm)

Diagnose and audit (read only: no keystore or config needed, --store names the ledger):
  keyledger diagnose [id] [--at T]        why an instance is (or was) activated or not: its steps, key events, evidence, remedy
  keyledger audit [id] | --deployment D | --all [--since T] [--until T] [--type X] [--csv]   the trail of key operations

Compliance (a deployment over a period; HTML, JSON or CSV):
  keyledger report --from 2026-01-01 --to 2026-03-31 --max-key-age 90d --trust <genesis> --out q1.html

As a service (GET /reportserver for load balancers, a JSON API with bearer tokens, /metrics):
  keyledger token create --role operator --name ops@contoso   a token, printed once (roles: operator, auditor, service)
  keyledger serve [--listen 127.0.0.1:8080] [--tls-cert F --tls-key F]   until SIGTERM

Secrets (encrypted under the deployment key, beside the ledger; values from stdin, never arguments):
  keyledger secret put NAME < value.txt   |   secret get NAME [--reveal]   |   secret list   |   secret delete NAME
`;

export const buildProgram = (io: Io, setExit: (code: number) => void): Command => {
  const program = new Command('keyledger')
    .description('An event-sourced ledger for the encryption keys of a fleet of service instances (SSRS-style initialization and scale-out).')
    .version('0.1.0')
    .addOption(
      new Option('-c, --config <file>', 'the instance config file (RSReportServer.config analogue)').env('KEYLEDGER_CONFIG').default('keyledger.config.json'),
    )
    .option('--store <connection>', "override the config's store: sqlite:PATH | esdb://[user@]host:2113 | esdb+discover://…")
    .option(
      '--allow-insecure-store',
      'accept an EventStoreDB connection without TLS (tls=false: nothing encrypted, no credentials sent, no rights checked) — a test server only; warned about',
    )
    .option('--actor <name>', 'who is acting, recorded on every event (default: $KEYLEDGER_ACTOR or user@host)')
    .option('--correlation-id <id>', 'tie the events of this run to a change ticket or outer operation')
    .option('--json', 'machine-readable output on stdout')
    .addHelpText('after', HELP_FOOTER)
    .showHelpAfterError('(run keyledger --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // commander echoes what it did not understand (an unknown command, a bad option): escaped and bounded like ours.
      outputError: (text, write) =>
        write(
          text
            .split('\n')
            .map((line) => shown(line, 300))
            .join('\n'),
        ),
    });

  const scope: CommandScope = { io, globals: () => program.opts<GlobalOptions>(), done: setExit };
  for (const register of [
    registerConfig,
    registerInitStart,
    registerStatusList,
    registerWatch,
    registerJoinRemove,
    registerChangeIdentity,
    registerRskeymgmt,
    registerVerify,
    registerAcceptRollback,
    registerTrust,
    registerSecret,
    registerBackupRestore,
    registerRecreate,
    registerDiagnose,
    registerAudit,
    registerReport,
    registerDeleteContent,
    registerTree,
    registerServe,
    registerToken,
  ])
    register(program, scope);
  return program;
};

/** Options whose value is a thumbprint: base64url, so one in 64 begins with "-", which a parser takes for an option. */
const THUMBPRINT_OPTIONS = new Set(['--expect-thumbprint', '--expect-genesis', '--trust']);

/** `--expect-thumbprint -cBP…` → `--expect-thumbprint=-cBP…`: the value the operator pasted, not a missing one. */
export const joinThumbprintValues = (argv: ReadonlyArray<string>): string[] => {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (THUMBPRINT_OPTIONS.has(a) && next?.startsWith('-') && Thumbprint.is(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
};

/** Runs the CLI; resolves to the exit code. Never throws for user errors. */
export const runCli = async (argv: ReadonlyArray<string>, io: Io): Promise<number> => {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(rskeymgmtHelpFlag(joinThumbprintValues(argv)), { from: 'user' });
    return code;
  } catch (e) {
    // commander reports usage errors (and --help / --version) by throwing its own error type.
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw e;
  }
};

/** One line from the terminal (readline loads only when a question is asked); a hidden answer is not echoed. */
const askOnTerminal = async (question: string, options?: { readonly hidden?: boolean }): Promise<string> => {
  const { createInterface } = await import('node:readline/promises');
  const { Writable } = await import('node:stream');
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const answer = rl.question(question);
    muted = options?.hidden === true;
    const line = await answer;
    if (muted) process.stderr.write('\n');
    return line;
  } finally {
    rl.close();
  }
};

if (require.main === module) {
  // Output that cannot be written (a reader that went away: EPIPE; a full disk: ENOSPC) must not crash the
  // process with a trace once the operation is done: the exit code stays the operation's for a closed pipe
  // (what `| head` does), and is a failure for any other output error, with one line on stderr saying so.
  let outputLost: string | undefined;
  const lose = (e: unknown): void => {
    outputLost ??= (e as NodeJS.ErrnoException).code ?? 'EIO';
  };
  process.stdout.on('error', lose);
  process.stderr.on('error', lose);
  const write = (stream: NodeJS.WriteStream) => (s: string) => {
    if (outputLost !== undefined) return;
    try {
      stream.write(s, (e) => e && lose(e));
    } catch (e) {
      lose(e);
    }
  };
  const io: Io = {
    stdout: write(process.stdout),
    stderr: write(process.stderr),
    env: process.env,
    isTTY: Boolean(process.stderr.isTTY),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    ...(process.stdin.isTTY ? { prompt: askOnTerminal } : {}),
  };
  const finish = (code: number): void => {
    if (outputLost === undefined || outputLost === 'EPIPE') {
      process.exitCode = code;
      return;
    }
    try {
      process.stderr.write(`keyledger: the output could not be written (${outputLost}); the command itself ended with exit code ${code}.\n`);
    } catch {
      // stderr is gone too: the exit code says it
    }
    process.exitCode = code === EXIT.ok ? EXIT.failure : code;
  };
  runCli(process.argv.slice(2), io).then(
    (code) => {
      // Writes still in flight report their errors on the next turns of the loop.
      setImmediate(() => finish(code));
    },
    (e: unknown) => {
      process.stderr.write(`keyledger: internal error: ${errorMessage(e)}. This is a bug; please report it.\n`);
      process.exitCode = 70;
    },
  );
}
