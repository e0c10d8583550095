/**
 * The deployment decider (the SSRS Keys table): registering public keys and
 * creating the first symmetric key version, as given / when / then.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import type { Base64Url, CompactJwe, DeploymentEvent, PublicJwk, WrappedCopy } from '../../src/domain/events';
import type { DeploymentId, InstallationId, KeyVersion, NonEmptyString, Thumbprint } from '../../src/domain/ids';
import {
  currentCopyOf,
  decideDeployment,
  type DeploymentCommand,
  type DeploymentError,
  type DeploymentState,
  evolveDeployment,
  initialDeploymentState,
} from '../../src/domain/deployment/decider';
import { type Decider, spec, stateAfter } from '../support/decider-spec';

const deployment: Decider<DeploymentCommand, DeploymentEvent, DeploymentState, DeploymentError> = {
  decide: decideDeployment,
  evolve: evolveDeployment,
  initialState: initialDeploymentState,
};

// ─── Test data ────────────────────────────────────────────────────────────

const DEPLOYMENT = 'default' as DeploymentId;
const NODE_1 = '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b' as InstallationId;
const NODE_2 = '0a6e1f3c-2b7d-4e9a-8c5f-1d3b6a9e2f4c' as InstallationId;
const thumbprintOf = (label: string): Thumbprint => createHash('sha256').update(label).digest('base64url') as Thumbprint;
const TP_1 = thumbprintOf('node 1 key');
const TP_2 = thumbprintOf('node 2 key');
const TP_X = thumbprintOf('some other key');
const publicKey = (label: string): PublicJwk =>
  ({ kty: 'RSA', n: createHash('sha512').update(label).digest('base64url'), e: 'AQAB', alg: 'RSA-OAEP-256', use: 'enc', kid: thumbprintOf(label) }) as unknown as PublicJwk;
const V1 = 1 as KeyVersion;
const V2 = 2 as KeyVersion;
const KEY_CHECK = createHash('sha256').update('key check v1').digest('base64url') as Base64Url;

const b64u = (s: string): string => Buffer.from(s).toString('base64url');
/** A syntactically valid compact JWE with the header a wrapped key carries. */
const jweFor = (tp: Thumbprint, salt = ''): CompactJwe =>
  [b64u(JSON.stringify({ alg: 'RSA-OAEP-256', kid: tp, enc: 'A256GCM' })), b64u(`encrypted key${salt}`), b64u('iv-12-bytes!'), b64u('ciphertext'), b64u('tag-16-bytes!!!!')].join('.') as CompactJwe;
const copyFor = (installationId: InstallationId, recipientThumbprint: Thumbprint): WrappedCopy => ({ installationId, recipientThumbprint, jwe: jweFor(recipientThumbprint) });

const storePublicKey = (installationId: InstallationId, thumbprint: Thumbprint, label: string): DeploymentCommand => ({
  type: 'StorePublicKey',
  deploymentId: DEPLOYMENT,
  installationId,
  machineName: 'RS-NODE-1' as NonEmptyString,
  instanceName: 'MSSQLSERVER' as NonEmptyString,
  thumbprint,
  publicKey: publicKey(label),
});
const stored = (installationId: InstallationId, thumbprint: Thumbprint, label: string): DeploymentEvent => ({
  type: 'PublicKeyStored',
  data: { deploymentId: DEPLOYMENT, installationId, machineName: 'RS-NODE-1' as NonEmptyString, instanceName: 'MSSQLSERVER' as NonEmptyString, thumbprint, publicKey: publicKey(label) },
});
const node1Stored = stored(NODE_1, TP_1, 'node 1 key');
const node2Stored = stored(NODE_2, TP_2, 'node 2 key');

const createKey = (createdBy: InstallationId, copy: WrappedCopy): DeploymentCommand => ({ type: 'CreateSymmetricKey', deploymentId: DEPLOYMENT, keyCheck: KEY_CHECK, createdBy, copy });
const created = (keyVersion: KeyVersion = V1): DeploymentEvent => ({
  type: 'SymmetricKeyCreated',
  data: { deploymentId: DEPLOYMENT, keyVersion, algorithm: 'A256GCM', keyCheck: KEY_CHECK, createdBy: NODE_1, copy: copyFor(NODE_1, TP_1) },
});
const wrapped = (keyVersion: KeyVersion, copy: WrappedCopy): DeploymentEvent => ({
  type: 'SymmetricKeyWrapped',
  data: { deploymentId: DEPLOYMENT, keyVersion, copy, wrappedBy: NODE_1, wrappedByThumbprint: TP_1 },
});

