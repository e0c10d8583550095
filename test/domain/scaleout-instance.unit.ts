/**
 * The instance side of scale-out: ChangeServiceIdentity as given / when / then
 * and the state ServiceIdentityChanged leaves (a new key pair that must be
 * proven again); the start check's new refusals (InstanceRemoved,
 * StaleWrappedCopy, NoMemberHoldsKey) and how explainRefusal puts them.
 */
import { remedyFor, remedyText } from '../../src/domain/remedy';
import test from 'ava';
import * as E from 'fp-ts/Either';
import type { DeploymentEvent, RefusalReason } from '../../src/domain/events';
import type { InstallationId, KeyVersion, NonEmptyString, Thumbprint } from '../../src/domain/ids';
import type { InstanceCommand, InstanceState } from '../../src/domain/instance/decider';
import { explainRefusal, refusalLine } from '../../src/domain/refusal';
import { checkBeforeUnwrap, type HeldKey } from '../../src/domain/start-check';
import { spec, stateAfter } from '../support/decider-spec';
import {
  anInstance,
  copyFor,
  DEPLOYMENT,
  deploymentAfter,
  NODE_1 as ID,
  IDENTITY as OLD_IDENTITY,
  identityChanged,
  instanceAfter,
  instanceDecider as instance,
  KEY_CHECK,
  KEYSTORE,
  keyCreated,
  keyReplaced as replaced,
  keyWrapped,
  NEW_IDENTITY,
  NODE_2 as OTHER_ID,
  NODE_3 as THIRD_ID,
  publicKey,
  publicKeyStored as stored,
  removed,
  thumbprintOf,
  TP_1 as TP_A,
  TP_1B as TP_B,
  TP_2 as TP_OTHER,
  TP_3 as TP_THIRD,
  V1,
  V2,
  type WrappedBy,
  aBasis,
} from '../support/domain-builders';

/** The thumbprint a remedy's join names (the instance's own key pair). */
const TP_REMEDY = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
// ─── Test data ────────────────────────────────────────────────────────────

/** The key after a second identity change. */
const TP_C = thumbprintOf('key C');
const THIRD_IDENTITY = 'CONTOSO\\svc-reports-2' as NonEmptyString;

const { config, configRead, keyPairIssued, activated, refused, activate } = anInstance(ID, TP_A);
/** Identity changes here come with a 3072-bit key pair. */
const toB = identityChanged(ID, TP_A, TP_B, { keySize: 3072 });

const changeIdentity = (serviceIdentity: NonEmptyString, thumbprint: Thumbprint): InstanceCommand => ({
  type: 'ChangeServiceIdentity',
  installationId: ID,
  serviceIdentity,
  publicKey: publicKey(thumbprint),
  thumbprint,
  keySize: 3072,
});

// ─── ChangeServiceIdentity ────────────────────────────────────────────────

test('ChangeServiceIdentity: before the config is read it fails NotConfigured', (t) => {
  spec(t, instance).given([]).when(changeIdentity(NEW_IDENTITY, TP_B)).thenFails({ _tag: 'NotConfigured', step: 'service identity change' });
  // refused before it was ever configured: still not configured
  spec(t, instance)
    .given([refused({ _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT })])
    .when(changeIdentity(NEW_IDENTITY, TP_B))
    .thenFails({ _tag: 'NotConfigured', step: 'service identity change' });
});

test('ChangeServiceIdentity: configured but no key pair issued yet fails NoKeyPair', (t) => {
  spec(t, instance).given([configRead]).when(changeIdentity(NEW_IDENTITY, TP_B)).thenFails({ _tag: 'NoKeyPair' });
});

test('ChangeServiceIdentity: an activated instance records the new identity and key pair, naming the previous ones', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activated()])
    .when(changeIdentity(NEW_IDENTITY, TP_B))
    .then([
      {
        type: 'ServiceIdentityChanged',
        data: {
          installationId: ID,
          previousIdentity: OLD_IDENTITY,
          serviceIdentity: NEW_IDENTITY,
          previousThumbprint: TP_A,
          publicKey: publicKey(TP_B),
          thumbprint: TP_B,
          algorithm: 'RSA-OAEP-256',
          keySize: 3072,
        },
      },
    ]);
});

