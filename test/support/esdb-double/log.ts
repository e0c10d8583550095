/**
 * The double's in-memory event log and its semantics, modelled on the server's own code (KurrentDB / EventStoreDB,
 * `IndexWriter.CheckCommit`, `IndexReader.ReadStreamEvents*`, `StorageWriterService` soft delete and
 * soft undelete; see ./index.ts for what was read): one global `$all` log plus per-stream state; stream
 * metadata lives where the server keeps it, in the last event of the `$$<stream>` metastream, and is applied on
 * every read. Knows nothing of gRPC.
 *
 * - Expected revisions (the server's `CheckCommit`): a tombstoned stream is `deleted`; `stream_exists` on a
 *   soft-deleted stream is `deleted`, and passes on a stream with metadata but no event; `any` / `stream_exists`
 *   are idempotent only while the first event id is in a bounded cache of recent event ids (partly matching:
 *   wrong expected version); an exact revision (and `no_stream`, which is -1) below the current one is
 *   idempotent when the ids at the following revisions match, from the index (unbounded); `no_stream` on a
 *   soft-deleted stream writes (re-creates it).
 * - Soft delete REPLACES the stream's metadata by `{"$tb": 9223372036854775807}` (its ACL is gone); the stream
 *   reads as missing; the next write to it sets `$tb` to its first new revision ("soft undelete"), revisions
 *   continuing. A tombstone writes a `$streamDeleted` record at revision 2^63-1: reads and writes answer
 *   `stream-deleted` for good.
 * - Reads start at max(0, `$tb`, last - `$maxCount` + 1) and skip events older than `$maxAge` (seconds); a stream
 *   whose events are all below that reads as empty (not missing). `$all` reads are not filtered by metadata.
 */
import { randomUUID } from 'node:crypto';

export interface Stored {
  readonly stream: string;
  readonly revision: bigint;
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
  /** .NET ticks since the Unix epoch, as the client expects them. */
  readonly created: string;
  readonly createdMs: number;
  readonly commit: bigint;
  readonly prepare: bigint;
}

export interface StreamState {
  readonly events: Stored[];
  /** Revision of the last event ever written, -1n if none; DELETED_STREAM once tombstoned. */
  last: bigint;
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

export type DeleteOutcome =
  | { ok: true; commit: bigint; prepare: bigint }
  | { ok: false; kind: 'wrong_expected_version'; current: bigint | undefined }
  | { ok: false; kind: 'deleted' };

/** The parts of stream metadata the server itself acts on. */
export interface StreamMetadata {
  readonly truncateBefore?: bigint;
  readonly maxCount?: number;
  readonly maxAgeSeconds?: number;
  readonly acl?: Readonly<Record<string, ReadonlyArray<string>>>;
  readonly raw: Readonly<Record<string, unknown>>;
}

export type Readable = { readonly kind: 'deleted' } | { readonly kind: 'not_found' } | { readonly kind: 'ok'; readonly events: ReadonlyArray<Stored> };

/** `EventNumber.DeletedStream` (long.MaxValue): a tombstone's revision, and `$tb` of a soft-deleted stream. */
export const DELETED_STREAM = 9_223_372_036_854_775_807n;

const POSITION_BASE = 4096n;
const POSITION_STEP = 131n;
/** Prepare ≠ commit on purpose, so a swapped mapping shows. */
const PREPARE_OFFSET = 17n;

export const metastreamOf = (name: string): string => `$$${name}`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `$tb` as written: JSON numbers beyond 2^53 lose precision in JSON.parse, so it is read from the text. */
const truncateBeforeOf = (text: string): bigint | undefined => {
  const m = /"\$tb"\s*:\s*(-?\d+)/.exec(text);
  return m?.[1] === undefined ? undefined : BigInt(m[1]);
};

const rolesOf = (v: unknown): ReadonlyArray<string> | undefined =>
  typeof v === 'string' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;

export const parseMetadata = (data: Uint8Array): StreamMetadata => {
  const text = decoder.decode(data);
  let raw: Record<string, unknown>;
  try {
    const j: unknown = JSON.parse(text);
    if (typeof j !== 'object' || j === null || Array.isArray(j)) return { raw: {} };
    raw = j as Record<string, unknown>;
  } catch {
    return { raw: {} }; // the server ignores metadata it cannot parse
  }
  const tb = truncateBeforeOf(text);
  const acl = raw['$acl'];
  const aclOut: Record<string, ReadonlyArray<string>> = {};
  if (typeof acl === 'object' && acl !== null)
    for (const k of ['$r', '$w', '$d', '$mr', '$mw']) {
      const roles = rolesOf((acl as Record<string, unknown>)[k]);
      if (roles) aclOut[k] = roles;
    }
  return {
    raw,
    ...(tb !== undefined ? { truncateBefore: tb } : {}),
    ...(typeof raw['$maxCount'] === 'number' ? { maxCount: raw['$maxCount'] } : {}),
    ...(typeof raw['$maxAge'] === 'number' ? { maxAgeSeconds: raw['$maxAge'] } : {}),
    ...(typeof acl === 'object' && acl !== null ? { acl: aclOut } : {}),
  };
};

export interface StoreOptions {
  /** How many recent event ids an `any` / `stream_exists` append is checked against (the server bounds this cache by memory). */
  readonly idempotencyCacheSize?: number;
  /** The clock, in ms (for `$maxAge`). */
  readonly now?: () => number;
  /** `$by_category` and `$by_event_type` running: every event of a user stream linked (`$>`, data `revision@stream`) from `$ce-` and `$et-`. */
  readonly systemProjections?: boolean;
}

export class Store {
  readonly log: Stored[] = [];
  private readonly streams = new Map<string, StreamState>();
  private readonly listeners = new Set<() => void>();
  /** Recent event ids → where they were written (insertion order = age). */
  private readonly recent = new Map<string, { stream: string; revision: bigint }>();
  private readonly cacheSize: number;
  private readonly now: () => number;
  private readonly links: boolean;

