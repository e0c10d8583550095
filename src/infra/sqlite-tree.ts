/**
 * The Merkle tree index in SQLite tables (docs/adr/0018-verifiable-ledger.md), shared by the ledger file (SQLite
 * store: the tables live beside the events and every append extends them in its own transaction) and by the local
 * index of an EventStoreDB ledger (a file under the instance's state folder, built from the global order).
 *
 *   tlog_hashes (id = storedHashIndex(level, n), hash)       every complete subtree's hash, ~2 per leaf
 *   tlog_leaves (commit_pos, prepare_pos → leaf)             which leaf the event at a global position is
 *   tlog_state  (one row)                                    size; the last global position looked at; the last leaf's
 *                                                            event (stream, revision, position); the first leaf's event id
 */
import { hash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { LEDGER_PREFIX } from '../domain/ids';
import { leafTextOfStored } from '../domain/tlog/leaf';
import { appendHashes, appendIndexes, type Hash, type Sha256, storedHashIndex } from '../domain/tlog/merkle';

export const sha256Bytes: Sha256 = (data) => hash('sha256', data, 'buffer') as unknown as Uint8Array;

/** RFC 9162 leaf hash of a leaf text (SHA-256(0x00 || UTF-8 text)). */
export const leafHashOfText = (text: string): Hash => {
  const body = Buffer.from(text, 'utf8');
  const input = Buffer.allocUnsafe(body.length + 1);
  input[0] = 0;
  body.copy(input, 1);
  return sha256Bytes(input);
};

export const TREE_SCHEMA = `
CREATE TABLE IF NOT EXISTS tlog_hashes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tlog_leaves (commit_pos INTEGER NOT NULL, prepare_pos INTEGER NOT NULL, leaf INTEGER NOT NULL, PRIMARY KEY (commit_pos, prepare_pos)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tlog_state (
  id INTEGER PRIMARY KEY CHECK (id = 0), size INTEGER NOT NULL, covered_commit INTEGER NOT NULL, covered_prepare INTEGER NOT NULL,
  tail_stream TEXT, tail_revision INTEGER, tail_commit INTEGER, tail_prepare INTEGER, first_event_id TEXT
);
INSERT OR IGNORE INTO tlog_state (id, size, covered_commit, covered_prepare) VALUES (0, 0, -1, -1);
`;

export interface TreeState {
  readonly size: number;
  readonly covered: { readonly commit: bigint; readonly prepare: bigint };
  readonly tail: { readonly stream: string; readonly revision: bigint; readonly commit: bigint; readonly prepare: bigint } | null;
  readonly firstEventId: string | null;
}

/** One event to append as a leaf. */
export interface NewLeaf {
  readonly hash: Hash;
  readonly commit: bigint;
  readonly prepare: bigint;
  readonly stream: string;
  readonly revision: bigint;
  readonly eventId: string;
}

export const isLedgerStream = (stream: string): boolean => stream.startsWith(LEDGER_PREFIX);

/** The leaf hash of a stored row whose text is canonical JSON (as the SQLite adapter writes it). */
export const leafHashOfRow = (stream: string, revision: bigint, type: string, data: string, metadata: string): Hash =>
  leafHashOfText(leafTextOfStored(stream, revision, type, { data, metadata }));

interface StateRow {
  size: number;
  covered_commit: number | bigint;
  covered_prepare: number | bigint;
  tail_stream: string | null;
  tail_revision: number | bigint | null;
  tail_commit: number | bigint | null;
  tail_prepare: number | bigint | null;
  first_event_id: string | null;
}

/** The tables of one tree index, on a connection the caller owns (and runs transactions on). */
export class TreeTables {
  private readonly stmt: {
    state: Database.Statement;
    hash: Database.Statement;
    range: Database.Statement;
    insertHash: Database.Statement;
    insertLeaf: Database.Statement;
    leafAt: Database.Statement;
    setState: Database.Statement;
  };

  constructor(readonly db: Database.Database) {
    this.stmt = {
      state: db.prepare('SELECT * FROM tlog_state WHERE id = 0').safeIntegers(true),
      hash: db.prepare('SELECT hash FROM tlog_hashes WHERE id = ?').pluck(),
      range: db.prepare('SELECT hash FROM tlog_hashes WHERE id >= ? ORDER BY id LIMIT ?').pluck(),
      insertHash: db.prepare('INSERT OR REPLACE INTO tlog_hashes (id, hash) VALUES (?, ?)'),
      insertLeaf: db.prepare('INSERT OR REPLACE INTO tlog_leaves (commit_pos, prepare_pos, leaf) VALUES (?, ?, ?)'),
      leafAt: db.prepare('SELECT leaf FROM tlog_leaves WHERE commit_pos = ? AND prepare_pos = ?').pluck(),
      setState: db.prepare(
        `UPDATE tlog_state SET size = ?, covered_commit = ?, covered_prepare = ?, tail_stream = ?, tail_revision = ?, tail_commit = ?, tail_prepare = ?,
         first_event_id = ? WHERE id = 0`,
      ),
    };
  }

  state(): TreeState {
    const r = this.stmt.state.get() as StateRow;
    const big = (x: number | bigint | null): bigint => BigInt(x ?? -1);
    return {
      size: Number(r.size),
      covered: { commit: big(r.covered_commit), prepare: big(r.covered_prepare) },
      tail: r.tail_stream === null ? null : { stream: r.tail_stream, revision: big(r.tail_revision), commit: big(r.tail_commit), prepare: big(r.tail_prepare) },
      firstEventId: r.first_event_id,
    };
  }

  readHash(id: number): Hash | undefined {
    const h = this.stmt.hash.get(id) as Buffer | undefined;
    return h === undefined ? undefined : new Uint8Array(h.buffer, h.byteOffset, h.length);
  }

  readRange(from: number, count: number): Hash[] {
    return (this.stmt.range.all(from, count) as Buffer[]).map((h) => new Uint8Array(h.buffer, h.byteOffset, h.length));
  }

  leafAt(commit: bigint, prepare: bigint): number | undefined {
    const leaf = this.stmt.leafAt.get(commit, prepare) as number | undefined;
    return leaf === undefined ? undefined : Number(leaf);
  }

  /**
   * Appends leaves after `state` and marks everything up to `covered` looked at. Call inside a transaction;
   * the earlier hashes a new leaf needs are read back from the tables (those of this batch included).
   */
  append(state: TreeState, leaves: ReadonlyArray<NewLeaf>, covered: { readonly commit: bigint; readonly prepare: bigint }): TreeState {
    let size = state.size;
    let tail = state.tail;
    let first = state.firstEventId;
    for (const l of leaves) {
      const old = appendIndexes(size).map((id) => {
        const h = this.readHash(id);
        if (h === undefined) throw new Error(`the tree index lacks stored hash ${id} (leaf ${size})`);
        return h;
      });
      const hashes = appendHashes(sha256Bytes, size, l.hash, old);
      const at = storedHashIndex(0, size);
      for (let i = 0; i < hashes.length; i++) this.stmt.insertHash.run(at + i, hashes[i]);
      this.stmt.insertLeaf.run(l.commit, l.prepare, size);
      if (size === 0) first = l.eventId;
      tail = { stream: l.stream, revision: l.revision, commit: l.commit, prepare: l.prepare };
      size++;
    }
    this.stmt.setState.run(
      size,
      covered.commit,
      covered.prepare,
      tail?.stream ?? null,
      tail?.revision ?? null,
      tail?.commit ?? null,
      tail?.prepare ?? null,
      first,
    );
    return { size, covered, tail, firstEventId: first };
  }

  /** Forgets everything (a rebuild starts over from the first event). */
  clear(): void {
    this.db.exec('DELETE FROM tlog_hashes; DELETE FROM tlog_leaves;');
    this.stmt.setState.run(0, -1, -1, null, null, null, null, null);
  }
}
