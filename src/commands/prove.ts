/**
 * `prove <stream>@<revision>`: one event with its inclusion proof against a signed checkpoint, as one
 * self-contained JSON file (docs/adr/0018-verifiable-ledger.md) that `bin/keyledger-verify-proof` checks offline
 * with nothing but node and the signers' public keys. The proof is checked here before it is handed out.
 */
import * as E from 'fp-ts/Either';
import { fromBase64, toBase64, utf8 } from '../domain/tlog/bytes';
import { canonicalJson } from '../domain/envelope';
import { parseCheckpointBody, type TreeHead } from '../domain/tlog/checkpoint';
import { leafHashOfEvent, leafText } from '../domain/tlog/leaf';
import { equalBytes } from '../domain/tlog/bytes';
import { leafHash, type Sha256, storedHashIndex, verifyInclusion } from '../domain/tlog/merkle';
import { describeNoteProblem, type Ed25519Verify, type NoteKey, openNote, parseNote } from '../domain/tlog/note';
import { currentHead, inclusionProof, keptCheckpoints, noteOf, rootAt, type TreeDeps } from './tree';
import type { WitnessError } from './witness';

export const PROOF_FORMAT = 'keyledger-inclusion-proof/v1';

/** The largest revision a stream can have (a signed 64-bit integer in both stores): a larger one is bad input, not a store failure. */
export const MAX_REVISION = 2n ** 63n - 1n;

export interface InclusionProofFile {
  readonly format: typeof PROOF_FORMAT;
  /** The event as stored: its leaf input is canonicalJson of exactly these five members. */
  readonly event: { readonly stream: string; readonly revision: string; readonly type: string; readonly data: unknown; readonly metadata: unknown };
  readonly leafIndex: number;
  readonly treeSize: number;
  /** RFC 9162 inclusion proof, standard base64, from the leaf up. */
  readonly inclusionProof: ReadonlyArray<string>;
  /** The signed checkpoint (C2SP signed note) of size `treeSize` it proves against. */
  readonly checkpoint: string;
}

export type ProveError =
  | { readonly _tag: 'EventNotFound'; readonly stream: string; readonly revision: string }
  | { readonly _tag: 'EventNotInIndex'; readonly stream: string; readonly revision: string; readonly detail: string }
  | { readonly _tag: 'NoCheckpointCovers'; readonly stream: string; readonly revision: string; readonly leaf: number }
  | { readonly _tag: 'CheckpointUnusable'; readonly source: string; readonly detail: string };

/** Every error of the tree commands (checkpoint, prove, the witness, accept-rollback --tree). */
export type TreeCommandError = WitnessError | ProveError;

/** A checkpoint named by the operator: its note text and where it came from (for errors). */
export interface GivenCheckpoint {
  readonly note: string;
  readonly source: string;
}

export const parseCheckpointNote = (c: GivenCheckpoint): E.Either<ProveError, { head: TreeHead; body: string }> => {
  const unusable = (detail: string): E.Either<ProveError, never> => E.left({ _tag: 'CheckpointUnusable', source: c.source, detail });
  const note = parseNote(c.note);
  if (E.isLeft(note)) return unusable(note.left._tag === 'MalformedNote' ? `not a signed note: ${note.left.detail}` : note.left._tag);
  const head = parseCheckpointBody(note.right.text);
  return E.isLeft(head) ? unusable(head.left) : E.right({ head: head.right, body: note.right.text });
};

