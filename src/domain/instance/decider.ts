/**
 * The instance aggregate: steps 1, 2 and 5 of initialization and the outcome
 * of every start check. Its stream is `keyledger.instance-<installationId>`.
 * Pure: no I/O, no clock, no randomness — key pairs and check results come in
 * with the command.
 */
import * as E from 'fp-ts/Either';
import type { SigningRegistration } from '../deployment/decider';
import type { ConfigRead, InstanceEvent, KeyPairIssued, KeySize, OutcomeBasis, PublicJwk, RefusalReason } from '../events';
import type * as t from 'io-ts';
import type { DeploymentId, InstallationId, KeyVersion, NonEmptyString, Thumbprint } from '../ids';

export type InstanceConfig = t.TypeOf<typeof ConfigRead>['data'];
export type IssuedKeyPair = t.TypeOf<typeof KeyPairIssued>['data'];

// ─── State ────────────────────────────────────────────────────────────────

export type InstanceState =
  | { readonly status: 'NotInitialized' }
  | { readonly status: 'Configured'; readonly config: InstanceConfig }
  | { readonly status: 'KeyPairIssued'; readonly config: InstanceConfig; readonly keyPair: IssuedKeyPair }
  | {
      readonly status: 'Activated';
      readonly config: InstanceConfig;
      readonly keyPair: IssuedKeyPair;
      readonly keyVersion: KeyVersion;
      /** What the activation was decided on (null: recorded before outcomes carried it). */
      readonly basis: OutcomeBasis | null;
    }
  | {
      readonly status: 'Disabled';
      readonly config: InstanceConfig | undefined;
      readonly keyPair: IssuedKeyPair | undefined;
      readonly reason: RefusalReason;
      readonly basis: OutcomeBasis | null;
    };

export const initialInstanceState: InstanceState = { status: 'NotInitialized' };

export const configOf = (s: InstanceState): InstanceConfig | undefined => (s.status === 'NotInitialized' ? undefined : s.config);
export const keyPairOf = (s: InstanceState): IssuedKeyPair | undefined =>
  s.status === 'KeyPairIssued' || s.status === 'Activated' || s.status === 'Disabled' ? s.keyPair : undefined;

export const evolveInstance = (s: InstanceState, e: InstanceEvent): InstanceState => {
  switch (e.type) {
    case 'ConfigRead':
      return keyPairOf(s) ? { ...(s as Exclude<InstanceState, { status: 'NotInitialized' }>), config: e.data } : { status: 'Configured', config: e.data };
    case 'KeyPairIssued': {
      const config = configOf(s);
      return config ? { status: 'KeyPairIssued', config, keyPair: e.data } : s;
    }
    case 'InstanceActivated': {
      const config = configOf(s);
      const keyPair = keyPairOf(s);
      return config && keyPair ? { status: 'Activated', config, keyPair, keyVersion: e.data.keyVersion, basis: e.data.basis ?? null } : s;
    }
    case 'InstanceActivationRefused':
      return { status: 'Disabled', config: configOf(s), keyPair: keyPairOf(s), reason: e.data.reason, basis: e.data.basis ?? null };
    case 'LedgerRollbackAccepted':
    case 'LedgerForkAccepted':
    case 'GenesisAccepted':
      return s; // facts about the store and its trust, not about the instance's keys
    case 'ServiceIdentityChanged': {
      const config = configOf(s);
      if (!config) return s;
      const d = e.data;
      // A new key pair under the new identity: the instance must prove it again before it is active.
      return {
        status: 'KeyPairIssued',
        config: { ...config, serviceIdentity: d.serviceIdentity },
        keyPair: {
          installationId: d.installationId,
          publicKey: d.publicKey,
          thumbprint: d.thumbprint,
          algorithm: d.algorithm,
          keySize: d.keySize,
          serviceIdentity: d.serviceIdentity,
          ...(d.signingKey && d.signingThumbprint && d.signingKeyProof
            ? { signingKey: d.signingKey, signingThumbprint: d.signingThumbprint, signingKeyProof: d.signingKeyProof }
            : {}),
        },
      };
    }
  }
};

// ─── Commands ─────────────────────────────────────────────────────────────

