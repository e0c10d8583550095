/**
 * The compliance report's read model and findings (src/projections/report-model.ts, report-findings.ts), on replayed
 * histories whose recorded times are set per event: each policy finding present when it should be and absent when
 * not, the period's bounds, membership changes, the exhaustive classification of event types, and the verdict.
 */
import test from 'ava';
import type { StoredEvent } from '../../src/domain/envelope';
import { type EventOf, LedgerEvent } from '../../src/domain/events';
import type { IsoDate, KeyVersion } from '../../src/domain/ids';
import type { Duration, ReportPolicy } from '../../src/domain/report-policy';
import { EVENT_CLASSES, type Operation } from '../../src/projections/report-events';
import { type IntegritySection, reportFindings, verdictOf } from '../../src/projections/report-findings';
import { type ReportModel, reportFold } from '../../src/projections/report-model';
import {
  activated,
  cluster,
  configRead,
  DEPLOYMENT,
  founder,
  history,
  identityChanged,
  keyCreated,
  keyPairIssued,
  keyWrapped,
  NODE_1,
  NODE_2,
  NODE_3,
  publicKeyStored,
  refused,
  removed,
  TP_1,
  TP_2,
  TP_3,
  TP_X,
  V1,
  V2,
} from '../support/domain-builders';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

/** The events replayed, the n-th recorded at T0 + n days (so ages are whole days). */
const daily = (...events: ReadonlyArray<EventOf<LedgerEvent['type']>>): StoredEvent[] =>
  history(...events).map((e, n) => ({ ...e, metadata: { ...e.metadata, occurredAt: iso(T0 + n * DAY) as IsoDate } }));

const modelOf = (events: ReadonlyArray<StoredEvent>, to: number, from: number | null = null): ReportModel => {
  const fold = reportFold(DEPLOYMENT, { from: from === null ? null : iso(from), to: iso(to) });
  for (const e of events) fold.apply(e);
  return fold.end();
};

const POLICY: ReportPolicy = { maxKeyAge: null, maxBackupAge: null, requireBackup: false, trust: null };
const CLEAN: IntegritySection = { events: 0, heads: {}, hashProblems: [], signatures: { status: 'not-anchored' } };
const kinds = (m: ReportModel, policy: Partial<ReportPolicy> = {}, integrity: IntegritySection = CLEAN): string[] =>
  reportFindings(m, { ...POLICY, ...policy }, integrity).map((f) => f.kind);

const backedUp = (keyVersion: KeyVersion): EventOf<'KeyBackedUp'> => ({
  type: 'KeyBackedUp',
  data: {
    deploymentId: DEPLOYMENT,
    backedUpBy: NODE_1,
    keyVersion,
    fingerprint: 'f'.repeat(43) as never,
    iterations: 600_000 as never,
    genesisThumbprint: null,
  },
});

test('every event type is classified (a new type does not compile until it is), and each class is one the report knows', (t) => {
  const types = LedgerEvent.types.map((c) => c.props.type.value).sort();
  t.deepEqual(Object.keys(EVENT_CLASSES).sort(), types);
  for (const c of Object.values(EVENT_CLASSES)) t.true(['key-operation', 'start-check', 'content', 'content-deletion'].includes(c.class));
});

test('KeyTooOld: present when the current key version is older than maxKeyAge at the end of the period, absent when younger or not asked', (t) => {
  const events = daily(...cluster); // the key is created on day 3
  const created = T0 + 3 * DAY;
  t.deepEqual(kinds(modelOf(events, created + 91 * DAY), { maxKeyAge: '90d' as Duration }), ['KeyTooOld']);
  t.deepEqual(kinds(modelOf(events, created + 89 * DAY), { maxKeyAge: '90d' as Duration }), []);
  t.deepEqual(kinds(modelOf(events, created + 400 * DAY)), [], 'no maxKeyAge: not checked');
  const f = reportFindings(modelOf(events, created + 100 * DAY), { ...POLICY, maxKeyAge: '12w' as Duration }, CLEAN)[0]!;
  t.like(f, { kind: 'KeyTooOld', evidence: { keyVersion: 1, ageDays: 100, maxKeyAge: '12w', createdAt: iso(created) } });
  t.deepEqual(f.remedy?._tag === 'Run' ? f.remedy.steps.map((s) => s.args) : [], [['recreate']]);
  // A re-created key (version 2 on day 10) is what its age is measured from.
  const recreated = daily(...cluster, keyCreated(NODE_1, TP_1, V2), keyWrapped(NODE_2, TP_2, V2), activated(NODE_1, TP_1, V2), activated(NODE_2, TP_2, V2));
  t.deepEqual(kinds(modelOf(recreated, created + 91 * DAY), { maxKeyAge: '90d' as Duration }), []);
});

