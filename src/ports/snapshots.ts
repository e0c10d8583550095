/**
 * Aggregate snapshots: a local cache of an aggregate's state at a revision,
 * with the hash of the event at that revision. A command that finds one reads
 * only the events after it — after checking that the stream's event at that
 * revision still carries that hash — so its cost does not grow with the
 * stream's history. Losing or deleting snapshots is harmless.
 */
export interface Snapshot {
  /** The state shape's version: a snapshot of another version is ignored. */
  readonly version: number;
  readonly revision: bigint;
  readonly hash: string;
  readonly state: unknown;
}

export interface SnapshotStore {
  /** undefined when there is none or it cannot be read (a cache miss, never an error). */
  load(key: string): Snapshot | undefined;
  /** Best effort: a failure to save is ignored. */
  save(key: string, snapshot: Snapshot): void;
}
