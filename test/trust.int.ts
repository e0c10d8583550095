/**
 * Issue 9, items 2–3: signed key events and the pinned root of trust, attacked
 * as someone who can write the SQLite file (rows edited, events appended and
 * sealed with the documented chain) but holds no member's keystore — and as a
 * removed member that still holds its own. Plus the one-time `trust` of a
 * deployment recorded before signatures, its remedies followed literally.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { signerOf } from '../src/commands/signing';
import { type EventSigner, sealEvents } from '../src/domain/envelope';
import type { LedgerEvent } from '../src/domain/events';
import { type DeploymentId, deploymentStream, type KeyVersion } from '../src/domain/ids';
import { proofOfPossessionText } from '../src/domain/signatures';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto } from '../src/infra/jose-crypto';
import { sha256Hex } from '../src/infra/sha256';
import { signatures } from '../src/infra/signing';
import { aContext, newInstallationId, openTestStore, rightOf, tempDir } from './support/fixtures';
import { expectDiagnosed } from './support/diagnose';
import { toLegacyKeystore, toLegacyLedger } from './support/legacy';
import { eventsOf } from './support/ledger-reader';
import { activatedDeployment, deploymentEvents, joinArgs, keystoreThumbprint, ledgerFile, newNode, type TestNode } from './support/nodes';
import { rewriteAndRehash } from './support/tamper';

const DEPLOYMENT = 'default' as DeploymentId;
const DSTREAM = deploymentStream(DEPLOYMENT);

interface StartJson {
  state: string;
  reason?: { _tag: string; problem?: string; pinnedGenesis?: string; ledgerGenesis?: string | null };
  remedy?: { kind: string; steps: Array<{ on: string; command: string }> };
}

/** Appends events to the deployment stream as the store's writer would, sealed with the documented chain. */
const appendSealed = async (dir: string, events: ReadonlyArray<LedgerEvent>, signer?: EventSigner): Promise<void> => {
  const store = openTestStore(ledgerFile(dir));
  try {
    const last = (await eventsOf(store, DSTREAM)).at(-1)!;
    const sealed = rightOf(sealEvents(DSTREAM, { revision: last.revision, hash: last.metadata.hash }, events, aContext('forged'), sha256Hex, signer));
    rightOf(await store.append(DSTREAM, sealed, last.revision)());
  } finally {
    await store.close();
  }
};

const keysOf = async (n: TestNode) => {
  const cfg = JSON.parse(fs.readFileSync(n.file, 'utf8')) as { serviceIdentity: string };
  return rightOf(await fileKeystore(n.keystore).load({ installationId: n.id, serviceIdentity: cfg.serviceIdentity })());
};

const forgetLocalState = (dir: string): void => {
  for (const f of ['projections.db', 'projections.db-wal', 'projections.db-shm']) fs.rmSync(path.join(dir, '.keyledger', f), { force: true });
};

test('a removed member still holding its keystore wraps the real key for a newcomer, signed with its own key: the newcomer refuses it', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-trust');
  const [a, , c] = await activatedDeployment(dir, ['A', 'B', 'C']);
  t.is((await a!.run('remove', c!.id)).code, 0);
  const d = await newNode(dir, 'D');
  t.is((await d.run('init')).code, 1);

  // C, removed, unwraps its old copy and wraps the real key for D: a valid copy, validly signed — by a non-member.
  const crypto = joseCrypto();
  const cKeys = await keysOf(c!);
  const events = await deploymentEvents(dir);
  const cCopy = events.find((e) => e.event.type === 'SymmetricKeyWrapped' && e.event.data.copy.installationId === c!.id)!.event;
  const dReg = events.find((e) => e.event.type === 'PublicKeyStored' && e.event.data.installationId === d.id)!.event;
  if (cCopy.type !== 'SymmetricKeyWrapped' || dReg.type !== 'PublicKeyStored') return t.fail();
  const key = rightOf(await crypto.unwrap(cCopy.data.copy.jwe, cKeys.privateKey)());
  const jwe = rightOf(await crypto.wrap(key, dReg.data.publicKey, { deploymentId: DEPLOYMENT, installationId: d.id, keyVersion: 1 })());
  await appendSealed(
    dir,
    [
      {
        type: 'SymmetricKeyWrapped',
        data: {
          deploymentId: DEPLOYMENT,
          keyVersion: 1 as KeyVersion,
          copy: { installationId: d.id, recipientThumbprint: dReg.data.thumbprint, jwe },
          wrappedBy: c!.id,
          wrappedByThumbprint: cKeys.thumbprint,
          recipientSigningThumbprint: dReg.data.signingThumbprint!,
        },
      },
    ],
    signerOf(crypto, cKeys),
  );
  t.is((await a!.run('verify')).code, 0, 'the chain is intact: only signatures and membership tell');

  const start = await d.run('--json', 'start');
  t.is(start.code, 1, start.stderr);
  const o = start.json<StartJson>();
  t.like(o.reason, { _tag: 'UntrustedKeyEvent', problem: 'copy-not-certified' });
  await expectDiagnosed(t, d, o);
  t.regex((await d.run('status')).stdout, /not wrapped and signed by a member certified back to the deployment's genesis/);
  // Its remedy: a certified member wraps again; then it activates.
  t.deepEqual(
    o.remedy?.steps.map((s) => [s.on, s.command]),
    [
      ['a-member', `keyledger join ${d.id} --expect-thumbprint ${keystoreThumbprint(d.file)} --rewrap`],
      ['this-instance', 'keyledger start'],
    ],
  );
  t.is((await a!.run(...joinArgs(d), '--rewrap')).code, 0);
  t.is((await d.run('start')).code, 0);
});

