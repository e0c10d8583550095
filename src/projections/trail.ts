/**
 * The audit trail, event by event (`keyledger audit`, and `report`'s list of key operations): which events a
 * reader asked for (a streaming filter: time, type, actor, correlation ID — decided per event, nothing kept), and
 * each one as a flat record — who, when, which command and correlation, which instance, which key version, what
 * happened. Pure.
 */
import { classOf, type EventCategory } from '../domain/event-classes';
import type { StoredEvent } from '../domain/envelope';
import type { LedgerEventType } from '../domain/events';
import { positionToString } from '../ports/event-store';

export interface TrailFilter {
  /** Inclusive, in ms since the epoch (an event's `occurredAt`, as its writer's clock recorded it). */
  readonly since?: number;
  /** Exclusive. */
  readonly until?: number;
  readonly types?: ReadonlySet<LedgerEventType>;
  readonly actor?: string;
  readonly correlationId?: string;
}

export const matchesTrail = (f: TrailFilter, e: StoredEvent): boolean => {
  if (f.types !== undefined && !f.types.has(e.event.type)) return false;
  if (f.actor !== undefined && e.metadata.actor !== f.actor) return false;
  if (f.correlationId !== undefined && e.metadata.correlationId !== f.correlationId) return false;
  if (f.since !== undefined || f.until !== undefined) {
    const t = Date.parse(e.metadata.occurredAt);
    if (f.since !== undefined && t < f.since) return false;
    if (f.until !== undefined && t >= f.until) return false;
  }
  return true;
};

/** One event of the trail as a flat record (a table row, a JSON line, a CSV record). Stored text: escape before printing. */
export interface AuditRecord {
  readonly position: string;
  readonly stream: string;
  readonly revision: string;
  readonly occurredAt: string;
  readonly type: LedgerEventType;
  readonly category: EventCategory;
  readonly actor: string;
  readonly command: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** The installation it is about (the recipient of a copy, the one removed, …); null: none. */
  readonly installationId: string | null;
  /** Every installation it names (the sponsor of a join, the creator of a key, …). */
  readonly installations: ReadonlyArray<string>;
  readonly deploymentId: string | null;
  readonly keyVersion: number | null;
  /** Who signed it, as stored (`metadata.sig.by`; evidence, not verified here: `verify --signatures` checks it); null: unsigned. */
  readonly signedBy: string | null;
  readonly summary: string;
}

export const AUDIT_COLUMNS = [
  'position',
  'stream',
  'revision',
  'occurredAt',
  'type',
  'category',
  'actor',
  'command',
  'correlationId',
  'causationId',
  'installationId',
  'deploymentId',
  'keyVersion',
  'signedBy',
  'summary',
] as const satisfies ReadonlyArray<keyof AuditRecord>;

const signedBy = (sig: unknown): string | null =>
  typeof sig === 'object' && sig !== null && typeof (sig as { by?: unknown }).by === 'string' ? (sig as { by: string }).by : null;

export const auditRecord = (e: StoredEvent): AuditRecord => {
  const c = classOf(e.event);
  const subjects = c.subjects(e.event.data);
  const data = e.event.data as { readonly deploymentId?: unknown };
  return {
    position: positionToString(e.position),
    stream: e.stream,
    revision: e.revision.toString(),
    occurredAt: e.metadata.occurredAt,
    type: e.event.type,
    category: c.category,
    actor: e.metadata.actor,
    command: e.metadata.command,
    correlationId: e.metadata.correlationId,
    causationId: e.metadata.causationId,
    installationId: subjects[0] ?? null,
    installations: [...new Set(subjects.map((s) => s.toLowerCase()))],
    deploymentId: typeof data.deploymentId === 'string' ? data.deploymentId : null,
    keyVersion: c.keyVersion(e.event.data),
    signedBy: signedBy(e.metadata.sig),
    summary: c.summary(e.event.data),
  };
};
