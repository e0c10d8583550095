/**
 * Pages of $all, in global order, for a long read (a view's catch-up, `verify`): read on this thread at first,
 * then — once the read has gone on for a while and the store can — read ahead on another thread, which also
 * hashes each event's text (`RecordedEvent.textDigest`), so this one spends its time decoding and folding.
 */
import type * as E from 'fp-ts/Either';
import type { EventStore, Position, ReadAhead, RecordedEvent, StoreError } from '../ports/event-store';

/**
 * A read goes on here for this many events (or pages, whichever comes first) before it reads ahead on another
 * thread: a short read does not pay for starting one (about 40 ms), a long one stops paying for the lack of it.
 */
export const READ_AHEAD_AFTER = { events: 5000, pages: 20 } as const;

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
  let events = 0;
  let ahead: ReadAhead | undefined;
  return {
    next: async () => {
      const long = pages >= READ_AHEAD_AFTER.pages || events >= READ_AHEAD_AFTER.events;
      if (ahead === undefined && options.readAhead !== false && store.readAhead && long)
        ahead = store.readAhead({ after, pageSize: options.pageSize, streamPrefixes: options.streamPrefixes });
      pages++;
      const page = ahead ? await ahead.next() : await store.readAll({ after, maxCount: options.pageSize, streamPrefixes: options.streamPrefixes })();
      if (page._tag === 'Right' && page.right.length > 0) {
        after = page.right[page.right.length - 1]!.position;
        events += page.right.length;
      }
      return page;
    },
    close: async () => {
      await ahead?.close();
    },
  };
};
