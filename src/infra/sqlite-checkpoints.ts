/**
 * Projection checkpoints in a local SQLite file (`<stateDir>/projections.db`),
 * whatever store the ledger itself lives in. State, position and the hash-chain
 * heads are written in one row (one transaction), so they can never disagree.
 */
import Database from './sqlite-db';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import * as E from 'fp-ts/Either';
import type { Checkpoint, CheckpointError, CheckpointStore, CheckpointTip, StreamHead } from '../ports/checkpoints';
import { errorMessage } from './error-message';
import { ensureDir, PRIVATE_DIR, PRIVATE_FILE, prepareSqliteFile } from './file-modes';

/**
 * The local state file: private to the instance's operator (0600 in a 0700 folder, whatever the
 * umask; its -wal and -shm follow the file, see file-modes.ts), WAL, durable.
 */
/** Opens (creating) the local state file with its schema: 0600 in a 0700 folder, WAL, durable. */
export const openLocalDb = (file: string, schema: string): E.Either<CheckpointError, { db: Database.Database; location: string }> => {
  const location = path.resolve(file);
  try {
    ensureDir(path.dirname(location), PRIVATE_DIR);
    prepareSqliteFile(location, PRIVATE_FILE, 'the local state file');
    const db = new Database(location, { timeout: 15_000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(schema);
    return E.right({ db, location });
  } catch (e) {
    return E.left({ _tag: 'CheckpointError', location, message: errorMessage(e) });
  }
};

/** Columns added after the first release: an older file gets them (NULL: no heads kept, the runner rebuilds). */
const ADDED_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['heads', 'TEXT'],
  ['tip', 'TEXT'],
  ['mac', 'TEXT'],
  ['state_z', 'BLOB'],
];

const addMissingColumns = (db: Database.Database): void => {
  const have = new Set((db.prepare('PRAGMA table_info(checkpoints)').all() as Array<{ name: string }>).map((c) => c.name));
  for (const [name, type] of ADDED_COLUMNS) {
    if (have.has(name)) continue;
    try {
      db.exec(`ALTER TABLE checkpoints ADD COLUMN ${name} ${type}`);
    } catch (e) {
      // another process added it first
      if (!/duplicate column/i.test(errorMessage(e))) throw e;
    }
  }
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isHead = (v: unknown): v is StreamHead =>
  isRecord(v) && typeof v['revision'] === 'string' && /^\d+$/.test(v['revision']) && typeof v['hash'] === 'string';

/** Heads as stored; anything malformed reads as `null` (no heads: the runner rebuilds). */
const parseHeads = (text: string | null): Checkpoint['heads'] => {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return isRecord(v) && Object.values(v).every(isHead) ? (v as Record<string, StreamHead>) : null;
  } catch {
    return null;
  }
};

const parseTip = (text: string | null): CheckpointTip | null => {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return isHead(v) && isRecord(v) && typeof v['stream'] === 'string' ? (v as unknown as CheckpointTip) : null;
  } catch {
    return null;
  }
};

/** What a checkpoint's MAC covers: every column that is read back, in order, NUL-separated (v1: the view's text itself). */
const macText = (key: string, version: number, commit: string, prepare: string, state: string, heads: string | null, tip: string | null): string =>
  ['keyledger-checkpoint/v1', key, String(version), commit, prepare, state, heads ?? '', tip ?? ''].join('\0');

/**
 * v2, for a deflated view: the SHA-256 of the deflated bytes stands for the view (they determine it), so a save
 * of a fleet's view does not build one more copy of tens of MB of text only to MAC it.
 */
const macTextZ = (key: string, version: number, commit: string, prepare: string, stateZ: Buffer, heads: string | null, tip: string | null): string =>
  ['keyledger-checkpoint/v2', key, String(version), commit, prepare, createHash('sha256').update(stateZ).digest('hex'), heads ?? '', tip ?? ''].join('\0');

/**
 * `JSON.stringify(value)` as UTF-8 bytes, built `depth` levels deep one member at a time: a fleet's view (tens of
 * MB) never exists as one string on the heap beside its bytes — that doubled a save's peak memory, and V8 kept it.
 */
export const jsonBytes = (value: unknown, depth = 2): Buffer => {
  const chunks: Buffer[] = [];
  let size = 0;
  const push = (text: string): void => {
    const b = Buffer.from(text, 'utf8');
    chunks.push(b);
    size += b.length;
  };
  const write = (v: unknown, d: number): void => {
    if (d === 0 || v === null || typeof v !== 'object' || Array.isArray(v) || typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      push(JSON.stringify(v) ?? 'null');
      return;
    }
    let first = true;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue; // as JSON.stringify leaves them out
      push(`${first ? '{' : ','}${JSON.stringify(k)}:`);
      first = false;
      write(x, d - 1);
    }
    push(first ? '{}' : '}');
  };
  write(value, depth);
  return Buffer.concat(chunks, size);
};

