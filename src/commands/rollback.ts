/**
 * `accept-rollback`: an operator accepts that the store ends earlier than this
 * instance saw it (it was restored from a file backup on purpose). The store
 * must show exactly the head the operator names; the instance then remembers
 * that head instead, and the acceptance is recorded in its own stream. Without
 * it, every key decision on this instance stops at `LedgerRolledBack`.
 */
import * as E from 'fp-ts/Either';
import { EventMetadata } from '../domain/envelope';
import { type InstallationId, instanceStream } from '../domain/ids';
import { decideInstance } from '../domain/instance/decider';
import type { HeadStore, LocalStateError } from '../ports/heads';
import type { EventSigner } from '../domain/envelope';
import { type HandlerDeps, type HandlerError, handleCommand } from './handler';
import { instanceAggregate } from './instance';
import { toBase64 } from '../domain/tlog/bytes';
import { currentHead, extendsHead, rememberedHeadText, type TreeDeps, type TreeError } from './tree';
import { COSIGNED, lastCosigned } from './witness';

export type RollbackError =
  | HandlerError
  | LocalStateError
  | { readonly _tag: 'NoLocalMemory' }
  | { readonly _tag: 'RollbackTargetMismatch'; readonly stream: string; readonly named: string; readonly storeEndsAt: string };

export interface RollbackOutcome {
  readonly stream: string;
  /** null: this instance had never relied on the stream, or the store still holds what it saw (nothing to accept). */
  readonly accepted: { readonly from: string; readonly to: string } | null;
  readonly recorded: ReadonlyArray<string>;
}

export const acceptRollback = async (
  deps: HandlerDeps & { readonly heads?: HeadStore },
  installationId: InstallationId,
  stream: string,
  revision: bigint,
  /** The instance signs the acceptance (none: its keystore predates signatures). */
  signer?: EventSigner,
): Promise<E.Either<RollbackError, RollbackOutcome>> => {
  const heads = deps.heads;
  if (!heads) return E.left({ _tag: 'NoLocalMemory' });
  const marker = heads.load(acceptingKey(stream));
  if (E.isLeft(marker)) return marker;
  const pending = marker.right !== undefined && marker.right.hash !== CLEARED ? marker.right : undefined;
  if (pending) {
    // A run killed after it recorded the acceptance, before it cleared its marker: the instance's last event says so.
    const own = await deps.store.readStream(instanceStream(installationId), { direction: 'backwards', maxCount: 1 })();
    if (E.isLeft(own)) return own;
    const ev = own.right[0];
    const data = ev?.type === 'LedgerRollbackAccepted' ? (ev.data as { stream?: unknown; acceptedRevision?: unknown }) : undefined;
    if (data?.stream === stream && data.acceptedRevision === revision.toString()) {
      const cleared = heads.reset(acceptingKey(stream), { revision: -1n, hash: CLEARED });
      if (E.isLeft(cleared)) return cleared;
      return E.right({ stream, accepted: { from: pending.hash === UNKNOWN ? 'unknown' : `${pending.revision}`, to: revision.toString() }, recorded: [] });
    }
  }
  const last = await deps.store.readStream(stream, { direction: 'backwards', maxCount: 1 })();
  if (E.isLeft(last)) return last;
  const tip = last.right[0];
  const endsAt = tip ? tip.revision : -1n;
  if (endsAt !== revision) return E.left({ _tag: 'RollbackTargetMismatch', stream, named: revision.toString(), storeEndsAt: endsAt.toString() });
  const remembered = heads.load(stream);
  if (E.isLeft(remembered) && remembered.left.problem !== 'tampered') return remembered;
  const hash = tip ? (hashOf(tip.metadata) ?? '') : '';
  // An acceptance begun by a run that was killed before it was recorded: record it now (what it replaced is in the marker).
  const was = pending ?? (E.isRight(remembered) ? remembered.right : undefined);
  // Nothing remembered, or the store still ends where this instance saw it: nothing to accept.
  if (!pending && E.isRight(remembered) && (was === undefined || was.revision < 0n || (was.revision === endsAt && hash === was.hash)))
    return E.right({ stream, accepted: null, recorded: [] });
  // Two steps, each safe to repeat: remember what is being replaced (the marker), rely on the ledger as it is, record
  // the acceptance, clear the marker. A kill anywhere leaves either nothing done or a marker a rerun finishes from.
  const marked = pending ? E.right(undefined) : heads.reset(acceptingKey(stream), was ?? { revision: -1n, hash: UNKNOWN });
  if (E.isLeft(marked)) return marked;
  await deps.pause?.('accept-rollback:marked');
  const reset = heads.reset(stream, { revision: endsAt, hash });
  if (E.isLeft(reset)) return reset;
  const known = was !== undefined && was.hash !== UNKNOWN;
  const from = known ? `${was.revision}` : 'unknown (the remembered head was altered)';
  const r = await handleCommand(deps, { instance: instanceAggregate(installationId) }, async (l) => {
    const decided = decideInstance(
      {
        type: 'AcceptRollback',
        installationId,
        stream,
        remembered: { revision: known ? was.revision.toString() : 'unknown', hash: known ? was.hash : 'unknown' },
        accepted: { revision: endsAt.toString(), hash: tip ? hash : null },
      },
      l.instance.state,
    );
    if (E.isLeft(decided)) throw new Error('programmer error: AcceptRollback is always decided');
    return E.right({ append: { to: 'instance' as const, events: decided.right, signer }, result: undefined });
  });
  if (E.isLeft(r)) return r;
  const cleared = heads.reset(acceptingKey(stream), { revision: -1n, hash: CLEARED });
  if (E.isLeft(cleared)) return cleared;
  return E.right({ stream, accepted: { from, to: endsAt.toString() }, recorded: r.right.appended });
};

