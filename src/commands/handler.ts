/**
 * The one command handler (after emmett's `handleCommand` with
 * `retry.onVersionConflict`): load the aggregates a command reads — every
 * event decoded, its hash link and revision checked — decide, seal the decided
 * events into the target stream's hash chain, append with the revision that was
 * read, and on a `VersionConflict` (only) load again and decide again, a bounded
 * number of times. The new state is the loaded state evolved by the appended
 * events — no reload — so a multi-step workflow (init, identity change) passes
 * it to its next step and reads the store once per conflict, not once per step.
 */
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import {
  checkLink,
  type CommandContext,
  type CorruptEvent,
  decodeRecorded,
  type Digest,
  type EventMetadata,
  type EventSigner,
  GENESIS,
  type InvalidEvent,
  sealEvents,
  type StoredEvent,
} from '../domain/envelope';
import type { LedgerEvent } from '../domain/events';
import type { EventData, EventStore, StoreError } from '../ports/event-store';
import type { HeadStore, LocalStateError } from '../ports/heads';
import type { Pause } from '../ports/pause';

export type LoadError = StoreError | CorruptEvent;
export type AppendError = StoreError | InvalidEvent;

/** Racing writers kept changing the stream: the handler gave up after `attempts` conflicts on it. */
export interface TooManyConflicts {
  readonly _tag: 'TooManyConflicts';
  readonly stream: string;
  readonly attempts: number;
}

/**
 * The store ends earlier than this instance saw it, or differs at a revision it relied on: someone
 * removed or rewrote events (or restored the store from a backup). Key decisions stop here.
 */
export interface LedgerRolledBack {
  readonly _tag: 'LedgerRolledBack';
  readonly stream: string;
  readonly remembered: { readonly revision: string; readonly hash: string };
  /** What the store shows now: its last revision, and the hash at the remembered revision (null: that revision is gone). */
  readonly found: { readonly revision: string | 'no_stream'; readonly hashAtRemembered: string | null };
}

/** The store is not the ledger this instance belongs to: it was replaced, or re-created after it was lost or emptied. */
export interface LedgerReplaced {
  readonly _tag: 'LedgerReplaced';
  readonly endpoint: string;
  readonly remembered: string;
  readonly found: string;
}

export type HandlerError = LoadError | AppendError | TooManyConflicts | LedgerRolledBack | LedgerReplaced | LocalStateError;

/** Where an instance remembers the identity of its ledger, among its remembered heads (revision 0, hash = the identity). */
export const LEDGER_IDENTITY = '$ledger-identity';

/** Deps whose store was found to be this instance's ledger: a workflow of several steps checks it once. */
const sameLedger = new WeakSet<HandlerDeps>();

/** The store is the ledger this instance belongs to (remembered on first use, under the local-state MAC). */
const checkLedgerIdentity = (deps: HandlerDeps): E.Either<LedgerReplaced | LocalStateError, void> => {
  const identity = deps.store.identity;
  if (!deps.heads || !identity || sameLedger.has(deps)) return E.right(undefined);
  const checked = rememberOrCompare(deps.heads, deps.store.endpoint, identity);
  if (E.isRight(checked)) sameLedger.add(deps);
  return checked;
};

const rememberOrCompare = (heads: HeadStore, endpoint: string, identity: string): E.Either<LedgerReplaced | LocalStateError, void> => {
  const remembered = heads.load(LEDGER_IDENTITY);
  if (E.isLeft(remembered)) return remembered;
  if (remembered.right === undefined) return heads.save(LEDGER_IDENTITY, { revision: 0n, hash: identity });
  return remembered.right.hash === identity
    ? E.right(undefined)
    : E.left({ _tag: 'LedgerReplaced', endpoint, remembered: remembered.right.hash, found: identity });
};

