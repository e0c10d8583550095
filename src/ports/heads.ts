/**
 * What an instance remembers of the ledger it relied on: the head (revision and
 * hash) of every stream a key decision read, kept in its local state under a MAC
 * only the instance can compute (keyed from its machine secret). A ledger that
 * now ends earlier, or differs at a remembered revision, was rolled back: key
 * decisions stop until an operator accepts it (`keyledger accept-rollback`).
 */
import type * as E from 'fp-ts/Either';

export interface RememberedHead {
  readonly revision: bigint;
  readonly hash: string;
}

export interface LocalStateError {
  readonly _tag: 'LocalStateError';
  readonly location: string;
  /** tampered: a row whose MAC does not verify (edited, or written by someone without this instance's secret). */
  readonly problem: 'unusable' | 'tampered';
  readonly message: string;
}

export interface HeadStore {
  load(stream: string): E.Either<LocalStateError, RememberedHead | undefined>;
  /** Remembers a head; a head older than the one remembered is ignored (a slower racing process). */
  save(stream: string, head: RememberedHead): E.Either<LocalStateError, void>;
  /** Replaces the remembered head whatever it was (an accepted rollback). */
  reset(stream: string, head: RememberedHead): E.Either<LocalStateError, void>;
}
