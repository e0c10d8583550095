/**
 * The compliance report's read model (docs/adr/0017-compliance-report.md): a pure fold over one deployment's events
 * — its deployment stream, its members' instance streams and its content stream, in global order — that keeps what a
 * reviewer reads over a period: every key operation, membership changes, each key version's life and backups, and
 * the state at the end of the period (the activation view, so findings are the ones `status` gives).
 *
 * Events recorded after the period's end (by their recorded time) are not folded: the state is the one at its end.
 * Events before its start are folded (the state it starts from) but not listed. Memory: the operations listed (key
 * operations, and start checks that changed an instance's state), one record per member and per key version.
 */
import type { StoredEvent } from '../domain/envelope';
import type { LedgerEventType } from '../domain/events';
import { type ActivationView, activationFold, initialActivationView } from './activation';
import { type Details, EVENT_CLASSES, type Operation, type OperationRef, operationOf, operationRef } from './report-events';

export interface ReportPeriod {
  /** Inclusive, ISO 8601 (null: from the first event). */
  readonly from: string | null;
  /** Inclusive, ISO 8601: the state and the findings are those at this instant. */
  readonly to: string;
}

export type MembershipChangeKind = 'registered' | 'joined' | 'left' | 'identity-changed';

export interface MembershipChange {
  readonly at: OperationRef;
  readonly change: MembershipChangeKind;
  readonly installationId: string;
  readonly machineName: string | null;
  readonly instanceName: string | null;
  readonly details: Details;
}

export interface KeyVersionLife {
  readonly keyVersion: number;
  readonly created: OperationRef;
  readonly createdBy: string | null;
  /** KeyVersionRetired (null: still current, or replaced by a re-creation not finished). */
  readonly retired: OperationRef | null;
  readonly backups: number;
  readonly lastBackup: OperationRef | null;
}

export interface EventCounts {
  /** Events folded before the period starts (the state it starts from). */
  readonly beforePeriod: number;
  readonly inPeriod: number;
  /** Recorded after the period's end: checked for integrity, not folded. */
  readonly afterPeriod: number;
  /** In the period, by event type. */
  readonly byType: Readonly<Partial<Record<LedgerEventType, number>>>;
}

/** What the fold hands out: the report's content before findings. */
export interface ReportModel {
  readonly deploymentId: string;
  readonly period: ReportPeriod;
  /** In the ledger's order. */
  readonly operations: ReadonlyArray<Operation>;
  readonly membershipChanges: ReadonlyArray<MembershipChange>;
  /** Members registered when the period starts (before its first event). */
  readonly membersAtStart: number;
  readonly keyVersions: ReadonlyArray<KeyVersionLife>;
  readonly counts: EventCounts;
  /** The activation view at the end of the period (this deployment's streams only). */
  readonly view: ActivationView;
}

type Working = ReturnType<typeof activationFold.begin>;
type Writable<T> = { -readonly [K in keyof T]: T[K] };

export interface ReportFold {
  readonly apply: (e: StoredEvent) => void;
  readonly end: () => ReportModel;
}

/** What a start check's outcome says of the instance: the key version activated with, or the refusal's reason (no string built per event). */
const outcomeKey = (e: StoredEvent): number | string | undefined =>
  e.event.type === 'InstanceActivated' ? e.event.data.keyVersion : e.event.type === 'InstanceActivationRefused' ? e.event.data.reason._tag : undefined;

