/**
 * The EventStoreDB adapter over real gRPC, against the wire-level test double
 * (`test/support/esdb-double.ts`), on both append paths (BatchAppend and Append).
 *
 * This proves the adapter's use of `@eventstore/db-client` and of the wire
 * protocol — NOT EventStoreDB's own semantics (system events, scavenging, ACLs,
 * `$maxCount` …). The same contract runs against a real server in
 * `test/esdb-real.int.ts` when `ESDB_CONNECTION_STRING` is set.
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { filter, firstValueFrom, share, take, toArray, type Observable } from 'rxjs';
// The raw client only drives the double's Delete/Tombstone/stream-subscription RPCs (a raw client that appended
// over BatchAppend would bring back the module-wide table the adapter avoids: ADR 0006).
import { EventStoreDBClient, NO_STREAM } from '@eventstore/db-client';
import { openEsdbStore, type EsdbStoreOptions } from '../src/infra/esdb-store';
import type { EventData, EventStore, StoreError, SubscriptionMessage } from '../src/ports/event-store';
import { startEsdbDouble, type EsdbDouble } from './support/esdb-double';
import { storeContract } from './support/store-contract';

const open = (connectionString: string, options?: EsdbStoreOptions): EventStore => {
  const r = openEsdbStore(connectionString, options);
  if (E.isLeft(r)) throw new Error(`cannot open test store: ${JSON.stringify(r.left)}`);
  return r.right;
};

// ─── the contract, once per append path (one double per path, shared: cases use fresh prefixes) ───

const doubles: Array<Promise<EsdbDouble>> = [];
const sharedDouble = (batchAppend: boolean): (() => Promise<EsdbDouble>) => {
  let d: Promise<EsdbDouble> | undefined;
  return () => {
    if (!d) {
      // One of the two with the system projections running: $all then also holds $ce- / $et- links for the adapter to skip.
      d = startEsdbDouble({ batchAppend, systemProjections: batchAppend });
      doubles.push(d);
    }
    return d;
  };
};

for (const [label, batchAppend] of [
  ['BatchAppend', true],
  ['Append', false],
] as const) {
  const double = sharedDouble(batchAppend);
  storeContract(`esdb+double(${label})`, async () => {
    const d = await double();
    const store = open(d.connectionString);
    return { store, other: async () => open(d.connectionString), cleanup: () => store.close() };
  });
}

test.after.always(async () => {
  for (const d of doubles) await (await d).stop();
});

// ─── helpers ──────────────────────────────────────────────────────────────

const PASSWORD = 'hunter2-s3cret';
/** A connection string with credentials: they must never show in an error. */
const withCredentials = (d: EsdbDouble): string => `esdb://admin:${PASSWORD}@127.0.0.1:${d.port}?tls=false`;
const endpointOf = (d: EsdbDouble): string => `esdb://127.0.0.1:${d.port}`;

const ev = (type: string, data: unknown = { n: 1 }): EventData => ({ id: randomUUID(), type, data, metadata: { m: true } });
const prefix = (): string => `t${randomUUID().replace(/-/g, '').slice(0, 10)}-`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const names = (msgs: ReadonlyArray<SubscriptionMessage>): string[] => msgs.map((m) => (m.kind === 'event' ? m.event.type : '<caughtUp>'));
const show = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));

const right = async <A>(t: ExecutionContext, te: () => Promise<E.Either<StoreError, A>>): Promise<A> => {
  const r = await te();
  if (E.isLeft(r)) t.fail(`expected success, got ${show(r.left)}`);
  return (r as E.Right<A>).right;
};
const left = async <A>(t: ExecutionContext, te: () => Promise<E.Either<StoreError, A>>): Promise<StoreError> => {
  const r = await te();
  if (E.isRight(r)) t.fail('expected a failure, got success');
  return (r as E.Left<StoreError>).left;
};

/** Resolves with the error (or 'completed') that ends the Observable. */
const ending = (o: Observable<SubscriptionMessage>): Promise<unknown> =>
  new Promise((resolve) => o.subscribe({ error: resolve, complete: () => resolve('completed') }));

