/**
 * The deployment decider (the SSRS Keys table): registering public keys and
 * creating the first symmetric key version, as given / when / then.
 */
import test from 'ava';
import type { DeploymentEvent, WrappedCopy } from '../../src/domain/events';
import type { InstallationId, KeyVersion } from '../../src/domain/ids';
import { currentCopyOf, type DeploymentCommand, evolveDeployment, lastChangeFor } from '../../src/domain/deployment/decider';
import type { DeploymentState } from '../../src/domain/deployment/decider';
import { spec, stateAfter } from '../support/decider-spec';
import {
  copyFor,
  DEPLOYMENT,
  deploymentDecider as deployment,
  KEY_CHECK,
  keyCreated,
  keyWrapped,
  NODE_1,
  NODE_2,
  publicKey,
  publicKeyStored,
  storePublicKey,
  TP_1,
  TP_2,
  TP_X,
  V1,
  V2,
} from '../support/domain-builders';

/** The membership part of the state (registrations, key, copies, removals); revisions are asserted on their own. */
const membershipOf = ({ registered, currentKey, copies, removed }: DeploymentState) => ({ registered, currentKey, copies, removed });

// ─── Test data ────────────────────────────────────────────────────────────

const node1Stored = publicKeyStored(NODE_1, TP_1);
const node2Stored = publicKeyStored(NODE_2, TP_2);

const createKey = (createdBy: InstallationId, copy: WrappedCopy): DeploymentCommand => ({
  type: 'CreateSymmetricKey',
  deploymentId: DEPLOYMENT,
  keyCheck: KEY_CHECK,
  createdBy,
  copy,
});
/** NODE_1 creates every key version here. */
const created = (keyVersion: KeyVersion = V1): DeploymentEvent => keyCreated(NODE_1, TP_1, keyVersion);

// ─── StorePublicKey ───────────────────────────────────────────────────────

test('StorePublicKey: a new installation is stored with its public key', (t) => {
  spec(t, deployment).given([]).when(storePublicKey(NODE_1, TP_1)).then([node1Stored]);
});

test('StorePublicKey: a second installation is stored beside the first', (t) => {
  spec(t, deployment).given([node1Stored]).when(storePublicKey(NODE_2, TP_2)).then([node2Stored]);
});

test('StorePublicKey: the same installation with the same thumbprint changes nothing', (t) => {
  spec(t, deployment).given([node1Stored]).when(storePublicKey(NODE_1, TP_1)).thenNothingHappened();
});

test('StorePublicKey: the same installation with another thumbprint fails InstallationKeyConflict', (t) => {
  spec(t, deployment)
    .given([node1Stored, created()])
    .when(storePublicKey(NODE_1, TP_X))
    .thenFails({ _tag: 'InstallationKeyConflict', installationId: NODE_1, storedThumbprint: TP_1, presentedThumbprint: TP_X });
});

// ─── CreateSymmetricKey ───────────────────────────────────────────────────

test('CreateSymmetricKey: no key yet, registered creator, copy for its key → version 1 is created', (t) => {
  spec(t, deployment)
    .given([node1Stored])
    .when(createKey(NODE_1, copyFor(NODE_1, TP_1)))
    .then([
      {
        type: 'SymmetricKeyCreated',
        data: { deploymentId: DEPLOYMENT, keyVersion: V1, algorithm: 'A256GCM', keyCheck: KEY_CHECK, createdBy: NODE_1, copy: copyFor(NODE_1, TP_1) },
      },
    ]);
});

test('CreateSymmetricKey: when a key exists it fails SymmetricKeyExists', (t) => {
  spec(t, deployment)
    .given([node1Stored, node2Stored, created()])
    .when(createKey(NODE_2, copyFor(NODE_2, TP_2)))
    .thenFails({ _tag: 'SymmetricKeyExists', keyVersion: V1 });
});

test('CreateSymmetricKey: the creator repeating itself also gets SymmetricKeyExists (a new key would orphan the old one)', (t) => {
  spec(t, deployment)
    .given([node1Stored, created()])
    .when(createKey(NODE_1, copyFor(NODE_1, TP_1)))
    .thenFails({ _tag: 'SymmetricKeyExists', keyVersion: V1 });
});

test('CreateSymmetricKey: a creator that is not registered fails InstallationNotRegistered', (t) => {
  spec(t, deployment)
    .given([])
    .when(createKey(NODE_1, copyFor(NODE_1, TP_1)))
    .thenFails({ _tag: 'UnknownInstallation', installationId: NODE_1 });
  spec(t, deployment)
    .given([node2Stored])
    .when(createKey(NODE_1, copyFor(NODE_1, TP_1)))
    .thenFails({ _tag: 'UnknownInstallation', installationId: NODE_1 });
});

test('CreateSymmetricKey: a copy wrapped for another thumbprint fails CopyNotForRegisteredKey', (t) => {
  spec(t, deployment)
    .given([node1Stored])
    .when(createKey(NODE_1, copyFor(NODE_1, TP_X)))
    .thenFails({ _tag: 'CopyNotForRegisteredKey', installationId: NODE_1, storedThumbprint: TP_1, copyThumbprint: TP_X });
});