test('ChangeServiceIdentity: also from KeyPairIssued and from Disabled (the refusal that prompted it)', (t) => {
  spec(t, instance).given([configRead, keyPairIssued]).when(changeIdentity(NEW_IDENTITY, TP_B)).then([toB]);
  spec(t, instance)
    .given([
      configRead,
      keyPairIssued,
      activated(),
      refused({ _tag: 'ServiceIdentityChanged', recordedIdentity: OLD_IDENTITY, presentedIdentity: NEW_IDENTITY }),
    ])
    .when(changeIdentity(NEW_IDENTITY, TP_B))
    .then([toB]);
});

test('ChangeServiceIdentity: a second change names the first change as previous', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activated(), toB, activated(V1, TP_B)])
    .when(changeIdentity(THIRD_IDENTITY, TP_C))
    .then([identityChanged(ID, TP_B, TP_C, { previousIdentity: NEW_IDENTITY, serviceIdentity: THIRD_IDENTITY, keySize: 3072 })]);
});

test('ChangeServiceIdentity: the same identity with the same key pair (a resumed run): nothing happened', (t) => {
  spec(t, instance).given([configRead, keyPairIssued, activated(), toB]).when(changeIdentity(NEW_IDENTITY, TP_B)).thenNothingHappened();
  // never changed: the recorded identity with the recorded key pair is no change either
  spec(t, instance).given([configRead, keyPairIssued]).when(changeIdentity(OLD_IDENTITY, TP_A)).thenNothingHappened();
});

test('ChangeServiceIdentity: the same identity with another key pair fails SameServiceIdentity', (t) => {
  spec(t, instance)
    .given([configRead, keyPairIssued, activated()])
    .when(changeIdentity(OLD_IDENTITY, TP_B))
    .thenFails({ _tag: 'SameServiceIdentity', serviceIdentity: OLD_IDENTITY });
  spec(t, instance)
    .given([configRead, keyPairIssued, activated(), toB])
    .when(changeIdentity(NEW_IDENTITY, TP_C))
    .thenFails({ _tag: 'SameServiceIdentity', serviceIdentity: NEW_IDENTITY });
});

// ─── The state after ServiceIdentityChanged ───────────────────────────────

const afterChange: InstanceState = {
  status: 'KeyPairIssued',
  config: { ...config, serviceIdentity: NEW_IDENTITY },
  keyPair: { installationId: ID, publicKey: publicKey(TP_B), thumbprint: TP_B, algorithm: 'RSA-OAEP-256', keySize: 3072, serviceIdentity: NEW_IDENTITY },
};

test('evolve ServiceIdentityChanged: config identity and key pair replaced, status KeyPairIssued (from Activated)', (t) => {
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, activated()]).status, 'Activated');
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, activated(), toB]), afterChange);
});

test('evolve ServiceIdentityChanged: the same state from KeyPairIssued and from Disabled', (t) => {
  t.deepEqual(stateAfter(instance, [configRead, keyPairIssued, toB]), afterChange);
  t.deepEqual(
    stateAfter(instance, [
      configRead,
      keyPairIssued,
      activated(),
      refused({ _tag: 'ServiceIdentityChanged', recordedIdentity: OLD_IDENTITY, presentedIdentity: NEW_IDENTITY }),
      toB,
    ]),
    afterChange,
  );
});

test('evolve ServiceIdentityChanged: before the config is read, nothing changes', (t) => {
  t.deepEqual(stateAfter(instance, [toB]), { status: 'NotInitialized' });
});

test('after the identity change the instance must prove itself again, with the new key', (t) => {
  const history = [configRead, keyPairIssued, activated(V1), toB];
  // the same key version as before is not "already activated": it was activated under the old key
  const proven = activated(V1, TP_B);
  spec(t, instance)
    .given(history)
    .when(activate(TP_B, V1))
    .then([{ ...proven, data: { ...proven.data, basis: aBasis(ID, TP_B, 2) } }]);
  spec(t, instance).given(history).when(activate(TP_A, V1)).thenFails({ _tag: 'ThumbprintMismatch', recordedThumbprint: TP_B, presentedThumbprint: TP_A });
});