// ─── StorePublicKey ───────────────────────────────────────────────────────

test('StorePublicKey: a new installation is stored with its public key', (t) => {
  spec(t, deployment).given([]).when(storePublicKey(NODE_1, TP_1, 'node 1 key')).then([node1Stored]);
});

test('StorePublicKey: a second installation is stored beside the first', (t) => {
  spec(t, deployment).given([node1Stored]).when(storePublicKey(NODE_2, TP_2, 'node 2 key')).then([node2Stored]);
});

test('StorePublicKey: the same installation with the same thumbprint changes nothing', (t) => {
  spec(t, deployment).given([node1Stored]).when(storePublicKey(NODE_1, TP_1, 'node 1 key')).thenNothingHappened();
});

test('StorePublicKey: the same installation with another thumbprint fails InstallationKeyConflict', (t) => {
  spec(t, deployment)
    .given([node1Stored, created()])
    .when(storePublicKey(NODE_1, TP_X, 'some other key'))
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
  spec(t, deployment).given([node1Stored, node2Stored, created()]).when(createKey(NODE_2, copyFor(NODE_2, TP_2))).thenFails({ _tag: 'SymmetricKeyExists', keyVersion: V1 });
});

test('CreateSymmetricKey: the creator repeating itself also gets SymmetricKeyExists (a new key would orphan the old one)', (t) => {
  spec(t, deployment).given([node1Stored, created()]).when(createKey(NODE_1, copyFor(NODE_1, TP_1))).thenFails({ _tag: 'SymmetricKeyExists', keyVersion: V1 });
});

test('CreateSymmetricKey: a creator that is not registered fails InstallationNotRegistered', (t) => {
  spec(t, deployment).given([]).when(createKey(NODE_1, copyFor(NODE_1, TP_1))).thenFails({ _tag: 'InstallationNotRegistered', installationId: NODE_1 });
  spec(t, deployment).given([node2Stored]).when(createKey(NODE_1, copyFor(NODE_1, TP_1))).thenFails({ _tag: 'InstallationNotRegistered', installationId: NODE_1 });
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
  t.deepEqual(stateAfter(deployment, [node1Stored]), {
    registered: { [NODE_1]: { installationId: NODE_1, machineName: 'RS-NODE-1', instanceName: 'MSSQLSERVER', thumbprint: TP_1, publicKey: publicKey('node 1 key') } },
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
  const older = { ...copyFor(NODE_2, TP_2), jwe: jweFor(TP_2, ' (older)') };
  const s = stateAfter(deployment, [node1Stored, node2Stored, created(), wrapped(V1, older), wrapped(V1, copyFor(NODE_2, TP_2))]);
  t.deepEqual(s.copies, { [NODE_1]: { keyVersion: V1, copy: copyFor(NODE_1, TP_1) }, [NODE_2]: { keyVersion: V1, copy: copyFor(NODE_2, TP_2) } });
  t.deepEqual(s.currentKey, { keyVersion: V1, keyCheck: KEY_CHECK });
});

test('currentCopyOf: the copy of the current key version, if the installation holds one', (t) => {
  const s = stateAfter(deployment, [node1Stored, node2Stored, created(), wrapped(V1, copyFor(NODE_2, TP_2))]);
  t.deepEqual(currentCopyOf(s, NODE_1), { keyVersion: V1, copy: copyFor(NODE_1, TP_1) });
  t.deepEqual(currentCopyOf(s, NODE_2), { keyVersion: V1, copy: copyFor(NODE_2, TP_2) });
});

test('currentCopyOf: none without a copy, and none without a current key', (t) => {
  t.is(currentCopyOf(stateAfter(deployment, [node1Stored, node2Stored, created()]), NODE_2), undefined);
  t.is(currentCopyOf(stateAfter(deployment, [node1Stored]), NODE_1), undefined);
  // a copy recorded before any key was created (out-of-order history) is not current
  t.is(currentCopyOf(stateAfter(deployment, [node1Stored, wrapped(V1, copyFor(NODE_1, TP_1))]), NODE_1), undefined);
});

test('currentCopyOf: a copy of an older key version is not current', (t) => {
  const s = stateAfter(deployment, [node1Stored, node2Stored, wrapped(V1, copyFor(NODE_2, TP_2)), created(V2)]);
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
