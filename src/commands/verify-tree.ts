/**
 * The tree part of `verify` (docs/adr/0018-verifiable-ledger.md): the ledger's Merkle tree recomputed from its
 * events in the same pass as the hash links, compared with
 *
 * - its tree index, hash by hash in stored order (the index is derived: an index that differs from the events
 *   means one of them was altered, and the first differing hash names the first leaf, or range of leaves, where);
 * - a checkpoint (`verify --checkpoint`): the root of its first `size` events must be the checkpoint's root. When it
 *   is not, the first difference is named: the missing tail (truncation); else the first leaf where the events
 *   differ from the index, when the index still holds the checkpoint's tree (its root at that size is the
 *   checkpoint's); else (the index was rebuilt over the altered events too) the range between the largest
 *   member-signed checkpoint kept with the ledger that the events still match and the next one that they do not.
 *
 * Memory: O(log n) for the tree, one page of stored hashes, and a few event names.
 */
import type { EventStore, RecordedEvent, StoreError } from '../ports/event-store';
import { decodeRecorded } from '../domain/envelope';
import { type TrustCrypto, trustOf } from '../domain/trust';
import { ED25519_COSIGNATURE, ED25519_NOTE, type NoteKey, noteKey } from '../domain/tlog/note';
import type { TreeIndex } from '../ports/tree';
import { equalBytes, fromBase64Url, toBase64 } from '../domain/tlog/bytes';
import { memberKeyName, type TreeHead } from '../domain/tlog/checkpoint';
import { leafHashOfEvent } from '../domain/tlog/leaf';
import { type Hash, type Sha256, splitStoredHashIndex, storedHashIndex, TreeBuilder, treeHashFrom, treeHashIndexes } from '../domain/tlog/merkle';
import * as E from 'fp-ts/Either';

export interface EventName {
  readonly stream: string;
  readonly revision: string;
  readonly type: string;
}

export interface LeafRange {
  readonly from: number;
  /** Inclusive; equal to `from` when the difference is one leaf. */
  readonly through: number;
  /** The event at `from` (or the last one of the range, when `from` was not kept). */
  readonly event?: EventName;
}

export interface TreeVerifyOptions {
  readonly index: TreeIndex;
  readonly sha256: Sha256;
  /** The checkpoint to check the ledger against (its signatures are checked by the caller). */
  readonly checkpoint?: TreeHead;
  /** Sizes of other checkpoints (kept with the ledger) whose roots are worth recomputing, to narrow a difference down. */
  readonly alsoAt?: ReadonlyArray<number>;
}

export interface TreeReport {
  /** The tree of the events, recomputed. */
  readonly size: number;
  readonly root: string;
  readonly index: {
    readonly size: number;
    /** The first stored hash that is not the recomputed one (the leaves under it). */
    readonly firstDifference: LeafRange | null;
    /** The index holds leaves the events do not (events removed at the end). */
    readonly beyondEvents: boolean;
  };
  readonly checkpoint?: {
    readonly head: { readonly origin: string; readonly size: number; readonly root: string };
    /** The events' first `size` leaves have the checkpoint's root. */
    readonly extended: boolean;
    /** How the first difference was found: the tail gone, the index's own copy of the checkpoint's tree, or signed checkpoints around it. */
    readonly firstDifference: (LeafRange & { readonly how: 'truncated' | 'index' | 'bracketed' }) | null;
  };
  /** Recomputed roots at the sizes asked for (alsoAt), to compare with the kept checkpoints' once their signatures are checked. */
  readonly rootsAt: Readonly<Record<number, string>>;
  /** The events at the leaves around those sizes (the last one a checkpoint covers, the first one it does not). */
  readonly namesAt: Readonly<Record<number, EventName>>;
}

