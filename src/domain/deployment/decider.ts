/**
 * The deployment aggregate (SSRS: the report server database's Keys table):
 * which installation IDs and public keys are registered, the current
 * symmetric key version, and every member's wrapped copy. Its stream
 * `keyledger.deployment-<deploymentId>` is the consistency boundary for
 * membership and key copies: racing writers there get exactly one winner.
 * Pure: wrapped copies and key checks come in with the command.
 */
import * as E from 'fp-ts/Either';
import type * as t from 'io-ts';
import type { Base64Url, DeploymentEvent, Fingerprint, Iterations, PublicJwk, SigningJwk, WrappedCopy } from '../events';
import type { DeploymentId, InstallationId, KeyVersion, NonEmptyString, Thumbprint } from '../ids';

// ─── State ────────────────────────────────────────────────────────────────

export interface RegisteredInstance {
  readonly installationId: InstallationId;
  readonly machineName: string;
  readonly instanceName: string;
  readonly thumbprint: Thumbprint;
  readonly publicKey: PublicJwk;
  /** Its signing key as registered (absent: registered before signatures, and no `trust` since). */
  readonly signing?: SigningRegistration;
}

export interface SigningRegistration {
  readonly signingKey: SigningJwk;
  readonly signingThumbprint: Thumbprint;
  readonly signingKeyProof: Base64Url;
}

/** The signing-key fields of an event that may carry them. */
export const signingOf = (d: Partial<SigningRegistration>): SigningRegistration | undefined =>
  d.signingKey && d.signingThumbprint && d.signingKeyProof
    ? { signingKey: d.signingKey, signingThumbprint: d.signingThumbprint, signingKeyProof: d.signingKeyProof }
    : undefined;

export interface CurrentKey {
  readonly keyVersion: KeyVersion;
  readonly keyCheck: string;
}

export interface HeldCopy {
  readonly keyVersion: KeyVersion;
  readonly copy: WrappedCopy;
}

export interface DeploymentState {
  /** Members (joined or waiting to join): installation ID → registered public key. */
  readonly registered: Readonly<Record<string, RegisteredInstance>>;
  readonly currentKey: CurrentKey | undefined;
  /** Each member's newest wrapped copy, by installation ID. */
  readonly copies: Readonly<Record<string, HeldCopy>>;
  /** Installations removed from the scale-out, with the key that was revoked. */
  readonly removed: Readonly<Record<string, { readonly thumbprint: Thumbprint }>>;
  /** The stream revision of the last event folded (-1: none): every event is one revision. */
  readonly revision: number;
  /** Per installation, the revision of the last event that changed its registration or copy. */
  readonly changedAt: Readonly<Record<string, number>>;
  /** The revision at which the current key version was created (-1: none). */
  readonly keyCreatedAt: number;
  /**
   * A re-creation under way (docs/adr/0014): the version it replaced, still readable for the secrets not yet
   * re-encrypted, and each member's copy of it — until its KeyVersionRetired. Absent: none under way.
   */
  readonly previousKey?: { readonly key: CurrentKey; readonly copies: Readonly<Record<string, HeldCopy>> };
  /**
   * A deletion of the encrypted content under way (docs/adr/0015): from its EncryptedContentDeletionStarted until its
   * EncryptedContentDeleted. The key versions it destroys stay readable meanwhile. Absent: none under way.
   */
  readonly deletion?: { readonly keyVersions: ReadonlyArray<KeyVersion>; readonly by: InstallationId; readonly startedAt: number };
  /** Every key version an EncryptedContentDeleted destroyed (absent: none): never current, never wrapped, never restored again. */
  readonly destroyed?: ReadonlyArray<KeyVersion>;
  /** The last completed deletion: its revision and what it destroyed (a change bearing on every installation's start check). */
  readonly deleted?: { readonly revision: number; readonly keyVersions: ReadonlyArray<KeyVersion>; readonly by: InstallationId };
}

export const initialDeploymentState: DeploymentState = {
  registered: {},
  currentKey: undefined,
  copies: {},
  removed: {},
  revision: -1,
  changedAt: {},
  keyCreatedAt: -1,
};

/**
 * The revision of the last deployment event that bears on an installation's
 * start check: its registration, its key, its copy, its removal, or a new key
 * version. An outcome decided on an older revision no longer describes it.
 */
export const lastChangeFor = (s: DeploymentState, id: string): number => Math.max(s.changedAt[id] ?? -1, s.keyCreatedAt, s.deleted?.revision ?? -1);

