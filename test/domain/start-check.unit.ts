/**
 * The start check: every refusal reason checkBeforeUnwrap / checkAfterUnwrap
 * can give, the plan it gives when nothing is wrong, and how explainRefusal
 * puts each reason to an operator (with the evidence in it).
 */
import { createHash } from 'node:crypto';
import { remedyFor, remedyText } from '../../src/domain/remedy';
import test from 'ava';
import * as E from 'fp-ts/Either';
import type { RefusalReason } from '../../src/domain/events';
import type { InstallationId, NonEmptyString, Thumbprint } from '../../src/domain/ids';
import { initialInstanceState } from '../../src/domain/instance/decider';
import { explainRefusal, refusalLine } from '../../src/domain/refusal';
import { checkAfterUnwrap, checkBeforeUnwrap, type HeldKey, type UnwrapPlan } from '../../src/domain/start-check';
import {
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
  TP_1 as TP,
  TP_2 as TP_OTHER,
  V1,
  V2,
  type WrappedBy,
} from '../support/domain-builders';

/** The thumbprint a remedy's join names (the instance's own key pair). */
const TP_REMEDY = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
// ─── Test data ────────────────────────────────────────────────────────────

const { config, configRead, keyPairIssued } = anInstance(ID, TP);
const initialized = instanceAfter([configRead, keyPairIssued]);
const complete = deploymentAfter([stored(ID, TP), keyCreated(ID, TP)]);
/** OTHER_ID wraps the copies for the others. */
const BY_OTHER: WrappedBy = { by: OTHER_ID, byThumbprint: TP_OTHER };

const held = (installationId: InstallationId = ID, thumbprint: Thumbprint = TP): HeldKey => ({ _tag: 'Held', installationId, thumbprint });
const problem = (p: 'missing' | 'unreadable' | 'locked' | 'corrupt', detail: string, keystoreInstallationId: InstallationId | null = null): HeldKey => ({
  _tag: 'KeystoreProblem',
  keystorePath: KEYSTORE,
  problem: p,
  detail,
  keystoreInstallationId,
});

const plan: UnwrapPlan = { keyVersion: V1, copy: { keyVersion: V1, copy: copyFor(ID, TP) }, expectedKeyCheck: KEY_CHECK, thumbprint: TP };

// ─── checkBeforeUnwrap ────────────────────────────────────────────────────

test('happy path: registered, key pair matches, copy for the held key → the unwrap plan', (t) => {
  t.deepEqual(checkBeforeUnwrap(initialized, complete, config, held()), E.right(plan));
});

test('happy path: a member that joined (copy wrapped for it) gets the plan for its copy', (t) => {
  const d = deploymentAfter([stored(OTHER_ID, TP_OTHER), keyCreated(OTHER_ID, TP_OTHER), stored(ID, TP), keyWrapped(ID, TP, V1, BY_OTHER)]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, held()), E.right(plan));
});

test('InstallationNotRegistered: nothing recorded for this installation, no keystore header', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialInstanceState, complete, config, problem('missing', 'no keystore file')),
    E.left({ _tag: 'InstallationNotRegistered', installationId: ID, keystoreInstallationId: null }),
  );
});

test('KeystoreBelongsToOtherInstallation: nothing recorded, the keystore names another installation (an edited installation ID)', (t) => {
  const presented = { ...config, installationId: OTHER_ID };
  t.deepEqual(
    checkBeforeUnwrap(initialInstanceState, complete, presented, held(ID, TP)),
    E.left({ _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: OTHER_ID, keystoreInstallationId: ID }),
  );
  t.deepEqual(
    checkBeforeUnwrap(initialInstanceState, complete, presented, problem('locked', `the keystore was issued to installation ${ID}`, ID)),
    E.left({ _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: OTHER_ID, keystoreInstallationId: ID }),
  );
});

