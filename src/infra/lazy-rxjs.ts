/**
 * rxjs, loaded on first use: it costs about 55 ms of CPU to load, and only the
 * live commands (watch) subscribe. Commands that answer and exit never pay it.
 */
import type * as Rx from 'rxjs';

let loaded: typeof Rx | undefined;

export const rxjs = (): typeof Rx => {
  // A synchronous require: a subscription is returned synchronously.
  loaded ??= require('rxjs') as typeof Rx;
  return loaded;
};
