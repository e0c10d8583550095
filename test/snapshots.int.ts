/**
 * Deployment snapshots: a command reads only the events after the snapshot,
 * ends in the same state as a full load, and falls back to a full load
 * whenever the snapshot does not match the stream.
 */
import test from 'ava';
import * as path from 'node:path';
import { DEPLOYMENT_SNAPSHOT_VERSION, initInstance, loadDeployment } from '../src/commands/instance';
import { joinInstance } from '../src/commands/membership';
import { deploymentStream, type DeploymentId } from '../src/domain/ids';
import { openSqliteSnapshots } from '../src/infra/sqlite-checkpoints';
import type { SnapshotStore } from '../src/ports/snapshots';
import { aConfig, depsFor, openTestStore, rightOf, tempDir } from './support/fixtures';

const DEP = 'default' as DeploymentId;

const deployment = async (members: number) => {
  const dir = tempDir('kl-snap');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const configs = Array.from({ length: members }, (_, i) => aConfig(dir, { machineName: `RS-${i}` as never }));
  for (const c of configs) rightOf(await initInstance(depsFor(store, c), c));
  const snapshots = rightOf(openSqliteSnapshots(path.join(dir, 'state', 'projections.db')));
  return { dir, store, configs, snapshots };
};

const key = (endpoint: string): string => `${endpoint}|${deploymentStream(DEP)}`;

test('the second load reads only the new events and ends in the same state as a full load', async (t) => {
  t.timeout(60_000);
  const { store, configs, snapshots } = await deployment(3);
  const first = rightOf(await loadDeployment(store, DEP, snapshots)());
  t.is(first.events.length, 4, 'a full read the first time: 3 registrations and the key');
  t.is(snapshots.load(key(store.endpoint))?.revision, 3n);

  const [sponsor, newcomer] = [configs[0]!, configs[1]!];
  rightOf(await joinInstance({ ...depsFor(store, sponsor, 'join'), snapshots }, sponsor, newcomer.installationId));
  const second = rightOf(await loadDeployment(store, DEP, snapshots)());
  t.deepEqual(second.events.map((e) => e.event.type), ['SymmetricKeyWrapped'], 'only what the join appended after its own load');
  const full = rightOf(await loadDeployment(store, DEP)());
  t.deepEqual(second.state, full.state);
  t.is(second.revision, full.revision);
  t.is(second.lastHash, full.lastHash);

  rightOf(await joinInstance({ ...depsFor(store, sponsor, 'join'), snapshots: undefined }, sponsor, configs[2]!.installationId)); // written without the cache
  const third = rightOf(await loadDeployment(store, DEP, snapshots)());
  t.deepEqual(third.events.map((e) => e.event.type), ['SymmetricKeyWrapped'], 'only the tail');
  t.deepEqual(third.state, rightOf(await loadDeployment(store, DEP)()).state);
  snapshots.close();
  await store.close();
});

const forged = (inner: SnapshotStore, patch: (s: NonNullable<ReturnType<SnapshotStore['load']>>) => NonNullable<ReturnType<SnapshotStore['load']>>): SnapshotStore => ({
  load: (k) => {
    const s = inner.load(k);
    return s ? patch(s) : s;
  },
  save: () => undefined,
});

for (const [why, patch] of [
  ['its hash does not match the stream (another ledger, a rewritten history)', (s: { hash: string }) => ({ ...s, hash: 'f'.repeat(64) })],
  ['it is ahead of the stream (a shorter, restored ledger)', (s: { revision: bigint }) => ({ ...s, revision: s.revision + 10n })],
  ['it has another state version', () => ({ version: DEPLOYMENT_SNAPSHOT_VERSION + 1 })],
] as const) {
  test(`a snapshot is ignored when ${why}: full load, correct state`, async (t) => {
    t.timeout(60_000);
    const { store, snapshots } = await deployment(2);
    rightOf(await loadDeployment(store, DEP, snapshots)());
    const bad = forged(snapshots, (s) => ({ ...s, ...(patch as (x: typeof s) => Partial<typeof s>)(s) }));
    const loaded = rightOf(await loadDeployment(store, DEP, bad)());
    t.is(loaded.events.length, 3, 'read from revision 0');
    t.deepEqual(loaded.state, rightOf(await loadDeployment(store, DEP)()).state);
    snapshots.close();
    await store.close();
  });
}