test('InstallationNotRegistered: configured with a key pair but not in the deployment', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, deploymentAfter([stored(OTHER_ID, TP_OTHER)]), config, held()),
    E.left({ _tag: 'InstallationNotRegistered', installationId: ID, keystoreInstallationId: ID }),
  );
});

test('ServiceIdentityChanged: the service identity differs from the recorded one', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, complete, { ...config, serviceIdentity: 'CONTOSO\\svc-reports' as NonEmptyString }, held()),
    E.left({ _tag: 'ServiceIdentityChanged', recordedIdentity: 'NT SERVICE\\ReportServer', presentedIdentity: 'CONTOSO\\svc-reports' }),
  );
});

test('ConfigurationChanged: another recorded field differs (machine name)', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, complete, { ...config, machineName: 'RS-NODE-2' as NonEmptyString }, held()),
    E.left({ _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-NODE-2' }),
  );
});

for (const p of ['missing', 'unreadable', 'locked', 'corrupt'] as const) {
  test(`KeystoreUnavailable: the keystore is ${p}`, (t) => {
    const detail = `detail for ${p}`;
    t.deepEqual(
      checkBeforeUnwrap(initialized, complete, config, problem(p, detail, p === 'missing' ? null : ID)),
      E.left({ _tag: 'KeystoreUnavailable', keystorePath: KEYSTORE, problem: p, detail }),
    );
  });
}

test('KeystoreBelongsToOtherInstallation: the keystore holds a key for another installation', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, complete, config, held(OTHER_ID, TP_OTHER)),
    E.left({ _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: ID, keystoreInstallationId: OTHER_ID }),
  );
});

test('KeystoreBelongsToOtherInstallation: the keystore cannot be opened and its header names another installation', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, complete, config, problem('locked', `the keystore was issued to installation ${OTHER_ID}`, OTHER_ID)),
    E.left({ _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: ID, keystoreInstallationId: OTHER_ID }),
  );
});

test('PublicKeyMismatch storedIn instance: the held key is not the one issued to this instance', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, complete, config, held(ID, TP_OTHER)),
    E.left({ _tag: 'PublicKeyMismatch', heldThumbprint: TP_OTHER, storedThumbprint: TP, storedIn: 'instance' }),
  );
});

test('PublicKeyMismatch storedIn deployment: the deployment registered another key for this installation', (t) => {
  t.deepEqual(
    checkBeforeUnwrap(initialized, deploymentAfter([stored(ID, TP_OTHER)]), config, held()),
    E.left({ _tag: 'PublicKeyMismatch', heldThumbprint: TP, storedThumbprint: TP_OTHER, storedIn: 'deployment' }),
  );
});

test('NoSymmetricKey: registered, but the deployment has no symmetric key yet', (t) => {
  t.deepEqual(checkBeforeUnwrap(initialized, deploymentAfter([stored(ID, TP)]), config, held()), E.left({ _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT }));
});

test('NoWrappedCopy: a key exists but no copy was wrapped for this instance (waiting to join)', (t) => {
  const d = deploymentAfter([stored(OTHER_ID, TP_OTHER), keyCreated(OTHER_ID, TP_OTHER), stored(ID, TP)]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, held()), E.left({ _tag: 'NoWrappedCopy', keyVersion: V1 }));
});

test('StaleWrappedCopy: this instance holds only a copy of an older key version', (t) => {
  const d = deploymentAfter([stored(OTHER_ID, TP_OTHER), stored(ID, TP), keyWrapped(ID, TP, V1, BY_OTHER), keyCreated(OTHER_ID, TP_OTHER, V2)]);
  t.deepEqual(checkBeforeUnwrap(initialized, d, config, held()), E.left({ _tag: 'StaleWrappedCopy', heldVersion: V1, currentVersion: V2 }));
});

test('WrappedCopyForOtherKey: the copy for this installation was wrapped for another public key', (t) => {
  const d = deploymentAfter([stored(OTHER_ID, TP_OTHER), keyCreated(OTHER_ID, TP_OTHER), stored(ID, TP), keyWrapped(ID, TP_OTHER, V1, BY_OTHER)]);
  t.deepEqual(
    checkBeforeUnwrap(initialized, d, config, held()),
    E.left({ _tag: 'WrappedCopyForOtherKey', keyVersion: V1, copyThumbprint: TP_OTHER, heldThumbprint: TP }),
  );
});

