/**
 * `keyledger report`'s reading (docs/adr/0017-compliance-report.md): one deployment's events, not the whole ledger —
 * its deployment stream, the instance stream of every installation it names (and any given, such as the local
 * instance), merged in global order, then its content stream — each record checked as `verify` checks it
 * (decoding, contiguous revisions, hash links: `integrityTracker`), its signatures checked against the reviewer's
 * trust anchor when one is given (`signatureAudit` with the anchor as the expected genesis), and folded into the
 * report's read model. A problem is reported, never a reason to stop: the report is how a reviewer learns of it.
 *
 * Memory: the deployment stream (the trust walk needs it whole), one page per instance stream being merged, the
 * report's model. Content events (a deployment's secrets and reads, the bulk of a busy one) are streamed.
 */
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import type { LatestCheckpoint } from '../commands/checkpoint-report';
import { integrityTracker } from '../commands/verify';
import type { Digest } from '../domain/envelope';
import { contentStream, type DeploymentId, deploymentStream, InstallationId, instanceStream } from '../domain/ids';
import type { ReportPolicy } from '../domain/report-policy';
import { signatureAudit } from '../domain/signature-audit';
import type { TrustCrypto } from '../domain/trust';
import { type EventStore, type Position, type RecordedEvent, START, type StoreError } from '../ports/event-store';
import type { Operation } from './report-events';
import { type IntegritySection, type ReportFinding, reportFindings, type ReportVerdict, type SignatureCheck, verdictOf } from './report-findings';
import { type EventCounts, type KeyVersionLife, type MembershipChange, type ReportPeriod, reportFold } from './report-model';
import { instanceStatus } from './status';

export interface MemberRow {
  readonly installationId: string;
  readonly machineName: string | null;
  readonly instanceName: string | null;
  readonly serviceIdentity: string | null;
  /** At the end of the period: activated, disabled, waiting-to-join, initializing, removed, not-initialized. */
  readonly state: string;
  /** The key version of its copy (null: none). */
  readonly keyVersion: number | null;
  readonly thumbprint: string | null;
  readonly signingThumbprint: string | null;
}

/** A compliance report: the JSON output as it is (docs/adr/0017-compliance-report.md). */
export interface ComplianceReport {
  readonly report: 'keyledger-compliance-report';
  readonly version: 1;
  readonly deploymentId: string;
  readonly period: ReportPeriod;
  readonly generatedAt: string;
  readonly policy: ReportPolicy;
  readonly verdict: ReportVerdict;
  readonly findings: ReadonlyArray<ReportFinding>;
  readonly operations: ReadonlyArray<Operation>;
  readonly membership: {
    readonly atStart: number;
    readonly atEnd: number;
    readonly changes: ReadonlyArray<MembershipChange>;
    readonly members: ReadonlyArray<MemberRow>;
  };
  readonly keyVersions: ReadonlyArray<KeyVersionLife>;
  readonly counts: EventCounts;
  readonly integrity: IntegritySection;
  /**
   * The latest checkpoint kept with the ledger that members of this deployment signed, and how many did (issue 15,
   * docs/adr/0018): counted against the member keys the deployment's trust walk certifies — anchored only when the
   * signatures were checked against the reviewer's anchor. Absent: not looked up.
   */
  readonly checkpoint?: ReportCheckpoint;
}

export interface ReportCheckpoint extends LatestCheckpoint {
  /** The members' keys came from a trust walk anchored at the reviewer's --trust (else: as the ledger names them). */
  readonly anchored: boolean;
}

export interface ReportOptions {
  readonly deploymentId: DeploymentId;
  readonly period: ReportPeriod;
  readonly policy: ReportPolicy;
  /** The hash chain's digest (SHA-256 hex). */
  readonly digest: Digest;
  /** Ed25519 verification and thumbprints: needed when the policy names a trust anchor. */
  readonly signatures?: TrustCrypto;
  /** Installations to read besides those the deployment stream names (the local instance: one that never registered). */
  readonly alsoInstances?: ReadonlyArray<string>;
  readonly generatedAt: string;
  /**
   * Events read so far, and how many the streams hold (counted first, one look at each stream's last revision, only when
   * this is given: a bar on a terminal).
   */
  readonly onProgress?: (events: number, total: number) => void;
  readonly pageSize?: number;
}

/** A stored record that is not JSON: reported, and its stream read on after it. */
class Unreadable {
  constructor(
    readonly stream: string,
    readonly revision: bigint,
    readonly message: string,
  ) {}
}

/** What a stream hands out: its records as read (no wrapper per event), or one that is not JSON. */
type Item = RecordedEvent | Unreadable;

/**
 * One stream read page by page, its head item at hand without waiting (a merge of many streams takes one item at a
 * time); a record that is not JSON is handed out as such, and the stream goes on after it.
 */
class StreamCursor {
  private page: Item[] = [];
  private index = 0;
  private from = 0n;
  private done = false;
  /** Where the head item sits in the global order (an unreadable record: just after its stream's previous event). */
  at: Position = START;

