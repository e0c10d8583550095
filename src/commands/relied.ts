/**
 * For an answer that decides nothing (`status` of this instance): does the ledger still hold what this
 * instance relied on? Its identity, and the remembered head of each stream given, as the command handler
 * checks them before a key decision (ADR 0009), but remembering nothing. A ledger that lost its last
 * writes (a deleted -wal after a crash, a restore from an older copy) would otherwise answer with an
 * earlier state and that state's remedy, when the remedy is to restore the store or accept the rollback.
 */
import * as E from 'fp-ts/Either';
import type { EventStore, StoreError } from '../ports/event-store';
import type { HeadStore, LocalStateError } from '../ports/heads';
import { LEDGER_IDENTITY, type LedgerReplaced, type LedgerRolledBack } from './handler';

export type ReliedError = LedgerRolledBack | LedgerReplaced | LocalStateError | StoreError;

export const checkRelied = async (store: EventStore, heads: HeadStore, streams: ReadonlyArray<string>): Promise<E.Either<ReliedError, void>> => {
  const identity = heads.load(LEDGER_IDENTITY);
  if (E.isLeft(identity)) return identity;
  if (identity.right !== undefined && store.identity && identity.right.hash !== store.identity)
    return E.left({ _tag: 'LedgerReplaced', endpoint: store.endpoint, remembered: identity.right.hash, found: store.identity });
  for (const stream of streams) {
    const remembered = heads.load(stream);
    if (E.isLeft(remembered)) return remembered;
    const r = remembered.right;
    if (r === undefined || r.revision < 0n) continue;
    const at = await store.readStream(stream, { fromRevision: r.revision, maxCount: 1 })();
    if (E.isLeft(at)) return at;
    const found = at.right[0];
    const hash = found?.revision === r.revision ? (found.metadata as { hash?: unknown }).hash : undefined;
    if (hash === r.hash) continue;
    const tip = await store.readStream(stream, { direction: 'backwards', maxCount: 1 })();
    if (E.isLeft(tip)) return tip;
    return E.left({
      _tag: 'LedgerRolledBack',
      stream,
      remembered: { revision: r.revision.toString(), hash: r.hash },
      found: { revision: tip.right[0]?.revision.toString() ?? 'no_stream', hashAtRemembered: typeof hash === 'string' ? hash : null },
    });
  }
  return E.right(undefined);
};
