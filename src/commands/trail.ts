/**
 * The audit trail of one instance, one deployment or the whole ledger, read page by page in global order — every
 * event decoded, its revision and hash link checked before it is handed out — so a reader prints the first events
 * at once and holds one page at a time, whatever the size of the ledger:
 *
 *   instance     its own stream, and the events of its deployment's stream and content stream that name it, merged
 *                by position (only these streams are read: the cost does not grow with the ledger);
 *   deployment   its deployment stream, its content stream, and every instance stream whose first event names it
 *                (one pass over $all; only those streams' events are decoded);
 *   ledger       every stream of the ledger (one pass over $all, read ahead on a second thread on SQLite).
 *
 * Memory: a page per stream read, and one head (revision, hash) per stream in scope.
 */
import * as E from 'fp-ts/Either';
import { names } from '../domain/event-classes';
import type { CorruptEvent, Digest, StoredEvent } from '../domain/envelope';
import { contentStream, type DeploymentId, deploymentStream, type InstallationId, instanceStream, LEDGER_PREFIX } from '../domain/ids';
import { comparePositions, type EventStore, type RecordedEvent, START, type StoreError } from '../ports/event-store';
import { checkEvent, type Head } from '../projections/runner';
import { type Pages, pagesOf } from './pages';

export type TrailScope =
  | { readonly kind: 'instance'; readonly installationId: InstallationId }
  | { readonly kind: 'deployment'; readonly deploymentId: DeploymentId }
  | { readonly kind: 'ledger' };

export type TrailError = StoreError | CorruptEvent;

export interface TrailPages {
  /** The next events in scope, in global order, each checked; an empty page: the end. */
  next(): Promise<E.Either<TrailError, ReadonlyArray<StoredEvent>>>;
  /** Events read so far (in scope or not). */
  readonly read: () => number;
  /** Stops any reading thread (idempotent). */
  close(): Promise<void>;
}

const INSTANCE_PREFIX = instanceStream('' as InstallationId);

export const trailPages = (store: EventStore, scope: TrailScope, digest: Digest, pageSize = 250): TrailPages =>
  scope.kind === 'instance' ? instanceTrail(store, scope.installationId, digest, pageSize) : ledgerTrail(store, scope, digest, pageSize);

// ─── One instance: three streams merged ───────────────────────────────────

interface Cursor {
  readonly stream: string;
  readonly keep: (e: StoredEvent) => boolean;
  readonly heads: Map<string, Head>;
  buffer: StoredEvent[];
  at: number;
  from: bigint;
  done: boolean;
}

const cursor = (stream: string, keep: (e: StoredEvent) => boolean): Cursor => ({ stream, keep, heads: new Map(), buffer: [], at: 0, from: 0n, done: false });

const instanceTrail = (store: EventStore, installationId: InstallationId, digest: Digest, pageSize: number): TrailPages => {
  let read = 0;
  const own = cursor(instanceStream(installationId), () => true);
  let cursors: Cursor[] | undefined;
  /** Reads pages of the cursor's stream until it holds an event in scope, or the stream ends. */
  const fill = async (c: Cursor): Promise<E.Either<TrailError, void>> => {
    while (c.at >= c.buffer.length && !c.done) {
      const page = await store.readStream(c.stream, { fromRevision: c.from, maxCount: pageSize })();
      if (E.isLeft(page)) return page;
      c.buffer = [];
      c.at = 0;
      for (const r of page.right) {
        read++;
        const checked = checkEvent(c.heads, r, digest);
        if (E.isLeft(checked)) return checked;
        c.heads.set(c.stream, { revision: r.revision, hash: checked.right.metadata.hash });
        if (c.keep(checked.right)) c.buffer.push(checked.right);
      }
      c.from += BigInt(page.right.length);
      if (page.right.length < pageSize) c.done = true;
    }
    return E.right(undefined);
  };
  const start = async (): Promise<E.Either<TrailError, Cursor[]>> => {
    const first = await fill(own);
    if (E.isLeft(first)) return first;
    const data = own.buffer[0]?.event.data as { deploymentId?: string } | undefined;
    if (data?.deploymentId === undefined) return E.right([own]);
    const deploymentId = data.deploymentId as DeploymentId;
    const namesIt = (e: StoredEvent): boolean => names(e.event, installationId);
    return E.right([own, cursor(deploymentStream(deploymentId), namesIt), cursor(contentStream(deploymentId), namesIt)]);
  };
  return {
    read: () => read,
    close: async () => undefined,
    next: async () => {
      if (!cursors) {
        const started = await start();
        if (E.isLeft(started)) return started;
        cursors = started.right;
      }
      const out: StoredEvent[] = [];
      while (out.length < pageSize) {
        let next: Cursor | undefined;
        for (const c of cursors) {
          const filled = await fill(c);
          if (E.isLeft(filled)) return filled;
          const head = c.buffer[c.at];
          if (head && (!next || comparePositions(head.position, next.buffer[next.at]!.position) < 0)) next = c;
        }
        if (!next) break;
        out.push(next.buffer[next.at++]!);
      }
      return E.right(out);
    },
  };
};

// ─── A deployment, or the whole ledger: one pass over $all ────────────────

const ledgerTrail = (store: EventStore, scope: Exclude<TrailScope, { kind: 'instance' }>, digest: Digest, pageSize: number): TrailPages => {
  let read = 0;
  const heads = new Map<string, Head>();
  /** For a deployment: the instance streams whose first event names it. */
  const members = new Set<string>();
  const dstream = scope.kind === 'deployment' ? deploymentStream(scope.deploymentId) : undefined;
  const cstream = scope.kind === 'deployment' ? contentStream(scope.deploymentId) : undefined;
  const inScope = (r: RecordedEvent): boolean => {
    if (scope.kind === 'ledger') return true;
    if (r.streamName === dstream || r.streamName === cstream) return true;
    if (!r.streamName.startsWith(INSTANCE_PREFIX)) return false;
    if (r.revision === 0n && (r.data as { deploymentId?: unknown } | null)?.deploymentId === scope.deploymentId) members.add(r.streamName);
    return members.has(r.streamName);
  };
  const prefixes = scope.kind === 'ledger' ? [LEDGER_PREFIX] : [dstream!, cstream!, INSTANCE_PREFIX];
  const pages: Pages = pagesOf(store, { after: START, pageSize, streamPrefixes: prefixes });
  let ended = false;
  return {
    read: () => read,
    close: () => pages.close(),
    next: async () => {
      const out: StoredEvent[] = [];
      while (out.length === 0 && !ended) {
        const page = await pages.next();
        if (E.isLeft(page)) return page;
        for (const r of page.right) {
          read++;
          if (!inScope(r)) continue;
          const checked = checkEvent(heads, r, digest);
          if (E.isLeft(checked)) return checked;
          const head = heads.get(r.streamName) as { revision: bigint; hash: string } | undefined;
          if (head) {
            head.revision = r.revision;
            head.hash = checked.right.metadata.hash;
          } else heads.set(r.streamName, { revision: r.revision, hash: checked.right.metadata.hash });
          out.push(checked.right);
        }
        if (page.right.length < pageSize) {
          ended = true;
          await pages.close();
        }
      }
      return E.right(out);
    },
  };
};