  /** `store` null: a cursor over items already read (`over`). */
  private constructor(
    private readonly store: EventStore | null,
    private readonly stream: string,
    private readonly pageSize: number,
  ) {}

  static of(store: EventStore, stream: string, pageSize: number): StreamCursor {
    return new StreamCursor(store, stream, pageSize);
  }

  /** A cursor over items already read (the deployment stream, read once to know its members). */
  static over(stream: string, items: Item[]): StreamCursor {
    const c = new StreamCursor(null, stream, 0);
    c.page = items;
    c.done = true;
    return c;
  }

  /** The head item (undefined: the stream is done, once `fill` has run). */
  get head(): Item | undefined {
    return this.page[this.index];
  }

  /** Past the head; false when the page is used up (then `fill`). */
  advance(): boolean {
    const item = this.page[this.index++];
    if (item !== undefined && !(item instanceof Unreadable)) this.at = item.position;
    return this.settle();
  }

  /** Reads pages until there is a head item or the stream is done. */
  async fill(): Promise<E.Either<StoreError, void>> {
    while (this.index >= this.page.length && !this.done && this.store !== null) {
      const read = await this.store.readStream(this.stream, { fromRevision: this.from, maxCount: this.pageSize })();
      if (E.isRight(read)) {
        this.page = read.right as Item[];
        this.done = read.right.length < this.pageSize;
        this.from += BigInt(read.right.length);
      } else {
        const u = read.left;
        if (u._tag !== 'StoredRecordUnreadable' || u.stream !== this.stream || u.revision < this.from) return read;
        // The records before it, then it, then on after it.
        const before =
          u.revision === this.from
            ? E.right([])
            : await this.store.readStream(this.stream, { fromRevision: this.from, maxCount: Number(u.revision - this.from) })();
        if (E.isLeft(before)) return before;
        this.page = [...before.right, new Unreadable(this.stream, u.revision, u.message)];
        this.from = u.revision + 1n;
      }
      this.index = 0;
    }
    this.settle();
    return E.right(undefined);
  }

  private settle(): boolean {
    const item = this.page[this.index];
    if (item !== undefined && !(item instanceof Unreadable)) this.at = item.position;
    return item !== undefined;
  }
}

/** The installation IDs a deployment stream names (as stored, lower-cased: which instance streams to read; nothing more is trusted). */
const installationsIn = (items: ReadonlyArray<Item>): Set<string> => {
  const ids = new Set<string>();
  for (const item of items) {
    if (item instanceof Unreadable) continue;
    const data = (typeof item.data === 'object' && item.data !== null ? item.data : {}) as Record<string, unknown>;
    const copy = (typeof data['copy'] === 'object' && data['copy'] !== null ? data['copy'] : {}) as Record<string, unknown>;
    for (const v of [data['installationId'], copy['installationId']]) if (typeof v === 'string' && InstallationId.is(v.toLowerCase())) ids.add(v.toLowerCase());
  }
  return ids;
};

const before = (a: StreamCursor, b: StreamCursor): boolean => a.at.commit < b.at.commit || (a.at.commit === b.at.commit && a.at.prepare < b.at.prepare);

