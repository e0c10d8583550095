/**
 * Test data for the domain unit tests, from small builders: installations and
 * their keys, wrapped copies, one builder per event type, an instance's own
 * events bound to it (`anInstance()`), replayed histories for the read models,
 * and the two deciders for given / when / then.
 *
 * Everything is deterministic: thumbprints and public keys are hashes of a
 * label, and a history's clock steps one second per event.
 */
import { createHash } from 'node:crypto';
import {
  decideDeployment,
  type DeploymentCommand,
  type DeploymentError,
  type DeploymentState,
  evolveDeployment,
  initialDeploymentState,
} from '../../src/domain/deployment/decider';
import { type CommandContext, decodeRecorded, GENESIS, sealEvents, type StoredEvent } from '../../src/domain/envelope';
import { sha256Hex } from '../../src/infra/sha256';
import {
  type Base64Url,
  type CompactJwe,
  type DeploymentEvent,
  type EventOf,
  type InstanceEvent,
  isContentEvent,
  isDeploymentEvent,
  type KeySize,
  type LedgerEvent,
  type PublicJwk,
  type RefusalReason,
  type WrappedCopy,
} from '../../src/domain/events';
import {
  type DeploymentId,
  deploymentStream,
  type InstallationId,
  contentStream,
  instanceStream,
  type KeyVersion,
  type NonEmptyString,
  type Thumbprint,
} from '../../src/domain/ids';
import {
  decideInstance,
  evolveInstance,
  initialInstanceState,
  type InstanceCommand,
  type InstanceConfig,
  type InstanceError,
  type InstanceState,
  type IssuedKeyPair,
} from '../../src/domain/instance/decider';
import type { OutcomeBasis } from '../../src/domain/events';
import { type ActivationView, type EventRef, evolveActivation, initialActivationView } from '../../src/projections/activation';
import { instanceStatus } from '../../src/projections/status';
import { type Decider, stateAfter } from './decider-spec';
import { rightOf } from './fixtures';

// ─── Installations and the deployment ─────────────────────────────────────

export const NODE_1 = '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b' as InstallationId;
export const NODE_2 = '0a6e1f3c-2b7d-4e9a-8c5f-1d3b6a9e2f4c' as InstallationId;
export const NODE_3 = 'c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f' as InstallationId;
export const DEPLOYMENT = 'default' as DeploymentId;
export const DSTREAM = deploymentStream(DEPLOYMENT);

const MACHINES: Readonly<Record<string, string>> = { [NODE_1]: 'RS-NODE-1', [NODE_2]: 'RS-NODE-2', [NODE_3]: 'RS-NODE-3' };
/** The machine an installation runs on: NODE_n on RS-NODE-n. */
export const machineOf = (id: InstallationId): NonEmptyString => {
  const machine = MACHINES[id];
  if (machine === undefined) throw new Error(`test bug: no machine for installation ${id}`);
  return machine as NonEmptyString;
};
export const INSTANCE_NAME = 'MSSQLSERVER' as NonEmptyString;
export const IDENTITY = 'NT SERVICE\\ReportServer' as NonEmptyString;
export const NEW_IDENTITY = 'CONTOSO\\svc-reports' as NonEmptyString;
export const KEYSTORE = '/var/lib/keyledger/keystore/instance.keystore.json';

// ─── Keys and wrapped copies ──────────────────────────────────────────────

export const thumbprintOf = (label: string): Thumbprint => createHash('sha256').update(label).digest('base64url') as Thumbprint;
export const TP_1 = thumbprintOf('node 1 key');
/** NODE_1's key after its service identity changed. */
export const TP_1B = thumbprintOf('node 1 key under the new identity');
export const TP_2 = thumbprintOf('node 2 key');
export const TP_3 = thumbprintOf('node 3 key');
/** A key no member of the deployment was issued. */
export const TP_X = thumbprintOf('some other key');
/** The RSA public key with this thumbprint (its modulus a hash of it: shaped like a key, not one). */
export const publicKey = (tp: Thumbprint): PublicJwk =>
  ({ kty: 'RSA', n: createHash('sha512').update(tp).digest('base64url'), e: 'AQAB', alg: 'RSA-OAEP-256', use: 'enc', kid: tp }) as unknown as PublicJwk;

export const V1 = 1 as KeyVersion;
export const V2 = 2 as KeyVersion;
export const KEY_CHECK = createHash('sha256').update('key check v1').digest('base64url') as Base64Url;

