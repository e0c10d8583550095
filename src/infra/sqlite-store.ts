/**
 * The embedded default store: one SQLite file (better-sqlite3 12.x).
 *
 * - WAL journal with `synchronous = FULL`: a commit that returned is on disk.
 * - Several processes may share one file: every append is a `BEGIN IMMEDIATE`
 *   transaction (one writer at a time, others wait up to `busyTimeoutMs`), and
 *   the expected-revision check happens inside it, so racing writers get
 *   exactly one winner and a `VersionConflict` for the rest.
 * - Opening is safe when several processes open the same new (or empty) file
 *   at once: the busy timeout is set when the connection is opened, before
 *   any statement; the switch to WAL and the schema creation are retried on
 *   SQLITE_BUSY within that same budget (see `retryWhileBusy`), and only then
 *   reported as `StoreUnavailable`.
 * - Global position = the row's autoincrement id (commit = prepare).
 * - Live subscriptions poll the file (other processes write to it too) and are
 *   woken at once by appends made through this same store object.
 * - File modes, whatever the umask (`access`, see file-modes.ts): the ledger is
 *   created 0600 (0660 in group mode) before SQLite opens it, and an existing
 *   ledger, -wal or -shm this process owns is brought to that mode on open.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database, { plainName } from './sqlite-db';
import * as E from 'fp-ts/Either';
import { canonicalJson } from '../domain/envelope';
import type * as TE from 'fp-ts/TaskEither';
import type { Observable } from 'rxjs';
import { rxjs } from './lazy-rxjs';
import {
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type Position,
  type ReadAhead,
  type ReadAheadOptions,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StoreError,
  type SubscribeOptions,
  type SubscriptionMessage,
  START,
  storeUnavailable,
  type StoreUnavailable,
  versionConflict,
} from '../ports/event-store';
import { errorMessage } from './error-message';
import { integrityCheckOnThread, startReadAhead } from './sqlite-read-ahead';
import { eachRow } from './sqlite-read-ahead-page';
import { fileProblems } from './sqlite-read-ahead-worker';
import { ensureDir, type LedgerAccess, ledgerModes, prepareSqliteFile } from './file-modes';
import { isLedgerStream, leafHashOfRow, type NewLeaf, TREE_SCHEMA, TreeTables } from './sqlite-tree';
import { ledgerTreeIndex } from './sqlite-tree-index';
import type { TreeIndex } from '../ports/tree';

export interface SqliteStoreOptions {
  /** How long a writer waits for another process's transaction. */
  readonly busyTimeoutMs?: number;
  /** How often a live subscription looks for events written by other processes. */
  readonly pollIntervalMs?: number;
  /** Page size for catch-up reads. */
  readonly pageSize?: number;
  /**
   * Who may open the file: `owner` (default) — ledger, -wal and -shm 0600, a
   * folder keyledger creates 0700; `group` — 0660 and 2770, for instances
   * running as different OS users in one group. Never wider, whatever the umask.
   */
  readonly access?: LedgerAccess;
  /** At most this many database pages (SQLite `max_page_count`): a full disk, made to order (tests, quotas). */
  readonly maxPageCount?: number;
  /**
   * Whether appends extend the Merkle tree index in their own transaction (default true; docs/adr/0018). Off, the
   * index falls behind and `treeIndex().sync()` catches it up from the events (the bench measures both).
   */
  readonly treeIndex?: boolean;
  /**
   * Group commit (docs/adr/0019): appends made by this process in the same turn of the event loop (concurrent
   * HTTP requests of `keyledger serve`) are written in one `BEGIN IMMEDIATE` transaction — one fsync for all of them —
   * each in its own savepoint, checking its own expected revision and getting its own result (a conflict or a
   * failure of one leaves the others' events in). A result is handed out only once the shared transaction committed.
   * Off (default): one transaction per append.
   */
  readonly groupCommit?: boolean;
}

