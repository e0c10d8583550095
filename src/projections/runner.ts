/**
 * Runs a pure projection against the store with a durable checkpoint:
 * - `catchUp` loads the checkpoint, folds only the events after it (page by
 *   page, so memory stays bounded by the page and the view), saves, returns;
 * - `runLive` does the same from a catch-up-then-live subscription and keeps
 *   saving as events arrive, emitting the view after each one.
 * A stored event that cannot be decoded stops the runner with a
 * `CorruptEvent` naming its stream and revision; the checkpoint stays before it.
 */
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import { concatMap, EMPTY, Observable, of, throwError } from 'rxjs';
import { type CorruptEvent, decodeRecorded, type StoredEvent } from '../domain/envelope';
import { LEDGER_PREFIX } from '../domain/ids';
import type { CheckpointError, CheckpointStore } from '../ports/checkpoints';
import { type EventStore, type Position, START, type StoreError } from '../ports/event-store';

export interface Projection<S> {
  readonly name: string;
  /** Bump when the view's shape or meaning changes: older checkpoints are then rebuilt from the start. */
  readonly version: number;
  readonly initialState: S;
  readonly evolve: (state: S, event: StoredEvent) => S;
}

export type RunnerError = StoreError | CorruptEvent | CheckpointError;

export interface ProjectionResult<S> {
  readonly state: S;
  readonly position: Position;
  /** Events folded in this run (0: the checkpoint was current). */
  readonly processed: number;
}

export const checkpointKey = (projection: { readonly name: string }, store: EventStore): string => `${projection.name}@${store.endpoint}`;

const startFrom = <S>(projection: Projection<S>, store: EventStore, checkpoints: CheckpointStore): E.Either<CheckpointError, { state: S; position: Position }> => {
  const cp = checkpoints.load(checkpointKey(projection, store));
  if (E.isLeft(cp)) return cp;
  if (!cp.right || cp.right.version !== projection.version) return E.right({ state: projection.initialState, position: START });
  return E.right({ state: cp.right.state as S, position: cp.right.position });
};

export interface CatchUpOptions {
  readonly pageSize?: number;
  readonly onProgress?: (processed: number) => void;
}

export const catchUp =
  <S>(store: EventStore, projection: Projection<S>, checkpoints: CheckpointStore, options: CatchUpOptions = {}): TE.TaskEither<RunnerError, ProjectionResult<S>> =>
  async () => {
    const from = startFrom(projection, store, checkpoints);
    if (E.isLeft(from)) return from;
    let { state, position } = from.right;
    let processed = 0;
    const pageSize = options.pageSize ?? 1000;
    for (;;) {
      const page = await store.readAll({ after: position, maxCount: pageSize, streamPrefixes: [LEDGER_PREFIX] })();
      if (E.isLeft(page)) return page;
      for (const r of page.right) {
        const decoded = decodeRecorded(r);
        if (E.isLeft(decoded)) {
          const saved = processed > 0 ? checkpoints.save(checkpointKey(projection, store), { version: projection.version, position, state }) : E.right(undefined);
          return E.isLeft(saved) ? saved : decoded;
        }
        state = projection.evolve(state, decoded.right);
        position = r.position;
        processed++;
      }
      options.onProgress?.(processed);
      if (page.right.length < pageSize) break;
    }
    if (processed > 0) {
      const saved = checkpoints.save(checkpointKey(projection, store), { version: projection.version, position, state });
      if (E.isLeft(saved)) return saved;
    }
    return E.right({ state, position, processed });
  };

export interface LiveView<S> {
  readonly state: S;
  readonly position: Position;
  /** False while the backlog is being replayed. */
  readonly live: boolean;
}

/**
 * The view, kept live: emits after every event once caught up (and once on
 * catching up). Saves the checkpoint every `saveEvery` events while replaying
 * and after every event once live. Unsubscribe to stop.
 */
export const runLive = <S>(store: EventStore, projection: Projection<S>, checkpoints: CheckpointStore, options: { readonly saveEvery?: number } = {}): Observable<LiveView<S>> =>
  new Observable<LiveView<S>>((subscriber) => {
    const from = startFrom(projection, store, checkpoints);
    if (E.isLeft(from)) {
      subscriber.error(from.left);
      return undefined;
    }
    let { state, position } = from.right;
    let live = false;
    let unsaved = 0;
    const saveEvery = options.saveEvery ?? 500;
    const save = (): E.Either<CheckpointError, void> => {
      unsaved = 0;
      return checkpoints.save(checkpointKey(projection, store), { version: projection.version, position, state });
    };
    const sub = store
      .subscribeToAll({ after: position, streamPrefixes: [LEDGER_PREFIX] })
      .pipe(
        concatMap((m): Observable<LiveView<S>> => {
          if (m.kind === 'caughtUp') {
            live = true;
            const saved = save();
            return E.isLeft(saved) ? throwError(() => saved.left) : of({ state, position, live });
          }
          const decoded = decodeRecorded(m.event);
          if (E.isLeft(decoded)) {
            save();
            return throwError(() => decoded.left);
          }
          state = projection.evolve(state, decoded.right);
          position = m.event.position;
          unsaved++;
          if (live || unsaved >= saveEvery) {
            const saved = save();
            if (E.isLeft(saved)) return throwError(() => saved.left);
          }
          return live ? of({ state, position, live }) : EMPTY;
        }),
      )
      .subscribe(subscriber);
    return () => sub.unsubscribe();
  });
