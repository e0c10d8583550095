/**
 * The EventStoreDB / KurrentDB adapter, over `@eventstore/db-client` 6.2.1 (gRPC).
 *
 * Port semantics as in `src/ports/event-store.ts`, identical to the SQLite adapter:
 * - expected revisions map 1:1 (`any`, `no_stream`, `stream_exists`, bigint);
 *   `WrongExpectedVersionError` becomes the `VersionConflict` value (a negative
 *   or absent actual version means `no_stream`);
 * - a missing stream (and a tombstoned one) reads as `[]`;
 * - `readAll` pages `$all` forwards. The 6.2.1 client cannot filter `readAll`
 *   server-side, so `$`-prefixed system streams/event types and the
 *   `streamPrefixes` option are applied here, and `maxCount` counts only the
 *   events that pass. `after` is exclusive (the client's `fromPosition` is
 *   inclusive: the event at exactly `after` is skipped);
 * - `subscribeToAll` uses the server-side filter (stream-name prefixes, else
 *   "no system event types"), skips `$` events client-side as well, and emits
 *   `caughtUp` exactly once, after every backlog event the server sent before
 *   its `caught_up` message (servers older than 23.10 never send it);
 * - transient failures (gRPC UNAVAILABLE, server-side CANCELLED) are retried
 *   with bounded exponential back-off, then reported as `StoreUnavailable`
 *   naming the endpoint — never the credentials of the connection string.
 *   Appends are retried too: EventStoreDB treats a re-sent append of the same
 *   event ids as idempotent. A live subscription that loses the server
 *   resubscribes from the last delivered position (bounded), else ends with
 *   `StoreUnavailable`.
 *
 * Every `@eventstore/db-client` import of the project lives under `src/infra/`.
 *
 * Why one file of ~570 lines (over the 400-line guideline): it is one class
 * whose methods share the client, the endpoint, the secrets to scrub from
 * errors and the retry policy; split, each part would take all of them as
 * parameters. The pure pieces already live elsewhere (connection strings in
 * ./connection-string.ts). Issue 17 (server-faithful behaviour, BatchAppend
 * vs Append) reworks it and is the place to split it by concern.
 */
import { finished } from 'node:stream';
import { TextDecoder, TextEncoder } from 'node:util';
import * as E from 'fp-ts/Either';
import { esdbEndpoint, secretsOf, splitEsdb } from './connection-string';
import type * as TE from 'fp-ts/TaskEither';
import { Observable } from 'rxjs';
import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START as ESDB_START,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  isCommandError,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type EventData as EsdbEventData,
  type JSONType,
  type RecordedEvent as EsdbRecordedEvent,
} from '@eventstore/db-client';
import {
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StoreError,
  type SubscribeOptions,
  type SubscriptionMessage,
  START,
  comparePositions,
  storeUnavailable,
  versionConflict,
} from '../ports/event-store';
import { errorMessage } from './error-message';

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
  /** How long `close()` waits for in-flight appends and for the server to end the BatchAppend stream. Default 5 s. */
  readonly closeTimeoutMs?: number;
}

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

/** The client resolves a failed append (instead of throwing) with this option; the adapter needs the error. */
const withoutThrowOnAppendFailure = (cs: string): string =>
  cs.replace(/([?&])throwOnAppendFailure=[^&]*(&|$)/i, (_m, sep: string, tail: string) => (tail === '&' ? sep : '')).replace(/[?&]$/, '');

/** Opens a client for `esdb://…` / `esdb+discover://…`. The channel is lazy: nothing is contacted yet. */
export const openEsdbStore = (connectionString: string, options: EsdbStoreOptions = {}): E.Either<StoreError, EventStore> => {
  const endpoint = esdbEndpoint(connectionString);
  if (!splitEsdb(connectionString))
    return E.left(storeUnavailable(endpoint, 'not an EventStoreDB connection string (esdb://host:port?tls=false or esdb+discover://host:port)'));
  let client: EventStoreDBClient;
  try {
    client = EventStoreDBClient.connectionString(withoutThrowOnAppendFailure(connectionString.trim()));
  } catch {
    // The client's parse error quotes the whole string, credentials included: not repeated here.
    return E.left(storeUnavailable(endpoint, 'invalid EventStoreDB connection string (expected esdb://[user:password@]host:port[?tls=false&…])'));
  }
  return E.right(new EsdbEventStore(client, endpoint, secretsOf(connectionString), options));
};

// ─── errors ───────────────────────────────────────────────────────────────