export const proveEvent = async (
  deps: TreeDeps,
  stream: string,
  revision: bigint,
  given?: GivenCheckpoint,
): Promise<E.Either<TreeCommandError, InclusionProofFile>> => {
  const at = { stream, revision: revision.toString() };
  const head = await currentHead(deps);
  if (E.isLeft(head)) return head;
  const read = await deps.store.readStream(stream, { fromRevision: revision, maxCount: 1 })();
  if (E.isLeft(read)) return read;
  const r = read.right[0];
  if (!r || r.revision !== revision) return E.left({ _tag: 'EventNotFound', ...at });
  const leaf = deps.tree.leafAt(r.position);
  if (E.isLeft(leaf)) return leaf;
  if (leaf.right === undefined) return E.left({ _tag: 'EventNotInIndex', ...at, detail: 'its place in the global order is not a leaf of the index' });
  const n = leaf.right;
  const leafHash = leafHashOfEvent(deps.sha256, r);
  const stored = deps.tree.readHashes([storedHashIndex(0, n)]);
  if (E.isLeft(stored)) return stored;
  if (!equalBytes(stored.right[0]!, leafHash)) return E.left({ _tag: 'EventNotInIndex', ...at, detail: `leaf ${n} of the index is another event` });

  let chosen: { head: TreeHead; note: string; source: string } | undefined;
  if (given) {
    const c = parseCheckpointNote(given);
    if (E.isLeft(c)) return c;
    if (c.right.head.origin !== head.right.origin)
      return E.left({ _tag: 'CheckpointUnusable', source: given.source, detail: `it is a checkpoint of ${c.right.head.origin}, not of ${head.right.origin}` });
    if (c.right.head.size <= n) return E.left({ _tag: 'NoCheckpointCovers', ...at, leaf: n });
    chosen = { head: c.right.head, note: given.note, source: given.source };
  } else {
    const kept = await keptCheckpoints(deps.store);
    if (E.isLeft(kept)) return kept;
    for (const k of kept.right) {
      if (k.head.origin !== head.right.origin || k.head.size <= n || k.head.size > head.right.size) continue;
      const root = rootAt(deps, k.head.size);
      if (E.isLeft(root)) return root;
      if (!equalBytes(root.right, k.head.root)) continue; // not this ledger's tree at that size: verify --checkpoint says why
      chosen = { head: k.head, note: noteOf(k), source: 'the checkpoints kept with the ledger' };
      break;
    }
    if (!chosen) return E.left({ _tag: 'NoCheckpointCovers', ...at, leaf: n });
  }
  if (chosen.head.size > head.right.size)
    return E.left({
      _tag: 'CheckpointUnusable',
      source: chosen.source,
      detail: `it covers ${chosen.head.size} events; the ledger's tree has ${head.right.size}`,
    });
  const proof = inclusionProof(deps, chosen.head.size, n);
  if (E.isLeft(proof)) return proof;
  if (!verifyInclusion(deps.sha256, proof.right, chosen.head.size, chosen.head.root, n, leafHash))
    return E.left({
      _tag: 'CheckpointUnusable',
      source: chosen.source,
      detail: `its root is not this ledger's tree at size ${chosen.head.size} (keyledger verify --checkpoint names the first difference)`,
    });
  return E.right({
    format: PROOF_FORMAT,
    event: { stream, revision: revision.toString(), type: r.type, data: r.data, metadata: r.metadata },
    leafIndex: n,
    treeSize: chosen.head.size,
    inclusionProof: proof.right.map(toBase64),
    checkpoint: chosen.note,
  });
};

// ─── Checking a proof file (the internal twin of bin/keyledger-verify-proof) ──

export interface CheckedProof {
  readonly head: TreeHead;
  readonly signers: ReadonlyArray<string>;
  readonly leafIndex: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a proof file as `bin/keyledger-verify-proof` does, with keyledger's own code: the event's content hash, the
 * checkpoint's body and signatures (by `keys`), and the inclusion of the event's leaf. Left: the first reason it fails.
 */
export const checkProofFile = (
  file: unknown,
  keys: ReadonlyArray<NoteKey>,
  sha256: Sha256,
  digest: (text: string) => string,
  ed25519: Ed25519Verify,
): E.Either<string, CheckedProof> => {
  if (!isRecord(file) || file['format'] !== PROOF_FORMAT) return E.left(`not a keyledger inclusion proof (format ${PROOF_FORMAT})`);
  const e = file['event'];
  if (!isRecord(e) || typeof e['stream'] !== 'string' || typeof e['type'] !== 'string' || !isRecord(e['metadata']) || !('data' in e))
    return E.left('its event is not { stream, revision, type, data, metadata }');
  const revision = e['revision'];
  if (typeof revision !== 'string' || !/^(0|[1-9][0-9]*)$/.test(revision)) return E.left('its event revision is not a decimal string');
  const leafIndex = file['leafIndex'];
  const treeSize = file['treeSize'];
  const path = file['inclusionProof'];
  if (
    typeof leafIndex !== 'number' ||
    typeof treeSize !== 'number' ||
    !Number.isSafeInteger(leafIndex) ||
    !Number.isSafeInteger(treeSize) ||
    leafIndex < 0 ||
    leafIndex >= treeSize
  )
    return E.left('its leafIndex and treeSize are not a leaf of a tree of that size');
  if (!Array.isArray(path)) return E.left('its inclusionProof is not a list');
  const proof = path.map((h) => (typeof h === 'string' ? fromBase64(h) : undefined));
  if (!proof.every((h): h is Uint8Array => h?.length === 32)) return E.left('its inclusionProof holds something that is not a base64 SHA-256 hash');
  const { hash, ...rest } = e['metadata'];
  const stream = e['stream'];
  if (typeof hash !== 'string' || digest(canonicalJson({ stream, revision, type: e['type'], data: e['data'], metadata: rest })) !== hash)
    return E.left("the event's content does not match its hash: it was altered");
  if (typeof file['checkpoint'] !== 'string') return E.left('its checkpoint is not a signed note');
  const opened = openNote(file['checkpoint'], keys, ed25519);
  if (E.isLeft(opened)) return E.left(describeNoteProblem(opened.left));
  const head = parseCheckpointBody(opened.right.text);
  if (E.isLeft(head)) return head;
  if (head.right.size !== treeSize) return E.left(`the proof is for a tree of ${treeSize} events, the checkpoint is of ${head.right.size}`);
  const leaf = leafHash(sha256, utf8(leafText(stream, BigInt(revision), e['type'], e['data'], e['metadata'])));
  if (!verifyInclusion(sha256, proof, treeSize, head.right.root, leafIndex, leaf))
    return E.left(`the inclusion proof does not lead from the event to the checkpoint's root: it is not leaf ${leafIndex} of that tree`);
  return E.right({ head: head.right, signers: opened.right.verified.map((v) => v.key.name), leafIndex });
};
