/**
 * For the compliance report (issue 14 item 3, issue 15 item 3): the latest checkpoint kept with the ledger that
 * members signed, and how many members signed or co-signed it. Signature lines are verified against the keys of
 * the members the deployments' trust walks certified (ADR 0010): lines by anyone else are not counted.
 *
 *   const r = await latestCheckpoint({ store, sha256: sha256Bytes, ed25519: ed25519Of(signatures.verify),
 *                                      trust: { verify: signatures.verify, thumbprint: signatures.thumbprint } },
 *                                    [deploymentStream(deploymentId)]);
 */
import * as E from 'fp-ts/Either';
import { toBase64 } from '../domain/tlog/bytes';
import type { Sha256 } from '../domain/tlog/merkle';
import { type Ed25519Verify, openNote } from '../domain/tlog/note';
import type { TrustCrypto } from '../domain/trust';
import type { EventStore, StoreError } from '../ports/event-store';
import { keptCheckpoints, noteOf } from './tree';
import { memberNoteKeysOf } from './verify-tree';

export interface LatestCheckpointDeps {
  readonly store: EventStore;
  readonly sha256: Sha256;
  readonly ed25519: Ed25519Verify;
  readonly trust: TrustCrypto;
}

export interface LatestCheckpoint {
  /** The newest checkpoint at least one member signed (null: none kept yet). */
  readonly checkpoint: { readonly origin: string; readonly size: number; readonly root: string; readonly note: string } | null;
  /** How many current members signed or co-signed it (each counted once). */
  readonly cosigners: number;
  /** Their key names (`keyledger/member/<installation ID>`). */
  readonly members: ReadonlyArray<string>;
}

export const latestCheckpoint = async (
  deps: LatestCheckpointDeps,
  deploymentStreams: ReadonlyArray<string>,
): Promise<E.Either<StoreError, LatestCheckpoint>> => {
  const kept = await keptCheckpoints(deps.store);
  if (E.isLeft(kept)) return kept;
  const members = await memberNoteKeysOf(deps.store, deploymentStreams, deps.trust, deps.sha256);
  if (E.isLeft(members)) return members;
  for (const k of kept.right) {
    const note = noteOf(k);
    const opened = openNote(note, members.right.keys, deps.ed25519);
    if (E.isLeft(opened)) continue;
    const names = [...new Set(opened.right.verified.map((v) => v.key.name))].filter((n) => members.right.current.has(n));
    if (names.length === 0) continue;
    return E.right({ checkpoint: { origin: k.head.origin, size: k.head.size, root: toBase64(k.head.root), note }, cosigners: names.length, members: names });
  }
  return E.right({ checkpoint: null, cosigners: 0, members: [] });
};
