/**
 * The double's in-memory event log and its semantics: one global `$all` log
 * plus per-stream state; revisions, positions, expected-revision checks,
 * idempotent replays, soft delete and tombstone. Knows nothing of gRPC.
 */

export interface Stored {
  readonly stream: string;
  readonly revision: bigint;
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
  readonly created: string;
  readonly commit: bigint;
  readonly prepare: bigint;
}

export interface StreamState {
  readonly events: Stored[];
  /** Revision of the last event ever written, -1n if none. */
  last: bigint;
  /** Soft delete: events below this revision are gone from the stream (not from $all). */
  truncateBefore: bigint;
  tombstoned: boolean;
}

export type Expected =
  | { readonly kind: 'any' }
  | { readonly kind: 'no_stream' }
  | { readonly kind: 'stream_exists' }
  | { readonly kind: 'revision'; readonly revision: bigint };

export interface Proposed {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

export type AppendOutcome =
  | { readonly ok: true; readonly current: bigint; readonly commit: bigint; readonly prepare: bigint }
  | { readonly ok: false; readonly kind: 'wrong_expected_version'; readonly current: bigint | undefined }
  | { readonly ok: false; readonly kind: 'deleted' };

export type DeleteOutcome = { ok: true } | { ok: false; kind: 'wrong_expected_version'; current: bigint | undefined } | { ok: false; kind: 'deleted' };

const POSITION_BASE = 4096n;
const POSITION_STEP = 131n;
/** Prepare ≠ commit on purpose, so a swapped mapping shows. */
const PREPARE_OFFSET = 17n;

/** `created` as the client expects it: .NET ticks since the Unix epoch, as a string. */
const ticksNow = (): string => (BigInt(Date.now()) * 10_000n).toString();

export class Store {
  readonly log: Stored[] = [];
  private readonly streams = new Map<string, StreamState>();
  private readonly listeners = new Set<() => void>();

  stream(name: string): StreamState | undefined {
    return this.streams.get(name);
  }

  onAppend(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Current revision as the expected-version check sees it. */
  current(s: StreamState | undefined): bigint | undefined {
    return s === undefined || s.last < s.truncateBefore ? undefined : s.last;
  }

  satisfies(expected: Expected, current: bigint | undefined): boolean {
    switch (expected.kind) {
      case 'any':
        return true;
      case 'no_stream':
        return current === undefined;
      case 'stream_exists':
        return current !== undefined;
      case 'revision':
        return current === expected.revision;
    }
  }

  append(name: string, expected: Expected, proposed: ReadonlyArray<Proposed>): AppendOutcome {
    const s = this.streams.get(name);
    if (s?.tombstoned) return { ok: false, kind: 'deleted' };
    const current = this.current(s);
    const replay = s ? this.idempotentReplay(s, expected, proposed) : undefined;
    if (replay) return replay;
    if (!this.satisfies(expected, current)) return { ok: false, kind: 'wrong_expected_version', current };
    return this.write(name, proposed);
  }

  /** The same events (by id) already written where this append would put them: answer success, write nothing. */
  private idempotentReplay(s: StreamState, expected: Expected, proposed: ReadonlyArray<Proposed>): AppendOutcome | undefined {
    const first = proposed[0];
    if (!first) return undefined;
    let start: number;
    if (expected.kind === 'revision') start = Number(expected.revision + 1n - (s.events[0]?.revision ?? 0n));
    else if (expected.kind === 'no_stream') start = 0;
    else start = s.events.findIndex((e) => e.id === first.id);
    if (start < 0 || start + proposed.length > s.events.length) return undefined;
    for (let k = 0; k < proposed.length; k++) if (s.events[start + k]?.id !== proposed[k]?.id) return undefined;
    const last = s.events[start + proposed.length - 1]!;
    return { ok: true, current: last.revision, commit: last.commit, prepare: last.prepare };
  }

  /** Appends bypassing every check (also what `inject` uses). */
  write(name: string, proposed: ReadonlyArray<Proposed>): AppendOutcome {
    let s = this.streams.get(name);
    if (!s) {
      s = { events: [], last: -1n, truncateBefore: 0n, tombstoned: false };
      this.streams.set(name, s);
    }
    let last: Stored | undefined;
    for (const p of proposed) {
      const commit = POSITION_BASE + BigInt(this.log.length) * POSITION_STEP;
      s.last += 1n;
      last = { ...p, stream: name, revision: s.last, created: ticksNow(), commit, prepare: commit - PREPARE_OFFSET };
      s.events.push(last);
      this.log.push(last);
    }
    for (const f of [...this.listeners]) f();
    return { ok: true, current: s.last, commit: last?.commit ?? -1n, prepare: last?.prepare ?? -1n };
  }

  /** Soft delete or tombstone. */
  delete(name: string, expected: Expected, tombstone: boolean): DeleteOutcome {
    let s = this.streams.get(name);
    if (s?.tombstoned) return { ok: false, kind: 'deleted' };
    const current = this.current(s);
    if (!this.satisfies(expected, current)) return { ok: false, kind: 'wrong_expected_version', current };
    if (!s) {
      s = { events: [], last: -1n, truncateBefore: 0n, tombstoned: false };
      this.streams.set(name, s);
    }
    if (tombstone) s.tombstoned = true;
    else s.truncateBefore = s.last + 1n;
    return { ok: true };
  }

  visible(s: StreamState): Stored[] {
    return s.events.filter((e) => e.revision >= s.truncateBefore);
  }
}