/** An aggregate's stream and how to fold it: the decider's `evolve` and `initialState`, and which events belong. */
export interface Aggregate<S, Ev extends LedgerEvent> {
  readonly stream: string;
  readonly initialState: S;
  readonly evolve: (state: S, event: Ev) => S;
  readonly accepts: (event: LedgerEvent) => event is Ev;
}

export interface Loaded<S> {
  readonly stream: string;
  readonly state: S;
  readonly revision: bigint | 'no_stream';
  readonly lastHash: string;
  /** The events of the stream: those this load read, then those the handler appended after it. */
  readonly events: ReadonlyArray<StoredEvent>;
}

export interface HandlerDeps {
  readonly store: EventStore;
  readonly ctx: CommandContext;
  /** The hash-chain digest (SHA-256 hex, src/infra/sha256.ts). */
  readonly digest: Digest;
  /** How many version conflicts to absorb (reload and decide again) before giving up. */
  readonly maxConflicts?: number;
  readonly pause?: Pause;
  /** The heads of the streams this instance relied on (rollback detection); absent: not checked (no local secret). */
  readonly heads?: HeadStore;
}

const PAGE = 1000;

/**
 * Rebuilds an aggregate from its whole stream. Every event is decoded, belongs
 * to this kind of stream, follows the previous revision and links to the
 * previous event's hash; anything else is a `CorruptEvent` naming stream and
 * revision (`tampered` when the content or the chain was altered).
 */
export const loadAggregate =
  <S, Ev extends LedgerEvent>(
    store: EventStore,
    agg: Aggregate<S, Ev>,
    digest: Digest,
    /** A load of the same stream to continue from: only the events after it are read (a long-running reader catching up). */
    after?: Loaded<S>,
  ): TE.TaskEither<LoadError, Loaded<S>> =>
  async () => {
    let state = after?.state ?? agg.initialState;
    let revision: bigint | 'no_stream' = after?.revision ?? 'no_stream';
    let lastHash = after?.lastHash ?? GENESIS;
    const events: StoredEvent[] = after ? [...after.events] : [];
    for (let from = revision === 'no_stream' ? 0n : revision + 1n; ; from += BigInt(PAGE)) {
      const page = await store.readStream(agg.stream, { fromRevision: from, maxCount: PAGE })();
      if (E.isLeft(page)) return page;
      for (const r of page.right) {
        const corrupt = (problem: string, tampered: boolean): E.Either<CorruptEvent, never> =>
          E.left({
            _tag: 'CorruptEvent',
            stream: agg.stream,
            revision: r.revision,
            eventType: r.type,
            problem,
            ...(tampered ? { tampered: true as const } : {}),
          });
        const expected: bigint = revision === 'no_stream' ? 0n : revision + 1n;
        if (r.revision !== expected) return corrupt(`revision ${expected} is missing (the stream jumps to ${r.revision}: an event was removed)`, true);
        const decoded = decodeRecorded(r);
        if (E.isLeft(decoded)) return decoded;
        const stored = decoded.right;
        if (!agg.accepts(stored.event)) return corrupt(`a ${r.type} event does not belong in this stream`, false);
        const link = checkLink(
          { stream: agg.stream, revision: r.revision, type: r.type, data: r.data, metadata: stored.metadata, text: r.text },
          lastHash,
          digest,
        );
        if (link === 'hash-mismatch') return corrupt('its content does not match its hash (the stored event was altered)', true);
        if (link === 'chain-broken') return corrupt('its previous-hash link is broken (an event before it was altered, removed or reordered)', true);
        state = agg.evolve(state, stored.event);
        revision = r.revision;
        lastHash = stored.metadata.hash;
        events.push(stored);
      }
      if (page.right.length < PAGE) break;
    }
    return E.right({ stream: agg.stream, state, revision, lastHash, events });
  };