/** Whether a key version was destroyed by a deletion (its copies protect nothing; it is never made current again). */
export const isDestroyed = (s: DeploymentState, v: number): boolean => s.destroyed?.includes(v as KeyVersion) === true;

/** The version a new key gets: one after every version the deployment ever had (destroyed ones included: pins are per version). */
export const nextKeyVersion = (s: DeploymentState): KeyVersion =>
  (Math.max(0, s.currentKey?.keyVersion ?? 0, s.previousKey?.key.keyVersion ?? 0, ...(s.destroyed ?? [])) + 1) as KeyVersion;

/** The key versions a deletion starting now destroys: the current one, and the one an unfinished re-creation replaced. */
export const versionsToDestroy = (s: DeploymentState): ReadonlyArray<KeyVersion> =>
  [s.previousKey?.key.keyVersion, s.currentKey?.keyVersion].filter((v): v is KeyVersion => v !== undefined);

const without = <V>(r: Readonly<Record<string, V>>, key: string): Record<string, V> => {
  const { [key]: _gone, ...rest } = r;
  return rest;
};

const withSigning = (r: SigningRegistration | undefined): { signing?: SigningRegistration } => (r ? { signing: r } : {});

export const evolveDeployment = (before: DeploymentState, e: DeploymentEvent): DeploymentState => {
  const revision = before.revision + 1;
  const touched = (id: string): Readonly<Record<string, number>> => ({ ...before.changedAt, [id]: revision });
  const s: DeploymentState = { ...before, revision };
  switch (e.type) {
    case 'PublicKeyStored': {
      const d = e.data;
      return {
        ...s,
        registered: {
          ...s.registered,
          [d.installationId]: {
            installationId: d.installationId,
            machineName: d.machineName,
            instanceName: d.instanceName,
            thumbprint: d.thumbprint,
            publicKey: d.publicKey,
            ...withSigning(signingOf(d)),
          },
        },
        removed: without(s.removed, d.installationId),
        changedAt: touched(d.installationId),
      };
    }
    case 'PublicKeyReplaced': {
      const r = s.registered[e.data.installationId];
      return r
        ? {
            ...s,
            registered: {
              ...s.registered,
              [r.installationId]: { ...r, thumbprint: e.data.thumbprint, publicKey: e.data.publicKey, ...withSigning(signingOf(e.data)) },
            },
            changedAt: touched(r.installationId),
          }
        : s;
    }
    case 'SigningKeyRegistered': {
      const r = s.registered[e.data.installationId];
      return r && !r.signing ? { ...s, registered: { ...s.registered, [r.installationId]: { ...r, ...withSigning(signingOf(e.data)) } } } : s;
    }
    case 'GenesisDeclared':
      return s; // trust, not membership: src/domain/trust.ts
    case 'KeyBackedUp':
    case 'KeyRestored':
      return s; // the record of an operation: the copy a restore wraps is its SymmetricKeyWrapped
    case 'KeyVersionRetired': {
      const { previousKey: _retired, ...rest } = s;
      return rest;
    }
    case 'EncryptedContentDeletionStarted':
      return s.deletion ? s : { ...s, deletion: { keyVersions: e.data.keyVersions, by: e.data.deletedBy, startedAt: revision } };
    case 'EncryptedContentDeleted': {
      // Crypto-shredding: the versions named are destroyed, and with them every copy of them; no key until a new init.
      const gone = new Set<number>(e.data.keys.map((k) => k.keyVersion));
      const { previousKey: _p, currentKey: _c, deletion: _d, ...rest } = s;
      return {
        ...rest,
        currentKey: undefined,
        copies: Object.fromEntries(Object.entries(s.copies).filter(([, c]) => !gone.has(c.keyVersion))),
        destroyed: [...new Set([...(s.destroyed ?? []), ...e.data.keys.map((k) => k.keyVersion)])].sort((a, b) => a - b),
        deleted: { revision, keyVersions: e.data.keys.map((k) => k.keyVersion), by: e.data.deletedBy },
      };
    }
    case 'InstanceRemoved':
      return {
        ...s,
        ...(s.previousKey ? { previousKey: { ...s.previousKey, copies: without(s.previousKey.copies, e.data.installationId) } } : {}),
        registered: without(s.registered, e.data.installationId),
        copies: without(s.copies, e.data.installationId),
        removed: { ...s.removed, [e.data.installationId]: { thumbprint: e.data.thumbprint } },
        changedAt: touched(e.data.installationId),
      };
    case 'SymmetricKeyCreated':
      // A destroyed version never comes back (an old creation replayed into the stream by someone who can write it).
      if (isDestroyed(s, e.data.keyVersion)) return s;
      return {
        ...s,
        ...(s.currentKey && s.currentKey.keyVersion < e.data.keyVersion
          ? {
              previousKey: {
                key: s.currentKey,
                copies: Object.fromEntries(Object.entries(s.copies).filter(([, c]) => c.keyVersion === s.currentKey?.keyVersion)),
              },
            }
          : {}),
        currentKey: { keyVersion: e.data.keyVersion, keyCheck: e.data.keyCheck },
        copies: { ...s.copies, [e.data.copy.installationId]: { keyVersion: e.data.keyVersion, copy: e.data.copy } },
        changedAt: touched(e.data.copy.installationId),
        keyCreatedAt: revision,
      };
    case 'SymmetricKeyWrapped':
      if (isDestroyed(s, e.data.keyVersion)) return s; // an old copy re-added: it protects nothing
      return {
        ...s,
        copies: { ...s.copies, [e.data.copy.installationId]: { keyVersion: e.data.keyVersion, copy: e.data.copy } },
        changedAt: touched(e.data.copy.installationId),
      };
  }
};

