/**
 * The event-store port: the one interface every store adapter implements
 * (SQLite in `src/infra/sqlite-store.ts`, EventStoreDB in `src/infra/esdb-store.ts`).
 *
 * Semantics are those of EventStoreDB, and both adapters must behave
 * identically at this port — `test/support/store-contract.ts` proves it:
 * - stream revisions are 0-based `bigint`s: the first event of a stream is revision 0;
 * - `ExpectedRevision` is `'any' | 'no_stream' | 'stream_exists' | bigint`
 *   (the bigint being the revision of the stream's last event);
 * - a conflict is always the tagged `VersionConflict` value, never a thrown error;
 * - reading a missing stream yields an empty array;
 * - global positions are `{ commit, prepare }` pairs, totally ordered by `commit`.
 */
import type { Observable } from 'rxjs';
import type * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import type { EventData, Position, RecordedEvent } from '../domain/recorded';

export type { EventData, Position, RecordedEvent } from '../domain/recorded';

// ─── Revisions and positions ──────────────────────────────────────────────

export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export const START: Position = { commit: -1n, prepare: -1n };

export const comparePositions = (a: Position, b: Position): number =>
  a.commit < b.commit ? -1 : a.commit > b.commit ? 1 : a.prepare < b.prepare ? -1 : a.prepare > b.prepare ? 1 : 0;

export const positionToString = (p: Position): string => `${p.commit}/${p.prepare}`;

export const positionFromString = (s: string): Position | undefined => {
  const m = /^(-?\d+)\/(-?\d+)$/.exec(s);
  return m && m[1] !== undefined && m[2] !== undefined ? { commit: BigInt(m[1]), prepare: BigInt(m[2]) } : undefined;
};

export const describeExpected = (e: ExpectedRevision): string => (typeof e === 'bigint' ? `revision ${e}` : e);

// ─── Events as the store sees them ────────────────────────────────────────
// EventData, RecordedEvent and Position are defined in src/domain/recorded.ts (re-exported above).

export interface AppendResult {
  /** The revision of the last event written: what to pass as `ExpectedRevision` next. */
  readonly nextExpectedRevision: bigint;
  readonly position: Position;
}

// ─── Errors ───────────────────────────────────────────────────────────────

/** The stream was not at the revision the writer expected. Retry on fresh state, or report. */
export interface VersionConflict {
  readonly _tag: 'VersionConflict';
  readonly stream: string;
  readonly expected: ExpectedRevision;
  /** The stream's current revision, or 'no_stream'. */
  readonly actual: bigint | 'no_stream';
}

/** The store could not be reached or refused to work (I/O, network, locked file). */
export interface StoreUnavailable {
  readonly _tag: 'StoreUnavailable';
  readonly endpoint: string;
  readonly message: string;
  /** What the store said, when it said more than "unavailable": damaged, full, read-only, or no ledger there (missing, or an empty file). */
  readonly cause?: 'damaged' | 'full' | 'read-only' | 'missing';
}

/** A stored record could not even be read as JSON: names where it is. */
export interface StoredRecordUnreadable {
  readonly _tag: 'StoredRecordUnreadable';
  readonly stream: string;
  readonly revision: bigint;
  readonly message: string;
  /** Its place in $all, when known: a reader that reports it (verify) can go on after it. */
  readonly position?: Position;
}

/** The append itself was invalid (empty stream name, no events, non-JSON data). */
export interface InvalidAppend {
  readonly _tag: 'InvalidAppend';
  readonly stream: string;
  readonly message: string;
}

export type StoreError = VersionConflict | StoreUnavailable | StoredRecordUnreadable | InvalidAppend;

export const versionConflict = (stream: string, expected: ExpectedRevision, actual: bigint | 'no_stream'): VersionConflict => ({
  _tag: 'VersionConflict',
  stream,
  expected,
  actual,
});

export const storeUnavailable = (endpoint: string, message: string, cause?: StoreUnavailable['cause']): StoreUnavailable => ({
  _tag: 'StoreUnavailable',
  endpoint,
  message,
  ...(cause ? { cause } : {}),
});

