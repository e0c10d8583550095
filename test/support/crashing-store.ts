/**
 * Fault injection for crash tests: an EventStore that "crashes" around its
 * k-th append — before it is written or right after it is durable.
 * In-process the crash is a rejected promise that aborts the command where it
 * stands; in a child process (`onCrash`) it is a real SIGKILL.
 */
import type { EventStore } from '../../src/ports/event-store';

export class SimulatedCrash extends Error {
  constructor(
    readonly appendNumber: number,
    readonly when: 'before' | 'after',
  ) {
    super(`simulated crash ${when} append #${appendNumber}`);
  }
}

export const crashingStore = (
  inner: EventStore,
  crashAt: number,
  when: 'before' | 'after',
  onCrash: (n: number) => never | void = () => undefined,
): EventStore & { readonly appends: () => number } => {
  let appends = 0;
  return {
    endpoint: inner.endpoint,
    appends: () => appends,
    append: (stream, events, expected) => async () => {
      const n = appends + 1;
      if (when === 'before' && n === crashAt) {
        onCrash(n);
        throw new SimulatedCrash(n, when);
      }
      const r = await inner.append(stream, events, expected)();
      appends = n;
      if (when === 'after' && n === crashAt) {
        onCrash(n);
        throw new SimulatedCrash(n, when);
      }
      return r;
    },
    readStream: (s, o) => inner.readStream(s, o),
    readAll: (o) => inner.readAll(o),
    subscribeToAll: (o) => inner.subscribeToAll(o),
    close: () => inner.close(),
  };
};
