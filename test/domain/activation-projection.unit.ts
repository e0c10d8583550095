/**
 * The activation read model, tested by replaying sealed-and-decoded events and
 * asking instanceStatus / listInstances.
 */
import test from 'ava';
import type { LedgerEvent, RefusalReason } from '../../src/domain/events';
import { instanceStream } from '../../src/domain/ids';
import { type ActivationView, activationProjection, evolveActivation, initialActivationView } from '../../src/projections/activation';
import { instanceStatus, listInstances } from '../../src/projections/status';
import {
  activated,
  cluster,
  configRead,
  DEPLOYMENT,
  DSTREAM,
  founder,
  history,
  keyCreated,
  keyPairIssued,
  keyWrapped,
  NODE_1,
  NODE_2,
  publicKeyStored,
  refAt,
  refused,
  replay,
  statusOf,
  TP_1,
  TP_2,
  TP_X,
  V1,
} from '../support/domain-builders';

// ─── Test data ────────────────────────────────────────────────────────────

/** NODE_1 created the key but is not yet activated; NODE_2 registered and waits to join (events 0–6). */
const node2Waiting: ReadonlyArray<LedgerEvent> = [
  configRead(NODE_1),
  keyPairIssued(NODE_1, TP_1),
  publicKeyStored(NODE_1, TP_1),
  keyCreated(NODE_1, TP_1),
  configRead(NODE_2),
  keyPairIssued(NODE_2, TP_2),
  publicKeyStored(NODE_2, TP_2),
];

// ─── Steps ────────────────────────────────────────────────────────────────

test('not-initialized: the ledger knows nothing of the installation', (t) => {
  t.deepEqual(statusOf(initialActivationView, NODE_1), { state: 'not-initialized', installationId: NODE_1 });
  t.deepEqual(statusOf(replay(history(configRead(NODE_2))), NODE_1), { state: 'not-initialized', installationId: NODE_1 });
});

test('initializing after step 1 (config read): next is the key pair', (t) => {
  const events = history(configRead(NODE_1));
  const v = replay(events);
  t.deepEqual(instanceStatus(v, NODE_1), {
    remedy: { _tag: 'Run', sentence: 'initialization stopped after step 1 of 5: resume initialization', steps: [{ on: 'this-instance', args: ['init'] }] },
    state: 'initializing',
    completedSteps: 1,
    nextStep: 'key pair issued',
    view: {
      installationId: NODE_1,
      deploymentId: DEPLOYMENT,
      machineName: 'RS-NODE-1',
      instanceName: 'MSSQLSERVER',
      serviceIdentity: 'NT SERVICE\\ReportServer',
      keystorePath: configRead(NODE_1).data.keystorePath,
      thumbprint: null,
      signingThumbprint: null,
      configRead: { stream: instanceStream(NODE_1), revision: '0', position: '0/0', occurredAt: '2026-11-28T12:00:00.000Z', actor: 'operator@test' },
      keyPairIssued: null,
      machines: {
        'RS-NODE-1': { stream: instanceStream(NODE_1), revision: '0', position: '0/0', occurredAt: '2026-11-28T12:00:00.000Z', actor: 'operator@test' },
      },
      outcomes: {},
    },
  });
});

test('initializing after step 2 (key pair issued): next is storing the public key', (t) => {
  const events = history(configRead(NODE_1), keyPairIssued(NODE_1, TP_1));
  const s = instanceStatus(replay(events), NODE_1);
  t.deepEqual(statusOf(replay(events), NODE_1), { state: 'initializing', completedSteps: 2, nextStep: 'public key stored' });
  t.is(s.state === 'initializing' ? s.view.thumbprint : null, TP_1);
  t.deepEqual(s.state === 'initializing' ? s.view.keyPairIssued : null, refAt(events[1]!));
});

test('initializing after step 3 (public key stored, no key yet): next is the wrapped symmetric key', (t) => {
  const v = replay(history(configRead(NODE_1), keyPairIssued(NODE_1, TP_1), publicKeyStored(NODE_1, TP_1)));
  t.deepEqual(statusOf(v, NODE_1), { state: 'initializing', completedSteps: 3, nextStep: 'symmetric key stored wrapped' });
});

test('initializing at step 2 again when the deployment registered another key for the installation', (t) => {
  const v = replay(history(configRead(NODE_1), publicKeyStored(NODE_1, TP_X), keyPairIssued(NODE_1, TP_1)));
  t.deepEqual(statusOf(v, NODE_1), { state: 'initializing', completedSteps: 2, nextStep: 'public key stored' });
});

test('waiting-to-join: the deployment has a key, but no copy for this instance', (t) => {
  const v = replay(history(...node2Waiting));
  t.deepEqual(statusOf(v, NODE_2), { state: 'waiting-to-join', completedSteps: 3, keyVersion: 1 });
});

test('waiting-to-join: a start refused for NoWrappedCopy still reads as waiting to join', (t) => {
  const v = replay(history(...node2Waiting, refused(NODE_2, { _tag: 'NoWrappedCopy', keyVersion: V1 })));
  t.deepEqual(statusOf(v, NODE_2), { state: 'waiting-to-join', completedSteps: 3, keyVersion: 1 });
});

test('activated: all steps done, with a reference to the activation', (t) => {
  const events = history(...founder);
  t.deepEqual(statusOf(replay(events), NODE_1), {
    state: 'activated',
    keyVersion: 1,
    since: { stream: instanceStream(NODE_1), revision: '2', position: '4/4', occurredAt: '2026-11-28T12:00:04.000Z', actor: 'operator@test' },
  });
});