export interface CheckpointOptions {
  /**
   * The local-state MAC (HMAC-SHA256 under a key derived from the instance's machine secret): checkpoints are
   * saved with it, and one that does not verify (or has none) loads as absent, so the view is rebuilt from the
   * ledger. Without it (no machine secret here), checkpoints are saved and read unauthenticated.
   */
  readonly mac?: (text: string) => string;
}

export const openSqliteCheckpoints = (file: string, options: CheckpointOptions = {}): E.Either<CheckpointError, CheckpointStore> => {
  const opened = openLocalDb(
    file,
    `CREATE TABLE IF NOT EXISTS checkpoints (
      key TEXT PRIMARY KEY, version INTEGER NOT NULL, commit_pos TEXT NOT NULL, prepare_pos TEXT NOT NULL,
      state TEXT NOT NULL, saved_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
      heads TEXT, tip TEXT, mac TEXT, state_z BLOB
    ) WITHOUT ROWID`,
  );
  if (E.isLeft(opened)) return opened;
  const { db, location } = opened.right;
  const fail = (e: unknown): CheckpointError => ({ _tag: 'CheckpointError', location, message: errorMessage(e) });
  try {
    addMissingColumns(db);
  } catch (e) {
    db.close();
    return E.left(fail(e));
  }
  const get = db.prepare('SELECT version, commit_pos, prepare_pos, state, state_z, heads, tip, mac FROM checkpoints WHERE key = ?');
  // The view is stored deflated (`state_z`; `state` is then empty): a fleet's view is tens of MB of repetitive JSON,
  // and writing it whole at every save cost more than folding the events (and the memory to hold it twice).
  const put = db.prepare(
    `INSERT INTO checkpoints (key, version, commit_pos, prepare_pos, state, state_z, heads, tip, mac) VALUES (?, ?, ?, ?, '', ?, ?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET version = excluded.version, commit_pos = excluded.commit_pos,
       prepare_pos = excluded.prepare_pos, state = excluded.state, state_z = excluded.state_z, heads = excluded.heads, tip = excluded.tip,
       mac = excluded.mac, saved_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')`,
  );
  const { mac } = options;
  // Rows are kept per machine secret: instances that share a state folder (several configs in one folder) each keep
  // their own view, instead of each rebuilding over the other's checkpoint, which it cannot verify.
  const keyId = mac ? `|${mac('keyledger-checkpoint-key-id/v1').slice(0, 16)}` : '';
  return E.right({
    load: (name) =>
      E.tryCatch(() => {
        const key = `${name}${keyId}`;
        const row = get.get(key) as
          | {
              version: number;
              commit_pos: string;
              prepare_pos: string;
              state: string;
              state_z: Buffer | null;
              heads: string | null;
              tip: string | null;
              mac: string | null;
            }
          | undefined;
        if (!row) return undefined;
        // Written by someone without this instance's machine secret (or edited): not a view to answer from.
        if (mac && row.state_z !== null && row.mac !== mac(macTextZ(key, row.version, row.commit_pos, row.prepare_pos, row.state_z, row.heads, row.tip)))
          return undefined;
        const stateText = row.state_z === null ? row.state : inflateRawSync(row.state_z).toString('utf8');
        if (mac && row.state_z === null && row.mac !== mac(macText(key, row.version, row.commit_pos, row.prepare_pos, stateText, row.heads, row.tip)))
          return undefined;
        const cp: Checkpoint = {
          version: row.version,
          position: { commit: BigInt(row.commit_pos), prepare: BigInt(row.prepare_pos) },
          state: JSON.parse(stateText),
          heads: parseHeads(row.heads),
          tip: parseTip(row.tip),
        };
        return cp;
      }, fail),
    save: (name, cp) =>
      E.tryCatch(() => {
        const key = `${name}${keyId}`;
        const commit = cp.position.commit.toString();
        const prepare = cp.position.prepare.toString();
        const heads = cp.heads === null ? null : JSON.stringify(cp.heads);
        const tip = cp.tip === null ? null : JSON.stringify(cp.tip);
        const stateZ = deflateRawSync(jsonBytes(cp.state), { level: 1 });
        put.run(key, cp.version, commit, prepare, stateZ, heads, tip, mac ? mac(macTextZ(key, cp.version, commit, prepare, stateZ, heads, tip)) : null);
      }, fail),
    close: () => db.close(),
  });
};
