/**
 * A wire-level test double of an EventStoreDB node: an in-process gRPC server
 * (`@grpc/grpc-js`, insecure HTTP/2 on 127.0.0.1) built from the
 * `@eventstore/db-client` package's OWN generated message classes and service
 * definitions, with in-memory state.
 *
 * WHAT IT PROVES: that `src/infra/esdb-store.ts` drives the real client library
 * (6.2.1, pinned) correctly over the real wire protocol — both append paths
 * (`Streams.Append` and the `Streams.BatchAppend` bidi stream, chosen by
 * `ServerFeatures.GetSupportedMethods`), reads, catch-up subscriptions with a
 * server-side filter and `caught_up`, the error shapes the client turns into
 * `WrongExpectedVersionError` / `StreamNotFoundError` / `StreamDeletedError`,
 * and the behaviour of a dropped connection.
 *
 * WHAT IT DOES NOT PROVE: EventStoreDB's own semantics. System events and
 * projections ($stats, $ce-, $et- …), scavenging, ACLs and authentication,
 * `$maxCount`/`$maxAge`/`$tb` metadata, clustering/gossip, real log positions
 * and exact idempotency rules are not modelled (system events can be injected
 * by hand with `inject`). The same contract suite therefore also runs against a
 * real server via `test/esdb-real.int.ts` whenever `ESDB_CONNECTION_STRING`
 * is set.
 *
 * Semantics chosen here (as on a real server): `$all` reads from a position
 * are inclusive; subscriptions from a position/revision are exclusive; a
 * missing stream reads as a `stream_not_found` message; a tombstoned stream
 * answers with the `stream-deleted` error; a soft-deleted stream reads as
 * missing and can be written again (revisions continue).
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Any } from 'google-protobuf/google/protobuf/any_pb';
import { Empty as GEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import * as features from '@eventstore/db-client/generated/serverfeatures_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';
import { Status } from '@eventstore/db-client/generated/status_pb';
import { Code } from '@eventstore/db-client/generated/code_pb';

// ─── public surface ───────────────────────────────────────────────────────

export interface EsdbDoubleOptions {
  /** Advertise `Streams.BatchAppend` in the server features (the client then uses it for every append). */
  readonly batchAppend: boolean;
  /** 0 / undefined: pick a free port. */
  readonly port?: number;
}

export interface EsdbDoubleCalls {
  features: number;
  /** `Streams.Append` calls that completed an append attempt. */
  append: number;
  /** `Streams.BatchAppend` bidi streams opened. */
  batchAppendStreams: number;
  /** Append requests served over BatchAppend (one per correlation id). */
  batchAppend: number;
  read: number;
  subscriptions: number;
  delete: number;
  tombstone: number;
}

export interface InjectedEvent {
  readonly stream: string;
  readonly type: string;
  readonly data?: unknown;
}

export interface EsdbDouble {
  readonly port: number;
  readonly connectionString: string;
  readonly calls: EsdbDoubleCalls;
  /** Appends bypassing every check (e.g. `$`-prefixed system events). */
  inject(events: ReadonlyArray<InjectedEvent>): void;
  /** Number of events in `$all`. */
  size(): number;
  /** Stops serving (connections dropped at once); the state is kept. */
  stop(): Promise<void>;
  /** Serves again on the same port with the same state. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
}

// ─── state ────────────────────────────────────────────────────────────────

interface Stored {
  readonly stream: string;
  readonly revision: bigint;
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
  readonly created: string;
  readonly commit: bigint;
  readonly prepare: bigint;
}

interface StreamState {
  readonly events: Stored[];
  /** Revision of the last event ever written, -1n if none. */
  last: bigint;
  /** Soft delete: events below this revision are gone from the stream (not from $all). */
  truncateBefore: bigint;
  tombstoned: boolean;
}

type Expected = { readonly kind: 'any' } | { readonly kind: 'no_stream' } | { readonly kind: 'stream_exists' } | { readonly kind: 'revision'; readonly revision: bigint };

