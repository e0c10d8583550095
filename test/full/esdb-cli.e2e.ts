/**
 * The real `keyledger` CLI (child processes) on EventStoreDB: the scale-out
 * flow init → waiting to join → join → start → status / list / verify → remove,
 * against the wire-level test double (`test/support/esdb-double.ts`) served
 * in THIS process on 127.0.0.1 — with BatchAppend advertised or not (the
 * adapter takes Streams.Append either way), once with `--store` overriding an SQLite config and once with the
 * connection string written into the config by `config new --ledger`.
 * And an unreachable store: exit 3, one line naming the endpoint, no password.
 *
 * What this proves: the CLI's store selection and the adapter over the real
 * client and wire protocol, across processes. Not EventStoreDB's own semantics
 * (see the double's header); `npm run test:esdb` runs the store contract
 * against a real server.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { type DeploymentId, deploymentStream, type InstallationId, instanceStream } from '../../src/domain/ids';
import { openEsdbStore } from '../../src/infra/esdb-store';
import type { EventStore } from '../../src/ports/event-store';
import { CLI, type CliResult, runNode } from '../support/cli';
import { startEsdbDouble, type EsdbDouble } from '../support/esdb-double';
import { tempDir } from '../support/fixtures';
import { eventsOf, typesOf } from '../support/ledger-reader';

/** In the user info of every connection string below: it must never appear in any output. */
const PASSWORD = 'changeit';
const withCredentials = (port: number): string => `esdb://admin:${PASSWORD}@127.0.0.1:${port}?tls=false`;
/** On the command line only the user: the password comes from KEYLEDGER_ESDB_PASSWORD (given to every process below). */
const userOnly = (port: number): string => `esdb://admin@127.0.0.1:${port}?tls=false`;

const cli = (cwd: string, args: ReadonlyArray<string>, timeoutMs = 30_000): Promise<CliResult> =>
  runNode(CLI, args, { cwd, timeoutMs, env: { KEYLEDGER_ESDB_PASSWORD: PASSWORD } });

const json = <A>(r: CliResult): A => JSON.parse(r.stdout) as A;

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

interface Outcome {
  readonly installationId: InstallationId;
  readonly state: string;
  readonly keyVersion?: number;
  readonly thumbprint?: string;
  readonly recorded: ReadonlyArray<string>;
}
interface Row {
  readonly installationId: string;
  readonly machineName: string;
  readonly state: string;
  readonly membership: string;
  readonly heldKeyVersion: number | null;
}

type Mode = 'store-flag' | 'config-ledger';

/**
 * Two nodes, each with its own folder, config, keystore and state dir, sharing only the store.
 * `store-flag`: the configs point at SQLite and every command gets `--store`; no SQLite file may appear.
 * `config-ledger`: the configs say `esdb://…` themselves (`config new --ledger`).
 */