test('NoBackupOfCurrentKey: present until the current version is backed up; a backup of an older version does not count after a re-creation', (t) => {
  const to = T0 + 30 * DAY;
  t.deepEqual(kinds(modelOf(daily(...founder), to), { requireBackup: true }), ['NoBackupOfCurrentKey']);
  t.deepEqual(kinds(modelOf(daily(...founder), to)), [], 'not required, no maximum age: not checked');
  t.deepEqual(kinds(modelOf(daily(...founder, backedUp(V1)), to), { requireBackup: true }), []);
  const recreated = daily(...founder, backedUp(V1), keyCreated(NODE_1, TP_1, V2), activated(NODE_1, TP_1, V2));
  t.deepEqual(kinds(modelOf(recreated, to), { requireBackup: true }), ['NoBackupOfCurrentKey']);
  t.like(reportFindings(modelOf(recreated, to), { ...POLICY, requireBackup: true }, CLEAN)[0], { evidence: { keyVersion: 2 } });
  // A backup recorded after the end of the period does not count for it.
  t.deepEqual(kinds(modelOf(daily(...founder, backedUp(V1)), T0 + 4 * DAY), { requireBackup: true }), ['NoBackupOfCurrentKey']);
});

test('BackupTooOld: present when the newest backup of the current version is older than maxBackupAge, absent when younger', (t) => {
  const events = daily(...founder, backedUp(V1)); // backed up on day 5
  t.deepEqual(kinds(modelOf(events, T0 + 36 * DAY), { maxBackupAge: '30d' as Duration }), ['BackupTooOld']);
  t.deepEqual(kinds(modelOf(events, T0 + 34 * DAY), { maxBackupAge: '30d' as Duration }), []);
  t.like(reportFindings(modelOf(events, T0 + 36 * DAY), { ...POLICY, maxBackupAge: '30d' as Duration }, CLEAN)[0], {
    evidence: { keyVersion: 1, ageDays: 31, backedUpAt: iso(T0 + 5 * DAY) },
  });
  t.deepEqual(kinds(modelOf(daily(...founder), T0 + 10 * DAY), { maxBackupAge: '30d' as Duration }), ['NoBackupOfCurrentKey'], 'never backed up at all');
});

test('RemovedMemberHoldsKey: present after a member holding the current version is removed, gone once the key is re-created', (t) => {
  const afterRemoval = daily(...cluster, removed(NODE_2, TP_2, V1));
  t.deepEqual(kinds(modelOf(afterRemoval, T0 + 20 * DAY)), ['RemovedMemberHoldsKey']);
  t.deepEqual(kinds(modelOf(daily(...cluster, removed(NODE_2, TP_2, V1), keyCreated(NODE_1, TP_1, V2), activated(NODE_1, TP_1, V2)), T0 + 20 * DAY)), []);
  t.deepEqual(kinds(modelOf(afterRemoval, T0 + 9 * DAY)), [], 'at the end of a period before the removal: nothing');
});

test('InstanceDisabled and InstanceNotActivated: members that are not activated at the end of the period; a removed one is not a finding', (t) => {
  const disabled = daily(...cluster, refused(NODE_2, { _tag: 'ServiceIdentityChanged', recordedIdentity: 'a', presentedIdentity: 'b' }));
  const f = reportFindings(modelOf(disabled, T0 + 20 * DAY), POLICY, CLEAN);
  t.deepEqual(
    f.map((x) => x.kind),
    ['InstanceDisabled'],
  );
  t.like(f[0], { installationId: NODE_2, evidence: { reason: 'ServiceIdentityChanged', code: 'rsKeyStateNotValid' } });
  const waiting = daily(...founder, configRead(NODE_3), keyPairIssued(NODE_3, TP_3), publicKeyStored(NODE_3, TP_3));
  t.like(reportFindings(modelOf(waiting, T0 + 20 * DAY), POLICY, CLEAN)[0], {
    kind: 'InstanceNotActivated',
    installationId: NODE_3,
    evidence: { state: 'waiting-to-join', completedSteps: 3 },
  });
  t.deepEqual(
    kinds(
      modelOf(
        daily(...founder, configRead(NODE_3), keyPairIssued(NODE_3, TP_3), publicKeyStored(NODE_3, TP_3), keyWrapped(NODE_3, TP_3), activated(NODE_3, TP_3)),
        T0 + 20 * DAY,
      ),
    ),
    [],
  );
  t.deepEqual(kinds(modelOf(daily(...cluster, removed(NODE_2, TP_2, null)), T0 + 20 * DAY)), [], 'removed holding no copy: no finding at all');
});

test('open mismatch findings are those status shows: a foreign public key presented for an installation', (t) => {
  const foreign = daily(...cluster, refused(NODE_2, { _tag: 'PublicKeyMismatch', heldThumbprint: TP_X, storedThumbprint: TP_2, storedIn: 'deployment' }));
  t.deepEqual(kinds(modelOf(foreign, T0 + 20 * DAY)), ['InstanceDisabled', 'ForeignPublicKey']);
});