const assertUnavailable = (t: ExecutionContext, err: unknown, d: EsdbDouble, message: RegExp): void => {
  t.like(err, { _tag: 'StoreUnavailable', endpoint: endpointOf(d) });
  t.regex((err as { message: string }).message, message);
  t.false(show(err).includes(PASSWORD), 'no password in the error');
};

/**
 * A test with its own double. `serial` for the tests that stop their double, which keeps their outages and
 * back-off timing apart from the rest (ava runs a file's serial tests before its concurrent ones). No store shares
 * anything with another any more: appends never take BatchAppend, whose client-side table was module-wide.
 */
const withDouble = (
  title: string,
  batchAppend: boolean,
  body: (t: ExecutionContext, d: EsdbDouble, stores: (s: EventStore) => EventStore) => Promise<void>,
  serial = false,
): void => {
  (serial ? test.serial : test)(title, async (t) => {
    t.timeout(15_000);
    const d = await startEsdbDouble({ batchAppend });
    const opened: EventStore[] = [];
    try {
      await body(t, d, (s) => {
        opened.push(s);
        return s;
      });
    } finally {
      for (const s of opened) await s.close();
      await d.stop();
    }
  });
};

// ─── (a) appends take Streams.Append, whether the server advertises BatchAppend or not (issue 17, problem 1) ───

for (const batchAppend of [true, false]) {
  withDouble(
    `esdb · appends travel over Streams.Append when the server ${batchAppend ? 'advertises' : 'does not advertise'} BatchAppend`,
    batchAppend,
    async (t, d, stores) => {
      const store = stores(open(d.connectionString));
      const p = prefix();
      await right(t, store.append(`${p}a`, [ev('A0')], 'no_stream'));
      await right(t, store.append(`${p}a`, [ev('A1'), ev('A2')], 0n));
      await right(t, store.append(`${p}b`, [ev('B0')], 'any'));
      t.like(await left(t, store.append(`${p}a`, [ev('X')], 'no_stream')), { _tag: 'VersionConflict', actual: 2n });
      t.is(d.calls.features, 0, 'the server features are never asked: only the BatchAppend decision needed them');
      t.is(d.calls.append, 4);
      t.is(d.calls.batchAppend, 0);
      t.is(d.calls.batchAppendStreams, 0, 'no BatchAppend stream is ever opened');
    },
  );
}

test('esdb · close() of one store, on a server that keeps a half-closed BatchAppend call open, neither waits nor touches another store’s append', async (t) => {
  // Before: close() half-closed its BatchAppend stream and waited for the server to end it — which the server never
  // does with nothing pending — until closeTimeoutMs; the dispose() that followed cancelled the stream, and the client's
  // module-wide table rejected the other store's pending append (written all the same), whose late reply then threw.
  t.timeout(20_000);
  const d = await startEsdbDouble({ batchAppend: true });
  const a = open(d.connectionString, { closeTimeoutMs: 60_000 });
  const b = open(d.connectionString);
  try {
    const p = prefix();
    await right(t, a.append(`${p}a`, [ev('A0')], 'no_stream'));
    d.faults.nextAppends({ delayMs: 800 }); // b's append: written at once, answered late
    const order: string[] = [];
    const pending = b
      .append(`${p}b`, [ev('B0')], 'no_stream')()
      .then((r) => {
        order.push('b answered');
        return r;
      });
    while (d.calls.append < 2) await sleep(5); // b's append has reached the server
    await a.close();
    order.push('a closed');
    const r = await pending;
    t.deepEqual(order, ['a closed', 'b answered'], 'close() did not wait for anything of b’s');
    t.true(
      E.isRight(r),
      JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)),
    );
    t.is((await right(t, b.readStream(`${p}b`))).length, 1);
    t.is(d.calls.batchAppendStreams, 0);
  } finally {
    await a.close();
    await b.close();
    await d.stop();
  }
});

withDouble('esdb · throwOnAppendFailure=false in the connection string does not hide conflicts', true, async (t, d, stores) => {
  const store = stores(open(`esdb://127.0.0.1:${d.port}?throwOnAppendFailure=false&tls=false`));
  const p = prefix();
  await right(t, store.append(`${p}a`, [ev('A0'), ev('A1')], 'no_stream'));
  t.deepEqual(await left(t, store.append(`${p}a`, [ev('X')], 0n)), { _tag: 'VersionConflict', stream: `${p}a`, expected: 0n, actual: 1n });
  t.deepEqual(await left(t, store.append(`${p}b`, [ev('X')], 'stream_exists')), {
    _tag: 'VersionConflict',
    stream: `${p}b`,
    expected: 'stream_exists',
    actual: 'no_stream',
  });
});