export const b64u = (s: string | Buffer): string => Buffer.from(s).toString('base64url');
/** A syntactically valid compact JWE with the header a wrapped key carries; `salt` makes another ciphertext. */
export const jweFor = (tp: Thumbprint, salt = ''): CompactJwe =>
  [
    b64u(JSON.stringify({ alg: 'RSA-OAEP-256', kid: tp, enc: 'A256GCM' })),
    b64u(`encrypted key${salt}`),
    b64u('iv-12-bytes!'),
    b64u('ciphertext'),
    b64u('tag-16-bytes!!!!'),
  ].join('.') as CompactJwe;
/** The symmetric key wrapped for an installation's public key. */
export const copyFor = (installationId: InstallationId, recipientThumbprint: Thumbprint, salt = ''): WrappedCopy => ({
  installationId,
  recipientThumbprint,
  jwe: jweFor(recipientThumbprint, salt),
});

// ─── Config and key pair ──────────────────────────────────────────────────

/** An instance's config file as `keyledger init` reads it: NODE_1 on its machine, unless overridden. */
export const anInstanceConfig = (overrides: Partial<InstanceConfig> = {}): InstanceConfig => {
  const installationId = overrides.installationId ?? NODE_1;
  return {
    installationId,
    deploymentId: DEPLOYMENT,
    machineName: machineOf(installationId),
    instanceName: INSTANCE_NAME,
    serviceIdentity: IDENTITY,
    store: { kind: 'sqlite', location: '/var/lib/keyledger/ledger.db' },
    keystorePath: KEYSTORE,
    ...overrides,
  };
};

/** The key pair issued to an installation, under the config's service identity. */
export const anIssuedKeyPair = (installationId: InstallationId, tp: Thumbprint, overrides: Partial<IssuedKeyPair> = {}): IssuedKeyPair => ({
  installationId,
  publicKey: publicKey(tp),
  thumbprint: tp,
  algorithm: 'RSA-OAEP-256',
  keySize: 2048,
  serviceIdentity: IDENTITY,
  ...overrides,
});

// ─── Instance events ──────────────────────────────────────────────────────

export const configRead = (id: InstallationId): EventOf<'ConfigRead'> => ({ type: 'ConfigRead', data: anInstanceConfig({ installationId: id }) });
export const keyPairIssued = (id: InstallationId, tp: Thumbprint, overrides: Partial<IssuedKeyPair> = {}): EventOf<'KeyPairIssued'> => ({
  type: 'KeyPairIssued',
  data: anIssuedKeyPair(id, tp, overrides),
});
export const activated = (id: InstallationId, tp: Thumbprint, keyVersion: KeyVersion = V1): EventOf<'InstanceActivated'> => ({
  type: 'InstanceActivated',
  data: { installationId: id, deploymentId: DEPLOYMENT, keyVersion, thumbprint: tp },
});
export const refused = (id: InstallationId, reason: RefusalReason): EventOf<'InstanceActivationRefused'> => ({
  type: 'InstanceActivationRefused',
  data: { installationId: id, deploymentId: DEPLOYMENT, reason },
});
/** A new key pair under a new service identity: by default IDENTITY → NEW_IDENTITY, 2048 bits. */
export const identityChanged = (
  id: InstallationId,
  previousThumbprint: Thumbprint,
  tp: Thumbprint,
  {
    previousIdentity = IDENTITY,
    serviceIdentity = NEW_IDENTITY,
    keySize = 2048,
  }: { previousIdentity?: NonEmptyString; serviceIdentity?: NonEmptyString; keySize?: KeySize } = {},
): EventOf<'ServiceIdentityChanged'> => ({
  type: 'ServiceIdentityChanged',
  data: {
    installationId: id,
    previousIdentity,
    serviceIdentity,
    previousThumbprint,
    publicKey: publicKey(tp),
    thumbprint: tp,
    algorithm: 'RSA-OAEP-256',
    keySize,
  },
});

// ─── Deployment events ────────────────────────────────────────────────────

