/**
 * The initialization workflow as one pure function: given what the instance
 * stream, the deployment stream and the local keystore say, which of the five
 * steps comes next — or that the instance waits to be joined, is refused (and
 * why), or only has to prove it holds its copy (step 5).
 *
 *   1 RecordConfig        config read
 *   2 GenerateKeyPair /   key pair issued (a new one into the keystore, or the one
 *     RecordKeyPair       a crashed run left there)
 *   3 StorePublicKey      installation ID + public key stored in the deployment
 *   4 CreateSymmetricKey  first instance: the key, stored wrapped for itself
 *   5 Prove               unwrap the own copy, then record the activation
 *     Done                activated on the current basis already: nothing to do
 *
 * `init` performs steps until Prove/Done/Waiting/Refused; `start` never performs
 * steps 1–4: it reports an incomplete initialization and names `init`.
 * (Model: emmett's workflow — decide over process state, no I/O.)
 */
import { type DeploymentState, type HeldCopy, keyHolders, lastChangeFor } from './deployment/decider';
import type { RefusalReason } from './events';
import type { InstallationId, KeyVersion, Thumbprint } from './ids';
import { configDifference, configOf, type InstanceConfig, type InstanceState, keyPairOf } from './instance/decider';

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

export type InitStep =
  | { readonly _tag: 'RecordConfig' }
  | { readonly _tag: 'GenerateKeyPair' }
  | { readonly _tag: 'RecordKeyPair' }
  | { readonly _tag: 'StorePublicKey'; readonly rejoin: boolean }
  | { readonly _tag: 'CreateSymmetricKey' }
  | { readonly _tag: 'Waiting'; readonly reason: Extract<RefusalReason, { _tag: 'NoWrappedCopy' }> }
  | { readonly _tag: 'Refused'; readonly reason: RefusalReason }
  | { readonly _tag: 'Prove'; readonly plan: UnwrapPlan }
  | { readonly _tag: 'Done'; readonly plan: UnwrapPlan };

export type StepTag = InitStep['_tag'];

/** How many of the five steps are recorded when the workflow is at this step. */
export const completedStepsAt = (step: StepTag): number => {
  switch (step) {
    case 'RecordConfig':
      return 0;
    case 'GenerateKeyPair':
    case 'RecordKeyPair':
      return 1;
    case 'StorePublicKey':
      return 2;
    case 'CreateSymmetricKey':
    case 'Waiting':
      return 3;
    case 'Prove':
      return 4;
    case 'Done':
      return 5;
    case 'Refused':
      return 0;
  }
};

/** Steps 1–4, which only `init` performs. */
export const isInitStep = (
  s: InitStep,
): s is Extract<InitStep, { _tag: 'RecordConfig' | 'GenerateKeyPair' | 'RecordKeyPair' | 'StorePublicKey' | 'CreateSymmetricKey' }> =>
  s._tag === 'RecordConfig' || s._tag === 'GenerateKeyPair' || s._tag === 'RecordKeyPair' || s._tag === 'StorePublicKey' || s._tag === 'CreateSymmetricKey';

export interface WorkflowInput {
  readonly instance: InstanceState;
  readonly deployment: DeploymentState;
  readonly presented: InstanceConfig;
  readonly held: HeldKey;
  /** init --rejoin: register an installation again after it was removed. */
  readonly rejoin: boolean;
}

const refused = (reason: RefusalReason): InitStep => ({ _tag: 'Refused', reason });

