/**
 * A generated ledger whose trail is known event by event, for the audit tests: D deployments of N instances, each
 * initialized (the first creates the key, the others are refused once while waiting, then joined), activated,
 * restarted R times; in every deployment one member backed the key up and its last member was removed. Every event
 * is sealed into its stream's chain through the port (unsigned: audit reads, it does not verify signatures), with an
 * actor, a correlation ID and a time chosen here — so the tests count what a filter must return on their own.
 */
import { createHash } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { type CommandContext, GENESIS, sealEvents } from '../../src/domain/envelope';
import type { Base64Url, CompactJwe, Fingerprint, Iterations, LedgerEvent, PublicJwk } from '../../src/domain/events';
import {
  type DeploymentId,
  deploymentStream,
  type InstallationId,
  instanceStream,
  type KeyVersion,
  type NonEmptyString,
  type Thumbprint,
} from '../../src/domain/ids';
import { sha256Hex } from '../../src/infra/sha256';
import type { EventStore } from '../../src/ports/event-store';

export interface TrailEvent {
  readonly stream: string;
  readonly type: LedgerEvent['type'];
  readonly actor: string;
  readonly correlationId: string;
  readonly occurredAt: string;
  /** The installations the event names. */
  readonly names: ReadonlyArray<string>;
  readonly deploymentId: string;
}

export const START_MS = Date.parse('2026-11-01T00:00:00.000Z');

const b64 = (label: string, bytes = 32): string => createHash('sha256').update(label).digest().subarray(0, bytes).toString('base64url');
const tp = (label: string): Thumbprint => b64(`tp:${label}`) as Thumbprint;
const key = (label: string): PublicJwk => ({ kty: 'RSA', n: b64(`n:${label}`), e: 'AQAB', alg: 'RSA-OAEP-256', use: 'enc' }) as unknown as PublicJwk;
const jwe = (label: string): CompactJwe =>
  [
    Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })).toString('base64url'),
    b64(`k:${label}`),
    b64(`iv:${label}`, 12),
    b64(`c:${label}`),
    b64(`t:${label}`, 16),
  ].join('.') as CompactJwe;