/** Members holding a copy of the current key version (possible sponsors). */
export const keyHolders = (s: DeploymentState): ReadonlyArray<InstallationId> =>
  Object.values(s.copies)
    .filter((c) => s.currentKey !== undefined && c.keyVersion === s.currentKey.keyVersion && s.registered[c.copy.installationId] !== undefined)
    .map((c) => c.copy.installationId);

/** The copy of the current key version an installation holds, if any. */
export const currentCopyOf = (s: DeploymentState, id: InstallationId): HeldCopy | undefined => {
  const held = s.copies[id];
  return held && s.currentKey && held.keyVersion === s.currentKey.keyVersion ? held : undefined;
};

// ─── Commands ─────────────────────────────────────────────────────────────

export type DeploymentCommand =
  | {
      readonly type: 'StorePublicKey';
      readonly deploymentId: DeploymentId;
      readonly installationId: InstallationId;
      readonly machineName: NonEmptyString;
      readonly instanceName: NonEmptyString;
      readonly thumbprint: Thumbprint;
      readonly publicKey: PublicJwk;
      /** Re-register an installation that was removed (rskeymgmt -r) — only when asked to. */
      readonly rejoin?: boolean;
      readonly signing?: SigningRegistration | undefined;
    }
  | {
      readonly type: 'CreateSymmetricKey';
      readonly deploymentId: DeploymentId;
      readonly keyCheck: Base64Url;
      readonly createdBy: InstallationId;
      readonly copy: WrappedCopy;
    }
  | {
      /** Join (rskeymgmt -j): an activated member wraps the current key for a registered newcomer. */
      readonly type: 'WrapForMember';
      readonly deploymentId: DeploymentId;
      readonly sponsor: InstallationId;
      readonly sponsorThumbprint: Thumbprint;
      readonly copy: WrappedCopy;
      /** Wrap again even though a copy for the newcomer's registered key is recorded (that copy is unusable). */
      readonly rewrap?: boolean;
      /** The newcomer's signing key the operator confirmed: the sponsor's signature certifies it. */
      readonly recipientSigningThumbprint?: Thumbprint | undefined;
    }
  | { readonly type: 'RemoveInstance'; readonly deploymentId: DeploymentId; readonly installationId: InstallationId; readonly force: boolean }
  | {
      /** Identity change: the installation's new public key, and its own copy re-wrapped for it. */
      readonly type: 'ReplacePublicKey';
      readonly deploymentId: DeploymentId;
      readonly installationId: InstallationId;
      readonly previousThumbprint: Thumbprint;
      readonly thumbprint: Thumbprint;
      readonly publicKey: PublicJwk;
      readonly copy: WrappedCopy;
      readonly signing?: SigningRegistration | undefined;
    }
  | {
      /** A member adds the signing key its keystore lacked (a keystore from before signatures). */
      readonly type: 'RegisterSigningKey';
      readonly deploymentId: DeploymentId;
      readonly installationId: InstallationId;
      readonly signing: SigningRegistration;
    }
  | {
      /** A member that holds the key becomes the deployment's root of trust (src/domain/trust.ts says when that counts). */
      readonly type: 'DeclareGenesis';
      readonly deploymentId: DeploymentId;
      readonly installationId: InstallationId;
      readonly signingThumbprint: Thumbprint;
      readonly previousGenesis: Thumbprint | null;
    }
  | {
      /** A member exported the current key to a backup file (rskeymgmt -e): recorded, never the key. */
      readonly type: 'RecordBackup';
      readonly deploymentId: DeploymentId;
      readonly installationId: InstallationId;
      readonly keyVersion: KeyVersion;
      readonly fingerprint: Fingerprint;
      readonly iterations: Iterations;
      readonly genesisThumbprint: Thumbprint | null;
    }
  | {
      /**
       * Apply a backup (rskeymgmt -a): the key the restorer unwrapped from the file (its version and key check
       * as computed from the key itself) wrapped for the restorer's registered public key — after a genesis
       * declaration when no certified member remains (`declareGenesis`, decided by the trust walk's caller).
       */
      readonly type: 'RestoreKey';
      readonly deploymentId: DeploymentId;
      readonly installationId: InstallationId;
      readonly keyVersion: KeyVersion;
      readonly keyCheck: Base64Url;
      readonly fingerprint: Fingerprint;
      readonly copy: WrappedCopy;
      readonly signingThumbprint: Thumbprint;
      readonly declareGenesis: { readonly previousGenesis: Thumbprint | null } | null;
    }
  | {
      /**
       * Re-create (rskeymgmt -s, docs/adr/0014): a member holding the current key records version N+1, wrapped for
       * itself and for each other member given (their registered keys); signing keys named so the copies are certified.
       */
      readonly type: 'RecreateKey';
      readonly deploymentId: DeploymentId;
      readonly createdBy: InstallationId;
      readonly creatorThumbprint: Thumbprint;
      readonly keyCheck: Base64Url;
      readonly copies: ReadonlyArray<WrappedCopy>;
    }
  | {
      /** The re-creation's secrets are all re-encrypted: the version it replaced is retired. */
      readonly type: 'RetireKeyVersion';
      readonly deploymentId: DeploymentId;
      readonly retiredBy: InstallationId;
      readonly keyVersion: KeyVersion;
      readonly secrets: number;
    }
  | {
      /** Delete the encrypted content (rskeymgmt -d, docs/adr/0015): the intent, before any ciphertext is touched. */
      readonly type: 'StartContentDeletion';
      readonly deploymentId: DeploymentId;
      readonly deletedBy: InstallationId;
      /** Secrets the content stream holds now. */
      readonly secrets: number;
    }
  | {
      /** Every secret's deletion is recorded and every ciphertext removed: the key versions are destroyed. */
      readonly type: 'CompleteContentDeletion';
      readonly deploymentId: DeploymentId;
      readonly deletedBy: InstallationId;
      readonly secrets: number;
      readonly contentRevisions: ReadonlyArray<string>;
    };

