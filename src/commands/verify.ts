/**
 * Integrity check of the whole ledger: every event decodes, every stream's
 * revisions are contiguous from 0, and every event's hash matches its content
 * and links to the previous event's hash. Reads $all page by page; memory is
 * bounded by one page plus one entry per stream.
 *
 * With `signatures`, the same pass also checks every signature (src/domain/signature-audit.ts): the trust
 * walk over each deployment stream, and each signed instance event against the instance's own signing key.
 * That keeps the deployment streams' events in memory; without it nothing more is kept or computed.
 */
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import { checkLink, decodeRecorded, type Digest, EventMetadata, GENESIS, type StoredEvent } from '../domain/envelope';
import { LEDGER_PREFIX } from '../domain/ids';
import { type SignatureSummary, signatureAudit } from '../domain/signature-audit';
import type { TrustCrypto } from '../domain/trust';
import { type EventStore, type Position, type RecordedEvent, START, type StoreError } from '../ports/event-store';
import { type Pages, pagesOf } from './pages';
import { type TreeReport, type TreeVerifyOptions, treeVerifier } from './verify-tree';

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
  /** With `signatures` only. */
  readonly signatures?: SignatureReport;
  /** What the store's own check of its storage found (SQLite's quick_check): physical damage. Empty: sound. */
  readonly storage: ReadonlyArray<string>;
  /** With `tree`: the Merkle tree recomputed from the events, against its index and a checkpoint (src/commands/verify-tree.ts). */
  readonly tree?: TreeReport;
}

export interface SignatureReport extends SignatureSummary {
  /** The ledger's earliest problem of either kind, in $all order (null: none): restore from a backup taken before it. */
  readonly firstProblem: { readonly stream: string; readonly revision: string } | null;
}

export interface VerifyOptions {
  /** The hash chain's digest (SHA-256 hex: `sha256Hex` from src/infra/sha256.ts). */
  readonly digest: Digest;
  readonly pageSize?: number;
  readonly onProgress?: (events: number) => void;
  /** Check signatures too: Ed25519 verification and signing-key thumbprints (the Crypto port's `signing`). */
  readonly signatures?: TrustCrypto;
  /** With `signatures`: the genesis thumbprint its operators confirmed (see AuditOptions). */
  readonly expectGenesis?: string;
  /** The store's deepest check of its storage (SQLite: integrity_check, every index against its table; slower). */
  readonly deep?: boolean;
  /** Recompute the ledger's Merkle tree and compare it with its index (and a checkpoint): docs/adr/0018. */
  readonly tree?: TreeVerifyOptions;
}

/**
 * The per-event checks of `verify`, for any reader that goes through a ledger's streams (each in revision order;
 * the streams interleaved in any way): every record decodes, revisions are contiguous from 0, every hash matches
 * its content and links to the one before. Problems are collected, never thrown: the read goes on. Memory: one
 * head per stream, and the problems.
 */
export interface IntegrityTracker {
  /** The next record of its stream: the decoded event, or undefined when it does not decode (a problem is recorded). */
  readonly check: (r: RecordedEvent) => StoredEvent | undefined;
  /** A stored record that is not even JSON (the store could not parse it): a problem, and its stream goes on after it. */
  readonly unreadable: (u: { readonly stream: string; readonly revision: bigint; readonly message: string }) => void;
  /** Records checked so far (unreadable ones included): the `seq` of the last one. */
  readonly events: () => number;
  readonly problems: () => ReadonlyArray<IntegrityProblem>;
  /** The `seq` of the first problem (null: none yet). */
  readonly firstProblemSeq: () => number | null;
  /** Each stream's newest revision and hash. */
  readonly heads: () => Readonly<Record<string, { readonly revision: string; readonly hash: string }>>;
}

