/**
 * The diagnosis as a pure fold: for every refusal reason the start check can record, the step it sends the operator
 * back to (a table written here, one line per reason: a new reason does not compile until it has one), the steps'
 * marks, where it stopped, and the remedy — the one `status` gives; the event classes cover every event type; the
 * ledger as it was at a time or position.
 */
import test from 'ava';
import { EVENT_CLASSES, EVENT_TYPES, names, summaryOf } from '../../src/domain/event-classes';
import { LedgerEvent, type RefusalReason } from '../../src/domain/events';
import { instanceStream } from '../../src/domain/ids';
import { stepOfRefusal } from '../../src/domain/refusal';
import { diagnoseInstance } from '../../src/projections/diagnosis';
import { instanceStatus } from '../../src/projections/status';
import { eventsAt } from '../../src/projections/timeline';
import { aBasis, cluster, DEPLOYMENT, history, KEYSTORE, NODE_1, NODE_2, replay, TP_1, TP_2, TP_X, V1, V2 } from '../support/domain-builders';

type Case<K extends RefusalReason['_tag']> = { readonly reason: Extract<RefusalReason, { _tag: K }>; readonly step: 1 | 2 | 3 | 4 };

/** Every refusal reason, with the initialization step it is about (the config 1, the key pair 2, the registration 3, the copy 4). */
const CASES: { readonly [K in RefusalReason['_tag']]: Case<K> } = {
  KeystoreUnavailable: { reason: { _tag: 'KeystoreUnavailable', keystorePath: KEYSTORE, problem: 'missing', detail: 'no keystore file' }, step: 2 },
  KeystoreBelongsToOtherInstallation: {
    reason: { _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: NODE_2, keystoreInstallationId: NODE_1 },
    step: 2,
  },
  InstallationNotRegistered: { reason: { _tag: 'InstallationNotRegistered', installationId: NODE_2, keystoreInstallationId: NODE_2 }, step: 3 },
  PublicKeyMismatch: { reason: { _tag: 'PublicKeyMismatch', heldThumbprint: TP_X, storedThumbprint: TP_2, storedIn: 'deployment' }, step: 3 },
  ServiceIdentityChanged: { reason: { _tag: 'ServiceIdentityChanged', recordedIdentity: 'svc-old', presentedIdentity: 'svc-new' }, step: 2 },
  ConfigurationChanged: { reason: { _tag: 'ConfigurationChanged', field: 'instanceName', recorded: 'MSSQLSERVER', presented: 'RS2' }, step: 1 },
  NoSymmetricKey: { reason: { _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT }, step: 4 },
  NoWrappedCopy: { reason: { _tag: 'NoWrappedCopy', keyVersion: V1 }, step: 4 },
  WrappedCopyForOtherKey: { reason: { _tag: 'WrappedCopyForOtherKey', keyVersion: V1, copyThumbprint: TP_1, heldThumbprint: TP_2 }, step: 4 },
  UnwrapFailed: { reason: { _tag: 'UnwrapFailed', keyVersion: V1, thumbprint: TP_2, detail: 'not encrypted for this private key' }, step: 4 },
  KeyCheckMismatch: { reason: { _tag: 'KeyCheckMismatch', keyVersion: V1 }, step: 4 },
  InstanceRemoved: { reason: { _tag: 'InstanceRemoved', installationId: NODE_2, revokedThumbprint: TP_2 }, step: 3 },
  StaleWrappedCopy: { reason: { _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 }, step: 4 },
  NoMemberHoldsKey: { reason: { _tag: 'NoMemberHoldsKey', keyVersion: V1 }, step: 4 },
  KeyNotThePinnedKey: { reason: { _tag: 'KeyNotThePinnedKey', keyVersion: V1, pinnedKeyCheck: 'a', ledgerKeyCheck: 'b' }, step: 4 },
  DeploymentNotSigned: { reason: { _tag: 'DeploymentNotSigned', deploymentId: DEPLOYMENT }, step: 4 },
  GenesisNotPinned: { reason: { _tag: 'GenesisNotPinned', pinnedGenesis: TP_1, ledgerGenesis: TP_X }, step: 4 },
  UntrustedKeyEvent: { reason: { _tag: 'UntrustedKeyEvent', keyVersion: V1, problem: 'copy-not-certified', revision: '3' }, step: 4 },
  ContentDeleted: { reason: { _tag: 'ContentDeleted', keyVersions: [V1], deletedBy: NODE_1 }, step: 4 },
};