test('ContentDeleted: each operation classed content-deletion in the period is a finding, with no remedy (a record to know of)', (t) => {
  const m = modelOf(daily(...founder), T0 + 20 * DAY);
  const deletion: Operation = {
    ...m.operations[0]!,
    type: 'EncryptedContentDeleted',
    class: 'content-deletion',
    label: 'encrypted content deleted',
    details: { secrets: 12 },
  };
  const f = reportFindings({ ...m, operations: [...m.operations, deletion] }, POLICY, CLEAN);
  t.deepEqual(
    f.map((x) => x.kind),
    ['ContentDeleted'],
  );
  t.like(f[0], { remedy: null, evidence: { type: 'EncryptedContentDeleted', secrets: 12 } });
  t.deepEqual(kinds(m), []);
});

test('the period: events before it are folded but not listed; events after it are neither folded nor listed', (t) => {
  const events = daily(...cluster, removed(NODE_2, TP_2, V1));
  const m = modelOf(events, T0 + 9 * DAY, T0 + 5 * DAY); // days 5–9: NODE_2's own five events
  t.deepEqual(
    m.operations.map((o) => o.type),
    ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored', 'SymmetricKeyWrapped', 'InstanceActivated'],
  );
  t.like(m.counts, { beforePeriod: 5, inPeriod: 5, afterPeriod: 1 });
  t.is(m.membersAtStart, 1);
  t.deepEqual(
    m.membershipChanges.map((c) => [c.change, c.installationId]),
    [
      ['registered', NODE_2],
      ['joined', NODE_2],
    ],
  );
  t.is(m.view.deployments[DEPLOYMENT]?.registered[NODE_2] !== undefined, true, 'the removal after the period is not folded');
});

test('membership changes: registered, joined, identity changed, left; start checks listed only when they change the state', (t) => {
  const events = daily(
    ...cluster,
    activated(NODE_2, TP_2),
    activated(NODE_2, TP_2),
    identityChanged(NODE_2, TP_2, TP_X),
    refused(NODE_2, { _tag: 'NoWrappedCopy', keyVersion: V1 }),
    removed(NODE_2, TP_X, V1),
  );
  const m = modelOf(events, T0 + 30 * DAY);
  t.deepEqual(
    m.membershipChanges.map((c) => `${c.change} ${c.installationId === NODE_1 ? 1 : 2}`),
    ['registered 1', 'joined 1', 'registered 2', 'joined 2', 'identity-changed 2', 'left 2'],
  );
  t.like(m.membershipChanges[4], { details: { previousIdentity: 'NT SERVICE\\ReportServer', serviceIdentity: 'CONTOSO\\svc-reports' } });
  const checks = m.operations.filter((o) => o.class === 'start-check').map((o) => `${o.type} ${o.installationId === NODE_1 ? 1 : 2}`);
  t.deepEqual(checks, ['InstanceActivated 1', 'InstanceActivated 2', 'InstanceActivationRefused 2'], 'the two repeated activations are not listed');
  t.is(m.counts.byType.InstanceActivated, 4);
  const wrap = m.operations.find((o) => o.type === 'SymmetricKeyWrapped')!;
  t.like(wrap, { installationId: NODE_2, machineName: 'RS-NODE-2', keyVersion: 1, thumbprints: { recipientThumbprint: TP_2, wrappedByThumbprint: TP_1 } });
});

test('the verdict: clean, findings, or tampered when the integrity section found a problem or the anchor is not the root of trust', (t) => {
  const m = modelOf(daily(...cluster), T0 + 20 * DAY);
  t.is(verdictOf(reportFindings(m, POLICY, CLEAN)), 'clean');
  t.is(verdictOf(reportFindings(m, { ...POLICY, requireBackup: true }, CLEAN)), 'findings');
  const broken: IntegritySection = { ...CLEAN, hashProblems: [{ stream: 's', revision: '3', eventType: 'X', problem: 'its content does not match its hash' }] };
  t.deepEqual(kinds(m, {}, broken), ['HashChainBroken']);
  t.is(verdictOf(reportFindings(m, POLICY, broken)), 'tampered');
  const mismatch: IntegritySection = {
    ...CLEAN,
    signatures: {
      status: 'anchor-mismatch',
      anchor: TP_X,
      ledgerGenesis: { installationId: NODE_1, thumbprint: TP_1, revision: '1', declared: false },
      checked: 10,
      signed: 0,
      verified: 0,
      unsignedKeyEvents: 0,
      unsignedInstanceEvents: 0,
      problems: [],
    },
  };
  t.deepEqual(kinds(m, {}, mismatch), ['TrustAnchorMismatch']);
  t.is(verdictOf(reportFindings(m, POLICY, mismatch)), 'tampered');
});
