/**
 * Integrity check of the whole ledger: every event decodes, every stream's
 * revisions are contiguous from 0, and every event's hash matches its content
 * and links to the previous event's hash. Reads $all page by page; memory is
 * bounded by one page plus one entry per stream.
 */
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import { checkLink, decodeRecorded, type Digest, EventMetadata, GENESIS } from '../domain/envelope';
import { LEDGER_PREFIX } from '../domain/ids';
import type { EventStore, Position, StoreError } from '../ports/event-store';

export interface IntegrityProblem {
  readonly stream: string;
  readonly revision: string;
  readonly eventType: string;
  readonly problem: string;
}

export interface VerifyReport {
  readonly streams: number;
  readonly events: number;
  readonly problems: ReadonlyArray<IntegrityProblem>;
  /** The hash of the newest event of each stream: keep it to detect later truncation. */
  readonly heads: Readonly<Record<string, { readonly revision: string; readonly hash: string }>>;
}

export interface VerifyOptions {
  /** The hash chain's digest (SHA-256 hex: `sha256Hex` from src/infra/sha256.ts). */
  readonly digest: Digest;
  readonly pageSize?: number;
  readonly onProgress?: (events: number) => void;
}

export const verifyLedger =
  (store: EventStore, options: VerifyOptions): TE.TaskEither<StoreError, VerifyReport> =>
  async () => {
    const heads: Record<string, { revision: bigint; hash: string }> = {};
    const problems: IntegrityProblem[] = [];
    let events = 0;
    let after: Position | undefined;
    const pageSize = options.pageSize ?? 1000;
    for (;;) {
      const page = await store.readAll({ ...(after ? { after } : {}), maxCount: pageSize, streamPrefixes: [LEDGER_PREFIX] })();
      if (E.isLeft(page)) return page;
      for (const r of page.right) {
        events++;
        after = r.position;
        const head = heads[r.streamName] ?? { revision: -1n, hash: GENESIS };
        const report = (problem: string): void => {
          problems.push({ stream: r.streamName, revision: r.revision.toString(), eventType: r.type, problem });
        };
        if (r.revision !== head.revision + 1n)
          report(`revision ${head.revision + 1n}${r.revision > head.revision + 2n ? `..${r.revision - 1n}` : ''} is missing before it`);
        const decoded = decodeRecorded(r);
        if (E.isLeft(decoded)) {
          report(decoded.left.problem);
          const md = EventMetadata.decode(r.metadata);
          heads[r.streamName] = { revision: r.revision, hash: E.isRight(md) ? md.right.hash : head.hash };
          continue;
        }
        const link = checkLink(
          { stream: r.streamName, revision: r.revision, type: r.type, data: r.data, metadata: decoded.right.metadata },
          head.hash,
          options.digest,
        );
        if (link === 'hash-mismatch') report('its content does not match its hash: the stored event was altered');
        else if (link === 'chain-broken') report('its previous-hash link does not match the event before it: an event was altered, removed or reordered');
        heads[r.streamName] = { revision: r.revision, hash: decoded.right.metadata.hash };
      }
      options.onProgress?.(events);
      if (page.right.length < pageSize) break;
    }
    return E.right({
      streams: Object.keys(heads).length,
      events,
      problems,
      heads: Object.fromEntries(Object.entries(heads).map(([k, v]) => [k, { revision: v.revision.toString(), hash: v.hash }])),
    });
  };