export type InstanceCommand =
  | { readonly type: 'RecordConfig'; readonly config: InstanceConfig }
  | {
      readonly type: 'RecordKeyPair';
      readonly installationId: InstallationId;
      readonly publicKey: PublicJwk;
      readonly thumbprint: Thumbprint;
      readonly keySize: KeySize;
      /** The signing key issued with it (absent: a keystore from before signatures). */
      readonly signing?: SigningRegistration | undefined;
    }
  | {
      readonly type: 'Activate';
      readonly installationId: InstallationId;
      readonly deploymentId: DeploymentId;
      readonly keyVersion: KeyVersion;
      readonly thumbprint: Thumbprint;
      readonly basis: OutcomeBasis;
      /** The deployment revision of the last change bearing on this installation (lastChangeFor). */
      readonly changedAt: number;
    }
  | {
      readonly type: 'ChangeServiceIdentity';
      readonly installationId: InstallationId;
      readonly serviceIdentity: NonEmptyString;
      readonly publicKey: PublicJwk;
      readonly thumbprint: Thumbprint;
      readonly keySize: KeySize;
      readonly signing?: SigningRegistration | undefined;
    }
  | {
      /** The operator confirmed the deployment's genesis out of band; this instance pinned it. */
      readonly type: 'AcceptGenesis';
      readonly installationId: InstallationId;
      readonly deploymentId: DeploymentId;
      readonly genesisThumbprint: Thumbprint;
      readonly previousGenesis: Thumbprint | null;
    }
  | {
      /** An operator accepts a store that ends earlier than this instance saw it. */
      readonly type: 'AcceptRollback';
      readonly installationId: InstallationId;
      readonly stream: string;
      readonly remembered: { readonly revision: string; readonly hash: string };
      readonly accepted: { readonly revision: string; readonly hash: string | null };
    }
  | {
      /** An operator accepts a ledger whose tree is no longer an extension of the head this member co-signed. */
      readonly type: 'AcceptFork';
      readonly installationId: InstallationId;
      readonly origin: string;
      readonly cosigned: { readonly size: string; readonly root: string };
      readonly accepted: { readonly size: string; readonly root: string };
    }
  | {
      readonly type: 'RefuseActivation';
      readonly installationId: InstallationId;
      readonly deploymentId: DeploymentId;
      readonly reason: RefusalReason;
      readonly basis: OutcomeBasis;
      /** The deployment revision of the last change bearing on this installation (lastChangeFor). */
      readonly changedAt: number;
    };

export type InstanceError =
  | { readonly _tag: 'ConfigConflict'; readonly field: string; readonly recorded: string; readonly presented: string }
  | { readonly _tag: 'NotConfigured'; readonly step: string }
  | { readonly _tag: 'KeyPairAlreadyIssued'; readonly recordedThumbprint: Thumbprint; readonly presentedThumbprint: Thumbprint }
  | { readonly _tag: 'NoKeyPair' }
  | { readonly _tag: 'ThumbprintMismatch'; readonly recordedThumbprint: Thumbprint; readonly presentedThumbprint: Thumbprint }
  | { readonly _tag: 'SameServiceIdentity'; readonly serviceIdentity: string };

const CONFIG_FIELDS = ['installationId', 'deploymentId', 'machineName', 'instanceName', 'serviceIdentity'] as const;

/** The first config field that differs from what was recorded, if any. */
export const configDifference = (recorded: InstanceConfig, presented: InstanceConfig): { field: string; recorded: string; presented: string } | undefined => {
  for (const f of CONFIG_FIELDS) if (recorded[f] !== presented[f]) return { field: f, recorded: recorded[f], presented: presented[f] };
  return undefined;
};

const none: ReadonlyArray<InstanceEvent> = [];

const samePresenter = (a: OutcomeBasis, b: OutcomeBasis): boolean =>
  a.presentedThumbprint === b.presentedThumbprint && a.machineName === b.machineName && a.host === b.host && a.keystorePath === b.keystorePath;

/**
 * Whether the last recorded outcome already says what a new one would: same
 * presenter, and no deployment change bearing on the installation since it was
 * decided. Then recording again adds nothing (a re-run init, a repeated start).
 */
const stillSays = (last: OutcomeBasis | null, basis: OutcomeBasis, changedAt: number): boolean =>
  last !== null && samePresenter(last, basis) && last.deploymentRevision >= changedAt;

/** Structural equality of two refusal reasons (plain JSON values). */
const sameReason = (a: RefusalReason, b: RefusalReason): boolean => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

