/**
 * Issue 17, problem 3: an append whose reply is lost or late is not a failure to report at once — its outcome is
 * unknown, so the adapter re-sends it with the SAME event ids (fixed once per append), and the server recognises a
 * retried append it already wrote (exactly once in the stream). Only when every attempt goes unanswered is it
 * reported, as "outcome unknown". MaxAppendSizeExceeded, AccessDenied and NotLeader are typed errors of their own;
 * NotLeader is retried, on the leader the node named.
 *
 * Against the double, which answers as the server does (test/support/esdb-double/streams-append.ts): `Timeout`
 * (ABORTED) for a commit later than `WriteTimeoutMs` although it is written, the request's deadline, `MaxAppendSize`,
 * ACLs over TLS, `not-leader` with the leader's endpoint on a follower.
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { openEsdbStore, type EsdbStoreOptions } from '../src/infra/esdb-store';
import type { EventData, EventStore, StoreError } from '../src/ports/event-store';
import { startEsdbCluster, startEsdbDouble } from './support/esdb-double';
import { rightOf } from './support/fixtures';

const ev = (type: string, data: unknown = { n: 1 }): EventData => ({ id: randomUUID(), type, data, metadata: {} });
const stream = (): string => `keyledger.instance-${randomUUID()}`;
const open = (cs: string, options: EsdbStoreOptions = {}): EventStore =>
  rightOf(openEsdbStore(cs, { retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 80 }, ...options }));

const leftOf = async <A>(t: ExecutionContext, te: () => Promise<E.Either<StoreError, A>>): Promise<StoreError> => {
  const r = await te();
  if (E.isRight(r)) t.fail('expected an error');
  return (r as E.Left<StoreError>).left;
};

for (const batchAppend of [false, true]) {
  const path = batchAppend ? 'BatchAppend advertised' : 'no BatchAppend';

  test(`${path}: a commit answered Timeout (written, late) is re-sent with the same ids and recognised: written once`, async (t) => {
    t.timeout(20_000);
    const d = await startEsdbDouble({ batchAppend, writeTimeoutMs: 150 });
    const store = open(d.connectionString);
    try {
      const s = stream();
      const first = [ev('A0'), ev('A1')];
      d.faults.nextAppends({ delayMs: 10_000 });
      const r = rightOf(await store.append(s, first, 'no_stream')());
      t.is(r.nextExpectedRevision, 1n);
      const read = rightOf(await store.readStream(s)());
      t.deepEqual(
        read.map((e) => e.id),
        first.map((e) => e.id),
        'the two events once, with the ids first sent',
      );
      // The same for an exact revision and for `any` (recognised from the server's cache of recent ids).
      d.faults.nextAppends({ delayMs: 10_000 }, { delayMs: 10_000 });
      rightOf(await store.append(s, [ev('A2')], 1n)());
      rightOf(await store.append(s, [ev('A3')], 'any')());
      t.deepEqual(
        rightOf(await store.readStream(s)()).map((e) => e.type),
        ['A0', 'A1', 'A2', 'A3'],
      );
      t.is(d.calls.append, 6, 'three appends, each sent twice (over Streams.Append either way)');
    } finally {
      await store.close();
      await d.stop();
    }
  });
}

test('a reply that never comes: the call deadline ends the attempt, the retry is recognised', async (t) => {
  t.timeout(20_000);
  const d = await startEsdbDouble({ batchAppend: false });
  // Long enough that the answered retry is never cut short on a loaded machine (CI flaked at 300 ms): only the silent attempt hits it.
  const store = open(d.connectionString, { appendTimeoutMs: 1500 });
  try {
    const s = stream();
    const events = [ev('A0')];
    d.faults.nextAppends('silent');
    t.is(rightOf(await store.append(s, events, 'no_stream')()).nextExpectedRevision, 0n);
    t.deepEqual(
      rightOf(await store.readStream(s)()).map((e) => e.id),
      events.map((e) => e.id),
    );
    t.is(d.calls.append, 2);
  } finally {
    await store.close();
    await d.stop();
  }
});

test('no attempt answered: "outcome unknown" (it was written, once), not "append failed"', async (t) => {
  t.timeout(20_000);
  const d = await startEsdbDouble({ batchAppend: false });
  const store = open(d.connectionString, { appendTimeoutMs: 200, retry: { attempts: 3, baseDelayMs: 10 } });
  try {
    const s = stream();
    d.faults.nextAppends('silent', 'silent', 'silent');
    const err = await leftOf(t, store.append(s, [ev('A0')], 'no_stream'));
    t.like(err, { _tag: 'StoreUnavailable', cause: 'outcome-unknown' });
    t.regex((err as { message: string }).message, /no answer after 3 attempt\(s\) with the same event ids, so it may or may not be written/);
    t.deepEqual(
      rightOf(await store.readStream(s)()).map((e) => e.type),
      ['A0'],
    );
  } finally {
    await store.close();
    await d.stop();
  }
});

for (const batchAppend of [false, true])
  test(`${batchAppend ? 'BatchAppend advertised' : 'no BatchAppend'}: over MaxAppendSize: AppendTooLarge (its limit, its count), not retried, nothing written`, async (t) => {
    t.timeout(20_000);
    const d = await startEsdbDouble({ batchAppend, maxAppendSize: 1_000 });
    const store = open(d.connectionString);
    try {
      const s = stream();
      const big = ev('Big', { text: 'x'.repeat(1_200) });
      const err = await leftOf(t, store.append(s, [big], 'no_stream'));
      t.deepEqual(err, { _tag: 'AppendTooLarge', stream: s, maxBytes: 1_000, bytes: JSON.stringify(big.data).length + 2 + 'Big'.length * 2 });
      t.deepEqual(rightOf(await store.readStream(s)()), []);
      t.is(d.calls.append + d.calls.batchAppend, 0);
    } finally {
      await store.close();
      await d.stop();
    }
  });

test('over TLS with users: a write the stream ACL refuses, a read of $all without the right, a wrong password — each AccessDenied naming what', async (t) => {
  t.timeout(20_000);
  const d = await startEsdbDouble({
    batchAppend: false,
    tls: true,
    users: { admin: { password: 'changeit', groups: ['$admins'] }, auditor: { password: 'read-only-Ω', groups: ['keyledger-auditors'] } },
  });
  const admin = open(d.connectionStringAs('admin'));
  const auditor = open(d.connectionStringAs('auditor'));
  const wrong = open(d.connectionStringAs('auditor').replace(encodeURIComponent('read-only-Ω'), 'nope'));
  try {
    const s = stream();
    d.setMetadata(s, { $acl: { $r: ['keyledger-writers', 'keyledger-auditors'], $w: ['keyledger-writers'], $d: [], $mr: ['keyledger-auditors'], $mw: [] } });
    rightOf(await admin.append(s, [ev('A0')], 'no_stream')());
    t.deepEqual(await leftOf(t, auditor.append(s, [ev('A1')], 0n)), {
      _tag: 'AccessDenied',
      endpoint: `esdb://${d.host}:${d.port}`,
      operation: 'write',
      stream: s,
    });
    t.is(rightOf(await auditor.readStream(s)()).length, 1, 'the auditor reads the stream');
    t.deepEqual(await leftOf(t, auditor.readAll()), { _tag: 'AccessDenied', endpoint: `esdb://${d.host}:${d.port}`, operation: 'read-all', stream: '$all' });
    t.like(await leftOf(t, wrong.readStream(s)), { _tag: 'AccessDenied', operation: 'read', stream: s });
  } finally {
    for (const x of [admin, auditor, wrong]) await x.close();
    await d.stop();
  }
});

test('NotLeader: an append sent to a follower is retried on the leader it names, and written there once', async (t) => {
  t.timeout(20_000);
  const c = await startEsdbCluster({ batchAppend: false });
  const follower = c.nodes[1]!;
  // Straight to a follower (a single-node string names it): the first answer is not-leader.
  const store = open(`esdb://127.0.0.1:${follower.port}?tls=false`);
  try {
    const s = stream();
    const r = rightOf(await store.append(s, [ev('A0')], 'no_stream')());
    t.is(r.nextExpectedRevision, 0n);
    t.true(follower.calls.notLeader >= 1, 'the follower answered not-leader');
    t.is(c.nodes[0]!.calls.append, 1, 'the leader wrote it');
    t.deepEqual(
      rightOf(await store.readStream(s)()).map((e) => e.type),
      ['A0'],
    );
  } finally {
    await store.close();
    await c.stop();
  }
});