export type DeploymentError =
  | {
      readonly _tag: 'InstallationKeyConflict';
      readonly installationId: InstallationId;
      readonly storedThumbprint: Thumbprint;
      readonly presentedThumbprint: Thumbprint;
    }
  | { readonly _tag: 'UnknownInstallation'; readonly installationId: InstallationId }
  | { readonly _tag: 'SymmetricKeyExists'; readonly keyVersion: KeyVersion }
  | {
      readonly _tag: 'CopyNotForRegisteredKey';
      readonly installationId: InstallationId;
      readonly storedThumbprint: Thumbprint;
      readonly copyThumbprint: Thumbprint;
    }
  | { readonly _tag: 'InstallationRemoved'; readonly installationId: InstallationId }
  | { readonly _tag: 'NoKeyToWrap' }
  | { readonly _tag: 'SponsorHoldsNoCurrentCopy'; readonly sponsor: InstallationId; readonly keyVersion: KeyVersion | null }
  | { readonly _tag: 'LastMember'; readonly installationId: InstallationId; readonly keyVersion: KeyVersion }
  | { readonly _tag: 'NotAMember'; readonly installationId: InstallationId }
  /** A backup of another key version than the deployment's current one (older: superseded by a re-created key). */
  | { readonly _tag: 'BackupKeyVersion'; readonly backup: KeyVersion; readonly current: KeyVersion }
  /** The backup's key is not the deployment's key of that version: its key check differs. */
  | { readonly _tag: 'BackupKeyMismatch'; readonly keyVersion: KeyVersion }
  /** A re-creation is under way (its earlier version not yet retired): finish it before starting another. */
  | { readonly _tag: 'RecreationUnfinished'; readonly previousVersion: KeyVersion; readonly currentVersion: KeyVersion }
  /** The encrypted content is being deleted (its key versions about to be destroyed): finish that first (delete-content again). */
  | { readonly _tag: 'ContentDeletionUnderway'; readonly keyVersions: ReadonlyArray<KeyVersion> }
  /** The key version was destroyed by a deletion of the encrypted content: nothing can bring it back (a backup of it included). */
  | { readonly _tag: 'KeyVersionDestroyed'; readonly keyVersion: KeyVersion };

