/**
 * Deleting the encrypted content (docs/adr/0015-content-deletion.md) in the pure domain: what the deployment and content
 * deciders record and refuse, how the deployment state forgets the destroyed key (and ignores it re-added), what the
 * trust walk accepts as a deletion and what it founds afterwards, what the activation view and the remedies say.
 */
import test from 'ava';
import { type EventSigner, GENESIS, type StoredEvent, sealEvents } from '../../src/domain/envelope';
import { decideContent, evolveContent, initialContentState } from '../../src/domain/content/decider';
import {
  type Base64Url,
  type CompactJwe,
  type ContentEvent,
  type DeploymentEvent,
  type EventOf,
  type Fingerprint,
  isDeploymentEvent,
  type LedgerEvent,
  type PublicJwk,
  type SecretName,
} from '../../src/domain/events';
import type { DeploymentId, InstallationId, KeyVersion, Thumbprint } from '../../src/domain/ids';
import { remedyFor, remedyText } from '../../src/domain/remedy';
import { proofOfPossessionText } from '../../src/domain/signatures';
import { trustOf } from '../../src/domain/trust';
import { sha256Hex } from '../../src/infra/sha256';
import { signatures } from '../../src/infra/signing';
import { findingsFor } from '../../src/projections/findings';
import { instanceStatus } from '../../src/projections/status';
import { spec } from '../support/decider-spec';
import {
  cluster,
  copyFor,
  DEPLOYMENT,
  deploymentAfter,
  deploymentDecider,
  history,
  KEY_CHECK,
  keyCreated,
  keyWrapped,
  NODE_1,
  NODE_2,
  NODE_3,
  publicKeyStored,
  removed,
  replay,
  TP_1,
  TP_2,
  TP_3,
  V1,
  V2,
} from '../support/domain-builders';
import { aContext, newInstallationId, rightOf } from '../support/fixtures';

const V3 = 3 as KeyVersion;
const deletionStarted = (by: InstallationId, keyVersions: ReadonlyArray<KeyVersion> = [V1], secrets = 2): EventOf<'EncryptedContentDeletionStarted'> => ({
  type: 'EncryptedContentDeletionStarted',
  data: { deploymentId: DEPLOYMENT, deletedBy: by, keyVersions: [...keyVersions], secrets: secrets as never },
});
const contentDeleted = (by: InstallationId, copies: EventOf<'EncryptedContentDeleted'>['data']['copies']): EventOf<'EncryptedContentDeleted'> => ({
  type: 'EncryptedContentDeleted',
  data: { deploymentId: DEPLOYMENT, deletedBy: by, keys: [{ keyVersion: V1, keyCheck: KEY_CHECK }], copies, secrets: 2 as never, contentRevisions: ['4'] },
});
/** Both copies of version 1, as the completion lists them (by version, then installation ID). */
const BOTH_COPIES = [
  { installationId: NODE_2, keyVersion: V1, recipientThumbprint: TP_2 },
  { installationId: NODE_1, keyVersion: V1, recipientThumbprint: TP_1 },
];
/** The deployment events of the two-member cluster (NODE_1 created the key, NODE_2 joined). */
const clusterDeployment = (): DeploymentEvent[] => cluster.filter(isDeploymentEvent);

// ─── The deployment decider ───────────────────────────────────────────────

test('StartContentDeletion records the intent naming the current version (and a re-creation’s previous one); a rerun records nothing', (t) => {
  const given = clusterDeployment();
  spec(t, deploymentDecider)
    .given(given)
    .when({ type: 'StartContentDeletion', deploymentId: DEPLOYMENT, deletedBy: NODE_2, secrets: 2 })
    .then([deletionStarted(NODE_2)]);
  spec(t, deploymentDecider)
    .given([...given, deletionStarted(NODE_2)])
    .when({ type: 'StartContentDeletion', deploymentId: DEPLOYMENT, deletedBy: NODE_1, secrets: 0 })
    .thenNothingHappened();
  // During a re-creation (version 2 created, 1 not retired): both go.
  spec(t, deploymentDecider)
    .given([...given, keyCreated(NODE_1, TP_1, V2)])
    .when({ type: 'StartContentDeletion', deploymentId: DEPLOYMENT, deletedBy: NODE_1, secrets: 0 })
    .then([deletionStarted(NODE_1, [V1, V2], 0)]);
  spec(t, deploymentDecider)
    .given([...given, removed(NODE_2, TP_2, V1)])
    .when({ type: 'StartContentDeletion', deploymentId: DEPLOYMENT, deletedBy: NODE_2, secrets: 0 })
    .thenFails({ _tag: 'InstallationRemoved', installationId: NODE_2 });
  spec(t, deploymentDecider)
    .given([publicKeyStored(NODE_1, TP_1)])
    .when({ type: 'StartContentDeletion', deploymentId: DEPLOYMENT, deletedBy: NODE_1, secrets: 0 })
    .thenFails({ _tag: 'NoKeyToWrap' });
});

