/**
 * The EventStoreDB / KurrentDB adapter, over `@eventstore/db-client` 6.2.1 (gRPC).
 *
 * Port semantics as in `src/ports/event-store.ts`, identical to the SQLite adapter:
 * - expected revisions map 1:1 (`any`, `no_stream`, `stream_exists`, bigint);
 *   `WrongExpectedVersionError` becomes the `VersionConflict` value (a negative
 *   or absent actual version means `no_stream`);
 * - a missing stream reads as `[]`. A ledger stream (the `keyledger.` prefix, `ledgerPrefixes`) that the server
 *   deleted or cut short is the `StreamDeleted` error naming it: tombstoned (the `stream-deleted` status),
 *   soft-deleted (missing, with `$tb` = 2^63-1 in its metadata), or truncated (a read that should begin at
 *   revision 0, or at the revision asked for, begins later: `$tb`, `$maxCount`, `$maxAge`). Other streams (the
 *   content store's, which delete-content soft-deletes on purpose) read a deleted stream as `[]`;
 * - `readAll` pages `$all` forwards. The 6.2.1 client cannot filter `readAll`
 *   server-side, so `$`-prefixed system streams/event types and the
 *   `streamPrefixes` option are applied here, and `maxCount` counts only the
 *   events that pass. `after` is exclusive (the client's `fromPosition` is
 *   inclusive: the event at exactly `after` is skipped);
 * - `subscribeToAll` uses the server-side filter (stream-name prefixes, else
 *   "no system event types"), skips `$` events client-side as well, and emits
 *   `caughtUp` exactly once, after every backlog event the server sent before
 *   its `caught_up` message (servers older than 23.10 never send it);
 * - failures (./esdb-errors.ts): the server unreachable, an unknown outcome (its Timeout, the call's deadline, no
 *   reply) and a node that is not the leader are retried with bounded exponential back-off — an append re-sent
 *   with the SAME event ids, which the server recognises as already written; then `StoreUnavailable` (cause
 *   `outcome-unknown` for an append) or `NotLeader`. Access denied and an append over `MaxAppendSize` are typed
 *   errors at once (`AccessDenied`, `AppendTooLarge`). Errors name the endpoint, never a credential. Every call
 *   requires the leader. A live subscription that loses the server resubscribes from the last delivered position
 *   (bounded), else ends with the error.
 *
 * Every `@eventstore/db-client` import of the project lives under `src/infra/`.
 *
 * Appends always take `Streams.Append`, never `Streams.BatchAppend` (./esdb-client.ts says why).
 *
 * Split by concern: connection strings (./connection-string.ts), building the client (./esdb-client.ts), what a
 * failed call means (./esdb-errors.ts); this class keeps what shares the client, the endpoint, the secrets to
 * scrub from errors and the retry policy.
 */
import { randomUUID } from 'node:crypto';
import { TextDecoder, TextEncoder } from 'node:util';
import * as E from 'fp-ts/Either';
import { esdbEndpoint, parseEsdb, secretsOf } from './connection-string';
import { buildEsdbClient, type ClientSettings } from './esdb-client';
import type * as TE from 'fp-ts/TaskEither';
import { Observable } from 'rxjs';
import {
  ANY,
  BACKWARDS,
  END,
  type EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START as ESDB_START,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type EventData as EsdbEventData,
  type JSONType,
  type RecordedEvent as EsdbRecordedEvent,
} from '@eventstore/db-client';
import {
  type AccessDenied,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StoreError,
  type StreamInspection,
  type SubscribeOptions,
  type SubscriptionMessage,
  START,
  comparePositions,
  storeUnavailable,
  streamDeleted,
  versionConflict,
} from '../ports/event-store';
import { LEDGER_PREFIX } from '../domain/ids';
import { errorMessage } from './error-message';
import { classify, type Failure, NoReply, retriable, sizeOnDisk } from './esdb-errors';
import { exposuresOf } from './esdb-protection';

