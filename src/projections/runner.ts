/**
 * Runs a pure projection against the store with a durable checkpoint:
 * - `catchUp` loads the checkpoint, folds only the events after it (page by
 *   page, so memory stays bounded by the page and the view), saves, returns;
 * - `runLive` does the same from a catch-up-then-live subscription and keeps
 *   saving as events arrive, emitting the view after each one.
 *
 * Every event is checked before it is folded (ADR 0002): it must decode, its
 * revision must follow the previous one of its stream (0 for a stream not seen
 * yet), its content must match its hash and its `prevHash` must be the hash of
 * the event before it. A problem stops the runner with a `CorruptEvent`
 * naming its stream and revision (`tampered: true` for a hash, link or
 * revision problem); the checkpoint stays before it. The per-stream heads
 * (revision + hash; memory bounded by the number of streams) are saved with
 * the checkpoint, so a resumed run keeps checking links across runs.
 *
 * Before a checkpoint is trusted, the event at its position is read back from
 * the store: if it is gone or carries another hash or position, the ledger was
 * replaced (restored from a backup, another file) and the view is rebuilt from
 * the start; the result says so (`rebuilt`).
 *
 * The digest (SHA-256 hex) is injected: this layer does not import src/infra.
 */
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import { checkLink, type CorruptEvent, decodeRecorded, type Digest, GENESIS, type StoredEvent } from '../domain/envelope';
import { LEDGER_PREFIX } from '../domain/ids';
import type { Checkpoint, CheckpointError, CheckpointStore, CheckpointTip, StreamHead } from '../ports/checkpoints';
import { pagesOf } from '../commands/pages';
import { comparePositions, type EventStore, type Position, type RecordedEvent, START, type StoreError } from '../ports/event-store';

export interface Projection<S> {
  readonly name: string;
  /** Bump when the view's shape or meaning changes: older checkpoints are then rebuilt from the start. */
  readonly version: number;
  readonly initialState: S;
  readonly evolve: (state: S, event: StoredEvent) => S;
  /** A faster way to fold many events, with the same result as `evolve` one by one (a catch-up uses it). */
  // biome-ignore lint/suspicious/noExplicitAny: the working copy's type is the projection's own business
  readonly fold?: Fold<S, any>;
}

/**
 * A fold over a working copy that only the fold ever sees: `begin` makes it from a state, `apply` writes one
 * event into it, `end` hands out the state (after which the fold does not write into it again, unless it is
 * handed out at a save and the fold goes on: then only the fold still holds it, and the save has serialized it).
 */
export interface Fold<S, W> {
  readonly begin: (state: S) => W;
  readonly apply: (working: W, event: StoredEvent) => void;
  readonly end: (working: W) => S;
}

export type RunnerError = StoreError | CorruptEvent | CheckpointError;

/** Why a run discarded its checkpoint and replayed the ledger from the start. */
export type RebuildReason =
  /** The event at the checkpoint's position is gone or differs: the ledger was replaced or restored from a backup. */
  | 'ledger-replaced'
  /** The projection's version changed. */
  | 'version-changed'
  /** The checkpoint predates the hash-chain heads (or they are unreadable). */
  | 'no-heads';

export interface Rebuild {
  readonly reason: RebuildReason;
}

export interface ProjectionResult<S> {
  readonly state: S;
  readonly position: Position;
  /** Events folded in this run (0: the checkpoint was current). */
  readonly processed: number;
  /** Non-null when a checkpoint existed but was discarded: then `processed` counts the whole ledger. */
  readonly rebuilt: Rebuild | null;
}

/** A hash, link or revision problem: the ledger was altered (exit 4 at the CLI), as opposed to an undecodable event. */
export type TamperedEvent = CorruptEvent & { readonly tampered: true };

export const tamperedEvent = (r: Pick<RecordedEvent, 'streamName' | 'revision' | 'type'>, problem: string): TamperedEvent => ({
  _tag: 'CorruptEvent',
  stream: r.streamName,
  revision: r.revision,
  eventType: r.type,
  problem,
  tampered: true,
});

export const isTampered = (e: { readonly _tag: string }): e is TamperedEvent => e._tag === 'CorruptEvent' && (e as { tampered?: unknown }).tampered === true;

export const checkpointKey = (projection: { readonly name: string }, store: EventStore): string => `${projection.name}@${store.endpoint}`;

// ─── The hash chain, per stream ───────────────────────────────────────────

export interface Head {
  readonly revision: bigint;
  readonly hash: string;
}

const HASH_MISMATCH = 'its content does not match its hash: the stored event was altered';
const CHAIN_BROKEN = 'its previous-hash link does not match the event before it: an event was altered, removed or reordered';

/**
 * Decodes an event and checks it extends its stream's chain as known so far.
 * Does not record it: call `advance` once it is folded.
 */
