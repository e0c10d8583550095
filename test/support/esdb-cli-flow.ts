/**
 * The scale-out flow through the real `keyledger` binary (child processes) on an EventStoreDB store — init →
 * waiting to join → join → start → status / list / verify → remove — against the double (test/full/esdb-cli.e2e.ts)
 * or a real server (test/esdb-real-cli.e2e.ts, `npm run test:esdb`). Two nodes, each with its own folder, config,
 * keystore and state dir, sharing only the store; no output and no event shows a secret.
 */
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { type DeploymentId, deploymentStream, type InstallationId, instanceStream } from '../../src/domain/ids';
import type { EventStore } from '../../src/ports/event-store';
import { CLI, type CliResult, runNode } from './cli';
import { tempDir } from './fixtures';
import { eventsOf, typesOf } from './ledger-reader';

export interface FlowTarget {
  /** What `config new --ledger` writes (may hold a password: a config file may). */
  readonly connection: string;
  /** What `--store` gets (the user only: the password comes from `env`). */
  readonly storeFlag: string;
  readonly env: Readonly<Record<string, string>>;
  /** The store's location as recorded and printed. */
  readonly endpoint: string;
  /** Must show in no output, event or local file. */
  readonly secrets: ReadonlyArray<string>;
  /** A deployment of its own (a real server may hold others'); default `default`. */
  readonly deployment?: string;
  /** A store holding nothing else: exact counts for the whole ledger. */
  readonly fresh: boolean;
  readonly reader: () => EventStore;
}

export const json = <A>(r: CliResult): A => JSON.parse(r.stdout) as A;

export const noSecrets = (t: ExecutionContext, r: CliResult, what: string, secrets: ReadonlyArray<string>): void => {
  for (const s of secrets) {
    t.false(r.stdout.includes(s), `${what}: no password on stdout`);
    t.false(r.stderr.includes(s), `${what}: no password on stderr`);
  }
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

export type Mode = 'store-flag' | 'config-ledger';

/**
 * Two nodes, each with its own folder, config, keystore and state dir, sharing only the store.
 * `store-flag`: the configs point at SQLite and every command gets `--store`; no SQLite file may appear.
 * `config-ledger`: the configs say `esdb://…` themselves (`config new --ledger`).
 */
export const scaleOut = async (t: ExecutionContext, target: FlowTarget, mode: Mode): Promise<void> => {
  const { secrets, endpoint } = target;
  const deployment = target.deployment ?? 'default';
  const cli = (cwd: string, args: ReadonlyArray<string>): Promise<CliResult> => runNode(CLI, args, { cwd, timeoutMs: 60_000, env: target.env });
  const expectCode = async (_t: ExecutionContext, cwd: string, code: number, args: ReadonlyArray<string>): Promise<CliResult> => {
    const r = await cli(cwd, args);
    t.is(r.code, code, `keyledger ${args.join(' ')}: ${r.stderr}`);
    noSecrets(t, r, args.join(' '), secrets);
    return r;
  };
  const root = tempDir('kl-esdb-cli');
  const conn = target.connection;
  const nodes = ['NODE1', 'NODE2'].map((name, i) => {
    const dir = path.join(root, name.toLowerCase());
    fs.mkdirSync(dir);
    return { name, machine: `RS-NODE-${i + 1}`, dir };
  });
  const global = mode === 'store-flag' ? ['--store', target.storeFlag] : [];
  const run = (node: { dir: string }, code: number, ...args: string[]): Promise<CliResult> => expectCode(t, node.dir, code, ['--json', ...global, ...args]);

  const ids: InstallationId[] = [];
  for (const n of nodes) {
    const ledger = mode === 'config-ledger' ? ['--ledger', conn] : [];
    const r = await expectCode(t, n.dir, 0, ['--json', 'config', 'new', '--instance', n.name, '--machine', n.machine, '--deployment', deployment, ...ledger]);
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
  // `list` shows every deployment's instances on the store: ours are the two (all of them on a fresh store).
  const ours = (rows: Row[]): Row[] => rows.filter((r) => ids.includes(r.installationId as InstallationId));
  const listed = json<Row[]>(await run(n2, 0, 'list'));
  if (target.fresh) t.is(listed.length, 2);
  const rows = ours(listed);
  t.deepEqual(
    rows.map((r) => [r.installationId, r.machineName, r.state, r.membership, r.heldKeyVersion]),
    [
      [id1, 'RS-NODE-1', 'activated', 'joined', 1],
      [id2, 'RS-NODE-2', 'activated', 'joined', 1],
    ],
  );

  // verify: every hash of the three streams (3 + 3 instance events, 4 deployment events; a server used before holds more)
  const verified = json<{ events: number; streams: number; problems: unknown[] }>(await run(n1, 0, 'verify'));
  t.deepEqual(verified.problems, []);
  if (target.fresh) t.like(verified, { events: 10, streams: 3 });

  // remove node 2: its next start is refused, list shows it removed
  t.like(json<{ installationId: string; recorded: string[] }>(await run(n1, 0, 'remove', id2)), { installationId: id2, recorded: ['InstanceRemoved'] });
  const after = ours(json<Row[]>(await run(n1, 0, 'list')));
  t.deepEqual(
    after.map((r) => [r.installationId, r.membership]),
    [
      [id1, 'joined'],
      [id2, 'removed'],
    ],
  );
  t.like(json<{ state: string }>(await run(n2, 1, 'status')), { state: 'removed' });

  // what the store holds, read back through the adapter
  const reader = target.reader();
  try {
    const held = typesOf(await eventsOf(reader, deploymentStream(deployment as DeploymentId)));
    t.deepEqual(held, ['PublicKeyStored', 'SymmetricKeyCreated', 'PublicKeyStored', 'SymmetricKeyWrapped', 'InstanceRemoved']);
    t.is(held.filter((x) => x === 'SymmetricKeyCreated').length, 1);
    t.is(held.filter((x) => x === 'SymmetricKeyWrapped').length, 1);
    t.deepEqual(typesOf(await eventsOf(reader, instanceStream(id1))), ['ConfigRead', 'KeyPairIssued', 'InstanceActivated']);
    t.deepEqual(typesOf(await eventsOf(reader, instanceStream(id2))), ['ConfigRead', 'KeyPairIssued', 'InstanceActivated']);
    const configRead = (await eventsOf(reader, instanceStream(id1)))[0]!;
    t.deepEqual(
      (configRead.event.data as { store: unknown }).store,
      mode === 'config-ledger' ? { kind: 'esdb', location: endpoint } : { kind: 'sqlite', location: path.join(n1.dir, '.keyledger', 'ledger.db') },
    );
    const all = await reader.readAll({ streamPrefixes: [deploymentStream(deployment as DeploymentId), instanceStream(id1), instanceStream(id2)] })();
    t.true(E.isRight(all));
    if (E.isRight(all)) {
      const text = JSON.stringify(all.right, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
      for (const s of secrets) t.false(text.includes(s), 'no password in any event');
    }
  } finally {
    await reader.close();
  }

  if (mode === 'store-flag')
    for (const n of nodes) t.false(fs.existsSync(path.join(n.dir, '.keyledger', 'ledger.db')), `--store overrides the config: no SQLite ledger in ${n.dir}`);
  // the projection checkpoint is local, keyed by the endpoint (no password)
  t.true(fs.existsSync(path.join(n1.dir, '.keyledger', 'projections.db')));
  for (const s of secrets) t.false(fs.readFileSync(path.join(n1.dir, '.keyledger', 'projections.db')).includes(s));
};