test('CompleteContentDeletion names the versions with their key checks and every copy of them; nothing when none is under way', (t) => {
  const given = [...clusterDeployment(), deletionStarted(NODE_2)];
  spec(t, deploymentDecider)
    .given(given)
    .when({ type: 'CompleteContentDeletion', deploymentId: DEPLOYMENT, deletedBy: NODE_2, secrets: 2, contentRevisions: ['4'] })
    .then([contentDeleted(NODE_2, BOTH_COPIES)]);
  spec(t, deploymentDecider)
    .given([...given, contentDeleted(NODE_2, BOTH_COPIES)])
    .when({ type: 'CompleteContentDeletion', deploymentId: DEPLOYMENT, deletedBy: NODE_2, secrets: 2, contentRevisions: ['4'] })
    .thenNothingHappened();
});

test('while a deletion is under way: no join, no re-creation, no backup or restore of the key being destroyed', (t) => {
  const given = [...clusterDeployment(), publicKeyStored(NODE_3, TP_3), deletionStarted(NODE_1)];
  const underway = { _tag: 'ContentDeletionUnderway', keyVersions: [V1] } as const;
  spec(t, deploymentDecider)
    .given(given)
    .when({ type: 'WrapForMember', deploymentId: DEPLOYMENT, sponsor: NODE_1, sponsorThumbprint: TP_1, copy: copyFor(NODE_3, TP_3) })
    .thenFails(underway);
  spec(t, deploymentDecider)
    .given(given)
    .when({ type: 'RecreateKey', deploymentId: DEPLOYMENT, createdBy: NODE_1, creatorThumbprint: TP_1, keyCheck: KEY_CHECK, copies: [copyFor(NODE_1, TP_1)] })
    .thenFails(underway);
  spec(t, deploymentDecider)
    .given(given)
    .when({
      type: 'RecordBackup',
      deploymentId: DEPLOYMENT,
      installationId: NODE_1,
      keyVersion: V1,
      fingerprint: 'f'.repeat(43) as Fingerprint,
      iterations: 1000 as never,
      genesisThumbprint: null,
    })
    .thenFails(underway);
});

test('after the deletion: no key, no copy, versions destroyed; init creates the next version; a replayed creation or copy of v1 is not folded', (t) => {
  const deleted = [...clusterDeployment(), deletionStarted(NODE_2), contentDeleted(NODE_2, BOTH_COPIES)];
  const s = deploymentAfter(deleted);
  t.is(s.currentKey, undefined);
  t.deepEqual(s.copies, {});
  t.deepEqual(s.destroyed, [V1]);
  t.is(s.deletion, undefined);
  t.like(s.deleted, { keyVersions: [V1], by: NODE_2 });
  t.true(Object.keys(s.registered).length === 2, 'membership (registration) stays: the instances re-join');
  // The old creation and copy re-added by someone who writes the store: the state does not take them.
  const replayed = deploymentAfter([...deleted, keyCreated(NODE_1, TP_1, V1), keyWrapped(NODE_2, TP_2, V1)]);
  t.is(replayed.currentKey, undefined);
  t.deepEqual(replayed.copies, {});
  // init on any registered instance: version 2 (pins are per version: 1 is never reused).
  const created = deploymentDecider.decide(
    { type: 'CreateSymmetricKey', deploymentId: DEPLOYMENT, keyCheck: KEY_CHECK, createdBy: NODE_1, copy: copyFor(NODE_1, TP_1) },
    s,
  );
  t.deepEqual(created, { _tag: 'Right', right: [{ ...keyCreated(NODE_1, TP_1, V2) }] });
  // A backup of the destroyed version restores nothing, before a new init and after.
  const restore = (keyVersion: KeyVersion) =>
    deploymentDecider.decide(
      {
        type: 'RestoreKey',
        deploymentId: DEPLOYMENT,
        installationId: NODE_1,
        keyVersion,
        keyCheck: KEY_CHECK,
        fingerprint: 'f'.repeat(43) as Fingerprint,
        copy: copyFor(NODE_1, TP_1),
        signingThumbprint: TP_1,
        declareGenesis: null,
      },
      deploymentAfter([...deleted, keyCreated(NODE_1, TP_1, V2)]),
    );
  t.deepEqual(restore(V1), { _tag: 'Left', left: { _tag: 'KeyVersionDestroyed', keyVersion: V1 } });
  t.deepEqual(deploymentAfter([...deleted, keyCreated(NODE_1, TP_1, V2), keyCreated(NODE_2, TP_2, V1)]).currentKey?.keyVersion, V2);
  t.is(
    deploymentDecider.decide(
      { type: 'CreateSymmetricKey', deploymentId: DEPLOYMENT, keyCheck: KEY_CHECK, createdBy: NODE_1, copy: copyFor(NODE_1, TP_1) },
      {
        ...s,
        destroyed: [V1, V2],
      },
    )._tag,
    'Right',
  );
  const third = deploymentDecider.decide(
    { type: 'CreateSymmetricKey', deploymentId: DEPLOYMENT, keyCheck: KEY_CHECK, createdBy: NODE_1, copy: copyFor(NODE_1, TP_1) },
    { ...s, destroyed: [V1, V2] },
  );
  t.deepEqual(third, { _tag: 'Right', right: [keyCreated(NODE_1, TP_1, V3)] });
});

