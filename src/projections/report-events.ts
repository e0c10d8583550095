/**
 * How a compliance report (docs/adr/0017-compliance-report.md) sees each event type, and what it reads off an event.
 *
 * `EVENT_CLASSES` is a mapping over every `LedgerEvent['type']`: a new event type does not compile until it is
 * classified here. What a report shows of an operation (who it is about, key version, thumbprints, details) is read
 * off the event's data generically, so classifying is all a new type needs: a content-deletion event
 * (`rskeymgmt -d`) becomes a `ContentDeleted` finding by being classed `content-deletion`. Pure.
 */
import type { StoredEvent } from '../domain/envelope';
import type { LedgerEventType } from '../domain/events';
import { positionToString } from '../ports/event-store';
import type { EventRef } from './activation';

/**
 * - `key-operation`: listed, one row each (initialization steps, wraps, removals, identity changes, backups, restores,
 *   re-creations, trust decisions);
 * - `start-check`: a start check's outcome, listed only when it changes what the instance is (activated ↔ refused, another
 *   key version or reason), counted otherwise (a restart records an activation each time);
 * - `content`: a secret written, deleted or read: counted (the audit trail lists each);
 * - `content-deletion`: the deployment's encrypted content deleted: listed, and a finding.
 */
export type EventClass = 'key-operation' | 'start-check' | 'content' | 'content-deletion';

export const EVENT_CLASSES: { readonly [K in LedgerEventType]: { readonly class: EventClass; readonly label: string } } = {
  ConfigRead: { class: 'key-operation', label: 'configuration read (initialization step 1)' },
  KeyPairIssued: { class: 'key-operation', label: 'key pair issued (step 2)' },
  PublicKeyStored: { class: 'key-operation', label: 'public key stored in the deployment (step 3)' },
  SymmetricKeyCreated: { class: 'key-operation', label: 'symmetric key version created' },
  SymmetricKeyWrapped: { class: 'key-operation', label: 'symmetric key wrapped for a member' },
  InstanceActivated: { class: 'start-check', label: 'start check: activated' },
  InstanceActivationRefused: { class: 'start-check', label: 'start check: refused' },
  InstanceRemoved: { class: 'key-operation', label: 'member removed' },
  ServiceIdentityChanged: { class: 'key-operation', label: 'service identity changed (new key pair)' },
  PublicKeyReplaced: { class: 'key-operation', label: 'public key replaced in the deployment' },
  LedgerRollbackAccepted: { class: 'key-operation', label: 'ledger rollback accepted' },
  LedgerForkAccepted: { class: 'key-operation', label: 'ledger fork accepted (a tree no longer extending a co-signed head)' },
  SigningKeyRegistered: { class: 'key-operation', label: 'signing key registered' },
  GenesisDeclared: { class: 'key-operation', label: 'genesis (root of trust) declared' },
  GenesisAccepted: { class: 'key-operation', label: 'genesis accepted (pinned)' },
  KeyBackedUp: { class: 'key-operation', label: 'key backed up' },
  KeyRestored: { class: 'key-operation', label: 'key restored from a backup' },
  KeyVersionRetired: { class: 'key-operation', label: 'key version retired' },
  SecretPut: { class: 'content', label: 'secret stored' },
  SecretDeleted: { class: 'content', label: 'secret deleted' },
  SecretRead: { class: 'content', label: 'secret read' },
  SecretReadsCounted: { class: 'content', label: 'secret reads counted' },
  SecretsReencrypted: { class: 'content', label: 'secrets re-encrypted (a batch of a re-creation)' },
  EncryptedContentDeletionStarted: { class: 'key-operation', label: 'deletion of the encrypted content started' },
  SecretsDestroyed: { class: 'content', label: 'secrets destroyed (a batch of a deletion)' },
  EncryptedContentDeleted: { class: 'content-deletion', label: 'encrypted content deleted, key versions destroyed' },
};

/** Where an operation was recorded, by whom, under which command and correlation ID. */
export interface OperationRef extends EventRef {
  readonly command: string;
  readonly correlationId: string;
}

export const operationRef = (e: StoredEvent): OperationRef => ({
  stream: e.stream,
  revision: e.revision.toString(),
  position: positionToString(e.position),
  occurredAt: e.metadata.occurredAt,
  actor: e.metadata.actor,
  command: e.metadata.command,
  correlationId: e.metadata.correlationId,
});