test('after the identity change the recorded config carries the new identity', (t) => {
  const history = [configRead, keyPairIssued, activated(), toB];
  spec(t, instance)
    .given(history)
    .when({ type: 'RecordConfig', config: { ...config, serviceIdentity: NEW_IDENTITY } })
    .thenNothingHappened();
  spec(t, instance)
    .given(history)
    .when({ type: 'RecordConfig', config })
    .thenFails({ _tag: 'ConfigConflict', field: 'serviceIdentity', recorded: NEW_IDENTITY, presented: OLD_IDENTITY });
  spec(t, instance)
    .given(history)
    .when({ type: 'RecordKeyPair', installationId: ID, publicKey: publicKey(TP_A), thumbprint: TP_A, keySize: 2048 })
    .thenFails({ _tag: 'KeyPairAlreadyIssued', recordedThumbprint: TP_B, presentedThumbprint: TP_A });
});

// ─── Start check: scale-out refusals ──────────────────────────────────────

const initialized = instanceAfter([configRead, keyPairIssued, activated()]);
/** OTHER_ID, which created the key, wraps the copies for the others. */
const BY_OTHER: WrappedBy = { by: OTHER_ID, byThumbprint: TP_OTHER };

const held = (installationId: InstallationId = ID, thumbprint: Thumbprint = TP_A): HeldKey => ({ _tag: 'Held', installationId, thumbprint });
const missingKeystore: HeldKey = {
  _tag: 'KeystoreProblem',
  keystorePath: KEYSTORE,
  problem: 'missing',
  detail: 'no keystore file',
  keystoreInstallationId: null,
};

/** OTHER_ID created the key; this instance (ID) registered and joined. */
const twoMembers: ReadonlyArray<DeploymentEvent> = [
  stored(OTHER_ID, TP_OTHER),
  keyCreated(OTHER_ID, TP_OTHER),
  stored(ID, TP_A),
  keyWrapped(ID, TP_A, V1, BY_OTHER),
];
const planFor = (keyVersion: KeyVersion, tp: Thumbprint) => ({
  keyVersion,
  copy: { keyVersion, copy: copyFor(ID, tp) },
  expectedKeyCheck: KEY_CHECK,
  thumbprint: tp,
});

test('start check: a joined member that was not removed gets its unwrap plan (baseline)', (t) => {
  t.deepEqual(checkBeforeUnwrap(initialized, deploymentAfter(twoMembers), config, held()), E.right(planFor(V1, TP_A)));
});

test('InstanceRemoved: removed and not registered again', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, deploymentAfter([...twoMembers, removed(ID, TP_A, V1)]), config, held()),
    E.left({ _tag: 'InstanceRemoved', installationId: ID, revokedThumbprint: TP_A }),
  );
});

test('InstanceRemoved: names the revoked key even when the instance now holds another one', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, deploymentAfter([...twoMembers, removed(ID, TP_A, V1)]), config, held(ID, TP_C)),
    E.left({ _tag: 'InstanceRemoved', installationId: ID, revokedThumbprint: TP_A }),
  );
});

test('InstanceRemoved comes before keystore problems, but after a changed config', (t) => {
  const d = deploymentAfter([...twoMembers, removed(ID, TP_A, V1)]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, missingKeystore), E.left({ _tag: 'InstanceRemoved', installationId: ID, revokedThumbprint: TP_A }));
  t.deepEqual(
    checkBeforeUnwrap(initialized, d, { ...config, machineName: 'RS-NODE-9' as NonEmptyString }, held()),
    E.left({ _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-NODE-9' }),
  );
});

test('InstanceRemoved: not refused once registered again (rejoin): waiting to join, then the plan once joined', (t) => {
  const rejoined = [...twoMembers, removed(ID, TP_A, V1), stored(ID, TP_A)];
  t.deepEqual(checkBeforeUnwrap(initialized, deploymentAfter(rejoined), config, held()), E.left({ _tag: 'NoWrappedCopy', keyVersion: V1 }));
  t.deepEqual(checkBeforeUnwrap(initialized, deploymentAfter([...rejoined, keyWrapped(ID, TP_A, V1, BY_OTHER)]), config, held()), E.right(planFor(V1, TP_A)));
});

test('InstanceRemoved: another installation being removed does not refuse this one', (t) => {
  const d = deploymentAfter([...twoMembers, stored(THIRD_ID, TP_THIRD), removed(THIRD_ID, TP_THIRD, null)]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, held()), E.right(planFor(V1, TP_A)));
});

