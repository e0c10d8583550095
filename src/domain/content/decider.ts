/**
 * The encrypted content of a deployment (issue 12): which named secrets exist, under which key version, with
 * which ciphertext (by fingerprint) — folded from the deployment's content stream (`keyledger.content-<id>`).
 * The values and ciphertexts are never here: they live in the content store beside the ledger.
 *
 * Pure: the key, the cipher and the content store are the command's (src/commands/secrets.ts).
 */
import * as E from 'fp-ts/Either';
import type { StoredEvent } from '../envelope';
import type { ContentEvent, EventOf, Fingerprint, SecretName } from '../events';
import type { DeploymentId, InstallationId, KeyVersion } from '../ids';
import { EventSignature, eventSigningText, type Verify } from '../signatures';
import type { Trust } from '../trust';
import { SecretMap } from './secret-map';

/** A secret as the content stream last recorded it. */
export interface SecretEntry {
  readonly name: SecretName;
  readonly keyVersion: KeyVersion;
  readonly fingerprint: Fingerprint;
  /** The content stream revision of the SecretPut that recorded it: its signature is checked before the secret is trusted. */
  readonly revision: number;
  readonly putBy: InstallationId;
}

export interface ContentState {
  /** The stream revision of the last event folded (-1: none). */
  readonly revision: number;
  /** By name. A new map per change, sharing all but one bucket with the last (reads change nothing but the revision). */
  readonly secrets: SecretMap<SecretEntry>;
  /**
   * Secrets that are gone, by name: the revision of the SecretDeleted or SecretsDestroyed that removed each (its signature
   * is checked before a reader is told "no such secret": a removal forged in the store is tampering, not an answer).
   */
  readonly removed?: SecretMap<number>;
  /** Key versions a deletion of the encrypted content destroys (docs/adr/0015): no secret is put under them again. */
  readonly destroyedVersions?: ReadonlyArray<number>;
}

export const initialContentState: ContentState = { revision: -1, secrets: SecretMap.empty() };

const removedAt = (s: ContentState, name: string, revision: number): SecretMap<number> => (s.removed ?? SecretMap.empty<number>()).set(name, revision);

export const evolveContent = (s: ContentState, e: ContentEvent): ContentState => {
  const revision = s.revision + 1;
  switch (e.type) {
    case 'SecretPut': {
      const d = e.data;
      return {
        ...s,
        revision,
        secrets: s.secrets.set(d.name, { name: d.name, keyVersion: d.keyVersion, fingerprint: d.fingerprint, revision, putBy: d.putBy }),
        ...(s.removed?.has(d.name) ? { removed: s.removed.delete(d.name) } : {}),
      };
    }
    case 'SecretDeleted': {
      return { ...s, revision, secrets: s.secrets.delete(e.data.name), removed: removedAt(s, e.data.name, revision) };
    }
    case 'SecretsDestroyed': {
      let secrets = s.secrets;
      let removed = s.removed ?? SecretMap.empty<number>();
      for (const x of e.data.secrets) {
        secrets = secrets.delete(x.name);
        removed = removed.set(x.name, revision);
      }
      const destroyedVersions = [...new Set([...(s.destroyedVersions ?? []), ...e.data.keyVersions])].sort((a, b) => a - b);
      return { ...s, revision, secrets, removed, destroyedVersions };
    }
    case 'SecretRead':
    case 'SecretReadsCounted':
      return { ...s, revision };
  }
};

// ─── Decisions ────────────────────────────────────────────────────────────

export type ContentCommand =
  | {
      readonly type: 'PutSecret';
      readonly deploymentId: DeploymentId;
      readonly name: SecretName;
      readonly keyVersion: KeyVersion;
      readonly fingerprint: Fingerprint;
      readonly by: InstallationId;
    }
  | { readonly type: 'DeleteSecret'; readonly deploymentId: DeploymentId; readonly name: SecretName; readonly by: InstallationId }
  | { readonly type: 'RecordRead'; readonly deploymentId: DeploymentId; readonly entry: SecretEntry; readonly by: InstallationId }
  | {
      /** One batch of a deletion of the encrypted content: these secrets (as the stream records them) destroyed. */
      readonly type: 'DestroySecrets';
      readonly deploymentId: DeploymentId;
      readonly by: InstallationId;
      readonly keyVersions: ReadonlyArray<KeyVersion>;
      readonly secrets: ReadonlyArray<SecretEntry>;
    }
  | {
      readonly type: 'CountReads';
      readonly deploymentId: DeploymentId;
      readonly by: InstallationId;
      readonly since: string;
      readonly until: string;
      readonly reads: ReadonlyMap<string, number>;
    };