  constructor(options: StoreOptions = {}) {
    this.cacheSize = Math.max(1, options.idempotencyCacheSize ?? 100_000);
    this.now = options.now ?? Date.now;
    this.links = options.systemProjections === true;
  }

  stream(name: string): StreamState | undefined {
    return this.streams.get(name);
  }

  onAppend(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** The metadata the server acts on: the last event of the metastream (none: empty). */
  metadata(name: string): StreamMetadata {
    const meta = this.streams.get(metastreamOf(name));
    const last = meta?.events[meta.events.length - 1];
    return last ? parseMetadata(last.data) : { raw: {} };
  }

  isSoftDeleted(name: string): boolean {
    return this.metadata(name).truncateBefore === DELETED_STREAM;
  }

  /** The server's `curVersion`: the last event number (-1: none), whatever the metadata says. */
  private lastNumber(name: string): bigint {
    return this.streams.get(name)?.last ?? -1n;
  }

  /** The server's `CheckCommit`. */
  private check(
    name: string,
    expected: Expected,
    ids: ReadonlyArray<string>,
  ): { decision: 'ok' | 'idempotent' | 'wrong' | 'deleted'; current: bigint; softDeleted: boolean; last?: Stored } {
    const s = this.streams.get(name);
    const cur = this.lastNumber(name);
    const softDeleted = this.isSoftDeleted(name);
    if (s?.tombstoned) return { decision: 'deleted', current: cur, softDeleted: false };
    if (expected.kind === 'stream_exists') {
      if (softDeleted) return { decision: 'deleted', current: cur, softDeleted: true };
      if (cur < 0n && this.lastNumber(metastreamOf(name)) < 0n) return { decision: 'wrong', current: cur, softDeleted };
    }
    if (expected.kind === 'any' || expected.kind === 'stream_exists') {
      let last: Stored | undefined;
      for (const [i, id] of ids.entries()) {
        const hit = this.recent.get(id);
        if (!hit || hit.stream !== name) return { decision: i === 0 ? 'ok' : 'wrong', current: cur, softDeleted: i === 0 && softDeleted };
        last = s ? eventAt(s, hit.revision) : undefined;
      }
      return ids.length === 0
        ? { decision: 'ok', current: cur, softDeleted }
        : { decision: 'idempotent', current: cur, softDeleted: false, ...(last ? { last } : {}) };
    }
    const e = expected.kind === 'no_stream' ? -1n : expected.revision;
    if (e < cur) {
      let n = e;
      let last: Stored | undefined;
      for (const id of ids) {
        n += 1n;
        const at = s ? eventAt(s, n) : undefined;
        if (at?.id === id) {
          last = at;
          continue;
        }
        if (n !== e + 1n) return { decision: 'wrong', current: cur, softDeleted: false };
        if (expected.kind === 'no_stream' && softDeleted) return { decision: 'ok', current: cur, softDeleted: true };
        return { decision: 'wrong', current: cur, softDeleted: false };
      }
      return n === e
        ? { decision: 'wrong', current: cur, softDeleted: false }
        : { decision: 'idempotent', current: cur, softDeleted: false, ...(last ? { last } : {}) };
    }
    if (e > cur) return { decision: 'wrong', current: cur, softDeleted };
    return { decision: 'ok', current: cur, softDeleted };
  }

  append(name: string, expected: Expected, proposed: ReadonlyArray<Proposed>): AppendOutcome {
    const c = this.check(
      name,
      expected,
      proposed.map((p) => p.id),
    );
    switch (c.decision) {
      case 'deleted':
        return { ok: false, kind: 'deleted' };
      case 'wrong':
        return { ok: false, kind: 'wrong_expected_version', current: c.current < 0n ? undefined : c.current };
      case 'idempotent': {
        const last = c.last;
        return last
          ? { ok: true, current: last.revision, commit: last.commit, prepare: last.prepare }
          : { ok: false, kind: 'wrong_expected_version', current: c.current };
      }
      case 'ok': {
        const out = this.write(name, proposed);
        if (c.softDeleted) this.softUndelete(name, c.current + 1n);
        return out;
      }
    }
  }

  /** The server's soft undelete: the metadata's `$tb` becomes the first new revision (the rest of it kept). */
  private softUndelete(name: string, from: bigint): void {
    const meta = this.metadata(name).raw;
    const text = JSON.stringify({ ...meta, $tb: 0 }).replace('"$tb":0', `"$tb":${from}`);
    this.writeMetadataText(name, text);
  }

  private writeMetadataText(name: string, json: string): Stored | undefined {
    this.write(metastreamOf(name), [
      { id: randomUUID(), type: '$metadata', contentType: 'application/json', data: encoder.encode(json), customMetadata: new Uint8Array() },
    ]);
    return this.log[this.log.length - 1];
  }

  /** Sets a stream's metadata as a client's `setStreamMetadata` would (bypassing ACLs). */
  setMetadata(name: string, metadata: Record<string, unknown>): void {
    this.writeMetadataText(name, JSON.stringify(metadata));
  }

  /** Appends bypassing every check (also what `inject` uses). */
  write(name: string, proposed: ReadonlyArray<Proposed>, at?: bigint): AppendOutcome & { ok: true } {
    let s = this.streams.get(name);
    if (!s) {
      s = { events: [], last: -1n, tombstoned: false };
      this.streams.set(name, s);
    }
    let last: Stored | undefined;
    for (const p of proposed) {
      const commit = POSITION_BASE + BigInt(this.log.length) * POSITION_STEP;
      s.last = at ?? s.last + 1n;
      const now = this.now();
      last = { ...p, stream: name, revision: s.last, created: (BigInt(now) * 10_000n).toString(), createdMs: now, commit, prepare: commit - PREPARE_OFFSET };
      s.events.push(last);
      this.log.push(last);
      this.recent.set(p.id, { stream: name, revision: s.last });
      if (this.recent.size > this.cacheSize) this.recent.delete(this.recent.keys().next().value as string);
    }
    // The system projections link each event after the write (they run behind the writer).
    if (this.links && !name.startsWith('$'))
      for (const e of s.events.slice(-proposed.length)) {
        const link = (to: string): void => {
          this.write(to, [
            {
              id: randomUUID(),
              type: '$>',
              contentType: 'application/octet-stream',
              data: encoder.encode(`${e.revision}@${name}`),
              customMetadata: new Uint8Array(),
            },
          ]);
        };
        link(`$ce-${name.split('-')[0]}`);
        link(`$et-${e.type}`);
      }
    for (const f of [...this.listeners]) f();
    return { ok: true, current: s.last, commit: last?.commit ?? -1n, prepare: last?.prepare ?? -1n };
  }

  /** `Streams.Delete` (soft) or `Streams.Tombstone`, as the server's writer does them. */
  delete(name: string, expected: Expected, tombstone: boolean): DeleteOutcome {
    const c = this.check(name, expected, [randomUUID()]);
    if (c.decision === 'deleted') return { ok: false, kind: 'deleted' };
    if (c.decision !== 'ok') return { ok: false, kind: 'wrong_expected_version', current: c.current < 0n ? undefined : c.current };
    if (tombstone) {
      const written = this.write(
        name,
        [{ id: randomUUID(), type: '$streamDeleted', contentType: 'application/octet-stream', data: new Uint8Array(), customMetadata: new Uint8Array() }],
        DELETED_STREAM,
      );
      const s = this.streams.get(name)!;
      s.tombstoned = true;
      return { ok: true, commit: written.commit, prepare: written.prepare };
    }
    if (this.lastNumber(name) < 0n && this.lastNumber(metastreamOf(name)) < 0n) return { ok: false, kind: 'wrong_expected_version', current: undefined };
    const meta = this.writeMetadataText(name, `{"$tb":${DELETED_STREAM}}`)!;
    return { ok: true, commit: meta.commit, prepare: meta.prepare };
  }

  /** What a read of the stream sees: deleted (tombstone), missing (no event, or soft-deleted), or its events from the lower bound on. */
  readable(name: string): Readable {
    const s = this.streams.get(name);
    if (s?.tombstoned) return { kind: 'deleted' };
    if (!s || s.last < 0n) return { kind: 'not_found' };
    const md = this.metadata(name);
    if (md.truncateBefore === DELETED_STREAM) return { kind: 'not_found' };
    let min = 0n;
    if (md.maxCount !== undefined) min = bigMax(min, s.last - BigInt(md.maxCount) + 1n);
    if (md.truncateBefore !== undefined) min = bigMax(min, md.truncateBefore);
    const oldest = md.maxAgeSeconds !== undefined ? this.now() - md.maxAgeSeconds * 1000 : undefined;
    return { kind: 'ok', events: s.events.filter((e) => e.revision >= min && (oldest === undefined || e.createdMs >= oldest)) };
  }
}

const bigMax = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** The event at a revision (events are kept in revision order; only a tombstone jumps). */
const eventAt = (s: StreamState, revision: bigint): Stored | undefined => {
  const guess = s.events[Number(revision)];
  return guess?.revision === revision ? guess : s.events.find((e) => e.revision === revision);
};