export interface RetryPolicy {
  /** Total attempts, the first one included (≥ 1). */
  readonly attempts?: number;
  /** Delay before the 2nd attempt; doubles each time. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface EsdbStoreOptions {
  /** Calls (append, reads) that fail with a transient error. Default 5 attempts, 100 ms, max 2 s. */
  readonly retry?: RetryPolicy;
  /** A live subscription that loses the server: resubscription attempts in a row. Default 8, 200 ms, max 5 s. */
  readonly resubscribe?: RetryPolicy;
  /** Events per `$all` page read (≥ 2). Default 500. */
  readonly readPageSize?: number;
  /** An append attempt with no reply after this long is reported (outcome unknown) instead of hanging. Default 30 s. */
  readonly appendTimeoutMs?: number;
  /** How long `close()` waits for this store's appends in flight. Default 5 s. */
  readonly closeTimeoutMs?: number;
  /** Connection name, a password kept out of the string, where relative certificate paths start. */
  readonly client?: ClientSettings;
  /** Streams of the ledger (default: `keyledger.`): deleting or truncating one is an error when read, never `[]`. */
  readonly ledgerPrefixes?: ReadonlyArray<string>;
  /**
   * The rights each ledger stream is created with (its `$acl`, set before its first event): the writer role writes, it
   * and the auditor role read, nobody but `$admins` deletes it or changes its rights. Absent: no ACL is set.
   */
  readonly streamAcl?: StreamAcl;
}

export interface StreamAcl {
  readonly writerRole: string;
  readonly auditorRole: string;
}

/** The metadata a ledger stream is created with: never `$maxAge`, `$maxCount` or `$tb`. */
export const ledgerStreamMetadata = (acl: StreamAcl): Record<string, unknown> => ({
  $acl: {
    $r: [acl.writerRole, acl.auditorRole],
    $w: [acl.writerRole],
    $d: [],
    $mr: [acl.writerRole, acl.auditorRole],
    $mw: [],
  },
});

