/**
 * The reading side of `SqliteEventStore.readAhead`: starts the worker (sqlite-read-ahead-worker.ts), hands out
 * its pages in order as RecordedEvents (parsed here, from the very text the worker hashed), and asks for one
 * more page each time it hands one out, so that at most `ahead` pages wait in memory.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as E from 'fp-ts/Either';
import type { ReadAhead, RecordedEvent, StoreError } from '../ports/event-store';
import type { ReadAheadMessage } from './sqlite-read-ahead-page';
import type { IntegrityJob, IntegrityMessage, ReadAheadJob } from './sqlite-read-ahead-worker';

export type RowsToRecorded = (page: { heads: string; texts: string }) => E.Either<StoreError, ReadonlyArray<RecordedEvent>>;

export const startReadAhead = (
  job: ReadAheadJob,
  toRecorded: RowsToRecorded,
  failure: (e: { message: string; code: string | undefined }) => StoreError,
): ReadAhead => {
  // A small heap: the thread holds a few pages at a time (the folding thread's memory is what a fleet needs).
  const worker = new Worker(path.join(__dirname, 'sqlite-read-ahead-worker.js'), {
    workerData: job,
    resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
  });
  const arrived: Array<E.Either<StoreError, { heads: string; texts: string; count: number }>> = [];
  let waiting: (() => void) | undefined;
  let ended: StoreError | undefined;
  const wake = (): void => {
    const w = waiting;
    waiting = undefined;
    w?.();
  };
  worker.on('message', (m: ReadAheadMessage) => {
    arrived.push('heads' in m ? E.right(m) : E.left(failure(m.error)));
    wake();
  });
  worker.on('error', (e) => {
    ended = failure({ message: e.message, code: (e as { code?: string }).code });
    wake();
  });
  worker.on('exit', () => {
    ended ??= failure({ message: 'the reading thread stopped', code: undefined });
    wake();
  });
  let closed = false;
  return {
    next: async () => {
      for (;;) {
        const page = arrived.shift();
        if (page !== undefined) {
          if (E.isLeft(page)) return page;
          if (page.right.count === job.pageSize) worker.postMessage('more');
          return toRecorded(page.right);
        }
        if (ended !== undefined || closed) return E.left(ended ?? failure({ message: 'the read-ahead was closed', code: undefined }));
        await new Promise<void>((resolve) => {
          waiting = resolve;
        });
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      worker.removeAllListeners();
      await worker.terminate();
    },
  };
};

/** SQLite's integrity check on its own thread: the problems it finds (none: sound). */
export const integrityCheckOnThread = (
  job: IntegrityJob,
  failure: (e: { message: string; code: string | undefined }) => StoreError,
): Promise<E.Either<StoreError, ReadonlyArray<string>>> =>
  new Promise((resolve) => {
    const worker = new Worker(path.join(__dirname, 'sqlite-read-ahead-worker.js'), { workerData: job });
    const done = (r: E.Either<StoreError, ReadonlyArray<string>>): void => {
      worker.removeAllListeners();
      void worker.terminate();
      resolve(r);
    };
    worker.on('message', (m: IntegrityMessage) => done('problems' in m ? E.right(m.problems) : E.left(failure(m.error))));
    worker.on('error', (e) => done(E.left(failure({ message: e.message, code: (e as { code?: string }).code }))));
    worker.on('exit', () => done(E.left(failure({ message: 'the checking thread stopped', code: undefined }))));
  });