/** A deterministic installation ID (a GUID) per label. */
const guid = (label: string): InstallationId => {
  const h = createHash('sha256').update(label).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}` as InstallationId;
};

export interface TrailLedgerOptions {
  readonly deployments: number;
  readonly instances: number;
  readonly restarts: number;
  /** Who acts, in turn, event after event (stored as is: an attacker could write any of them). */
  readonly actors: ReadonlyArray<string>;
}

/** Writes the ledger; returns every event in the order written (the global order), with what a filter looks at. */
export const writeTrailLedger = async (store: EventStore, o: TrailLedgerOptions): Promise<ReadonlyArray<TrailEvent>> => {
  const heads = new Map<string, { revision: bigint | 'no_stream'; hash: string }>();
  const out: TrailEvent[] = [];
  let n = 0;
  let operation = 0;
  const append = async (stream: string, ev: LedgerEvent, names: ReadonlyArray<string>, deploymentId: string): Promise<void> => {
    const actor = o.actors[n % o.actors.length]!;
    const occurredAt = new Date(START_MS + n * 60_000).toISOString();
    const correlationId = `op-${operation}`;
    const ctx: CommandContext = {
      actor,
      command: 'generated',
      correlationId,
      causationId: correlationId,
      now: () => new Date(occurredAt),
      newId: () => guid(`event ${n}`),
    };
    const head = heads.get(stream) ?? { revision: 'no_stream' as const, hash: GENESIS };
    const sealed = sealEvents(stream, head, [ev], ctx, sha256Hex);
    if (E.isLeft(sealed)) throw new Error(`trail ledger: ${sealed.left.problem}`);
    const written = await store.append(stream, sealed.right, head.revision)();
    if (E.isLeft(written)) throw new Error(`trail ledger: ${written.left._tag}`);
    heads.set(stream, { revision: written.right.nextExpectedRevision, hash: (sealed.right[0]!.metadata as { hash: string }).hash });
    out.push({ stream, type: ev.type, actor, correlationId, occurredAt, names, deploymentId });
    n++;
  };
  const V1 = 1 as KeyVersion;
  for (let d = 0; d < o.deployments; d++) {
    const deploymentId = `trail-${d}` as DeploymentId;
    const dstream = deploymentStream(deploymentId);
    let first: { id: InstallationId; tp: Thumbprint } | undefined;
    let last: { id: InstallationId; tp: Thumbprint; machine: string } | undefined;
    for (let i = 0; i < o.instances; i++) {
      operation++;
      const id = guid(`${d}/${i}`);
      const label = `${d}/${i}`;
      const machine = `RS-${d}-${i}` as NonEmptyString;
      const instanceName = 'MSSQLSERVER' as NonEmptyString;
      const istream = instanceStream(id);
      await append(
        istream,
        {
          type: 'ConfigRead',
          data: {
            installationId: id,
            deploymentId,
            machineName: machine,
            instanceName,
            serviceIdentity: 'svc' as NonEmptyString,
            store: { kind: 'sqlite', location: '/srv/ledger.db' },
            keystorePath: `/srv/${label}.json`,
          },
        },
        [id],
        deploymentId,
      );
      await append(
        istream,
        {
          type: 'KeyPairIssued',
          data: {
            installationId: id,
            publicKey: key(label),
            thumbprint: tp(label),
            algorithm: 'RSA-OAEP-256',
            keySize: 2048,
            serviceIdentity: 'svc' as NonEmptyString,
          },
        },
        [id],
        deploymentId,
      );
      await append(
        dstream,
        {
          type: 'PublicKeyStored',
          data: { deploymentId, installationId: id, machineName: machine, instanceName, thumbprint: tp(label), publicKey: key(label) },
        },
        [id],
        deploymentId,
      );
      const copy = { installationId: id, recipientThumbprint: tp(label), jwe: jwe(label) };
      if (!first) {
        await append(
          dstream,
          {
            type: 'SymmetricKeyCreated',
            data: { deploymentId, keyVersion: V1, algorithm: 'A256GCM', keyCheck: b64(`kc:${d}`) as Base64Url, createdBy: id, copy },
          },
          [id],
          deploymentId,
        );
        first = { id, tp: tp(label) };
      } else {
        await append(
          istream,
          { type: 'InstanceActivationRefused', data: { installationId: id, deploymentId, reason: { _tag: 'NoWrappedCopy', keyVersion: V1 } } },
          [id],
          deploymentId,
        );
        operation++;
        await append(
          dstream,
          { type: 'SymmetricKeyWrapped', data: { deploymentId, keyVersion: V1, copy, wrappedBy: first.id, wrappedByThumbprint: first.tp } },
          [id, first.id],
          deploymentId,
        );
      }
      for (let r = 0; r <= o.restarts; r++) {
        operation++;
        await append(
          istream,
          { type: 'InstanceActivated', data: { installationId: id, deploymentId, keyVersion: V1, thumbprint: tp(label) } },
          [id],
          deploymentId,
        );
      }
      last = { id, tp: tp(label), machine };
    }
    operation++;
    if (first)
      await append(
        dstream,
        {
          type: 'KeyBackedUp',
          data: {
            deploymentId,
            backedUpBy: first.id,
            keyVersion: V1,
            fingerprint: b64(`file ${d}`) as Fingerprint,
            iterations: 600_000 as Iterations,
            genesisThumbprint: null,
          },
        },
        [first.id],
        deploymentId,
      );
    operation++;
    if (last && last.id !== first?.id)
      await append(
        dstream,
        {
          type: 'InstanceRemoved',
          data: {
            deploymentId,
            installationId: last.id,
            machineName: last.machine,
            instanceName: 'MSSQLSERVER',
            thumbprint: last.tp,
            revokedKeyVersion: V1,
            forced: false,
            lastMember: false,
          },
        },
        [last.id],
        deploymentId,
      );
  }
  return out;
};