const none: ReadonlyArray<DeploymentEvent> = [];

export const decideDeployment = (c: DeploymentCommand, s: DeploymentState): E.Either<DeploymentError, ReadonlyArray<DeploymentEvent>> => {
  switch (c.type) {
    case 'StorePublicKey': {
      if (s.removed[c.installationId] && !c.rejoin) return E.left({ _tag: 'InstallationRemoved', installationId: c.installationId });
      const existing = s.registered[c.installationId];
      if (existing)
        return existing.thumbprint === c.thumbprint
          ? E.right(none)
          : E.left({
              _tag: 'InstallationKeyConflict',
              installationId: c.installationId,
              storedThumbprint: existing.thumbprint,
              presentedThumbprint: c.thumbprint,
            });
      const { type: _type, rejoin: _rejoin, signing, ...data } = c;
      return E.right([{ type: 'PublicKeyStored', data: { ...data, ...signing } }]);
    }
    case 'CreateSymmetricKey': {
      if (s.currentKey) return E.left({ _tag: 'SymmetricKeyExists', keyVersion: s.currentKey.keyVersion });
      const creator = s.registered[c.createdBy];
      if (!creator) return E.left({ _tag: 'UnknownInstallation', installationId: c.createdBy });
      if (c.copy.installationId !== c.createdBy || c.copy.recipientThumbprint !== creator.thumbprint)
        return E.left({
          _tag: 'CopyNotForRegisteredKey',
          installationId: c.createdBy,
          storedThumbprint: creator.thumbprint,
          copyThumbprint: c.copy.recipientThumbprint,
        });
      return E.right([
        {
          type: 'SymmetricKeyCreated',
          // Version 1 for a new deployment; after a deletion, the version after every destroyed one.
          data: {
            deploymentId: c.deploymentId,
            keyVersion: nextKeyVersion(s),
            algorithm: 'A256GCM',
            keyCheck: c.keyCheck,
            createdBy: c.createdBy,
            copy: c.copy,
          },
        },
      ]);
    }
    case 'WrapForMember': {
      const current = s.currentKey;
      if (!current) return E.left({ _tag: 'NoKeyToWrap' });
      if (s.deletion) return E.left({ _tag: 'ContentDeletionUnderway', keyVersions: s.deletion.keyVersions }); // a copy about to be destroyed
      const sponsorCopy = currentCopyOf(s, c.sponsor);
      if (!s.registered[c.sponsor] || !sponsorCopy || sponsorCopy.copy.recipientThumbprint !== c.sponsorThumbprint)
        return E.left({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: c.sponsor, keyVersion: s.copies[c.sponsor]?.keyVersion ?? null });
      const newcomer = c.copy.installationId;
      if (s.removed[newcomer]) return E.left({ _tag: 'InstallationRemoved', installationId: newcomer });
      const registered = s.registered[newcomer];
      if (!registered) return E.left({ _tag: 'UnknownInstallation', installationId: newcomer });
      if (c.copy.recipientThumbprint !== registered.thumbprint)
        return E.left({
          _tag: 'CopyNotForRegisteredKey',
          installationId: newcomer,
          storedThumbprint: registered.thumbprint,
          copyThumbprint: c.copy.recipientThumbprint,
        });
      const held = currentCopyOf(s, newcomer);
      if (held && held.copy.recipientThumbprint === registered.thumbprint && c.rewrap !== true) return E.right(none); // already joined: one wrap per member
      return E.right([
        {
          type: 'SymmetricKeyWrapped',
          data: {
            deploymentId: c.deploymentId,
            keyVersion: current.keyVersion,
            copy: c.copy,
            wrappedBy: c.sponsor,
            wrappedByThumbprint: c.sponsorThumbprint,
            ...(c.recipientSigningThumbprint ? { recipientSigningThumbprint: c.recipientSigningThumbprint } : {}),
          },
        },
      ]);
    }
    case 'RemoveInstance': {
      if (s.removed[c.installationId] && !s.registered[c.installationId]) return E.right(none);
      const registered = s.registered[c.installationId];
      if (!registered) return E.left({ _tag: 'NotAMember', installationId: c.installationId });
      const holders = keyHolders(s);
      const lastMember = s.currentKey !== undefined && holders.length === 1 && holders[0] === c.installationId;
      if (lastMember && !c.force) return E.left({ _tag: 'LastMember', installationId: c.installationId, keyVersion: s.currentKey!.keyVersion });
      return E.right([
        {
          type: 'InstanceRemoved',
          data: {
            deploymentId: c.deploymentId,
            installationId: c.installationId,
            machineName: registered.machineName,
            instanceName: registered.instanceName,
            thumbprint: registered.thumbprint,
            revokedKeyVersion: s.copies[c.installationId]?.keyVersion ?? null,
            forced: c.force,
            lastMember,
          },
        },
      ]);
    }
    case 'ReplacePublicKey': {
      const current = s.currentKey;
      if (!current) return E.left({ _tag: 'NoKeyToWrap' });
      const registered = s.registered[c.installationId];
      if (!registered)
        return E.left(
          s.removed[c.installationId]
            ? { _tag: 'InstallationRemoved', installationId: c.installationId }
            : { _tag: 'UnknownInstallation', installationId: c.installationId },
        );
      if (registered.thumbprint === c.thumbprint) return E.right(none); // already replaced (a resumed run)
      if (registered.thumbprint !== c.previousThumbprint)
        return E.left({
          _tag: 'InstallationKeyConflict',
          installationId: c.installationId,
          storedThumbprint: registered.thumbprint,
          presentedThumbprint: c.previousThumbprint,
        });
      const own = currentCopyOf(s, c.installationId);
      if (!own) return E.left({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: c.installationId, keyVersion: s.copies[c.installationId]?.keyVersion ?? null });
      if (c.copy.installationId !== c.installationId || c.copy.recipientThumbprint !== c.thumbprint)
        return E.left({
          _tag: 'CopyNotForRegisteredKey',
          installationId: c.installationId,
          storedThumbprint: c.thumbprint,
          copyThumbprint: c.copy.recipientThumbprint,
        });
      return E.right([
        {
          type: 'PublicKeyReplaced',
          data: {
            deploymentId: c.deploymentId,
            installationId: c.installationId,
            previousThumbprint: c.previousThumbprint,
            thumbprint: c.thumbprint,
            publicKey: c.publicKey,
            reason: 'service-identity-changed',
            ...c.signing,
          },
        },
        {
          type: 'SymmetricKeyWrapped',
          data: {
            deploymentId: c.deploymentId,
            keyVersion: current.keyVersion,
            copy: c.copy,
            wrappedBy: c.installationId,
            wrappedByThumbprint: c.previousThumbprint,
            ...(c.signing ? { recipientSigningThumbprint: c.signing.signingThumbprint } : {}),
          },
        },
      ]);
    }
    case 'RegisterSigningKey': {
      const registered = s.registered[c.installationId];
      if (!registered) return E.left({ _tag: 'UnknownInstallation', installationId: c.installationId });
      if (registered.signing) return E.right(none); // once: later changes go through an identity change
      return E.right([
        {
          type: 'SigningKeyRegistered',
          data: { deploymentId: c.deploymentId, installationId: c.installationId, thumbprint: registered.thumbprint, ...c.signing },
        },
      ]);
    }
    case 'DeclareGenesis': {
      const current = s.currentKey;
      if (!current) return E.left({ _tag: 'NoKeyToWrap' });
      if (!currentCopyOf(s, c.installationId))
        return E.left({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: c.installationId, keyVersion: s.copies[c.installationId]?.keyVersion ?? null });
      return E.right([
        {
          type: 'GenesisDeclared',
          data: {
            deploymentId: c.deploymentId,
            installationId: c.installationId,
            signingThumbprint: c.signingThumbprint,
            previousGenesis: c.previousGenesis,
            keyVersion: current.keyVersion,
            keyCheck: current.keyCheck as Base64Url,
          },
        },
      ]);
    }
    case 'RecordBackup':
    case 'RestoreKey':
      return decideBackupAndRestore(c, s);
    case 'RecreateKey':
    case 'RetireKeyVersion':
      return decideRecreation(c, s);
    case 'StartContentDeletion':
    case 'CompleteContentDeletion':
      return decideContentDeletion(c, s);
  }
};