export const nextInitStep = ({ instance, deployment, presented, held, rejoin }: WorkflowInput): InitStep => {
  const id = presented.installationId;
  const recordedConfig = configOf(instance);
  const keystoreOf = held._tag === 'Held' ? held.installationId : held.keystoreInstallationId;
  // A keystore of another installation (an edited installation ID): nothing is recorded under this one.
  if (!recordedConfig && keystoreOf !== null && keystoreOf !== id)
    return refused({ _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: id, keystoreInstallationId: keystoreOf });
  if (!recordedConfig) return { _tag: 'RecordConfig' };
  const diff = configDifference(recordedConfig, presented);
  if (diff)
    return refused(
      diff.field === 'serviceIdentity'
        ? { _tag: 'ServiceIdentityChanged', recordedIdentity: diff.recorded, presentedIdentity: diff.presented }
        : { _tag: 'ConfigurationChanged', ...diff },
    );
  const keyPair = keyPairOf(instance);
  const registered = deployment.registered[id];
  const removed = deployment.removed[id];
  if (removed && !registered) {
    const canRejoin = rejoin && held._tag === 'Held' && held.installationId === id && keyPair !== undefined && keyPair.thumbprint === held.thumbprint;
    return canRejoin
      ? { _tag: 'StorePublicKey', rejoin: true }
      : refused({ _tag: 'InstanceRemoved', installationId: id, revokedThumbprint: removed.thumbprint });
  }
  if (held._tag === 'KeystoreProblem') {
    if (held.keystoreInstallationId !== null && held.keystoreInstallationId !== id)
      return refused({ _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: id, keystoreInstallationId: held.keystoreInstallationId });
    if (!keyPair && held.problem === 'missing') return { _tag: 'GenerateKeyPair' };
    return refused({ _tag: 'KeystoreUnavailable', keystorePath: held.keystorePath, problem: held.problem, detail: held.detail });
  }
  if (held.installationId !== id)
    return refused({ _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: id, keystoreInstallationId: held.installationId });
  if (!keyPair) return { _tag: 'RecordKeyPair' };
  if (keyPair.thumbprint !== held.thumbprint)
    return refused({ _tag: 'PublicKeyMismatch', heldThumbprint: held.thumbprint, storedThumbprint: keyPair.thumbprint, storedIn: 'instance' });
  if (!registered) return { _tag: 'StorePublicKey', rejoin: false };
  if (registered.thumbprint !== held.thumbprint)
    return refused({ _tag: 'PublicKeyMismatch', heldThumbprint: held.thumbprint, storedThumbprint: registered.thumbprint, storedIn: 'deployment' });
  const current = deployment.currentKey;
  if (!current) return { _tag: 'CreateSymmetricKey' };
  const copy = deployment.copies[id];
  if (copy && copy.keyVersion !== current.keyVersion)
    return refused({ _tag: 'StaleWrappedCopy', heldVersion: copy.keyVersion, currentVersion: current.keyVersion });
  if (!copy)
    return keyHolders(deployment).length === 0
      ? refused({ _tag: 'NoMemberHoldsKey', keyVersion: current.keyVersion })
      : { _tag: 'Waiting', reason: { _tag: 'NoWrappedCopy', keyVersion: current.keyVersion } };
  if (copy.copy.recipientThumbprint !== held.thumbprint)
    return refused({
      _tag: 'WrappedCopyForOtherKey',
      keyVersion: current.keyVersion,
      copyThumbprint: copy.copy.recipientThumbprint,
      heldThumbprint: held.thumbprint,
    });
  const plan: UnwrapPlan = { keyVersion: current.keyVersion, copy, expectedKeyCheck: current.keyCheck, thumbprint: held.thumbprint };
  const proven =
    instance.status === 'Activated' &&
    instance.keyVersion === current.keyVersion &&
    instance.basis !== null &&
    instance.basis.presentedThumbprint === held.thumbprint &&
    instance.basis.deploymentRevision >= lastChangeFor(deployment, id);
  return proven ? { _tag: 'Done', plan } : { _tag: 'Prove', plan };
};

// ─── After the unwrap ─────────────────────────────────────────────────────

export type UnwrapOutcome = { readonly _tag: 'Unwrapped'; readonly keyCheck: string } | { readonly _tag: 'UnwrapFailed'; readonly detail: string };

/**
 * Step 5's evidence: the own copy unwrapped, the key it yields is the deployment's current key, and — when
 * this instance held that key version before (its pin, kept beside its keystore) — the very key it held:
 * a key planted in the ledger, key check and copies rewritten, is refused.
 */
export const checkAfterUnwrap = (
  plan: UnwrapPlan,
  outcome: UnwrapOutcome,
  pinnedKeyCheck?: string,
): { readonly _tag: 'Proven'; readonly plan: UnwrapPlan } | { readonly _tag: 'Refused'; readonly reason: RefusalReason } => {
  if (outcome._tag === 'UnwrapFailed')
    return { _tag: 'Refused', reason: { _tag: 'UnwrapFailed', keyVersion: plan.keyVersion, thumbprint: plan.thumbprint, detail: outcome.detail } };
  if (outcome.keyCheck !== plan.expectedKeyCheck) return { _tag: 'Refused', reason: { _tag: 'KeyCheckMismatch', keyVersion: plan.keyVersion } };
  if (pinnedKeyCheck !== undefined && pinnedKeyCheck !== outcome.keyCheck)
    return { _tag: 'Refused', reason: { _tag: 'KeyNotThePinnedKey', keyVersion: plan.keyVersion, pinnedKeyCheck, ledgerKeyCheck: outcome.keyCheck } };
  return { _tag: 'Proven', plan };
};