export const checkEvent = (heads: ReadonlyMap<string, Head>, r: RecordedEvent, digest: Digest): E.Either<CorruptEvent, StoredEvent> => {
  const decoded = decodeRecorded(r);
  if (E.isLeft(decoded)) return decoded;
  const head = heads.get(r.streamName);
  const expected = head ? head.revision + 1n : 0n;
  if (r.revision > expected)
    return E.left(
      tamperedEvent(r, `revision ${expected}${r.revision > expected + 1n ? `..${r.revision - 1n}` : ''} is missing before it: an event was removed`),
    );
  if (r.revision < expected)
    return E.left(tamperedEvent(r, `it comes after revision ${head?.revision ?? -1n} of the same stream: an event was duplicated or reordered`));
  const link = checkLink(
    { stream: r.streamName, revision: r.revision, type: r.type, data: r.data, metadata: decoded.right.metadata, text: r.text, textDigest: r.textDigest },
    head?.hash ?? GENESIS,
    digest,
  );
  if (link === 'hash-mismatch') return E.left(tamperedEvent(r, HASH_MISMATCH));
  if (link === 'chain-broken') return E.left(tamperedEvent(r, CHAIN_BROKEN));
  return decoded;
};

const headsFromCheckpoint = (heads: Readonly<Record<string, StreamHead>>): Map<string, Head> =>
  new Map(Object.entries(heads).map(([stream, h]) => [stream, { revision: BigInt(h.revision), hash: h.hash }]));

const headsToCheckpoint = (heads: ReadonlyMap<string, Head>): Record<string, StreamHead> => {
  const out: Record<string, StreamHead> = {};
  for (const [stream, h] of heads) out[stream] = { revision: h.revision.toString(), hash: h.hash };
  return out;
};

/** The mutable progress of one run: view, position, chain heads, and the event at the position. */
export interface Progress<S> {
  state: S;
  position: Position;
  heads: Map<string, Head>;
  tip: CheckpointTip | null;
  /** The last event folded, when the tip has not been written out since (`tipOf` makes it the tip). */
  last?: StoredEvent;
}

/**
 * Position, chain head and tip follow an event folded elsewhere (by a projection's fold). Per event, only what
 * the chain check needs is kept up to date: the tip is made from the last event when a checkpoint needs it.
 */
export const track = <S>(p: Progress<S>, e: StoredEvent): void => {
  p.position = e.position;
  const head = p.heads.get(e.stream) as { revision: bigint; hash: string } | undefined;
  if (head) {
    head.revision = e.revision;
    head.hash = e.metadata.hash;
  } else p.heads.set(e.stream, { revision: e.revision, hash: e.metadata.hash });
  p.last = e;
};

const tipOf = <S>(p: Progress<S>): CheckpointTip | null => {
  if (p.last) {
    p.tip = { stream: p.last.stream, revision: p.last.revision.toString(), hash: p.last.metadata.hash };
    p.last = undefined;
  }
  return p.tip;
};

export const advance = <S>(p: Progress<S>, projection: Projection<S>, e: StoredEvent): void => {
  p.state = projection.evolve(p.state, e);
  track(p, e);
};

export const toCheckpoint = <S>(projection: Projection<S>, p: Progress<S>): Checkpoint => ({
  version: projection.version,
  position: p.position,
  state: p.state,
  heads: headsToCheckpoint(p.heads),
  tip: tipOf(p),
});

// ─── Where a run starts ───────────────────────────────────────────────────

const hashIn = (metadata: unknown): string | undefined =>
  typeof metadata === 'object' && metadata !== null && typeof (metadata as { hash?: unknown }).hash === 'string'
    ? (metadata as { hash: string }).hash
    : undefined;

