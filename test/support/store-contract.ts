/**
 * The event-store contract: one suite every adapter of `EventStore` must pass,
 * case for case. Run it as `storeContract('sqlite', makeStore)`.
 *
 * Streams are named with a fresh prefix per case so the suite can also run
 * against a real EventStoreDB server that already holds other data.
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { filter, firstValueFrom, share, take, toArray } from 'rxjs';
import type { EventData, EventStore, ExpectedRevision, RecordedEvent, StoreError, SubscriptionMessage } from '../../src/ports/event-store';

export interface StoreFixture {
  readonly store: EventStore;
  /** A second, independent client on the same underlying store (another process's view). */
  readonly other: () => Promise<EventStore>;
  readonly cleanup: () => Promise<void>;
}

export type MakeStore = () => Promise<StoreFixture>;

const ev = (type: string, data: unknown = { n: 1 }, metadata: unknown = { m: true }): EventData => ({ id: randomUUID(), type, data, metadata });

const right = async <A>(t: ExecutionContext, te: () => Promise<E.Either<StoreError, A>>): Promise<A> => {
  const r = await te();
  if (E.isLeft(r)) t.fail(`expected success, got ${JSON.stringify(r.left, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  return (r as E.Right<A>).right;
};

const left = async <A>(t: ExecutionContext, te: () => Promise<E.Either<StoreError, A>>): Promise<StoreError> => {
  const r = await te();
  if (E.isRight(r)) t.fail('expected a failure, got success');
  return (r as E.Left<StoreError>).left;
};

const types = (events: ReadonlyArray<RecordedEvent>): string[] => events.map((e) => e.type);

export const storeContract = (name: string, makeStore: MakeStore): void => {
  const withStore = (title: string, body: (t: ExecutionContext, f: StoreFixture, prefix: string) => Promise<void>): void => {
    test(`${name} · ${title}`, async (t) => {
      t.timeout(20_000);
      const f = await makeStore();
      const prefix = `ct${randomUUID().replace(/-/g, '').slice(0, 12)}-`;
      try {
        await body(t, f, prefix);
      } finally {
        await f.cleanup();
      }
    });
  };

  // ─── expected-revision matrix ─────────────────────────────────────────

  type Case = { expected: ExpectedRevision; existing: number; ok: boolean };
  const matrix: Case[] = [
    { expected: 'any', existing: 0, ok: true },
    { expected: 'any', existing: 2, ok: true },
    { expected: 'no_stream', existing: 0, ok: true },
    { expected: 'no_stream', existing: 1, ok: false },
    { expected: 'stream_exists', existing: 0, ok: false },
    { expected: 'stream_exists', existing: 2, ok: true },
    { expected: 0n, existing: 0, ok: false },
    { expected: 0n, existing: 1, ok: true },
    { expected: 1n, existing: 1, ok: false },
    { expected: 1n, existing: 2, ok: true },
    { expected: 0n, existing: 2, ok: false },
  ];
  for (const c of matrix) {
    const expected = typeof c.expected === 'bigint' ? `revision ${c.expected}` : c.expected;
    const label = `expected ${expected} on a stream of ${c.existing} event(s) → ${c.ok ? 'appends' : 'VersionConflict'}`;
    withStore(label, async (t, { store }, prefix) => {
      const stream = `${prefix}s`;
      for (let i = 0; i < c.existing; i++) await right(t, store.append(stream, [ev(`Seed${i}`)], 'any'));
      const actual = c.existing === 0 ? 'no_stream' : BigInt(c.existing - 1);
      if (c.ok) {
        const r = await right(t, store.append(stream, [ev('A'), ev('B')], c.expected));
        t.is(r.nextExpectedRevision, BigInt(c.existing + 1));
        const all = await right(t, store.readStream(stream));
        t.deepEqual(
          all.map((e) => e.revision),
          Array.from({ length: c.existing + 2 }, (_, i) => BigInt(i)),
        );
      } else {
        const err = await left(t, store.append(stream, [ev('A')], c.expected));
        t.deepEqual(err, { _tag: 'VersionConflict', stream, expected: c.expected, actual });
        const all = await right(t, store.readStream(stream));
        t.is(all.length, c.existing, 'a refused append writes nothing');
      }
    });
  }

  withStore('an empty append is refused as InvalidAppend', async (t, { store }, prefix) => {
    const err = await left(t, store.append(`${prefix}s`, [], 'any'));
    t.is(err._tag, 'InvalidAppend');
  });

  withStore('racing writers with the same expected revision: exactly one wins', async (t, f, prefix) => {
    const stream = `${prefix}race`;
    await right(t, f.store.append(stream, [ev('Start')], 'no_stream'));
    const other = await f.other();
    try {
      const attempts = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? f.store : other).append(stream, [ev(`W${i}`)], 0n)()));
      const wins = attempts.filter(E.isRight);
      const conflicts = attempts.filter((r) => E.isLeft(r) && r.left._tag === 'VersionConflict');
      t.is(wins.length, 1);
      t.is(conflicts.length, 5);
      t.is((await right(t, f.store.readStream(stream))).length, 2);
    } finally {
      await other.close();
    }
  });

  // ─── reading ──────────────────────────────────────────────────────────

  withStore('data and metadata round-trip exactly; ids and types are kept', async (t, { store }, prefix) => {
    const stream = `${prefix}rt`;
    const e = ev('Typed', { text: 'zürich ✓', nested: { list: [1, 2.5, null, true], empty: {} } }, { actor: 'op@example', corr: 'c-1' });
    await right(t, store.append(stream, [e], 'no_stream'));
    const [got] = await right(t, store.readStream(stream));
    t.truthy(got);
    t.is(got!.id, e.id);
    t.is(got!.type, 'Typed');
    t.is(got!.streamName, stream);
    t.is(got!.revision, 0n);
    t.deepEqual(got!.data, e.data);
    t.deepEqual(got!.metadata, e.metadata);
  });

  withStore('any JSON value round-trips as data and as metadata (null, false, 0, "", arrays, numbers)', async (t, { store }, prefix) => {
    const stream = `${prefix}json`;
    const values: unknown[] = [null, false, 0, '', 'text', [1, 'two', null], { a: { b: [] } }, 3.25];
    await right(
      t,
      store.append(
        stream,
        values.map((v, i) => ev(`V${i}`, v, values[values.length - 1 - i])),
        'no_stream',
      ),
    );
    const got = await right(t, store.readStream(stream));
    t.deepEqual(
      got.map((e) => e.data),
      values,
    );
    t.deepEqual(
      got.map((e) => e.metadata),
      [...values].reverse(),
    );
  });

  withStore('a missing stream reads as empty, forwards and backwards', async (t, { store }, prefix) => {
    t.deepEqual(await right(t, store.readStream(`${prefix}missing`)), []);
    t.deepEqual(await right(t, store.readStream(`${prefix}missing`, { direction: 'backwards' })), []);
  });

  withStore('read a stream forwards and backwards, from a revision, with a max count', async (t, { store }, prefix) => {
    const stream = `${prefix}rw`;
    await right(
      t,
      store.append(
        stream,
        ['E0', 'E1', 'E2', 'E3', 'E4'].map((x) => ev(x)),
        'no_stream',
      ),
    );
    t.deepEqual(types(await right(t, store.readStream(stream))), ['E0', 'E1', 'E2', 'E3', 'E4']);
    t.deepEqual(types(await right(t, store.readStream(stream, { direction: 'backwards' }))), ['E4', 'E3', 'E2', 'E1', 'E0']);
    t.deepEqual(types(await right(t, store.readStream(stream, { fromRevision: 2n }))), ['E2', 'E3', 'E4']);
    t.deepEqual(types(await right(t, store.readStream(stream, { fromRevision: 1n, maxCount: 2 }))), ['E1', 'E2']);
    t.deepEqual(types(await right(t, store.readStream(stream, { direction: 'backwards', fromRevision: 3n, maxCount: 2 }))), ['E3', 'E2']);
    t.deepEqual(types(await right(t, store.readStream(stream, { direction: 'backwards', maxCount: 1 }))), ['E4']);
  });

  withStore('read all: global order across streams, increasing positions, exclusive `after`, max count', async (t, { store }, prefix) => {
    await right(t, store.append(`${prefix}a`, [ev('A0')], 'no_stream'));
    await right(t, store.append(`${prefix}b`, [ev('B0'), ev('B1')], 'no_stream'));
    await right(t, store.append(`${prefix}a`, [ev('A1')], 0n));
    const all = await right(t, store.readAll({ streamPrefixes: [prefix] }));
    t.deepEqual(types(all), ['A0', 'B0', 'B1', 'A1']);
    for (let i = 1; i < all.length; i++) t.true(all[i]!.position.commit > all[i - 1]!.position.commit);
    const after = await right(t, store.readAll({ streamPrefixes: [prefix], after: all[1]!.position }));
    t.deepEqual(types(after), ['B1', 'A1']);
    const page = await right(t, store.readAll({ streamPrefixes: [prefix], maxCount: 2 }));
    t.deepEqual(types(page), ['A0', 'B0']);
    const onlyB = await right(t, store.readAll({ streamPrefixes: [`${prefix}b`] }));
    t.deepEqual(types(onlyB), ['B0', 'B1']);
  });

  withStore('the append result position is the position the event is read back at', async (t, { store }, prefix) => {
    const r = await right(t, store.append(`${prefix}p`, [ev('P0')], 'no_stream'));
    const [got] = await right(t, store.readAll({ streamPrefixes: [prefix] }));
    t.is(got!.position.commit, r.position.commit);
  });

  // ─── subscriptions ────────────────────────────────────────────────────

  const eventsOf = (msgs: ReadonlyArray<SubscriptionMessage>): string[] => msgs.map((m) => (m.kind === 'event' ? m.event.type : '<caughtUp>'));

  withStore('subscription: catch-up in order, then caughtUp once, then live events', async (t, f, prefix) => {
    const { store } = f;
    await right(t, store.append(`${prefix}a`, [ev('Old0'), ev('Old1')], 'no_stream'));
    const received: SubscriptionMessage[] = [];
    const live$ = store.subscribeToAll({ streamPrefixes: [prefix] }).pipe(share());
    const done = firstValueFrom(live$.pipe(take(5), toArray()));
    await firstValueFrom(live$.pipe(filter((m) => m.kind === 'caughtUp')));
    await right(t, store.append(`${prefix}b`, [ev('Live0')], 'no_stream'));
    const other = await f.other();
    try {
      await right(t, other.append(`${prefix}a`, [ev('Live1')], 1n));
      received.push(...(await done));
    } finally {
      await other.close();
    }
    t.deepEqual(eventsOf(received), ['Old0', 'Old1', '<caughtUp>', 'Live0', 'Live1']);
  });

  withStore('subscription from a position delivers only what came after it', async (t, { store }, prefix) => {
    await right(t, store.append(`${prefix}a`, [ev('X0')], 'no_stream'));
    const mid = await right(t, store.append(`${prefix}a`, [ev('X1')], 0n));
    await right(t, store.append(`${prefix}a`, [ev('X2')], 1n));
    const got = await firstValueFrom(store.subscribeToAll({ streamPrefixes: [prefix], after: mid.position }).pipe(take(2), toArray()));
    t.deepEqual(eventsOf(got), ['X2', '<caughtUp>']);
  });

  withStore('subscription filter: other prefixes are not delivered', async (t, { store }, prefix) => {
    await right(t, store.append(`${prefix}keep`, [ev('K0')], 'no_stream'));
    await right(t, store.append(`other-${prefix}`, [ev('N0')], 'no_stream'));
    await right(t, store.append(`${prefix}keep`, [ev('K1')], 0n));
    const got = await firstValueFrom(store.subscribeToAll({ streamPrefixes: [`${prefix}keep`] }).pipe(take(3), toArray()));
    t.deepEqual(eventsOf(got), ['K0', 'K1', '<caughtUp>']);
  });

  withStore('subscription: a large backlog arrives complete and in order', async (t, { store }, prefix) => {
    const n = 1200;
    for (let i = 0; i < n; i += 100) {
      await right(
        t,
        store.append(
          `${prefix}big`,
          Array.from({ length: 100 }, (_, j) => ev(`E${i + j}`)),
          i === 0 ? 'no_stream' : BigInt(i - 1),
        ),
      );
    }
    const got = await firstValueFrom(store.subscribeToAll({ streamPrefixes: [prefix] }).pipe(take(n + 1), toArray()));
    t.deepEqual(eventsOf(got), [...Array.from({ length: n }, (_, i) => `E${i}`), '<caughtUp>']);
    const revisions = got.flatMap((m) => (m.kind === 'event' ? [m.event.revision] : []));
    t.deepEqual(
      revisions,
      Array.from({ length: n }, (_, i) => BigInt(i)),
    );
  });
};
