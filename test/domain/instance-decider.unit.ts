/**
 * The instance decider: given the instance's events, when a command, then
 * these events / this error / nothing. Plus what `evolve` makes of each event.
 */
import test from 'ava';
import type { InstanceEvent, OutcomeBasis, RefusalReason } from '../../src/domain/events';
import type { NonEmptyString, Thumbprint } from '../../src/domain/ids';
import { evolveInstance, type InstanceCommand, type InstanceConfig, type IssuedKeyPair } from '../../src/domain/instance/decider';
import { spec, stateAfter } from '../support/decider-spec';
import {
  aBasis,
  anInstance,
  DEPLOYMENT,
  NODE_1 as ID,
  instanceDecider as instance,
  publicKey,
  TP_1 as TP_A,
  TP_1B as TP_B,
  V1,
  V2,
} from '../support/domain-builders';

// ─── Test data ────────────────────────────────────────────────────────────

const { config, keyPair, configRead, keyPairIssued, activated, refused, activate } = anInstance(ID, TP_A);
const noCopy: RefusalReason = { _tag: 'NoWrappedCopy', keyVersion: V1 };

const recordConfig = (c: InstanceConfig): InstanceCommand => ({ type: 'RecordConfig', config: c });
const recordKeyPair = (thumbprint: Thumbprint): InstanceCommand => ({
  type: 'RecordKeyPair',
  installationId: ID,
  publicKey: publicKey(thumbprint),
  thumbprint,
  keySize: 2048,
});
const BASIS = aBasis(ID, TP_A, 3);
const refuse = (reason: RefusalReason, basis = BASIS, changedAt = 3): InstanceCommand => ({
  type: 'RefuseActivation',
  installationId: ID,
  deploymentId: DEPLOYMENT,
  reason,
  basis,
  changedAt,
});

// ─── RecordConfig ─────────────────────────────────────────────────────────

test('RecordConfig: the first time, the config is read', (t) => {
  spec(t, instance)
    .given([])
    .when(recordConfig(config))
    .then([{ type: 'ConfigRead', data: config }]);
});

test('RecordConfig: the same config again changes nothing', (t) => {
  spec(t, instance)
    .given([configRead])
    .when(recordConfig({ ...config }))
    .thenNothingHappened();
});

test('RecordConfig: the same config after activation changes nothing', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activated(V1)])
    .when(recordConfig(config))
    .thenNothingHappened();
});

const changes: ReadonlyArray<[keyof InstanceConfig, string]> = [
  ['installationId', '0a6e1f3c-2b7d-4e9a-8c5f-1d3b6a9e2f4c'],
  ['deploymentId', 'finance'],
  ['machineName', 'RS-NODE-2'],
  ['instanceName', 'SSRS'],
  ['serviceIdentity', 'CONTOSO\\svc-reports'],
];
for (const [field, presented] of changes) {
  test(`RecordConfig: a changed ${field} is a ConfigConflict naming it`, (t) => {
    spec(t, instance)
      .given([configRead])
      .when(recordConfig({ ...config, [field]: presented }))
      .thenFails({ _tag: 'ConfigConflict', field, recorded: String(config[field]), presented });
  });
}

test('RecordConfig: with several changes, the conflict names the first field in order', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued])
    .when(recordConfig({ ...config, machineName: 'RS-NODE-9' as NonEmptyString, serviceIdentity: 'other' as NonEmptyString }))
    .thenFails({ _tag: 'ConfigConflict', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-NODE-9' });
});

test('RecordConfig: after a refusal of an unconfigured instance, the config is read', (t) => {
  spec(t, instance)
    .given([refused({ _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT })])
    .when(recordConfig(config))
    .then([configRead]);
});

// ─── RecordKeyPair ────────────────────────────────────────────────────────

test('RecordKeyPair: before the config is read it fails NotConfigured', (t) => {
  spec(t, instance).given([]).when(recordKeyPair(TP_A)).thenFails({ _tag: 'NotConfigured', step: 'key pair issued' });
});

test('RecordKeyPair: the first key pair is issued under the config service identity', (t) => {
  spec(t, instance)
    .given([configRead])
    .when(recordKeyPair(TP_A))
    .then([
      {
        type: 'KeyPairIssued',
        data: {
          installationId: ID,
          publicKey: publicKey(TP_A),
          thumbprint: TP_A,
          algorithm: 'RSA-OAEP-256',
          keySize: 2048,
          serviceIdentity: 'NT SERVICE\\ReportServer' as NonEmptyString,
        },
      },
    ]);
});