interface Proposed {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

type AppendOutcome =
  | { readonly ok: true; readonly current: bigint; readonly commit: bigint; readonly prepare: bigint }
  | { readonly ok: false; readonly kind: 'wrong_expected_version'; readonly current: bigint | undefined }
  | { readonly ok: false; readonly kind: 'deleted' };

const POSITION_BASE = 4096n;
const POSITION_STEP = 131n;
/** Prepare ≠ commit on purpose, so a swapped mapping shows. */
const PREPARE_OFFSET = 17n;

const EXPECTED_CODE: Record<Exclude<Expected['kind'], 'revision'>, string> = { any: '-2', no_stream: '-1', stream_exists: '-4' };

const utf8 = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const ticksNow = (): string => (BigInt(Date.now()) * 10_000n).toString();

const streamId = (name: string): shared.StreamIdentifier => new shared.StreamIdentifier().setStreamName(bytes(name));
const uuid = (s: string): shared.UUID => new shared.UUID().setString(s);
const uuidString = (u: shared.UUID | undefined): string => {
  if (!u) return '';
  if (u.hasString()) return u.getString();
  const st = u.getStructured();
  if (!st) return '';
  const buf = Buffer.alloc(16);
  buf.writeBigInt64BE(BigInt(st.getMostSignificantBits()), 0);
  buf.writeBigInt64BE(BigInt(st.getLeastSignificantBits()), 8);
  const h = buf.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

const serviceError = (code: grpc.status, details: string, md: Record<string, string | undefined> = {}): grpc.ServiceError => {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) if (v !== undefined) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata });
};

class Store {
  readonly log: Stored[] = [];
  private readonly streams = new Map<string, StreamState>();
  private readonly listeners = new Set<() => void>();

  stream(name: string): StreamState | undefined {
    return this.streams.get(name);
  }