// ─── checkAfterUnwrap ─────────────────────────────────────────────────────

test('checkAfterUnwrap: the key check matches → the plan', (t) => {
  t.deepEqual(checkAfterUnwrap(plan, { _tag: 'Unwrapped', keyCheck: KEY_CHECK }), E.right(plan));
});

test('UnwrapFailed: the copy cannot be unwrapped with the held private key', (t) => {
  t.deepEqual(
    checkAfterUnwrap(plan, { _tag: 'UnwrapFailed', detail: 'the JWE was not encrypted for this private key' }),
    E.left({ _tag: 'UnwrapFailed', keyVersion: V1, thumbprint: TP, detail: 'the JWE was not encrypted for this private key' }),
  );
});

test('KeyCheckMismatch: the unwrapped key is not the current key version', (t) => {
  t.deepEqual(
    checkAfterUnwrap(plan, { _tag: 'Unwrapped', keyCheck: createHash('sha256').update('another key').digest('base64url') }),
    E.left({ _tag: 'KeyCheckMismatch', keyVersion: V1 }),
  );
});

// ─── explainRefusal ───────────────────────────────────────────────────────

const explained: ReadonlyArray<[RefusalReason, string, ReadonlyArray<string>]> = [
  [
    { _tag: 'KeystoreUnavailable', keystorePath: KEYSTORE, problem: 'missing', detail: 'no keystore file' },
    'rsKeyStateNotValid',
    [KEYSTORE, 'missing', 'no keystore file'],
  ],
  [
    { _tag: 'KeystoreUnavailable', keystorePath: KEYSTORE, problem: 'locked', detail: 'cannot be decrypted' },
    'rsKeyStateNotValid',
    [KEYSTORE, 'locked', 'cannot be decrypted'],
  ],
  [{ _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: ID, keystoreInstallationId: OTHER_ID }, 'rsReportServerDisabled', [ID, OTHER_ID]],
  [{ _tag: 'InstallationNotRegistered', installationId: ID, keystoreInstallationId: null }, 'RSReportServerNotActivated', [ID]],
  [{ _tag: 'InstallationNotRegistered', installationId: ID, keystoreInstallationId: OTHER_ID }, 'RSReportServerNotActivated', [ID, OTHER_ID]],
  [
    { _tag: 'PublicKeyMismatch', heldThumbprint: TP, storedThumbprint: TP_OTHER, storedIn: 'deployment' },
    'rsReportServerDisabled',
    [TP, TP_OTHER, 'deployment'],
  ],
  [{ _tag: 'PublicKeyMismatch', heldThumbprint: TP, storedThumbprint: TP_OTHER, storedIn: 'instance' }, 'rsReportServerDisabled', [TP, TP_OTHER, 'instance']],
  [
    { _tag: 'ServiceIdentityChanged', recordedIdentity: 'NT SERVICE\\ReportServer', presentedIdentity: 'CONTOSO\\svc-reports' },
    'rsKeyStateNotValid',
    ['NT SERVICE\\ReportServer', 'CONTOSO\\svc-reports'],
  ],
  [
    { _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-NODE-2' },
    'RSReportServerNotActivated',
    ['machineName', 'RS-NODE-1', 'RS-NODE-2'],
  ],
  [{ _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT }, 'RSReportServerNotActivated', [DEPLOYMENT]],
  [{ _tag: 'NoWrappedCopy', keyVersion: V2 }, 'RSReportServerNotActivated', ['version 2']],
  [{ _tag: 'WrappedCopyForOtherKey', keyVersion: V1, copyThumbprint: TP_OTHER, heldThumbprint: TP }, 'rsReportServerDisabled', ['version 1', TP_OTHER, TP]],
  [
    { _tag: 'UnwrapFailed', keyVersion: V1, thumbprint: TP, detail: 'the JWE was not encrypted for this private key' },
    'rsReportServerDisabled',
    ['version 1', TP, 'not encrypted for this private key'],
  ],
  [{ _tag: 'KeyCheckMismatch', keyVersion: V2 }, 'rsCannotValidateEncryptedData', ['version 2']],
];

for (const [reason, code, evidence] of explained) {
  const keystore =
    'keystoreInstallationId' in reason && reason._tag === 'InstallationNotRegistered'
      ? ` (keystore ${reason.keystoreInstallationId === null ? 'unknown' : 'other'})`
      : '';
  const label = `${reason._tag}${'problem' in reason ? ` (${reason.problem})` : ''}${'storedIn' in reason ? ` (${reason.storedIn})` : ''}${keystore}`;
  test(`explainRefusal ${label}: code ${code}, summary with the evidence, a remedy`, (t) => {
    const x = explainRefusal(reason);
    t.is(x.code, code);
    for (const e of evidence) t.true(x.summary.includes(e), `summary should contain ${e}: ${x.summary}`);
    const specific = code === 'RSReportServerNotActivated' ? '' : `${code}: `;
    const ctx = { installationId: ID, otherHolders: 1, thumbprint: TP_REMEDY };
    t.is(refusalLine(reason, remedyFor(reason, ctx)), `RSReportServerNotActivated: ${specific}${x.summary}. Remedy: ${remedyText(remedyFor(reason, ctx))}.`);
  });
}

test('explainRefusal: InstallationNotRegistered asks about an edited installation ID only when the keystore names another one', (t) => {
  t.is(
    explainRefusal({ _tag: 'InstallationNotRegistered', installationId: ID, keystoreInstallationId: null }).summary,
    `installation ${ID} is not registered in the deployment`,
  );
  t.is(
    explainRefusal({ _tag: 'InstallationNotRegistered', installationId: ID, keystoreInstallationId: ID }).summary,
    `installation ${ID} is not registered in the deployment`,
  );
  t.is(
    explainRefusal({ _tag: 'InstallationNotRegistered', installationId: ID, keystoreInstallationId: OTHER_ID }).summary,
    `installation ${ID} is not registered in the deployment (the keystore belongs to ${OTHER_ID}: was the installation ID in the config edited?)`,
  );
});

test('remedyFor: a locked keystore names the service identity, a missing one restoring the file', (t) => {
  const ctx = { installationId: ID, otherHolders: 1, thumbprint: TP_REMEDY };
  t.regex(remedyFor({ _tag: 'KeystoreUnavailable', keystorePath: KEYSTORE, problem: 'locked', detail: 'x' }, ctx).sentence, /identity it was protected for/);
  t.regex(remedyFor({ _tag: 'KeystoreUnavailable', keystorePath: KEYSTORE, problem: 'missing', detail: 'x' }, ctx).sentence, /restore the file from a backup/);
});

test('remedyFor: remedies name the commands to run', (t) => {
  const ctx = { installationId: ID, otherHolders: 1, thumbprint: TP_REMEDY };
  const commands = (r: RefusalReason): string => remedyText(remedyFor(r, ctx));
  t.regex(
    commands({ _tag: 'NoWrappedCopy', keyVersion: V1 }),
    new RegExp(`\`keyledger join [0-9a-f-]{36} --expect-thumbprint ${TP_REMEDY}\`.*\`keyledger start\``),
  );
  t.regex(commands({ _tag: 'ServiceIdentityChanged', recordedIdentity: 'a', presentedIdentity: 'b' }), /`keyledger change-identity b`/);
  t.regex(commands({ _tag: 'NoSymmetricKey', deploymentId: DEPLOYMENT }), /`keyledger init`/);
  t.regex(
    commands({ _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'a', presented: 'b' }),
    /restore "a" in the config.*`keyledger init --new-installation-id`/,
  );
});
