/**
 * Pages of $all, in global order, for a long read (a view's catch-up, `verify`): read on this thread at first,
 * then — once the read has gone on for a while and the store can — read ahead on another thread, which also
 * hashes each event's text (`RecordedEvent.textDigest`), so this one spends its time decoding and folding.
 */
import type * as E from 'fp-ts/Either';
import type { EventStore, Position, ReadAhead, RecordedEvent, StoreError } from '../ports/event-store';

/** Pages read on this thread before reading ahead on another: a short read does not pay for starting a thread. */
export const READ_AHEAD_AFTER_PAGES = 40;

export interface Pages {
  /** The next page; one shorter than the page size is the last. */
  next(): Promise<E.Either<StoreError, ReadonlyArray<RecordedEvent>>>;
  /** Stops the reading thread, if any (idempotent). */
  close(): Promise<void>;
}

export const pagesOf = (
  store: EventStore,
  options: { readonly after: Position; readonly pageSize: number; readonly streamPrefixes: ReadonlyArray<string>; readonly readAhead?: boolean },
): Pages => {
  let after = options.after;
  let pages = 0;
  let ahead: ReadAhead | undefined;
  return {
    next: async () => {
      if (ahead === undefined && options.readAhead !== false && store.readAhead && pages >= READ_AHEAD_AFTER_PAGES)
        ahead = store.readAhead({ after, pageSize: options.pageSize, streamPrefixes: options.streamPrefixes });
      pages++;
      const page = ahead ? await ahead.next() : await store.readAll({ after, maxCount: options.pageSize, streamPrefixes: options.streamPrefixes })();
      if (page._tag === 'Right' && page.right.length > 0) after = page.right[page.right.length - 1]!.position;
      return page;
    },
    close: async () => {
      await ahead?.close();
    },
  };
};