/** Where an acceptance in progress keeps the head it replaces, among the remembered heads. */
const acceptingKey = (stream: string): string => `$accepting:${stream}`;
const CLEARED = '';
const UNKNOWN = 'unknown';

const hashOf = (metadata: unknown): string | undefined => {
  const md = EventMetadata.decode(metadata);
  return E.isRight(md) ? md.right.hash : undefined;
};

// ─── The tree a witness co-signed (docs/adr/0018-verifiable-ledger.md) ────

export type ForkAcceptError = HandlerError | TreeError | LocalStateError | { readonly _tag: 'TreeSizeMismatch'; readonly named: number; readonly size: number };

export interface ForkAcceptOutcome {
  /** null: the tree still extends what this member co-signed (nothing to accept). */
  readonly accepted: { readonly from: { readonly size: number; readonly root: string }; readonly to: { readonly size: number; readonly root: string } } | null;
  readonly recorded: ReadonlyArray<string>;
}

/**
 * `accept-rollback --tree <size>`: an operator accepts that the ledger's tree (of exactly `size` leaves now) is not an
 * extension of the head this member last co-signed. Recorded first (LedgerForkAccepted, signed), then remembered.
 */
export const acceptFork = async (
  deps: HandlerDeps & TreeDeps & { readonly heads?: HeadStore },
  installationId: InstallationId,
  size: number,
  signer?: EventSigner,
): Promise<E.Either<ForkAcceptError | { readonly _tag: 'NoLocalMemory' }, ForkAcceptOutcome>> => {
  const heads = deps.heads;
  if (!heads) return E.left({ _tag: 'NoLocalMemory' });
  const head = await currentHead(deps);
  if (E.isLeft(head)) return head;
  if (head.right.size !== size) return E.left({ _tag: 'TreeSizeMismatch', named: size, size: head.right.size });
  const last = lastCosigned(heads);
  if (E.isLeft(last)) return last;
  const old = last.right;
  if (!old) return E.right({ accepted: null, recorded: [] });
  const extended = old.origin === head.right.origin ? extendsHead(deps, old, head.right) : E.right(false);
  if (E.isLeft(extended)) return extended;
  if (extended.right) return E.right({ accepted: null, recorded: [] });
  const from = { size: old.size, root: toBase64(old.root) };
  const to = { size: head.right.size, root: toBase64(head.right.root) };
  const r = await handleCommand(deps, { instance: instanceAggregate(installationId) }, async (l) => {
    const decided = decideInstance(
      {
        type: 'AcceptFork',
        installationId,
        origin: head.right.origin,
        cosigned: { size: String(from.size), root: from.root },
        accepted: { size: String(to.size), root: to.root },
      },
      l.instance.state,
    );
    if (E.isLeft(decided)) throw new Error('programmer error: AcceptFork is always decided');
    return E.right({ append: { to: 'instance' as const, events: decided.right, signer }, result: undefined });
  });
  if (E.isLeft(r)) return r;
  const reset = heads.reset(COSIGNED, { revision: BigInt(head.right.size), hash: rememberedHeadText(head.right) });
  if (E.isLeft(reset)) return reset;
  return E.right({ accepted: { from, to }, recorded: r.right.appended });
};
