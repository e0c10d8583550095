/**
 * LedgerForked: the finding of a member acting as a witness (docs/adr/0018-verifiable-ledger.md). At its start, a
 * member checks that the ledger's tree is an append-only extension of the last checkpoint it co-signed, and that
 * every event its decision reads is in that tree. When either fails, the ledger was rewritten or truncated below
 * what it co-signed (or shows it events the tree does not hold): key decisions stop, nothing is recorded, and
 * only `keyledger accept-rollback --tree <size>` (recorded as LedgerForkAccepted) makes it rely on the ledger as
 * it is now.
 */
import { type Remedy, remedyText } from '../remedy';

export type ForkProblem =
  /** The tree is smaller than the checkpoint the member co-signed: events were removed from its end. */
  | 'truncated'
  /** The tree is not an extension of the co-signed checkpoint: events at or below it were changed, removed or reordered. */
  | 'rewritten'
  /** An event the member read is not the tree's leaf at its place: the store shows it another history than the tree's. */
  | 'event-not-in-tree'
  /** The ledger names itself differently (another first event): not the log the member co-signed. */
  | 'origin-changed';

export interface TreeHeadRef {
  readonly origin: string;
  readonly size: number;
  /** Base64, as in a checkpoint. */
  readonly root: string;
}

export interface LedgerForked {
  readonly _tag: 'LedgerForked';
  readonly problem: ForkProblem;
  /** The last checkpoint this member co-signed. */
  readonly cosigned: TreeHeadRef;
  /** The ledger's tree as the store shows it now. */
  readonly found: TreeHeadRef;
  /** The event that showed it (event-not-in-tree), or the last one left (truncated), when known. */
  readonly event?: { readonly stream: string; readonly revision: string; readonly leaf: number };
}

const WHAT: Readonly<Record<ForkProblem, string>> = {
  truncated: 'it now has fewer events than the checkpoint this member co-signed: events were removed from its end',
  rewritten: 'it is not an append-only extension of the checkpoint this member co-signed: events it covered were changed, removed or reordered',
  'event-not-in-tree': 'an event this member read is not the one the tree holds at its place: the store shows another history than its tree',
  'origin-changed': 'it names itself differently from the ledger whose checkpoint this member co-signed',
};

export const forkSummary = (f: LedgerForked): string =>
  `the ledger forked: ${WHAT[f.problem]} (co-signed ${f.cosigned.size} events, root ${f.cosigned.root}; the store shows ${f.found.size}, root ${f.found.root}` +
  `${f.event ? `; at ${f.event.stream}@${f.event.revision}, leaf ${f.event.leaf}` : ''})`;

/** Restore the store; or, if it was restored from an older backup on purpose, accept the tree as it is here, then start. */
export const forkRemedy = (f: LedgerForked): Remedy => ({
  _tag: 'Run',
  sentence:
    'key decisions stop here. Restore the store from a backup that holds what this member co-signed (keyledger verify --checkpoint with a ' +
    'checkpoint it co-signed names the first difference); or, only if the store was restored from an older backup on purpose, ' +
    'accept the ledger as it is now on this instance, then start it',
  steps: [
    { on: 'this-instance', args: ['accept-rollback', '--tree', String(f.found.size)] },
    { on: 'this-instance', args: ['start'] },
  ],
});

export const describeFork = (f: LedgerForked): string => `${forkSummary(f)}. ${remedyText(forkRemedy(f))}.`;
