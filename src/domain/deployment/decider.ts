/**
 * The deployment aggregate (SSRS: the report server database's Keys table):
 * which installation IDs and public keys are registered, the current
 * symmetric key version, and every member's wrapped copy. Its stream
 * `keyledger.deployment-<deploymentId>` is the consistency boundary for
 * membership and key copies: racing writers there get exactly one winner.
 * Pure: wrapped copies and key checks come in with the command.
 */
import * as E from 'fp-ts/Either';
import type { Base64Url, DeploymentEvent, PublicJwk, WrappedCopy } from '../events';
import type { DeploymentId, InstallationId, KeyVersion, NonEmptyString, Thumbprint } from '../ids';

// ─── State ────────────────────────────────────────────────────────────────

export interface RegisteredInstance {
  readonly installationId: InstallationId;
  readonly machineName: string;
  readonly instanceName: string;
  readonly thumbprint: Thumbprint;
  readonly publicKey: PublicJwk;
}

export interface CurrentKey {
  readonly keyVersion: KeyVersion;
  readonly keyCheck: string;
}

export interface HeldCopy {
  readonly keyVersion: KeyVersion;
  readonly copy: WrappedCopy;
}

export interface DeploymentState {
  readonly registered: Readonly<Record<string, RegisteredInstance>>;
  readonly currentKey: CurrentKey | undefined;
  /** Each member's newest wrapped copy, by installation ID. */
  readonly copies: Readonly<Record<string, HeldCopy>>;
}

export const initialDeploymentState: DeploymentState = { registered: {}, currentKey: undefined, copies: {} };

export const evolveDeployment = (s: DeploymentState, e: DeploymentEvent): DeploymentState => {
  switch (e.type) {
    case 'PublicKeyStored': {
      const d = e.data;
      return {
        ...s,
        registered: {
          ...s.registered,
          [d.installationId]: { installationId: d.installationId, machineName: d.machineName, instanceName: d.instanceName, thumbprint: d.thumbprint, publicKey: d.publicKey },
        },
      };
    }
    case 'SymmetricKeyCreated':
      return {
        ...s,
        currentKey: { keyVersion: e.data.keyVersion, keyCheck: e.data.keyCheck },
        copies: { ...s.copies, [e.data.copy.installationId]: { keyVersion: e.data.keyVersion, copy: e.data.copy } },
      };
    case 'SymmetricKeyWrapped':
      return { ...s, copies: { ...s.copies, [e.data.copy.installationId]: { keyVersion: e.data.keyVersion, copy: e.data.copy } } };
  }
};

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
    }
  | {
      readonly type: 'CreateSymmetricKey';
      readonly deploymentId: DeploymentId;
      readonly keyCheck: Base64Url;
      readonly createdBy: InstallationId;
      readonly copy: WrappedCopy;
    };

export type DeploymentError =
  | {
      readonly _tag: 'InstallationKeyConflict';
      readonly installationId: InstallationId;
      readonly storedThumbprint: Thumbprint;
      readonly presentedThumbprint: Thumbprint;
    }
  | { readonly _tag: 'InstallationNotRegistered'; readonly installationId: InstallationId }
  | { readonly _tag: 'SymmetricKeyExists'; readonly keyVersion: KeyVersion }
  | { readonly _tag: 'CopyNotForRegisteredKey'; readonly installationId: InstallationId; readonly storedThumbprint: Thumbprint; readonly copyThumbprint: Thumbprint };

const none: ReadonlyArray<DeploymentEvent> = [];
const FIRST_VERSION = 1 as KeyVersion;

export const decideDeployment = (c: DeploymentCommand, s: DeploymentState): E.Either<DeploymentError, ReadonlyArray<DeploymentEvent>> => {
  switch (c.type) {
    case 'StorePublicKey': {
      const existing = s.registered[c.installationId];
      if (existing)
        return existing.thumbprint === c.thumbprint
          ? E.right(none)
          : E.left({ _tag: 'InstallationKeyConflict', installationId: c.installationId, storedThumbprint: existing.thumbprint, presentedThumbprint: c.thumbprint });
      const { type: _type, ...data } = c;
      return E.right([{ type: 'PublicKeyStored', data }]);
    }
    case 'CreateSymmetricKey': {
      if (s.currentKey) return E.left({ _tag: 'SymmetricKeyExists', keyVersion: s.currentKey.keyVersion });
      const creator = s.registered[c.createdBy];
      if (!creator) return E.left({ _tag: 'InstallationNotRegistered', installationId: c.createdBy });
      if (c.copy.installationId !== c.createdBy || c.copy.recipientThumbprint !== creator.thumbprint)
        return E.left({ _tag: 'CopyNotForRegisteredKey', installationId: c.createdBy, storedThumbprint: creator.thumbprint, copyThumbprint: c.copy.recipientThumbprint });
      return E.right([
        {
          type: 'SymmetricKeyCreated',
          data: { deploymentId: c.deploymentId, keyVersion: FIRST_VERSION, algorithm: 'A256GCM', keyCheck: c.keyCheck, createdBy: c.createdBy, copy: c.copy },
        },
      ]);
    }
  }
};