/** The recomputing half, fed event by event in $all order. */
export const treeVerifier = (o: TreeVerifyOptions) => {
  const builder = new TreeBuilder(o.sha256);
  const indexSize = E.getOrElse(() => 0)(o.index.size());
  const wanted = new Set([...(o.alsoAt ?? []), ...(o.checkpoint ? [o.checkpoint.size] : [])]);
  const rootsAt = new Map<number, Hash>();
  const names = new Map<number, EventName>();
  let stored: Hash[] = [];
  let storedFrom = 0;
  let firstDifference: LeafRange | null = null;
  let lastName: EventName | undefined;
  const PAGE = 4096;

  const storedAt = (id: number): Hash | undefined => {
    if (id < storedFrom || id >= storedFrom + stored.length) {
      storedFrom = id;
      const r = o.index.readRange(id, PAGE);
      stored = E.isRight(r) ? r.right : [];
    }
    return stored[id - storedFrom];
  };

  const add = (leaf: Hash, name: EventName): void => {
    const n = builder.size;
    if (wanted.has(n) || wanted.has(n + 1)) names.set(n, name);
    const produced = builder.push(leaf);
    lastName = name;
    if (firstDifference === null && n < indexSize) {
      const at = storedHashIndex(0, n);
      for (let i = 0; i < produced.length; i++) {
        const s = storedAt(at + i);
        if (s !== undefined && equalBytes(s, produced[i]!)) continue;
        const { level, n: k } = splitStoredHashIndex(at + i);
        const from = k * 2 ** level;
        const first = names.get(from);
        firstDifference = { from, through: from + 2 ** level - 1, event: first ?? name };
        break;
      }
    }
    if (wanted.has(builder.size)) rootsAt.set(builder.size, builder.root());
  };

  return {
    /** One event of $all (the ledger's streams), in order. */
    event: (r: RecordedEvent): void => add(leafHashOfEvent(o.sha256, r), { stream: r.streamName, revision: r.revision.toString(), type: r.type }),
    /** A row that is not even JSON: a leaf no index agrees with. */
    unreadable: (stream: string, revision: bigint): void => add(new Uint8Array(32), { stream, revision: revision.toString(), type: '?' }),
    finish: (): TreeReport => {
      const size = builder.size;
      const root = toBase64(builder.root());
      const index = { size: indexSize, firstDifference, beyondEvents: indexSize > size };
      const rootsJson = Object.fromEntries([...rootsAt].map(([k, v]) => [k, toBase64(v)]));
      const namesAt = Object.fromEntries(names);
      const cp = o.checkpoint;
      if (!cp) return { size, root, index, namesAt, rootsAt: rootsJson };
      const head = { origin: cp.origin, size: cp.size, root: toBase64(cp.root) };
      const at = rootsAt.get(cp.size);
      if (at !== undefined && equalBytes(at, cp.root))
        return { size, root, index, namesAt, rootsAt: rootsJson, checkpoint: { head, extended: true, firstDifference: null } };
      if (size < cp.size) {
        const last = lastName;
        return {
          size,
          root,
          index,
          namesAt,
          rootsAt: rootsJson,
          checkpoint: { head, extended: false, firstDifference: { from: size, through: cp.size - 1, ...(last ? { event: last } : {}), how: 'truncated' } },
        };
      }
      // The index still holds the checkpoint's tree: where the events first differ from it is where they differ from the checkpoint.
      const indexed = indexSize >= cp.size ? o.index.readHashes(treeHashIndexes(cp.size)) : undefined;
      const indexRoot = indexed && E.isRight(indexed) ? treeHashFrom(o.sha256, cp.size, indexed.right) : undefined;
      if (indexRoot && equalBytes(indexRoot, cp.root) && firstDifference !== null && (firstDifference as LeafRange).from < cp.size)
        return {
          size,
          root,
          index,
          namesAt,
          rootsAt: rootsJson,
          checkpoint: { head, extended: false, firstDifference: { ...(firstDifference as LeafRange), how: 'index' } },
        };
      return { size, root, index, namesAt, rootsAt: rootsJson, checkpoint: { head, extended: false, firstDifference: null } };
    },
  };
};

/**
 * Narrows a difference with the kept checkpoints whose signatures verified: after the largest one the events still
 * match, up to the next one they do not (or the checkpoint checked).
 */
export const bracket = (report: TreeReport, verified: ReadonlyArray<TreeHead>): (LeafRange & { readonly how: 'bracketed' }) | null => {
  const cp = report.checkpoint;
  if (!cp || cp.extended || cp.firstDifference !== null) return null;
  const matching = verified.filter((h) => h.size <= cp.head.size && report.rootsAt[h.size] === toBase64(h.root)).map((h) => h.size);
  const low = Math.max(0, ...matching);
  const differing = verified.filter((h) => h.size > low && h.size <= cp.head.size && report.rootsAt[h.size] !== toBase64(h.root)).map((h) => h.size);
  const high = Math.min(cp.head.size, ...differing);
  const event = report.namesAt[low];
  return { from: low, through: high - 1, ...(event ? { event } : {}), how: 'bracketed' };
};

/**
 * The note keys of everyone a deployment of this ledger ever certified as a member (its trust walk, ADR 0010):
 * whose signatures and cosignatures on a checkpoint count. A removed member's key still counts for what it signed.
 */
export const memberNoteKeysOf = async (
  store: EventStore,
  deploymentStreams: ReadonlyArray<string>,
  crypto: TrustCrypto,
  sha256: Sha256,
): Promise<E.Either<StoreError, { keys: NoteKey[]; current: Set<string> }>> => {
  const keys: NoteKey[] = [];
  const current = new Set<string>();
  for (const stream of deploymentStreams) {
    const read = await store.readStream(stream)();
    if (E.isLeft(read)) return read;
    const events = read.right.flatMap((r) => {
      const d = decodeRecorded(r);
      return E.isRight(d) ? [d.right] : [];
    });
    const trust = trustOf(events, crypto);
    for (const [, m] of Object.entries(trust.everCertified)) {
      const pub = fromBase64Url(m.signingKey.x);
      if (pub?.length !== 32) continue;
      keys.push(
        noteKey(sha256, memberKeyName(m.installationId), ED25519_NOTE, pub),
        noteKey(sha256, memberKeyName(m.installationId), ED25519_COSIGNATURE, pub),
      );
    }
    for (const id of Object.keys(trust.members)) current.add(memberKeyName(id));
  }
  return E.right({ keys, current });
};