test('a key planted for a waiting newcomer (key check rewritten, chain re-hashed): refused, nothing pinned; no member wraps for it either', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-trust');
  const [a] = await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  t.is((await b.run('init')).code, 1);
  const crypto = joseCrypto();
  const planted = crypto.createSymmetricKey();
  const events = await deploymentEvents(dir);
  const created = events.find((e) => e.event.type === 'SymmetricKeyCreated')!;
  const bReg = events.find((e) => e.event.type === 'PublicKeyStored' && e.event.data.installationId === b.id)!.event;
  if (bReg.type !== 'PublicKeyStored') return t.fail();
  rewriteAndRehash(ledgerFile(dir), DSTREAM, Number(created.revision), (d) => ({ ...d, keyCheck: crypto.keyCheck(planted) }));
  const jwe = rightOf(await crypto.wrap(planted, bReg.data.publicKey, { deploymentId: DEPLOYMENT, installationId: b.id, keyVersion: 1 })());
  await appendSealed(dir, [
    {
      type: 'SymmetricKeyWrapped',
      data: {
        deploymentId: DEPLOYMENT,
        keyVersion: 1 as KeyVersion,
        copy: { installationId: b.id, recipientThumbprint: bReg.data.thumbprint, jwe },
        wrappedBy: a!.id,
        wrappedByThumbprint: (await keysOf(a!)).thumbprint,
        recipientSigningThumbprint: bReg.data.signingThumbprint!,
      },
    },
  ]);
  t.is((await a!.run('verify')).code, 0, 'the re-hashed chain is intact');
  const start = await b.run('--json', 'start');
  t.is(start.code, 1, start.stderr);
  t.like(start.json<StartJson>().reason, { _tag: 'UntrustedKeyEvent', problem: 'key-check-not-signed-by-a-member' });
  await expectDiagnosed(t, b, start.json<StartJson>());
  t.is((await keysOf(b)).genesis, undefined, 'nothing was pinned from the forged ledger');
  const join = await a!.run(...joinArgs(b), '--rewrap');
  t.is(join.code, 5, join.stderr);
  t.regex(join.stderr, /cannot sponsor a join: the unwrapped key is not symmetric key version 1/);
});

