/**
 * Durable projection checkpoints: a projection's state saved together with the
 * global position it reflects, atomically, so a restart resumes from there.
 *
 * With them, the hash-chain bookkeeping the runner needs to resume checking
 * (ADR 0002): the head (revision + hash) of every stream folded so far, and the
 * event at `position` (`tip`), read back on load to tell whether the ledger is
 * still the one the view was built from.
 */
import type * as E from 'fp-ts/Either';
import type { Position } from './event-store';

/** The newest event folded of one stream. Revisions as decimal strings (JSON). */
export interface StreamHead {
  readonly revision: string;
  readonly hash: string;
}

/** The event at a checkpoint's position. */
export interface CheckpointTip {
  readonly stream: string;
  readonly revision: string;
  readonly hash: string;
}

export interface Checkpoint {
  readonly version: number;
  readonly position: Position;
  readonly state: unknown;
  /** Per-stream heads up to `position`. `null`: a checkpoint written before heads were kept (the runner rebuilds). */
  readonly heads: Readonly<Record<string, StreamHead>> | null;
  /** The event at `position`; `null` when nothing was folded (position START). */
  readonly tip: CheckpointTip | null;
}

export interface CheckpointError {
  readonly _tag: 'CheckpointError';
  readonly location: string;
  readonly message: string;
}

export interface CheckpointStore {
  load(key: string): E.Either<CheckpointError, Checkpoint | undefined>;
  save(key: string, checkpoint: Checkpoint): E.Either<CheckpointError, void>;
  close(): void;
}
