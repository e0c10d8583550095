/**
 * Mismatch findings, read off the activation view: for each kind, a replayed
 * history that produces it and the exact Finding (evidence, event references
 * oldest first); histories that must produce none; and the activation view's
 * 'removed' status and `isAfter`.
 */
import test from 'ava';
import type { LedgerEvent, RefusalReason } from '../../src/domain/events';
import type { InstallationId } from '../../src/domain/ids';
import { type EventRef, initialActivationView, isAfter } from '../../src/projections/activation';
import { allFindings, type Finding, findingsFor as findingsWithRemedies } from '../../src/projections/findings';

/** Findings without their remedies: the remedies are typed data tested in remedy.unit.ts and followed in remedy-walk.e2e.ts. */
type WithoutRemedy = Omit<Finding, 'remedy'>;
const findingsFor = (...args: Parameters<typeof findingsWithRemedies>): ReadonlyArray<WithoutRemedy> =>
  findingsWithRemedies(...args).map(({ remedy: _r, ...f }) => f);
import {
  activated,
  cluster,
  configRead,
  DEPLOYMENT,
  DSTREAM,
  founder,
  history,
  IDENTITY,
  identityChanged,
  keyCreated,
  keyPairIssued,
  keyReplaced,
  keyWrapped,
  NEW_IDENTITY,
  NODE_1,
  NODE_2,
  publicKeyStored,
  refAt,
  refused,
  removed,
  replay,
  statusOf,
  TP_1,
  TP_1B,
  TP_2,
  TP_X,
  V1,
  V2,
} from '../support/domain-builders';

// ─── ForeignPublicKey ─────────────────────────────────────────────────────

test('ForeignPublicKey: the deployment registered another public key for this installation ID (cloned config)', (t) => {
  const events = history(
    configRead(NODE_2),
    keyPairIssued(NODE_2, TP_2),
    publicKeyStored(NODE_2, TP_X),
    refused(NODE_2, { _tag: 'PublicKeyMismatch', heldThumbprint: TP_2, storedThumbprint: TP_X, storedIn: 'deployment' }),
  );
  t.deepEqual(findingsFor(replay(events), NODE_2), [
    {
      kind: 'ForeignPublicKey',
      installationId: NODE_2,
      summary: `installation ${NODE_2} was presented with public key ${TP_2}, but the deployment holds ${TP_X}: a cloned config or a rebuilt machine`,
      evidence: { installationId: NODE_2, presentedThumbprint: TP_2, storedThumbprint: TP_X, storedIn: 'deployment' },
      events: [refAt(events[2]), refAt(events[3])],
    },
  ]);
});

test('ForeignPublicKey: the instance was issued another key than the one presented; the evidence points at the key pair event', (t) => {
  const events = history(...founder, refused(NODE_1, { _tag: 'PublicKeyMismatch', heldThumbprint: TP_X, storedThumbprint: TP_1, storedIn: 'instance' }));
  const findings = findingsFor(replay(events), NODE_1);
  t.deepEqual(
    findings.map((f) => [f.kind, f.evidence, f.events]),
    [
      [
        'ForeignPublicKey',
        { installationId: NODE_1, presentedThumbprint: TP_X, storedThumbprint: TP_1, storedIn: 'instance' },
        [refAt(events[1]), refAt(events[5])],
      ],
    ],
  );
  t.is(
    findings[0]!.summary,
    `installation ${NODE_1} was presented with public key ${TP_X}, but the instance holds ${TP_1}: a cloned config or a rebuilt machine`,
  );
});

// ─── CopyForKeyNoLongerHeld ───────────────────────────────────────────────

const copyNoLongerHeld = (id: InstallationId, keyVersion: number, copyThumbprint: string, held: string, events: ReadonlyArray<EventRef>): WithoutRemedy => ({
  kind: 'CopyForKeyNoLongerHeld',
  installationId: id,
  summary:
    `the copy of key version ${keyVersion} is wrapped for ${copyThumbprint}, a key this instance no longer holds (held: ${held}): ` +
    'a lost, replaced or no longer decryptable keystore',
  evidence: { installationId: id, keyVersion, copyThumbprint, heldThumbprint: held },
  events,
});

