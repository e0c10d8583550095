/**
 * The activation view kept from the store with a durable checkpoint:
 * status does not replay history, a restart resumes where it stopped, and a
 * live run follows new events (ending deterministically, never on a timer).
 */
import test from 'ava';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { filter, firstValueFrom, share, take, toArray } from 'rxjs';
import { initInstance, startInstance } from '../src/commands/instance';
import { openSqliteCheckpoints } from '../src/infra/sqlite-checkpoints';
import { sha256Hex } from '../src/infra/sha256';
import { activationProjection } from '../src/projections/activation';
import { instanceStatus } from '../src/projections/status';
import { runLive } from '../src/projections/live';
import { catchUp } from '../src/projections/runner';
import type { CheckpointStore } from '../src/ports/checkpoints';
import { aConfig, depsFor, openTestStore, rightOf, tempDir } from './support/fixtures';

const checkpoints = (dir: string): CheckpointStore => rightOf(openSqliteCheckpoints(path.join(dir, 'state', 'projections.db')));

test('catch-up folds only what is new since the durable checkpoint', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-proj');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const a = aConfig(dir);
  rightOf(await initInstance(depsFor(store, a), a));

  const cp1 = checkpoints(dir);
  const first = rightOf(await catchUp(store, activationProjection, cp1, { digest: sha256Hex })());
  t.is(first.processed, 5);
  t.is(instanceStatus(first.state, a.installationId).state, 'activated');
  cp1.close();

  const cp2 = checkpoints(dir); // a new process
  const second = rightOf(await catchUp(store, activationProjection, cp2, { digest: sha256Hex })());
  t.is(second.processed, 0, 'nothing replayed');
  t.deepEqual(second.state, first.state);

  const b = aConfig(dir, { machineName: 'RS-NODE-2' as never });
  rightOf(await initInstance(depsFor(store, b), b));
  const third = rightOf(await catchUp(store, activationProjection, cp2, { digest: sha256Hex })());
  t.is(third.processed, 3, "only B's three events");
  t.is(instanceStatus(third.state, b.installationId).state, 'waiting-to-join');
  t.is(instanceStatus(third.state, a.installationId).state, 'activated');
  cp2.close();
  await store.close();
});

test('a projection version bump rebuilds from the start', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-proj');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const a = aConfig(dir);
  rightOf(await initInstance(depsFor(store, a), a));
  const cp = checkpoints(dir);
  t.is(rightOf(await catchUp(store, activationProjection, cp, { digest: sha256Hex })()).processed, 5);
  const bumped = { ...activationProjection, version: activationProjection.version + 1 };
  t.is(rightOf(await catchUp(store, bumped, cp, { digest: sha256Hex })()).processed, 5);
  cp.close();
  await store.close();
});

test('live: the view follows a start refusal and re-activation written by another connection', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-proj');
  const file = path.join(dir, 'ledger.db');
  const store = openTestStore(file);
  const a = aConfig(dir);
  rightOf(await initInstance(depsFor(store, a), a));
  const cp = checkpoints(dir);
  const writer = openTestStore(file);

  const states = runLive(store, activationProjection, cp, { digest: sha256Hex }).pipe(
    filter((v) => v.live),
    share(),
  );
  const seen = firstValueFrom(states.pipe(take(3), toArray()));
  // Drive changes only once the live view exists: caught-up emission comes first.
  const changer = firstValueFrom(states.pipe(take(1))).then(async () => {
    const moved = { ...a, serviceIdentity: 'svc-moved' as never };
    rightOf(await startInstance(depsFor(writer, moved, 'start'), moved));
    rightOf(await startInstance(depsFor(writer, a, 'start'), a));
  });
  const views = await seen;
  await changer;
  const status = views.map((v) => instanceStatus(v.state, a.installationId).state);
  t.deepEqual(status, ['activated', 'disabled', 'activated']);

  // The checkpoint was saved as the view moved: a new catch-up has nothing to do.
  const after = rightOf(await catchUp(store, activationProjection, cp, { digest: sha256Hex })());
  t.is(after.processed, 0);
  t.is(instanceStatus(after.state, a.installationId).state, 'activated');
  cp.close();
  await writer.close();
  await store.close();
});

test('live with liveSaveEveryMs: no save per event, and what was folded is saved when the subscriber stops', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-proj');
  const file = path.join(dir, 'ledger.db');
  const store = openTestStore(file);
  const a = aConfig(dir);
  rightOf(await initInstance(depsFor(store, a), a));
  const cp = checkpoints(dir);
  const writer = openTestStore(file);
  let saves = 0;
  const counting: CheckpointStore = {
    ...cp,
    save: (k, c) => {
      saves++;
      return cp.save(k, c);
    },
    load: (k) => cp.load(k),
    close: () => cp.close(),
  };
  const states = runLive(store, activationProjection, counting, { digest: sha256Hex, liveSaveEveryMs: 3_600_000 }).pipe(
    filter((v) => v.live),
    share(),
  );
  const seen = firstValueFrom(states.pipe(take(3), toArray()));
  const changer = firstValueFrom(states.pipe(take(1))).then(async () => {
    const moved = { ...a, serviceIdentity: 'svc-moved' as never };
    rightOf(await startInstance(depsFor(writer, moved, 'start'), moved));
    rightOf(await startInstance(depsFor(writer, a, 'start'), a));
  });
  const views = await seen; // take(3) unsubscribes: the finalize saves
  await changer;
  t.deepEqual(
    views.map((v) => instanceStatus(v.state, a.installationId).state),
    ['activated', 'disabled', 'activated'],
  );
  t.is(saves, 2, 'once on catching up, once when it stopped: not once per live event');
  const after = rightOf(await catchUp(store, activationProjection, cp, { digest: sha256Hex })());
  t.is(after.processed, 0, 'the stop saved what the live view had folded');
  cp.close();
  await writer.close();
  await store.close();
});

test('a corrupt event stops the live view with an error naming it, after what came before', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-proj');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  rightOf(await store.append('keyledger.instance-bogus', [{ id: 'x', type: 'NotAnEvent', data: {}, metadata: {} }], 'no_stream')());
  const cp = checkpoints(dir);
  const err = await firstValueFrom(runLive(store, activationProjection, cp, { digest: sha256Hex })).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.deepEqual(err, {
    _tag: 'CorruptEvent',
    stream: 'keyledger.instance-bogus',
    revision: 0n,
    eventType: 'NotAnEvent',
    problem: 'unknown event type "NotAnEvent"',
  });
  const r = await catchUp(store, activationProjection, cp, { digest: sha256Hex })();
  t.true(E.isLeft(r));
  if (E.isLeft(r)) t.is(r.left._tag, 'CorruptEvent');
  cp.close();
  await store.close();
});
