/**
 * The encrypted content of a deployment (issue 12): which named secrets exist, under which key version, with
 * which ciphertext (by fingerprint) — folded from the deployment's content stream (`keyledger.content-<id>`).
 * The values and ciphertexts are never here: they live in the content store beside the ledger.
 *
 * Pure: the key, the cipher and the content store are the command's (src/commands/secrets.ts).
 */
import * as E from 'fp-ts/Either';
import type { StoredEvent } from '../envelope';
import { type ContentEvent, type EventOf, type Fingerprint, isContentEvent, type SecretName, type SigningJwk } from '../events';
import type { DeploymentId, InstallationId, KeyVersion } from '../ids';
import { EventSignature, eventSigningText, type Verify } from '../signatures';
import type { Trust } from '../trust';
import { SecretMap } from './secret-map';

/** A secret as the content stream last recorded it. */
export interface SecretEntry {
  readonly name: SecretName;
  readonly keyVersion: KeyVersion;
  readonly fingerprint: Fingerprint;
  /** The content stream revision of the SecretPut (or SecretsReencrypted) that recorded it: its signature is checked before the secret is trusted. */
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
    case 'SecretsReencrypted': {
      const d = e.data;
      const entries = d.secrets.map((x): [string, SecretEntry] => [
        x.name,
        { name: x.name, keyVersion: d.keyVersion, fingerprint: x.fingerprint, revision, putBy: d.reencryptedBy },
      ]);
      return { ...s, revision, secrets: s.secrets.setMany(entries) };
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
  /** A re-creation's batch (docs/adr/0014): each secret, now under `previousKeyVersion`, re-encrypted under `keyVersion`. */
  | {
      readonly type: 'ReencryptSecrets';
      readonly deploymentId: DeploymentId;
      readonly keyVersion: KeyVersion;
      readonly previousKeyVersion: KeyVersion;
      readonly secrets: ReadonlyArray<{ readonly name: SecretName; readonly fingerprint: Fingerprint }>;
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
  /** A re-encryption named a secret that is not under the version it replaces (already re-encrypted, or put under another). */
  | { readonly _tag: 'SecretKeyVersion'; readonly name: string; readonly secretVersion: number; readonly heldVersion: number }
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
    case 'ReencryptSecrets': {
      if (s.destroyedVersions?.includes(c.keyVersion)) return E.left({ _tag: 'KeyBeingDestroyed', keyVersion: c.keyVersion });
      if (c.secrets.length === 0) return E.right([]);
      const secrets: Array<{ fingerprint: Fingerprint; name: SecretName; previousFingerprint: Fingerprint }> = [];
      for (const x of c.secrets) {
        const previous = s.secrets.get(x.name);
        if (!previous) return E.left({ _tag: 'SecretMissing', name: x.name });
        if (previous.keyVersion !== c.previousKeyVersion)
          return E.left({ _tag: 'SecretKeyVersion', name: x.name, secretVersion: previous.keyVersion, heldVersion: c.previousKeyVersion });
        // Members in canonical order: the event's large list is then serialized natively (src/domain/envelope.ts canonicalJson).
        secrets.push({ fingerprint: x.fingerprint, name: x.name, previousFingerprint: previous.fingerprint });
      }
      // The count and distinct names are the codec's (sealEvents checks the event against it before it is written).
      const data = { deploymentId: c.deploymentId, keyVersion: c.keyVersion, previousKeyVersion: c.previousKeyVersion, reencryptedBy: c.by, secrets }; // sorted too
      return E.right([{ type: 'SecretsReencrypted', data } as EventOf<'SecretsReencrypted'>]);
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
 * Why a content event (the SecretPut or SecretsReencrypted a value is decrypted from) is not the word of a member, or undefined: it is
 * signed (Ed25519, ADR 0010) by a signing key that was a certified member's in the deployment's trust walk,
 * by the installation the event names as the one who put it. Whoever can write the store but holds no
 * member's keystore can neither re-hash an edited event nor record one of their own.
 */
export const contentEventProblem = (e: StoredEvent, trust: Trust, verify: Verify): ContentEventProblem | undefined => {
  const claim = contentEventClaim(e, trust);
  if (E.isLeft(claim)) return claim.left;
  return verify(claim.right.signingKey, claim.right.text, claim.right.signature) ? undefined : 'bad-signature';
};

/** What remains to check of a content event once its signer is known to be entitled: one Ed25519 signature. */
export interface SignatureClaim {
  readonly signingKey: SigningJwk;
  readonly text: string;
  readonly signature: string;
}

/** The installation a content event says acted (the one that must have signed it), where it names one. */
const actorOf = (ev: ContentEvent): string | undefined => {
  switch (ev.type) {
    case 'SecretPut':
      return ev.data.putBy;
    case 'SecretsReencrypted':
      return ev.data.reencryptedBy;
    case 'SecretsDestroyed':
    case 'SecretDeleted':
      return ev.data.deletedBy;
    case 'SecretRead':
    case 'SecretReadsCounted':
      return undefined;
  }
};

/**
 * `contentEventProblem` without the verification itself: the problem, or the signature still to verify (so a caller
 * with many events can verify them together, off its thread — src/commands/secrets.ts `readSecrets`).
 */
export const contentEventClaim = (e: StoredEvent, trust: Trust): E.Either<ContentEventProblem, SignatureClaim> => {
  if (e.metadata.sig === undefined) return E.left('unsigned');
  const sig = EventSignature.decode(e.metadata.sig);
  if (E.isLeft(sig)) return E.left('bad-signature');
  const signer = trust.everCertified[sig.right.key];
  if (!signer || signer.installationId !== sig.right.by.toLowerCase()) return E.left('signer-not-certified');
  const actor = isContentEvent(e.event) ? actorOf(e.event) : undefined;
  if (actor !== undefined && actor.toLowerCase() !== signer.installationId) return E.left('signed-by-another-installation');
  const text = eventSigningText(e.stream, e.revision, e.event.type, e.event.data, e.metadata);
  return E.right({ signingKey: signer.signingKey, text, signature: sig.right.value });
};