test('StaleWrappedCopy: the only copy this instance holds is of an older key version', (t) => {
  const d = deploymentAfter([...twoMembers, keyCreated(OTHER_ID, TP_OTHER, V2)]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, held()), E.left({ _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 }));
});

test('StaleWrappedCopy comes before WrappedCopyForOtherKey, and holds when nobody holds the current key', (t) => {
  const forOther = deploymentAfter([stored(OTHER_ID, TP_OTHER), stored(ID, TP_A), keyWrapped(ID, TP_C, V1, BY_OTHER), keyCreated(OTHER_ID, TP_OTHER, V2)]);
  t.deepEqual(checkBeforeUnwrap(initialized, forOther, config, held()), E.left({ _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 }));
  const nobody = deploymentAfter([
    stored(OTHER_ID, TP_OTHER),
    stored(ID, TP_A),
    keyWrapped(ID, TP_A, V1, BY_OTHER),
    keyCreated(OTHER_ID, TP_OTHER, V2),
    removed(OTHER_ID, TP_OTHER, V2, { forced: true, lastMember: true }),
  ]);
  t.deepEqual(checkBeforeUnwrap(initialized, nobody, config, held()), E.left({ _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 }));
});

test('NoWrappedCopy: no copy for this instance while a member holds the key (it can be joined)', (t) => {
  const d = deploymentAfter([stored(OTHER_ID, TP_OTHER), keyCreated(OTHER_ID, TP_OTHER), stored(ID, TP_A)]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, held()), E.left({ _tag: 'NoWrappedCopy', keyVersion: V1 }));
  // one holder is enough, even after another member was removed
  const afterRemoval = deploymentAfter([
    stored(OTHER_ID, TP_OTHER),
    keyCreated(OTHER_ID, TP_OTHER),
    stored(THIRD_ID, TP_THIRD),
    keyWrapped(THIRD_ID, TP_THIRD, V1, BY_OTHER),
    removed(OTHER_ID, TP_OTHER, V1),
    stored(ID, TP_A),
  ]);
  t.deepEqual(checkBeforeUnwrap(initialized, afterRemoval, config, held()), E.left({ _tag: 'NoWrappedCopy', keyVersion: V1 }));
});

test('NoMemberHoldsKey: no copy for this instance and the last key holder was removed', (t) => {
  const d = deploymentAfter([
    stored(OTHER_ID, TP_OTHER),
    keyCreated(OTHER_ID, TP_OTHER),
    stored(ID, TP_A),
    removed(OTHER_ID, TP_OTHER, V1, { forced: true, lastMember: true }),
  ]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, held()), E.left({ _tag: 'NoMemberHoldsKey', keyVersion: V1 }));
});

test('NoMemberHoldsKey: a member holding only an older version does not count as a holder', (t) => {
  const d = deploymentAfter([
    stored(OTHER_ID, TP_OTHER),
    stored(THIRD_ID, TP_THIRD),
    keyWrapped(THIRD_ID, TP_THIRD, V1, BY_OTHER),
    keyCreated(OTHER_ID, TP_OTHER, V2),
    stored(ID, TP_A),
    removed(OTHER_ID, TP_OTHER, V2, { forced: true, lastMember: true }),
  ]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, held()), E.left({ _tag: 'NoMemberHoldsKey', keyVersion: V2 }));
});