export const startFrom = async <S>(
  projection: Projection<S>,
  store: EventStore,
  checkpoints: CheckpointStore,
  digest: Digest,
): Promise<E.Either<RunnerError, Progress<S> & { rebuilt: Rebuild | null }>> => {
  const fresh = (rebuilt: Rebuild | null) => E.right({ state: projection.initialState, position: START, heads: new Map<string, Head>(), tip: null, rebuilt });
  const loaded = checkpoints.load(checkpointKey(projection, store));
  if (E.isLeft(loaded)) return loaded;
  const cp = loaded.right;
  if (!cp) return fresh(null);
  if (cp.version !== projection.version) return fresh({ reason: 'version-changed' });
  if (cp.heads === null) return fresh({ reason: 'no-heads' });
  if (comparePositions(cp.position, START) === 0) return fresh(null); // nothing folded yet: nothing to trust or lose
  if (cp.tip === null) return fresh({ reason: 'no-heads' });
  // Is the ledger still the one the view was built from? The event at the checkpoint must still be there, the same.
  const revision = BigInt(cp.tip.revision);
  const read = await store.readStream(cp.tip.stream, { fromRevision: revision, maxCount: 1 })();
  if (E.isLeft(read)) return read;
  const at = read.right[0];
  if (at === undefined || at.revision !== revision || comparePositions(at.position, cp.position) !== 0 || hashIn(at.metadata) !== cp.tip.hash)
    return fresh({ reason: 'ledger-replaced' });
  // Same hash: its content must still match it (an edit in place of the very event the checkpoint stands on).
  const decoded = decodeRecorded(at);
  if (E.isLeft(decoded)) return decoded;
  if (
    checkLink(
      { stream: at.streamName, revision: at.revision, type: at.type, data: at.data, metadata: decoded.right.metadata },
      decoded.right.metadata.prevHash,
      digest,
    ) !== 'ok'
  )
    return E.left(tamperedEvent(at, HASH_MISMATCH));
  return E.right({ state: cp.state as S, position: cp.position, heads: headsFromCheckpoint(cp.heads), tip: cp.tip, rebuilt: null });
};

// ─── Catch-up ─────────────────────────────────────────────────────────────

export interface CatchUpOptions {
  /** The hash chain's digest (SHA-256 hex: `sha256Hex` from src/infra/sha256.ts). */
  readonly digest: Digest;
  readonly pageSize?: number;
  readonly onProgress?: (processed: number) => void;
  /** Save the checkpoint at a page boundary when this long has passed since the last save (default 1,000 ms; 0: every page). */
  readonly saveEveryMs?: number;
}

const now = (): number => Number(process.hrtime.bigint() / 1_000_000n);

export const catchUp =
  <S>(store: EventStore, projection: Projection<S>, checkpoints: CheckpointStore, options: CatchUpOptions): TE.TaskEither<RunnerError, ProjectionResult<S>> =>
  async () => {
    const started = await startFrom(projection, store, checkpoints, options.digest);
    if (E.isLeft(started)) return started;
    const { rebuilt, ...progress } = started.right;
    const p: Progress<S> = progress;
    let processed = 0;
    let unsaved = 0;
    let lastSave = now();
    let lastSaveCost = 0;
    // Small pages keep a fleet's catch-up in little memory: a page's events are garbage once folded, and
    // V8 grows the heap by what outlives a scavenge (1,000-event pages: about 100 MB more at peak on 1M events).
    const pageSize = options.pageSize ?? 250;
    // One working copy for the whole run when the projection has a fold; else evolve event by event.
    const fold = projection.fold;
    const working = fold?.begin(p.state);
    const settle = (): void => {
      if (fold) p.state = fold.end(working);
    };
    const save = (): E.Either<CheckpointError, void> => {
      settle();
      unsaved = 0;
      return checkpoints.save(checkpointKey(projection, store), toCheckpoint(projection, p));
    };
    // A long catch-up reads (and hashes) ahead on another thread when the store can (see pagesOf).
    const pages = pagesOf(store, { after: p.position, pageSize, streamPrefixes: [LEDGER_PREFIX] });
    try {
      return await run();
    } finally {
      await pages.close();
    }
    async function run(): Promise<E.Either<RunnerError, ProjectionResult<S>>> {
      for (;;) {
        const page = await pages.next();
        if (E.isLeft(page)) return page;
        for (const r of page.right) {
          const checked = checkEvent(p.heads, r, options.digest);
          if (E.isLeft(checked)) {
            const saved = unsaved > 0 ? save() : E.right(undefined);
            return E.isLeft(saved) ? saved : checked;
          }
          if (fold) {
            fold.apply(working, checked.right);
            track(p, checked.right);
          } else advance(p, projection, checked.right);
          processed++;
          unsaved++;
        }
        options.onProgress?.(processed);
        if (page.right.length < pageSize) break;
        // A long catch-up keeps its work at page boundaries, at most once a second and — since a save writes the
        // whole view — spending at most a twentieth of the time on saving: a kill loses little, a large fleet stays fast.
        const every = options.saveEveryMs ?? 1000;
        if (now() - lastSave >= (every === 0 ? 0 : Math.max(every, 20 * lastSaveCost))) {
          const t0 = now();
          const saved = save();
          if (E.isLeft(saved)) return saved;
          lastSave = now();
          lastSaveCost = lastSave - t0;
        }
      }
      // The reading thread is done: let its memory go before the last save, the run's largest allocation.
      await pages.close();
      // A discarded checkpoint is replaced even when the new ledger is empty, so the rebuild is reported once.
      if (unsaved > 0 || rebuilt !== null) {
        const saved = save();
        if (E.isLeft(saved)) return saved;
      }
      settle();
      return E.right({ state: p.state, position: p.position, processed, rebuilt });
    }
  };