/** At most this many appends share one transaction. */
const MAX_GROUP = 256;

interface Serialized {
  readonly id: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
}

interface Pending {
  readonly stream: string;
  readonly events: ReadonlyArray<Serialized>;
  readonly expected: ExpectedRevision;
  readonly done: (r: E.Either<StoreError, AppendResult>) => void;
}

interface EventRow {
  global_position: number;
  stream_name: string;
  stream_revision: number;
  event_id: string;
  event_type: string;
  data: string;
  metadata: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  global_position INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_name     TEXT    NOT NULL,
  stream_revision INTEGER NOT NULL,
  event_id        TEXT    NOT NULL,
  event_type      TEXT    NOT NULL,
  data            TEXT    NOT NULL,
  metadata        TEXT    NOT NULL,
  UNIQUE (stream_name, stream_revision)
);
CREATE TABLE IF NOT EXISTS streams (
  stream_name TEXT PRIMARY KEY,
  revision    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_identity (
  id TEXT PRIMARY KEY
) WITHOUT ROWID;
${TREE_SCHEMA}`;

const DEFAULT_BUSY_TIMEOUT_MS = 15_000;

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, …). */
const isBusy = (e: unknown): boolean => e instanceof Database.SqliteError && (e.code === 'SQLITE_BUSY' || e.code.startsWith('SQLITE_BUSY_'));

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this thread for `ms` (the constructor is synchronous, like better-sqlite3). */
const sleepSync = (ms: number): void => {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
};

/**
 * Runs `f`, and again after a short pause for as long as it fails with
 * SQLITE_BUSY and `deadline` (a `performance.now()` instant) is not reached.
 * Any other error, or SQLITE_BUSY once the budget is spent, is thrown as is.
 *
 * Needed because SQLite does not call the busy handler everywhere: switching a
 * file to WAL reads page 1 under a shared lock and then upgrades to a write
 * lock (sqlite3BtreeSetVersion); when another connection already holds the
 * write lock, the upgrade fails with SQLITE_BUSY at once (waiting could
 * deadlock). Failing the statement releases the shared lock, so after a pause
 * the next attempt either finds the file already in WAL or takes the lock.
 */
const retryWhileBusy = <A>(deadline: number, f: () => A): A => {
  let pause = 1;
  for (;;) {
    try {
      return f();
    } catch (e) {
      const left = deadline - performance.now();
      if (!isBusy(e) || left <= 0) throw e;
      sleepSync(Math.min(pause, Math.ceil(left)));
      pause = Math.min(pause * 2, 32);
    }
  }
};

/** What an SQLite error says about the file: damaged, full, read-only (undefined: something else). */
const causeOf = (file: string, e: unknown): StoreUnavailable['cause'] => {
  const code = (e as { code?: unknown }).code;
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'))) return 'damaged';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return 'full';
  if (typeof code === 'string' && (code.startsWith('SQLITE_READONLY') || code === 'EROFS')) return 'read-only';
  // A disk that fills up as SQLite writes the -wal or -shm shows as an I/O error (SQLITE_IOERR_WRITE, …_SHMSIZE).
  if (typeof code === 'string' && code.startsWith('SQLITE_IOERR') && diskFull(file)) return 'full';
  return undefined;
};

/** Whether the file system holding `file` has (next to) no space left for this user. */
const diskFull = (file: string): boolean => {
  try {
    const fsStats = fs.statfsSync(path.dirname(path.resolve(file)));
    return fsStats.bavail * fsStats.bsize < 64 * 1024;
  } catch {
    return false;
  }
};
const failure = (file: string, e: unknown): StoreUnavailable => storeUnavailable(`sqlite:${file}`, errorMessage(e), causeOf(file, e));

/** Opens (creating if needed) the ledger file. */
export const openSqliteStore = (file: string, options: SqliteStoreOptions = {}): E.Either<StoreError, EventStore> =>
  E.tryCatch(
    () => new SqliteEventStore(file, options),
    (e) => failure(file, e),
  );

/** Opens the ledger for reading and writing, creating the file and its schema when new. */
const openWritable = (file: string, options: SqliteStoreOptions, busyTimeoutMs: number): Database.Database => {
  if (file !== ':memory:') {
    // The file exists with its mode before SQLite opens it; -wal and -shm follow it (see prepareSqliteFile).
    const modes = ledgerModes(options.access ?? 'owner');
    ensureDir(path.dirname(path.resolve(file)), modes.dir);
    prepareSqliteFile(file, modes.file, 'the ledger');
  }
  // better-sqlite3 sets the busy timeout (sqlite3_busy_timeout) as it opens
  // the connection, before any statement below runs.
  const db = new Database(plainName(file), { timeout: busyTimeoutMs });
  // One budget for the whole opening sequence, not one per statement.
  const deadline = performance.now() + busyTimeoutMs;
  try {
    // Fails with SQLITE_BUSY without waiting when another process is switching
    // the same new file to WAL at the same moment: retry within the budget.
    retryWhileBusy(deadline, () => db.pragma('journal_mode = WAL'));
    db.pragma('synchronous = FULL');
    if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxPageCount))}`);
    // BEGIN IMMEDIATE waits (busy handler) for other writers; a rolled-back
    // attempt that still failed with SQLITE_BUSY is retried within the budget.
    // The ledger's identity, given once at creation (or on the first open of a ledger from before): instances
    // remember it, so a ledger replaced or re-created behind their back is not taken for theirs.
    retryWhileBusy(deadline, () =>
      db
        .transaction(() => {
          db.exec(SCHEMA);
          db.prepare('INSERT INTO ledger_identity (id) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM ledger_identity)').run(randomUUID());
        })
        .immediate(),
    );
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
};

