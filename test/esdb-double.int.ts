/**
 * Issue 17, problem 5: the double behaves as the server does where a kinder fake would hide a failure. Each case
 * drives the double with the raw client (or its generated gRPC classes) and checks the server's behaviour as read in
 * its source (see test/support/esdb-double/index.ts for the files and what still differs).
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb';
import { Timestamp } from 'google-protobuf/google/protobuf/timestamp_pb';
import {
  ANY,
  EventStoreDBClient,
  jsonEvent,
  MaxAppendSizeExceededError,
  NO_STREAM,
  STREAM_EXISTS,
  StreamDeletedError,
  streamNameFilter,
  START,
} from '@eventstore/db-client';
import { StreamsClient } from '@eventstore/db-client/generated/streams_grpc_pb';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';
import { type EsdbDouble, type EsdbDoubleOptions, startEsdbDouble } from './support/esdb-double';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const withRaw = (
  title: string,
  options: Partial<EsdbDoubleOptions>,
  body: (t: ExecutionContext, d: EsdbDouble, raw: EventStoreDBClient) => Promise<void>,
): void => {
  test(title, async (t) => {
    t.timeout(20_000);
    const d = await startEsdbDouble({ batchAppend: false, ...options });
    const raw = EventStoreDBClient.connectionString(d.connectionString);
    try {
      await body(t, d, raw);
    } finally {
      await raw.dispose();
      await d.stop();
    }
  });
};

const e = (type = 'E') => jsonEvent({ id: randomUUID(), type, data: { n: 1 } });
const types = async (raw: EventStoreDBClient, stream: string): Promise<string[]> => {
  const out: string[] = [];
  for await (const r of raw.readStream(stream)) out.push(r.event?.type ?? '?');
  return out;
};

// ─── BatchAppend, over the generated client (the adapter never uses it) ───

const batchRequest = (stream: string, final: boolean, deadline?: Date): pb.BatchAppendReq => {
  const o = new pb.BatchAppendReq.Options().setStreamIdentifier(new shared.StreamIdentifier().setStreamName(Buffer.from(stream))).setAny(new Empty());
  if (deadline) o.setDeadline(Timestamp.fromDate(deadline));
  const m = new pb.BatchAppendReq.ProposedMessage().setId(new shared.UUID().setString(randomUUID())).setData(Buffer.from('{}'));
  m.getMetadataMap().set('type', 'E').set('content-type', 'application/json');
  const req = new pb.BatchAppendReq().setCorrelationId(new shared.UUID().setString(randomUUID())).setOptions(o).setIsFinal(final);
  req.addProposedMessages(m); // returns the element, not the request
  return req;
};

test('BatchAppend: a half-close with nothing pending leaves the call open; with an append pending, the server ends it after the reply', async (t) => {
  t.timeout(20_000);
  const d = await startEsdbDouble({ batchAppend: true });
  const client = new StreamsClient(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure());
  try {
    const idle = client.batchAppend();
    idle.on('error', () => undefined);
    idle.end();
    // A full round trip on another call after the half-close: the idle call is still not ended by then.
    const busy = client.batchAppend();
    busy.on('error', () => undefined);
    const replies: pb.BatchAppendResp[] = [];
    const ended = new Promise<void>((resolve) => busy.on('end', resolve).on('data', (r: pb.BatchAppendResp) => replies.push(r)));
    d.faults.nextAppends({ delayMs: 300 });
    busy.write(batchRequest(`s-${randomUUID()}`, true));
    while (d.calls.batchAppend < 1) await sleep(5);
    busy.end(); // the half-close comes before the (late) reply
    await ended;
    t.is(replies.length, 1);
    t.true(replies[0]!.hasSuccess());
    t.is(d.calls.batchAppendStreamsEnded, 1, 'only the call with a reply after its half-close was ended by the server');
    idle.cancel();
  } finally {
    client.close();
    await d.stop();
  }
});

test('BatchAppend: a request whose deadline has passed is answered Timeout at once; one never finished, Timeout after WriteTimeoutMs', async (t) => {
  t.timeout(20_000);
  const d = await startEsdbDouble({ batchAppend: true, writeTimeoutMs: 200 });
  const client = new StreamsClient(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure());
  try {
    const call = client.batchAppend();
    const replies: pb.BatchAppendResp[] = [];
    call.on('data', (r: pb.BatchAppendResp) => replies.push(r));
    call.on('error', () => undefined); // the cancel below
    call.write(batchRequest(`s-${randomUUID()}`, true, new Date(Date.now() - 1_000)));
    call.write(batchRequest(`s-${randomUUID()}`, false)); // never finished
    while (replies.length < 2) await sleep(10);
    t.deepEqual(
      replies.map((r) => r.getError()?.getDetails()?.getTypeName()),
      ['event_store.client.Timeout', 'event_store.client.Timeout'],
    );
    t.is(d.calls.batchAppend, 0, 'neither was written');
    call.cancel();
  } finally {
    client.close();
    await d.stop();
  }
});

// ─── Append ─────────────────────────────────────────────────────────────

withRaw('the default MaxAppendSize is 1 MiB, counted as the server counts it', {}, async (t, _d, raw) => {
  const s = `s-${randomUUID()}`;
  const type = 'Big';
  // data + metadata + 2 × type length: exactly 1 MiB passes, one byte more does not.
  const fits = 1024 * 1024 - type.length * 2 - 2; // the JSON quotes of a string
  await raw.appendToStream(s, jsonEvent({ id: randomUUID(), type, data: 'x'.repeat(fits) as never }));
  const err = await t.throwsAsync(raw.appendToStream(s, jsonEvent({ id: randomUUID(), type, data: 'x'.repeat(fits + 1) as never })));
  t.true(err instanceof MaxAppendSizeExceededError);
  t.is((err as MaxAppendSizeExceededError).maxAppendSize, 1024 * 1024);
});

withRaw('a wrong expected version is answered with the legacy _2060 fields set too', {}, async (t, d) => {
  const client = new StreamsClient(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure());
  try {
    const resp = await new Promise<pb.AppendResp>((resolve, reject) => {
      const call = client.append((err, r) => (err ? reject(err) : resolve(r!)));
      const o = new pb.AppendReq.Options()
        .setStreamIdentifier(new shared.StreamIdentifier().setStreamName(Buffer.from(`s-${randomUUID()}`)))
        .setStreamExists(new shared.Empty());
      call.write(new pb.AppendReq().setOptions(o));
      const m = new pb.AppendReq.ProposedMessage().setId(new shared.UUID().setString(randomUUID())).setData(Buffer.from('{}'));
      m.getMetadataMap().set('type', 'E').set('content-type', 'application/json');
      call.write(new pb.AppendReq().setProposedMessage(m));
      call.end();
    });
    const w = resp.getWrongExpectedVersion()!;
    t.true(w.hasExpectedStreamExists() && w.hasStreamExists2060());
    t.true(w.hasCurrentNoStream() && w.hasNoStream2060());
  } finally {
    client.close();
  }
});

// ─── expected revisions and idempotency (IndexWriter.CheckCommit) ─────────

withRaw(
  'idempotency: an exact revision is recognised from the index; `any` only while the first id is in the bounded cache',
  { idempotencyCacheSize: 3 },
  async (t, _d, raw) => {
    const s = `s-${randomUUID()}`;
    const first = e('A');
    await raw.appendToStream(s, first, { expectedRevision: NO_STREAM });
    for (let i = 0; i < 5; i++) await raw.appendToStream(`other-${randomUUID()}`, e('Noise'));
    await raw.appendToStream(s, first, { expectedRevision: NO_STREAM }); // long evicted from the cache: still recognised
    t.deepEqual(await types(raw, s), ['A']);
    const again = e('B');
    await raw.appendToStream(s, again, { expectedRevision: ANY });
    await raw.appendToStream(s, again, { expectedRevision: ANY }); // in the cache: recognised
    t.deepEqual(await types(raw, s), ['A', 'B']);
    for (let i = 0; i < 5; i++) await raw.appendToStream(`other-${randomUUID()}`, e('Noise'));
    await raw.appendToStream(s, again, { expectedRevision: ANY }); // evicted: written again
    t.deepEqual(await types(raw, s), ['A', 'B', 'B']);
  },
);

withRaw('stream_exists passes on a stream with metadata only, and is stream-deleted on a soft-deleted one', {}, async (t, _d, raw) => {
  const s = `s-${randomUUID()}`;
  await raw.setStreamMetadata(s, { maxAge: 3600 });
  await raw.appendToStream(s, e('A'), { expectedRevision: STREAM_EXISTS });
  await raw.deleteStream(s);
  await t.throwsAsync(raw.appendToStream(s, e('B'), { expectedRevision: STREAM_EXISTS }), { instanceOf: StreamDeletedError });
});

withRaw('a soft delete replaces the metadata; the next write re-creates the stream from its next revision', {}, async (t, d, raw) => {
  const s = `s-${randomUUID()}`;
  await raw.setStreamMetadata(s, { acl: { readRoles: ['r'] } });
  await raw.appendToStream(s, [e('A0'), e('A1')]);
  await raw.deleteStream(s);
  t.is(d.metadataTextOf(s), '{"$tb":9223372036854775807}', 'the ACL is gone with it');
  const r = await raw.appendToStream(s, e('A2'), { expectedRevision: NO_STREAM });
  t.is(r.nextExpectedRevision, 2n, 'revisions continue');
  t.is(d.metadataTextOf(s), '{"$tb":2}');
  t.deepEqual(await types(raw, s), ['A2']);
});

withRaw('$maxAge, $maxCount and $tb bound every read of the stream, not $all', { clock: () => clockNow }, async (t, _d, raw) => {
  const s = `s-${randomUUID()}`;
  clockNow = Date.parse('2026-01-01T00:00:00Z');
  await raw.appendToStream(s, e('Old'));
  clockNow += 120_000;
  await raw.appendToStream(s, [e('N1'), e('N2'), e('N3')]);
  await raw.setStreamMetadata(s, { maxAge: 60 });
  t.deepEqual(await types(raw, s), ['N1', 'N2', 'N3']);
  await raw.setStreamMetadata(s, { maxCount: 2 });
  t.deepEqual(await types(raw, s), ['N2', 'N3']);
  await raw.setStreamMetadata(s, { truncateBefore: 3 });
  t.deepEqual(await types(raw, s), ['N3']);
  let inAll = 0;
  for await (const r of raw.readAll()) if (r.event?.streamId === s) inAll++;
  t.is(inAll, 4, '$all still holds every event');
});
let clockNow = Date.now();

// ─── $all as a server has it ──────────────────────────────────────────────

withRaw(
  '$all begins with the server’s own events, and holds $$ metadata and (with the system projections) $> links',
  { systemProjections: true },
  async (t, _d, raw) => {
    const s = `order-${randomUUID()}`;
    await raw.appendToStream(s, e('Placed'));
    await raw.setStreamMetadata(s, { maxCount: 10 });
    const all: Array<[string, string]> = [];
    for await (const r of raw.readAll({ fromPosition: START })) all.push([r.event!.streamId, r.event!.type]);
    t.deepEqual(all[0], ['$epoch-information', '$epoch-information']);
    t.true(all.findIndex(([stream]) => !stream.startsWith('$')) >= 7, 'a fresh server’s events first: epoch, settings, default users');
    t.true(all.some(([stream, type]) => stream === '$ce-order' && type === '$>'));
    t.true(all.some(([stream, type]) => stream === '$et-Placed' && type === '$>'));
    t.true(all.some(([stream, type]) => stream === `$$${s}` && type === '$metadata'));
  },
);

withRaw('a filtered subscription to $all sends checkpoints as it scans, matching or not', {}, async (t, _d, raw) => {
  for (let i = 0; i < 40; i++) await raw.appendToStream(`noise-${i}`, e('N'));
  const checkpoints: bigint[] = [];
  const sub = raw.subscribeToAll({
    filter: streamNameFilter({
      prefixes: ['nothing-matches-'],
      checkpointInterval: 1,
      maxSearchWindow: 10,
      checkpointReached: (_s, p) => void checkpoints.push(p.commit),
    }),
  });
  await new Promise<void>((resolve) => sub.on('caughtUp', () => resolve()));
  await sub.unsubscribe();
  t.true(checkpoints.length >= 4, `${checkpoints.length} checkpoints`);
  t.deepEqual(
    [...checkpoints].sort((a, b) => (a < b ? -1 : 1)),
    checkpoints,
  );
});
