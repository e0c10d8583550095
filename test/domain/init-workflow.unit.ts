/**
 * The pure init workflow, exhaustively: for each combination of what the
 * instance stream, the deployment stream and the keystore say, the one next
 * step (or wait, refusal, proof) — and how many steps that means are recorded.
 */
import test from 'ava';
import type { InstanceEvent, OutcomeBasis } from '../../src/domain/events';
import type { InstallationId, NonEmptyString, Thumbprint } from '../../src/domain/ids';
import { completedStepsAt, type HeldKey, type InitStep, isInitStep, nextInitStep, type StepTag, type WorkflowInput } from '../../src/domain/init-workflow';
import type { InstanceState } from '../../src/domain/instance/decider';
import {
  aBasis,
  anInstance,
  copyFor,
  DEPLOYMENT,
  deploymentAfter,
  NODE_1 as ID,
  instanceAfter,
  KEY_CHECK,
  KEYSTORE,
  keyCreated,
  keyWrapped,
  NODE_2 as OTHER_ID,
  publicKeyStored as stored,
  removed,
  TP_1 as TP,
  TP_1B as TP_NEW,
  TP_2 as TP_OTHER,
  V1,
  V2,
} from '../support/domain-builders';

const { config, configRead, keyPairIssued } = anInstance(ID, TP);
const configured = instanceAfter([configRead]);
const initialized = instanceAfter([configRead, keyPairIssued]);
const none = deploymentAfter([]);
const registered = deploymentAfter([stored(ID, TP)]);
const complete = deploymentAfter([stored(ID, TP), keyCreated(ID, TP)]);
const plan = { keyVersion: V1, copy: { keyVersion: V1, copy: copyFor(ID, TP) }, expectedKeyCheck: KEY_CHECK, thumbprint: TP };

const held = (installationId: InstallationId = ID, thumbprint: Thumbprint = TP): HeldKey => ({ _tag: 'Held', installationId, thumbprint });
const problem = (p: 'missing' | 'unreadable' | 'locked' | 'corrupt', keystoreInstallationId: InstallationId | null = null): HeldKey => ({
  _tag: 'KeystoreProblem',
  keystorePath: KEYSTORE,
  problem: p,
  detail: 'x',
  keystoreInstallationId,
});

const next = (instance: InstanceState, deployment: WorkflowInput['deployment'], h: HeldKey = held(), extra: Partial<WorkflowInput> = {}): InitStep =>
  nextInitStep({ instance, deployment, presented: config, held: h, rejoin: false, ...extra });

const activatedOn = (basis: OutcomeBasis): InstanceEvent => ({
  type: 'InstanceActivated',
  data: { installationId: ID, deploymentId: DEPLOYMENT, keyVersion: V1, thumbprint: TP, basis },
});

// ─── Steps 1–4 ────────────────────────────────────────────────────────────

test('step 1: nothing recorded → RecordConfig (whatever the keystore says, unless it names another installation)', (t) => {
  t.deepEqual(next(instanceAfter([]), none, problem('missing')), { _tag: 'RecordConfig' });
  t.deepEqual(next(instanceAfter([]), complete, held()), { _tag: 'RecordConfig' });
  t.deepEqual(next(instanceAfter([]), none, held(OTHER_ID, TP_OTHER)), {
    _tag: 'Refused',
    reason: { _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: ID, keystoreInstallationId: OTHER_ID },
  });
});

test('step 2: configured, no keystore → GenerateKeyPair; a keystore left by a crashed run → RecordKeyPair', (t) => {
  t.deepEqual(next(configured, none, problem('missing')), { _tag: 'GenerateKeyPair' });
  t.deepEqual(next(configured, none, held()), { _tag: 'RecordKeyPair' });
});

test('step 2: configured, a keystore that cannot be opened (not missing) → refused, never overwritten', (t) => {
  for (const p of ['corrupt', 'locked', 'unreadable'] as const)
    t.deepEqual(next(configured, none, problem(p)), {
      _tag: 'Refused',
      reason: { _tag: 'KeystoreUnavailable', keystorePath: KEYSTORE, problem: p, detail: 'x' },
    });
});

test('step 3: key pair recorded, not registered → StorePublicKey', (t) => {
  t.deepEqual(next(initialized, none), { _tag: 'StorePublicKey', rejoin: false });
});

test('step 4: registered, no key in the deployment → CreateSymmetricKey', (t) => {
  t.deepEqual(next(initialized, registered), { _tag: 'CreateSymmetricKey' });
});

test('step 5: a copy for the held key → Prove; already activated on the current basis → Done', (t) => {
  t.deepEqual(next(initialized, complete), { _tag: 'Prove', plan });
  t.deepEqual(next(instanceAfter([configRead, keyPairIssued, activatedOn(aBasis(ID, TP, 1))]), complete), { _tag: 'Done', plan });
});

test('step 5: an activation decided before the deployment last changed this installation, by another key, or without a basis → Prove again', (t) => {
  const d = deploymentAfter([stored(ID, TP), keyCreated(ID, TP), keyWrapped(ID, TP, V1)]); // revision 2 touches ID
  t.deepEqual(next(instanceAfter([configRead, keyPairIssued, activatedOn(aBasis(ID, TP, 1))]), d), {
    _tag: 'Prove',
    plan: { ...plan, copy: { keyVersion: V1, copy: copyFor(ID, TP) } },
  });
  t.deepEqual(next(instanceAfter([configRead, keyPairIssued, activatedOn(aBasis(ID, null, 1))]), complete), { _tag: 'Prove', plan });
  t.deepEqual(next(anInstanceActivatedLegacy(), complete), { _tag: 'Prove', plan });
});

const anInstanceActivatedLegacy = (): InstanceState => instanceAfter([configRead, keyPairIssued, anInstance(ID, TP).activated(V1)]);