const scaleOut = async (t: ExecutionContext, d: EsdbDouble, mode: Mode): Promise<void> => {
  const root = tempDir('kl-esdb-cli');
  const conn = withCredentials(d.port);
  const endpoint = `esdb://127.0.0.1:${d.port}`;
  const nodes = ['NODE1', 'NODE2'].map((name, i) => {
    const dir = path.join(root, name.toLowerCase());
    fs.mkdirSync(dir);
    return { name, machine: `RS-NODE-${i + 1}`, dir };
  });
  const global = mode === 'store-flag' ? ['--store', userOnly(d.port)] : [];
  const run = (node: { dir: string }, code: number, ...args: string[]): Promise<CliResult> => expectCode(t, node.dir, code, ['--json', ...global, ...args]);

  const ids: InstallationId[] = [];
  for (const n of nodes) {
    const ledger = mode === 'config-ledger' ? ['--ledger', conn] : [];
    const r = await expectCode(t, n.dir, 0, ['--json', 'config', 'new', '--instance', n.name, '--machine', n.machine, ...ledger]);
    ids.push(json<{ installationId: InstallationId }>(r).installationId);
    const check = await expectCode(t, n.dir, 0, ['--json', 'config', 'check']);
    t.deepEqual(
      json<{ store: unknown }>(check).store,
      mode === 'config-ledger' ? { kind: 'esdb', location: endpoint } : { kind: 'sqlite', location: path.join(n.dir, '.keyledger', 'ledger.db') },
    );
  }
  const [n1, n2] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  const [id1, id2] = ids as [InstallationId, InstallationId];

  // node 1: the five steps → activated
  const init1 = json<Outcome>(await run(n1, 0, 'init'));
  t.like(init1, { installationId: id1, state: 'activated', keyVersion: 1 });
  t.deepEqual(init1.recorded, ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored', 'SymmetricKeyCreated', 'InstanceActivated']);

  // node 2: steps 1–3, then waiting to join (exit 1: not activated)
  const init2 = json<Outcome>(await run(n2, 1, 'init'));
  t.like(init2, { installationId: id2, state: 'waiting-to-join' });
  t.deepEqual(init2.recorded.slice(0, 3), ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored']);

  // node 1 sponsors node 2
  t.like(json<{ newcomer: string; keyVersion: number }>(await run(n1, 0, 'join', id2, '--expect-thumbprint', String(init2.thumbprint))), {
    newcomer: id2,
    keyVersion: 1,
  });

  // node 2 proves its copy
  t.like(json<Outcome>(await run(n2, 0, 'start')), { installationId: id2, state: 'activated', keyVersion: 1 });

  // status on both, list from either
  t.like(json<{ state: string; keyVersion: number }>(await run(n1, 0, 'status')), { installationId: id1, state: 'activated', activated: true, keyVersion: 1 });
  t.like(json<{ state: string; keyVersion: number }>(await run(n2, 0, 'status')), { installationId: id2, state: 'activated', activated: true, keyVersion: 1 });
  const statusText = await expectCode(t, n1.dir, 0, [...global, 'status', id2]);
  t.regex(statusText.stdout, /activated/);
  const rows = json<Row[]>(await run(n2, 0, 'list'));
  t.deepEqual(
    rows.map((r) => [r.installationId, r.machineName, r.state, r.membership, r.heldKeyVersion]),
    [
      [id1, 'RS-NODE-1', 'activated', 'joined', 1],
      [id2, 'RS-NODE-2', 'activated', 'joined', 1],
    ],
  );

  // verify: every hash of the three streams (3 + 3 instance events, 4 deployment events)
  t.like(json<{ events: number; streams: number; problems: unknown[] }>(await run(n1, 0, 'verify')), { events: 10, streams: 3, problems: [] });

  // remove node 2: its next start is refused, list shows it removed
  t.like(json<{ installationId: string; recorded: string[] }>(await run(n1, 0, 'remove', id2)), { installationId: id2, recorded: ['InstanceRemoved'] });
  const after = json<Row[]>(await run(n1, 0, 'list'));
  t.deepEqual(
    after.map((r) => [r.installationId, r.membership]),
    [
      [id1, 'joined'],
      [id2, 'removed'],
    ],
  );
  t.like(json<{ state: string }>(await run(n2, 1, 'status')), { state: 'removed' });

  // what the double holds, read back through the adapter
  const reader = openReader(d.connectionString);
  try {
    const deployment = typesOf(await eventsOf(reader, deploymentStream('default' as DeploymentId)));
    t.deepEqual(deployment, ['PublicKeyStored', 'SymmetricKeyCreated', 'PublicKeyStored', 'SymmetricKeyWrapped', 'InstanceRemoved']);
    t.is(deployment.filter((x) => x === 'SymmetricKeyCreated').length, 1);
    t.is(deployment.filter((x) => x === 'SymmetricKeyWrapped').length, 1);
    t.deepEqual(typesOf(await eventsOf(reader, instanceStream(id1))), ['ConfigRead', 'KeyPairIssued', 'InstanceActivated']);
    t.deepEqual(typesOf(await eventsOf(reader, instanceStream(id2))), ['ConfigRead', 'KeyPairIssued', 'InstanceActivated']);
    const configRead = (await eventsOf(reader, instanceStream(id1)))[0]!;
    t.deepEqual(
      (configRead.event.data as { store: unknown }).store,
      mode === 'config-ledger' ? { kind: 'esdb', location: endpoint } : { kind: 'sqlite', location: path.join(n1.dir, '.keyledger', 'ledger.db') },
    );
    const all = await reader.readAll()();
    t.true(E.isRight(all));
    if (E.isRight(all))
      t.false(JSON.stringify(all.right, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes(PASSWORD), 'no password in any event');
  } finally {
    await reader.close();
  }

  if (mode === 'store-flag')
    for (const n of nodes) t.false(fs.existsSync(path.join(n.dir, '.keyledger', 'ledger.db')), `--store overrides the config: no SQLite ledger in ${n.dir}`);
  // the projection checkpoint is local, keyed by the endpoint (no password)
  t.true(fs.existsSync(path.join(n1.dir, '.keyledger', 'projections.db')));
  t.false(fs.readFileSync(path.join(n1.dir, '.keyledger', 'projections.db')).includes(PASSWORD));
};

for (const [label, batchAppend] of [
  ['BatchAppend', true],
  ['Append', false],
] as const) {
  for (const mode of ['store-flag', 'config-ledger'] as const) {
    // Each flow is ~12 CLI processes (two RSA key pairs); the double lives as long as the test.
    const how = mode === 'store-flag' ? '--store esdb://…' : 'config new --ledger esdb://…';
    test(`esdb CLI (${label}, ${how}): init → waiting to join → join → start → status/list/verify → remove`, async (t) => {
      t.timeout(120_000);
      const d = await startEsdbDouble({ batchAppend });
      try {
        await scaleOut(t, d, mode);
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
  t.regex(lines[0]!, new RegExp(`^keyledger: store esdb://127\\.0\\.0\\.1:${port} unavailable: .*UNAVAILABLE`));
  t.false(r.stderr.includes('admin'), 'no user name');
  noSecrets(t, r, 'status');
  t.true(elapsedMs < UNREACHABLE_BOUND_MS, `gave up within ${UNREACHABLE_BOUND_MS} ms (took ${elapsedMs} ms)`);
};

// `serial`: these stop a double; ava runs them before the rest.
test.serial('esdb CLI: the double stopped → `status --store` exits 3 with one line naming the endpoint, no credentials, in bounded time', async (t) => {
  t.timeout(40_000);
  const dir = tempDir('kl-esdb-down');
  const d = await startEsdbDouble({ batchAppend: true });
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
  t.regex(error ?? '', new RegExp(`^keyledger: store esdb://127\\.0\\.0\\.1:${d.port} unavailable`));
  noSecrets(t, shown, '--store with a password');
});

test.serial('esdb CLI: a wrong port in the config → `status` exits 3 with one line naming the endpoint, no credentials, in bounded time', async (t) => {
  t.timeout(40_000);
  const dir = tempDir('kl-esdb-down');
  const port = await closedPort();
  await expectCode(t, dir, 0, ['config', 'new', '--instance', 'NODE1', '--ledger', withCredentials(port)]);
  const check = await expectCode(t, dir, 0, ['config', 'check']);
  t.regex(check.stdout, new RegExp(`"location":"esdb://127\\.0\\.0\\.1:${port}"`));
  const started = Date.now();
  const r = await cli(dir, ['status'], 30_000);
  assertUnreachable(t, r, port, Date.now() - started);
  // init fails the same way (its first read), before anything is created
  const init = await cli(dir, ['init'], 30_000);
  t.is(init.code, 3, init.stderr);
  t.is(init.stderr.trim().split('\n').length, 1, init.stderr);
  t.regex(init.stderr, new RegExp(`esdb://127\\.0\\.0\\.1:${port} unavailable`));
  noSecrets(t, init, 'init');
  t.false(fs.existsSync(path.join(dir, '.keyledger', 'keystore')), 'no key pair was generated');
});