export const reportFold = (deploymentId: string, period: ReportPeriod): ReportFold => {
  const fromMs = period.from === null ? Number.NEGATIVE_INFINITY : Date.parse(period.from);
  const toMs = Date.parse(period.to);
  const working: Working = activationFold.begin(initialActivationView);
  const operations: Operation[] = [];
  const changes: MembershipChange[] = [];
  const lastOutcome = new Map<string, number | string>();
  const holdsCopy = new Set<string>();
  const keyVersions = new Map<number, Writable<KeyVersionLife>>();
  const byType: Partial<Record<LedgerEventType, number>> = {};
  let beforePeriod = 0;
  let inPeriod = 0;
  let afterPeriod = 0;
  let membersAtStart: number | null = null;

  const deployment = () => working.deployments[deploymentId];
  const names = (id: string): { machineName: string | null; instanceName: string | null } => {
    const d = deployment();
    const known = d?.registered[id] ?? d?.removed[id];
    const i = working.instances[id];
    return { machineName: known?.machineName ?? i?.machineName ?? null, instanceName: known?.instanceName ?? i?.instanceName ?? null };
  };
  const change = (e: StoredEvent, kind: MembershipChangeKind, id: string, details: Details = {}): void => {
    changes.push({ at: operationRef(e), change: kind, installationId: id, ...names(id), details });
  };

  /** What the event changes in membership and key versions (before it is folded into the view). */
  const track = (e: StoredEvent, listed: boolean): void => {
    const ev = e.event;
    switch (ev.type) {
      case 'PublicKeyStored':
        if (listed) change(e, 'registered', ev.data.installationId.toLowerCase());
        return;
      case 'SymmetricKeyCreated':
      case 'SymmetricKeyWrapped': {
        const id = ev.data.copy.installationId.toLowerCase();
        if (ev.type === 'SymmetricKeyCreated')
          keyVersions.set(ev.data.keyVersion, {
            keyVersion: ev.data.keyVersion,
            created: operationRef(e),
            createdBy: ev.data.createdBy.toLowerCase(),
            retired: null,
            backups: 0,
            lastBackup: null,
          });
        if (!holdsCopy.has(id)) {
          holdsCopy.add(id);
          if (listed) change(e, 'joined', id, { keyVersion: ev.data.keyVersion });
        }
        return;
      }
      case 'InstanceRemoved': {
        const id = ev.data.installationId.toLowerCase();
        holdsCopy.delete(id);
        if (listed) change(e, 'left', id, { forced: ev.data.forced, lastMember: ev.data.lastMember });
        return;
      }
      case 'ServiceIdentityChanged':
        if (listed)
          change(e, 'identity-changed', ev.data.installationId.toLowerCase(), {
            previousIdentity: ev.data.previousIdentity,
            serviceIdentity: ev.data.serviceIdentity,
          });
        return;
      case 'KeyBackedUp': {
        const k = keyVersions.get(ev.data.keyVersion);
        if (k) {
          k.backups++;
          k.lastBackup = operationRef(e);
        }
        return;
      }
      case 'KeyVersionRetired': {
        const k = keyVersions.get(ev.data.keyVersion);
        if (k) k.retired = operationRef(e);
        return;
      }
      default:
        return;
    }
  };

  return {
    apply: (e) => {
      const at = Date.parse(e.metadata.occurredAt);
      if (at > toMs) {
        afterPeriod++;
        return;
      }
      const listed = at >= fromMs;
      if (listed) {
        membersAtStart ??= Object.keys(deployment()?.registered ?? {}).length;
        inPeriod++;
        byType[e.event.type] = (byType[e.event.type] ?? 0) + 1;
      } else beforePeriod++;
      track(e, listed);
      const cls = EVENT_CLASSES[e.event.type].class;
      const outcome = outcomeKey(e);
      if (outcome !== undefined) {
        const id = (e.event.data as { installationId: string }).installationId.toLowerCase();
        const changed = lastOutcome.get(id) !== outcome;
        lastOutcome.set(id, outcome);
        if (listed && changed) operations.push(operationOf(e, names));
      } else if (listed && cls !== 'content') operations.push(operationOf(e, names));
      activationFold.apply(working, e);
    },
    end: () => ({
      deploymentId,
      period,
      operations,
      membershipChanges: changes,
      membersAtStart: membersAtStart ?? Object.keys(deployment()?.registered ?? {}).length,
      keyVersions: [...keyVersions.values()].sort((a, b) => a.keyVersion - b.keyVersion),
      counts: { beforePeriod, inPeriod, afterPeriod, byType },
      view: activationFold.end(working),
    }),
  };
};