// ─── The content decider ──────────────────────────────────────────────────

const FP = (n: number): Fingerprint => `${'x'.repeat(42)}${n}` as Fingerprint;
const put = (name: string, n: number, keyVersion: KeyVersion = V1): ContentEvent => ({
  type: 'SecretPut',
  data: { deploymentId: DEPLOYMENT, name: name as SecretName, keyVersion, fingerprint: FP(n), previousFingerprint: null, putBy: NODE_1 },
});

test('DestroySecrets records the live secrets (names, versions, fingerprints); afterwards no secret is put under those versions', (t) => {
  const s = [put('a', 1), put('b', 2)].reduce(evolveContent, initialContentState);
  const todo = [...s.secrets.values()];
  const decided = decideContent({ type: 'DestroySecrets', deploymentId: DEPLOYMENT, by: NODE_1, keyVersions: [V1], secrets: todo }, s);
  t.deepEqual(decided, {
    _tag: 'Right',
    right: [
      {
        type: 'SecretsDestroyed',
        data: {
          deploymentId: DEPLOYMENT,
          deletedBy: NODE_1,
          keyVersions: [V1],
          secrets: todo.map((x) => ({ name: x.name, keyVersion: V1, fingerprint: x.fingerprint })),
        },
      },
    ],
  });
  const after = rightOf(decided).reduce(evolveContent, s);
  t.is(after.secrets.size, 0);
  t.is(after.removed?.get('a'), 2, 'remembered as removed, at the revision of its SecretsDestroyed');
  t.deepEqual(decideContent({ type: 'PutSecret', deploymentId: DEPLOYMENT, name: 'a' as SecretName, keyVersion: V1, fingerprint: FP(3), by: NODE_1 }, after), {
    _tag: 'Left',
    left: { _tag: 'KeyBeingDestroyed', keyVersion: V1 },
  });
  t.is(
    decideContent({ type: 'PutSecret', deploymentId: DEPLOYMENT, name: 'a' as SecretName, keyVersion: V2, fingerprint: FP(3), by: NODE_1 }, after)._tag,
    'Right',
  );
  // Nothing left and the versions closed already: nothing to record (a rerun).
  t.deepEqual(decideContent({ type: 'DestroySecrets', deploymentId: DEPLOYMENT, by: NODE_1, keyVersions: [V1], secrets: [] }, after), {
    _tag: 'Right',
    right: [],
  });
  // No secret at all: one empty batch still closes the stream to the version.
  const empty = decideContent({ type: 'DestroySecrets', deploymentId: DEPLOYMENT, by: NODE_1, keyVersions: [V1], secrets: [] }, initialContentState);
  t.is(rightOf(empty).length, 1);
});

// ─── The trust walk ───────────────────────────────────────────────────────