/**
 * Deleting the encrypted content (rskeymgmt -d, docs/adr/0015): who may run it is the trust walk's to say (a certified
 * member, or a registered one when none remains: src/commands/delete-content.ts); here, what is recorded. The intent
 * names the versions it will destroy; the completion names them with their key checks and every copy of them.
 */
const decideContentDeletion = (
  c: Extract<DeploymentCommand, { type: 'StartContentDeletion' | 'CompleteContentDeletion' }>,
  s: DeploymentState,
): E.Either<DeploymentError, ReadonlyArray<DeploymentEvent>> => {
  if (!s.registered[c.deletedBy])
    return E.left(
      s.removed[c.deletedBy] ? { _tag: 'InstallationRemoved', installationId: c.deletedBy } : { _tag: 'UnknownInstallation', installationId: c.deletedBy },
    );
  if (c.type === 'StartContentDeletion') {
    if (s.deletion) return E.right(none); // under way already: a rerun finishes it
    if (!s.currentKey) return E.left({ _tag: 'NoKeyToWrap' });
    return E.right([
      {
        type: 'EncryptedContentDeletionStarted',
        data: { deploymentId: c.deploymentId, deletedBy: c.deletedBy, keyVersions: [...versionsToDestroy(s)], secrets: c.secrets as t.Int },
      },
    ]);
  }
  const d = s.deletion;
  if (!d) return E.right(none); // completed already (a rerun after the last record)
  const checks: Record<number, string> = {};
  if (s.previousKey) checks[s.previousKey.key.keyVersion] = s.previousKey.key.keyCheck;
  if (s.currentKey) checks[s.currentKey.keyVersion] = s.currentKey.keyCheck;
  const keys = d.keyVersions.filter((v) => checks[v] !== undefined).map((v) => ({ keyVersion: v, keyCheck: checks[v] as Base64Url }));
  const gone = new Set<number>(keys.map((k) => k.keyVersion));
  const held = [...Object.values(s.previousKey?.copies ?? {}), ...Object.values(s.copies)].filter((h) => gone.has(h.keyVersion));
  const copies = [...new Map(held.map((h) => [`${h.copy.installationId}/${h.keyVersion}`, h])).values()]
    .map((h) => ({ installationId: h.copy.installationId, keyVersion: h.keyVersion, recipientThumbprint: h.copy.recipientThumbprint }))
    .sort((a, b) => a.keyVersion - b.keyVersion || (a.installationId < b.installationId ? -1 : a.installationId > b.installationId ? 1 : 0));
  return E.right([
    {
      type: 'EncryptedContentDeleted',
      data: {
        deploymentId: c.deploymentId,
        deletedBy: c.deletedBy,
        keys,
        copies,
        secrets: c.secrets as t.Int,
        contentRevisions: [...c.contentRevisions],
      },
    },
  ]);
};