export const integrityTracker = (digest: Digest): IntegrityTracker => {
  const heads: Record<string, { revision: bigint; hash: string }> = {};
  const problems: IntegrityProblem[] = [];
  let events = 0;
  let firstProblemSeq: number | null = null;
  const report = (stream: string, revision: bigint, eventType: string, problem: string): void => {
    problems.push({ stream, revision: revision.toString(), eventType, problem });
    firstProblemSeq ??= events;
  };
  return {
    check: (r) => {
      events++;
      const head = heads[r.streamName] ?? { revision: -1n, hash: GENESIS };
      if (r.revision !== head.revision + 1n)
        report(
          r.streamName,
          r.revision,
          r.type,
          `revision ${head.revision + 1n}${r.revision > head.revision + 2n ? `..${r.revision - 1n}` : ''} is missing before it`,
        );
      const decoded = decodeRecorded(r);
      if (E.isLeft(decoded)) {
        report(r.streamName, r.revision, r.type, decoded.left.problem);
        const md = EventMetadata.decode(r.metadata);
        heads[r.streamName] = { revision: r.revision, hash: E.isRight(md) ? md.right.hash : head.hash };
        return undefined;
      }
      const link = checkLink(
        { stream: r.streamName, revision: r.revision, type: r.type, data: r.data, metadata: decoded.right.metadata, text: r.text, textDigest: r.textDigest },
        head.hash,
        digest,
      );
      if (link === 'hash-mismatch') report(r.streamName, r.revision, r.type, 'its content does not match its hash: the stored event was altered');
      else if (link === 'chain-broken')
        report(r.streamName, r.revision, r.type, 'its previous-hash link does not match the event before it: an event was altered, removed or reordered');
      heads[r.streamName] = { revision: r.revision, hash: decoded.right.metadata.hash };
      return decoded.right;
    },
    unreadable: (u) => {
      events++;
      report(u.stream, u.revision, '?', `the stored record is not JSON: ${u.message}`);
      const head = heads[u.stream];
      heads[u.stream] = { revision: u.revision, hash: head?.hash ?? GENESIS };
    },
    events: () => events,
    problems: () => problems,
    firstProblemSeq: () => firstProblemSeq,
    heads: () => Object.fromEntries(Object.entries(heads).map(([k, v]) => [k, { revision: v.revision.toString(), hash: v.hash }])),
  };
};

export const verifyLedger =
  (store: EventStore, options: VerifyOptions): TE.TaskEither<StoreError, VerifyReport> =>
  async () => {
    const tracker = integrityTracker(options.digest);
    let after: Position | undefined;
    const audit = options.signatures
      ? signatureAudit(options.signatures, options.expectGenesis !== undefined ? { expectGenesis: options.expectGenesis } : {})
      : undefined;
    const tree = options.tree ? treeVerifier(options.tree) : undefined;
    const pageSize = options.pageSize ?? 1000;
    // Physical damage too: an index page or a table overwritten reads fine until a write needs it. The store's own
    // check runs beside the pass over the events (on its own thread, for SQLite).
    const checking = store.integrityCheck ? store.integrityCheck(options.deep ? { deep: true } : {})() : Promise.resolve(E.right([]));
    let size = pageSize;
    const pagesFrom = (at: Position | undefined, n: number): Pages =>
      pagesOf(store, { after: at ?? START, pageSize: n, streamPrefixes: [LEDGER_PREFIX], readAhead: n > 1 });
    let pages = pagesFrom(after, size);
    for (;;) {
      const page = await pages.next();
      if (E.isLeft(page) && page.left._tag === 'StoredRecordUnreadable' && page.left.position) {
        // A row that is not even JSON fails its whole page: read up to it one by one, then report it and go on after it.
        await pages.close();
        if (size > 1) {
          size = 1;
          pages = pagesFrom(after, size);
          continue;
        }
        size = pageSize;
        pages = pagesFrom(page.left.position, size);
        tree?.unreadable(page.left.stream, page.left.revision);
        tracker.unreadable(page.left);
        after = page.left.position;
        continue;
      }
      if (E.isLeft(page)) {
        await pages.close();
        await checking;
        return page;
      }
      for (const r of page.right) {
        after = r.position;
        tree?.event(r);
        const decoded = tracker.check(r);
        if (decoded) audit?.add(decoded, tracker.events());
      }
      options.onProgress?.(tracker.events());
      if (page.right.length < size) break;
    }
    await pages.close();
    const checked = await checking;
    const storage = E.isRight(checked) ? checked.right : [checked.left._tag === 'StoreUnavailable' ? checked.left.message : checked.left._tag];
    const heads = tracker.heads();
    const problems = tracker.problems();
    const report: VerifyReport = {
      streams: Object.keys(heads).length,
      events: tracker.events(),
      problems,
      storage,
      heads,
      ...(tree ? { tree: tree.finish() } : {}),
    };
    if (!audit) return E.right(report);
    const { summary, firstProblemSeq } = audit.finish();
    const firstHashProblemSeq = tracker.firstProblemSeq();
    const firstSignatureProblem = summary.problems[0];
    const signatureFirst = firstSignatureProblem && (firstHashProblemSeq === null || (firstProblemSeq ?? Infinity) < firstHashProblemSeq);
    const first = signatureFirst ? firstSignatureProblem : problems[0];
    return E.right({ ...report, signatures: { ...summary, firstProblem: first ? { stream: first.stream, revision: first.revision } : null } });
  };