const WRITE_BLOCKED: Readonly<Record<string, string>> = {
  EROFS: 'it is on read-only media',
  EPERM: 'the file or its folder is immutable',
  EACCES: 'this user may not write the file or its folder',
};

/** Why this process cannot write an existing ledger file (undefined: it can, or there is no file). */
const writeBlocked = (file: string): string | undefined => {
  if (!fs.existsSync(file)) return undefined;
  for (const p of [file, path.dirname(path.resolve(file))]) {
    try {
      fs.accessSync(p, fs.constants.W_OK);
    } catch (e) {
      const why = WRITE_BLOCKED[(e as NodeJS.ErrnoException).code ?? ''];
      if (why !== undefined) return why;
    }
  }
  return undefined;
};

const fileSize = (file: string): number => {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
};

const hasTable = (db: Database.Database, name: string): boolean =>
  db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;

/**
 * Opens a ledger this process cannot write, read-only. SQLite needs the -shm beside a WAL-mode file (it
 * cannot create one on read-only media): without it, a ledger whose -wal is empty or gone holds everything
 * in the file itself and is opened immutable; one with a non-empty -wal cannot be read safely and is refused.
 */
const openReadOnly = (file: string, busyTimeoutMs: number): { db: Database.Database; name: string } => {
  let db: Database.Database | undefined;
  try {
    db = new Database(plainName(file), { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return { db, name: plainName(file) };
  } catch (e) {
    db?.close();
    if (fileSize(`${file}-wal`) > 0)
      throw Object.assign(new Error(`cannot be read here: its -wal holds writes not yet in the file, and ${file}-shm cannot be created (${errorMessage(e)})`), {
        code: 'SQLITE_READONLY',
      });
  }
  const name = `${pathToFileURL(path.resolve(file)).href}?immutable=1`;
  const immutable = new Database(name, { readonly: true, fileMustExist: true });
  try {
    immutable.prepare('SELECT count(*) FROM sqlite_master').get();
    return { db: immutable, name };
  } catch (e) {
    immutable.close();
    throw e;
  }
};

/** One stored row as a RecordedEvent: its data and metadata parsed (a row that is not JSON: StoredRecordUnreadable). */
const recordedOf = (
  globalPosition: number,
  stream: string,
  revision: number,
  id: string,
  type: string,
  data: string,
  metadata: string,
  /** The digest of the text as hashed, when the reading thread computed it. */
  textDigest?: string | null,
  /** Its Merkle tree leaf hash (hex), when the reading thread computed it. */
  leafDigest?: string,
): E.Either<StoreError, RecordedEvent> => {
  const at = BigInt(globalPosition);
  const position = { commit: at, prepare: at };
  try {
    return E.right({
      id,
      streamName: stream,
      revision: BigInt(revision),
      position,
      type,
      data: JSON.parse(data),
      metadata: JSON.parse(metadata),
      text: { data, metadata },
      textDigest,
      ...(leafDigest !== undefined ? { leafDigest } : {}),
    });
  } catch (e) {
    return E.left({ _tag: 'StoredRecordUnreadable', stream, revision: BigInt(revision), message: errorMessage(e), position });
  }
};

export class SqliteEventStore implements EventStore {
  readonly endpoint: string;
  private readonly db: Database.Database;
  /** Woken by this store's own appends: live subscriptions read at once instead of at the next poll. */
  private readonly appended = new Set<() => void>();
  private readonly pollIntervalMs: number;
  private readonly pageSize: number;
  private closed = false;
  /** This ledger's identity (ledger_identity.id). */
  readonly identity: string;
  readonly readAhead?: (options: ReadAheadOptions) => ReadAhead;
  /** The name another thread opens the file by (a path, or a `file:` URI on read-only media); none in memory. */
  private readonly readName?: string;
  /** Why this process can only read the ledger (opened read-only); undefined: it can write it. */
  readonly readOnly: string | undefined;
  private readonly maintainTree: boolean = false;
  private readonly groupCommit: boolean;
  private readonly pending: Pending[] = [];
  private flushScheduled = false;
  private readonly stmt: {
    revisionOf: Database.Statement;
    insert: Database.Statement;
    upsertStream: Database.Statement;
    lastPosition: Database.Statement;
  };
  /** The Merkle tree's tables, extended by every append while the index is current (undefined: off, or a read-only ledger without them). */
  private readonly tree: TreeTables | undefined;

  constructor(
    private readonly file: string,
    options: SqliteStoreOptions = {},
  ) {
    this.endpoint = `sqlite:${file}`;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.pageSize = options.pageSize ?? 500;
    this.groupCommit = options.groupCommit === true;
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    let db: Database.Database;
    let readName = plainName(file);
    try {
      db = openWritable(file, options, busyTimeoutMs);
    } catch (e) {
      // A ledger this process may read but not write (read-only media, an immutable file, no permission):
      // opened read-only, so that status, list and verify still answer; every append says why it cannot.
      const blocked = file === ':memory:' ? undefined : writeBlocked(file);
      if (blocked === undefined) throw e;
      const opened = openReadOnly(file, busyTimeoutMs);
      db = opened.db;
      readName = opened.name;
      this.readOnly = blocked;
    }
    this.db = db;
    // Another thread opens the file by name: not an in-memory database.
    if (file !== ':memory:') {
      this.readName = readName;
      this.readAhead = (options) => this.readAheadOf(readName, options);
    }
    try {
      this.identity =
        this.readOnly !== undefined && !hasTable(db, 'ledger_identity')
          ? ''
          : ((db.prepare('SELECT id FROM ledger_identity').pluck().get() as string | undefined) ?? '');
      this.stmt = {
        revisionOf: db.prepare('SELECT revision FROM streams WHERE stream_name = ?'),
        insert: db.prepare('INSERT INTO events (stream_name, stream_revision, event_id, event_type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)'),
        upsertStream: db.prepare(
          'INSERT INTO streams (stream_name, revision) VALUES (?, ?) ON CONFLICT(stream_name) DO UPDATE SET revision = excluded.revision',
        ),
        lastPosition: db.prepare('SELECT max(global_position) FROM events').pluck().safeIntegers(true),
      };
      this.tree = hasTable(db, 'tlog_state') ? new TreeTables(db) : undefined;
      this.maintainTree = options.treeIndex !== false && this.readOnly === undefined;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  // ─── append ─────────────────────────────────────────────────────────────

  append(stream: string, events: ReadonlyArray<EventData>, expected: ExpectedRevision): TE.TaskEither<StoreError, AppendResult> {
    if (!this.groupCommit) return () => Promise.resolve(this.appendSync(stream, events, expected));
    return () =>
      new Promise((done) => {
        const serialized = this.serialize(stream, events);
        if (E.isLeft(serialized)) return done(serialized);
        this.pending.push({ stream, events: serialized.right, expected, done });
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => this.flush());
        }
      });
  }

  /** The appends issued since the last flush, in one transaction (each in a savepoint of its own), at most MAX_GROUP at a time. */
  private flush(): void {
    this.flushScheduled = false;
    while (this.pending.length > 0) {
      const group = this.pending.splice(0, MAX_GROUP);
      if (this.closed) {
        for (const p of group) p.done(E.left(storeUnavailable(this.endpoint, 'the store was closed', undefined)));
        continue;
      }
      const results: Array<E.Either<StoreError, AppendResult>> = [];
      const tx = this.db.transaction(() => {
        for (const p of group) {
          try {
            // A nested better-sqlite3 transaction is a savepoint: an error inside rolls back this append only.
            results.push(this.db.transaction(() => this.writeOne(p.stream, p.events, p.expected))());
          } catch (e) {
            results.push(E.left(failure(this.file, e)));
          }
        }
      });
      try {
        tx.immediate();
      } catch (e) {
        // The shared commit failed: nothing of the group is in, whatever each member's own result was.
        const lost = failure(this.file, e);
        for (const p of group) p.done(E.left(lost));
        continue;
      }
      if (results.some(E.isRight)) for (const wake of this.appended) wake();
      this.groupsCommitted++;
      for (const [i, p] of group.entries()) p.done(results[i]!);
    }
  }

  /** Transactions that committed a group (group commit only): with the appends made, what the bench reads. */
  groupsCommitted = 0;

  private serialize(stream: string, events: ReadonlyArray<EventData>): E.Either<StoreError, ReadonlyArray<Serialized>> {
    if (stream.length === 0) return E.left({ _tag: 'InvalidAppend', stream, message: 'the stream name is empty' });
    if (events.length === 0) return E.left({ _tag: 'InvalidAppend', stream, message: 'no events to append' });
    if (this.readOnly !== undefined) return E.left(storeUnavailable(this.endpoint, this.readOnly, 'read-only'));
    try {
      // Canonical JSON (ADR 0002's), so a reader can check the hash over the stored text without re-serializing it.
      return E.right(events.map((e) => ({ id: e.id, type: e.type, data: canonicalJson(e.data), metadata: canonicalJson(e.metadata) })));
    } catch (e) {
      return E.left({ _tag: 'InvalidAppend', stream, message: `event is not JSON: ${errorMessage(e)}` });
    }
  }

  private appendSync(stream: string, events: ReadonlyArray<EventData>, expected: ExpectedRevision): E.Either<StoreError, AppendResult> {
    const serialized = this.serialize(stream, events);
    if (E.isLeft(serialized)) return serialized;
    const tx = this.db.transaction(() => this.writeOne(stream, serialized.right, expected));
    try {
      const result = tx.immediate();
      if (E.isRight(result)) for (const wake of this.appended) wake();
      return result;
    } catch (e) {
      return E.left(failure(this.file, e));
    }
  }

  /** One append, inside a transaction: the expected-revision check, the rows, the tree's leaves, the stream's head. */
  private writeOne(stream: string, serialized: ReadonlyArray<Serialized>, expected: ExpectedRevision): E.Either<StoreError, AppendResult> {
    const row = this.stmt.revisionOf.get(stream) as { revision: number } | undefined;
    const actual: bigint | 'no_stream' = row === undefined ? 'no_stream' : BigInt(row.revision);
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && actual === 'no_stream') ||
      (expected === 'stream_exists' && actual !== 'no_stream') ||
      (typeof expected === 'bigint' && actual === expected);
    if (!ok) return E.left(versionConflict(stream, expected, actual));
    let revision = actual === 'no_stream' ? -1n : actual;
    let last = 0n;
    const before = this.tree && this.maintainTree ? this.tree.state() : undefined;
    // The tree is extended here only when it has seen every event so far; else `treeIndex().sync()` catches it up.
    const extend = before !== undefined && before.covered.commit === ((this.stmt.lastPosition.get() as bigint | null) ?? -1n);
    const leaves: NewLeaf[] = [];
    for (const e of serialized) {
      revision += 1n;
      last = BigInt(this.stmt.insert.run(stream, revision, e.id, e.type, e.data, e.metadata).lastInsertRowid);
      if (extend && isLedgerStream(stream))
        leaves.push({ hash: leafHashOfRow(stream, revision, e.type, e.data, e.metadata), commit: last, prepare: last, stream, revision, eventId: e.id });
    }
    if (extend) this.tree!.append(before, leaves, { commit: last, prepare: last });
    this.stmt.upsertStream.run(stream, revision);
    return E.right({ nextExpectedRevision: revision, position: { commit: last, prepare: last } });
  }

  /** The ledger's Merkle tree index, in this file (docs/adr/0018-verifiable-ledger.md). */
  treeIndex(): TreeIndex {
    return ledgerTreeIndex(this.db, this.endpoint, this.identity, this.tree, this.readOnly);
  }

  // ─── reads ──────────────────────────────────────────────────────────────

  readStream(stream: string, options: ReadStreamOptions = {}): TE.TaskEither<StoreError, ReadonlyArray<RecordedEvent>> {
    return () =>
      Promise.resolve(
        this.guard(() => {
          const backwards = options.direction === 'backwards';
          const limit = options.maxCount ?? -1;
          const rows = (
            backwards
              ? this.db
                  .prepare('SELECT * FROM events WHERE stream_name = ? AND stream_revision <= ? ORDER BY stream_revision DESC LIMIT ?')
                  .all(stream, options.fromRevision ?? Number.MAX_SAFE_INTEGER, limit)
              : this.db
                  .prepare('SELECT * FROM events WHERE stream_name = ? AND stream_revision >= ? ORDER BY stream_revision ASC LIMIT ?')
                  .all(stream, options.fromRevision ?? 0, limit)
          ) as EventRow[];
          return this.toRecorded(rows);
        }),
      );
  }

  readAll(options: ReadAllOptions = {}): TE.TaskEither<StoreError, ReadonlyArray<RecordedEvent>> {
    return () => Promise.resolve(this.guard(() => this.toRecorded(this.readAllRows(options.after ?? START, options.maxCount ?? -1, options.streamPrefixes))));
  }

  private readAllRows(after: Position, limit: number, prefixes: ReadonlyArray<string> | undefined): EventRow[] {
    const params: unknown[] = [after.commit];
    let filter = '';
    if (prefixes && prefixes.length > 0) {
      filter = ` AND (${prefixes.map(() => 'substr(stream_name, 1, ?) = ?').join(' OR ')})`;
      for (const p of prefixes) params.push(p.length, p);
    }
    params.push(limit);
    return this.db.prepare(`SELECT * FROM events WHERE global_position > ?${filter} ORDER BY global_position ASC LIMIT ?`).all(...params) as EventRow[];
  }

  private guard<A>(f: () => E.Either<StoreError, A>): E.Either<StoreError, A> {
    try {
      return f();
    } catch (e) {
      return E.left(failure(this.file, e));
    }
  }

  integrityCheck(options: { readonly deep?: boolean } = {}): TE.TaskEither<StoreError, ReadonlyArray<string>> {
    const deep = options.deep === true;
    // On its own thread when the file can be opened by name: a large ledger's check runs beside the caller's work.
    if (this.readName !== undefined)
      return () =>
        integrityCheckOnThread({ kind: 'keyledger-integrity-check', name: this.readName!, deep }, (e) =>
          failure(this.file, Object.assign(new Error(e.message), { code: e.code })),
        );
    return () => Promise.resolve(this.guard(() => E.right(fileProblems(this.db, deep))));
  }

  private toRecorded(rows: ReadonlyArray<EventRow>): E.Either<StoreError, ReadonlyArray<RecordedEvent>> {
    const out: RecordedEvent[] = [];
    for (const r of rows) {
      const one = recordedOf(r.global_position, r.stream_name, r.stream_revision, r.event_id, r.event_type, r.data, r.metadata);
      if (E.isLeft(one)) return one;
      out.push(one.right);
    }
    return E.right(out);
  }

  private readAheadOf(readName: string, options: ReadAheadOptions): ReadAhead {
    // Each row with the digest of its text, computed on the reading thread.
    const toRecorded = (page: { heads: string; texts: string }): E.Either<StoreError, ReadonlyArray<RecordedEvent>> => {
      const out: RecordedEvent[] = [];
      let unreadable: StoreError | undefined;
      eachRow(page, (position, stream, revision, id, type, data, metadata, digest, leaf) => {
        const one = recordedOf(position, stream, revision, id, type, data, metadata, digest, leaf);
        if (E.isLeft(one)) unreadable = one.left;
        else out.push(one.right);
        return unreadable === undefined;
      });
      return unreadable === undefined ? E.right(out) : E.left(unreadable);
    };
    const job = {
      kind: 'keyledger-read-ahead' as const,
      name: readName,
      after: options.after.commit.toString(),
      pageSize: options.pageSize,
      prefixes: options.streamPrefixes ?? [],
      ahead: 4,
    };
    return startReadAhead(job, toRecorded, (e) => failure(this.file, Object.assign(new Error(e.message), { code: e.code })));
  }

  // ─── subscriptions ──────────────────────────────────────────────────────

  subscribeToAll(options: SubscribeOptions = {}): Observable<SubscriptionMessage> {
    return new (rxjs().Observable)<SubscriptionMessage>((subscriber) => {
      let position = options.after ?? START;
      let caughtUp = false;
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      let pending = false;

      const pump = (): void => {
        if (stopped || this.closed) return;
        timer = undefined;
        for (;;) {
          const page = this.guard(() => this.toRecorded(this.readAllRows(position, this.pageSize, options.streamPrefixes)));
          if (E.isLeft(page)) {
            stopped = true;
            subscriber.error(page.left);
            return;
          }
          for (const event of page.right) {
            if (stopped) return;
            position = event.position;
            subscriber.next({ kind: 'event', event });
          }
          if (page.right.length < this.pageSize) break;
        }
        if (!caughtUp && !stopped) {
          caughtUp = true;
          subscriber.next({ kind: 'caughtUp' });
        }
        schedule(this.pollIntervalMs);
      };
      const schedule = (ms: number): void => {
        if (stopped || this.closed) return;
        if (timer !== undefined) {
          if (ms > 0) return;
          clearTimeout(timer);
        }
        timer = setTimeout(pump, ms);
      };
      const wake = (): void => {
        if (!pending) {
          pending = true;
          setImmediate(() => {
            pending = false;
            if (caughtUp) schedule(0);
          });
        }
      };
      this.appended.add(wake);
      schedule(0);
      return () => {
        stopped = true;
        this.appended.delete(wake);
        if (timer !== undefined) clearTimeout(timer);
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.appended.clear();
    this.db.close();
  }
}