test('RecordKeyPair: the service identity comes from the recorded config, not from anywhere else', (t) => {
  const other = { ...config, serviceIdentity: 'CONTOSO\\svc-reports' as NonEmptyString };
  spec(t, instance)
    .given([{ type: 'ConfigRead', data: other }])
    .when({ type: 'RecordKeyPair', installationId: ID, publicKey: publicKey(TP_B), thumbprint: TP_B, keySize: 3072 })
    .then([
      {
        type: 'KeyPairIssued',
        data: {
          installationId: ID,
          publicKey: publicKey(TP_B),
          thumbprint: TP_B,
          algorithm: 'RSA-OAEP-256',
          keySize: 3072,
          serviceIdentity: other.serviceIdentity,
        },
      },
    ]);
});

test('RecordKeyPair: the same thumbprint again changes nothing', (t) => {
  spec(t, instance).given([configRead, keyPairIssued]).when(recordKeyPair(TP_A)).thenNothingHappened();
});

test('RecordKeyPair: a different thumbprint fails KeyPairAlreadyIssued', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued])
    .when(recordKeyPair(TP_B))
    .thenFails({ _tag: 'KeyPairAlreadyIssued', recordedThumbprint: TP_A, presentedThumbprint: TP_B });
});

test('RecordKeyPair: a different thumbprint after activation fails KeyPairAlreadyIssued', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activated(V1)])
    .when(recordKeyPair(TP_B))
    .thenFails({ _tag: 'KeyPairAlreadyIssued', recordedThumbprint: TP_A, presentedThumbprint: TP_B });
});

// ─── Activate ─────────────────────────────────────────────────────────────

test('Activate: with no key pair it fails NoKeyPair', (t) => {
  spec(t, instance).given([]).when(activate(TP_A)).thenFails({ _tag: 'NoKeyPair' });
  spec(t, instance).given([configRead]).when(activate(TP_A)).thenFails({ _tag: 'NoKeyPair' });
});

test('Activate: with another thumbprint than the issued one it fails ThumbprintMismatch', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued])
    .when(activate(TP_B))
    .thenFails({ _tag: 'ThumbprintMismatch', recordedThumbprint: TP_A, presentedThumbprint: TP_B });
});

const BASIS_2 = aBasis(ID, TP_A, 2);
const activatedOn = (basis: OutcomeBasis, keyVersion = V1): InstanceEvent => ({
  type: 'InstanceActivated',
  data: { installationId: ID, deploymentId: DEPLOYMENT, keyVersion, thumbprint: TP_A, basis },
});
const refusedOn = (reason: RefusalReason, basis: OutcomeBasis): InstanceEvent => ({
  type: 'InstanceActivationRefused',
  data: { installationId: ID, deploymentId: DEPLOYMENT, reason, basis },
});
const activateOn = (basis: OutcomeBasis, changedAt: number, keyVersion = V1): InstanceCommand => ({
  type: 'Activate',
  installationId: ID,
  deploymentId: DEPLOYMENT,
  keyVersion,
  thumbprint: TP_A,
  basis,
  changedAt,
});

test('Activate: the first time, the instance is activated, with the basis it was decided on', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued])
    .when(activate(TP_A))
    .then([activatedOn(BASIS_2)]);
});

test('Activate: already activated with the same key version, presenter and a deployment unchanged since: nothing happened', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activatedOn(BASIS_2)])
    .when(activateOn(aBasis(ID, TP_A, 5), 2))
    .thenNothingHappened();
});

test('Activate: recorded again when the deployment changed this installation after the last activation was decided (it was stale)', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activatedOn(BASIS_2)])
    .when(activateOn(aBasis(ID, TP_A, 5), 4))
    .then([activatedOn(aBasis(ID, TP_A, 5))]);
});

test('Activate: recorded again from another presenter (another host), and over a legacy activation without a basis', (t) => {
  const elsewhere = aBasis(ID, TP_A, 2, { host: 'another-host' });
  spec(t, instance)
    .given([configRead, keyPairIssued, activatedOn(BASIS_2)])
    .when(activateOn(elsewhere, 2))
    .then([activatedOn(elsewhere)]);
  spec(t, instance)
    .given([configRead, keyPairIssued, activated(V1)])
    .when(activate(TP_A, V1))
    .then([activatedOn(BASIS_2)]);
});

test('Activate: activated with an older key version records the new one', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activatedOn(BASIS_2)])
    .when(activate(TP_A, V2))
    .then([activatedOn(BASIS_2, V2)]);
});

test('Activate: after a refusal, the instance is activated again', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activatedOn(BASIS_2), refusedOn(noCopy, BASIS_2)])
    .when(activate(TP_A, V1))
    .then([activatedOn(BASIS_2)]);
});

// ─── RefuseActivation ─────────────────────────────────────────────────────