test('activated: a joined member, with the deployment view showing both copies', (t) => {
  const v = replay(history(...cluster));
  t.is(instanceStatus(v, NODE_2).state, 'activated');
  const d = v.deployments[DEPLOYMENT]!;
  t.is(d.currentKeyVersion, 1);
  t.deepEqual(
    Object.entries(d.copies).map(([id, c]) => [id, c.keyVersion, c.thumbprint, c.at.stream, c.at.revision]),
    [
      [NODE_1, 1, TP_1, DSTREAM, '1'],
      [NODE_2, 1, TP_2, DSTREAM, '3'],
    ],
  );
  t.deepEqual(Object.keys(d.registered), [NODE_1, NODE_2]);
});

test('disabled: a refusal, with its reason and a reference to the refusal event', (t) => {
  const reason: RefusalReason = { _tag: 'PublicKeyMismatch', heldThumbprint: TP_X, storedThumbprint: TP_1, storedIn: 'deployment' };
  const events = history(...founder, refused(NODE_1, reason));
  t.deepEqual(statusOf(replay(events), NODE_1), {
    state: 'disabled',
    reason,
    since: { stream: instanceStream(NODE_1), revision: '3', position: '5/5', occurredAt: '2026-11-28T12:00:05.000Z', actor: 'operator@test' },
  });
});

test('disabled: refused before it was ever configured', (t) => {
  const reason: RefusalReason = { _tag: 'InstallationNotRegistered', installationId: NODE_2, keystoreInstallationId: NODE_1 };
  const events = history(refused(NODE_2, reason));
  const s = instanceStatus(replay(events), NODE_2);
  t.deepEqual(statusOf(replay(events), NODE_2), { state: 'disabled', reason, since: refAt(events[0]!) });
  t.is(s.state === 'disabled' ? s.view.deploymentId : 'not disabled', DEPLOYMENT);
});

test('re-activated after a refusal: activated again, since the new activation', (t) => {
  const events = history(
    ...founder,
    refused(NODE_1, { _tag: 'KeystoreUnavailable', keystorePath: '/k', problem: 'unreadable', detail: 'permissions 644 are too open' }),
    activated(NODE_1, TP_1),
  );
  t.deepEqual(statusOf(replay(events), NODE_1), { state: 'activated', keyVersion: 1, since: refAt(events[6]!) });
});

test('installation IDs are matched case-insensitively', (t) => {
  const v = replay(history(configRead(NODE_1)));
  t.is(instanceStatus(v, NODE_1.toUpperCase()).state, 'initializing');
});

// ─── listInstances ────────────────────────────────────────────────────────

test('listInstances: every known instance, ordered by machine then instance name', (t) => {
  const v = replay(
    history(
      configRead(NODE_2),
      configRead(NODE_1),
      keyPairIssued(NODE_1, TP_1),
      publicKeyStored(NODE_1, TP_1),
      keyCreated(NODE_1, TP_1),
      activated(NODE_1, TP_1),
    ),
  );
  t.deepEqual(
    listInstances(v).map((s) => (s.state === 'not-initialized' ? [s.installationId, s.state] : [s.view.machineName, s.view.installationId, s.state])),
    [
      ['RS-NODE-1', NODE_1, 'activated'],
      ['RS-NODE-2', NODE_2, 'initializing'],
    ],
  );
  t.deepEqual(listInstances(initialActivationView), []);
});

// ─── The fold itself ──────────────────────────────────────────────────────

const deepFreeze = <T>(o: T): T => {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
};

test('the fold never mutates its input and returns a new view', (t) => {
  const events = history(
    configRead(NODE_1),
    keyPairIssued(NODE_1, TP_1),
    publicKeyStored(NODE_1, TP_1),
    keyCreated(NODE_1, TP_1),
    keyWrapped(NODE_2, TP_2),
    activated(NODE_1, TP_1),
  );
  let v: ActivationView = deepFreeze(structuredClone(initialActivationView));
  for (const e of events) {
    const snapshot = structuredClone(v);
    const next = evolveActivation(v, e);
    t.not(next, v);
    t.deepEqual(v, snapshot);
    v = deepFreeze(next);
  }
  t.deepEqual(initialActivationView, { instances: {}, deployments: {} });
});

test('the fold never throws on unusual orders (activation before config, copies before keys)', (t) => {
  const events = history(
    activated(NODE_1, TP_1),
    keyWrapped(NODE_2, TP_2),
    keyPairIssued(NODE_2, TP_2),
    refused(NODE_2, { _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT }),
    publicKeyStored(NODE_1, TP_1),
  );
  let v = initialActivationView;
  for (const e of events) v = deepFreeze(evolveActivation(v, e));
  // An activation recorded before the installation's (current) registration no longer describes it.
  t.is(instanceStatus(v, NODE_1).state, 'initializing');
  t.deepEqual(statusOf(v, NODE_2), { state: 'disabled', reason: { _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT }, since: refAt(events[3]!) });
});

test('the view is plain JSON (it is checkpointed as is)', (t) => {
  const v = replay(history(...founder));
  t.deepEqual(JSON.parse(JSON.stringify(v)), v);
  t.is(activationProjection.evolve, evolveActivation);
  t.is(activationProjection.initialState, initialActivationView);
});

test('replaying the same events twice gives the same view', (t) => {
  const events = history(configRead(NODE_1), keyPairIssued(NODE_1, TP_1));
  t.deepEqual(replay(events), replay(events));
});
