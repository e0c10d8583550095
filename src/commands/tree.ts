/**
 * The ledger's Merkle tree as commands use it (docs/adr/0018-verifiable-ledger.md): its current head, inclusion
 * and consistency proofs read from the tree index (O(log n) stored hashes each), and the checkpoints kept with the
 * ledger — signed notes, one event per signature line in the stream `keyledger-checkpoints` (outside the
 * `keyledger.` streams, so not a leaf of the tree it signs). Every proof is checked here before it is relied on.
 */
import * as E from 'fp-ts/Either';
import type { CommandContext } from '../domain/envelope';
import { fromBase64, toBase64 } from '../domain/tlog/bytes';
import { ledgerOrigin, parseCheckpointBody, type TreeHead } from '../domain/tlog/checkpoint';
import {
  consistencyProofFrom,
  consistencyProofIndexes,
  type Hash,
  inclusionProofFrom,
  inclusionProofIndexes,
  type Sha256,
  treeHashFrom,
  treeHashIndexes,
  verifyConsistency,
  verifyInclusion,
} from '../domain/tlog/merkle';
import { parseNote } from '../domain/tlog/note';
import type { EventStore, StoreError } from '../ports/event-store';
import type { TreeIndex, TreeIndexError } from '../ports/tree';

export interface TreeDeps {
  readonly store: EventStore;
  readonly tree: TreeIndex;
  readonly sha256: Sha256;
}

export type TreeError = TreeIndexError | StoreError | { readonly _tag: 'LedgerEmpty' };

/** The root of the first `size` leaves, from the index. */
export const rootAt = (deps: TreeDeps, size: number): E.Either<TreeIndexError, Hash> => {
  const hashes = deps.tree.readHashes(treeHashIndexes(size));
  return E.isLeft(hashes) ? hashes : E.right(treeHashFrom(deps.sha256, size, hashes.right));
};

/** The tree head now: the index brought up to the ledger, its size and root, named by the ledger's origin. */
export const currentHead = async (deps: TreeDeps, onProgress?: (added: number) => void): Promise<E.Either<TreeError, TreeHead & { rebuilt: boolean }>> => {
  const synced = await deps.tree.sync(onProgress);
  if (E.isLeft(synced)) return synced;
  const identity = deps.tree.identity();
  if (E.isLeft(identity)) return identity;
  if (identity.right === undefined || synced.right.size === 0) return E.left({ _tag: 'LedgerEmpty' });
  const root = rootAt(deps, synced.right.size);
  if (E.isLeft(root)) return root;
  return E.right({ origin: ledgerOrigin(identity.right), size: synced.right.size, root: root.right, rebuilt: synced.right.rebuilt });
};

/** Whether the index's tree of size `now.size` extends `old` (a consistency proof read from the index, then checked). */
export const extendsHead = (deps: TreeDeps, old: Pick<TreeHead, 'size' | 'root'>, now: Pick<TreeHead, 'size' | 'root'>): E.Either<TreeIndexError, boolean> => {
  if (old.size > now.size) return E.right(false);
  if (old.size === 0) return E.right(true);
  const hashes = deps.tree.readHashes(consistencyProofIndexes(now.size, old.size));
  if (E.isLeft(hashes)) return hashes;
  const proof = consistencyProofFrom(deps.sha256, now.size, old.size, hashes.right);
  return E.right(verifyConsistency(deps.sha256, proof, now.size, now.root, old.size, old.root));
};

/** The inclusion proof of leaf `leaf` in the tree of size `size`, from the index. */
export const inclusionProof = (deps: TreeDeps, size: number, leaf: number): E.Either<TreeIndexError, Hash[]> => {
  const hashes = deps.tree.readHashes(inclusionProofIndexes(size, leaf));
  return E.isLeft(hashes) ? hashes : E.right(inclusionProofFrom(deps.sha256, size, leaf, hashes.right));
};