export const publicKeyStored = (id: InstallationId, tp: Thumbprint): EventOf<'PublicKeyStored'> => ({
  type: 'PublicKeyStored',
  data: { deploymentId: DEPLOYMENT, installationId: id, machineName: machineOf(id), instanceName: INSTANCE_NAME, thumbprint: tp, publicKey: publicKey(tp) },
});
/** The creator's own copy is wrapped for its key `tp`. */
export const keyCreated = (by: InstallationId, tp: Thumbprint, keyVersion: KeyVersion = V1): EventOf<'SymmetricKeyCreated'> => ({
  type: 'SymmetricKeyCreated',
  data: { deploymentId: DEPLOYMENT, keyVersion, algorithm: 'A256GCM', keyCheck: KEY_CHECK, createdBy: by, copy: copyFor(by, tp) },
});
/** Who wrapped a copy (NODE_1 with TP_1 unless said), and a salt for another ciphertext. */
export interface WrappedBy {
  readonly by?: InstallationId;
  readonly byThumbprint?: Thumbprint;
  readonly salt?: string;
}
/** A copy of key `keyVersion` wrapped for `to`'s key `tp`. */
export const keyWrapped = (
  to: InstallationId,
  tp: Thumbprint,
  keyVersion: KeyVersion = V1,
  { by = NODE_1, byThumbprint = TP_1, salt = '' }: WrappedBy = {},
): EventOf<'SymmetricKeyWrapped'> => ({
  type: 'SymmetricKeyWrapped',
  data: { deploymentId: DEPLOYMENT, keyVersion, copy: copyFor(to, tp, salt), wrappedBy: by, wrappedByThumbprint: byThumbprint },
});
export const removed = (
  id: InstallationId,
  tp: Thumbprint,
  revokedKeyVersion: KeyVersion | null,
  { forced = false, lastMember = false }: { forced?: boolean; lastMember?: boolean } = {},
): EventOf<'InstanceRemoved'> => ({
  type: 'InstanceRemoved',
  data: {
    deploymentId: DEPLOYMENT,
    installationId: id,
    machineName: machineOf(id),
    instanceName: INSTANCE_NAME,
    thumbprint: tp,
    revokedKeyVersion,
    forced,
    lastMember,
  },
});
export const keyReplaced = (id: InstallationId, previousThumbprint: Thumbprint, tp: Thumbprint): EventOf<'PublicKeyReplaced'> => ({
  type: 'PublicKeyReplaced',
  data: { deploymentId: DEPLOYMENT, installationId: id, previousThumbprint, thumbprint: tp, publicKey: publicKey(tp), reason: 'service-identity-changed' },
});

// ─── Commands ─────────────────────────────────────────────────────────────

export const storePublicKey = (id: InstallationId, tp: Thumbprint, rejoin?: boolean): DeploymentCommand => ({
  type: 'StorePublicKey',
  deploymentId: DEPLOYMENT,
  installationId: id,
  machineName: machineOf(id),
  instanceName: INSTANCE_NAME,
  thumbprint: tp,
  publicKey: publicKey(tp),
  ...(rejoin === undefined ? {} : { rejoin }),
});

/** What a start-check outcome was decided on: NODE_n presenting key `tp` from RS-NODE-n, deployment revision `revision`. */
export const aBasis = (id: InstallationId, tp: Thumbprint | null, revision: number, overrides: Partial<OutcomeBasis> = {}): OutcomeBasis => ({
  deploymentRevision: revision as OutcomeBasis['deploymentRevision'],
  presentedThumbprint: tp,
  machineName: machineOf(id),
  host: `host-of-${machineOf(id).toLowerCase()}`,
  keystorePath: `/var/keyledger/${id.slice(0, 8)}/instance.keystore.json`,
  ...overrides,
});

// ─── One instance ─────────────────────────────────────────────────────────

/** An installation's config, key pair and own events, its ID and key bound: for single-instance tests. */
export interface AnInstance {
  readonly config: InstanceConfig;
  readonly keyPair: IssuedKeyPair;
  readonly configRead: EventOf<'ConfigRead'>;
  readonly keyPairIssued: EventOf<'KeyPairIssued'>;
  readonly activated: (keyVersion?: KeyVersion, thumbprint?: Thumbprint) => EventOf<'InstanceActivated'>;
  readonly refused: (reason: RefusalReason) => EventOf<'InstanceActivationRefused'>;
  readonly activate: (thumbprint: Thumbprint, keyVersion?: KeyVersion) => InstanceCommand;
}

export const anInstance = (id: InstallationId = NODE_1, tp: Thumbprint = TP_1, keyPairOverrides: Partial<IssuedKeyPair> = {}): AnInstance => {
  const config = anInstanceConfig({ installationId: id });
  const keyPair = anIssuedKeyPair(id, tp, keyPairOverrides);
  return {
    config,
    keyPair,
    configRead: { type: 'ConfigRead', data: config },
    keyPairIssued: { type: 'KeyPairIssued', data: keyPair },
    activated: (keyVersion = V1, thumbprint = tp) => activated(id, thumbprint, keyVersion),
    refused: (reason) => refused(id, reason),
    activate: (thumbprint, keyVersion = V1) => ({
      type: 'Activate',
      installationId: id,
      deploymentId: DEPLOYMENT,
      keyVersion,
      thumbprint,
      basis: aBasis(id, thumbprint, 2),
      changedAt: 2,
    }),
  };
};