for (const [tag, c] of Object.entries(CASES) as Array<[string, Case<RefusalReason['_tag']>]>)
  test(`diagnosis of a refusal ${tag}: step ${c.step} and step 5 failed at the refusal, the rest done; status's remedy`, (t) => {
    t.is(stepOfRefusal(c.reason), c.step);
    const events = history(...cluster, {
      type: 'InstanceActivationRefused',
      data: { installationId: NODE_2, deploymentId: DEPLOYMENT, reason: c.reason, basis: aBasis(NODE_2, TP_2, 3) },
    });
    const refusal = events.at(-1)!;
    const d = diagnoseInstance(NODE_2, events);
    const at = { stream: instanceStream(NODE_2), revision: refusal.revision.toString(), position: '10/10', occurredAt: refusal.metadata.occurredAt };
    t.like(d.stop, { step: c.step, mark: 'failed', at });
    t.deepEqual(
      d.steps.map((s) => s.mark),
      [1, 2, 3, 4, 5].map((s) => (s === c.step || s === 5 ? 'failed' : 'done')),
    );
    t.is(d.steps[c.step - 1]!.note, `the start check refused: ${tag}`);
    const status = instanceStatus(replay(events), NODE_2);
    t.is(status.state, 'disabled');
    t.deepEqual(d.remedy, status.state === 'disabled' ? status.remedy : null, 'the remedy status gives');
    t.like(d.timeline.at(-1), { type: 'InstanceActivationRefused', mark: 'failed', step: 5, at: { correlationId: 'corr', command: 'test' } });
    t.deepEqual(d.evidence.machine, {
      presented: 'RS-NODE-2',
      stored: 'RS-NODE-2',
      host: 'host-of-rs-node-2',
      keystorePath: aBasis(NODE_2, TP_2, 3).keystorePath,
    });
    t.is(d.evidence.thumbprint.presented, TP_2);
  });

test('the event classes cover exactly the event codecs, and name who each event is about', (t) => {
  t.deepEqual([...EVENT_TYPES].sort(), LedgerEvent.types.map((c) => c.props.type.value).sort());
  const events = history(...cluster);
  const wrap = events.find((e) => e.event.type === 'SymmetricKeyWrapped')!;
  t.deepEqual(EVENT_CLASSES.SymmetricKeyWrapped.subjects(wrap.event.data as never), [NODE_2, NODE_1]);
  t.true(names(wrap.event, NODE_1.toUpperCase()));
  t.regex(summaryOf(wrap.event), new RegExp(`key version 1 wrapped for ${NODE_2} \\(key ${TP_2}\\) by ${NODE_1}`));
  t.true(EVENT_TYPES.every((type) => EVENT_CLASSES[type].category.length > 0));
  t.deepEqual(
    EVENT_TYPES.filter((type) => !EVENT_CLASSES[type].keyEvent),
    ['SecretPut', 'SecretDeleted', 'SecretRead', 'SecretReadsCounted', 'SecretsReencrypted', 'SecretsDestroyed'],
  );
});

test('the ledger as it was: by position (both parts, or the commit alone), by time (each stream cut at its first later event)', (t) => {
  const events = history(...cluster);
  const pos = (commit: number) => ({ commit: BigInt(commit), prepare: BigInt(commit) });
  t.is(eventsAt(events, { kind: 'position', position: pos(4), commitOnly: false }).length, 5);
  t.is(eventsAt(events, { kind: 'position', position: pos(7), commitOnly: true }).length, 8);
  const t3 = Date.parse(events[3]!.metadata.occurredAt);
  t.deepEqual(
    eventsAt(events, { kind: 'time', iso: new Date(t3).toISOString(), ms: t3 }).map((e) => e.event.type),
    events.slice(0, 4).map((e) => e.event.type),
  );
  const d = diagnoseInstance(NODE_2, eventsAt(events, { kind: 'position', position: pos(7), commitOnly: false }));
  t.is(d.status.state, 'waiting-to-join');
  t.deepEqual(d.stop, { step: 4, mark: 'missing', at: null });
  t.deepEqual(
    d.steps.map((s) => s.mark),
    ['done', 'done', 'done', 'missing', 'missing'],
  );
});