/** Worth retrying: the server could not be reached, or dropped the call. */
const isTransient = (e: unknown): boolean => {
  if (e instanceof Error && isCommandError(e)) return e.type === ErrorType.UNAVAILABLE || e.type === ErrorType.CANCELLED;
  return typeof e === 'object' && e !== null && 'code' in e && (e as { code: unknown }).code === 14;
};

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

  /** Runs `op`, retrying transient failures with bounded exponential back-off; any other thrown error becomes StoreUnavailable. */
  private withRetry<A>(what: string, op: () => Promise<E.Either<StoreError, A>>): TE.TaskEither<StoreError, A> {
    return async () => {
      for (let attempt = 1; ; attempt++) {
        if (this.closed) return E.left(storeUnavailable(this.endpoint, `${what}: the store is closed`));
        try {
          return await op();
        } catch (e) {
          if (!isTransient(e)) return E.left(this.unavailable(what, e));
          if (attempt >= this.retry.attempts) return E.left(this.unavailable(what, e, attempt));
          await sleep(delayAfter(this.retry, attempt));
        }
      }
    };
  }

  // ─── append ─────────────────────────────────────────────────────────────

  append(stream: string, events: ReadonlyArray<EventData>, expected: ExpectedRevision): TE.TaskEither<StoreError, AppendResult> {
    if (stream.length === 0) return TEleft({ _tag: 'InvalidAppend', stream, message: 'the stream name is empty' });
    if (events.length === 0) return TEleft({ _tag: 'InvalidAppend', stream, message: 'no events to append' });
    const proposed: EsdbEventData[] = [];
    for (const e of events) {
      if (!UUID.test(e.id)) return TEleft({ _tag: 'InvalidAppend', stream, message: `event id ${JSON.stringify(e.id)} is not a UUID` });
      const data = serializeJson(e.data);
      const metadata = serializeJson(e.metadata);
      if (data === undefined || metadata === undefined) return TEleft({ _tag: 'InvalidAppend', stream, message: `event ${e.type} is not JSON` });
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
    return this.withRetry(`append to ${stream}`, async () => {
      try {
        const r = await this.replyWithin(this.client.appendToStream(stream, proposed, { expectedRevision: toClientExpected(expected) }));
        if (!r.success) return E.left(versionConflict(stream, expected, await this.currentRevision(stream)));
        const position = r.position ?? (await this.positionOfLast(stream));
        return E.right({ nextExpectedRevision: r.nextExpectedRevision, position });
      } catch (e) {
        if (e instanceof WrongExpectedVersionError) return E.left(versionConflict(stream, expected, actualOf(e.actualVersion)));
        if (e instanceof StreamDeletedError) return E.left({ _tag: 'InvalidAppend', stream, message: 'the stream was deleted permanently (tombstoned)' });
        throw e;
      }
    });
  }

  deleteStream(stream: string): TE.TaskEither<StoreError, void> {
    return this.withRetry(`delete of ${stream}`, async () => {
      try {
        await this.replyWithin(this.client.deleteStream(stream, { expectedRevision: ANY }));
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
      timer = setTimeout(
        () => reject(new Error(`no reply within ${this.appendTimeoutMs} ms; the append may or may not have been written`)),
        this.appendTimeoutMs,
      );
    });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  private async lastEvent(stream: string): Promise<EsdbRecordedEvent | undefined> {
    try {
      for await (const r of this.client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) if (r.event) return r.event;
    } catch (e) {
      if (e instanceof StreamNotFoundError || e instanceof StreamDeletedError) return undefined;
      throw e;
    }
    return undefined;
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
    return this.withRetry(`read of ${stream}`, async () => {
      const out: RecordedEvent[] = [];
      try {
        const read = this.client.readStream(stream, {
          direction: backwards ? BACKWARDS : FORWARDS,
          fromRevision: from ?? (backwards ? END : ESDB_START),
          ...(max !== undefined && max > 0 ? { maxCount: max } : {}),
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
        if (e instanceof StreamNotFoundError || e instanceof StreamDeletedError) return E.right([]);
        throw e;
      }
      return E.right(out);
    });
  }

  readAll(options: ReadAllOptions = {}): TE.TaskEither<StoreError, ReadonlyArray<RecordedEvent>> {
    const limit = options.maxCount === undefined || options.maxCount < 0 ? Infinity : options.maxCount;
    if (limit === 0) return TEright([]);
    const visible = this.visibility(options.streamPrefixes);
    const after = options.after !== undefined && comparePositions(options.after, START) > 0 ? options.after : undefined;
    return this.withRetry('read of $all', async () => {
      const out: RecordedEvent[] = [];
      let cursor = after;
      for (;;) {
        let raw = 0;
        const read = this.client.readAll({ fromPosition: cursor ?? ESDB_START, direction: FORWARDS, maxCount: this.pageSize });
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
        if (err !== undefined && !isTransient(err)) {
          finish(this.unavailable('subscription to $all', err));
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
      await Promise.race([this.endBatchAppendStreams(), deadline]);
    } finally {
      clearTimeout(timer);
    }
    await this.client.dispose();
  }

  /**
   * Client 6.2.1 bug: BatchAppend keeps its pending appends in ONE module-wide map, and
   * when any client's BatchAppend stream errors — as `dispose()` makes it, by cancelling
   * it — every pending append of EVERY client in the process is rejected ("Cancelled on
   * client"), although the server still writes them; the late replies then throw inside
   * the client (an unhandled rejection) and wedge that client's BatchAppend stream, so
   * its later appends never resolve. Half-closing the stream first lets the server end
   * it cleanly, and `dispose()` then finds nothing of it to cancel.
   * (`disposableStreams` is TS-private in the pinned 6.2.1; only the duplex is ended.)
   */
  private endBatchAppendStreams(): Promise<void> {
    const streams = (this.client as unknown as { disposableStreams?: Set<unknown> }).disposableStreams;
    const duplexes = [...(streams ?? [])].filter(isDuplex);
    return Promise.all(
      duplexes.map(
        (d) =>
          new Promise<void>((resolve) => {
            finished(d, () => resolve());
            d.end();
          }),
      ),
    ).then(() => undefined);
  }
}

type DuplexLike = NodeJS.ReadableStream & NodeJS.WritableStream;
const isDuplex = (s: unknown): s is DuplexLike =>
  typeof s === 'object' &&
  s !== null &&
  typeof (s as { write?: unknown }).write === 'function' &&
  typeof (s as { end?: unknown }).end === 'function' &&
  typeof (s as { read?: unknown }).read === 'function';

const TEleft =
  <A>(e: StoreError): TE.TaskEither<StoreError, A> =>
  () =>
    Promise.resolve(E.left(e));

const TEright =
  <A>(a: A): TE.TaskEither<StoreError, A> =>
  () =>
    Promise.resolve(E.right(a));

export { esdbEndpoint } from './connection-string';
