/**
 * The two homes of the Merkle tree index (port: src/ports/tree.ts; docs/adr/0018-verifiable-ledger.md):
 *
 * - `ledgerTreeIndex`: in the SQLite ledger file itself, on the store's connection. Appends extend it in their
 *   transaction; `sync` catches up what other writers appended without it (a ledger from before the index, an
 *   append with the index off), reading the events table in the same write transaction it extends the index in.
 * - `localTreeIndex`: for an EventStoreDB ledger, a local SQLite file under the instance's state folder, built from
 *   the store's global order (`readAll` after the last position it looked at).
 *
 * Both check, before anything else, that the event at the index's last leaf is still there with the same leaf
 * hash; when it is not (events removed or replaced at the end) the index is rebuilt from the events, so the tree a
 * witness compares with what it co-signed is the events' tree, not an index left over from before a truncation.
 */
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import type Database from 'better-sqlite3';
import { decodeRecorded } from '../domain/envelope';
import { leafHashOfEvent } from '../domain/tlog/leaf';
import { equalBytes } from '../domain/tlog/bytes';
import { storedHashIndex } from '../domain/tlog/merkle';
import type { EventStore, RecordedEvent, StoreError } from '../ports/event-store';
import type { TreeIndex, TreeIndexError, TreeSync } from '../ports/tree';
import { errorMessage } from './error-message';
import { openLocalDb } from './sqlite-checkpoints';
import { isLedgerStream, leafHashOfRow, type NewLeaf, sha256Bytes, TREE_SCHEMA, type TreeState, TreeTables } from './sqlite-tree';
import { createHash } from 'node:crypto';

const BATCH = 2000;

interface EventRow {
  global_position: bigint;
  stream_name: string;
  stream_revision: bigint;
  event_id: string;
  event_type: string;
  data: string;
  metadata: string;
}

const failure =
  (location: string) =>
  (e: unknown): TreeIndexError => ({ _tag: 'TreeIndexError', location, message: errorMessage(e) });

/** The reads every index answers from its tables. */
const reads = (tables: TreeTables | undefined, location: string, identity: () => string | undefined) => {
  const fail = failure(location);
  const need = (): TreeTables => {
    if (!tables) throw new Error('this ledger has no tree index (a read-only ledger from before it)');
    return tables;
  };
  return {
    size: () => E.tryCatch(() => (tables ? tables.state().size : 0), fail),
    identity: () => E.tryCatch(identity, fail),
    readHashes: (indexes: ReadonlyArray<number>) =>
      E.tryCatch(
        () =>
          indexes.map((id) => {
            const h = need().readHash(id);
            if (h === undefined) throw new Error(`stored hash ${id} is missing from the tree index`);
            return h;
          }),
        fail,
      ),
    readRange: (from: number, count: number) => E.tryCatch(() => (tables ? tables.readRange(from, count) : []), fail),
    leafAt: (p: { commit: bigint; prepare: bigint }) => E.tryCatch(() => (tables ? tables.leafAt(p.commit, p.prepare) : undefined), fail),
  };
};

// ─── In the SQLite ledger ─────────────────────────────────────────────────

export const ledgerTreeIndex = (
  db: Database.Database,
  endpoint: string,
  storeIdentity: string,
  tables: TreeTables | undefined,
  readOnly: string | undefined,
): TreeIndex => {
  const location = `${endpoint} (its tree index)`;
  const fail = failure(location);
  const after = db.prepare('SELECT * FROM events WHERE global_position > ? ORDER BY global_position LIMIT ?').safeIntegers(true);
  const at = db.prepare('SELECT * FROM events WHERE global_position = ?').safeIntegers(true);
  const lastPosition = db.prepare('SELECT max(global_position) FROM events').pluck().safeIntegers(true);
  const tailMatches = (t: TreeTables, st: TreeState): boolean => {
    if (!st.tail) return true;
    const row = at.get(st.tail.commit) as EventRow | undefined;
    if (!row || row.stream_name !== st.tail.stream || row.stream_revision !== st.tail.revision) return false;
    const stored = t.readHash(storedHashIndex(0, st.size - 1));
    return stored !== undefined && equalBytes(stored, leafHashOfRow(row.stream_name, row.stream_revision, row.event_type, row.data, row.metadata));
  };
  const current = (t: TreeTables): boolean => t.state().covered.commit === ((lastPosition.get() as bigint | null) ?? -1n);
  return {
    location,
    ...reads(tables, location, () => storeIdentity || tables?.state().firstEventId || undefined),
    sync: async (onProgress) => {
      if (!tables) return E.left(fail(new Error('this ledger has no tree index and is read-only: it cannot be built here')));
      try {
        let rebuilt = false;
        if (!tailMatches(tables, tables.state())) {
          if (readOnly !== undefined) return E.left(fail(new Error(`its tree index no longer matches its events, and it cannot be rebuilt: ${readOnly}`)));
          db.transaction(() => tables.clear()).immediate();
          rebuilt = true;
        }
        if (readOnly !== undefined) {
          if (!current(tables)) return E.left(fail(new Error(`its tree index is behind its events, and it cannot be extended: ${readOnly}`)));
          return E.right({ size: tables.state().size, added: 0, rebuilt });
        }
        let added = 0;
        for (;;) {
          const n = db
            .transaction((): number => {
              const st = tables.state();
              const rows = after.all(st.covered.commit, BATCH) as EventRow[];
              if (rows.length === 0) return 0;
              const leaves: NewLeaf[] = rows
                .filter((r) => isLedgerStream(r.stream_name))
                .map((r) => ({
                  hash: leafHashOfRow(r.stream_name, r.stream_revision, r.event_type, r.data, r.metadata),
                  commit: r.global_position,
                  prepare: r.global_position,
                  stream: r.stream_name,
                  revision: r.stream_revision,
                  eventId: r.event_id,
                }));
              const last = rows[rows.length - 1]!.global_position;
              tables.append(st, leaves, { commit: last, prepare: last });
              added += leaves.length;
              return rows.length;
            })
            .immediate();
          if (n > 0) onProgress?.(added);
          if (n < BATCH) break;
        }
        return E.right({ size: tables.state().size, added, rebuilt });
      } catch (e) {
        return E.left(fail(e));
      }
    },
    close: () => undefined,
  };
};

