/**
 * The live runner: the activation view (or any projection) kept current from a
 * catch-up-then-live subscription, with the same link checks and durable
 * checkpoint as the catch-up in ./runner.ts. Its own module because it needs
 * rxjs, which only the live commands (watch) load.
 */
import * as E from 'fp-ts/Either';
import { concatMap, defer, EMPTY, finalize, from, map, Observable, throwError } from 'rxjs';
import type { Digest, StoredEvent } from '../domain/envelope';
import { LEDGER_PREFIX } from '../domain/ids';
import type { CheckpointError, CheckpointStore } from '../ports/checkpoints';
import type { EventStore, Position } from '../ports/event-store';
import { advance, checkEvent, checkpointKey, type Progress, type Projection, type Rebuild, startFrom, toCheckpoint, track } from './runner';

// ─── Live ─────────────────────────────────────────────────────────────────

export interface LiveView<S> {
  readonly state: S;
  readonly position: Position;
  /** False while the backlog is being replayed. */
  readonly live: boolean;
  /** On the view emitted on catching up: non-null when the checkpoint was discarded and the ledger replayed from the start. Null on every other view. */
  readonly rebuilt: Rebuild | null;
}

export interface LiveOptions {
  /** The hash chain's digest (SHA-256 hex: `sha256Hex` from src/infra/sha256.ts). */
  readonly digest: Digest;
  readonly saveEvery?: number;
  /**
   * Once live, save at most this often (ms), and when unsubscribed (default 0: after every event). A server under a
   * stream of appends (keyledger serve) would otherwise write its whole view, durably, once per event; the checkpoint
   * is a cache of the ledger, so a crash only means re-reading the events of the last interval.
   */
  readonly liveSaveEveryMs?: number;
  /**
   * Once live, fold the events the store delivers together (a page after a shared commit) into one view and emit
   * once for them: for a subscriber that needs the latest view (keyledger serve), not every step (watch).
   */
  readonly coalesce?: boolean;
}

/**
 * The values a source gives in one go (synchronously, e.g. the page of events a store delivers after a shared
 * commit), as one array once the source pauses (a microtask later). Errors and completion first hand over what is
 * pending, in order.
 */
export const inBursts =
  <T>() =>
  (source: Observable<T>): Observable<ReadonlyArray<T>> =>
    new Observable<ReadonlyArray<T>>((subscriber) => {
      let pending: T[] = [];
      let scheduled = false;
      const flush = (): void => {
        scheduled = false;
        if (pending.length === 0) return;
        const burst = pending;
        pending = [];
        subscriber.next(burst);
      };
      const inner = source.subscribe({
        next: (v) => {
          pending.push(v);
          if (!scheduled) {
            scheduled = true;
            queueMicrotask(flush);
          }
        },
        error: (e: unknown) => {
          flush();
          subscriber.error(e);
        },
        complete: () => {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        pending = [];
        inner.unsubscribe();
      };
    });

/**
 * The view, kept live: emits after every event once caught up (and once on catching up) — or, with `coalesce`,
 * once per burst of events the store delivers together. Saves the checkpoint every `saveEvery` events while
 * replaying and after every event once live (at most every `liveSaveEveryMs`). Unsubscribe to stop.
 *
 * The backlog is folded into one working copy when the projection has a fold (as the catch-up in ./runner.ts
 * does: an event then costs the same whatever the size of the view), and so is each burst with `coalesce`;
 * without it, every live event makes a new view (`evolve`), which a subscriber that needs every step (watch) gets.
 */
export const runLive = <S>(store: EventStore, projection: Projection<S>, checkpoints: CheckpointStore, options: LiveOptions): Observable<LiveView<S>> =>
  defer(() => from(startFrom(projection, store, checkpoints, options.digest))).pipe(
    concatMap((started): Observable<LiveView<S>> => {
      if (E.isLeft(started)) return throwError(() => started.left);
      const { rebuilt, ...progress } = started.right;
      const p: Progress<S> = progress;
      let live = false;
      let unsaved = 0;
      let lastSave = 0;
      const saveEvery = options.saveEvery ?? 500;
      const liveEvery = options.liveSaveEveryMs ?? 0;
      const fold = projection.fold;
      // The fold's working copy while events are written into it in place (none: p.state is current); see `settle`.
      let working: { readonly copy: unknown } | undefined;
      const settle = (): void => {
        if (fold && working) p.state = fold.end(working.copy);
        working = undefined;
      };
      const apply = (e: StoredEvent): void => {
        if (fold && (!live || options.coalesce === true)) {
          working ??= { copy: fold.begin(p.state) };
          fold.apply(working.copy, e);
          track(p, e);
        } else advance(p, projection, e);
      };
      const save = (): E.Either<CheckpointError, void> => {
        settle();
        unsaved = 0;
        lastSave = Date.now();
        return checkpoints.save(checkpointKey(projection, store), toCheckpoint(projection, p));
      };
      const view = (): LiveView<S> => {
        settle();
        return { state: p.state, position: p.position, live, rebuilt: null };
      };
      const messages = store.subscribeToAll({ after: p.position, streamPrefixes: [LEDGER_PREFIX] });
      return (options.coalesce === true ? messages.pipe(inBursts()) : messages.pipe(map((m) => [m]))).pipe(
        concatMap((burst): Observable<LiveView<S>> => {
          const out: LiveView<S>[] = [];
          let changed = false;
          for (const m of burst) {
            if (m.kind === 'caughtUp') {
              live = true;
              const saved = save();
              if (E.isLeft(saved)) return throwError(() => saved.left);
              out.push({ ...view(), rebuilt });
              changed = false;
              continue;
            }
            const checked = checkEvent(p.heads, m.event, options.digest);
            if (E.isLeft(checked)) {
              if (unsaved > 0) save();
              return throwError(() => checked.left);
            }
            apply(checked.right);
            unsaved++;
            if ((live && Date.now() - lastSave >= liveEvery) || (!live && unsaved >= saveEvery)) {
              const saved = save();
              if (E.isLeft(saved)) return throwError(() => saved.left);
            }
            if (live && options.coalesce !== true) out.push(view());
            else if (live) changed = true;
          }
          if (changed) out.push(view());
          return out.length === 0 ? EMPTY : from(out);
        }),
        // What the last interval folded is kept when the subscriber stops (a checkpoint store already closed: nothing to keep it in).
        finalize(() => {
          if (live && unsaved > 0) save();
        }),
      );
    }),
  );