const decideRecreation = (
  c: Extract<DeploymentCommand, { type: 'RecreateKey' | 'RetireKeyVersion' }>,
  s: DeploymentState,
): E.Either<DeploymentError, ReadonlyArray<DeploymentEvent>> => {
  const current = s.currentKey;
  if (!current) return E.left({ _tag: 'NoKeyToWrap' });
  if (c.type === 'RetireKeyVersion') {
    if (s.previousKey?.key.keyVersion !== c.keyVersion) return E.right(none); // retired already (a resumed run)
    return E.right([
      {
        type: 'KeyVersionRetired',
        data: {
          deploymentId: c.deploymentId,
          keyVersion: c.keyVersion,
          currentVersion: current.keyVersion,
          retiredBy: c.retiredBy,
          secrets: c.secrets as t.Int,
        },
      },
    ]);
  }
  if (s.deletion) return E.left({ _tag: 'ContentDeletionUnderway', keyVersions: s.deletion.keyVersions });
  if (s.previousKey) return E.left({ _tag: 'RecreationUnfinished', previousVersion: s.previousKey.key.keyVersion, currentVersion: current.keyVersion });
  const own = currentCopyOf(s, c.createdBy);
  if (!s.registered[c.createdBy] || !own || own.copy.recipientThumbprint !== c.creatorThumbprint)
    return E.left({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: c.createdBy, keyVersion: s.copies[c.createdBy]?.keyVersion ?? null });
  for (const copy of c.copies) {
    const r = s.registered[copy.installationId];
    if (!r) return E.left({ _tag: 'UnknownInstallation', installationId: copy.installationId });
    if (r.thumbprint !== copy.recipientThumbprint)
      return E.left({
        _tag: 'CopyNotForRegisteredKey',
        installationId: copy.installationId,
        storedThumbprint: r.thumbprint,
        copyThumbprint: copy.recipientThumbprint,
      });
  }
  const mine = c.copies.find((x) => x.installationId === c.createdBy);
  if (!mine) return E.left({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: c.createdBy, keyVersion: own.keyVersion });
  const keyVersion = (current.keyVersion + 1) as KeyVersion;
  return E.right([
    {
      type: 'SymmetricKeyCreated',
      data: { deploymentId: c.deploymentId, keyVersion, algorithm: 'A256GCM', keyCheck: c.keyCheck, createdBy: c.createdBy, copy: mine },
    },
    ...c.copies
      .filter((x) => x.installationId !== c.createdBy)
      .map((copy): DeploymentEvent => {
        const signing = s.registered[copy.installationId]?.signing;
        return {
          type: 'SymmetricKeyWrapped',
          data: {
            deploymentId: c.deploymentId,
            keyVersion,
            copy,
            wrappedBy: c.createdBy,
            wrappedByThumbprint: c.creatorThumbprint,
            ...(signing ? { recipientSigningThumbprint: signing.signingThumbprint } : {}),
          },
        };
      }),
  ]);
};

