/**
 * The live runner: the activation view (or any projection) kept current from a
 * catch-up-then-live subscription, with the same link checks and durable
 * checkpoint as the catch-up in ./runner.ts. Its own module because it needs
 * rxjs, which only the live commands (watch) load.
 */
import * as E from 'fp-ts/Either';
import { concatMap, defer, EMPTY, finalize, from, type Observable, of, throwError } from 'rxjs';
import type { Digest } from '../domain/envelope';
import { LEDGER_PREFIX } from '../domain/ids';
import type { CheckpointError, CheckpointStore } from '../ports/checkpoints';
import type { EventStore, Position } from '../ports/event-store';
import { advance, checkEvent, checkpointKey, type Progress, type Projection, type Rebuild, startFrom, toCheckpoint } from './runner';

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
}

/**
 * The view, kept live: emits after every event once caught up (and once on
 * catching up). Saves the checkpoint every `saveEvery` events while replaying
 * and after every event once live. Unsubscribe to stop.
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
      const save = (): E.Either<CheckpointError, void> => {
        unsaved = 0;
        lastSave = Date.now();
        return checkpoints.save(checkpointKey(projection, store), toCheckpoint(projection, p));
      };
      return store.subscribeToAll({ after: p.position, streamPrefixes: [LEDGER_PREFIX] }).pipe(
        concatMap((m): Observable<LiveView<S>> => {
          if (m.kind === 'caughtUp') {
            live = true;
            const saved = save();
            return E.isLeft(saved) ? throwError(() => saved.left) : of({ state: p.state, position: p.position, live, rebuilt });
          }
          const checked = checkEvent(p.heads, m.event, options.digest);
          if (E.isLeft(checked)) {
            if (unsaved > 0) save();
            return throwError(() => checked.left);
          }
          advance(p, projection, checked.right);
          unsaved++;
          if ((live && Date.now() - lastSave >= liveEvery) || (!live && unsaved >= saveEvery)) {
            const saved = save();
            if (E.isLeft(saved)) return throwError(() => saved.left);
          }
          return live ? of({ state: p.state, position: p.position, live, rebuilt: null }) : EMPTY;
        }),
        // What the last interval folded is kept when the subscriber stops (a checkpoint store already closed: nothing to keep it in).
        finalize(() => {
          if (live && unsaved > 0) save();
        }),
      );
    }),
  );
