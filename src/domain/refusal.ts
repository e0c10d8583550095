/**
 * What each refusal reason means to an operator: the SSRS error it
 * corresponds to and one line of explanation with the evidence. The remedy is
 * typed data (./remedy.ts), rendered here into the RSReportServerNotActivated line.
 */
import type { RefusalReason } from './events';
import { type Remedy, remedyText } from './remedy';

export const NOT_ACTIVATED = 'RSReportServerNotActivated';

export interface Explanation {
  /** The SSRS error code an operator would search for. */
  readonly code: string;
  readonly summary: string;
}

export const explainRefusal = (r: RefusalReason): Explanation => {
  switch (r._tag) {
    case 'KeystoreUnavailable':
      return {
        code: 'rsKeyStateNotValid',
        summary: `the local keystore ${r.keystorePath} is ${r.problem}: ${r.detail}`,
      };
    case 'KeystoreBelongsToOtherInstallation':
      return {
        code: 'rsReportServerDisabled',
        summary: `the keystore belongs to installation ${r.keystoreInstallationId}, but the config presents ${r.presentedInstallationId}`,
      };
    case 'InstallationNotRegistered':
      return {
        code: NOT_ACTIVATED,
        summary:
          `installation ${r.installationId} is not registered in the deployment` +
          (r.keystoreInstallationId !== null && r.keystoreInstallationId !== r.installationId
            ? ` (the keystore belongs to ${r.keystoreInstallationId}: was the installation ID in the config edited?)`
            : ''),
      };
    case 'PublicKeyMismatch':
      return {
        code: 'rsReportServerDisabled',
        summary:
          `the public key held (thumbprint ${r.heldThumbprint}) does not match the one stored in the ${r.storedIn} (${r.storedThumbprint}): ` +
          'cloned config, rebuilt machine or replaced keystore',
      };
    case 'ServiceIdentityChanged':
      return {
        code: 'rsKeyStateNotValid',
        summary: `the service identity changed from ${r.recordedIdentity} to ${r.presentedIdentity} without updating the keys`,
      };
    case 'ConfigurationChanged':
      return {
        code: NOT_ACTIVATED,
        summary: `the config's ${r.field} is "${r.presented}" but the ledger recorded "${r.recorded}" for this installation`,
      };
    case 'NoSymmetricKey':
      return {
        code: NOT_ACTIVATED,
        summary: `deployment ${r.deploymentId} has no symmetric key yet`,
      };
    case 'NoWrappedCopy':
      return {
        code: NOT_ACTIVATED,
        summary: `waiting to join: the deployment holds no copy of symmetric key version ${r.keyVersion} for this instance`,
      };
    case 'WrappedCopyForOtherKey':
      return {
        code: 'rsReportServerDisabled',
        summary: `the copy of key version ${r.keyVersion} is wrapped for ${r.copyThumbprint}, but this instance holds ${r.heldThumbprint}`,
      };
    case 'UnwrapFailed':
      return {
        code: 'rsReportServerDisabled',
        summary: `the copy of key version ${r.keyVersion} cannot be unwrapped with the private key ${r.thumbprint}: ${r.detail}`,
      };
    case 'InstanceRemoved':
      return {
        code: NOT_ACTIVATED,
        summary: `installation ${r.installationId} was removed from the scale-out deployment (its key ${r.revokedThumbprint} and wrapped copy were revoked)`,
      };
    case 'StaleWrappedCopy':
      return {
        code: 'rsReportServerDisabled',
        summary: `this instance holds a copy of symmetric key version ${r.heldVersion}, but the deployment's current version is ${r.currentVersion}`,
      };
    case 'NoMemberHoldsKey':
      return {
        code: NOT_ACTIVATED,
        summary: `no member of the deployment holds symmetric key version ${r.keyVersion} any more (the last member was removed), so nobody can join this instance`,
      };
    case 'KeyNotThePinnedKey':
      return {
        code: 'rsCannotValidateEncryptedData',
        summary:
          `the ledger's symmetric key version ${r.keyVersion} is not the key this instance held for that version ` +
          `(key check ${r.ledgerKeyCheck}, held ${r.pinnedKeyCheck}): a key planted in the ledger`,
      };
    case 'KeyCheckMismatch':
      return {
        code: 'rsCannotValidateEncryptedData',
        summary: `the unwrapped key is not symmetric key version ${r.keyVersion} (its key check differs): the report server is unable to access encrypted data`,
      };
  }
};

/** `RSReportServerNotActivated: <specific code>: <summary>. Remedy: <remedy>.` (the code once when it is the generic one). */
export const refusalLine = (r: RefusalReason, remedy: Remedy): string => {
  const x = explainRefusal(r);
  return `${NOT_ACTIVATED}: ${x.code === NOT_ACTIVATED ? '' : `${x.code}: `}${x.summary}. Remedy: ${remedyText(remedy)}.`;
};