export const buildReport =
  (store: EventStore, options: ReportOptions): TE.TaskEither<StoreError, ComplianceReport> =>
  async () => {
    const { deploymentId, policy } = options;
    // 250-event pages, as a catch-up reads (ADR 0013): a page is garbage before V8 would move it to its old space.
    const pageSize = options.pageSize ?? 250;
    const tracker = integrityTracker(options.digest);
    const anchor = policy.trust;
    const audit = anchor !== null && options.signatures ? signatureAudit(options.signatures, { expectGenesis: anchor }) : undefined;
    const fold = reportFold(deploymentId, options.period);
    let sinceProgress = 0;
    /** The events the streams hold, counted before the merge when progress is asked for. */
    let total = 0;
    const handle = (item: Item): void => {
      if (item instanceof Unreadable) tracker.unreadable(item);
      else {
        const e = tracker.check(item);
        if (e) {
          audit?.add(e, tracker.events());
          fold.apply(e);
        }
      }
      if (++sinceProgress >= 1000 && options.onProgress) {
        sinceProgress = 0;
        options.onProgress(tracker.events(), total);
      }
    };

    // The deployment stream first (which instance streams to read), then every stream of it merged in global order.
    const dstream = deploymentStream(deploymentId);
    const deployment = StreamCursor.of(store, dstream, pageSize);
    const whole: Item[] = [];
    for (;;) {
      const filled = await deployment.fill();
      if (E.isLeft(filled)) return filled;
      const head = deployment.head;
      if (head === undefined) break;
      whole.push(head);
      deployment.advance();
    }
    const ids = installationsIn(whole);
    for (const id of options.alsoInstances ?? []) if (InstallationId.is(id.toLowerCase())) ids.add(id.toLowerCase());
    // One page per stream being merged: pages shrink as the fleet grows (memory), never below 50 events.
    const memberPage = Math.max(50, Math.min(pageSize, Math.floor(200_000 / Math.max(1, ids.size))));
    total = whole.length;
    if (options.onProgress)
      for (const stream of [...[...ids].map((id) => instanceStream(id as InstallationId)), contentStream(deploymentId)]) {
        const last = await store.readStream(stream, { direction: 'backwards', maxCount: 1 })();
        if (E.isRight(last) && last.right[0]) total += Number(last.right[0].revision) + 1;
      }
    const cursors = [
      StreamCursor.over(dstream, whole),
      ...[...ids].sort().map((id) => StreamCursor.of(store, instanceStream(id as InstallationId), memberPage)),
    ];
    const heap: StreamCursor[] = [];
    for (const c of cursors) {
      const filled = await c.fill();
      if (E.isLeft(filled)) return filled;
      if (c.head !== undefined) heap.push(c);
    }
    for (let i = Math.floor(heap.length / 2) - 1; i >= 0; i--) siftDown(heap, i);
    while (heap.length > 0) {
      const c = heap[0]!;
      handle(c.head!);
      if (!c.advance()) {
        const filled = await c.fill();
        if (E.isLeft(filled)) return filled;
      }
      if (c.head !== undefined) siftDown(heap, 0);
      else {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          siftDown(heap, 0);
        }
      }
    }
    // Every key and instance event is in: the trust walk runs now, and content events are checked as they come.
    audit?.settle();
    const content = StreamCursor.of(store, contentStream(deploymentId), pageSize);
    for (;;) {
      const filled = await content.fill();
      if (E.isLeft(filled)) return filled;
      const head = content.head;
      if (head === undefined) break;
      handle(head);
      content.advance();
    }
    options.onProgress?.(tracker.events(), Math.max(total, tracker.events()));

    const model = fold.end();
    let signatures: SignatureCheck = { status: 'not-anchored' };
    if (audit && anchor !== null) {
      const { summary } = audit.finish();
      const root = summary.deployments.find((x) => x.stream === dstream)?.genesis ?? null;
      const mismatch = root?.thumbprint !== anchor;
      signatures = {
        status: mismatch ? 'anchor-mismatch' : summary.problems.length > 0 ? 'problems' : 'verified',
        anchor,
        ledgerGenesis: root,
        checked: summary.checked,
        signed: summary.signed,
        verified: mismatch ? 0 : summary.verified,
        unsignedKeyEvents: summary.unsignedKeyEvents,
        unsignedInstanceEvents: summary.unsignedInstanceEvents,
        problems: summary.problems,
      };
    }
    const integrity: IntegritySection = { events: tracker.events(), heads: tracker.heads(), hashProblems: tracker.problems(), signatures };
    const findings = reportFindings(model, policy, integrity);
    const dview = model.view.deployments[deploymentId];
    const memberIds = [
      ...new Set([
        ...Object.keys(dview?.registered ?? {}),
        ...Object.keys(dview?.removed ?? {}),
        ...Object.values(model.view.instances)
          .filter((i) => i.deploymentId === deploymentId)
          .map((i) => i.installationId.toLowerCase()),
      ]),
    ];
    const members = memberIds
      .map((id): MemberRow => {
        const s = instanceStatus(model.view, id);
        const i = model.view.instances[id];
        const reg = dview?.registered[id] ?? dview?.removed[id];
        return {
          installationId: id,
          machineName: reg?.machineName ?? i?.machineName ?? null,
          instanceName: reg?.instanceName ?? i?.instanceName ?? null,
          serviceIdentity: i?.serviceIdentity ?? null,
          state: s.state,
          keyVersion: dview?.copies[id]?.keyVersion ?? null,
          thumbprint: i?.thumbprint ?? null,
          signingThumbprint: i?.signingThumbprint ?? null,
        };
      })
      .sort((a, b) =>
        `${a.machineName}\u0000${a.instanceName}\u0000${a.installationId}`.localeCompare(`${b.machineName}\u0000${b.instanceName}\u0000${b.installationId}`),
      );
    return E.right({
      report: 'keyledger-compliance-report',
      version: 1,
      deploymentId,
      period: options.period,
      generatedAt: options.generatedAt,
      policy,
      verdict: verdictOf(findings),
      findings,
      operations: model.operations,
      membership: {
        atStart: model.membersAtStart,
        atEnd: Object.keys(dview?.registered ?? {}).length,
        changes: model.membershipChanges,
        members,
      },
      keyVersions: model.keyVersions,
      counts: model.counts,
      integrity,
    });
  };

// ─── A binary min-heap of the streams being merged, by their head's position ──────

const siftDown = (a: StreamCursor[], i: number): void => {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < a.length && before(a[l]!, a[m]!)) m = l;
    if (r < a.length && before(a[r]!, a[m]!)) m = r;
    if (m === i) return;
    [a[i], a[m]] = [a[m]!, a[i]!];
    i = m;
  }
};
