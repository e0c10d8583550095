/**
 * An instance's key events in order (`diagnose`, and the per-instance lanes of `report`): from its own stream and
 * its deployment's, the events that name it plus those that bear on every member (a new key version, a retirement,
 * a backup, a genesis), each with when, who, which command and correlation, and whether it records a failure.
 * Also the ledger "as it was" at a point (`--at`). Pure, over events already decoded and hash-checked, in global order.
 */
import { classOf, type EventCategory, type InitStep, names } from '../domain/event-classes';
import type { StoredEvent } from '../domain/envelope';
import type { LedgerEventType } from '../domain/events';
import { comparePositions, type Position, positionToString } from '../ports/event-store';
import type { EventRef } from './activation';

/** Where a key event is, who recorded it, and in which operation. */
export interface TimelineRef extends EventRef {
  readonly command: string;
  readonly correlationId: string;
}

export interface TimelineEntry {
  readonly at: TimelineRef;
  readonly type: LedgerEventType;
  readonly category: EventCategory;
  /** `failed`: a start check that refused (its reason is in the summary); every other recorded event is `done`. */
  readonly mark: 'done' | 'failed';
  /** The initialization step this event records for the instance (a copy wrapped for another member is not its step 4). */
  readonly step: InitStep | null;
  readonly keyVersion: number | null;
  /** What happened (stored text: escape it before printing). */
  readonly summary: string;
}

export const timelineRef = (e: StoredEvent): TimelineRef => ({
  stream: e.stream,
  revision: e.revision.toString(),
  position: positionToString(e.position),
  occurredAt: e.metadata.occurredAt,
  actor: e.metadata.actor,
  command: e.metadata.command,
  correlationId: e.metadata.correlationId,
});

/** Whether an event belongs on an instance's timeline: a key event that names it, or one that bears on its whole deployment. */
export const onTimelineOf = (e: StoredEvent, installationId: string): boolean => {
  const c = classOf(e.event);
  return c.keyEvent && (c.deploymentWide || names(e.event, installationId));
};

const stepFor = (e: StoredEvent, installationId: string): InitStep | null => {
  const ev = e.event;
  const step = classOf(ev).step;
  if (step === null) return null;
  // A key version's creation and a wrap are step 4 only for the installation the copy is for.
  if (ev.type === 'SymmetricKeyCreated' || ev.type === 'SymmetricKeyWrapped') return ev.data.copy.installationId.toLowerCase() === installationId ? 4 : null;
  return names(ev, installationId) ? step : null;
};

export const timelineEntry = (e: StoredEvent, installationId: string): TimelineEntry => {
  const c = classOf(e.event);
  return {
    at: timelineRef(e),
    type: e.event.type,
    category: c.category,
    mark: e.event.type === 'InstanceActivationRefused' ? 'failed' : 'done',
    step: stepFor(e, installationId.toLowerCase()),
    keyVersion: c.keyVersion(e.event.data),
    summary: c.summary(e.event.data),
  };
};

/** The instance's key events among `events` (its stream and its deployment's, merged in global order). */
export const instanceTimeline = (installationId: string, events: Iterable<StoredEvent>): ReadonlyArray<TimelineEntry> => {
  const out: TimelineEntry[] = [];
  for (const e of events) if (onTimelineOf(e, installationId)) out.push(timelineEntry(e, installationId));
  return out;
};

// ─── The ledger as it was ─────────────────────────────────────────────────

/**
 * A point in the ledger's past: a time (each event as its writer's clock recorded it) or a global position
 * (`commitOnly`: a bare number, compared with the commit part only — an EventStoreDB position names both parts).
 */
export type AtPoint =
  | { readonly kind: 'time'; readonly iso: string; readonly ms: number }
  | { readonly kind: 'position'; readonly position: Position; readonly commitOnly: boolean };

export const describeAt = (at: AtPoint): string =>
  at.kind === 'time' ? at.iso : at.commitOnly ? `position ${at.position.commit}` : `position ${positionToString(at.position)}`;

/**
 * The events recorded at or before a point, in global order. By time, each stream is cut at its first event
 * recorded later (clocks of different writers may disagree, but a stream never goes back in time for a reader).
 */
export const eventsAt = (events: ReadonlyArray<StoredEvent>, at: AtPoint | undefined): ReadonlyArray<StoredEvent> => {
  if (at === undefined) return events;
  if (at.kind === 'position')
    return events.filter((e) => (at.commitOnly ? e.position.commit <= at.position.commit : comparePositions(e.position, at.position) <= 0));
  const cut = new Set<string>();
  return events.filter((e) => {
    if (cut.has(e.stream)) return false;
    const t = Date.parse(e.metadata.occurredAt);
    if (t <= at.ms) return true;
    cut.add(e.stream);
    return false;
  });
};
