/**
 * The live runner's `coalesce` (what `keyledger serve` uses): the events a store delivers together are folded into
 * one view and emitted once, and that view is the one `evolve` event by event (and a catch-up) gives; without it,
 * every event is a view (what `watch` needs). The subscription is a subject this test drives, so the bursts are
 * exactly the ones written here and the test ends when the subject completes, never on a timer.
 */
import test from 'ava';
import * as path from 'node:path';
import { lastValueFrom, Observable, Subject, toArray } from 'rxjs';
import { initInstance } from '../src/commands/instance';
import { openSqliteCheckpoints } from '../src/infra/sqlite-checkpoints';
import { sha256Hex } from '../src/infra/sha256';
import type { EventStore, RecordedEvent, SubscriptionMessage } from '../src/ports/event-store';
import { activationProjection } from '../src/projections/activation';
import { inBursts, type LiveView, runLive } from '../src/projections/live';
import { catchUp } from '../src/projections/runner';
import { instanceStatus } from '../src/projections/status';
import { aConfig, depsFor, openTestStore, rightOf, tempDir } from './support/fixtures';

test('inBursts: values given in one go are one array; a pause ends a burst; an error or the end hands over what is pending first', async (t) => {
  t.timeout(10_000);
  const source = new Observable<number>((s) => {
    s.next(1);
    s.next(2);
    s.next(3);
    void Promise.resolve().then(async () => {
      await new Promise((r) => setImmediate(r));
      s.next(4);
      await new Promise((r) => setImmediate(r));
      s.next(5);
      s.next(6);
      s.complete();
    });
  });
  t.deepEqual(await lastValueFrom(source.pipe(inBursts(), toArray())), [[1, 2, 3], [4], [5, 6]]);
  const failing = new Observable<number>((s) => {
    s.next(1);
    s.next(2);
    s.error(new Error('gone'));
  });
  const got: number[][] = [];
  const error = await new Promise<unknown>((resolve) => failing.pipe(inBursts()).subscribe({ next: (b) => got.push([...b]), error: resolve }));
  t.deepEqual(got, [[1, 2]]);
  t.is((error as Error).message, 'gone');
});

/** A ledger of two instances (A activated, B waiting to join), read back: what the subject delivers. */
const ledger = async (t: { teardown: (f: () => Promise<void>) => void }) => {
  const dir = tempDir('kl-coalesce');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  t.teardown(() => store.close());
  const a = aConfig(dir);
  const b = aConfig(dir, { machineName: 'RS-NODE-2' as never });
  rightOf(await initInstance(depsFor(store, a), a));
  rightOf(await initInstance(depsFor(store, b), b));
  const events = rightOf(await store.readAll()());
  return { dir, store, a, b, events };
};

/** The store with a subscription this test drives: A's five events, caught up, then B's three in one go. */
const driven = (store: EventStore, events: ReadonlyArray<RecordedEvent>) => {
  const subject = new Subject<SubscriptionMessage>();
  const fake = Object.create(store) as EventStore;
  Object.defineProperty(fake, 'subscribeToAll', { value: () => subject.asObservable() });
  const deliver = (): void => {
    for (const e of events.slice(0, 5)) subject.next({ kind: 'event', event: e });
    subject.next({ kind: 'caughtUp' });
    for (const e of events.slice(5)) subject.next({ kind: 'event', event: e });
    subject.complete();
  };
  return { fake, deliver };
};

for (const coalesce of [true, false]) {
  test(`runLive ${coalesce ? 'with' : 'without'} coalesce: ${coalesce ? 'one view for a burst of three events' : 'a view per event'}, the same view as a catch-up`, async (t) => {
    t.timeout(30_000);
    const { dir, store, a, b, events } = await ledger(t);
    t.is(events.length, 8);
    const cp = rightOf(openSqliteCheckpoints(path.join(dir, 'state', `live-${coalesce}.db`)));
    t.teardown(() => cp.close());
    const { fake, deliver } = driven(store, events);
    const views = lastValueFrom(runLive(fake, activationProjection, cp, { digest: sha256Hex, coalesce }).pipe(toArray()));
    await new Promise((r) => setImmediate(r)); // subscribed (the runner starts from its checkpoint first)
    deliver();
    const seen: ReadonlyArray<LiveView<unknown>> = await views;
    const live = seen.filter((v) => v.live);
    t.is(live.length, coalesce ? 2 : 4, 'the caught-up view, then the burst once (coalesce) or each event');
    t.is(instanceStatus(live[0]?.state as never, a.installationId).state, 'activated');
    t.is(instanceStatus(live[0]?.state as never, b.installationId).state, 'not-initialized', 'B is not in the backlog');
    const last = live[live.length - 1]?.state;
    t.is(instanceStatus(last as never, b.installationId).state, 'waiting-to-join');
    const fresh = rightOf(openSqliteCheckpoints(path.join(dir, 'state', `fresh-${coalesce}.db`)));
    t.teardown(() => fresh.close());
    t.deepEqual(last, rightOf(await catchUp(store, activationProjection, fresh, { digest: sha256Hex })()).state, 'the view a catch-up folds');
    // Views handed out are never written again: the first is still the backlog's.
    t.is(instanceStatus(live[0]?.state as never, b.installationId).state, 'not-initialized');
  });
}