/** Scalar details an operation shows (stored text, escaped by every renderer), by member name. */
export type Details = Readonly<Record<string, string | number | boolean>>;

export interface Operation {
  readonly at: OperationRef;
  readonly type: string;
  readonly class: EventClass;
  readonly label: string;
  /** The installation it is about: the instance itself, the recipient of a wrap, the member removed, who backed up. */
  readonly installationId: string | null;
  /** Its machine and instance names as the deployment knew them then. */
  readonly machineName: string | null;
  readonly instanceName: string | null;
  /** The installation whose signature the event carries (`metadata.sig.by`, as stored: checked only in the integrity section). */
  readonly signedBy: string | null;
  readonly keyVersion: number | null;
  /** Every thumbprint the event names, by member name (`thumbprint`, `recipientThumbprint`, `signingThumbprint`, …). */
  readonly thumbprints: Readonly<Record<string, string>>;
  readonly details: Details;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Members that are shown elsewhere (ids, versions, thumbprints) or are not for reading (keys, proofs, ciphertexts, paths). */
const NOT_DETAILS = new Set([
  'deploymentId',
  'installationId',
  'keyVersion',
  'keyCheck',
  'algorithm',
  'signingKeyProof',
  'keystorePath',
  'keySize',
  'machineName',
  'instanceName',
  'createdBy',
  'wrappedBy',
  'backedUpBy',
  'restoredBy',
  'retiredBy',
  'putBy',
  'deletedBy',
  'readBy',
]);
const MAX_DETAIL = 200;

const record = (u: unknown): Readonly<Record<string, unknown>> =>
  typeof u === 'object' && u !== null && !Array.isArray(u) ? (u as Record<string, unknown>) : {};

/** The installation an event is about (lower-cased), read generically off its data. */
export const subjectOf = (data: Readonly<Record<string, unknown>>): string | null => {
  const direct = data['installationId'] ?? record(data['copy'])['installationId'];
  if (typeof direct === 'string' && GUID.test(direct)) return direct.toLowerCase();
  for (const [k, v] of Object.entries(data)) if (k.endsWith('By') && typeof v === 'string' && GUID.test(v)) return v.toLowerCase();
  return null;
};

/** An event as an operation row; `names` gives an installation's machine and instance names as known when it was recorded. */
export const operationOf = (e: StoredEvent, names: (installationId: string) => { machineName: string | null; instanceName: string | null }): Operation => {
  const data = record(e.event.data);
  const installationId = subjectOf(data);
  const thumbprints: Record<string, string> = {};
  const details: Record<string, string | number | boolean> = {};
  const copy = record(data['copy']);
  for (const [k, v] of [...Object.entries(data), ...Object.entries(copy)]) {
    if (/thumbprint$/i.test(k) || k === 'previousGenesis') {
      if (typeof v === 'string') thumbprints[k] = v;
    } else if (NOT_DETAILS.has(k)) continue;
    else if (typeof v === 'number' || typeof v === 'boolean') details[k] = v;
    else if (typeof v === 'string' && k !== 'jwe') details[k] = v.length > MAX_DETAIL ? `${v.slice(0, MAX_DETAIL)}…` : v;
  }
  const reason = record(data['reason']);
  if (typeof reason['_tag'] === 'string') details['reason'] = reason['_tag'];
  const sig = record(e.metadata.sig);
  const keyVersion = typeof data['keyVersion'] === 'number' ? data['keyVersion'] : typeof reason['keyVersion'] === 'number' ? reason['keyVersion'] : null;
  const { machineName, instanceName } = installationId === null ? { machineName: null, instanceName: null } : names(installationId);
  const { class: cls, label } = EVENT_CLASSES[e.event.type];
  return {
    at: operationRef(e),
    type: e.event.type,
    class: cls,
    label,
    installationId,
    machineName: typeof data['machineName'] === 'string' ? data['machineName'] : machineName,
    instanceName: typeof data['instanceName'] === 'string' ? data['instanceName'] : instanceName,
    signedBy: typeof sig['by'] === 'string' ? sig['by'] : null,
    keyVersion,
    thumbprints,
    details,
  };
};