// biome-ignore lint/suspicious/noExplicitAny: the states of a map of aggregates differ; each is typed through StateOf
export type Aggregates = Readonly<Record<string, Aggregate<any, any>>>;
type StateOf<A> = A extends Aggregate<infer S, infer _Ev> ? S : never;
export type LoadedAll<A extends Aggregates> = { readonly [K in keyof A]: Loaded<StateOf<A[K]>> };

/** What a decision does: append events to one of the loaded streams (or nothing), and what it returns. */
export interface Decision<A extends Aggregates, R> {
  /** `signer`: the acting member signs the appended events (src/domain/signatures.ts); absent: unsigned. */
  readonly append?: {
    readonly to: keyof A & string;
    readonly events: ReadonlyArray<LedgerEvent>;
    /** One signer for every event, or one per event (an identity change signs with the old key, then the new). */
    readonly signer?: EventSigner | ReadonlyArray<EventSigner | undefined> | undefined;
  };
  readonly result: R;
}

export interface Handled<A extends Aggregates, R> {
  /** The aggregates after the append: the loaded states evolved by the appended events. */
  readonly loaded: LoadedAll<A>;
  readonly appended: ReadonlyArray<LedgerEvent['type']>;
  readonly result: R;
  /** Stream loads this call made (one per aggregate per attempt; 0 when it started from states in memory and met no conflict). */
  readonly loads: number;
}

export const loadAll = async <A extends Aggregates>(store: EventStore, aggregates: A, digest: Digest): Promise<E.Either<LoadError, LoadedAll<A>>> => {
  const out: Record<string, Loaded<unknown>> = {};
  for (const [key, agg] of Object.entries(aggregates)) {
    const l = await loadAggregate(store, agg, digest)();
    if (E.isLeft(l)) return l;
    out[key] = l.right;
  }
  return E.right(out as LoadedAll<A>);
};

/** The loaded stream still holds what this instance saw of it: its remembered head is there, unchanged. */
const checkHead = (heads: HeadStore, l: Loaded<unknown>): E.Either<LedgerRolledBack | LocalStateError, void> => {
  const remembered = heads.load(l.stream);
  if (E.isLeft(remembered)) return remembered;
  const r = remembered.right;
  if (!r || r.revision < 0n) return E.right(undefined); // nothing relied on (or an accepted rollback to an empty stream)
  const at = l.events.find((e) => e.revision === r.revision);
  if (at && at.metadata.hash === r.hash) return E.right(undefined);
  return E.left({
    _tag: 'LedgerRolledBack',
    stream: l.stream,
    remembered: { revision: r.revision.toString(), hash: r.hash },
    found: { revision: l.revision === 'no_stream' ? 'no_stream' : l.revision.toString(), hashAtRemembered: at?.metadata.hash ?? null },
  });
};

const remember = (heads: HeadStore | undefined, loaded: ReadonlyArray<Loaded<unknown>>): E.Either<LocalStateError, void> => {
  if (!heads) return E.right(undefined);
  for (const l of loaded) {
    if (l.revision === 'no_stream') continue;
    const saved = heads.save(l.stream, { revision: l.revision, hash: l.lastHash });
    if (E.isLeft(saved)) return saved;
  }
  return E.right(undefined);
};

/** Seals events into the target's chain, each with its signer (events are sealed one by one when signers differ). */
const sealAll = (
  target: Loaded<unknown>,
  events: ReadonlyArray<LedgerEvent>,
  deps: HandlerDeps,
  signer: EventSigner | ReadonlyArray<EventSigner | undefined> | undefined,
): E.Either<InvalidEvent, ReadonlyArray<EventData>> => {
  if (!Array.isArray(signer))
    return sealEvents(target.stream, { revision: target.revision, hash: target.lastHash }, events, deps.ctx, deps.digest, signer as EventSigner | undefined);
  const out: EventData[] = [];
  let last = { revision: target.revision, hash: target.lastHash };
  for (const [i, ev] of events.entries()) {
    const one = sealEvents(target.stream, last, [ev], deps.ctx, deps.digest, (signer as ReadonlyArray<EventSigner | undefined>)[i]);
    if (E.isLeft(one)) return one;
    out.push(...one.right);
    last = { revision: last.revision === 'no_stream' ? 0n : last.revision + 1n, hash: (one.right[0]!.metadata as { hash: string }).hash };
  }
  return E.right(out);
};