const STREAM = 'keyledger.deployment-default';
const RSA: PublicJwk = { kty: 'RSA', n: 'AQAB' as never, e: 'AQAB' as never };
const JWE = `${Buffer.from('{"alg":"RSA-OAEP-256","enc":"A256GCM"}').toString('base64url')}.a.b.c.d` as CompactJwe;
interface Member {
  readonly id: InstallationId;
  readonly rsa: Thumbprint;
  readonly key: ReturnType<typeof signatures.generate>;
  readonly signer: EventSigner;
}
const member = (n: number): Member => {
  const key = signatures.generate();
  const id = newInstallationId();
  return {
    id,
    rsa: `rsa${String(n).padStart(40, '0')}` as Thumbprint,
    key,
    signer: { installationId: id, thumbprint: key.thumbprint, sign: (text) => signatures.sign(key.handle, text) },
  };
};
const [A, B, C, X] = [member(1), member(2), member(3), member(4)] as const;
const stored = (m: Member): LedgerEvent => ({
  type: 'PublicKeyStored',
  data: {
    deploymentId: 'default' as DeploymentId,
    installationId: m.id,
    machineName: 'RS' as never,
    instanceName: 'I' as never,
    thumbprint: m.rsa,
    publicKey: RSA,
    signingKey: m.key.publicKey,
    signingThumbprint: m.key.thumbprint,
    signingKeyProof: signatures.sign(m.key.handle, proofOfPossessionText(m.id, m.rsa, m.key.thumbprint)) as Base64Url,
  },
});
const created = (m: Member, v: KeyVersion = V1): LedgerEvent => ({
  type: 'SymmetricKeyCreated',
  data: {
    deploymentId: DEPLOYMENT,
    keyVersion: v,
    algorithm: 'A256GCM',
    keyCheck: `check${v}` as Base64Url,
    createdBy: m.id,
    copy: { installationId: m.id, recipientThumbprint: m.rsa, jwe: JWE },
  },
});
const wrapped = (by: Member, to: Member, v: KeyVersion = V1): LedgerEvent => ({
  type: 'SymmetricKeyWrapped',
  data: {
    deploymentId: DEPLOYMENT,
    keyVersion: v,
    copy: { installationId: to.id, recipientThumbprint: to.rsa, jwe: JWE },
    wrappedBy: by.id,
    wrappedByThumbprint: by.rsa,
    recipientSigningThumbprint: to.key.thumbprint,
  },
});
const deleted = (by: Member): LedgerEvent => ({
  type: 'EncryptedContentDeleted',
  data: {
    deploymentId: DEPLOYMENT,
    deletedBy: by.id,
    keys: [{ keyVersion: V1, keyCheck: 'check1' as Base64Url }],
    copies: [],
    secrets: 0 as never,
    contentRevisions: [],
  },
});
const removedM = (m: Member): LedgerEvent => ({
  type: 'InstanceRemoved',
  data: {
    deploymentId: DEPLOYMENT,
    installationId: m.id,
    machineName: 'RS',
    instanceName: 'I',
    thumbprint: m.rsa,
    revokedKeyVersion: V1,
    forced: true,
    lastMember: true,
  },
});
/** Sealed one by one, each signed by its member (undefined: unsigned, as an attacker without a keystore writes it). */
const streamOf = (steps: ReadonlyArray<readonly [LedgerEvent, Member | undefined]>): StoredEvent[] => {
  const out: StoredEvent[] = [];
  let last: { revision: bigint | 'no_stream'; hash: string } = { revision: 'no_stream', hash: GENESIS };
  for (const [event, by] of steps) {
    const sealed = sealEvents(STREAM, last, [event], aContext('test'), sha256Hex, by?.signer);
    if (sealed._tag === 'Left') throw new Error(sealed.left.problem);
    const d = sealed.right[0]!;
    const revision = last.revision === 'no_stream' ? 0n : last.revision + 1n;
    out.push({ stream: STREAM, revision, position: { commit: revision, prepare: revision }, event, metadata: d.metadata as never });
    last = { revision, hash: (d.metadata as { hash: string }).hash };
  }
  return out;
};
const crypto = { verify: signatures.verify, thumbprint: signatures.thumbprint };
const abc: ReadonlyArray<readonly [LedgerEvent, Member]> = [
  [stored(A), A],
  [created(A), A],
  [stored(B), B],
  [wrapped(A, B), A],
  [stored(C), C],
];

