/**
 * Durable projection checkpoints: a projection's state saved together with the
 * global position it reflects, atomically, so a restart resumes from there.
 */
import type * as E from 'fp-ts/Either';
import type { Position } from './event-store';

export interface Checkpoint {
  readonly version: number;
  readonly position: Position;
  readonly state: unknown;
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