const decideBackupAndRestore = (
  c: Extract<DeploymentCommand, { type: 'RecordBackup' | 'RestoreKey' }>,
  s: DeploymentState,
): E.Either<DeploymentError, ReadonlyArray<DeploymentEvent>> => {
  if (isDestroyed(s, c.keyVersion)) return E.left({ _tag: 'KeyVersionDestroyed', keyVersion: c.keyVersion });
  const current = s.currentKey;
  if (!current) return E.left({ _tag: 'NoKeyToWrap' });
  if (s.deletion) return E.left({ _tag: 'ContentDeletionUnderway', keyVersions: s.deletion.keyVersions });
  if (c.keyVersion !== current.keyVersion) return E.left({ _tag: 'BackupKeyVersion', backup: c.keyVersion, current: current.keyVersion });
  const registered = s.registered[c.installationId];
  if (!registered)
    return E.left(
      s.removed[c.installationId]
        ? { _tag: 'InstallationRemoved', installationId: c.installationId }
        : { _tag: 'UnknownInstallation', installationId: c.installationId },
    );
  if (c.type === 'RecordBackup') {
    if (!currentCopyOf(s, c.installationId))
      return E.left({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: c.installationId, keyVersion: s.copies[c.installationId]?.keyVersion ?? null });
    const { type: _type, installationId, ...data } = c;
    return E.right([{ type: 'KeyBackedUp', data: { ...data, backedUpBy: installationId } }]);
  }
  if (c.keyCheck !== current.keyCheck) return E.left({ _tag: 'BackupKeyMismatch', keyVersion: current.keyVersion });
  if (c.copy.installationId !== c.installationId || c.copy.recipientThumbprint !== registered.thumbprint)
    return E.left({
      _tag: 'CopyNotForRegisteredKey',
      installationId: c.installationId,
      storedThumbprint: registered.thumbprint,
      copyThumbprint: c.copy.recipientThumbprint,
    });
  const genesis: ReadonlyArray<DeploymentEvent> = c.declareGenesis
    ? [
        {
          type: 'GenesisDeclared',
          data: {
            deploymentId: c.deploymentId,
            installationId: c.installationId,
            signingThumbprint: c.signingThumbprint,
            previousGenesis: c.declareGenesis.previousGenesis,
            keyVersion: current.keyVersion,
            keyCheck: current.keyCheck as Base64Url,
          },
        },
      ]
    : [];
  return E.right([
    ...genesis,
    {
      type: 'SymmetricKeyWrapped',
      data: {
        deploymentId: c.deploymentId,
        keyVersion: current.keyVersion,
        copy: c.copy,
        wrappedBy: c.installationId,
        wrappedByThumbprint: registered.thumbprint,
        recipientSigningThumbprint: c.signingThumbprint,
      },
    },
    {
      type: 'KeyRestored',
      data: {
        deploymentId: c.deploymentId,
        restoredBy: c.installationId,
        keyVersion: current.keyVersion,
        fingerprint: c.fingerprint,
        thumbprint: registered.thumbprint,
        genesisDeclared: c.declareGenesis !== null,
      },
    },
  ]);
};

/** The deployment aggregate as one value (emmett's Decider shape). */
export const deploymentDecider = {
  decide: decideDeployment,
  evolve: evolveDeployment,
  initialState: initialDeploymentState,
} as const;