test('trust: a deletion signed by a certified member destroys v1 — copies and certifications gone, the next key’s creator is the new genesis', (t) => {
  const trust = trustOf(streamOf([...abc, [deleted(B), B], [created(C, V2), C], [wrapped(C, A, V2), C]]), crypto);
  t.deepEqual(trust.findings, []);
  t.deepEqual(trust.lastDeletion, { revision: 5n, authorised: true });
  t.deepEqual(trust.destroyed, [1]);
  t.true(trust.refounded);
  t.is(trust.genesis?.thumbprint, C.key.thumbprint, 'C (never certified before) created the new key: the new genesis');
  t.deepEqual(Object.keys(trust.members).sort(), [A.id, C.id].map((x) => x.toLowerCase()).sort());
  t.false(B.id.toLowerCase() in trust.members, 'B’s certification went with the key it was certified by');
  t.true(trust.keyChecks[2]?.trusted === true && trust.keyChecks[1]?.trusted === false);
});

test('trust: an unsigned deletion, or one signed by a registered but uncertified installation while members remain, is a finding and changes nothing', (t) => {
  for (const [by, problem] of [
    [undefined, 'unsigned'],
    [C, 'signer-not-certified'],
  ] as const) {
    const trust = trustOf(streamOf([...abc, [deleted(by ?? A), by]]), crypto);
    t.deepEqual(
      trust.findings.map((f) => f.problem),
      [problem],
    );
    t.deepEqual(trust.lastDeletion, { revision: 5n, authorised: false });
    t.deepEqual(trust.destroyed, []);
    t.true(trust.copies[A.id.toLowerCase()]?.trusted === true, 'A’s copy stays certified');
    t.is(trust.genesis?.thumbprint, A.key.thumbprint);
  }
  // Signed by a key, but naming another installation as the deleter.
  const forged = trustOf(streamOf([...abc, [deleted(A), B]]), crypto);
  t.deepEqual(
    forged.findings.map((f) => f.problem),
    ['bad-signature'],
  );
});

test('trust: with no certified member left (the last one removed), a registered installation’s own deletion counts; an attacker’s new key after it does not', (t) => {
  const noMembers: ReadonlyArray<readonly [LedgerEvent, Member | undefined]> = [
    [stored(A), A],
    [created(A), A],
    [removedM(A), A],
    [stored(X), X],
  ];
  const trust = trustOf(streamOf([...noMembers, [deleted(X), X], [created(X, V2), X]]), crypto);
  t.deepEqual(trust.findings, []);
  t.is(trust.genesis?.thumbprint, X.key.thumbprint);
  t.true(trust.everCertified[X.key.thumbprint] !== undefined);
  // After an authorised deletion, a key created unsigned (by someone without a keystore) founds nothing.
  const planted = trustOf(streamOf([...noMembers, [deleted(X), X], [created(X, V2), undefined]]), crypto);
  t.deepEqual(
    planted.findings.map((f) => f.problem),
    ['unsigned'],
  );
  t.false(planted.keyChecks[2]?.trusted === true);
  // A ledger from before signatures (its key created unsigned, no genesis declared yet) has no member to remain: no deletion counts.
  const legacy = trustOf(
    streamOf([
      [stored(A), A],
      [created(A), undefined],
      [stored(X), X],
      [deleted(X), X],
    ]),
    crypto,
  );
  t.deepEqual(
    legacy.findings.map((f) => f.problem),
    ['unsigned', 'signer-not-certified'],
  );
  t.deepEqual(legacy.destroyed, []);
});

test('trust: a destroyed version re-added (its creation, a copy of it) is reported and certifies nothing', (t) => {
  const trust = trustOf(streamOf([...abc, [deleted(A), A], [created(A, V2), A], [wrapped(A, B, V1), A], [created(A, V1), undefined]]), crypto);
  t.deepEqual(
    trust.findings.map((f) => [f.eventType, f.problem]),
    [
      ['SymmetricKeyWrapped', 'key-version-destroyed'],
      ['SymmetricKeyCreated', 'key-version-destroyed'],
    ],
  );
  t.false(trust.copies[B.id.toLowerCase()]?.trusted === true);
  t.false(B.id.toLowerCase() in trust.members);
  t.is(trust.keyChecks[1]?.trusted, false);
  t.like(trust.copies[A.id.toLowerCase()], { trusted: true, keyVersion: 2 }, 'the copy A holds now is untouched by the replay');
});

// ─── The activation view, status, findings and remedies ──────────────────