for (const problem of ['missing', 'corrupt', 'locked'] as const) {
  test(`CopyForKeyNoLongerHeld: the keystore is ${problem}, the deployment still holds a copy for its key`, (t) => {
    const events = history(...founder, refused(NODE_1, { _tag: 'KeystoreUnavailable', keystorePath: '/k', problem, detail: 'x' }));
    // key pair (1) before the copy (3): oldest first, not in the order the evidence was gathered
    t.deepEqual(findingsFor(replay(events), NODE_1), [
      copyNoLongerHeld(NODE_1, 1, TP_1, `none (keystore ${problem})`, [refAt(events[1]), refAt(events[3]), refAt(events[5])]),
    ]);
  });
}

test('CopyForKeyNoLongerHeld: the copy was wrapped for another key than the one the instance holds (refused WrappedCopyForOtherKey)', (t) => {
  const events = history(
    ...founder,
    configRead(NODE_2),
    keyPairIssued(NODE_2, TP_2),
    publicKeyStored(NODE_2, TP_2),
    keyWrapped(NODE_2, TP_X),
    refused(NODE_2, { _tag: 'WrappedCopyForOtherKey', keyVersion: V1, copyThumbprint: TP_X, heldThumbprint: TP_2 }),
  );
  const v = replay(events);
  t.deepEqual(findingsFor(v, NODE_2), [copyNoLongerHeld(NODE_2, 1, TP_X, TP_2, [refAt(events[6]), refAt(events[8]), refAt(events[9])])]);
  t.deepEqual(findingsFor(v, NODE_1), []);
});

test('CopyForKeyNoLongerHeld: mid identity change (new key pair, the deployment not yet told), from the structure alone', (t) => {
  const events = history(...founder, identityChanged(NODE_1, TP_1, TP_1B));
  // the identity change is the key pair event now; no refusal involved
  t.deepEqual(findingsFor(replay(events), NODE_1), [copyNoLongerHeld(NODE_1, 1, TP_1, TP_1B, [refAt(events[3]), refAt(events[5])])]);
});

test('CopyForKeyNoLongerHeld: gone once the deployment trusts the new key and holds a copy for it', (t) => {
  const events = history(
    ...founder,
    identityChanged(NODE_1, TP_1, TP_1B),
    keyReplaced(NODE_1, TP_1, TP_1B),
    keyWrapped(NODE_1, TP_1B, V1, { by: NODE_1, byThumbprint: TP_1 }),
    activated(NODE_1, TP_1B),
  );
  t.deepEqual(findingsFor(replay(events), NODE_1), []);
  t.deepEqual(statusOf(replay(events), NODE_1), { state: 'activated', keyVersion: 1, since: refAt(events[8]) });
});

// ─── StaleCopy ────────────────────────────────────────────────────────────

/** NODE_2 got a copy of version 1 (6); then version 2 became current (7). */
const staleHistory: ReadonlyArray<LedgerEvent> = [
  configRead(NODE_1),
  keyPairIssued(NODE_1, TP_1),
  publicKeyStored(NODE_1, TP_1),
  configRead(NODE_2),
  keyPairIssued(NODE_2, TP_2),
  publicKeyStored(NODE_2, TP_2),
  keyWrapped(NODE_2, TP_2, V1),
  keyCreated(NODE_1, TP_1, V2),
];
const staleCopy = (events: ReadonlyArray<EventRef>): WithoutRemedy => ({
  kind: 'StaleCopy',
  installationId: NODE_2,
  summary: "this instance holds key version 1, the deployment's current key is version 2",
  evidence: { installationId: NODE_2, heldVersion: 1, currentVersion: 2 },
  events,
});

test('StaleCopy: refused StaleWrappedCopy, with the copy, the current key and the refusal as evidence', (t) => {
  const events = history(...staleHistory, refused(NODE_2, { _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 }));
  const v = replay(events);
  t.deepEqual(findingsFor(v, NODE_2), [staleCopy([refAt(events[6]), refAt(events[7]), refAt(events[8])])]);
  t.deepEqual(findingsFor(v, NODE_1), []);
});

test('StaleCopy: from the structure alone, before the instance tried to start', (t) => {
  const events = history(...staleHistory);
  t.deepEqual(findingsFor(replay(events), NODE_2), [staleCopy([refAt(events[6]), refAt(events[7])])]);
});

test('StaleCopy: gone once it holds a copy of the current version', (t) => {
  const events = history(...staleHistory, keyWrapped(NODE_2, TP_2, V2));
  t.deepEqual(findingsFor(replay(events), NODE_2), []);
});

// ─── RemovedInstanceStarting ──────────────────────────────────────────────