  onAppend(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Current revision as the expected-version check sees it. */
  current(s: StreamState | undefined): bigint | undefined {
    return s === undefined || s.last < s.truncateBefore ? undefined : s.last;
  }

  satisfies(expected: Expected, current: bigint | undefined): boolean {
    switch (expected.kind) {
      case 'any':
        return true;
      case 'no_stream':
        return current === undefined;
      case 'stream_exists':
        return current !== undefined;
      case 'revision':
        return current === expected.revision;
    }
  }

  append(name: string, expected: Expected, proposed: ReadonlyArray<Proposed>): AppendOutcome {
    const s = this.streams.get(name);
    if (s?.tombstoned) return { ok: false, kind: 'deleted' };
    const current = this.current(s);
    const replay = s ? this.idempotentReplay(s, expected, proposed) : undefined;
    if (replay) return replay;
    if (!this.satisfies(expected, current)) return { ok: false, kind: 'wrong_expected_version', current };
    return this.write(name, proposed);
  }

  /** The same events (by id) already written where this append would put them: answer success, write nothing. */
  private idempotentReplay(s: StreamState, expected: Expected, proposed: ReadonlyArray<Proposed>): AppendOutcome | undefined {
    const first = proposed[0];
    if (!first) return undefined;
    let start: number;
    if (expected.kind === 'revision') start = Number(expected.revision + 1n - (s.events[0]?.revision ?? 0n));
    else if (expected.kind === 'no_stream') start = 0;
    else start = s.events.findIndex((e) => e.id === first.id);
    if (start < 0 || start + proposed.length > s.events.length) return undefined;
    for (let k = 0; k < proposed.length; k++) if (s.events[start + k]?.id !== proposed[k]?.id) return undefined;
    const last = s.events[start + proposed.length - 1]!;
    return { ok: true, current: last.revision, commit: last.commit, prepare: last.prepare };
  }

  write(name: string, proposed: ReadonlyArray<Proposed>): AppendOutcome {
    let s = this.streams.get(name);
    if (!s) {
      s = { events: [], last: -1n, truncateBefore: 0n, tombstoned: false };
      this.streams.set(name, s);
    }
    let last: Stored | undefined;
    for (const p of proposed) {
      const commit = POSITION_BASE + BigInt(this.log.length) * POSITION_STEP;
      s.last += 1n;
      last = { ...p, stream: name, revision: s.last, created: ticksNow(), commit, prepare: commit - PREPARE_OFFSET };
      s.events.push(last);
      this.log.push(last);
    }
    for (const f of [...this.listeners]) f();
    return { ok: true, current: s.last, commit: last?.commit ?? -1n, prepare: last?.prepare ?? -1n };
  }

  /** Soft delete or tombstone. */
  delete(name: string, expected: Expected, tombstone: boolean): { ok: true } | { ok: false; kind: 'wrong_expected_version'; current: bigint | undefined } | { ok: false; kind: 'deleted' } {
    let s = this.streams.get(name);
    if (s?.tombstoned) return { ok: false, kind: 'deleted' };
    const current = this.current(s);
    if (!this.satisfies(expected, current)) return { ok: false, kind: 'wrong_expected_version', current };
    if (!s) {
      s = { events: [], last: -1n, truncateBefore: 0n, tombstoned: false };
      this.streams.set(name, s);
    }
    if (tombstone) s.tombstoned = true;
    else s.truncateBefore = s.last + 1n;
    return { ok: true };
  }

  visible(s: StreamState): Stored[] {
    return s.events.filter((e) => e.revision >= s.truncateBefore);
  }
}

// ─── message builders ─────────────────────────────────────────────────────

const expectedOf = (
  c: 'revision' | 'no_stream' | 'any' | 'stream_exists' | 'unset',
  revision: string,
): Expected => (c === 'revision' ? { kind: 'revision', revision: BigInt(revision) } : c === 'unset' ? { kind: 'any' } : { kind: c });

const recordedEvent = (e: Stored): pb.ReadResp.ReadEvent.RecordedEvent => {
  const r = new pb.ReadResp.ReadEvent.RecordedEvent()
    .setId(uuid(e.id))
    .setStreamIdentifier(streamId(e.stream))
    .setStreamRevision(e.revision.toString())
    .setCommitPosition(e.commit.toString())
    .setPreparePosition(e.prepare.toString())
    .setData(e.data)
    .setCustomMetadata(e.customMetadata);
  const md = r.getMetadataMap();
  md.set('type', e.type);
  md.set('content-type', e.contentType);
  md.set('created', e.created);
  return r;
};

const eventResp = (e: Stored, withCommitPosition: boolean): pb.ReadResp => {
  const re = new pb.ReadResp.ReadEvent().setEvent(recordedEvent(e));
  if (withCommitPosition) re.setCommitPosition(e.commit.toString());
  else re.setNoPosition(new shared.Empty());
  return new pb.ReadResp().setEvent(re);
};

const wrongExpectedVersionDetails = (expected: Expected, current: bigint | undefined): shared.WrongExpectedVersion => {
  const w = new shared.WrongExpectedVersion();
  if (current === undefined) w.setCurrentNoStream(new GEmpty());
  else w.setCurrentStreamRevision(current.toString());
  switch (expected.kind) {
    case 'any':
      w.setExpectedAny(new GEmpty());
      break;
    case 'no_stream':
      w.setExpectedNoStream(new GEmpty());
      break;
    case 'stream_exists':
      w.setExpectedStreamExists(new GEmpty());
      break;
    case 'revision':
      w.setExpectedStreamPosition(expected.revision.toString());
      break;
  }
  return w;
};

const rpcStatus = (code: Code, message: string, typeName: string, detail: Uint8Array): Status => {
  const any = new Any();
  any.pack(detail, typeName);
  return new Status().setCode(code).setMessage(message).setDetails(any);
};

/** Writes with back-pressure; resolves early if the call goes away. */
const writeTo = (call: grpc.ServerWritableStream<pb.ReadReq, pb.ReadResp>, msg: pb.ReadResp): Promise<void> => {
  if (call.cancelled || call.destroyed) return Promise.resolve();
  if (call.write(msg)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('close', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('close', done);
    call.on('cancelled', done);
  });
};

// ─── the server ───────────────────────────────────────────────────────────

export const startEsdbDouble = async (options: EsdbDoubleOptions): Promise<EsdbDouble> => {
  const store = new Store();
  const calls: EsdbDoubleCalls = { features: 0, append: 0, batchAppendStreams: 0, batchAppend: 0, read: 0, subscriptions: 0, delete: 0, tombstone: 0 };
  let server: grpc.Server | undefined;
  let port = options.port ?? 0;
  let subscriptionSeq = 0;

  const getSupportedMethods: grpc.handleUnaryCall<shared.Empty, features.SupportedMethods> = (_call, callback) => {
    calls.features++;
    const m = new features.SupportedMethods().setEventStoreServerVersion('23.10.0-double');
    const add = (service: string, method: string): void => {
      m.addMethods(new features.SupportedMethod().setServiceName(service).setMethodName(method));
    };
    for (const method of ['read', 'append', 'delete', 'tombstone']) add('event_store.client.streams.streams', method);
    if (options.batchAppend) add('event_store.client.streams.streams', 'batchappend');
    add('event_store.client.server_features.serverfeatures', 'getsupportedmethods');
    callback(null, m);
  };

  const proposedFrom = (p: pb.AppendReq.ProposedMessage | pb.BatchAppendReq.ProposedMessage): Proposed => {
    const md = p.getMetadataMap();
    return {
      id: uuidString(p.getId()),
      type: md.get('type') ?? '',
      contentType: md.get('content-type') ?? 'application/octet-stream',
      data: p.getData_asU8(),
      customMetadata: p.getCustomMetadata_asU8(),
    };
  };

  // Streams.Append: one options message, then one message per event; one reply.
  const append: grpc.handleClientStreamingCall<pb.AppendReq, pb.AppendResp> = (call, callback) => {
    let header: pb.AppendReq.Options | undefined;
    const proposed: Proposed[] = [];
    let failed = false;
    call.on('data', (req: pb.AppendReq) => {
      if (req.hasOptions()) header = req.getOptions();
      else {
        const p = req.getProposedMessage();
        if (p) proposed.push(proposedFrom(p));
      }
    });
    call.on('error', () => {
      failed = true;
    });
    call.on('end', () => {
      if (failed || call.cancelled) return;
      if (!header) return callback(serviceError(grpc.status.INVALID_ARGUMENT, 'append without options'));
      calls.append++;
      const name = utf8(header.getStreamIdentifier()?.getStreamName_asU8() ?? new Uint8Array());
      const c = header.getExpectedStreamRevisionCase();
      const E = pb.AppendReq.Options.ExpectedStreamRevisionCase;
      const expected = expectedOf(
        c === E.REVISION ? 'revision' : c === E.NO_STREAM ? 'no_stream' : c === E.STREAM_EXISTS ? 'stream_exists' : c === E.ANY ? 'any' : 'unset',
        header.getRevision(),
      );
      const out = store.append(name, expected, proposed);
      if (out.ok) {
        const success = new pb.AppendResp.Success()
          .setCurrentRevision(out.current.toString())
          .setPosition(new pb.AppendResp.Position().setCommitPosition(out.commit.toString()).setPreparePosition(out.prepare.toString()));
        return callback(null, new pb.AppendResp().setSuccess(success));
      }
      if (out.kind === 'deleted')
        return callback(serviceError(grpc.status.FAILED_PRECONDITION, `Event stream '${name}' is deleted.`, { exception: 'stream-deleted', 'stream-name': name }));
      const w = new pb.AppendResp.WrongExpectedVersion();
      if (out.current === undefined) w.setCurrentNoStream(new shared.Empty());
      else w.setCurrentRevision(out.current.toString());
      switch (expected.kind) {
        case 'any':
          w.setExpectedAny(new shared.Empty());
          break;
        case 'no_stream':
          w.setExpectedNoStream(new shared.Empty());
          break;
        case 'stream_exists':
          w.setExpectedStreamExists(new shared.Empty());
          break;
        case 'revision':
          w.setExpectedRevision(expected.revision.toString());
          break;
      }
      return callback(null, new pb.AppendResp().setWrongExpectedVersion(w));
    });
  };

  // Streams.BatchAppend: bidi; requests grouped by correlation id until is_final; replies echo it.
  const batchAppend: grpc.handleBidiStreamingCall<pb.BatchAppendReq, pb.BatchAppendResp> = (call) => {
    calls.batchAppendStreams++;
    const pending = new Map<string, { options: pb.BatchAppendReq.Options | undefined; proposed: Proposed[] }>();
    call.on('data', (req: pb.BatchAppendReq) => {
      const id = uuidString(req.getCorrelationId());
      const entry = pending.get(id) ?? { options: undefined, proposed: [] };
      pending.set(id, entry);
      if (req.hasOptions()) entry.options = req.getOptions();
      for (const p of req.getProposedMessagesList()) entry.proposed.push(proposedFrom(p));
      if (!req.getIsFinal()) return;
      pending.delete(id);
      calls.batchAppend++;
      const o = entry.options;
      const name = utf8(o?.getStreamIdentifier()?.getStreamName_asU8() ?? new Uint8Array());
      const C = pb.BatchAppendReq.Options.ExpectedStreamPositionCase;
      const c = o?.getExpectedStreamPositionCase() ?? C.EXPECTED_STREAM_POSITION_NOT_SET;
      const expected = expectedOf(
        c === C.STREAM_POSITION ? 'revision' : c === C.NO_STREAM ? 'no_stream' : c === C.STREAM_EXISTS ? 'stream_exists' : c === C.ANY ? 'any' : 'unset',
        o?.getStreamPosition() ?? '0',
      );
      const resp = new pb.BatchAppendResp().setCorrelationId(uuid(id)).setStreamIdentifier(streamId(name));
      switch (expected.kind) {
        case 'any':
          resp.setAny(new GEmpty());
          break;
        case 'no_stream':
          resp.setNoStream(new GEmpty());
          break;
        case 'stream_exists':
          resp.setStreamExists(new GEmpty());
          break;
        case 'revision':
          resp.setStreamPosition(expected.revision.toString());
          break;
      }
      const out = store.append(name, expected, entry.proposed);
      if (out.ok) {
        resp.setSuccess(
          new pb.BatchAppendResp.Success()
            .setCurrentRevision(out.current.toString())
            .setPosition(new shared.AllStreamPosition().setCommitPosition(out.commit.toString()).setPreparePosition(out.prepare.toString())),
        );
      } else if (out.kind === 'deleted') {
        resp.setError(
          rpcStatus(Code.FAILED_PRECONDITION, `Event stream '${name}' is deleted.`, 'event_store.client.StreamDeleted', new shared.StreamDeleted().setStreamIdentifier(streamId(name)).serializeBinary()),
        );
      } else {
        resp.setError(
          rpcStatus(
            Code.FAILED_PRECONDITION,
            'Append failed due to WrongExpectedVersion.',
            'event_store.client.WrongExpectedVersion',
            wrongExpectedVersionDetails(expected, out.current).serializeBinary(),
          ),
        );
      }
      call.write(resp);
    });
    call.on('end', () => call.end());
    call.on('error', () => undefined);
  };

  const read: grpc.handleServerStreamingCall<pb.ReadReq, pb.ReadResp> = (call) => {
    calls.read++;
    call.on('error', () => undefined);
    const o = call.request.getOptions();
    if (!o) return call.emit('error', serviceError(grpc.status.INVALID_ARGUMENT, 'read without options'));
    const backwards = o.getReadDirection() === pb.ReadReq.Options.ReadDirection.BACKWARDS;
    const subscribe = o.getCountOptionCase() === pb.ReadReq.Options.CountOptionCase.SUBSCRIPTION;
    const count = subscribe ? Infinity : Number(BigInt(o.getCount() || '0'));
    const match = filterOf(o);

    const streamOptions = o.getStream();
    if (streamOptions) {
      const name = utf8(streamOptions.getStreamIdentifier()?.getStreamName_asU8() ?? new Uint8Array());
      const s = store.stream(name);
      if (s?.tombstoned) {
        return call.emit('error', serviceError(grpc.status.FAILED_PRECONDITION, `Event stream '${name}' is deleted.`, { exception: 'stream-deleted', 'stream-name': name }));
      }
      const R = pb.ReadReq.Options.StreamOptions.RevisionOptionCase;
      const rc = streamOptions.getRevisionOptionCase();
      const from = rc === R.REVISION ? BigInt(streamOptions.getRevision()) : undefined;
      if (subscribe) {
        // Exclusive: events after `from`; `end`: only new ones.
        const startIndex = (): number => {
          if (rc === R.END) return store.log.length;
          if (from === undefined) return 0;
          const i = store.log.findIndex((e) => e.stream === name && e.revision > from);
          return i < 0 ? store.log.length : i;
        };
        return subscription(call, (e) => e.stream === name && e.revision >= (store.stream(name)?.truncateBefore ?? 0n), startIndex(), false);
      }
      const visible = s ? store.visible(s) : [];
      if (visible.length === 0) {
        call.write(new pb.ReadResp().setStreamNotFound(new pb.ReadResp.StreamNotFound().setStreamIdentifier(streamId(name))));
        return call.end();
      }
      const selected = backwards
        ? visible.filter((e) => from === undefined || e.revision <= from).reverse()
        : visible.filter((e) => from === undefined || e.revision >= from);
      return void stream(call, selected.filter(match).slice(0, count), false);
    }

    const allOptions = o.getAll();
    if (!allOptions) return call.emit('error', serviceError(grpc.status.INVALID_ARGUMENT, 'read of neither a stream nor $all'));
    const A = pb.ReadReq.Options.AllOptions.AllOptionCase;
    const ac = allOptions.getAllOptionCase();
    const p = allOptions.getPosition();
    const at = ac === A.POSITION && p ? { commit: BigInt(p.getCommitPosition()), prepare: BigInt(p.getPreparePosition()) } : undefined;
    const cmp = (e: Stored): number =>
      at === undefined ? 0 : e.commit < at.commit ? -1 : e.commit > at.commit ? 1 : e.prepare < at.prepare ? -1 : e.prepare > at.prepare ? 1 : 0;
    if (subscribe) {
      let startIndex = 0;
      if (ac === A.END) startIndex = store.log.length;
      else if (at !== undefined) {
        const i = store.log.findIndex((e) => cmp(e) > 0);
        startIndex = i < 0 ? store.log.length : i;
      }
      return subscription(call, match, startIndex, true);
    }
    let selected: Stored[];
    if (!backwards) selected = ac === A.END ? [] : store.log.filter((e) => cmp(e) >= 0);
    else selected = (ac === A.START ? [] : store.log.filter((e) => at === undefined || cmp(e) < 0)).reverse();
    return void stream(call, selected.filter(match).slice(0, count), true);
  };

  const stream = async (call: grpc.ServerWritableStream<pb.ReadReq, pb.ReadResp>, events: ReadonlyArray<Stored>, withCommit: boolean): Promise<void> => {
    for (const e of events) {
      if (call.cancelled) return;
      await writeTo(call, eventResp(e, withCommit));
    }
    if (!call.cancelled) call.end();
  };

  /** Catch-up from `startIndex` of `$all`, then `caught_up`, then live; ends only when the client cancels or the server stops. */
  const subscription = (call: grpc.ServerWritableStream<pb.ReadReq, pb.ReadResp>, match: (e: Stored) => boolean, startIndex: number, withCommit: boolean): void => {
    calls.subscriptions++;
    let cursor = startIndex;
    let caughtUp = false;
    let running = false;
    let done = false;
    const pump = async (): Promise<void> => {
      if (running || done) return;
      running = true;
      try {
        for (;;) {
          while (cursor < store.log.length && !done) {
            const e = store.log[cursor++]!;
            if (match(e)) await writeTo(call, eventResp(e, withCommit));
          }
          if (done) return;
          if (!caughtUp) {
            caughtUp = true;
            await writeTo(call, new pb.ReadResp().setCaughtUp(new pb.ReadResp.CaughtUp()));
            continue;
          }
          return;
        }
      } finally {
        running = false;
      }
    };
    const off = store.onAppend(() => void pump());
    const end = (): void => {
      done = true;
      off();
    };
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    void writeTo(call, new pb.ReadResp().setConfirmation(new pb.ReadResp.SubscriptionConfirmation().setSubscriptionId(`double-${++subscriptionSeq}`))).then(pump);
  };

  const deleteLike =
    (tombstone: boolean) =>
    (
      call: grpc.ServerUnaryCall<pb.DeleteReq | pb.TombstoneReq, pb.DeleteResp | pb.TombstoneResp>,
      callback: grpc.sendUnaryData<pb.DeleteResp | pb.TombstoneResp>,
    ): void => {
      if (tombstone) calls.tombstone++;
      else calls.delete++;
      const o = call.request.getOptions();
      const name = utf8(o?.getStreamIdentifier()?.getStreamName_asU8() ?? new Uint8Array());
      const C = pb.DeleteReq.Options.ExpectedStreamRevisionCase;
      const c = o?.getExpectedStreamRevisionCase() ?? C.EXPECTED_STREAM_REVISION_NOT_SET;
      const expected = expectedOf(
        c === C.REVISION ? 'revision' : c === C.NO_STREAM ? 'no_stream' : c === C.STREAM_EXISTS ? 'stream_exists' : c === C.ANY ? 'any' : 'unset',
        o?.getRevision() ?? '0',
      );
      const out = store.delete(name, expected, tombstone);
      if (out.ok) {
        const position = store.log.at(-1);
        if (tombstone) {
          const r = new pb.TombstoneResp();
          if (position) r.setPosition(new pb.TombstoneResp.Position().setCommitPosition(position.commit.toString()).setPreparePosition(position.prepare.toString()));
          else r.setNoPosition(new shared.Empty());
          return callback(null, r);
        }
        const r = new pb.DeleteResp();
        if (position) r.setPosition(new pb.DeleteResp.Position().setCommitPosition(position.commit.toString()).setPreparePosition(position.prepare.toString()));
        else r.setNoPosition(new shared.Empty());
        return callback(null, r);
      }
      if (out.kind === 'deleted')
        return callback(serviceError(grpc.status.FAILED_PRECONDITION, `Event stream '${name}' is deleted.`, { exception: 'stream-deleted', 'stream-name': name }));
      return callback(
        serviceError(grpc.status.FAILED_PRECONDITION, 'Wrong expected version.', {
          exception: 'wrong-expected-version',
          'stream-name': name,
          'expected-version': expected.kind === 'revision' ? expected.revision.toString() : EXPECTED_CODE[expected.kind],
          'actual-version': out.current?.toString(),
        }),
      );
    };

  const start = async (): Promise<void> => {
    if (server) return;
    const s = new grpc.Server();
    s.addService(ServerFeaturesService, { getSupportedMethods });
    s.addService(StreamsService, { read, append, batchAppend, delete: deleteLike(false), tombstone: deleteLike(true) });
    port = await new Promise<number>((resolve, reject) =>
      s.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    server = s;
  };

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s) s.forceShutdown();
  };

  await start();

  return {
    get port() {
      return port;
    },
    get connectionString() {
      return `esdb://127.0.0.1:${port}?tls=false`;
    },
    calls,
    inject: (events) => {
      for (const e of events) {
        store.write(e.stream, [
          { id: randomUUID(), type: e.type, contentType: 'application/json', data: bytes(JSON.stringify(e.data ?? {})), customMetadata: new Uint8Array() },
        ]);
      }
    },
    size: () => store.log.length,
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
  };
};

/** The server-side filter of a read or subscription (prefixes, else regex), on stream name or event type. */
const filterOf = (o: pb.ReadReq.Options): ((e: Stored) => boolean) => {
  const f = o.getFilter();
  if (!f) return () => true;
  const byStream = f.hasStreamIdentifier();
  const expr = byStream ? f.getStreamIdentifier() : f.getEventType();
  if (!expr) return () => true;
  const prefixes = expr.getPrefixList();
  const regex = expr.getRegex() ? new RegExp(expr.getRegex()) : undefined;
  return (e) => {
    const value = byStream ? e.stream : e.type;
    if (prefixes.length > 0) return prefixes.some((p) => value.startsWith(p));
    return regex ? regex.test(value) : true;
  };
};
