/**
 * What every command handler does with the store: load an aggregate's stream
 * (decoding each event and checking its hash link), then append the decided
 * events with the revision it saw, sealed into the stream's hash chain
 * (SHA-256, the digest the domain's envelope functions are given).
 */
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import { checkLink, type CommandContext, type CorruptEvent, decodeRecorded, EventMetadata, GENESIS, type InvalidEvent, sealEvents, type StoredEvent } from '../domain/envelope';
import type { LedgerEvent } from '../domain/events';
import { sha256Hex } from '../infra/sha256';
import type { AppendResult, EventStore, StoreError } from '../ports/event-store';
import type { SnapshotStore } from '../ports/snapshots';

export type LoadError = StoreError | CorruptEvent;
export type AppendError = StoreError | InvalidEvent;

export interface Loaded<S> {
  readonly stream: string;
  readonly state: S;
  readonly revision: bigint | 'no_stream';
  readonly lastHash: string;
  /** The events read by this load: all of them, or those after the snapshot it started from. */
  readonly events: ReadonlyArray<StoredEvent>;
}

/** Where and how to snapshot an aggregate (see src/ports/snapshots.ts). */
export interface SnapshotPolicy {
  readonly store: SnapshotStore;
  /** The state shape's version: bump it when the state type changes. */
  readonly version: number;
}

const PAGE = 1000;

/**
 * Rebuilds an aggregate from its stream. Every event is decoded and its hash
 * link verified; an event of the wrong kind for this stream, an undecodable
 * one or a broken link is a `CorruptEvent` naming stream and revision.
 */
export const loadAggregate =
  <S, Ev extends LedgerEvent>(
    store: EventStore,
    stream: string,
    initial: S,
    accepts: (e: LedgerEvent) => e is Ev,
    evolve: (s: S, e: Ev) => S,
    snapshots?: SnapshotPolicy,
  ): TE.TaskEither<LoadError, Loaded<S>> =>
  async () => {
    let state = initial;
    let revision: bigint | 'no_stream' = 'no_stream';
    let lastHash = GENESIS;
    const events: StoredEvent[] = [];
    let from = 0n;
    const key = `${store.endpoint}|${stream}`;
    const snap = snapshots?.store.load(key);
    if (snap && snap.version === snapshots?.version) {
      // Trust the snapshot only if the stream's event at its revision still carries its hash.
      const tip = await store.readStream(stream, { fromRevision: snap.revision, maxCount: 1 })();
      if (E.isLeft(tip)) return tip;
      const md = tip.right[0] ? EventMetadata.decode(tip.right[0].metadata) : undefined;
      if (tip.right[0]?.revision === snap.revision && md && E.isRight(md) && md.right.hash === snap.hash) {
        state = snap.state as S;
        revision = snap.revision;
        lastHash = snap.hash;
        from = snap.revision + 1n;
      }
    }
    for (;;) {
      const page = await store.readStream(stream, { fromRevision: from, maxCount: PAGE })();
      if (E.isLeft(page)) return page;
      for (const r of page.right) {
        const decoded = decodeRecorded(r);
        if (E.isLeft(decoded)) return decoded;
        const stored = decoded.right;
        const corrupt = (problem: string): E.Either<CorruptEvent, never> =>
          E.left({ _tag: 'CorruptEvent', stream, revision: r.revision, eventType: r.type, problem });
        if (!accepts(stored.event)) return corrupt(`a ${r.type} event does not belong in this stream`);
        const link = checkLink({ stream, revision: r.revision, type: r.type, data: r.data, metadata: stored.metadata }, lastHash, sha256Hex);
        if (link === 'hash-mismatch') return corrupt('its content does not match its hash (the stored event was altered)');
        if (link === 'chain-broken') return corrupt('its previous-hash link is broken (an event before it was altered, removed or reordered)');
        state = evolve(state, stored.event as Ev);
        revision = r.revision;
        lastHash = stored.metadata.hash;
        events.push(stored);
      }
      if (page.right.length < PAGE) break;
      from += BigInt(PAGE);
    }
    if (snapshots && events.length > 0 && revision !== 'no_stream') snapshots.store.save(key, { version: snapshots.version, revision, hash: lastHash, state });
    return E.right({ stream, state, revision, lastHash, events });
  };

/**
 * appendDecided, with a version conflict turned into 'conflict' — the signal
 * for a command to reload and decide again — and every other failure kept.
 */
export const appendOrConflict = async (
  store: EventStore,
  loaded: Loaded<unknown>,
  events: ReadonlyArray<LedgerEvent>,
  ctx: CommandContext,
): Promise<E.Either<AppendError, 'written' | 'conflict' | 'nothing'>> => {
  const r = await appendDecided(store, loaded, events, ctx)();
  if (E.isLeft(r)) return r.left._tag === 'VersionConflict' ? E.right('conflict') : r;
  return E.right(r.right === 'nothing' ? 'nothing' : 'written');
};

/** Appends decided events after exactly the revision that was loaded. Nothing to append → no write. */
export const appendDecided =
  (store: EventStore, loaded: Loaded<unknown>, events: ReadonlyArray<LedgerEvent>, ctx: CommandContext): TE.TaskEither<AppendError, AppendResult | 'nothing'> =>
  async () => {
    if (events.length === 0) return E.right('nothing');
    const sealed = sealEvents(loaded.stream, { revision: loaded.revision, hash: loaded.lastHash }, events, ctx, sha256Hex);
    if (E.isLeft(sealed)) return sealed;
    return store.append(loaded.stream, sealed.right, loaded.revision === 'no_stream' ? 'no_stream' : loaded.revision)();
  };