// ─── Beside an EventStoreDB ledger ────────────────────────────────────────

const leafHashOfRecorded = (r: RecordedEvent): Uint8Array => leafHashOfEvent(sha256Bytes, r);

const endpointKey = (endpoint: string): string => createHash('sha256').update(endpoint).digest('hex').slice(0, 16);

/** The local tree index of a store (an EventStoreDB ledger), in `<stateDir>/tree-<endpoint>.db`. */
export const localTreeIndex = (stateDir: string, store: EventStore): E.Either<TreeIndexError, TreeIndex> => {
  const file = path.join(stateDir, `tree-${endpointKey(store.endpoint)}.db`);
  const opened = openLocalDb(file, TREE_SCHEMA);
  if (E.isLeft(opened)) return E.left({ _tag: 'TreeIndexError', location: opened.left.location, message: opened.left.message });
  const { db, location } = opened.right;
  // A lost write only costs re-reading events: this index is derived and rebuilt whenever it does not match.
  db.pragma('synchronous = NORMAL');
  const tables = new TreeTables(db);
  const fail = failure(location);
  const tailMatches = async (st: TreeState): Promise<E.Either<StoreError, boolean>> => {
    if (!st.tail) return E.right(true);
    const read = await store.readStream(st.tail.stream, { fromRevision: st.tail.revision, maxCount: 1 })();
    if (E.isLeft(read)) return read;
    const r = read.right[0];
    if (!r || r.revision !== st.tail.revision || r.position.commit !== st.tail.commit || r.position.prepare !== st.tail.prepare) return E.right(false);
    const stored = tables.readHash(storedHashIndex(0, st.size - 1));
    return E.right(stored !== undefined && equalBytes(stored, leafHashOfRecorded(r)));
  };
  return E.right({
    location,
    ...reads(tables, location, () => store.identity || tables.state().firstEventId || undefined),
    sync: async (onProgress) => {
      try {
        let rebuilt = false;
        const tail = await tailMatches(tables.state());
        if (E.isLeft(tail)) return tail;
        if (!tail.right) {
          db.transaction(() => tables.clear()).immediate();
          rebuilt = true;
        }
        let added = 0;
        for (;;) {
          const st = tables.state();
          const page = await store.readAll({ after: st.covered, maxCount: BATCH })();
          if (E.isLeft(page)) return page;
          if (page.right.length === 0) break;
          const leaves: NewLeaf[] = [];
          for (const r of page.right) {
            if (!isLedgerStream(r.streamName)) continue;
            const id = decodeRecorded(r);
            leaves.push({
              hash: leafHashOfRecorded(r),
              commit: r.position.commit,
              prepare: r.position.prepare,
              stream: r.streamName,
              revision: r.revision,
              eventId: E.isRight(id) ? id.right.metadata.eventId : r.id,
            });
          }
          const last = page.right[page.right.length - 1]!.position;
          // Another process on this machine may have extended it meanwhile: then read again from where it is now.
          const extended = db
            .transaction((): boolean => {
              const now = tables.state();
              if (now.size !== st.size || now.covered.commit !== st.covered.commit || now.covered.prepare !== st.covered.prepare) return false;
              tables.append(now, leaves, last);
              return true;
            })
            .immediate();
          if (!extended) continue;
          added += leaves.length;
          onProgress?.(added);
          if (page.right.length < BATCH) break;
        }
        return E.right({ size: tables.state().size, added, rebuilt } satisfies TreeSync);
      } catch (e) {
        return E.left(fail(e));
      }
    },
    close: () => db.close(),
  });
};
