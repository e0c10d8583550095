/**
 * Scale-out races between REAL `keyledger` processes sharing one SQLite
 * ledger file. Every instance has its own config file and keystore (created
 * with `config new --instance NAME`); the only thing they share is the store.
 *
 *   (a) two sponsors run `join <newcomer>` at the same moment: one wrap, one
 *       "already joined", and the newcomer activates;
 *   (b) `join <newcomer>` races `remove <newcomer>`: whichever wins, the
 *       outcome is consistent — removed, no copy held, start refused with
 *       InstanceRemoved, and a wrap (if any) recorded before the removal;
 *   (c) three `init` processes of three new instances at once on a deployment
 *       whose first member is activated: all wait to join, never a second key
 *       (and the same with no first member yet: exactly one creates the key).
 *
 * ROUNDS (env, default 3) sets how many rounds each test runs, each in a
 * fresh temp dir: `ROUNDS=10 npx ava test/scaleout-race.e2e.ts`.
 */
import { keystoreThumbprint } from '../support/nodes';
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StoredEvent } from '../../src/domain/envelope';
import { type DeploymentId, deploymentStream, type InstallationId } from '../../src/domain/ids';
import { type CliResult, keyledger } from '../support/cli';
import { openTestStore, tempDir } from '../support/fixtures';
import { eventsOf } from '../support/ledger-reader';

const ROUNDS = Math.max(1, Math.floor(Number(process.env['ROUNDS'] ?? 3)) || 3);
const DEPLOYMENT = deploymentStream('default' as DeploymentId);

// ─── Helpers ──────────────────────────────────────────────────────────────

interface Node {
  readonly name: string;
  readonly file: string;
  readonly id: InstallationId;
}

