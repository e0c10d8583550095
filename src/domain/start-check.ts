/**
 * The start check (SSRS: "initialized only if installation ID and public key
 * match"), as pure functions around the one effect it needs — unwrapping the
 * instance's own copy of the symmetric key with the private key it holds.
 */
import * as E from 'fp-ts/Either';
import { type DeploymentState, type HeldCopy, keyHolders } from './deployment/decider';
import type { RefusalReason } from './events';
import type { InstallationId, KeyVersion, Thumbprint } from './ids';
import { configDifference, configOf, keyPairOf, type InstanceConfig, type InstanceState } from './instance/decider';

/** What the local keystore yielded, as evidence (never the key itself). */
export type HeldKey =
  | { readonly _tag: 'Held'; readonly installationId: InstallationId; readonly thumbprint: Thumbprint }
  | {
      readonly _tag: 'KeystoreProblem';
      readonly keystorePath: string;
      readonly problem: 'missing' | 'unreadable' | 'locked' | 'corrupt';
      readonly detail: string;
      /** The installation the keystore says it belongs to, when its header could be read. */
      readonly keystoreInstallationId: InstallationId | null;
    };

export interface UnwrapPlan {
  readonly keyVersion: KeyVersion;
  readonly copy: HeldCopy;
  readonly expectedKeyCheck: string;
  readonly thumbprint: Thumbprint;
}

export const checkBeforeUnwrap = (
  instance: InstanceState,
  deployment: DeploymentState,
  presented: InstanceConfig,
  held: HeldKey,
): E.Either<RefusalReason, UnwrapPlan> => {
  const id = presented.installationId;
  const keystoreId = held._tag === 'Held' ? held.installationId : held.keystoreInstallationId;
  const recordedConfig = configOf(instance);
  if (!recordedConfig) return E.left({ kind: 'InstallationNotRegistered', installationId: id, keystoreInstallationId: keystoreId });
  const diff = configDifference(recordedConfig, presented);
  if (diff)
    return E.left(
      diff.field === 'serviceIdentity'
        ? { kind: 'ServiceIdentityChanged', recordedIdentity: diff.recorded, presentedIdentity: diff.presented }
        : { kind: 'ConfigurationChanged', ...diff },
    );
  const removed = deployment.removed[id];
  if (removed && !deployment.registered[id]) return E.left({ kind: 'InstanceRemoved', installationId: id, revokedThumbprint: removed.thumbprint });
  if (held._tag === 'KeystoreProblem') {
    if (held.keystoreInstallationId !== null && held.keystoreInstallationId !== id)
      return E.left({ kind: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: id, keystoreInstallationId: held.keystoreInstallationId });
    return E.left({ kind: 'KeystoreUnavailable', keystorePath: held.keystorePath, problem: held.problem, detail: held.detail });
  }
  if (held.installationId !== id)
    return E.left({ kind: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: id, keystoreInstallationId: held.installationId });
  const keyPair = keyPairOf(instance);
  if (keyPair && keyPair.thumbprint !== held.thumbprint)
    return E.left({ kind: 'PublicKeyMismatch', heldThumbprint: held.thumbprint, storedThumbprint: keyPair.thumbprint, storedIn: 'instance' });
  const registered = deployment.registered[id];
  if (!registered) return E.left({ kind: 'InstallationNotRegistered', installationId: id, keystoreInstallationId: keystoreId });
  if (registered.thumbprint !== held.thumbprint)
    return E.left({ kind: 'PublicKeyMismatch', heldThumbprint: held.thumbprint, storedThumbprint: registered.thumbprint, storedIn: 'deployment' });
  const current = deployment.currentKey;
  if (!current) return E.left({ kind: 'NoSymmetricKey', deploymentId: presented.deploymentId });
  const copy = deployment.copies[id];
  if (copy && copy.keyVersion !== current.keyVersion) return E.left({ kind: 'StaleWrappedCopy', heldVersion: copy.keyVersion, currentVersion: current.keyVersion });
  if (!copy) return E.left(keyHolders(deployment).length === 0 ? { kind: 'NoMemberHoldsKey', keyVersion: current.keyVersion } : { kind: 'NoWrappedCopy', keyVersion: current.keyVersion });
  if (copy.copy.recipientThumbprint !== held.thumbprint)
    return E.left({ kind: 'WrappedCopyForOtherKey', keyVersion: current.keyVersion, copyThumbprint: copy.copy.recipientThumbprint, heldThumbprint: held.thumbprint });
  return E.right({ keyVersion: current.keyVersion, copy, expectedKeyCheck: current.keyCheck, thumbprint: held.thumbprint });
};

export type UnwrapOutcome = { readonly _tag: 'Unwrapped'; readonly keyCheck: string } | { readonly _tag: 'UnwrapFailed'; readonly detail: string };

export const checkAfterUnwrap = (plan: UnwrapPlan, outcome: UnwrapOutcome): E.Either<RefusalReason, UnwrapPlan> => {
  if (outcome._tag === 'UnwrapFailed') return E.left({ kind: 'UnwrapFailed', keyVersion: plan.keyVersion, thumbprint: plan.thumbprint, detail: outcome.detail });
  if (outcome.keyCheck !== plan.expectedKeyCheck) return E.left({ kind: 'KeyCheckMismatch', keyVersion: plan.keyVersion });
  return E.right(plan);
};