test('RemovedInstanceStarting: a removed member tried to start; the removal and the refusal are the evidence', (t) => {
  const events = history(...cluster, removed(NODE_2, TP_2, V1), refused(NODE_2, { _tag: 'InstanceRemoved', installationId: NODE_2, revokedThumbprint: TP_2 }));
  const v = replay(events);
  t.deepEqual(findingsFor(v, NODE_2), [
    {
      kind: 'RemovedInstanceStarting',
      installationId: NODE_2,
      summary: `installation ${NODE_2} tried to start after it was removed from the scale-out (its key ${TP_2} was revoked)`,
      evidence: { installationId: NODE_2, revokedThumbprint: TP_2 },
      events: [refAt(events[10]), refAt(events[11])],
    },
  ]);
  // The remaining member is warned that the removed one held the current key version (no re-creation since).
  t.deepEqual(
    findingsFor(v, NODE_1).map((f) => [f.kind, f.installationId, f.evidence]),
    [['RemovedMemberHoldsKey', NODE_2, { installationId: NODE_2, keyVersion: 1 }]],
  );
});

test('RemovedInstanceStarting: a removal alone (it never tried to start again) is not a finding', (t) => {
  t.deepEqual(findingsFor(replay(history(...cluster, removed(NODE_2, TP_2, V1))), NODE_2), []);
});

// ─── InstallationClaimedByTwoMachines ─────────────────────────────────────

const claimed = (machines: ReadonlyArray<string>, events: ReadonlyArray<EventRef>): WithoutRemedy => ({
  kind: 'InstallationClaimedByTwoMachines',
  installationId: NODE_1,
  summary:
    `installation ID ${NODE_1} is registered to RS-NODE-1 (key ${TP_1}) but was also presented by ` +
    `${machines.filter((m) => m !== 'RS-NODE-1').join(', ')} (a config file copied to another machine, or a second keystore)`,
  evidence: { installationId: NODE_1, machines },
  events,
});

