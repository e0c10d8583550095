/**
 * The deployment decider's backup and restore (docs/adr/0012), as given / when / then: a backup is recorded
 * only for the current version by a holder; a restore only for the current version and its key check, for the
 * restorer's registered key — its wrap and record in one decision, after a genesis declaration when asked.
 */
import test from 'ava';
import type { DeploymentCommand } from '../../src/domain/deployment/decider';
import type { Base64Url, Fingerprint, Iterations } from '../../src/domain/events';
import type { KeyVersion, Thumbprint } from '../../src/domain/ids';
import { spec } from '../support/decider-spec';
import {
  copyFor,
  DEPLOYMENT,
  deploymentDecider as deployment,
  KEY_CHECK,
  keyCreated,
  NODE_1,
  NODE_2,
  publicKeyStored,
  removed,
  TP_1,
  TP_2,
  TP_X,
  V1,
  V2,
} from '../support/domain-builders';

const FP = 'f'.repeat(43) as Fingerprint;
const SIGNING_2 = TP_X;
const given = [publicKeyStored(NODE_1, TP_1), keyCreated(NODE_1, TP_1)];

const recordBackup = (keyVersion: KeyVersion = V1): DeploymentCommand => ({
  type: 'RecordBackup',
  deploymentId: DEPLOYMENT,
  installationId: NODE_1,
  keyVersion,
  fingerprint: FP,
  iterations: 600_000 as Iterations,
  genesisThumbprint: null,
});

const restoreKey = (over: Partial<Extract<DeploymentCommand, { type: 'RestoreKey' }>> = {}): DeploymentCommand => ({
  type: 'RestoreKey',
  deploymentId: DEPLOYMENT,
  installationId: NODE_2,
  keyVersion: V1,
  keyCheck: KEY_CHECK,
  fingerprint: FP,
  copy: copyFor(NODE_2, TP_2),
  signingThumbprint: SIGNING_2,
  declareGenesis: null,
  ...over,
});

test('RecordBackup: a holder of the current key records KeyBackedUp (never the key)', (t) => {
  spec(t, deployment)
    .given(given)
    .when(recordBackup())
    .then([
      {
        type: 'KeyBackedUp',
        data: { deploymentId: DEPLOYMENT, backedUpBy: NODE_1, keyVersion: V1, fingerprint: FP, iterations: 600_000 as Iterations, genesisThumbprint: null },
      },
    ]);
});

test('RecordBackup: another version than the current one is refused', (t) => {
  spec(t, deployment).given(given).when(recordBackup(V2)).thenFails({ _tag: 'BackupKeyVersion', backup: V2, current: V1 });
});

test('RecordBackup: an installation without a current copy cannot have backed it up', (t) => {
  spec(t, deployment)
    .given([...given, publicKeyStored(NODE_2, TP_2)])
    .when({ ...recordBackup(), installationId: NODE_2 } as DeploymentCommand)
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_2, keyVersion: null });
});

const restoredEvents = (genesis: boolean) => [
  ...(genesis
    ? [
        {
          type: 'GenesisDeclared' as const,
          data: { deploymentId: DEPLOYMENT, installationId: NODE_2, signingThumbprint: SIGNING_2, previousGenesis: TP_1, keyVersion: V1, keyCheck: KEY_CHECK },
        },
      ]
    : []),
  {
    type: 'SymmetricKeyWrapped' as const,
    data: {
      deploymentId: DEPLOYMENT,
      keyVersion: V1,
      copy: copyFor(NODE_2, TP_2),
      wrappedBy: NODE_2,
      wrappedByThumbprint: TP_2,
      recipientSigningThumbprint: SIGNING_2,
    },
  },
  {
    type: 'KeyRestored' as const,
    data: { deploymentId: DEPLOYMENT, restoredBy: NODE_2, keyVersion: V1, fingerprint: FP, thumbprint: TP_2, genesisDeclared: genesis },
  },
];

test('RestoreKey: the last member removed, a registered newcomer restores: a genesis, its own copy and KeyRestored, in that order', (t) => {
  spec(t, deployment)
    .given([...given, removed(NODE_1, TP_1, V1, { forced: true, lastMember: true }), publicKeyStored(NODE_2, TP_2)])
    .when(restoreKey({ declareGenesis: { previousGenesis: TP_1 as Thumbprint } }))
    .then(restoredEvents(true));
});

test('RestoreKey: a member restoring its own copy: the copy and KeyRestored, no genesis', (t) => {
  spec(t, deployment)
    .given([...given, publicKeyStored(NODE_2, TP_2)])
    .when(restoreKey())
    .then(restoredEvents(false));
});

test("RestoreKey: a key whose key check is not the deployment's is refused", (t) => {
  spec(t, deployment)
    .given([...given, publicKeyStored(NODE_2, TP_2)])
    .when(restoreKey({ keyCheck: 'another-key-check' as Base64Url }))
    .thenFails({ _tag: 'BackupKeyMismatch', keyVersion: V1 });
});

test('RestoreKey: an older key version is refused', (t) => {
  spec(t, deployment)
    .given([...given, keyCreated(NODE_1, TP_1, V2), publicKeyStored(NODE_2, TP_2)])
    .when(restoreKey())
    .thenFails({ _tag: 'BackupKeyVersion', backup: V1, current: V2 });
});

test('RestoreKey: a copy for another key than the registered one, or for a removed installation, is refused', (t) => {
  spec(t, deployment)
    .given([...given, publicKeyStored(NODE_2, TP_2)])
    .when(restoreKey({ copy: copyFor(NODE_2, TP_X) }))
    .thenFails({ _tag: 'CopyNotForRegisteredKey', installationId: NODE_2, storedThumbprint: TP_2, copyThumbprint: TP_X });
  spec(t, deployment)
    .given([...given, publicKeyStored(NODE_2, TP_2), removed(NODE_2, TP_2, null)])
    .when(restoreKey())
    .thenFails({ _tag: 'InstallationRemoved', installationId: NODE_2 });
});

test('RestoreKey: no key in the deployment at all is refused', (t) => {
  spec(t, deployment)
    .given([publicKeyStored(NODE_2, TP_2)])
    .when(restoreKey())
    .thenFails({ _tag: 'NoKeyToWrap' });
});