const reasons: ReadonlyArray<[string, ReadonlyArray<InstanceEvent>]> = [
  ['NotInitialized', []],
  ['Configured', [configRead]],
  ['KeyPairIssued', [configRead, keyPairIssued]],
  ['Activated', [configRead, keyPairIssued, activated(V1)]],
  ['Disabled', [configRead, keyPairIssued, refused(noCopy)]],
];
for (const [status, given] of reasons) {
  test(`RefuseActivation: from ${status}, a new reason is recorded with its basis`, (t) => {
    const reason: RefusalReason = { _tag: 'PublicKeyMismatch', heldThumbprint: TP_B, storedThumbprint: TP_A, storedIn: 'deployment' };
    t.is(stateAfter(instance, given).status as string, status);
    spec(t, instance)
      .given(given)
      .when(refuse(reason))
      .then([refusedOn(reason, BASIS)]);
  });
}

test('RefuseActivation: the same refusal again, same presenter, deployment unchanged since: nothing happened (re-run init, repeated start)', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, refusedOn(noCopy, BASIS)])
    .when(refuse(noCopy, aBasis(ID, TP_A, 7), 3))
    .thenNothingHappened();
});

test('RefuseActivation: the same reason is recorded again when the deployment changed the installation since, or another presenter presents it', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, refusedOn(noCopy, BASIS)])
    .when(refuse(noCopy, aBasis(ID, TP_A, 7), 6))
    .then([refusedOn(noCopy, aBasis(ID, TP_A, 7))]);
  const clone = aBasis(ID, TP_A, 3, { machineName: 'RS-CLONE' as NonEmptyString });
  spec(t, instance)
    .given([configRead, keyPairIssued, refusedOn(noCopy, BASIS)])
    .when(refuse(noCopy, clone, 3))
    .then([refusedOn(noCopy, clone)]);
});

test('RefuseActivation: a legacy refusal (no basis) is never taken as saying the same', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, refused(noCopy)])
    .when(refuse(noCopy))
    .then([refusedOn(noCopy, BASIS)]);
});

// ─── evolve ───────────────────────────────────────────────────────────────

test('evolve: nothing happened → NotInitialized', (t) => {
  t.deepEqual(stateAfter(instance, []), { status: 'NotInitialized' });
});

test('evolve: ConfigRead → Configured with the config', (t) => {
  t.deepEqual(stateAfter(instance, [configRead]), { status: 'Configured', config });
});

test('evolve: KeyPairIssued → KeyPairIssued with config and key pair', (t) => {
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued]), { status: 'KeyPairIssued', config, keyPair });
});

test('evolve: KeyPairIssued before any config is ignored', (t) => {
  t.deepEqual(stateAfter(instance, [keyPairIssued]), { status: 'NotInitialized' });
});

test('evolve: InstanceActivated → Activated with the key version', (t) => {
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, activated(V1)]), { status: 'Activated', config, keyPair, keyVersion: V1, basis: null });
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, activated(V1), activated(V2)]), {
    status: 'Activated',
    config,
    keyPair,
    keyVersion: V2,
    basis: null,
  });
});

test('evolve: InstanceActivated without a key pair is ignored', (t) => {
  t.deepEqual(stateAfter(instance, [configRead, activated(V1)]), { status: 'Configured', config });
});

test('evolve: InstanceActivationRefused → Disabled, keeping config and key pair', (t) => {
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, activated(V1), refused(noCopy)]), {
    status: 'Disabled',
    config,
    keyPair,
    reason: noCopy,
    basis: null,
  });
});

test('evolve: InstanceActivationRefused from NotInitialized → Disabled with neither config nor key pair', (t) => {
  const reason: RefusalReason = { _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT };
  t.deepEqual(stateAfter(instance, [refused(reason)]), { status: 'Disabled', config: undefined, keyPair: undefined, reason, basis: null });
});

test('evolve: Disabled then InstanceActivated → Activated again', (t) => {
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, refused(noCopy), activated(V1)]), {
    status: 'Activated',
    config,
    keyPair,
    keyVersion: V1,
    basis: null,
  });
});

test('evolve: a second ConfigRead after the key pair keeps the status and replaces the config', (t) => {
  const moved = { ...config, keystorePath: '/srv/keyledger/instance.keystore.json' };
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, { type: 'ConfigRead', data: moved }]), { status: 'KeyPairIssued', config: moved, keyPair });
});

test('evolve: a new KeyPairIssued after activation goes back to KeyPairIssued', (t) => {
  const newPair: IssuedKeyPair = { ...keyPair, publicKey: publicKey(TP_B), thumbprint: TP_B };
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, activated(V1), { type: 'KeyPairIssued', data: newPair } as InstanceEvent]), {
    status: 'KeyPairIssued',
    config,
    keyPair: newPair,
  });
});

test('evolve never mutates the state it is given', (t) => {
  const before = Object.freeze(stateAfter(instance, [configRead]));
  const copy = structuredClone(before);
  const after = evolveInstance(before, keyPairIssued);
  t.deepEqual(before, copy);
  t.not(after, before);
});