test('esdb · appends are validated before anything is sent', async (t) => {
  t.timeout(5_000);
  const store = open('esdb://127.0.0.1:1?tls=false');
  try {
    t.like(await left(t, store.append('s', [{ ...ev('A'), id: 'not-a-uuid' }], 'any')), { _tag: 'InvalidAppend', stream: 's' });
    t.like(await left(t, store.append('s', [{ ...ev('A'), data: undefined }], 'any')), { _tag: 'InvalidAppend' });
    t.like(await left(t, store.append('s', [ev('A', { big: 1n })], 'any')), { _tag: 'InvalidAppend' });
    t.like(await left(t, store.append('', [ev('A')], 'any')), { _tag: 'InvalidAppend' });
  } finally {
    await store.close();
  }
});

// ─── (b) outages and running subscriptions ────────────────────────────────

withDouble(
  'esdb · a running subscription survives a server restart: nothing lost, nothing duplicated',
  true,
  async (t, d, stores) => {
    const patient = { attempts: 40, baseDelayMs: 20, maxDelayMs: 200 };
    const store = stores(open(withCredentials(d), { retry: patient, resubscribe: patient }));
    const other = stores(open(d.connectionString, { retry: patient }));
    const p = prefix();
    await right(t, store.append(`${p}a`, [ev('Old0'), ev('Old1')], 'no_stream'));
    const live$ = store.subscribeToAll({ streamPrefixes: [p] }).pipe(share());
    const done = firstValueFrom(live$.pipe(take(6), toArray()));
    await firstValueFrom(live$.pipe(filter((m) => m.kind === 'caughtUp')));
    await right(t, store.append(`${p}a`, [ev('Live0')], 1n));
    await d.stop();
    await sleep(300); // down long enough for the drop to be seen and resubscriptions to fail
    await d.start();
    // Written by another client right after the restart: the resubscription may come before or after it.
    await right(t, other.append(`${p}a`, [ev('New0')], 2n));
    await right(t, store.append(`${p}b`, [ev('New1')], 'no_stream'));
    t.deepEqual(names(await done), ['Old0', 'Old1', '<caughtUp>', 'Live0', 'New0', 'New1']);
    t.true(d.calls.subscriptions >= 2, 'the adapter resubscribed');
  },
  true,
);

withDouble(
  'esdb · a subscription whose server stays down ends with StoreUnavailable after bounded retries',
  false,
  async (t, d, stores) => {
    const store = stores(open(withCredentials(d), { resubscribe: { attempts: 3, baseDelayMs: 10, maxDelayMs: 40 } }));
    const p = prefix();
    await right(t, store.append(`${p}a`, [ev('Old0')], 'no_stream'));
    const live$ = store.subscribeToAll({ streamPrefixes: [p] }).pipe(share());
    const ended = ending(live$);
    const before = firstValueFrom(live$.pipe(take(2), toArray()));
    t.deepEqual(names(await before), ['Old0', '<caughtUp>']);
    await d.stop();
    assertUnavailable(t, await ended, d, /gave up after 3 resubscription attempts.*UNAVAILABLE/);
  },
  true,
);

// ─── (c) system events are skipped ────────────────────────────────────────