const show = (r: CliResult): string => `exit ${String(r.code)}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** Runs the CLI for one instance (its own config file) in the shared dir. */
const as = (dir: string, n: Node, ...args: string[]): Promise<CliResult> => keyledger(dir, '-c', n.file, ...args);

const expectExit = (t: ExecutionContext, r: CliResult, code: number, what: string): void => {
  t.is(r.code, code, `${what}: ${show(r)}`);
};

const jsonOf = <T>(t: ExecutionContext, r: CliResult, what: string): T => {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    t.fail(`${what}: stdout is not JSON: ${show(r)}`);
    throw new Error(`${what}: not JSON`);
  }
};

/** `config new --instance NAME` for each name (no ledger access: run at once). */
const newNodes = async (t: ExecutionContext, dir: string, names: ReadonlyArray<string>): Promise<Node[]> =>
  Promise.all(
    names.map(async (name) => {
      const r = await keyledger(dir, '--json', '-c', `${name}.json`, 'config', 'new', '--instance', name, '--machine', `RS-${name}`);
      expectExit(t, r, 0, `config new ${name}`);
      const id = jsonOf<{ installationId: InstallationId }>(t, r, `config new ${name}`).installationId;
      return { name, file: path.join(dir, `${name}.json`), id };
    }),
  );

const deploymentEvents = async (dir: string): Promise<StoredEvent[]> => {
  const store = openTestStore(path.join(dir, '.keyledger', 'ledger.db'));
  try {
    return await eventsOf(store, DEPLOYMENT);
  } finally {
    await store.close();
  }
};

const copyEventsFor = (events: ReadonlyArray<StoredEvent>, id: InstallationId): StoredEvent[] =>
  events.filter((e) => (e.event.type === 'SymmetricKeyWrapped' || e.event.type === 'SymmetricKeyCreated') && e.event.data.copy.installationId === id);

const removalsOf = (events: ReadonlyArray<StoredEvent>, id: InstallationId): StoredEvent[] =>
  events.filter((e) => e.event.type === 'InstanceRemoved' && e.event.data.installationId === id);

const keysCreated = (events: ReadonlyArray<StoredEvent>): StoredEvent[] => events.filter((e) => e.event.type === 'SymmetricKeyCreated');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts `f` after `ms` milliseconds (0: at once, in this tick). */
const after = <A>(ms: number, f: () => Promise<A>): Promise<A> => (ms <= 0 ? f() : sleep(ms).then(f));

/** The whole ledger verifies: no torn or mis-linked event after the race. */
const verifies = async (t: ExecutionContext, dir: string, n: Node): Promise<void> => {
  const v = await as(dir, n, '--json', 'verify');
  expectExit(t, v, 0, 'verify');
  t.deepEqual(jsonOf<{ problems: unknown[] }>(t, v, 'verify').problems, []);
};

interface JoinJson {
  readonly sponsor: string;
  readonly newcomer: string;
  readonly keyVersion: number;
  readonly alreadyJoined: boolean;
  readonly recorded: string[];
}

interface OutcomeJson {
  readonly installationId: string;
  readonly state: string;
  readonly reason?: { readonly _tag: string };
  readonly recorded: string[];
}

interface ListRow {
  readonly installationId: string;
  readonly state: string;
  readonly membership: string;
  readonly heldKeyVersion: number | null;
}

/**
 * A deployment with two activated members (A created the key, B was joined
 * by A and started) and the given newcomers, each waiting to join.
 */
const deploymentWithTwoSponsors = async (
  t: ExecutionContext,
  dir: string,
  newcomers: ReadonlyArray<string>,
): Promise<{ a: Node; b: Node; waiting: Node[] }> => {
  const [a, b, ...waiting] = await newNodes(t, dir, ['A', 'B', ...newcomers]);
  if (!a || !b) throw new Error('unreachable');
  expectExit(t, await as(dir, a, 'init'), 0, 'A init');
  expectExit(t, await as(dir, b, 'init'), 1, 'B init (waits to join)');
  expectExit(t, await as(dir, a, 'join', b.id, '--expect-thumbprint', keystoreThumbprint(path.resolve(dir, b.file))), 0, 'A joins B');
  expectExit(t, await as(dir, b, 'start'), 0, 'B start');
  for (const n of waiting) {
    const r = await as(dir, n, '--json', 'init');
    expectExit(t, r, 1, `${n.name} init`);
    t.is(jsonOf<OutcomeJson>(t, r, `${n.name} init`).state, 'waiting-to-join');
  }
  return { a, b, waiting };
};

const ONE_LINE_ERROR = /^keyledger: [^\n]+\n$/;

// ─── (a) two sponsors, one newcomer ───────────────────────────────────────

test.serial(
  `(a) two sponsors join the same newcomer at the same moment: one SymmetricKeyWrapped, one "already joined", then it activates (${ROUNDS} rounds)`,
  async (t) => {
    t.timeout(30_000 + ROUNDS * 25_000);
    const winners: Record<string, number> = { A: 0, B: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const dir = tempDir('kl-race-join');
      const { a, b, waiting } = await deploymentWithTwoSponsors(t, dir, ['N']);
      const n = waiting[0]!;
      // Both processes are spawned in the same tick; alternate which is spawned first.
      const sponsors = round % 2 === 0 ? [a, b] : [b, a];
      const results = await Promise.all(
        sponsors.map((s) => as(dir, s, '--json', 'join', n.id, '--expect-thumbprint', keystoreThumbprint(path.resolve(dir, n.file)))),
      );
      for (const [i, r] of results.entries()) expectExit(t, r, 0, `round ${round}: join by ${sponsors[i]!.name}`);
      const outs = results.map((r, i) => jsonOf<JoinJson>(t, r, `round ${round}: join by ${sponsors[i]!.name}`));
      const joined = outs.filter((o) => !o.alreadyJoined);
      const already = outs.filter((o) => o.alreadyJoined);
      t.is(joined.length, 1, `round ${round}: exactly one sponsor wrapped the key: ${JSON.stringify(outs)}`);
      t.is(already.length, 1, `round ${round}: the other found it already joined: ${JSON.stringify(outs)}`);
      const winner = joined[0]!;
      t.deepEqual(winner.recorded, ['SymmetricKeyWrapped']);
      t.deepEqual(already[0]!.recorded, []);
      for (const o of outs) {
        t.is(o.newcomer, n.id);
        t.is(o.keyVersion, 1);
      }
      winners[winner.sponsor === a.id ? 'A' : 'B']!++;

      const events = await deploymentEvents(dir);
      const copies = copyEventsFor(events, n.id);
      t.is(copies.length, 1, `round ${round}: one wrapped copy for the newcomer, got ${copies.length}`);
      const copy = copies[0]!.event;
      t.is(copy.type, 'SymmetricKeyWrapped');
      if (copy.type === 'SymmetricKeyWrapped')
        t.is<string, string>(copy.data.wrappedBy, winner.sponsor, 'the copy names the sponsor whose output says it joined');
      t.is(keysCreated(events).length, 1);
      t.deepEqual(
        events.map((e) => e.event.type),
        ['PublicKeyStored', 'SymmetricKeyCreated', 'PublicKeyStored', 'SymmetricKeyWrapped', 'PublicKeyStored', 'SymmetricKeyWrapped'],
        `round ${round}: nothing else was written`,
      );

      const start = await as(dir, n, '--json', 'start');
      expectExit(t, start, 0, `round ${round}: newcomer start`);
      const started = jsonOf<OutcomeJson>(t, start, 'start');
      t.is(started.state, 'activated');
      t.deepEqual(started.recorded, ['InstanceActivated']);
      const list = jsonOf<ListRow[]>(t, await as(dir, a, '--json', 'list'), 'list');
      t.deepEqual(
        list.map((r) => [r.installationId, r.membership, r.heldKeyVersion]),
        [a, b, n].map((x) => [x.id, 'joined', 1]),
      );
      await verifies(t, dir, a);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    t.log(`${ROUNDS} rounds; the wrap went through for A ${winners['A']}×, for B ${winners['B']}×`);
  },
);

// ─── (b) join races remove ────────────────────────────────────────────────

/** How long `remove` waits after `join` is spawned, per round (join does more work, so a head start for it too). */
const REMOVE_DELAYS = [0, 150, 60, 250, 20, 100, 0, 200, 40, 120];

test.serial(`(b) join of a newcomer racing its removal ends consistent either way (${ROUNDS} rounds)`, async (t) => {
  t.timeout(30_000 + ROUNDS * 25_000);
  const seen = { joinThenRemove: 0, removeThenJoinRefused: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const dir = tempDir('kl-race-remove');
    const { a, b, waiting } = await deploymentWithTwoSponsors(t, dir, ['N']);
    const n = waiting[0]!;
    const delay = REMOVE_DELAYS[round % REMOVE_DELAYS.length]!;
    // A sponsors the join; the removal is run from B's config.
    const [join, remove] = await Promise.all([
      as(dir, a, '--json', 'join', n.id, '--expect-thumbprint', keystoreThumbprint(path.resolve(dir, n.file))),
      after(delay, () => as(dir, b, '--json', 'remove', n.id)),
    ]);

    // The removal always goes through: the newcomer was registered and is not the last key holder.
    expectExit(t, remove, 0, `round ${round}: remove`);
    const removed = jsonOf<{ installationId: string; recorded: string[]; lastMember: boolean }>(t, remove, 'remove');
    t.deepEqual(removed.recorded, ['InstanceRemoved']);
    t.false(removed.lastMember);

    const events = await deploymentEvents(dir);
    const copies = copyEventsFor(events, n.id);
    const removals = removalsOf(events, n.id);
    t.is(removals.length, 1, `round ${round}: one InstanceRemoved`);
    t.is(keysCreated(events).length, 1);
    const removal = removals[0]!;

    if (join.code === 0) {
      // The join won: its wrap is recorded, and before the removal that revoked it.
      seen.joinThenRemove++;
      const o = jsonOf<JoinJson>(t, join, 'join');
      t.false(o.alreadyJoined);
      t.deepEqual(o.recorded, ['SymmetricKeyWrapped']);
      t.is(copies.length, 1, `round ${round}: join reported success, so exactly one SymmetricKeyWrapped for the newcomer`);
      const copy = copies[0]!;
      t.is(copy.event.type, 'SymmetricKeyWrapped');
      t.true(copy.revision < removal.revision, `round ${round}: SymmetricKeyWrapped @${copy.revision} precedes InstanceRemoved @${removal.revision}`);
      if (removal.event.type === 'InstanceRemoved')
        t.is<number | null, number | null>(removal.event.data.revokedKeyVersion, 1, 'the removal revoked the copy the join made');
    } else {
      // The removal won: the join is refused with one clear line, and wrote nothing.
      seen.removeThenJoinRefused++;
      expectExit(t, join, 5, `round ${round}: join after the removal is refused`);
      t.is(join.stdout, '', 'nothing on stdout');
      t.regex(join.stderr, ONE_LINE_ERROR, 'one line on stderr');
      t.true(join.stderr.includes(`installation ${n.id} was removed from the deployment`), join.stderr);
      t.is(copies.length, 0, `round ${round}: no SymmetricKeyWrapped for the newcomer`);
      if (removal.event.type === 'InstanceRemoved')
        t.is<number | null, number | null>(removal.event.data.revokedKeyVersion, null, 'it held no copy when removed');
    }
    t.deepEqual(
      events.filter((e) => e.revision > removal.revision).map((e) => e.event.type),
      [],
      `round ${round}: nothing written after the removal`,
    );

    // The projection: removed, no key held.
    const list = jsonOf<ListRow[]>(t, await as(dir, a, '--json', 'list'), 'list');
    const row = list.find((r) => r.installationId === n.id);
    t.truthy(row, 'the newcomer is listed');
    t.is(row?.state, 'removed');
    t.is(row?.membership, 'removed');
    t.is(row?.heldKeyVersion, null);
    t.deepEqual(
      list.filter((r) => r.installationId !== n.id).map((r) => [r.installationId, r.membership, r.heldKeyVersion]),
      [a, b].map((x) => [x.id, 'joined', 1]),
      'the sponsors are untouched',
    );

    // Its start is refused, with the reason.
    const start = await as(dir, n, '--json', 'start');
    expectExit(t, start, 1, `round ${round}: start of the removed newcomer`);
    const refused = jsonOf<OutcomeJson>(t, start, 'start');
    t.is(refused.state, 'disabled');
    t.is(refused.reason?._tag, 'InstanceRemoved');
    t.deepEqual(refused.recorded, ['InstanceActivationRefused']);
    const status = await as(dir, n, '--json', 'status');
    expectExit(t, status, 1, 'status of the removed newcomer');
    t.is(jsonOf<{ state: string }>(t, status, 'status').state, 'removed');
    await verifies(t, dir, a);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  t.log(`${ROUNDS} rounds: join won then removed ${seen.joinThenRemove}×, removal won and join refused ${seen.removeThenJoinRefused}×`);
});

// ─── (c) concurrent inits, never a second key ─────────────────────────────

test.serial(
  `(c) three inits of new instances at once on a deployment with an activated first member: all wait to join, one symmetric key (${ROUNDS} rounds)`,
  async (t) => {
    t.timeout(30_000 + ROUNDS * 25_000);
    for (let round = 0; round < ROUNDS; round++) {
      const dir = tempDir('kl-race-init');
      const [first, ...newcomers] = await newNodes(t, dir, ['A', 'B', 'C', 'D']);
      expectExit(t, await as(dir, first!, 'init'), 0, 'first member init');
      const results = await Promise.all(newcomers.map((n) => as(dir, n, '--json', 'init')));
      results.forEach((r, i) => {
        const n = newcomers[i]!;
        expectExit(t, r, 1, `round ${round}: init ${n.name}`);
        const o = jsonOf<OutcomeJson>(t, r, `init ${n.name}`);
        t.is(o.installationId, n.id);
        t.is(o.state, 'waiting-to-join');
        t.is(o.reason?._tag, 'NoWrappedCopy');
        t.deepEqual(o.recorded, ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored'], `round ${round}: ${n.name} recorded steps 1-3 once`);
      });

      const events = await deploymentEvents(dir);
      const created = keysCreated(events);
      t.is(created.length, 1, `round ${round}: exactly one SymmetricKeyCreated`);
      if (created[0]?.event.type === 'SymmetricKeyCreated') t.is(created[0].event.data.createdBy, first!.id);
      t.is(events.filter((e) => e.event.type === 'SymmetricKeyWrapped').length, 0, 'nobody joined anybody');
      const registered = events.flatMap((e) => (e.event.type === 'PublicKeyStored' ? [e.event.data.installationId] : []));
      t.deepEqual([...registered].sort(), [first!, ...newcomers].map((n) => n.id).sort(), 'each instance registered once');

      const list = jsonOf<ListRow[]>(t, await as(dir, first!, '--json', 'list'), 'list');
      t.deepEqual(
        list.map((r) => [r.installationId, r.membership, r.heldKeyVersion]),
        [first!, ...newcomers].map((n, i) => [n.id, i === 0 ? 'joined' : 'waiting-to-join', i === 0 ? 1 : null]),
      );
      await verifies(t, dir, first!);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test.serial(`(c') four inits at once on an empty deployment: exactly one creates the key, the others wait and then join (${ROUNDS} rounds)`, async (t) => {
  t.timeout(30_000 + ROUNDS * 30_000);
  for (let round = 0; round < ROUNDS; round++) {
    const dir = tempDir('kl-race-first');
    const nodes = await newNodes(t, dir, ['A', 'B', 'C', 'D']);
    const results = await Promise.all(nodes.map((n) => as(dir, n, '--json', 'init')));
    const outs = results.map((r, i) => jsonOf<OutcomeJson>(t, r, `init ${nodes[i]!.name}`));
    const activated = nodes.filter((_, i) => outs[i]!.state === 'activated');
    t.is(activated.length, 1, `round ${round}: one instance activated: ${JSON.stringify(outs)}`);
    results.forEach((r, i) => {
      const o = outs[i]!;
      const first = o.state === 'activated';
      expectExit(t, r, first ? 0 : 1, `round ${round}: init ${nodes[i]!.name}`);
      if (!first) t.is(o.state, 'waiting-to-join');
      t.deepEqual(
        o.recorded,
        first
          ? ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored', 'SymmetricKeyCreated', 'InstanceActivated']
          : ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored'],
      );
    });
    const events = await deploymentEvents(dir);
    const created = keysCreated(events);
    t.is(created.length, 1, `round ${round}: exactly one SymmetricKeyCreated`);
    const creator = activated[0]!;
    if (created[0]?.event.type === 'SymmetricKeyCreated') t.is(created[0].event.data.createdBy, creator.id);

    // The creator joins the others; each then activates.
    for (const n of nodes.filter((x) => x !== creator)) {
      expectExit(t, await as(dir, creator, 'join', n.id, '--expect-thumbprint', keystoreThumbprint(path.resolve(dir, n.file))), 0, `join ${n.name}`);
      expectExit(t, await as(dir, n, 'start'), 0, `start ${n.name}`);
    }
    const list = jsonOf<ListRow[]>(t, await as(dir, creator, '--json', 'list'), 'list');
    t.deepEqual(
      list.map((r) => [r.membership, r.heldKeyVersion]),
      nodes.map(() => ['joined', 1]),
    );
    t.is(keysCreated(await deploymentEvents(dir)).length, 1, 'still one key');
    await verifies(t, dir, creator);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