// ─── Waiting and refusals ─────────────────────────────────────────────────

test('waiting: the deployment has a key, a member holds it, no copy for this instance', (t) => {
  const d = deploymentAfter([stored(OTHER_ID, TP_OTHER), keyCreated(OTHER_ID, TP_OTHER), stored(ID, TP)]);
  t.deepEqual(next(initialized, d), { _tag: 'Waiting', reason: { _tag: 'NoWrappedCopy', keyVersion: V1 } });
});

test('refused: nobody holds the key any more → NoMemberHoldsKey', (t) => {
  const d = deploymentAfter([
    stored(OTHER_ID, TP_OTHER),
    keyCreated(OTHER_ID, TP_OTHER),
    stored(ID, TP),
    removed(OTHER_ID, TP_OTHER, V1, { forced: true, lastMember: true }),
  ]);
  t.deepEqual(next(initialized, d), { _tag: 'Refused', reason: { _tag: 'NoMemberHoldsKey', keyVersion: V1 } });
});

test('refused: a config that differs from the recorded one (identity first named as such)', (t) => {
  t.deepEqual(
    nextInitStep({
      instance: initialized,
      deployment: complete,
      presented: { ...config, serviceIdentity: 'svc' as NonEmptyString },
      held: held(),
      rejoin: false,
    }),
    {
      _tag: 'Refused',
      reason: { _tag: 'ServiceIdentityChanged', recordedIdentity: config.serviceIdentity, presentedIdentity: 'svc' },
    },
  );
  t.deepEqual(
    nextInitStep({ instance: initialized, deployment: complete, presented: { ...config, machineName: 'RS-X' as NonEmptyString }, held: held(), rejoin: false }),
    {
      _tag: 'Refused',
      reason: { _tag: 'ConfigurationChanged', field: 'machineName', recorded: config.machineName, presented: 'RS-X' },
    },
  );
});

test('refused: key pair recorded but the keystore is gone, or holds another key; registered with another key', (t) => {
  t.deepEqual(next(initialized, complete, problem('missing')), {
    _tag: 'Refused',
    reason: { _tag: 'KeystoreUnavailable', keystorePath: KEYSTORE, problem: 'missing', detail: 'x' },
  });
  t.deepEqual(next(initialized, complete, held(ID, TP_NEW)), {
    _tag: 'Refused',
    reason: { _tag: 'PublicKeyMismatch', heldThumbprint: TP_NEW, storedThumbprint: TP, storedIn: 'instance' },
  });
  t.deepEqual(next(initialized, deploymentAfter([stored(ID, TP_OTHER)])), {
    _tag: 'Refused',
    reason: { _tag: 'PublicKeyMismatch', heldThumbprint: TP, storedThumbprint: TP_OTHER, storedIn: 'deployment' },
  });
  t.deepEqual(next(initialized, complete, held(OTHER_ID, TP_OTHER)), {
    _tag: 'Refused',
    reason: { _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: ID, keystoreInstallationId: OTHER_ID },
  });
});

test('refused: a copy of an older version, or wrapped for another key', (t) => {
  const v2 = deploymentAfter([stored(ID, TP), keyCreated(ID, TP), keyCreated(OTHER_ID, TP_OTHER, V2)]);
  t.deepEqual(next(initialized, v2), { _tag: 'Refused', reason: { _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 } });
  const forOther = deploymentAfter([stored(ID, TP), keyCreated(OTHER_ID, TP_OTHER), keyWrapped(ID, TP_OTHER)]);
  t.deepEqual(next(initialized, forOther), {
    _tag: 'Refused',
    reason: { _tag: 'WrappedCopyForOtherKey', keyVersion: V1, copyThumbprint: TP_OTHER, heldThumbprint: TP },
  });
});

test('removed: refused — unless init --rejoin with the recorded key pair held, which stores the public key again', (t) => {
  const d = deploymentAfter([stored(OTHER_ID, TP_OTHER), keyCreated(OTHER_ID, TP_OTHER), stored(ID, TP), keyWrapped(ID, TP), removed(ID, TP, V1)]);
  const refusedRemoved: InitStep = { _tag: 'Refused', reason: { _tag: 'InstanceRemoved', installationId: ID, revokedThumbprint: TP } };
  t.deepEqual(next(initialized, d), refusedRemoved);
  t.deepEqual(next(initialized, d, held(), { rejoin: true }), { _tag: 'StorePublicKey', rejoin: true });
  t.deepEqual(next(initialized, d, problem('missing'), { rejoin: true }), refusedRemoved, 'a lost key pair cannot rejoin: that needs a new installation ID');
  t.deepEqual(next(initialized, d, held(ID, TP_NEW), { rejoin: true }), refusedRemoved);
});

// ─── Steps counted ────────────────────────────────────────────────────────

test('completedStepsAt: how many of the five steps are recorded at each step; isInitStep marks steps 1–4', (t) => {
  const expected: Record<StepTag, number> = {
    RecordConfig: 0,
    GenerateKeyPair: 1,
    RecordKeyPair: 1,
    StorePublicKey: 2,
    CreateSymmetricKey: 3,
    Waiting: 3,
    Prove: 4,
    Done: 5,
    Refused: 0,
  };
  for (const [tag, n] of Object.entries(expected)) t.is(completedStepsAt(tag as StepTag), n, tag);
  t.deepEqual(
    (['RecordConfig', 'GenerateKeyPair', 'RecordKeyPair', 'CreateSymmetricKey'] as const).map((tag) => isInitStep({ _tag: tag })),
    [true, true, true, true],
  );
  t.true(isInitStep({ _tag: 'StorePublicKey', rejoin: false }));
  t.false(isInitStep({ _tag: 'Prove', plan }));
});