withDouble(
  'esdb · $-prefixed system streams and event types are skipped by readAll (maxCount counts visible events) and subscriptions',
  true,
  async (t, d, stores) => {
    // A tiny page size makes readAll cross many pages made only of system events.
    const store = stores(open(d.connectionString, { readPageSize: 2 }));
    const noise = (n: number): void =>
      d.inject([
        { stream: '$stats-127.0.0.1:2113', type: '$statsCollected' },
        { stream: `$$noise${n}`, type: '$metadata' },
        { stream: '$et-Thing', type: '$>' },
        { stream: '$system-stream', type: 'PlainType' },
        { stream: `user${n}`, type: '$weird' },
      ]);
    noise(0);
    await right(t, store.append('user-a', [ev('U0')], 'no_stream'));
    noise(1);
    noise(2);
    await right(t, store.append('user-b', [ev('U1'), ev('U2')], 'no_stream'));
    noise(3);
    await right(t, store.append('user-a', [ev('U3')], 0n));
    noise(4);
    t.true(d.size() > 25);

    const all = await right(t, store.readAll());
    t.deepEqual(
      all.map((e) => e.type),
      ['U0', 'U1', 'U2', 'U3'],
    );
    t.deepEqual(
      (await right(t, store.readAll({ maxCount: 2 }))).map((e) => e.type),
      ['U0', 'U1'],
    );
    t.deepEqual(
      (await right(t, store.readAll({ after: all[0]!.position, maxCount: 2 }))).map((e) => e.type),
      ['U1', 'U2'],
    );
    t.deepEqual(
      (await right(t, store.readAll({ after: all[3]!.position }))).map((e) => e.type),
      [],
    );
    t.deepEqual(
      (await right(t, store.readAll({ streamPrefixes: ['user-b', '$'] }))).map((e) => e.type),
      ['U1', 'U2'],
    );

    const live$ = store.subscribeToAll().pipe(share());
    const done = firstValueFrom(live$.pipe(take(7), toArray()));
    await firstValueFrom(live$.pipe(filter((m) => m.kind === 'caughtUp')));
    noise(5);
    await right(t, store.append('user-c', [ev('L0')], 'any'));
    noise(6);
    await right(t, store.append('user-a', [ev('L1')], 'any'));
    t.deepEqual(names(await done), ['U0', 'U1', 'U2', 'U3', '<caughtUp>', 'L0', 'L1']);
  },
);

withDouble('esdb · subscriptions with and without prefixes see no system events, live included', false, async (t, d, stores) => {
  const store = stores(open(d.connectionString));
  d.inject([
    { stream: '$stats-x', type: '$statsCollected' },
    { stream: '$system', type: 'Plain' },
  ]);
  await right(t, store.append('u-a', [ev('U0')], 'no_stream'));
  d.inject([{ stream: 'u-a-sys', type: '$weird' }]);
  for (const [streamPrefixes, live, expected] of [
    [undefined, 'L0', ['U0', '<caughtUp>', 'L0']],
    [['u-'], 'L1', ['U0', 'L0', '<caughtUp>', 'L1']],
  ] as const) {
    const live$ = store.subscribeToAll(streamPrefixes ? { streamPrefixes } : {}).pipe(share());
    const done = firstValueFrom(live$.pipe(take(expected.length), toArray()));
    await firstValueFrom(live$.pipe(filter((m) => m.kind === 'caughtUp')));
    d.inject([
      { stream: '$stats-x', type: '$statsCollected' },
      { stream: '$system', type: 'Plain' },
      { stream: 'u-b', type: '$weird' },
    ]);
    await right(t, store.append('u-b', [ev(live)], 'any'));
    t.deepEqual(names(await done), [...expected]);
  }
});

// ─── (d) calls while the server is down ───────────────────────────────────

withDouble(
  'esdb · append, reads while the server is down: StoreUnavailable naming the endpoint, after bounded retries',
  true,
  async (t, d, stores) => {
    const store = stores(open(withCredentials(d), { retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 40 } }));
    const p = prefix();
    await right(t, store.append(`${p}a`, [ev('A0')], 'no_stream')); // connected once: this is an outage
    await d.stop();
    assertUnavailable(t, await left(t, store.append(`${p}a`, [ev('A1')], 0n)), d, /append to .* \(gave up after 3 attempts\): 14 UNAVAILABLE/);
    assertUnavailable(t, await left(t, store.readStream(`${p}a`)), d, /UNAVAILABLE/);
    assertUnavailable(t, await left(t, store.readAll()), d, /UNAVAILABLE/);
    // …and the same store works again once the server is back.
    await d.start();
    t.is((await right(t, store.append(`${p}a`, [ev('A1')], 0n))).nextExpectedRevision, 1n);
  },
  true,
);

