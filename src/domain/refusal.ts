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
    case 'DeploymentNotSigned':
      return {
        code: NOT_ACTIVATED,
        summary:
          `deployment ${r.deploymentId}'s key was created before keyledger signed key events, ` +
          'and no root of trust (genesis) was declared since, so no copy in it can be verified',
      };
    case 'GenesisNotPinned':
      return {
        code: 'rsReportServerDisabled',
        summary:
          r.ledgerGenesis === null
            ? `the ledger shows no valid root of trust for the deployment, but this instance pinned genesis ${r.pinnedGenesis}: its key events were altered`
            : `the deployment's root of trust in the ledger (genesis ${r.ledgerGenesis}) is not the one this instance pinned (${r.pinnedGenesis}): ` +
              'a re-genesis its operator has not confirmed here, or a forged one',
      };
    case 'UntrustedKeyEvent':
      return {
        code: 'rsReportServerDisabled',
        summary: `${UNTRUSTED[r.problem]} (key version ${r.keyVersion}${r.revision === null ? '' : `, deployment event ${r.revision}`})`,
      };
    case 'ContentDeleted':
      return {
        code: NOT_ACTIVATED,
        summary:
          `the deployment's symmetric key (version ${r.keyVersions.join(', ')}) and all its encrypted content were deleted ` +
          `(delete-content, rskeymgmt -d, by installation ${r.deletedBy}): the copy this instance held protects nothing, ` +
          'and the deployment has no key until it is initialized afresh',
      };
    case 'KeyCheckMismatch':
      return {
        code: 'rsCannotValidateEncryptedData',
        summary: `the unwrapped key is not symmetric key version ${r.keyVersion} (its key check differs): the report server is unable to access encrypted data`,
      };
  }
};

const UNTRUSTED: Record<Extract<RefusalReason, { _tag: 'UntrustedKeyEvent' }>['problem'], string> = {
  'copy-not-certified': "this instance's copy is not wrapped and signed by a member certified back to the deployment's genesis",
  'copy-certifies-another-signing-key': "this instance's copy certifies another signing key than the one it holds",
  'key-check-not-signed-by-a-member': 'the key check of the key version is not signed by a certified member: the key may have been planted in the ledger',
  'no-signing-key': 'this instance has no signing key yet (its keystore predates signed key events)',
  'deletion-not-signed-by-a-member':
    "the ledger says the deployment's key and encrypted content were deleted, but no member entitled to delete them signed that: " +
    'the ledger may have been altered',
};

/**
 * The initialization step a refusal is about: what the start check found missing or wrong (1 the config, 2 the key
 * pair the keystore holds, 3 the registration in the deployment, 4 the wrapped copy or the key it holds). The
 * refusal itself is always step 5's outcome; this says which earlier step it sends the operator back to.
 */
export const stepOfRefusal = (r: RefusalReason): 1 | 2 | 3 | 4 => {
  switch (r._tag) {
    case 'ConfigurationChanged':
      return 1;
    case 'KeystoreUnavailable':
    case 'KeystoreBelongsToOtherInstallation':
    case 'ServiceIdentityChanged':
      return 2;
    case 'PublicKeyMismatch':
      return r.storedIn === 'instance' ? 2 : 3;
    case 'InstallationNotRegistered':
    case 'InstanceRemoved':
      return 3;
    case 'NoSymmetricKey':
    case 'NoWrappedCopy':
    case 'WrappedCopyForOtherKey':
    case 'UnwrapFailed':
    case 'KeyCheckMismatch':
    case 'StaleWrappedCopy':
    case 'NoMemberHoldsKey':
    case 'KeyNotThePinnedKey':
    case 'DeploymentNotSigned':
    case 'GenesisNotPinned':
    case 'UntrustedKeyEvent':
    case 'ContentDeleted':
      return 4;
  }
};

/** `RSReportServerNotActivated: <specific code>: <summary>. Remedy: <remedy>.` (the code once when it is the generic one). */
export const refusalLine = (r: RefusalReason, remedy: Remedy): string => {
  const x = explainRefusal(r);
  return `${NOT_ACTIVATED}: ${x.code === NOT_ACTIVATED ? '' : `${x.code}: `}${x.summary}. Remedy: ${remedyText(remedy)}.`;
};