test('view: after the deletion every member is disabled (ContentDeleted) with `init` as the remedy; after a new init the others wait to be joined', (t) => {
  const events = [...cluster, deletionStarted(NODE_2), contentDeleted(NODE_2, BOTH_COPIES)];
  const v = replay(history(...events));
  for (const id of [NODE_1, NODE_2]) {
    const s = instanceStatus(v, id);
    t.is(s.state, 'disabled');
    if (s.state !== 'disabled') continue;
    t.deepEqual(s.reason, { _tag: 'ContentDeleted', keyVersions: [V1], deletedBy: NODE_2 });
    t.deepEqual(s.remedy._tag === 'Run' ? s.remedy.steps : [], [{ on: 'this-instance', args: ['init'] }]);
  }
  t.is(v.deployments[DEPLOYMENT]?.currentKeyVersion, null);
  t.deepEqual(v.deployments[DEPLOYMENT]?.copies, {});
  const reinit = replay(
    history(...events, keyCreated(NODE_1, TP_1, V2), {
      type: 'InstanceActivated',
      data: { installationId: NODE_1, deploymentId: DEPLOYMENT, keyVersion: V2, thumbprint: TP_1 },
    }),
  );
  t.is(instanceStatus(reinit, NODE_1).state, 'activated');
  const b = instanceStatus(reinit, NODE_2);
  t.is(b.state, 'waiting-to-join');
  t.regex(b.state === 'waiting-to-join' ? remedyText(b.remedy) : '', /keyledger join/);
  // A replayed copy of the destroyed version is not taken for one.
  const replayed = replay(history(...events, keyWrapped(NODE_2, TP_2, V1)));
  t.deepEqual(replayed.deployments[DEPLOYMENT]?.copies, {});
});

test('view: a deletion started and not finished is a finding on every member (remedy: delete-content again, then init); gone once completed', (t) => {
  const started = replay(history(...cluster, deletionStarted(NODE_2)));
  const f = findingsFor(started, NODE_1).find((x) => x.kind === 'ContentDeletionUnfinished');
  t.truthy(f);
  t.deepEqual(f?.remedy._tag === 'Run' ? f.remedy.steps.map((s) => s.args) : [], [['delete-content', '--confirm', 'default'], ['init']]);
  t.is(instanceStatus(started, NODE_1).state, 'activated', 'the key stays usable until the deletion completes');
  const done = replay(history(...cluster, deletionStarted(NODE_2), contentDeleted(NODE_2, BOTH_COPIES)));
  t.false(findingsFor(done, NODE_1).some((x) => x.kind === 'ContentDeletionUnfinished'));
});

test('remedies: where a backup restore is the remedy, delete-content is offered after it as the last resort — only with the deployment named', (t) => {
  const ctx = { installationId: NODE_1, otherHolders: 0, thumbprint: TP_1, deploymentId: 'default' };
  const r = remedyFor({ _tag: 'NoMemberHoldsKey', keyVersion: V1 }, ctx);
  t.is(r._tag, 'Run');
  if (r._tag !== 'Run') return;
  t.deepEqual(r.steps, [{ on: 'this-instance', args: ['restore', '-f', { placeholder: 'backup-file' }] }]);
  t.deepEqual(r.lastResort?.steps, [
    { on: 'this-instance', args: ['delete-content', '--confirm', 'default'] },
    { on: 'this-instance', args: ['init'] },
  ]);
  const text = remedyText(r);
  t.true(text.indexOf('keyledger restore -f') < text.indexOf('keyledger delete-content --confirm default'), text);
  // A lost keystore on the only member: the same new installation and removal first.
  const lost = remedyFor({ _tag: 'KeystoreUnavailable', keystorePath: '/k', problem: 'missing', detail: 'gone' }, ctx);
  t.deepEqual(lost._tag === 'Run' ? lost.lastResort?.steps.map((s) => s.args.join(' ')) : [], [
    'init --new-installation-id',
    `remove ${NODE_1} --force`,
    'delete-content --confirm default',
    'init',
  ]);
  // Someone else holds the key: a join, never a deletion.
  t.is(
    (remedyFor({ _tag: 'UnwrapFailed', keyVersion: V1, thumbprint: TP_1, detail: 'x' }, { ...ctx, otherHolders: 1 }) as { lastResort?: unknown }).lastResort,
    undefined,
  );
  t.is((remedyFor({ _tag: 'NoMemberHoldsKey', keyVersion: V1 }, { ...ctx, deploymentId: null }) as { lastResort?: unknown }).lastResort, undefined);
  // An unauthorised deletion: no command, restore the store.
  t.is(remedyFor({ _tag: 'UntrustedKeyEvent', keyVersion: V1, problem: 'deletion-not-signed-by-a-member', revision: '5' }, ctx)._tag, 'NotYetPossible');
});
