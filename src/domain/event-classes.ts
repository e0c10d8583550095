/**
 * What each event type means to a reader of the trail (`diagnose`, `audit`, `report`): one exhaustive mapping
 * over every event type — its category, whether it is a key event (shown on an instance's timeline) or noise (a
 * secret's reads), which initialization step it records, which installations it names, the key version it is
 * about, and one line saying what happened. A new event type does not compile until it is classified here.
 * Pure. The lines hold text read from the store: escape them before printing (src/domain/text.ts).
 */
import { explainRefusal } from './refusal';
import type { EventOf, LedgerEvent, LedgerEventType } from './events';

/** The five initialization steps (MISSION.md): config read, key pair issued, public key stored, key stored wrapped, activated. */
export type InitStep = 1 | 2 | 3 | 4 | 5;
export const INIT_STEP_NAMES: Readonly<Record<InitStep, string>> = {
  1: 'config read',
  2: 'key pair issued',
  3: 'public key stored',
  4: 'symmetric key stored wrapped',
  5: 'activated',
};

export type EventCategory =
  /** Steps 1–3 of an instance's initialization. */
  | 'initialization'
  /** A start check's outcome (step 5, and every later start that said something new). */
  | 'start-check'
  /** Who holds the key: a copy wrapped for a member (step 4 of a join), a removal. */
  | 'membership'
  /** A service identity change: a new key pair, the deployment trusting it. */
  | 'identity'
  /** A key version created (step 4 of the first instance, or a re-creation) or retired. */
  | 'key-version'
  /** A key backup exported or applied. */
  | 'backup'
  /** Signing keys and the deployment's root of trust. */
  | 'trust'
  /** An operator accepted a store rolled back. */
  | 'rollback'
  /** Encrypted content: a secret written, deleted, read. */
  | 'content'
  /** The deployment's encrypted content deleted and its key versions destroyed (delete-content, rskeymgmt -d). */
  | 'content-deletion';

export interface EventClass<Ev extends LedgerEvent = LedgerEvent> {
  readonly category: EventCategory;
  /** Shown on an instance's timeline; false: too noisy for one (a secret's reads and writes), still in the audit trail. */
  readonly keyEvent: boolean;
  /** The initialization step this event records for the installation its copy or data names (null: none). */
  readonly step: InitStep | null;
  /** Bears on every member of its deployment (a new key version, a retirement, a backup, a genesis), not only on those it names. */
  readonly deploymentWide: boolean;
  /** The installations it names, the one it is about first (the recipient of a copy, then its sponsor). */
  readonly subjects: (data: Ev['data']) => ReadonlyArray<string>;
  /** The key version it is about (null: none). */
  readonly keyVersion: (data: Ev['data']) => number | null;
  /** What happened, in one line. */
  readonly summary: (data: Ev['data']) => string;
}

const none = (): null => null;

