/**
 * The Merkle tree index of the ledger (docs/adr/0018-verifiable-ledger.md): the stored hashes of
 * src/domain/tlog/merkle.ts for the events of the `keyledger.` streams in global order, and which leaf each event
 * is. Derived from the events, rebuildable from them, and never trusted without a recomputation or a proof checked
 * against something a store writer cannot forge (a checkpoint a member signed, the head a witness co-signed).
 *
 * SQLite keeps it in the ledger file itself, extended in the transaction of every append; EventStoreDB gets a
 * local index under the instance's state folder, built from the global order. Reads are synchronous (both are
 * SQLite files); `sync` brings the index up to the store.
 */
import type * as E from 'fp-ts/Either';
import type { Hash } from '../domain/tlog/merkle';
import type { Position, StoreError } from './event-store';

export interface TreeIndexError {
  readonly _tag: 'TreeIndexError';
  readonly location: string;
  readonly message: string;
}

export interface TreeSync {
  /** Leaves in the index now. */
  readonly size: number;
  /** Leaves added by this sync. */
  readonly added: number;
  /** Whether the index no longer matched the events at its end (events removed or replaced there) and was rebuilt from them. */
  readonly rebuilt: boolean;
}

export interface TreeIndex {
  /** Where the index lives, for errors. */
  readonly location: string;
  /** Brings the index up to the ledger (progress: leaves added so far). */
  sync(onProgress?: (added: number) => void): Promise<E.Either<TreeIndexError | StoreError, TreeSync>>;
  /** Leaves in the index. */
  size(): E.Either<TreeIndexError, number>;
  /** The ledger's identity for its checkpoints' origin: the store's own, else the event id of its first leaf (undefined: empty). */
  identity(): E.Either<TreeIndexError, string | undefined>;
  /** Stored hashes by index (storedHashIndex); a missing one is an error. */
  readHashes(indexes: ReadonlyArray<number>): E.Either<TreeIndexError, Hash[]>;
  /** Stored hashes from index `from` on, in index order, at most `count` (fewer at the end). */
  readRange(from: number, count: number): E.Either<TreeIndexError, Hash[]>;
  /** The leaf the event at this global position is (undefined: not in the index). */
  leafAt(position: Position): E.Either<TreeIndexError, number | undefined>;
  close(): void;
}