test('CreateSymmetricKey: a copy addressed to another installation fails CopyNotForRegisteredKey', (t) => {
  spec(t, deployment)
    .given([node1Stored, node2Stored])
    .when(createKey(NODE_1, copyFor(NODE_2, TP_2)))
    .thenFails({ _tag: 'CopyNotForRegisteredKey', installationId: NODE_1, storedThumbprint: TP_1, copyThumbprint: TP_2 });
});

test('CreateSymmetricKey: a copy for the creator thumbprint but another installation ID fails CopyNotForRegisteredKey', (t) => {
  spec(t, deployment)
    .given([node1Stored])
    .when(createKey(NODE_1, copyFor(NODE_2, TP_1)))
    .thenFails({ _tag: 'CopyNotForRegisteredKey', installationId: NODE_1, storedThumbprint: TP_1, copyThumbprint: TP_1 });
});

// ─── evolve and currentCopyOf ─────────────────────────────────────────────

test('evolve: PublicKeyStored registers the installation', (t) => {
  t.deepEqual(membershipOf(stateAfter(deployment, [node1Stored])), {
    registered: { [NODE_1]: { installationId: NODE_1, machineName: 'RS-NODE-1', instanceName: 'MSSQLSERVER', thumbprint: TP_1, publicKey: publicKey(TP_1) } },
    currentKey: undefined,
    copies: {},
    removed: {},
  });
});

test('evolve: SymmetricKeyCreated sets the current key and the creator copy', (t) => {
  const s = stateAfter(deployment, [node1Stored, created()]);
  t.deepEqual(s.currentKey, { keyVersion: V1, keyCheck: KEY_CHECK });
  t.deepEqual(s.copies, { [NODE_1]: { keyVersion: V1, copy: copyFor(NODE_1, TP_1) } });
});

test('evolve: SymmetricKeyWrapped adds the recipient copy, replacing an older one', (t) => {
  const s = stateAfter(deployment, [node1Stored, node2Stored, created(), keyWrapped(NODE_2, TP_2, V1, { salt: ' (older)' }), keyWrapped(NODE_2, TP_2)]);
  t.deepEqual(s.copies, { [NODE_1]: { keyVersion: V1, copy: copyFor(NODE_1, TP_1) }, [NODE_2]: { keyVersion: V1, copy: copyFor(NODE_2, TP_2) } });
  t.deepEqual(s.currentKey, { keyVersion: V1, keyCheck: KEY_CHECK });
});

test('currentCopyOf: the copy of the current key version, if the installation holds one', (t) => {
  const s = stateAfter(deployment, [node1Stored, node2Stored, created(), keyWrapped(NODE_2, TP_2)]);
  t.deepEqual(currentCopyOf(s, NODE_1), { keyVersion: V1, copy: copyFor(NODE_1, TP_1) });
  t.deepEqual(currentCopyOf(s, NODE_2), { keyVersion: V1, copy: copyFor(NODE_2, TP_2) });
});

test('currentCopyOf: none without a copy, and none without a current key', (t) => {
  t.is(currentCopyOf(stateAfter(deployment, [node1Stored, node2Stored, created()]), NODE_2), undefined);
  t.is(currentCopyOf(stateAfter(deployment, [node1Stored]), NODE_1), undefined);
  // a copy recorded before any key was created (out-of-order history) is not current
  t.is(currentCopyOf(stateAfter(deployment, [node1Stored, keyWrapped(NODE_1, TP_1)]), NODE_1), undefined);
});

test('currentCopyOf: a copy of an older key version is not current', (t) => {
  const s = stateAfter(deployment, [node1Stored, node2Stored, keyWrapped(NODE_2, TP_2), created(V2)]);
  t.is(currentCopyOf(s, NODE_2), undefined);
  t.deepEqual(currentCopyOf(s, NODE_1), { keyVersion: V2, copy: copyFor(NODE_1, TP_1) });
});

test('evolve never mutates the state it is given', (t) => {
  const before = stateAfter(deployment, [node1Stored]);
  const copy = structuredClone(before);
  const after = evolveDeployment(before, created());
  t.deepEqual(before, copy);
  t.not(after, before);
  t.is(before.currentKey, undefined);
});

test('evolve: every event is one revision; changedAt names the last event bearing on each installation, keyCreatedAt the key', (t) => {
  const s = stateAfter(deployment, [node1Stored, created()]);
  t.is(s.revision, 1);
  t.deepEqual(s.changedAt, { [NODE_1]: 1 });
  t.is(s.keyCreatedAt, 1);
  t.is(lastChangeFor(s, NODE_1), 1);
  t.is(lastChangeFor(s, 'someone-else'), 1, 'a new key version bears on everyone');
  t.is(lastChangeFor(stateAfter(deployment, [node1Stored]), 'someone-else'), -1);
});
