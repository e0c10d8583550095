/**
 * Editing the SQLite ledger file behind keyledger's back, as an attacker or a
 * damaged disk would. Test support only.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { hashEvent } from '../../src/domain/envelope';
import { sha256Hex } from '../../src/infra/sha256';

export const tamper = (file: string, sql: string, ...params: unknown[]): number => {
  const db = new Database(file);
  try {
    return db.prepare(sql).run(...params).changes;
  } finally {
    db.close();
  }
};

export const rowOf = (file: string, stream: string, revision: number): { data: string; metadata: string; event_type: string } => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT data, metadata, event_type FROM events WHERE stream_name = ? AND stream_revision = ?').get(stream, revision) as {
      data: string;
      metadata: string;
      event_type: string;
    };
  } finally {
    db.close();
  }
};

/**
 * The attacker rebuilds the ledger's Merkle tree index from the events as they now are (ADR 0018 documents it):
 * emptied, the next command that needs it builds it again from the events.
 */
export const reindex = (file: string): void => {
  const db = new Database(file);
  try {
    db.exec(
      'DELETE FROM tlog_hashes; DELETE FROM tlog_leaves; UPDATE tlog_state SET size = 0, covered_commit = -1, covered_prepare = -1, ' +
        'tail_stream = NULL, tail_revision = NULL, tail_commit = NULL, tail_prepare = NULL, first_event_id = NULL;',
    );
  } finally {
    db.close();
  }
};

/**
 * An attacker who can write the store and knows the documented hash chain
 * (ADR 0002): edits one event's data and re-hashes it and every later event of
 * its stream, so `verify` finds nothing — and rebuilds the tree index over the edited events (ADR 0018), so the
 * index agrees with them (only a checkpoint or a witness's memory from before the edit can tell).
 */
export const rewriteAndRehash = (
  file: string,
  stream: string,
  revision: number,
  edit: (data: Record<string, unknown>) => Record<string, unknown>,
  /** The event's metadata (without its hash) may be edited too: a signature stripped or replaced. */
  editMetadata: (metadata: Record<string, unknown>, data: Record<string, unknown>) => Record<string, unknown> = (m) => m,
  /** false: an attacker who leaves the tree index as it was (it then holds the events from before the edit). */
  rebuildIndex = true,
): void => {
  const db = new Database(file);
  try {
    const rows = db
      .prepare('SELECT stream_revision AS revision, event_type AS type, data, metadata FROM events WHERE stream_name = ? ORDER BY stream_revision')
      .all(stream) as Array<{ revision: number; type: string; data: string; metadata: string }>;
    let prevHash: string | undefined;
    const update = db.prepare('UPDATE events SET data = ?, metadata = ? WHERE stream_name = ? AND stream_revision = ?');
    for (const row of rows) {
      const metadata = JSON.parse(row.metadata) as Record<string, unknown> & { hash: string; prevHash: string };
      if (row.revision < revision) {
        prevHash = metadata.hash;
        continue;
      }
      const data = row.revision === revision ? edit(JSON.parse(row.data) as Record<string, unknown>) : (JSON.parse(row.data) as Record<string, unknown>);
      const { hash: _old, ...kept } = metadata;
      const rest = row.revision === revision ? editMetadata(kept, data) : kept;
      const base = { ...rest, prevHash: prevHash ?? metadata.prevHash };
      const hash = hashEvent(sha256Hex, stream, BigInt(row.revision), row.type, data, base as never);
      update.run(JSON.stringify(data), JSON.stringify({ ...base, hash }), stream, row.revision);
      prevHash = hash;
    }
  } finally {
    db.close();
  }
  if (rebuildIndex) reindex(file);
};

/** The stored view's JSON: deflated pieces, each framed by its length (4 bytes, big endian). */
const inflateFrames = (stored: Buffer): string => {
  const parts: string[] = [];
  for (let at = 0; at < stored.length; at += 4 + stored.readUInt32BE(at))
    parts.push(inflateRawSync(stored.subarray(at + 4, at + 4 + stored.readUInt32BE(at))).toString('utf8'));
  return parts.join('');
};

const oneFrame = (json: string): Buffer => {
  const z = deflateRawSync(Buffer.from(json, 'utf8'));
  const frame = Buffer.alloc(4);
  frame.writeUInt32BE(z.length);
  return Buffer.concat([frame, z]);
};

/**
 * Someone who can write the state folder edits the saved view as keyledger stores it (deflated JSON in
 * `state_z`, or plain `state` in older rows), keeping everything else — the MAC included. Returns the rows changed.
 */
export const editCheckpointState = (file: string, edit: (json: string) => string): number => {
  const db = new Database(file);
  try {
    let changed = 0;
    const rows = db.prepare('SELECT key, state, state_z FROM checkpoints').all() as Array<{ key: string; state: string; state_z: Buffer | null }>;
    for (const r of rows) {
      const before = r.state_z === null ? r.state : inflateFrames(r.state_z);
      const after = edit(before);
      if (after === before) continue;
      if (r.state_z === null) db.prepare('UPDATE checkpoints SET state = ? WHERE key = ?').run(after, r.key);
      else db.prepare('UPDATE checkpoints SET state_z = ? WHERE key = ?').run(oneFrame(after), r.key);
      changed++;
    }
    return changed;
  } finally {
    db.close();
  }
};
