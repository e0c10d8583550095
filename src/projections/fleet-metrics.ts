/**
 * What `/metrics` needs beside the activation view (docs/adr/0019): the events recorded per type (the ledger's
 * appends) and, per deployment, when its key was last backed up and which key version that backup holds. A pure fold,
 * kept live beside the activation view by the same runner (its own checkpoint).
 */
import type { StoredEvent } from '../domain/envelope';
import type { Projection } from './runner';

export interface FleetMetrics {
  /** Events recorded per type. */
  readonly events: Readonly<Record<string, number>>;
  /** Per deployment: the newest backup of its key (its time as recorded, and the key version it holds). */
  readonly backups: Readonly<Record<string, { readonly at: string; readonly keyVersion: number }>>;
}

export const initialFleetMetrics: FleetMetrics = { events: {}, backups: {} };

export const evolveFleetMetrics = (s: FleetMetrics, e: StoredEvent): FleetMetrics => {
  const type = e.event.type;
  const events = { ...s.events, [type]: (s.events[type] ?? 0) + 1 };
  if (e.event.type !== 'KeyBackedUp') return { ...s, events };
  return { events, backups: { ...s.backups, [e.event.data.deploymentId]: { at: e.metadata.occurredAt, keyVersion: e.event.data.keyVersion } } };
};

interface Working {
  events: Record<string, number>;
  backups: Record<string, { readonly at: string; readonly keyVersion: number }>;
}

export const fleetMetricsProjection: Projection<FleetMetrics> = {
  name: 'fleet-metrics',
  version: 1,
  initialState: initialFleetMetrics,
  evolve: evolveFleetMetrics,
  // A catch-up over a large ledger counts into one working copy instead of copying the counts per event.
  fold: {
    begin: (s: FleetMetrics): Working => ({ events: { ...s.events }, backups: { ...s.backups } }),
    apply: (w: Working, e: StoredEvent): void => {
      w.events[e.event.type] = (w.events[e.event.type] ?? 0) + 1;
      if (e.event.type === 'KeyBackedUp') w.backups[e.event.data.deploymentId] = { at: e.metadata.occurredAt, keyVersion: e.event.data.keyVersion };
    },
    end: (w: Working): FleetMetrics => ({ events: { ...w.events }, backups: { ...w.backups } }),
  },
};
