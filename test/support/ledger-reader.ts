/**
 * Reading the ledger back in tests: every event of a stream, decoded.
 */
import * as E from 'fp-ts/Either';
import { decodeRecorded, type StoredEvent } from '../../src/domain/envelope';
import { type DeploymentId, deploymentStream, type InstallationId, instanceStream } from '../../src/domain/ids';
import type { EventStore } from '../../src/ports/event-store';

export const eventsOf = async (store: EventStore, stream: string): Promise<StoredEvent[]> => {
  const r = await store.readStream(stream)();
  if (E.isLeft(r)) throw new Error(`read failed: ${JSON.stringify(r.left)}`);
  return r.right.map((x) => {
    const d = decodeRecorded(x);
    if (E.isLeft(d)) throw new Error(`corrupt: ${JSON.stringify(d.left, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    return d.right;
  });
};

export const typesOf = (events: ReadonlyArray<StoredEvent>): string[] => events.map((e) => e.event.type);

export const instanceTypes = async (store: EventStore, id: InstallationId): Promise<string[]> => typesOf(await eventsOf(store, instanceStream(id)));
export const deploymentTypes = async (store: EventStore, id: DeploymentId = 'default' as DeploymentId): Promise<string[]> =>
  typesOf(await eventsOf(store, deploymentStream(id)));
