/**
 * The real `keyledger` CLI (child processes) on EventStoreDB: the scale-out
 * flow init → waiting to join → join → start → status / list / verify → remove,
 * against the wire-level test double (`test/support/esdb-double.ts`) served
 * in THIS process on 127.0.0.1 — with BatchAppend advertised or not (the
 * adapter takes Streams.Append either way), once with `--store` overriding an SQLite config and once with the
 * connection string written into the config by `config new --ledger`.
 * And an unreachable store: exit 3, one line naming the endpoint, no password.
 * The flow itself is test/support/esdb-cli-flow.ts; `npm run test:esdb` runs it
 * against a real server too (test/esdb-real-cli.e2e.ts).
 *
 * What this proves: the CLI's store selection and the adapter over the real
 * client and wire protocol, across processes. Not EventStoreDB's own semantics
 * (see the double's header); `npm run test:esdb` runs the store contract
 * and this flow against a real server.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { openEsdbStore } from '../../src/infra/esdb-store';
import type { EventStore } from '../../src/ports/event-store';
import { CLI, type CliResult, runNode } from '../support/cli';
import { doubleCaFile, type EsdbDouble, startEsdbDouble } from '../support/esdb-double';
import { scaleOut } from '../support/esdb-cli-flow';
import { tempDir } from '../support/fixtures';

/** In the user info of every connection string below: it must never appear in any output. */
const PASSWORD = 'changeit';
/** TLS, as in production: the double's test CA. */
const CA = `tlsCAFile=${encodeURIComponent(doubleCaFile())}`;
const withCredentials = (port: number): string => `esdb://admin:${PASSWORD}@localhost:${port}?${CA}`;
/** On the command line only the user: the password comes from KEYLEDGER_ESDB_PASSWORD (given to every process below). */
const userOnly = (port: number): string => `esdb://admin@localhost:${port}?${CA}`;

const cli = (cwd: string, args: ReadonlyArray<string>, timeoutMs = 30_000): Promise<CliResult> =>
  runNode(CLI, args, { cwd, timeoutMs, env: { KEYLEDGER_ESDB_PASSWORD: PASSWORD } });

const noSecrets = (t: ExecutionContext, r: CliResult, what: string): void => {
  t.false(r.stdout.includes(PASSWORD), `${what}: no password on stdout`);
  t.false(r.stderr.includes(PASSWORD), `${what}: no password on stderr`);
};

/** Runs one CLI command and checks its exit code (showing stderr when it differs). */
const expectCode = async (t: ExecutionContext, cwd: string, code: number, args: ReadonlyArray<string>): Promise<CliResult> => {
  const r = await cli(cwd, args);
  t.is(r.code, code, `keyledger ${args.join(' ')}: ${r.stderr}`);
  noSecrets(t, r, args.join(' '));
  return r;
};

const openReader = (connectionString: string): EventStore => {
  const r = openEsdbStore(connectionString, { retry: { attempts: 3, baseDelayMs: 20 } });
  if (E.isLeft(r)) throw new Error(`cannot open the reader: ${JSON.stringify(r.left)}`);
  return r.right;
};

const doubleTarget = (d: EsdbDouble) => ({
  connection: withCredentials(d.port),
  storeFlag: userOnly(d.port),
  env: { KEYLEDGER_ESDB_PASSWORD: PASSWORD },
  endpoint: `esdb://localhost:${d.port}`,
  secrets: [PASSWORD],
  fresh: true,
  reader: () => openReader(d.connectionStringAs('admin')),
});

for (const [label, batchAppend] of [
  ['BatchAppend', true],
  ['Append', false],
] as const) {
  for (const mode of ['store-flag', 'config-ledger'] as const) {
    // Each flow is ~12 CLI processes (two RSA key pairs); the double lives as long as the test.
    const how = mode === 'store-flag' ? '--store esdb://…' : 'config new --ledger esdb://…';
    test(`esdb CLI (${label}, ${how}): init → waiting to join → join → start → status/list/verify → remove`, async (t) => {
      t.timeout(120_000);
      const d = await startEsdbDouble({ batchAppend, tls: true });
      try {
        await scaleOut(t, doubleTarget(d), mode);
        // Whether the server advertises BatchAppend or not: the adapter never takes it (ADR 0006, issue 17 problem 1).
        t.true(d.calls.append > 0, 'appends went over Streams.Append');
        t.is(d.calls.batchAppendStreams, 0);
      } finally {
        await d.stop();
      }
    });
  }
}