test('InstallationClaimedByTwoMachines: the config was presented from another machine name; machines sorted, events by position', (t) => {
  const events = history(...founder, refused(NODE_1, { _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-ALPHA' }));
  t.deepEqual(findingsFor(replay(events), NODE_1), [claimed(['RS-ALPHA', 'RS-NODE-1'], [refAt(events[0]), refAt(events[5])])]);
});

test('InstallationClaimedByTwoMachines: three machines, each with the first event that shows it', (t) => {
  const fromAlpha = refused(NODE_1, { _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-ALPHA' });
  const events = history(
    ...founder,
    fromAlpha,
    refused(NODE_1, { _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-ZULU' }),
    fromAlpha,
  );
  t.deepEqual(findingsFor(replay(events), NODE_1), [claimed(['RS-ALPHA', 'RS-NODE-1', 'RS-ZULU'], [refAt(events[0]), refAt(events[5]), refAt(events[6])])]);
});

test('InstallationClaimedByTwoMachines: still reported after the original machine starts again', (t) => {
  const events = history(
    ...founder,
    refused(NODE_1, { _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-ALPHA' }),
    activated(NODE_1, TP_1),
  );
  t.deepEqual(findingsFor(replay(events), NODE_1), [claimed(['RS-ALPHA', 'RS-NODE-1'], [refAt(events[0]), refAt(events[5])])]);
});

// ─── No findings ──────────────────────────────────────────────────────────

test('no findings: a healthy deployment, a joined member and its sponsor', (t) => {
  const v = replay(history(...cluster));
  t.deepEqual(findingsFor(v, NODE_1), []);
  t.deepEqual(findingsFor(v, NODE_2), []);
  t.deepEqual(allFindings(v), []);
});

test('no findings: a member waiting to join, before and after a start refused NoWrappedCopy', (t) => {
  const waiting = [...founder, configRead(NODE_2), keyPairIssued(NODE_2, TP_2), publicKeyStored(NODE_2, TP_2)];
  t.deepEqual(findingsFor(replay(history(...waiting)), NODE_2), []);
  t.deepEqual(findingsFor(replay(history(...waiting, refused(NODE_2, { _tag: 'NoWrappedCopy', keyVersion: V1 }))), NODE_2), []);
});

test('no findings: an unknown installation, or one known only from its config', (t) => {
  t.deepEqual(findingsFor(initialActivationView, NODE_1), []);
  t.deepEqual(findingsFor(replay(history(configRead(NODE_1))), NODE_1), []);
});

const otherRefusals: ReadonlyArray<RefusalReason> = [
  { _tag: 'KeystoreUnavailable', keystorePath: '/k', problem: 'unreadable', detail: 'permissions 644 are too open' },
  { _tag: 'ConfigurationChanged', field: 'instanceName', recorded: 'MSSQLSERVER', presented: 'SSRS' },
  { _tag: 'ServiceIdentityChanged', recordedIdentity: IDENTITY, presentedIdentity: NEW_IDENTITY },
  { _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: NODE_1, keystoreInstallationId: NODE_2 },
  { _tag: 'UnwrapFailed', keyVersion: V1, thumbprint: TP_1, detail: 'bad tag' },
  { _tag: 'KeyCheckMismatch', keyVersion: V1 },
  { _tag: 'NoWrappedCopy', keyVersion: V1 },
  { _tag: 'NoMemberHoldsKey', keyVersion: V1 },
  { _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT },
];
for (const reason of otherRefusals) {
  const detail = `${'field' in reason ? ` (${reason.field})` : ''}${'problem' in reason ? ` (${reason.problem})` : ''}`;
  test(`no findings: a refusal ${reason._tag}${detail} is none of the finding kinds`, (t) => {
    t.deepEqual(findingsFor(replay(history(...founder, refused(NODE_1, reason))), NODE_1), []);
  });
}

test('a refusal produces only its own finding kind', (t) => {
  const kinds = (reason: RefusalReason): ReadonlyArray<string> => findingsFor(replay(history(...founder, refused(NODE_1, reason))), NODE_1).map((f) => f.kind);
  t.deepEqual(kinds({ _tag: 'PublicKeyMismatch', heldThumbprint: TP_X, storedThumbprint: TP_1, storedIn: 'deployment' }), ['ForeignPublicKey']);
  t.deepEqual(kinds({ _tag: 'WrappedCopyForOtherKey', keyVersion: V1, copyThumbprint: TP_1, heldThumbprint: TP_X }), ['CopyForKeyNoLongerHeld']);
  t.deepEqual(kinds({ _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-NODE-2' }), [
    'InstallationClaimedByTwoMachines',
  ]);
  t.deepEqual(kinds({ _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 }), []); // the view shows no newer key: no StaleCopy from the refusal alone
});

// ─── allFindings ──────────────────────────────────────────────────────────

test('allFindings: every instance with its findings, instance by instance', (t) => {
  const events = history(
    ...cluster,
    refused(NODE_1, { _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-ALPHA' }),
    removed(NODE_2, TP_2, V1),
    refused(NODE_2, { _tag: 'InstanceRemoved', installationId: NODE_2, revokedThumbprint: TP_2 }),
  );
  const v = replay(events);
  t.deepEqual(allFindings(v), [...findingsWithRemedies(v, NODE_1), ...findingsWithRemedies(v, NODE_2)]);
  t.deepEqual(
    allFindings(v).map((f) => [f.installationId, f.kind, f.events.map((e) => e.position)]),
    [
      [NODE_1, 'InstallationClaimedByTwoMachines', ['0/0', '10/10']],
      [NODE_2, 'RemovedMemberHoldsKey', ['3/3', '11/11']],
      [NODE_2, 'RemovedInstanceStarting', ['11/11', '12/12']],
    ],
  );
});

// ─── Activation status: removed ───────────────────────────────────────────

test("instanceStatus 'removed': since the removal, naming the revoked key", (t) => {
  const events = history(...cluster, removed(NODE_2, TP_2, V1));
  const v = replay(events);
  t.deepEqual(statusOf(v, NODE_2), { state: 'removed', since: refAt(events[10]), revokedThumbprint: TP_2 });
  t.deepEqual(statusOf(v, NODE_1), { state: 'activated', keyVersion: 1, since: refAt(events[4]) });
  t.deepEqual(v.deployments[DEPLOYMENT]!.removed, {
    [NODE_2]: { thumbprint: TP_2, machineName: 'RS-NODE-2', instanceName: 'MSSQLSERVER', at: refAt(events[10]), revokedKeyVersion: 1 },
  });
  t.deepEqual(Object.keys(v.deployments[DEPLOYMENT]!.registered), [NODE_1]);
  t.deepEqual(Object.keys(v.deployments[DEPLOYMENT]!.copies), [NODE_1]);
});

test("instanceStatus 'removed': a later start refused InstanceRemoved keeps it removed, since the removal", (t) => {
  const events = history(...cluster, removed(NODE_2, TP_2, V1), refused(NODE_2, { _tag: 'InstanceRemoved', installationId: NODE_2, revokedThumbprint: TP_2 }));
  t.deepEqual(statusOf(replay(events), NODE_2), { state: 'removed', since: refAt(events[10]), revokedThumbprint: TP_2 });
});

test("instanceStatus 'removed': a member removed while waiting to join", (t) => {
  const events = history(...founder, configRead(NODE_2), keyPairIssued(NODE_2, TP_2), publicKeyStored(NODE_2, TP_2), removed(NODE_2, TP_2, null));
  t.deepEqual(statusOf(replay(events), NODE_2), { state: 'removed', since: refAt(events[8]), revokedThumbprint: TP_2 });
});

test("instanceStatus: a rejoin, a join and a successful activation supersede 'removed'", (t) => {
  const events = history(
    ...cluster,
    removed(NODE_2, TP_2, V1),
    refused(NODE_2, { _tag: 'InstanceRemoved', installationId: NODE_2, revokedThumbprint: TP_2 }),
    publicKeyStored(NODE_2, TP_2),
    keyWrapped(NODE_2, TP_2),
    activated(NODE_2, TP_2),
  );
  const v = replay(events);
  t.deepEqual(statusOf(v, NODE_2), { state: 'activated', keyVersion: 1, since: refAt(events[14]) });
  t.deepEqual(v.deployments[DEPLOYMENT]!.removed, {});
  t.deepEqual(findingsFor(v, NODE_2), []);
});

test('instanceStatus: rejoined after a refused start (init --rejoin), not yet joined: waiting-to-join, no RemovedInstanceStarting', (t) => {
  // init --rejoin records PublicKeyStored and then, finding NoWrappedCopy, stops without recording a refusal
  const events = history(
    ...cluster,
    removed(NODE_2, TP_2, V1),
    refused(NODE_2, { _tag: 'InstanceRemoved', installationId: NODE_2, revokedThumbprint: TP_2 }),
    publicKeyStored(NODE_2, TP_2),
  );
  const v = replay(events);
  t.deepEqual(statusOf(v, NODE_2), { state: 'waiting-to-join', completedSteps: 3, keyVersion: 1 });
  t.deepEqual(findingsFor(v, NODE_2), []);
});

test('instanceStatus: rejoined without a start in between, not yet joined: waiting-to-join, not the activation from before the removal', (t) => {
  const events = history(...cluster, removed(NODE_2, TP_2, V1), publicKeyStored(NODE_2, TP_2));
  t.deepEqual(statusOf(replay(events), NODE_2), { state: 'waiting-to-join', completedSteps: 3, keyVersion: 1 });
});

// ─── isAfter ──────────────────────────────────────────────────────────────

const ref = (position: string): EventRef => ({ stream: DSTREAM, revision: '0', position, occurredAt: '2026-11-28T12:00:00.000Z', actor: 'operator@test' });

test('isAfter: by commit, then by prepare position', (t) => {
  t.true(isAfter(ref('2/2'), ref('1/1')));
  t.false(isAfter(ref('1/1'), ref('2/2')));
  t.true(isAfter(ref('5/7'), ref('5/6')));
  t.false(isAfter(ref('5/6'), ref('5/7')));
  t.true(isAfter(ref('6/0'), ref('5/9')));
});

test('isAfter: an event is not after itself', (t) => {
  t.false(isAfter(ref('3/3'), ref('3/3')));
});

test('isAfter: positions compare as numbers, not as strings, beyond 2^53', (t) => {
  t.true(isAfter(ref('10/10'), ref('9/9')));
  t.false(isAfter(ref('9/9'), ref('10/10')));
  t.true(isAfter(ref('9007199254740993/0'), ref('9007199254740992/0')));
  t.false(isAfter(ref('9007199254740992/0'), ref('9007199254740993/0')));
});

test('isAfter: an unreadable position is after nothing and nothing is after it', (t) => {
  t.false(isAfter(ref('not-a-position'), ref('1/1')));
  t.false(isAfter(ref('1/1'), ref('not-a-position')));
  t.false(isAfter(ref(''), ref('')));
});

test('isAfter: the events of a replayed history, in their global order', (t) => {
  const events = history(...founder);
  t.true(isAfter(refAt(events[3]), refAt(events[1])));
  t.false(isAfter(refAt(events[1]), refAt(events[3])));
});