/** Every event type, classified. Keyed by type, so a missing (or unknown) one is a compile error. */
export const EVENT_CLASSES: { readonly [K in LedgerEventType]: EventClass<EventOf<K>> } = {
  ConfigRead: {
    category: 'initialization',
    keyEvent: true,
    step: 1,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) =>
      `config read: ${d.instanceName} on ${d.machineName}, deployment ${d.deploymentId}, identity ${d.serviceIdentity}, store ${d.store.kind}:${d.store.location}`,
  },
  KeyPairIssued: {
    category: 'initialization',
    keyEvent: true,
    step: 2,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) =>
      `key pair issued under ${d.serviceIdentity}: RSA-${d.keySize} ${d.thumbprint}${d.signingThumbprint ? `, signing key ${d.signingThumbprint}` : ''}`,
  },
  PublicKeyStored: {
    category: 'initialization',
    keyEvent: true,
    step: 3,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) => `public key ${d.thumbprint} stored in deployment ${d.deploymentId} for ${d.installationId} (${d.instanceName} on ${d.machineName})`,
  },
  SymmetricKeyCreated: {
    category: 'key-version',
    keyEvent: true,
    step: 4,
    deploymentWide: true,
    subjects: (d) => [d.copy.installationId, d.createdBy],
    keyVersion: (d) => d.keyVersion,
    summary: (d) => `symmetric key version ${d.keyVersion} created by ${d.createdBy} and stored wrapped for its key ${d.copy.recipientThumbprint}`,
  },
  SymmetricKeyWrapped: {
    category: 'membership',
    keyEvent: true,
    step: 4,
    deploymentWide: false,
    subjects: (d) => [d.copy.installationId, d.wrappedBy],
    keyVersion: (d) => d.keyVersion,
    summary: (d) => `key version ${d.keyVersion} wrapped for ${d.copy.installationId} (key ${d.copy.recipientThumbprint}) by ${d.wrappedBy}`,
  },
  InstanceActivated: {
    category: 'start-check',
    keyEvent: true,
    step: 5,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: (d) => d.keyVersion,
    summary: (d) => `activated with key version ${d.keyVersion} (key ${d.thumbprint})${d.basis ? ` on ${d.basis.machineName}, host ${d.basis.host}` : ''}`,
  },
  InstanceActivationRefused: {
    category: 'start-check',
    keyEvent: true,
    step: 5,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) =>
      `start refused (${d.reason._tag}): ${explainRefusal(d.reason).summary}${d.basis ? ` — presented on ${d.basis.machineName}, host ${d.basis.host}` : ''}`,
  },
  InstanceRemoved: {
    category: 'membership',
    keyEvent: true,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: (d) => d.revokedKeyVersion,
    summary: (d) =>
      `${d.installationId} (${d.instanceName} on ${d.machineName}) removed: key ${d.thumbprint} revoked` +
      `${d.revokedKeyVersion === null ? '' : ` with its copy of version ${d.revokedKeyVersion}`}${d.forced ? ' (forced: the last member holding the key)' : ''}`,
  },
  ServiceIdentityChanged: {
    category: 'identity',
    keyEvent: true,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) => `service identity ${d.previousIdentity} → ${d.serviceIdentity}: new key pair ${d.thumbprint} (was ${d.previousThumbprint})`,
  },
  PublicKeyReplaced: {
    category: 'identity',
    keyEvent: true,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) => `public key of ${d.installationId} replaced (${d.reason}): ${d.previousThumbprint} → ${d.thumbprint}`,
  },
  LedgerRollbackAccepted: {
    category: 'rollback',
    keyEvent: true,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) => `rollback accepted: ${d.stream} was relied on at revision ${d.rememberedRevision}, the store ends at ${d.acceptedRevision}`,
  },
  LedgerForkAccepted: {
    category: 'rollback',
    keyEvent: true,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) =>
      `fork accepted: the ledger's tree (${d.acceptedSize} leaves, root ${d.acceptedRoot}) no longer extends the head this member co-signed ` +
      `(${d.cosignedSize} leaves, root ${d.cosignedRoot}); accepted as the ledger from now on`,
  },
  SigningKeyRegistered: {
    category: 'trust',
    keyEvent: true,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) => `signing key ${d.signingThumbprint} registered for ${d.installationId}`,
  },
  GenesisDeclared: {
    category: 'trust',
    keyEvent: true,
    step: null,
    deploymentWide: true,
    subjects: (d) => [d.installationId],
    keyVersion: (d) => d.keyVersion,
    summary: (d) =>
      `genesis declared by ${d.installationId} (signing key ${d.signingThumbprint}) for key version ${d.keyVersion}` +
      `${d.previousGenesis === null ? '' : `, replacing ${d.previousGenesis}`}`,
  },
  GenesisAccepted: {
    category: 'trust',
    keyEvent: true,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) => `genesis ${d.genesisThumbprint} of deployment ${d.deploymentId} pinned after its operator confirmed it`,
  },
  KeyBackedUp: {
    category: 'backup',
    keyEvent: true,
    step: null,
    deploymentWide: true,
    subjects: (d) => [d.backedUpBy],
    keyVersion: (d) => d.keyVersion,
    summary: (d) => `key version ${d.keyVersion} backed up by ${d.backedUpBy} to a file with fingerprint ${d.fingerprint} (${d.iterations} iterations)`,
  },
  KeyRestored: {
    category: 'backup',
    keyEvent: true,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.restoredBy],
    keyVersion: (d) => d.keyVersion,
    summary: (d) =>
      `key version ${d.keyVersion} restored onto ${d.restoredBy} (key ${d.thumbprint}) from the file with fingerprint ${d.fingerprint}` +
      `${d.genesisDeclared ? '; it declared itself genesis' : ''}`,
  },
  KeyVersionRetired: {
    category: 'key-version',
    keyEvent: true,
    step: null,
    deploymentWide: true,
    subjects: (d) => [d.retiredBy],
    keyVersion: (d) => d.keyVersion,
    summary: (d) => `key version ${d.keyVersion} retired by ${d.retiredBy}: ${d.secrets} secret(s) re-encrypted under version ${d.currentVersion}`,
  },
  EncryptedContentDeletionStarted: {
    category: 'content-deletion',
    keyEvent: true,
    step: null,
    deploymentWide: true,
    subjects: (d) => [d.deletedBy],
    keyVersion: (d) => d.keyVersions.at(-1) ?? null,
    summary: (d) =>
      `deletion of the encrypted content started by ${d.deletedBy}: ${d.secrets} secret(s), key version(s) ${d.keyVersions.join(', ') || 'none'} to be destroyed`,
  },
  EncryptedContentDeleted: {
    category: 'content-deletion',
    keyEvent: true,
    step: null,
    deploymentWide: true,
    subjects: (d) => [d.deletedBy],
    keyVersion: (d) => d.keys.at(-1)?.keyVersion ?? null,
    summary: (d) =>
      `encrypted content deleted by ${d.deletedBy}: ${d.secrets} secret(s) destroyed, key version(s) ${d.keys.map((k) => k.keyVersion).join(', ') || 'none'} ` +
      `destroyed with ${d.copies.length} wrapped cop${d.copies.length === 1 ? 'y' : 'ies'}; the deployment has no key until an instance runs init`,
  },
  SecretPut: {
    category: 'content',
    keyEvent: false,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.putBy],
    keyVersion: (d) => d.keyVersion,
    summary: (d) => `secret ${d.name} put by ${d.putBy} under key version ${d.keyVersion} (ciphertext ${d.fingerprint})`,
  },
  SecretDeleted: {
    category: 'content',
    keyEvent: false,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.deletedBy],
    keyVersion: none,
    summary: (d) => `secret ${d.name} deleted by ${d.deletedBy} (ciphertext ${d.fingerprint})`,
  },
  SecretRead: {
    category: 'content',
    keyEvent: false,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.readBy],
    keyVersion: (d) => d.keyVersion,
    summary: (d) => `secret ${d.name} read by ${d.readBy} under key version ${d.keyVersion}`,
  },
  SecretReadsCounted: {
    category: 'content',
    keyEvent: false,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.installationId],
    keyVersion: none,
    summary: (d) => `${d.reads} read(s) of ${d.secrets.length} secret(s) by ${d.installationId} through the library, ${d.since} to ${d.until}`,
  },
  SecretsReencrypted: {
    category: 'content',
    keyEvent: false,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.reencryptedBy],
    keyVersion: (d) => d.keyVersion,
    summary: (d) =>
      `${d.secrets.length} secret(s) re-encrypted by ${d.reencryptedBy} from key version ${d.previousKeyVersion} to ${d.keyVersion}` +
      ` (${d.secrets[0]?.name ?? ''}${d.secrets.length > 1 ? ` … ${d.secrets.at(-1)?.name ?? ''}` : ''})`,
  },
  SecretsDestroyed: {
    category: 'content-deletion',
    keyEvent: false,
    step: null,
    deploymentWide: false,
    subjects: (d) => [d.deletedBy],
    keyVersion: (d) => d.keyVersions.at(-1) ?? null,
    summary: (d) => `${d.secrets.length} secret(s) destroyed by ${d.deletedBy}: ${d.secrets.map((x) => x.name).join(', ')}`,
  },
};

/** Every event type, in the order of the mapping. */
export const EVENT_TYPES: ReadonlyArray<LedgerEventType> = Object.keys(EVENT_CLASSES) as LedgerEventType[];

/** The class of one event (its functions applied to its own data). */
export const classOf = <Ev extends LedgerEvent>(e: Ev): EventClass<Ev> => EVENT_CLASSES[e.type] as unknown as EventClass<Ev>;

/** Whether an event names an installation (case-insensitive). */
export const names = (e: LedgerEvent, installationId: string): boolean => {
  const id = installationId.toLowerCase();
  return classOf(e)
    .subjects(e.data)
    .some((s) => s.toLowerCase() === id);
};

/** One line saying what happened (stored text inside: escape it before printing). */
export const summaryOf = (e: LedgerEvent): string => classOf(e).summary(e.data);