interface Backoff {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

const backoff = (p: RetryPolicy | undefined, d: Backoff): Backoff => ({
  attempts: Math.max(1, Math.floor(p?.attempts ?? d.attempts)),
  baseDelayMs: Math.max(0, p?.baseDelayMs ?? d.baseDelayMs),
  maxDelayMs: Math.max(0, p?.maxDelayMs ?? d.maxDelayMs),
});

/** Delay before attempt `n + 1`, after `n` failures (n ≥ 1). */
const delayAfter = (b: Backoff, failures: number): number => Math.min(b.maxDelayMs, b.baseDelayMs * 2 ** (failures - 1));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a client for `esdb://…` / `esdb+discover://…`. The channel is lazy: nothing is contacted yet. */
export const openEsdbStore = (connectionString: string, options: EsdbStoreOptions = {}): E.Either<StoreError, EventStore> => {
  const parsed = parseEsdb(connectionString);
  if (E.isLeft(parsed)) return E.left(storeUnavailable(esdbEndpoint(connectionString), `invalid EventStoreDB connection string: ${parsed.left.message}`));
  const client = buildEsdbClient(parsed.right, options.client);
  if (E.isLeft(client)) return E.left(storeUnavailable(parsed.right.endpoint, client.left));
  return E.right(new EsdbEventStore(client.right, parsed.right.endpoint, secretsOf(connectionString, options.client?.password), options));
};

// ─── errors ───────────────────────────────────────────────────────────────

/** What a call is, for its typed errors. */
interface Call {
  readonly what: string;
  readonly operation: AccessDenied['operation'];
  readonly stream: string;
  /** An append: its size as the server counts it (for AppendTooLarge), and an unknown outcome is said so. */
  readonly appendBytes?: number;
}

/** Every call asks for the leader: a command reads, decides and appends on one node's current state, never a lagging follower's. */
const LEADER = { requiresLeader: true } as const;

const actualOf = (v: unknown): bigint | 'no_stream' => (typeof v === 'bigint' && v >= 0n ? v : 'no_stream');

const toClientExpected = (e: ExpectedRevision): AppendExpectedRevision =>
  e === 'any' ? ANY : e === 'no_stream' ? NO_STREAM : e === 'stream_exists' ? STREAM_EXISTS : e;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isSystem = (name: string): boolean => name.startsWith('$');

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** An event to append is JSON at this point; `undefined`, functions, cycles and bigints are refused. */
const serializeJson = (v: unknown): string | undefined => {
  try {
    const s: unknown = JSON.stringify(v);
    return typeof s === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
};

// ─── the adapter ──────────────────────────────────────────────────────────

export class EsdbEventStore implements EventStore {
  private readonly retry: Backoff;
  private readonly resubscribe: Backoff;
  private readonly pageSize: number;
  private readonly appendTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly ledgerPrefixes: ReadonlyArray<string>;
  private readonly streamAcl: StreamAcl | undefined;
  private closed = false;
  private readonly liveSubscriptions = new Set<() => void>();
  private readonly appendsInFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly client: EventStoreDBClient,
    readonly endpoint: string,
    private readonly secrets: ReadonlyArray<string>,
    options: EsdbStoreOptions = {},
  ) {
    this.retry = backoff(options.retry, { attempts: 5, baseDelayMs: 100, maxDelayMs: 2_000 });
    this.resubscribe = backoff(options.resubscribe, { attempts: 8, baseDelayMs: 200, maxDelayMs: 5_000 });
    this.pageSize = Math.max(2, Math.floor(options.readPageSize ?? 500));
    this.appendTimeoutMs = Math.max(1, options.appendTimeoutMs ?? 30_000);
    this.closeTimeoutMs = Math.max(0, options.closeTimeoutMs ?? 5_000);
    this.ledgerPrefixes = options.ledgerPrefixes ?? [LEDGER_PREFIX];
    this.streamAcl = options.streamAcl;
  }

  private isLedger(stream: string): boolean {
    return this.ledgerPrefixes.some((p) => stream.startsWith(p));
  }

  /** Error text safe to show: no password, no full connection string. */
  private scrub(message: string): string {
    let out = message;
    for (const s of this.secrets) if (s.length > 0) out = out.split(s).join('***');
    return out;
  }

  private unavailable(what: string, e: unknown, attempts?: number): StoreError {
    const tries = attempts !== undefined && attempts > 1 ? ` (gave up after ${attempts} attempts)` : '';
    return storeUnavailable(this.endpoint, this.scrub(`${what} failed${tries}: ${errorMessage(e)}`));
  }

  /**
   * Runs `op`, retrying what may pass on another attempt — the server unreachable, a lost or late reply (an append
   * is re-sent with the SAME event ids, which the server recognises as already written), a node that is not the
   * leader (the client reconnects to the one it named) — with bounded exponential back-off; everything else is a
   * typed error at once.
   */
  private withRetry<A>(call: Call, op: () => Promise<E.Either<StoreError, A>>): TE.TaskEither<StoreError, A> {
    return async () => {
      for (let attempt = 1; ; attempt++) {
        if (this.closed) return E.left(storeUnavailable(this.endpoint, `${call.what}: the store is closed`));
        try {
          return await op();
        } catch (e) {
          const f = classify(e);
          if (!retriable(f) || attempt >= this.retry.attempts) return E.left(this.failure(call, f, e, attempt));
          await sleep(delayAfter(this.retry, attempt));
        }
      }
    };
  }

  /** The typed error of a call that will not be retried (again). */
  private failure(call: Call, f: Failure, e: unknown, attempts: number): StoreError {
    switch (f.kind) {
      case 'access-denied':
        return { _tag: 'AccessDenied', endpoint: this.endpoint, operation: call.operation, stream: call.stream };
      case 'too-large':
        return { _tag: 'AppendTooLarge', stream: call.stream, maxBytes: f.maxBytes, bytes: call.appendBytes ?? 0 };
      case 'not-leader':
        return { _tag: 'NotLeader', endpoint: this.endpoint, leader: f.leader };
      case 'unknown-outcome':
        if (call.appendBytes !== undefined)
          return storeUnavailable(
            this.endpoint,
            this.scrub(`${call.what}: no answer after ${attempts} attempt(s) with the same event ids, so it may or may not be written: ${errorMessage(e)}`),
            'outcome-unknown',
          );
        return this.unavailable(call.what, e, attempts);
      case 'transient':
      case 'other':
        return this.unavailable(call.what, e, attempts);
    }
  }

  // ─── append ─────────────────────────────────────────────────────────────

  append(stream: string, events: ReadonlyArray<EventData>, expected: ExpectedRevision): TE.TaskEither<StoreError, AppendResult> {
    if (stream.length === 0) return TEleft({ _tag: 'InvalidAppend', stream, message: 'the stream name is empty' });
    if (events.length === 0) return TEleft({ _tag: 'InvalidAppend', stream, message: 'no events to append' });
    const proposed: EsdbEventData[] = [];
    let bytes = 0;
    for (const e of events) {
      if (!UUID.test(e.id)) return TEleft({ _tag: 'InvalidAppend', stream, message: `event id ${JSON.stringify(e.id)} is not a UUID` });
      const data = serializeJson(e.data);
      const metadata = serializeJson(e.metadata);
      if (data === undefined || metadata === undefined) return TEleft({ _tag: 'InvalidAppend', stream, message: `event ${e.type} is not JSON` });
      bytes += sizeOnDisk(e.type, data, metadata);
      proposed.push({
        id: e.id,
        type: e.type,
        contentType: 'application/json',
        // The client JSON.stringifies `data` itself (already proven serialisable above).
        data: e.data as JSONType,
        // Metadata travels as raw JSON bytes so that every JSON value (null, false, 0 …) round-trips;
        // the client parses it back on read. (It must be a plain Uint8Array, not a Buffer.)
        metadata: encoder.encode(metadata),
      });
    }
    const call: Call = { what: `append to ${stream}`, operation: stream.startsWith('$$') ? 'write-metadata' : 'write', stream, appendBytes: bytes };
    const protect = this.streamAcl && expected === 'no_stream' && this.isLedger(stream) ? this.protect(stream, this.streamAcl) : undefined;
    // The event ids are fixed here, once: every retry of this append re-sends the same ones.
    const appendEvents = this.withRetry(call, async () => {
      try {
        const r = await this.replyWithin(
          this.client.appendToStream(stream, proposed, { expectedRevision: toClientExpected(expected), deadline: this.appendTimeoutMs, ...LEADER }),
        );
        if (!r.success) return E.left(versionConflict(stream, expected, await this.currentRevision(stream)));
        const position = r.position ?? (await this.positionOfLast(stream));
        return E.right({ nextExpectedRevision: r.nextExpectedRevision, position });
      } catch (e) {
        if (e instanceof WrongExpectedVersionError) return E.left(versionConflict(stream, expected, actualOf(e.actualVersion)));
        if (e instanceof StreamDeletedError)
          return E.left(
            this.isLedger(stream)
              ? streamDeleted(stream, 'tombstoned')
              : { _tag: 'InvalidAppend', stream, message: 'the stream was deleted permanently (tombstoned)' },
          );
        throw e;
      }
    });
    if (!protect) return appendEvents;
    return async () => {
      const p = await protect();
      return E.isLeft(p) ? p : appendEvents();
    };
  }

  /**
   * A new ledger stream's rights, set before its first event (so it is never unprotected): its metadata written with
   * `no_stream` on its `$$` metastream. Metadata already there is kept when it is exactly the ledger's (a first write
   * that crashed after it, a retry) and replaced otherwise — metadata planted before the stream existed (the
   * deployment stream's name is predictable) must not decide who may delete it. Replacing it needs the right to:
   * if the planted metadata took that right away, the command stops with `AccessDenied` (write-metadata) rather
   * than write into a stream it cannot protect. `verify` reports any ledger stream left exposed.
   */
  private protect(stream: string, acl: StreamAcl): TE.TaskEither<StoreError, void> {
    const meta: EsdbEventData = {
      id: randomUUID(),
      type: '$metadata',
      contentType: 'application/json',
      data: ledgerStreamMetadata(acl) as JSONType,
      metadata: undefined,
    };
    const wanted = JSON.stringify(ledgerStreamMetadata(acl));
    return this.withRetry({ what: `protecting ${stream}`, operation: 'write-metadata', stream }, async () => {
      for (;;) {
        const last = await this.lastEvent(`$$${stream}`);
        if (last?.isJson && JSON.stringify(last.data) === wanted) return E.right(undefined);
        const at: AppendExpectedRevision = last ? last.revision : NO_STREAM;
        try {
          await this.client.appendToStream(`$$${stream}`, [meta], { expectedRevision: at, deadline: this.appendTimeoutMs, ...LEADER });
          return E.right(undefined);
        } catch (e) {
          if (!(e instanceof WrongExpectedVersionError)) throw e; // raced: look again
        }
      }
    });
  }

  deleteStream(stream: string): TE.TaskEither<StoreError, void> {
    return this.withRetry({ what: `delete of ${stream}`, operation: 'delete', stream }, async () => {
      try {
        await this.replyWithin(this.client.deleteStream(stream, { expectedRevision: ANY, ...LEADER }));
      } catch (e) {
        // Gone already (never written, deleted by an earlier run, tombstoned): what was asked for.
        if (!(e instanceof StreamNotFoundError || e instanceof StreamDeletedError)) throw e;
      }
      return E.right(undefined);
    });
  }

  /** Tracks the append for `close()`, and turns a reply that never comes into an error. */
  private replyWithin<A>(call: Promise<A>): Promise<A> {
    this.appendsInFlight.add(call);
    const settled = (): void => void this.appendsInFlight.delete(call);
    call.then(settled, settled);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      // The call carries the same deadline; this only ends a wait the client itself would not end.
      timer = setTimeout(() => reject(new NoReply(`no reply within ${this.appendTimeoutMs} ms`)), this.appendTimeoutMs + 1_000);
    });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * The stream's last event. The read is consumed to its end (one event at most), never left by a `return` inside
   * the loop: that leaves the gRPC call unread and open, and the client's `dispose()` then waits for it for ever.
   */
  private async lastEvent(stream: string): Promise<EsdbRecordedEvent | undefined> {
    let last: EsdbRecordedEvent | undefined;
    try {
      for await (const r of this.client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1, ...LEADER })) last ??= r.event;
    } catch (e) {
      if (e instanceof StreamNotFoundError || e instanceof StreamDeletedError) return undefined;
      throw e;
    }
    return last;
  }

  private async currentRevision(stream: string): Promise<bigint | 'no_stream'> {
    const last = await this.lastEvent(stream);
    return last ? last.revision : 'no_stream';
  }

  private async positionOfLast(stream: string): Promise<Position> {
    return (await this.lastEvent(stream))?.position ?? START;
  }

  // ─── reads ──────────────────────────────────────────────────────────────

  readStream(stream: string, options: ReadStreamOptions = {}): TE.TaskEither<StoreError, ReadonlyArray<RecordedEvent>> {
    const backwards = options.direction === 'backwards';
    const max = options.maxCount;
    if (max !== undefined && max === 0) return TEright([]);
    let from = options.fromRevision;
    if (from !== undefined && from < 0n) {
      if (backwards) return TEright([]);
      from = undefined;
    }
    const ledger = this.isLedger(stream);
    return this.withRetry({ what: `read of ${stream}`, operation: 'read', stream }, async () => {
      const out: RecordedEvent[] = [];
      try {
        const read = this.client.readStream(stream, {
          direction: backwards ? BACKWARDS : FORWARDS,
          fromRevision: from ?? (backwards ? END : ESDB_START),
          ...(max !== undefined && max > 0 ? { maxCount: max } : {}),
          ...LEADER,
        });
        for await (const resolved of read) {
          if (!resolved.event) continue;
          const r = this.toRecorded(resolved.event);
          if (E.isLeft(r)) {
            await read.cancel();
            return r;
          }
          out.push(r.right);
        }
      } catch (e) {
        if (e instanceof StreamDeletedError) return ledger ? E.left(streamDeleted(stream, 'tombstoned')) : E.right([]);
        if (e instanceof StreamNotFoundError) return ledger ? this.missingOrSoftDeleted(stream) : E.right([]);
        throw e;
      }
      if (ledger) {
        const cut = truncation(out, backwards, from, max);
        if (cut !== undefined) return E.left(streamDeleted(stream, 'truncated', cut));
        // The stream exists (it is not "not found") but nothing of it reads: every event is below its lower bound.
        if (out.length === 0 && (from === undefined || (!backwards && from === 0n))) return E.left(streamDeleted(stream, 'truncated'));
      }
      return E.right(out);
    });
  }

  inspectStream(stream: string): TE.TaskEither<StoreError, StreamInspection> {
    return async () => {
      const first = await this.readStream(stream, { maxCount: 1 })();
      if (E.isLeft(first) && first.left._tag !== 'StreamDeleted') return first;
      const deleted = E.isLeft(first) && first.left._tag === 'StreamDeleted' ? first.left : null;
      const meta = await this.withRetry({ what: `read of ${stream}'s metadata`, operation: 'read-metadata', stream }, async () =>
        E.right((await this.client.getStreamMetadata(stream, LEADER)).metadata),
      )();
      if (E.isLeft(meta))
        return meta.left._tag === 'AccessDenied'
          ? E.right({ deleted, exposures: ["its metadata is not readable with this user's rights ($mr): its protection is unknown"] })
          : meta;
      return E.right({ deleted, exposures: deleted?.how === 'soft-deleted' ? [] : exposuresOf(meta.right) });
    };
  }

  /** A ledger stream the server says is not found: never written (`[]`), or soft-deleted — its metadata's `$tb` is 2^63-1, what a soft delete writes. */
  private async missingOrSoftDeleted(stream: string): Promise<E.Either<StoreError, ReadonlyArray<RecordedEvent>>> {
    const { metadata } = await this.client.getStreamMetadata(stream, LEADER);
    const tb = metadata?.truncateBefore;
    // JSON.parse reads 9223372036854775807 as 9223372036854776000: any $tb past 2^53 is the deleted marker.
    return typeof tb === 'number' && tb >= Number.MAX_SAFE_INTEGER ? E.left(streamDeleted(stream, 'soft-deleted')) : E.right([]);
  }

  readAll(options: ReadAllOptions = {}): TE.TaskEither<StoreError, ReadonlyArray<RecordedEvent>> {
    const limit = options.maxCount === undefined || options.maxCount < 0 ? Infinity : options.maxCount;
    if (limit === 0) return TEright([]);
    const visible = this.visibility(options.streamPrefixes);
    const after = options.after !== undefined && comparePositions(options.after, START) > 0 ? options.after : undefined;
    return this.withRetry({ what: 'read of $all', operation: 'read-all', stream: '$all' }, async () => {
      const out: RecordedEvent[] = [];
      let cursor = after;
      for (;;) {
        let raw = 0;
        const read = this.client.readAll({ fromPosition: cursor ?? ESDB_START, direction: FORWARDS, maxCount: this.pageSize, ...LEADER });
        let pageEnd: Position | undefined;
        for await (const resolved of read) {
          raw++;
          const ev = resolved.event;
          if (!ev?.position) continue;
          pageEnd = ev.position;
          // fromPosition is inclusive: the event at exactly `cursor` was delivered already (or is `after` itself).
          if (cursor !== undefined && comparePositions(ev.position, cursor) <= 0) continue;
          if (!visible(ev.streamId, ev.type)) continue;
          const r = this.toRecorded(ev);
          if (E.isLeft(r)) {
            await read.cancel();
            return r;
          }
          out.push(r.right);
          if (out.length >= limit) {
            await read.cancel();
            return E.right(out);
          }
        }
        if (raw < this.pageSize || pageEnd === undefined || (cursor !== undefined && comparePositions(pageEnd, cursor) <= 0)) return E.right(out);
        cursor = pageEnd;
      }
    });
  }

  private visibility(prefixes: ReadonlyArray<string> | undefined): (stream: string, type: string) => boolean {
    const ps = prefixes && prefixes.length > 0 ? prefixes : undefined;
    return (stream, type) => !isSystem(stream) && !isSystem(type) && (ps === undefined || ps.some((p) => stream.startsWith(p)));
  }

  private toRecorded(ev: EsdbRecordedEvent): E.Either<StoreError, RecordedEvent> {
    const unreadable = (message: string): E.Either<StoreError, RecordedEvent> =>
      E.left({ _tag: 'StoredRecordUnreadable', stream: ev.streamId, revision: ev.revision, message });
    let data: unknown = ev.data;
    if (data instanceof Uint8Array) {
      // Written by another tool as binary: it must still be JSON text.
      try {
        data = JSON.parse(decoder.decode(data));
      } catch (e) {
        return unreadable(`data is not JSON (${ev.isJson ? 'application/json' : 'binary'}): ${errorMessage(e)}`);
      }
    }
    // The client hands back unparseable metadata as raw bytes, and absent metadata as undefined.
    const metadata: unknown = ev.metadata;
    if (metadata instanceof Uint8Array) return unreadable('metadata is not JSON');
    return E.right({
      id: ev.id,
      streamName: ev.streamId,
      revision: ev.revision,
      position: ev.position ?? START,
      type: ev.type,
      data,
      metadata: metadata === undefined ? null : metadata,
    });
  }

  // ─── subscriptions ──────────────────────────────────────────────────────

  subscribeToAll(options: SubscribeOptions = {}): Observable<SubscriptionMessage> {
    return new Observable<SubscriptionMessage>((subscriber) => {
      const prefixes = options.streamPrefixes && options.streamPrefixes.length > 0 ? [...options.streamPrefixes] : undefined;
      const visible = this.visibility(prefixes);
      /** The last position delivered (or skipped as invisible): resubscriptions start after it. */
      let last: Position | undefined = options.after !== undefined && comparePositions(options.after, START) > 0 ? options.after : undefined;
      let caughtUpSent = false;
      let failures = 0;
      let stopped = false;
      let current: AllStreamSubscription | undefined;
      let timer: NodeJS.Timeout | undefined;

      const detach = (s: AllStreamSubscription): void => {
        if (current === s) current = undefined;
        s.removeAllListeners();
        s.on('error', () => undefined);
        s.unsubscribe().catch(() => undefined);
      };

      const finish = (error?: StoreError): void => {
        if (stopped) return;
        stopped = true;
        this.liveSubscriptions.delete(closeHook);
        if (timer !== undefined) clearTimeout(timer);
        if (current) detach(current);
        if (error) subscriber.error(error);
        else subscriber.complete();
      };
      const closeHook = (): void => finish();
      this.liveSubscriptions.add(closeHook);

      const emitCaughtUp = (): void => {
        if (caughtUpSent || stopped) return;
        caughtUpSent = true;
        subscriber.next({ kind: 'caughtUp' });
      };

      const dropped = (s: AllStreamSubscription, err: unknown): void => {
        if (current !== s || stopped) return;
        detach(s);
        if (this.closed) {
          finish();
          return;
        }
        const f = err === undefined ? undefined : classify(err);
        if (f !== undefined && !retriable(f)) {
          finish(this.failure({ what: 'subscription to $all', operation: 'subscribe', stream: '$all' }, f, err, 1));
          return;
        }
        failures++;
        if (failures > this.resubscribe.attempts) {
          finish(
            this.unavailable(
              `subscription to $all (gave up after ${this.resubscribe.attempts} resubscription attempts)`,
              err ?? new Error('the server ended the subscription'),
            ),
          );
          return;
        }
        timer = setTimeout(open, delayAfter(this.resubscribe, failures));
      };

      const open = (): void => {
        timer = undefined;
        if (stopped) return;
        if (this.closed) {
          finish();
          return;
        }
        let s: AllStreamSubscription;
        try {
          s = this.client.subscribeToAll({
            fromPosition: last ?? ESDB_START,
            filter: prefixes ? streamNameFilter({ prefixes }) : excludeSystemEvents(),
            ...LEADER,
          });
        } catch (e) {
          finish(this.unavailable('subscription to $all', e));
          return;
        }
        current = s;
        /** Once the server said caught_up: how many events it sent before that are still to be handed out. */
        let backlogLeft: number | undefined;
        s.on('confirmation', () => {
          failures = 0;
        });
        s.on('data', (resolved: AllStreamResolvedEvent) => {
          if (current !== s || stopped) return;
          failures = 0;
          const ev = resolved.event;
          if (ev?.position && (last === undefined || comparePositions(ev.position, last) > 0)) {
            if (visible(ev.streamId, ev.type)) {
              const r = this.toRecorded(ev);
              if (E.isLeft(r)) return finish(r.left);
              last = ev.position;
              subscriber.next({ kind: 'event', event: r.right });
            } else last = ev.position;
          }
          if (backlogLeft !== undefined && --backlogLeft === 0) {
            backlogLeft = undefined;
            emitCaughtUp();
          }
        });
        s.on('caughtUp', () => {
          if (current !== s || caughtUpSent) return;
          // The client emits `caughtUp` while the events before it may still sit in its readable buffer.
          const buffered = s.readableLength;
          if (buffered === 0) emitCaughtUp();
          else backlogLeft = buffered;
        });
        s.on('error', (err: Error) => dropped(s, err));
        s.on('end', () => dropped(s, undefined));
      };

      open();
      return () => {
        stopped = true;
        this.liveSubscriptions.delete(closeHook);
        if (timer !== undefined) clearTimeout(timer);
        if (current) detach(current);
      };
    });
  }

  /**
   * Waits (bounded) for this store's appends in flight, then disposes of the client. No BatchAppend stream exists to
   * end first (the client never takes that path: ./esdb-client.ts), so nothing here reaches another store's calls.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const f of [...this.liveSubscriptions]) f();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.closeTimeoutMs);
    });
    try {
      await Promise.race([Promise.allSettled([...this.appendsInFlight]), deadline]);
      // Bounded too: the client's dispose() waits for every call it cancels to finish, and one left unread never does.
      await Promise.race([this.client.dispose(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Where a ledger stream's read shows events are gone: it should start at `from` (forwards; 0 by default) or reach
 * revision 0 (backwards, unless cut by `maxCount`), and does not. The first revision that still reads, or undefined.
 */
const truncation = (out: ReadonlyArray<RecordedEvent>, backwards: boolean, from: bigint | undefined, max: number | undefined): bigint | undefined => {
  if (out.length === 0) return undefined;
  if (!backwards) return out[0]!.revision > (from ?? 0n) ? out[0]!.revision : undefined;
  const last = out[out.length - 1]!;
  return (max === undefined || out.length < max) && last.revision > 0n ? last.revision : undefined;
};

const TEleft =
  <A>(e: StoreError): TE.TaskEither<StoreError, A> =>
  () =>
    Promise.resolve(E.left(e));

const TEright =
  <A>(a: A): TE.TaskEither<StoreError, A> =>
  () =>
    Promise.resolve(E.right(a));

export { esdbEndpoint } from './connection-string';
