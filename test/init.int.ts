/**
 * init, in process, on the SQLite store: one event per step, idempotent,
 * resumable after a crash before or after each of the five appends, and
 * convergent when several initializations of the same instance race.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initInstance, startInstance } from '../src/commands/instance';
import { instanceStream } from '../src/domain/ids';
import { crashingStore, SimulatedCrash } from './support/crashing-store';
import { aConfig, depsFor, openTestStore, rightOf, tempDir } from './support/fixtures';
import { deploymentTypes, eventsOf, instanceTypes } from './support/ledger-reader';

const STEP_EVENTS = ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored', 'SymmetricKeyCreated', 'InstanceActivated'];

test('init records the five steps, exactly one event each, in order', async (t) => {
  t.timeout(30_000);
  const dir = tempDir();
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const cfg = aConfig(dir);
  const out = rightOf(await initInstance(depsFor(store, cfg), cfg));
  t.is(out.state, 'activated');
  t.deepEqual(out.recorded, STEP_EVENTS);
  t.deepEqual(await instanceTypes(store, cfg.installationId), ['ConfigRead', 'KeyPairIssued', 'InstanceActivated']);
  t.deepEqual(await deploymentTypes(store), ['PublicKeyStored', 'SymmetricKeyCreated']);
  const all = rightOf(await store.readAll()());
  t.deepEqual(
    all.map((e) => e.type),
    STEP_EVENTS,
    'global order is step order',
  );
  await store.close();
});

test('init on an initialized instance does nothing; start on it records nothing new', async (t) => {
  t.timeout(30_000);
  const dir = tempDir();
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const cfg = aConfig(dir);
  rightOf(await initInstance(depsFor(store, cfg), cfg));
  const before = rightOf(await store.readAll()()).length;
  const again = rightOf(await initInstance(depsFor(store, cfg), cfg));
  t.is(again.state, 'activated');
  t.deepEqual(again.recorded, []);
  const started = rightOf(await startInstance(depsFor(store, cfg, 'start'), cfg));
  t.is(started.state, 'activated');
  t.deepEqual(started.recorded, []);
  t.is(rightOf(await store.readAll()()).length, before);
  await store.close();
});

test("every event carries actor, command, correlation and causation ids, and links into its stream's hash chain", async (t) => {
  t.timeout(30_000);
  const dir = tempDir();
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const cfg = aConfig(dir);
  const deps = depsFor(store, cfg);
  rightOf(await initInstance(deps, cfg));
  const events = await eventsOf(store, instanceStream(cfg.installationId));
  t.is(events[0]!.metadata.prevHash, '0'.repeat(64));
  for (let i = 0; i < events.length; i++) {
    const m = events[i]!.metadata;
    t.is(m.actor as string, 'operator@test');
    t.is(m.command, 'init');
    t.is(m.correlationId, deps.ctx.correlationId);
    t.is(m.causationId, deps.ctx.causationId);
    t.is(m.schemaVersion, 1);
    if (i > 0) t.is(m.prevHash, events[i - 1]!.metadata.hash);
  }
  await store.close();
});

for (const when of ['before', 'after'] as const) {
  for (let k = 1; k <= 5; k++) {
    test(`a crash ${when} append #${k} (${STEP_EVENTS[k - 1]}) resumes to activated with one key pair and one symmetric key`, async (t) => {
      t.timeout(30_000);
      const dir = tempDir();
      const file = path.join(dir, 'ledger.db');
      const cfg = aConfig(dir);
      const first = openTestStore(file);
      const crashing = crashingStore(first, k, when);
      const crash = await t.throwsAsync(initInstance(depsFor(crashing, cfg), cfg), { instanceOf: SimulatedCrash });
      t.is(crash?.appendNumber, k);
      await first.close();

      const store = openTestStore(file); // a fresh process's view
      const done = when === 'after' ? k : k - 1;
      const resumed = rightOf(await initInstance(depsFor(store, cfg), cfg));
      t.is(resumed.state, 'activated');
      t.deepEqual(resumed.recorded, STEP_EVENTS.slice(done), 'resumes at the first step not recorded');
      const inst = await eventsOf(store, instanceStream(cfg.installationId));
      t.deepEqual(
        inst.map((e) => e.event.type),
        ['ConfigRead', 'KeyPairIssued', 'InstanceActivated'],
      );
      t.deepEqual(await deploymentTypes(store), ['PublicKeyStored', 'SymmetricKeyCreated']);
      // The key pair recorded is the one in the keystore (written before the crash when k > 1).
      const keystore = JSON.parse(fs.readFileSync(cfg.keystorePath, 'utf8')) as { thumbprint: string };
      const issued = inst[1]!.event;
      t.is(issued.type === 'KeyPairIssued' ? issued.data.thumbprint : '', keystore.thumbprint);
      const started = rightOf(await startInstance(depsFor(store, cfg, 'start'), cfg));
      t.is(started.state, 'activated');
      await store.close();
    });
  }
}

test('several initializations of one instance racing on separate connections yield one initialization', async (t) => {
  t.timeout(60_000);
  for (let round = 0; round < 3; round++) {
    const dir = tempDir();
    const file = path.join(dir, 'ledger.db');
    const cfg = aConfig(dir);
    const stores = [openTestStore(file), openTestStore(file), openTestStore(file)];
    const outcomes = await Promise.all(stores.map((s) => initInstance(depsFor(s, cfg), cfg)));
    for (const o of outcomes) t.is(rightOf(o).state, 'activated');
    const recorded = outcomes.flatMap((o) => rightOf(o).recorded).sort();
    t.deepEqual(recorded, [...STEP_EVENTS].sort(), 'each step recorded by exactly one of them');
    t.deepEqual(await instanceTypes(stores[0]!, cfg.installationId), ['ConfigRead', 'KeyPairIssued', 'InstanceActivated']);
    t.deepEqual(await deploymentTypes(stores[0]!), ['PublicKeyStored', 'SymmetricKeyCreated']);
    await Promise.all(stores.map((s) => s.close()));
  }
});

test('a second instance on the same deployment stops after step 3, waiting to join; the key is never re-created', async (t) => {
  t.timeout(30_000);
  const dir = tempDir();
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const a = aConfig(dir);
  const b = aConfig(dir, { machineName: 'RS-NODE-2' as never });
  rightOf(await initInstance(depsFor(store, a), a));
  const out = rightOf(await initInstance(depsFor(store, b), b));
  t.is(out.state, 'waiting-to-join');
  t.deepEqual(out.recorded, ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored']);
  t.deepEqual(out.reason, { _tag: 'NoWrappedCopy', keyVersion: 1 as never });
  t.deepEqual(await deploymentTypes(store), ['PublicKeyStored', 'SymmetricKeyCreated', 'PublicKeyStored']);
  const again = rightOf(await initInstance(depsFor(store, b), b));
  t.deepEqual(again.recorded, [], 'waiting is not a new fact');
  await store.close();
});
