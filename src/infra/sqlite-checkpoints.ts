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
 * v3, for a deflated view (in pieces: `deflatePieces`): the SHA-256 of the deflated bytes stands for the view (they determine it), so a save
 * of a fleet's view does not build one more copy of tens of MB of text only to MAC it.
 */
const macTextZ = (key: string, version: number, commit: string, prepare: string, stateZ: Buffer, heads: string | null, tip: string | null): string =>
  ['keyledger-checkpoint/v3', key, String(version), commit, prepare, createHash('sha256').update(stateZ).digest('hex'), heads ?? '', tip ?? ''].join('\0');

/**
 * `JSON.stringify(value)`, written `depth` levels deep one member at a time, as UTF-8 pieces of about
 * `pieceBytes` each: a fleet's view (tens of MB) never exists whole, as one string or one buffer.
 */
export const jsonPieces = function* (value: unknown, depth = 2, pieceBytes = 1 << 20): Generator<Buffer> {
  let chunks: Buffer[] = [];
  let size = 0;
  const push = (text: string): Buffer | undefined => {
    const b = Buffer.from(text, 'utf8');
    chunks.push(b);
    size += b.length;
    if (size < pieceBytes) return undefined;
    const piece = Buffer.concat(chunks, size);
    chunks = [];
    size = 0;
    return piece;
  };
  const write = function* (v: unknown, d: number): Generator<Buffer> {
    if (d === 0 || v === null || typeof v !== 'object' || Array.isArray(v) || typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      const piece = push(JSON.stringify(v) ?? 'null');
      if (piece) yield piece;
      return;
    }
    let first = true;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue; // as JSON.stringify leaves them out
      const piece = push(`${first ? '{' : ','}${JSON.stringify(k)}:`);
      if (piece) yield piece;
      first = false;
      yield* write(x, d - 1);
    }
    const piece = push(first ? '{}' : '}');
    if (piece) yield piece;
  };
  yield* write(value, depth);
  if (size > 0) yield Buffer.concat(chunks, size);
};

/**
 * The view as stored: its JSON in pieces, each deflated on its own and framed by its length (4 bytes, big
 * endian), so a save holds one piece of text at a time beside the deflated whole (a few MB for a fleet).
 */
const deflatePieces = (value: unknown): Buffer => {
  const out: Buffer[] = [];
  for (const piece of jsonPieces(value)) {
    const z = deflateRawSync(piece, { level: 1 });
    const frame = Buffer.alloc(4);
    frame.writeUInt32BE(z.length);
    out.push(frame, z);
  }
  return Buffer.concat(out);
};

/** The JSON text of a stored view (throws on bytes that are not such frames: the caller rebuilds). */
const inflatePieces = (stored: Buffer): string => {
  const parts: string[] = [];
  for (let at = 0; at < stored.length; ) {
    const length = stored.readUInt32BE(at);
    parts.push(inflateRawSync(stored.subarray(at + 4, at + 4 + length)).toString('utf8'));
    at += 4 + length;
  }
  return parts.join('');
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
        let stateText: string;
        let state: unknown;
        try {
          stateText = row.state_z === null ? row.state : inflatePieces(row.state_z);
          state = JSON.parse(stateText);
        } catch {
          return undefined; // stored in an older format, or damaged: the view is rebuilt from the ledger
        }
        if (mac && row.state_z === null && row.mac !== mac(macText(key, row.version, row.commit_pos, row.prepare_pos, stateText, row.heads, row.tip)))
          return undefined;
        const cp: Checkpoint = {
          version: row.version,
          position: { commit: BigInt(row.commit_pos), prepare: BigInt(row.prepare_pos) },
          state,
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
        const stateZ = deflatePieces(cp.state);
        put.run(key, cp.version, commit, prepare, stateZ, heads, tip, mac ? mac(macTextZ(key, cp.version, commit, prepare, stateZ, heads, tip)) : null);
      }, fail),
    close: () => db.close(),
  });
};
