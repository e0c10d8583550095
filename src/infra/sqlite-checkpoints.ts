/**
 * Projection checkpoints in a local SQLite file (`<stateDir>/projections.db`),
 * whatever store the ledger itself lives in. State and position are written in
 * one transaction, so they can never disagree.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import type { Checkpoint, CheckpointError, CheckpointStore } from '../ports/checkpoints';
import type { Snapshot, SnapshotStore } from '../ports/snapshots';

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The local state file: private to the instance's operator (0600 in a 0700 folder), WAL, durable. */
const openLocalDb = (file: string, schema: string): E.Either<CheckpointError, { db: Database.Database; location: string }> => {
  const location = path.resolve(file);
  try {
    fs.mkdirSync(path.dirname(location), { recursive: true, mode: 0o700 });
    const db = new Database(location, { timeout: 15_000 });
    fs.chmodSync(location, 0o600);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(schema);
    return E.right({ db, location });
  } catch (e) {
    return E.left({ _tag: 'CheckpointError', location, message: message(e) });
  }
};

export const openSqliteCheckpoints = (file: string): E.Either<CheckpointError, CheckpointStore> => {
  const opened = openLocalDb(
    file,
    `CREATE TABLE IF NOT EXISTS checkpoints (
      key TEXT PRIMARY KEY, version INTEGER NOT NULL, commit_pos TEXT NOT NULL, prepare_pos TEXT NOT NULL,
      state TEXT NOT NULL, saved_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
    ) WITHOUT ROWID`,
  );
  if (E.isLeft(opened)) return opened;
  const { db, location } = opened.right;
  const fail = (e: unknown): CheckpointError => ({ _tag: 'CheckpointError', location, message: message(e) });
  const get = db.prepare('SELECT version, commit_pos, prepare_pos, state FROM checkpoints WHERE key = ?');
  const put = db.prepare(
    `INSERT INTO checkpoints (key, version, commit_pos, prepare_pos, state) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET version = excluded.version, commit_pos = excluded.commit_pos,
       prepare_pos = excluded.prepare_pos, state = excluded.state, saved_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')`,
  );
  return E.right({
    load: (key) =>
      E.tryCatch(() => {
        const row = get.get(key) as { version: number; commit_pos: string; prepare_pos: string; state: string } | undefined;
        if (!row) return undefined;
        const cp: Checkpoint = { version: row.version, position: { commit: BigInt(row.commit_pos), prepare: BigInt(row.prepare_pos) }, state: JSON.parse(row.state) };
        return cp;
      }, fail),
    save: (key, cp) =>
      E.tryCatch(() => {
        put.run(key, cp.version, cp.position.commit.toString(), cp.position.prepare.toString(), JSON.stringify(cp.state));
      }, fail),
    close: () => db.close(),
  });
};

/**
 * Aggregate snapshots in the same local file (table `snapshots`). A cache:
 * unreadable rows are misses, failed writes are ignored.
 */
export const openSqliteSnapshots = (file: string): E.Either<CheckpointError, SnapshotStore & { close(): void }> => {
  const opened = openLocalDb(
    file,
    `CREATE TABLE IF NOT EXISTS snapshots (
      key TEXT PRIMARY KEY, version INTEGER NOT NULL, revision TEXT NOT NULL, hash TEXT NOT NULL, state TEXT NOT NULL
    ) WITHOUT ROWID`,
  );
  if (E.isLeft(opened)) return opened;
  const { db } = opened.right;
  const get = db.prepare('SELECT version, revision, hash, state FROM snapshots WHERE key = ?');
  const put = db.prepare(
    `INSERT INTO snapshots (key, version, revision, hash, state) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET version = excluded.version, revision = excluded.revision, hash = excluded.hash, state = excluded.state`,
  );
  return E.right({
    load: (key) => {
      try {
        const row = get.get(key) as { version: number; revision: string; hash: string; state: string } | undefined;
        if (!row) return undefined;
        const snapshot: Snapshot = { version: row.version, revision: BigInt(row.revision), hash: row.hash, state: JSON.parse(row.state) };
        return snapshot;
      } catch {
        return undefined;
      }
    },
    save: (key, s) => {
      try {
        put.run(key, s.version, s.revision.toString(), s.hash, JSON.stringify(s.state));
      } catch {
        // a cache: the next command reads the stream instead
      }
    },
    close: () => db.close(),
  });
};