// ─── The deciders ─────────────────────────────────────────────────────────

export const instanceDecider: Decider<InstanceCommand, InstanceEvent, InstanceState, InstanceError> = {
  decide: decideInstance,
  evolve: evolveInstance,
  initialState: initialInstanceState,
};
export const deploymentDecider: Decider<DeploymentCommand, DeploymentEvent, DeploymentState, DeploymentError> = {
  decide: decideDeployment,
  evolve: evolveDeployment,
  initialState: initialDeploymentState,
};
export const instanceAfter = (events: ReadonlyArray<InstanceEvent>): InstanceState => stateAfter(instanceDecider, events);
export const deploymentAfter = (events: ReadonlyArray<DeploymentEvent>): DeploymentState => stateAfter(deploymentDecider, events);

// ─── Replayed histories ───────────────────────────────────────────────────

/**
 * Seals each event into its stream's chain and decodes it back, as the store
 * would hand it over: revisions per stream, global position n/n for the n-th
 * event, one second per event from 2026-11-28T12:00:00Z.
 */
export const history = (...steps: ReadonlyArray<LedgerEvent>): StoredEvent[] => {
  const heads = new Map<string, { revision: bigint | 'no_stream'; hash: string }>();
  let n = 0;
  return steps.map((ev) => {
    const stream = isDeploymentEvent(ev) ? DSTREAM : isContentEvent(ev) ? contentStream(ev.data.deploymentId) : instanceStream(ev.data.installationId);
    const head = heads.get(stream) ?? { revision: 'no_stream' as const, hash: GENESIS };
    const ctx: CommandContext = {
      actor: 'operator@test',
      command: 'test',
      correlationId: 'corr',
      causationId: 'cause',
      now: () => new Date(Date.parse('2026-11-28T12:00:00Z') + 1000 * n),
      newId: () => `evt-${n}`,
    };
    const [sealed] = rightOf(sealEvents(stream, head, [ev], ctx, sha256Hex));
    const revision = head.revision === 'no_stream' ? 0n : head.revision + 1n;
    const stored = rightOf(
      decodeRecorded({
        id: sealed!.id,
        streamName: stream,
        revision,
        position: { commit: BigInt(n), prepare: BigInt(n) },
        type: sealed!.type,
        data: sealed!.data,
        metadata: sealed!.metadata,
      }),
    );
    heads.set(stream, { revision, hash: stored.metadata.hash });
    n += 1;
    return stored;
  });
};

export const replay = (events: ReadonlyArray<StoredEvent>): ActivationView => events.reduce(evolveActivation, initialActivationView);

/** The reference the activation view keeps to a replayed event. */
export const refAt = (e: StoredEvent | undefined): EventRef => {
  if (!e) throw new Error('test bug: no event at that index');
  return {
    stream: e.stream,
    revision: e.revision.toString(),
    position: `${e.position.commit}/${e.position.prepare}`,
    occurredAt: e.metadata.occurredAt,
    actor: 'operator@test',
  };
};

/** Status without the embedded view, for compact exact assertions. */
export const statusOf = (v: ActivationView, id: string) => {
  const s = instanceStatus(v, id);
  if (s.state === 'not-initialized') return { state: s.state, installationId: s.installationId };
  // The remedy is typed data tested on its own (remedy.unit.ts) and followed in remedy-walk.e2e.ts.
  const { view: _view, ...rest } = s;
  const { remedy: _remedy, ...bare } = rest as typeof rest & { remedy?: unknown };
  return bare;
};

/** NODE_1 initialized the deployment and was activated (events 0–4). */
export const founder: ReadonlyArray<LedgerEvent> = [
  configRead(NODE_1),
  keyPairIssued(NODE_1, TP_1),
  publicKeyStored(NODE_1, TP_1),
  keyCreated(NODE_1, TP_1),
  activated(NODE_1, TP_1),
];
/** … then NODE_2 joined it and was activated too (events 5–9). */
export const cluster: ReadonlyArray<LedgerEvent> = [
  ...founder,
  configRead(NODE_2),
  keyPairIssued(NODE_2, TP_2),
  publicKeyStored(NODE_2, TP_2),
  keyWrapped(NODE_2, TP_2),
  activated(NODE_2, TP_2),
];