export const describeStoreError = (e: StoreError): string => {
  switch (e._tag) {
    case 'VersionConflict':
      return `version conflict on stream ${e.stream}: expected ${describeExpected(e.expected)}, found ${
        e.actual === 'no_stream' ? 'no stream' : `revision ${e.actual}`
      } (another command changed it first; run the command again)`;
    case 'StoreUnavailable':
      return `store ${e.endpoint} unavailable: ${e.message}`;
    case 'StoredRecordUnreadable':
      return `stored event ${e.stream}@${e.revision} is unreadable: ${e.message}`;
    case 'InvalidAppend':
      return `invalid append to ${e.stream}: ${e.message}`;
  }
};

// ─── Reading and subscribing ──────────────────────────────────────────────

export interface ReadStreamOptions {
  readonly direction?: 'forwards' | 'backwards';
  /** Inclusive. Defaults to the start (forwards) or the end (backwards). */
  readonly fromRevision?: bigint;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Defaults to the beginning. */
  readonly after?: Position;
  readonly maxCount?: number;
  /** Only streams whose names start with one of these prefixes. */
  readonly streamPrefixes?: ReadonlyArray<string>;
}

export type SubscriptionMessage =
  | { readonly kind: 'event'; readonly event: RecordedEvent }
  /** Everything written before the subscription started has been delivered. Emitted once. */
  | { readonly kind: 'caughtUp' };

export interface SubscribeOptions {
  /** Exclusive: deliver events strictly after this position. Defaults to the beginning. */
  readonly after?: Position;
  readonly streamPrefixes?: ReadonlyArray<string>;
}

export interface EventStore {
  /** A human-readable name of where the events live (file path, endpoint), for errors. */
  readonly endpoint: string;
  /** The ledger's identity, given at its creation (SQLite); instances remember it. Absent: the store has none. */
  readonly identity?: string;
  append(stream: string, events: ReadonlyArray<EventData>, expected: ExpectedRevision): TE.TaskEither<StoreError, AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): TE.TaskEither<StoreError, ReadonlyArray<RecordedEvent>>;
  /** One page of $all, forwards, in global order. Loop with `after` for more. */
  readAll(options?: ReadAllOptions): TE.TaskEither<StoreError, ReadonlyArray<RecordedEvent>>;
  /**
   * Catch-up then live: every event after `after`, in order, then `caughtUp`
   * once, then new events as they are written. Errors (outage, unreadable
   * record) end the Observable with a `StoreError`.
   */
  subscribeToAll(options?: SubscribeOptions): Observable<SubscriptionMessage>;
  /**
   * The store's own check of its storage — SQLite's quick_check: every page's structure, a damaged or overwritten
   * page; `deep`: integrity_check, every index against its table too. Problems found, none when sound. Absent: not available.
   */
  integrityCheck?(options?: { readonly deep?: boolean }): TE.TaskEither<StoreError, ReadonlyArray<string>>;
  /**
   * Pages of $all read ahead on another thread, each event's `text.digest` computed there (optional: SQLite):
   * what a long catch-up folds while the next pages are read and hashed. Same pages as `readAll` would give.
   */
  readAhead?(options: ReadAheadOptions): ReadAhead;
  /**
   * Deletes a stream whatever its revision (EventStoreDB's soft delete: it reads as empty from now on, may be written
   * again, and the server drops its events at its next scavenge). Optional: only what lives outside the ledger's own
   * streams is ever deleted — the EventStoreDB content store's ciphertexts (docs/adr/0015); ledger events never are.
   */
  deleteStream?(stream: string): TE.TaskEither<StoreError, void>;
  close(): Promise<void>;
}

export interface ReadAheadOptions {
  readonly after: Position;
  readonly pageSize: number;
  readonly streamPrefixes?: ReadonlyArray<string>;
}

export interface ReadAhead {
  /** The next page, in global order; one shorter than the page size is the last. */
  next(): Promise<E.Either<StoreError, ReadonlyArray<RecordedEvent>>>;
  /** Stops the reading thread (idempotent). */
  close(): Promise<void>;
}