// ─── an unreachable store ─────────────────────────────────────────────────

/** A port nothing listens on (bound, then released). */
const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

/**
 * The CLI opens the adapter with its default retry policy (5 attempts, 100 ms doubling: ~1.5 s of
 * back-off); there is no CLI option or setting for it, so the bound checked here is generous.
 */
const UNREACHABLE_BOUND_MS = 15_000;

const assertUnreachable = (t: ExecutionContext, r: CliResult, port: number, elapsedMs: number): void => {
  t.is(r.code, 3, r.stderr);
  t.is(r.signal, null);
  t.is(r.stdout, '');
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  t.is(lines.length, 1, `one line: ${r.stderr}`);
  t.regex(lines[0]!, new RegExp(`^keyledger: store esdb://localhost:${port} unavailable: .*UNAVAILABLE`));
  t.false(r.stderr.includes('admin'), 'no user name');
  noSecrets(t, r, 'status');
  t.true(elapsedMs < UNREACHABLE_BOUND_MS, `gave up within ${UNREACHABLE_BOUND_MS} ms (took ${elapsedMs} ms)`);
};

// `serial`: these stop a double; ava runs them before the rest.
test.serial('esdb CLI: the double stopped → `status --store` exits 3 with one line naming the endpoint, no credentials, in bounded time', async (t) => {
  t.timeout(40_000);
  const dir = tempDir('kl-esdb-down');
  const d = await startEsdbDouble({ batchAppend: true, tls: true });
  await d.stop();
  await expectCode(t, dir, 0, ['config', 'new', '--instance', 'NODE1']);
  for (const json of [false, true]) {
    const started = Date.now();
    const r = await cli(dir, [...(json ? ['--json'] : []), '--store', userOnly(d.port), 'status'], 30_000);
    assertUnreachable(t, r, d.port, Date.now() - started);
  }
  // A password on the command line works, with a warning first (the process list shows it); neither line shows it.
  const shown = await cli(dir, ['--store', withCredentials(d.port), 'status'], 30_000);
  t.is(shown.code, 3);
  const [warning, error] = shown.stderr.trim().split('\n');
  t.regex(warning ?? '', /^keyledger: warning: the store password given with --store is visible in the process list/);
  t.regex(error ?? '', new RegExp(`^keyledger: store esdb://localhost:${d.port} unavailable`));
  noSecrets(t, shown, '--store with a password');
});

test.serial('esdb CLI: a wrong port in the config → `status` exits 3 with one line naming the endpoint, no credentials, in bounded time', async (t) => {
  t.timeout(40_000);
  const dir = tempDir('kl-esdb-down');
  const port = await closedPort();
  await expectCode(t, dir, 0, ['config', 'new', '--instance', 'NODE1', '--ledger', withCredentials(port)]);
  const check = await expectCode(t, dir, 0, ['config', 'check']);
  t.regex(check.stdout, new RegExp(`"location":"esdb://localhost:${port}"`));
  const started = Date.now();
  const r = await cli(dir, ['status'], 30_000);
  assertUnreachable(t, r, port, Date.now() - started);
  // init fails the same way (its first read), before anything is created
  const init = await cli(dir, ['init'], 30_000);
  t.is(init.code, 3, init.stderr);
  t.is(init.stderr.trim().split('\n').length, 1, init.stderr);
  t.regex(init.stderr, new RegExp(`esdb://localhost:${port} unavailable`));
  noSecrets(t, init, 'init');
  t.false(fs.existsSync(path.join(dir, '.keyledger', 'keystore')), 'no key pair was generated');
});