test.serial('esdb · a server that was never there: StoreUnavailable, not a hang or a throw', async (t) => {
  t.timeout(10_000);
  const d = await startEsdbDouble({ batchAppend: false });
  await d.stop();
  const store = open(withCredentials(d), { retry: { attempts: 2, baseDelayMs: 10 }, resubscribe: { attempts: 2, baseDelayMs: 10 } });
  try {
    assertUnavailable(t, await left(t, store.append('x', [ev('A')], 'any')), d, /UNAVAILABLE/);
    assertUnavailable(t, await ending(store.subscribeToAll()), d, /UNAVAILABLE/);
  } finally {
    await store.close();
  }
});

test('esdb · connection strings: credentials never reach errors; non-esdb strings are refused', (t) => {
  const bad = openEsdbStore(`esdb://admin:${PASSWORD}@host:notaport?tls=false`);
  t.true(E.isLeft(bad));
  t.false(show(bad).includes(PASSWORD));
  t.like(bad, { left: { _tag: 'StoreUnavailable', endpoint: 'esdb://<invalid connection string>' } });
  t.true(E.isLeft(openEsdbStore('sqlite:./x.db')));
  const ok = openEsdbStore(`esdb+discover://admin:${PASSWORD}@a:2113,b:2113?tls=false`);
  t.like(ok, { right: { endpoint: 'esdb+discover://a:2113,b:2113' } });
  if (E.isRight(ok)) void ok.right.close();
});

// ─── tombstones, deletes and the double's other RPCs (driven by the raw client) ──

for (const batchAppend of [true, false]) {
  withDouble(
    `esdb · tombstoned stream (${batchAppend ? 'BatchAppend' : 'Append'}): reads as empty, appends are InvalidAppend`,
    batchAppend,
    async (t, d, stores) => {
      const store = stores(open(d.connectionString));
      const raw = EventStoreDBClient.connectionString(d.connectionString);
      try {
        const p = prefix();
        await right(t, store.append(`${p}gone`, [ev('A0')], 'no_stream'));
        await raw.tombstoneStream(`${p}gone`, { expectedRevision: 0n });
        t.is(d.calls.tombstone, 1);
        t.deepEqual(await right(t, store.readStream(`${p}gone`)), []);
        t.like(await left(t, store.append(`${p}gone`, [ev('A1')], 'any')), { _tag: 'InvalidAppend', stream: `${p}gone` });
      } finally {
        await raw.dispose();
      }
    },
  );
}

withDouble('esdb double · soft delete, delete conflicts and stream subscriptions behave as the client expects', true, async (t, d, stores) => {
  const store = stores(open(d.connectionString));
  const raw = EventStoreDBClient.connectionString(d.connectionString);
  try {
    const p = prefix();
    await right(t, store.append(`${p}s`, [ev('A0'), ev('A1')], 'no_stream'));
    await t.throwsAsync(raw.deleteStream(`${p}s`, { expectedRevision: 0n }), { message: /./ });
    await raw.deleteStream(`${p}s`, { expectedRevision: 1n });
    t.is(d.calls.delete, 2);
    t.deepEqual(await right(t, store.readStream(`${p}s`)), []);
    // Written again after a soft delete: revisions continue.
    t.is((await right(t, store.append(`${p}s`, [ev('A2')], 'no_stream'))).nextExpectedRevision, 2n);
    t.deepEqual(
      (await right(t, store.readStream(`${p}s`))).map((e) => e.type),
      ['A2'],
    );

    await right(t, store.append(`${p}t`, [ev('T0'), ev('T1')], NO_STREAM));
    const sub = raw.subscribeToStream(`${p}t`, { fromRevision: 0n });
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      sub.on('caughtUp', () => {
        seen.push('<caughtUp>');
        void store.append(`${p}t`, [ev('T2')], 1n)();
      });
      sub.on('data', (r) => {
        seen.push(r.event?.type ?? '?');
        if (r.event?.type === 'T2') resolve();
      });
      sub.on('error', reject);
    });
    await sub.unsubscribe();
    t.deepEqual(seen, ['T1', '<caughtUp>', 'T2'], 'stream subscriptions are exclusive of fromRevision');

    const backwards: string[] = [];
    for await (const r of raw.readAll({ direction: 'backwards', fromPosition: 'end', maxCount: 2 })) backwards.push(r.event?.type ?? '?');
    t.deepEqual(backwards, ['T2', 'T1'], '$all reads backwards');
  } finally {
    await raw.dispose();
  }
});