export const handleCommand = async <A extends Aggregates, Err, R>(
  deps: HandlerDeps,
  aggregates: A,
  decide: (loaded: LoadedAll<A>) => Promise<E.Either<Err, Decision<A, R>>>,
  /** States already in memory (from a previous step of the same workflow): the first attempt decides on them without loading. */
  from?: LoadedAll<A>,
): Promise<E.Either<Err | HandlerError, Handled<A, R>>> => {
  const maxConflicts = deps.maxConflicts ?? 20;
  const same = checkLedgerIdentity(deps);
  if (E.isLeft(same)) return same;
  let loads = 0;
  let loaded = from;
  let fresh = false; // loaded (and head-checked) by this call, not handed in from a previous step
  for (let conflicts = 0; ; ) {
    if (!loaded) {
      const l = await loadAll(deps.store, aggregates, deps.digest);
      if (E.isLeft(l)) return l;
      loads += Object.keys(aggregates).length;
      if (deps.heads)
        for (const one of Object.values(l.right) as ReadonlyArray<Loaded<unknown>>) {
          const checked = checkHead(deps.heads, one);
          if (E.isLeft(checked)) return checked;
        }
      loaded = l.right;
      fresh = true;
    }
    const decided = await decide(loaded);
    if (E.isLeft(decided)) return decided;
    const { append, result } = decided.right;
    if (!append || append.events.length === 0) {
      // States handed in from a previous step were remembered by the call that loaded or appended them.
      const kept = fresh ? remember(deps.heads, Object.values(loaded)) : E.right(undefined);
      return E.isLeft(kept) ? kept : E.right({ loaded, appended: [], result, loads });
    }
    const target: Loaded<unknown> = loaded[append.to];
    const sealed = sealAll(target, append.events, deps, append.signer);
    if (E.isLeft(sealed)) return sealed;
    await deps.pause?.(`${deps.ctx.command}:before-append:${append.events[0]!.type}`);
    const written = await deps.store.append(target.stream, sealed.right, target.revision === 'no_stream' ? 'no_stream' : target.revision)();
    if (E.isLeft(written)) {
      if (written.left._tag !== 'VersionConflict') return written;
      if (++conflicts > maxConflicts) return E.left({ _tag: 'TooManyConflicts', stream: written.left.stream, attempts: conflicts });
      loaded = undefined;
      continue;
    }
    await deps.pause?.(`${deps.ctx.command}:after-append:${append.events[0]!.type}`);
    const agg = aggregates[append.to]!;
    const last = sealed.right[sealed.right.length - 1]!;
    const first = target.revision === 'no_stream' ? 0n : target.revision + 1n;
    const appended: StoredEvent[] = sealed.right.map((d, i) => ({
      stream: target.stream,
      revision: first + BigInt(i),
      position: written.right.position, // the last one's: appended events are read back for their content, not their place
      event: append.events[i]!,
      metadata: d.metadata as EventMetadata,
    }));
    const next: Loaded<unknown> = {
      ...target,
      events: [...target.events, ...appended],
      state: append.events.reduce((s, e) => agg.evolve(s, e), target.state),
      revision: written.right.nextExpectedRevision,
      lastHash: (last.metadata as { hash: string }).hash,
    };
    const after = { ...loaded, [append.to]: next } as LoadedAll<A>;
    const kept = remember(deps.heads, fresh ? Object.values(after) : [next]);
    return E.isLeft(kept) ? kept : E.right({ loaded: after, appended: append.events.map((e) => e.type), result, loads });
  }
};
