/**
 * What each refusal reason means to an operator: the SSRS error it
 * corresponds to, one line of explanation with the evidence, and the remedy
 * (from SSRS-REFERENCE.md, in keyledger's own commands).
 */
import type { RefusalReason } from './events';

export const NOT_ACTIVATED = 'RSReportServerNotActivated';

export interface Explanation {
  /** The SSRS error code an operator would search for. */
  readonly code: string;
  readonly summary: string;
  readonly remedy: string;
}

export const explainRefusal = (r: RefusalReason): Explanation => {
  switch (r.kind) {
    case 'KeystoreUnavailable':
      return {
        code: 'rsKeyStateNotValid',
        summary: `the local keystore ${r.keystorePath} is ${r.problem}: ${r.detail}`,
        remedy:
          r.problem === 'locked'
            ? 'run under the service identity the keystore was protected for, or restore a backup key (keyledger restore / rskeymgmt -a)'
            : 'restore the keystore file, or restore a backup key (rskeymgmt -a), or delete encrypted content (rskeymgmt -d)',
      };
    case 'KeystoreBelongsToOtherInstallation':
      return {
        code: 'rsReportServerDisabled',
        summary: `the keystore belongs to installation ${r.keystoreInstallationId}, but the config presents ${r.presentedInstallationId}`,
        remedy: 'point the config at this installation\'s own keystore, or restore the installation ID in the config file',
      };
    case 'InstallationNotRegistered':
      return {
        code: NOT_ACTIVATED,
        summary:
          `installation ${r.installationId} is not registered in the deployment` +
          (r.keystoreInstallationId !== null && r.keystoreInstallationId !== r.installationId
            ? ` (the keystore belongs to ${r.keystoreInstallationId}: was the installation ID in the config edited?)`
            : ''),
        remedy: 'restore the original installation ID in the config, or initialize this instance (keyledger init) and join it from an activated member (rskeymgmt -j)',
      };
    case 'PublicKeyMismatch':
      return {
        code: 'rsReportServerDisabled',
        summary: `the public key held (thumbprint ${r.heldThumbprint}) does not match the one stored in the ${r.storedIn} (${r.storedThumbprint}): cloned config, rebuilt machine or replaced keystore`,
        remedy: 'remove the stale installation (rskeymgmt -r) and join this instance again from an activated member (rskeymgmt -j), or restore a backup key (rskeymgmt -a)',
      };
    case 'ServiceIdentityChanged':
      return {
        code: 'rsKeyStateNotValid',
        summary: `the service identity changed from ${r.recordedIdentity} to ${r.presentedIdentity} without updating the keys`,
        remedy: 'run keyledger change-identity to issue a key pair under the new identity, or start under the recorded identity',
      };
    case 'ConfigurationChanged':
      return {
        code: NOT_ACTIVATED,
        summary: `the config's ${r.field} is "${r.presented}" but the ledger recorded "${r.recorded}" for this installation`,
        remedy: `restore ${r.field} in the config, or give this machine its own installation ID and join it (rskeymgmt -j)`,
      };
    case 'NoSymmetricKey':
      return {
        code: NOT_ACTIVATED,
        summary: `deployment ${r.deploymentId} has no symmetric key yet`,
        remedy: 'run keyledger init to finish initialization',
      };
    case 'NoWrappedCopy':
      return {
        code: NOT_ACTIVATED,
        summary: `waiting to join: the deployment holds no copy of symmetric key version ${r.keyVersion} for this instance`,
        remedy: 'join it from an activated member (keyledger join <installationId> / rskeymgmt -j)',
      };
    case 'WrappedCopyForOtherKey':
      return {
        code: 'rsReportServerDisabled',
        summary: `the copy of key version ${r.keyVersion} is wrapped for ${r.copyThumbprint}, but this instance holds ${r.heldThumbprint}`,
        remedy: 'join this instance again from an activated member (rskeymgmt -j), or restore a backup key (rskeymgmt -a)',
      };
    case 'UnwrapFailed':
      return {
        code: 'rsReportServerDisabled',
        summary: `the copy of key version ${r.keyVersion} cannot be unwrapped with the private key ${r.thumbprint}: ${r.detail}`,
        remedy: 'restore a backup key (rskeymgmt -a), or delete all encrypted content (rskeymgmt -d)',
      };
    case 'InstanceRemoved':
      return {
        code: NOT_ACTIVATED,
        summary: `installation ${r.installationId} was removed from the scale-out deployment (its key ${r.revokedThumbprint} and wrapped copy were revoked)`,
        remedy: 'to bring it back, run keyledger init --rejoin on it and join it from an activated member (rskeymgmt -j); or give it a new installation ID',
      };
    case 'StaleWrappedCopy':
      return {
        code: 'rsReportServerDisabled',
        summary: `this instance holds a copy of symmetric key version ${r.heldVersion}, but the deployment's current version is ${r.currentVersion}`,
        remedy: 'join it again from an activated member so it gets the current key (rskeymgmt -j), or restore a backup of the current key (rskeymgmt -a)',
      };
    case 'NoMemberHoldsKey':
      return {
        code: NOT_ACTIVATED,
        summary: `no member of the deployment holds symmetric key version ${r.keyVersion} any more (the last member was removed), so nobody can join this instance`,
        remedy: 'restore a backup of the key (keyledger restore / rskeymgmt -a); the key is never re-created silently',
      };
    case 'KeyCheckMismatch':
      return {
        code: 'rsCannotValidateEncryptedData',
        summary: `the unwrapped key is not symmetric key version ${r.keyVersion} (its key check differs): the report server is unable to access encrypted data`,
        remedy: 'restore the right backup key (rskeymgmt -a), or delete all encrypted content (rskeymgmt -d)',
      };
  }
};

/** `RSReportServerNotActivated: <specific code>: <summary>. Remedy: <remedy>.` (the code once when it is the generic one). */
export const refusalLine = (r: RefusalReason): string => {
  const x = explainRefusal(r);
  return `${NOT_ACTIVATED}: ${x.code === NOT_ACTIVATED ? '' : `${x.code}: `}${x.summary}. Remedy: ${x.remedy}.`;
};