/** Whether the tree head holds `leafHash` as leaf `leaf` (the proof read from the index and checked). */
export const includes = (deps: TreeDeps, head: Pick<TreeHead, 'size' | 'root'>, leaf: number, leafHash: Hash): E.Either<TreeIndexError, boolean> => {
  if (leaf < 0 || leaf >= head.size) return E.right(false);
  const proof = inclusionProof(deps, head.size, leaf);
  return E.isLeft(proof) ? proof : E.right(verifyInclusion(deps.sha256, proof.right, head.size, head.root, leaf, leafHash));
};

// ─── Checkpoints kept with the ledger ─────────────────────────────────────

/** Where signed checkpoints are kept: a stream of the ledger outside the `keyledger.` streams the tree covers. */
export const CHECKPOINT_STREAM = 'keyledger-checkpoints';
export const CHECKPOINT_SIGNATURE = 'CheckpointSignature';

export interface KeptCheckpoint {
  readonly head: TreeHead;
  readonly body: string;
  /** Its signature lines, in the order they were kept. */
  readonly lines: ReadonlyArray<string>;
}

/** Keeps one signature line of a checkpoint with the ledger (any order; a line kept twice is one). */
export const keepSignature = (store: EventStore, ctx: CommandContext, body: string, line: string): Promise<E.Either<StoreError, void>> => {
  const id = ctx.newId();
  const metadata = { eventId: id, occurredAt: ctx.now().toISOString(), actor: ctx.actor, command: ctx.command, correlationId: ctx.correlationId };
  return store
    .append(CHECKPOINT_STREAM, [{ id, type: CHECKPOINT_SIGNATURE, data: { checkpoint: body, signature: line }, metadata }], 'any')()
    .then((r) => (E.isLeft(r) ? r : E.right(undefined)));
};

/**
 * The checkpoints kept with the ledger, newest tree first (the last `scan` signature events are read): each with
 * the signature lines kept for it. Lines are not verified here: whoever relies on one opens the note with its keys.
 */
export const keptCheckpoints = async (store: EventStore, scan = 2000): Promise<E.Either<StoreError, KeptCheckpoint[]>> => {
  const read = await store.readStream(CHECKPOINT_STREAM, { direction: 'backwards', maxCount: scan })();
  if (E.isLeft(read)) return read;
  const byBody = new Map<string, { head: TreeHead; lines: string[] }>();
  for (const r of [...read.right].reverse()) {
    const d = r.data as { checkpoint?: unknown; signature?: unknown } | null;
    if (r.type !== CHECKPOINT_SIGNATURE || typeof d?.checkpoint !== 'string' || typeof d.signature !== 'string') continue;
    const head = parseCheckpointBody(d.checkpoint);
    if (E.isLeft(head) || E.isLeft(parseNote(`${d.checkpoint}\n${d.signature}\n`))) continue;
    const kept = byBody.get(d.checkpoint) ?? { head: head.right, lines: [] };
    if (!kept.lines.includes(d.signature)) kept.lines.push(d.signature);
    byBody.set(d.checkpoint, kept);
  }
  return E.right([...byBody.entries()].map(([body, k]) => ({ body, head: k.head, lines: k.lines })).sort((a, b) => b.head.size - a.head.size));
};

/** A checkpoint's note text: its body, a blank line, its signature lines. */
export const noteOf = (k: Pick<KeptCheckpoint, 'body' | 'lines'>): string => `${k.body}\n${k.lines.map((l) => `${l}\n`).join('')}`;

export const headJson = (h: TreeHead): { origin: string; size: number; root: string } => ({ origin: h.origin, size: h.size, root: toBase64(h.root) });

/** A head remembered as text (the local state keeps heads as revision and hash strings). */
export const rememberedHeadText = (h: TreeHead): string => `${toBase64(h.root)} ${h.origin}`;
export const headFromRemembered = (size: bigint, text: string): TreeHead | undefined => {
  const space = text.indexOf(' ');
  const root = space < 0 ? undefined : fromBase64(text.slice(0, space));
  return root && root.length === 32 ? { origin: text.slice(space + 1), size: Number(size), root } : undefined;
};
