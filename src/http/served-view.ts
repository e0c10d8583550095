/**
 * The activation view a server answers from: kept live by the projection runner (src/projections/live.ts — the
 * catch-up from the view's durable checkpoint, then the live subscription, every event's hash link checked), so a
 * request reads the view in memory and never the ledger. Listeners (the dashboard's server-sent events, the
 * served instance's own start check) hear of every change: once per burst of events the store delivers together
 * (`coalesce`: the events of a shared commit are folded into one view, at the cost of one copy of the view, not one
 * per event).
 *
 * If the runner stops (the store went away, an altered event), the view says why — the ping then answers 503 —
 * and the runner is started again after a pause (1 s, doubling up to 30 s).
 */
import type { Subscription } from 'rxjs';
import type { Digest } from '../domain/envelope';
import type { CheckpointStore } from '../ports/checkpoints';
import type { EventStore } from '../ports/event-store';
import { type ActivationView, activationProjection } from '../projections/activation';
import type { Projection, RunnerError } from '../projections/runner';

export type LiveState<S> =
  /** Not caught up yet: the answer is not known. */
  | { readonly kind: 'starting' }
  | { readonly kind: 'live'; readonly view: S; readonly position: bigint; readonly at: number }
  /** The runner stopped: nothing the view said can be relied on until it runs again. */
  | { readonly kind: 'failed'; readonly error: RunnerError };

export interface Live<S> {
  readonly state: () => LiveState<S>;
  /** Called after every change of state; returns the function that stops it. */
  readonly onChange: (listener: (s: LiveState<S>) => void) => () => void;
  /** Resolves once the view is live (or failed) for the first time. */
  readonly ready: Promise<void>;
  readonly close: () => void;
}

export type ViewState = LiveState<ActivationView>;
export type ServedView = Live<ActivationView>;

/** The activation view, live. */
export const servedView = (store: EventStore, checkpoints: CheckpointStore, digest: Digest): Promise<ServedView> =>
  keepLive(store, activationProjection, checkpoints, digest);

/** Any projection, live (the metrics' one beside the activation view). */
export const keepLive = async <S>(store: EventStore, projection: Projection<S>, checkpoints: CheckpointStore, digest: Digest): Promise<Live<S>> => {
  const { runLive } = await import('../projections/live');
  let state: LiveState<S> = { kind: 'starting' };
  const listeners = new Set<(s: LiveState<S>) => void>();
  let sub: Subscription | undefined;
  let retry: NodeJS.Timeout | undefined;
  let pause = 1000;
  let closed = false;
  let settle: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const set = (s: LiveState<S>): void => {
    state = s;
    settle();
    for (const l of listeners) l(s);
  };
  const start = (): void => {
    if (closed) return;
    sub = runLive(store, projection, checkpoints, { digest, liveSaveEveryMs: 1000, coalesce: true }).subscribe({
      next: (v) => {
        pause = 1000;
        set({ kind: 'live', view: v.state, position: v.position.commit, at: Date.now() });
      },
      error: (e: RunnerError) => {
        set({ kind: 'failed', error: e });
        if (closed) return;
        retry = setTimeout(start, pause);
        pause = Math.min(pause * 2, 30_000);
      },
    });
  };
  start();
  return {
    state: () => state,
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    ready,
    close: () => {
      closed = true;
      if (retry) clearTimeout(retry);
      sub?.unsubscribe();
      listeners.clear();
      settle();
    },
  };
};