test('a forged re-genesis (signatures stripped, an attacker genesis declared) is refused by every member; trust refuses its thumbprint', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-trust');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const genesis: string | undefined = (await keysOf(a!)).genesis?.[0]?.thumbprint;
  t.is(genesis, keystoreThumbprint(a!.file), 'the creator pinned itself as genesis');
  t.is((await keysOf(b!)).genesis?.[0]?.thumbprint as string | undefined, genesis, 'the newcomer pinned the genesis at its first start');

  // The attacker makes the ledger look like one from before signatures, then registers and declares itself.
  const events = await deploymentEvents(dir);
  const created = events.find((e) => e.event.type === 'SymmetricKeyCreated')!;
  rewriteAndRehash(
    ledgerFile(dir),
    DSTREAM,
    Number(created.revision),
    (d) => d,
    (m) => {
      const { sig: _sig, ...rest } = m;
      return rest;
    },
  );
  const x = newInstallationId();
  const evil = rightOf(await joseCrypto().generateKeyPair(2048)());
  const evilSigning = signatures.generate();
  const signer: EventSigner = { installationId: x, thumbprint: evilSigning.thumbprint, sign: (text) => signatures.sign(evilSigning.handle, text) };
  if (created.event.type !== 'SymmetricKeyCreated') return t.fail();
  await appendSealed(
    dir,
    [
      {
        type: 'PublicKeyStored',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: x,
          machineName: 'EVIL' as never,
          instanceName: 'X' as never,
          thumbprint: evil.thumbprint,
          publicKey: evil.publicKey,
          signingKey: evilSigning.publicKey,
          signingThumbprint: evilSigning.thumbprint,
          signingKeyProof: signatures.sign(evilSigning.handle, proofOfPossessionText(x, evil.thumbprint, evilSigning.thumbprint)) as never,
        },
      },
      {
        type: 'GenesisDeclared',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: x,
          signingThumbprint: evilSigning.thumbprint,
          previousGenesis: null,
          keyVersion: 1 as KeyVersion,
          keyCheck: created.event.data.keyCheck,
        },
      },
    ],
    signer,
  );
  forgetLocalState(dir); // past the remembered heads: the signatures and the pinned genesis must hold on their own
  for (const n of [a!, b!]) {
    const start = await n.run('--json', 'start');
    t.is(start.code, 1, start.stderr);
    t.like(start.json<StartJson>().reason, { _tag: 'GenesisNotPinned', pinnedGenesis: genesis, ledgerGenesis: evilSigning.thumbprint });
    await expectDiagnosed(t, n, start.json<StartJson>());
  }
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  const join = await a!.run(...joinArgs(c));
  t.is(join.code, 5, join.stderr);
  t.regex(join.stderr, /is not the one this instance pinned/);
  // An operator who checks the thumbprint with the real genesis's operator pins nothing.
  const trust = await b!.run('trust', '--expect-genesis', genesis!);
  t.is(trust.code, 4, trust.stderr);
  t.regex(trust.stderr, /nothing was pinned/);
  t.is((await keysOf(b!)).genesis?.[0]?.thumbprint as string | undefined, genesis);
});

test('a deployment recorded before signatures: one trust on a key holder, trust --expect-genesis and a re-wrap for each other member — remedies followed', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-trust');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  toLegacyLedger(ledgerFile(dir));
  for (const n of [a!, b!]) await toLegacyKeystore(n);

  // Before: every member is refused — nothing in the ledger can be verified.
  const before = await a!.run('--json', 'start');
  t.is(before.code, 1, before.stderr);
  const o = before.json<StartJson>();
  t.like(o.reason, { _tag: 'DeploymentNotSigned' });
  await expectDiagnosed(t, a!, o);
  t.deepEqual(
    o.remedy?.steps.map((s) => [s.on, s.command]),
    [
      ['a-member', 'keyledger trust --declare-genesis'],
      ['this-instance', 'keyledger start'],
    ],
  );

  // The remedy on A (it holds the key): it becomes the genesis, and activates.
  const declared = await a!.run('--json', 'trust', '--declare-genesis');
  t.is(declared.code, 0, declared.stderr);
  const g = declared.json<{ genesis: string; signingThumbprint: string; recorded: string[] }>();
  t.deepEqual(g.recorded, ['SigningKeyRegistered', 'GenesisDeclared']);
  t.is(g.genesis, g.signingThumbprint);
  t.is((await a!.run('start')).code, 0);
  t.is((await a!.run('trust', '--declare-genesis')).code, 0, 'declaring again is a no-op');

  // B: its start now names the next steps.
  const bStart = await b!.run('--json', 'start');
  t.is(bStart.code, 1);
  const bo = bStart.json<StartJson>();
  t.like(bo.reason, { _tag: 'UntrustedKeyEvent', problem: 'no-signing-key' });
  t.deepEqual(
    bo.remedy?.steps.map((s) => [s.on, s.command]),
    [
      ['this-instance', 'keyledger trust --expect-genesis <genesis-thumbprint>'],
      ['a-member', `keyledger join ${b!.id} --expect-thumbprint <new-thumbprint> --rewrap`],
      ['this-instance', 'keyledger start'],
    ],
  );
  const wrong = await b!.run('trust', '--expect-genesis', 'A'.repeat(43));
  t.is(wrong.code, 4, wrong.stderr);
  t.regex(wrong.stderr, /not the A{43} you confirmed: nothing was pinned/);
  t.is((await keysOf(b!)).genesis, undefined);
  const accepted = await b!.run('--json', 'trust', '--expect-genesis', g.genesis);
  t.is(accepted.code, 0, accepted.stderr);
  const bt = accepted.json<{ signingThumbprint: string; certified: boolean; recorded: string[] }>();
  t.deepEqual(bt.recorded, ['GenesisAccepted'], 'its signing key was registered by the first attempt already');
  t.false(bt.certified);
  t.is(bt.signingThumbprint, keystoreThumbprint(b!.file));
  t.is((await a!.run('join', b!.id, '--expect-thumbprint', bt.signingThumbprint, '--rewrap')).code, 0);
  t.is((await b!.run('start')).code, 0);

  // The audit: its unsigned history is reported, until the reviewer names the genesis its operators confirmed.
  t.is((await a!.run('verify', '--signatures')).code, 4);
  const confirmed = await a!.run('verify', '--signatures', '--expect-genesis', g.genesis);
  t.is(confirmed.code, 0, confirmed.stdout);
  const other = await a!.run('verify', '--signatures', '--expect-genesis', 'B'.repeat(43));
  t.is(other.code, 4);
  t.regex(other.stdout, /genesis-not-expected: the deployment's root of trust is \S+, not the genesis thumbprint you expect/);

  // Afterwards the deployment grows as any signed one: a newcomer joined by B activates.
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  t.is((await b!.run(...joinArgs(c))).code, 0);
  t.is((await c.run('start')).code, 0);
});