export type ContentError =
  | { readonly _tag: 'SecretMissing'; readonly name: string }
  /** A secret put under a key version a deletion of the encrypted content destroys (or destroyed): the race a put can lose. */
  | { readonly _tag: 'KeyBeingDestroyed'; readonly keyVersion: KeyVersion };

export const decideContent = (c: ContentCommand, s: ContentState): E.Either<ContentError, ReadonlyArray<ContentEvent>> => {
  switch (c.type) {
    case 'PutSecret': {
      if (s.destroyedVersions?.includes(c.keyVersion)) return E.left({ _tag: 'KeyBeingDestroyed', keyVersion: c.keyVersion });
      const previous = s.secrets.get(c.name);
      if (previous?.fingerprint === c.fingerprint) return E.right([]);
      return E.right([
        {
          type: 'SecretPut',
          data: {
            deploymentId: c.deploymentId,
            name: c.name,
            keyVersion: c.keyVersion,
            fingerprint: c.fingerprint,
            previousFingerprint: previous?.fingerprint ?? null,
            putBy: c.by,
          },
        },
      ]);
    }
    case 'DeleteSecret': {
      const current = s.secrets.get(c.name);
      if (!current) return E.left({ _tag: 'SecretMissing', name: c.name });
      return E.right([{ type: 'SecretDeleted', data: { deploymentId: c.deploymentId, name: c.name, fingerprint: current.fingerprint, deletedBy: c.by } }]);
    }
    case 'RecordRead':
      return E.right([
        {
          type: 'SecretRead',
          data: { deploymentId: c.deploymentId, name: c.entry.name, keyVersion: c.entry.keyVersion, fingerprint: c.entry.fingerprint, readBy: c.by },
        },
      ]);
    case 'DestroySecrets': {
      // The first batch also closes the stream to those versions (an empty batch when there is nothing to destroy).
      const known = new Set(s.destroyedVersions ?? []);
      const live = c.secrets.filter((x) => s.secrets.get(x.name)?.fingerprint === x.fingerprint);
      if (live.length === 0 && c.keyVersions.every((v) => known.has(v))) return E.right([]);
      return E.right([
        {
          type: 'SecretsDestroyed',
          data: {
            deploymentId: c.deploymentId,
            deletedBy: c.by,
            keyVersions: [...c.keyVersions],
            secrets: live.map((x) => ({ name: x.name, keyVersion: x.keyVersion, fingerprint: x.fingerprint })),
          },
        },
      ]);
    }
    case 'CountReads': {
      const secrets = [...c.reads.entries()]
        .filter(([, n]) => n > 0)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, reads]) => ({ name, reads }));
      const reads = secrets.reduce((n, x) => n + x.reads, 0);
      if (reads === 0) return E.right([]);
      // Names, counts and instants as the command gives them; sealEvents checks the event against its codec before it is written.
      const data = { deploymentId: c.deploymentId, installationId: c.by, since: c.since, until: c.until, reads, secrets };
      return E.right([{ type: 'SecretReadsCounted', data } as EventOf<'SecretReadsCounted'>]);
    }
  }
};

// ─── Whose word a content event is ────────────────────────────────────────

export type ContentEventProblem = 'unsigned' | 'bad-signature' | 'signer-not-certified' | 'signed-by-another-installation';

/**
 * Why a content event (the SecretPut a value is decrypted from) is not the word of a member, or undefined: it is
 * signed (Ed25519, ADR 0010) by a signing key that was a certified member's in the deployment's trust walk,
 * by the installation the event names as the one who put it. Whoever can write the store but holds no
 * member's keystore can neither re-hash an edited event nor record one of their own.
 */
export const contentEventProblem = (e: StoredEvent, trust: Trust, verify: Verify): ContentEventProblem | undefined => {
  if (e.metadata.sig === undefined) return 'unsigned';
  const sig = EventSignature.decode(e.metadata.sig);
  if (E.isLeft(sig)) return 'bad-signature';
  const signer = trust.everCertified[sig.right.key];
  if (!signer || signer.installationId !== sig.right.by.toLowerCase()) return 'signer-not-certified';
  const ev = e.event;
  const actor =
    ev.type === 'SecretPut' ? ev.data.putBy : ev.type === 'SecretsDestroyed' ? ev.data.deletedBy : ev.type === 'SecretDeleted' ? ev.data.deletedBy : undefined;
  if (actor !== undefined && actor.toLowerCase() !== signer.installationId) return 'signed-by-another-installation';
  const text = eventSigningText(e.stream, e.revision, e.event.type, e.event.data, e.metadata);
  return verify(signer.signingKey, text, sig.right.value) ? undefined : 'bad-signature';
};