test('start check after an identity change: before the deployment trusts the new key PublicKeyMismatch, after it the plan', (t) => {
  const moved = instanceAfter([configRead, keyPairIssued, activated(), toB]);
  const presented = { ...config, serviceIdentity: NEW_IDENTITY };
  t.deepEqual(
    checkBeforeUnwrap(moved, deploymentAfter(twoMembers), presented, held(ID, TP_B)),
    E.left({ _tag: 'PublicKeyMismatch', heldThumbprint: TP_B, storedThumbprint: TP_A, storedIn: 'deployment' }),
  );
  const d = deploymentAfter([
    ...twoMembers,
    replaced(ID, TP_A, TP_B),
    { type: 'SymmetricKeyWrapped', data: { deploymentId: DEPLOYMENT, keyVersion: V1, copy: copyFor(ID, TP_B), wrappedBy: ID, wrappedByThumbprint: TP_A } },
  ]);
  t.deepEqual(checkBeforeUnwrap(moved, d, presented, held(ID, TP_B)), E.right(planFor(V1, TP_B)));
  // the old identity is now the changed one
  t.deepEqual(
    checkBeforeUnwrap(moved, d, config, held(ID, TP_B)),
    E.left({ _tag: 'ServiceIdentityChanged', recordedIdentity: NEW_IDENTITY, presentedIdentity: OLD_IDENTITY }),
  );
});

// ─── explainRefusal for the scale-out reasons ─────────────────────────────

const explained: ReadonlyArray<[RefusalReason, string, ReadonlyArray<string>, RegExp]> = [
  [
    { _tag: 'InstanceRemoved', installationId: ID, revokedThumbprint: TP_A },
    'RSReportServerNotActivated',
    [ID, TP_A, 'removed'],
    /keyledger init --rejoin.*keyledger join/,
  ],
  [
    { _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 },
    'rsReportServerDisabled',
    ['key version 1', 'current version is 2'],
    /keyledger join .*keyledger start/,
  ],
  [
    { _tag: 'NoMemberHoldsKey', keyVersion: V2 },
    'RSReportServerNotActivated',
    ['symmetric key version 2', 'no member'],
    /restore it from a key backup: on this instance run `keyledger restore -f <the key backup file>`/,
  ],
];

for (const [reason, code, evidence, remedy] of explained) {
  test(`explainRefusal ${reason._tag}: code ${code}, summary with the evidence, the remedy`, (t) => {
    const x = explainRefusal(reason);
    t.is(x.code, code);
    for (const e of evidence) t.true(x.summary.includes(e), `summary should contain ${e}: ${x.summary}`);
    const ctx = { installationId: ID, otherHolders: 1, thumbprint: TP_REMEDY };
    const text = remedyText(remedyFor(reason, ctx));
    t.regex(text, remedy);
    const specific = code === 'RSReportServerNotActivated' ? '' : `${code}: `;
    t.is(refusalLine(reason, remedyFor(reason, ctx)), `RSReportServerNotActivated: ${specific}${x.summary}. Remedy: ${text}.`);
  });
}

test('explainRefusal: the exact summaries of the scale-out reasons', (t) => {
  t.is(
    explainRefusal({ _tag: 'InstanceRemoved', installationId: ID, revokedThumbprint: TP_A }).summary,
    `installation ${ID} was removed from the scale-out deployment (its key ${TP_A} and wrapped copy were revoked)`,
  );
  t.is(
    explainRefusal({ _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 }).summary,
    `this instance holds a copy of symmetric key version 1, but the deployment's current version is 2`,
  );
  t.is(
    explainRefusal({ _tag: 'NoMemberHoldsKey', keyVersion: V1 }).summary,
    'no member of the deployment holds symmetric key version 1 any more (the last member was removed), so nobody can join this instance',
  );
});

test('remedyFor: NoMemberHoldsKey names a key backup restore on this instance (no join, no re-created key)', (t) => {
  const r = remedyFor({ _tag: 'NoMemberHoldsKey', keyVersion: V1 }, { installationId: ID, otherHolders: 0, thumbprint: TP_REMEDY });
  t.deepEqual(r._tag === 'Run' ? r.steps : [], [{ on: 'this-instance', args: ['restore', '-f', { placeholder: 'backup-file' }] }]);
  t.notRegex(remedyText(r), /keyledger (join|init)/);
});