test('change-identity rotates the signing key, certified by the old one: the member still sponsors joins', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-trust');
  const [, b] = await activatedDeployment(dir, ['A', 'B']);
  const before = keystoreThumbprint(b!.file);
  t.is((await b!.run('change-identity', 'svc-new')).code, 0);
  t.not(keystoreThumbprint(b!.file), before, 'a new signing key');
  t.deepEqual(
    (await keysOf(b!)).genesis?.map((p) => p.deploymentId),
    ['default'],
    'the genesis pin moved to the new keystore',
  );
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  t.is((await b!.run(...joinArgs(c))).code, 0);
  t.is((await c.run('start')).code, 0);
});

test('a re-genesis when no certified member remains: members that pinned the old genesis refuse until their operator confirms the new one — remedies followed', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-trust');
  const [a, b, c] = await activatedDeployment(dir, ['A', 'B', 'C']);
  toLegacyLedger(ledgerFile(dir));
  for (const n of [a!, b!, c!]) await toLegacyKeystore(n);
  const first = (await a!.run('--json', 'trust', '--declare-genesis')).json<{ genesis: string }>().genesis;
  for (const n of [b!, c!]) t.is((await n.run('trust', '--expect-genesis', first)).code, 0);
  // A leaves before it certified anyone: no certified member remains, and B, which holds the key, becomes the genesis.
  t.is((await b!.run('remove', a!.id)).code, 0);
  const declared = await b!.run('--json', 'trust', '--declare-genesis');
  t.is(declared.code, 0, declared.stderr);
  const second = declared.json<{ genesis: string }>().genesis;
  t.not(second, first);
  const bs = await b!.run('start');
  t.is(bs.code, 0, bs.stdout + bs.stderr);

  // C pinned the first genesis: refused, and told to confirm the new one out of band.
  const refused = await c!.run('--json', 'start');
  t.is(refused.code, 1);
  const o = refused.json<StartJson>();
  t.like(o.reason, { _tag: 'GenesisNotPinned', pinnedGenesis: first, ledgerGenesis: second });
  t.deepEqual(
    o.remedy?.steps.map((s) => [s.on, s.command]),
    [
      ['this-instance', 'keyledger trust --expect-genesis <genesis-thumbprint>'],
      ['this-instance', 'keyledger start'],
    ],
  );
  t.is((await c!.run('trust', '--expect-genesis', second)).code, 0);
  const next = await c!.run('--json', 'start');
  t.is(next.code, 1);
  const n = next.json<StartJson>();
  t.like(n.reason, { _tag: 'UntrustedKeyEvent', problem: 'copy-not-certified' });
  t.deepEqual(
    n.remedy?.steps.map((s) => [s.on, s.command]),
    [
      ['a-member', `keyledger join ${c!.id} --expect-thumbprint ${keystoreThumbprint(c!.file)} --rewrap`],
      ['this-instance', 'keyledger start'],
    ],
  );
  t.is((await b!.run(...joinArgs(c!), '--rewrap')).code, 0);
  t.is((await c!.run('start')).code, 0);
});