export const decideInstance = (c: InstanceCommand, s: InstanceState): E.Either<InstanceError, ReadonlyArray<InstanceEvent>> => {
  switch (c.type) {
    case 'RecordConfig': {
      const recorded = configOf(s);
      if (!recorded) return E.right([{ type: 'ConfigRead', data: c.config }]);
      const diff = configDifference(recorded, c.config);
      return diff ? E.left({ _tag: 'ConfigConflict', ...diff }) : E.right(none);
    }
    case 'RecordKeyPair': {
      const config = configOf(s);
      if (!config) return E.left({ _tag: 'NotConfigured', step: 'key pair issued' });
      const existing = keyPairOf(s);
      if (existing)
        return existing.thumbprint === c.thumbprint
          ? E.right(none)
          : E.left({ _tag: 'KeyPairAlreadyIssued', recordedThumbprint: existing.thumbprint, presentedThumbprint: c.thumbprint });
      return E.right([
        {
          type: 'KeyPairIssued',
          data: {
            installationId: c.installationId,
            publicKey: c.publicKey,
            thumbprint: c.thumbprint,
            algorithm: 'RSA-OAEP-256',
            keySize: c.keySize,
            serviceIdentity: config.serviceIdentity,
            ...c.signing,
          },
        },
      ]);
    }
    case 'Activate': {
      const keyPair = keyPairOf(s);
      if (!keyPair) return E.left({ _tag: 'NoKeyPair' });
      if (keyPair.thumbprint !== c.thumbprint)
        return E.left({ _tag: 'ThumbprintMismatch', recordedThumbprint: keyPair.thumbprint, presentedThumbprint: c.thumbprint });
      if (s.status === 'Activated' && s.keyVersion === c.keyVersion && stillSays(s.basis, c.basis, c.changedAt)) return E.right(none);
      return E.right([
        {
          type: 'InstanceActivated',
          data: { installationId: c.installationId, deploymentId: c.deploymentId, keyVersion: c.keyVersion, thumbprint: c.thumbprint, basis: c.basis },
        },
      ]);
    }
    case 'ChangeServiceIdentity': {
      const config = configOf(s);
      const keyPair = keyPairOf(s);
      if (!config) return E.left({ _tag: 'NotConfigured', step: 'service identity change' });
      if (!keyPair) return E.left({ _tag: 'NoKeyPair' });
      if (config.serviceIdentity === c.serviceIdentity) {
        // Already moved (a resumed run) with this very key pair: nothing to record.
        return keyPair.thumbprint === c.thumbprint ? E.right(none) : E.left({ _tag: 'SameServiceIdentity', serviceIdentity: c.serviceIdentity });
      }
      return E.right([
        {
          type: 'ServiceIdentityChanged',
          data: {
            installationId: c.installationId,
            previousIdentity: config.serviceIdentity,
            serviceIdentity: c.serviceIdentity,
            previousThumbprint: keyPair.thumbprint,
            publicKey: c.publicKey,
            thumbprint: c.thumbprint,
            algorithm: 'RSA-OAEP-256',
            keySize: c.keySize,
            ...c.signing,
          },
        },
      ]);
    }
    case 'AcceptGenesis':
      return E.right([
        {
          type: 'GenesisAccepted',
          data: {
            installationId: c.installationId,
            deploymentId: c.deploymentId,
            genesisThumbprint: c.genesisThumbprint,
            previousGenesis: c.previousGenesis,
          },
        },
      ]);
    case 'AcceptRollback':
      return E.right([
        {
          type: 'LedgerRollbackAccepted',
          data: {
            installationId: c.installationId,
            stream: c.stream,
            rememberedRevision: c.remembered.revision,
            rememberedHash: c.remembered.hash,
            acceptedRevision: c.accepted.revision,
            acceptedHash: c.accepted.hash,
          },
        },
      ]);
    case 'AcceptFork':
      return E.right([
        {
          type: 'LedgerForkAccepted',
          data: {
            installationId: c.installationId,
            origin: c.origin,
            cosignedSize: c.cosigned.size,
            cosignedRoot: c.cosigned.root,
            acceptedSize: c.accepted.size,
            acceptedRoot: c.accepted.root,
          },
        },
      ]);
    case 'RefuseActivation':
      // A refusal is recorded when it says something new: another reason, another presenter, or a changed deployment.
      if (s.status === 'Disabled' && sameReason(s.reason, c.reason) && stillSays(s.basis, c.basis, c.changedAt)) return E.right(none);
      return E.right([
        { type: 'InstanceActivationRefused', data: { installationId: c.installationId, deploymentId: c.deploymentId, reason: c.reason, basis: c.basis } },
      ]);
  }
};

/** The instance aggregate as one value (emmett's Decider shape). */
export const instanceDecider = {
  decide: decideInstance,
  evolve: evolveInstance,
  initialState: initialInstanceState,
} as const;
