/**
 * Issue 9, item 1: a join wraps the deployment key only for the newcomer's own
 * key, confirmed by the operator out of band. Attacks are written as someone
 * who can write the SQLite file and knows the documented hash chain would
 * (edit the rows, re-hash the stream): `verify` finds nothing, and still no
 * key is wrapped for the attacker.
 */
import test, { type ExecutionContext } from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type DeploymentId, deploymentStream, instanceStream } from '../src/domain/ids';
import { proofOfPossessionText } from '../src/domain/signatures';
import { joseCrypto } from '../src/infra/jose-crypto';
import { signatures } from '../src/infra/signing';
import { cliAnswering } from './support/cli-inproc';
import { rightOf, tempDir } from './support/fixtures';
import { activatedDeployment, deploymentEvents, instanceEvents, joinArgs, keystoreThumbprint, ledgerFile, newNode, type TestNode } from './support/nodes';
import { editCheckpointState, rewriteAndRehash } from './support/tamper';

const DSTREAM = deploymentStream('default' as DeploymentId);

/** A deployment with A activated and B registered, waiting to be joined. */
const waiting = async (): Promise<{ dir: string; a: TestNode; b: TestNode }> => {
  const dir = tempDir('kl-jt');
  const [a] = await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  if ((await b.run('init')).code !== 1) throw new Error('B should wait to join');
  return { dir, a: a!, b };
};

const revisionOf = async (dir: string, stream: string, type: string, id: string): Promise<number> => {
  const events = stream === DSTREAM ? await deploymentEvents(dir) : await instanceEvents(dir, id as never);
  const e = events.find((x) => x.event.type === type && (x.event.data as { installationId?: string }).installationId === id);
  if (!e) throw new Error(`no ${type} for ${id}`);
  return Number(e.revision);
};

/** Nothing was wrapped for B, and verify (hash chain only) is fooled: the attacker re-hashed the chain. */
const nothingWrapped = async (t: ExecutionContext, dir: string, a: TestNode, b: TestNode): Promise<void> => {
  const copies = (await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyWrapped');
  t.deepEqual(copies, [], 'no copy of the key was wrapped for anyone');
  t.is((await a.run('verify')).code, 0, 'the re-hashed chain is intact: the hash chain alone does not catch this');
  t.is((await b.run('start')).code, 1);
};

const attackerKey = async () => rightOf(await joseCrypto().generateKeyPair(2048)());

/** The attacker's own signing key, registered for `id` with a valid proof of possession over the attacker's RSA key. */
const attackerSigning = (id: string, rsaThumbprint: string) => {
  const k = signatures.generate();
  return {
    signingKey: k.publicKey,
    signingThumbprint: k.thumbprint,
    signingKeyProof: signatures.sign(k.handle, proofOfPossessionText(id, rsaThumbprint, k.thumbprint)),
  };
};

test('key theft by substitution: the stored public key replaced, its recorded thumbprint kept → refused, nothing wrapped', async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await waiting();
  const evil = await attackerKey();
  rewriteAndRehash(ledgerFile(dir), DSTREAM, await revisionOf(dir, DSTREAM, 'PublicKeyStored', b.id), (d) => ({ ...d, publicKey: evil.publicKey }));
  const join = await a.run(...joinArgs(b));
  t.is(join.code, 5, join.stderr);
  t.regex(join.stderr, /does not hash to its recorded thumbprint .*Nothing was wrapped/);
  await nothingWrapped(t, dir, a, b);
});

test('substitution with a consistent registration (key and thumbprint replaced): not the key pair the newcomer issued → refused', async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await waiting();
  const evil = await attackerKey();
  rewriteAndRehash(ledgerFile(dir), DSTREAM, await revisionOf(dir, DSTREAM, 'PublicKeyStored', b.id), (d) => ({
    ...d,
    publicKey: evil.publicKey,
    thumbprint: evil.thumbprint,
  }));
  const join = await a.run('join', b.id, '--expect-thumbprint', evil.thumbprint);
  t.is(join.code, 5, join.stderr);
  t.regex(join.stderr, /is not the key pair the newcomer recorded/);
  await nothingWrapped(t, dir, a, b);
});

test("substitution in both streams (registration and KeyPairIssued): only the operator's confirmation stops it → refused, nothing wrapped", async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await waiting();
  const real = keystoreThumbprint(b.file);
  const evil = await attackerKey();
  const evilSigning = attackerSigning(b.id, evil.thumbprint);
  const swap = (d: Record<string, unknown>) => ({ ...d, publicKey: evil.publicKey, thumbprint: evil.thumbprint, ...evilSigning });
  rewriteAndRehash(ledgerFile(dir), DSTREAM, await revisionOf(dir, DSTREAM, 'PublicKeyStored', b.id), swap);
  rewriteAndRehash(ledgerFile(dir), instanceStream(b.id), await revisionOf(dir, instanceStream(b.id), 'KeyPairIssued', b.id), swap);
  // The operator reads the thumbprint on the newcomer's own machine, from its keystore — not from the ledger.
  const join = await a.run('join', b.id, '--expect-thumbprint', real);
  t.is(join.code, 5, join.stderr);
  t.regex(join.stderr, new RegExp(`key is ${evilSigning.signingThumbprint}, not the expected ${real}`));
  await nothingWrapped(t, dir, a, b);
});

test("substitution of the RSA key alone in both streams (the newcomer's signing key kept): its proof of possession no longer verifies → refused", async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await waiting();
  const evil = await attackerKey();
  const swap = (d: Record<string, unknown>) => ({ ...d, publicKey: evil.publicKey, thumbprint: evil.thumbprint });
  rewriteAndRehash(ledgerFile(dir), DSTREAM, await revisionOf(dir, DSTREAM, 'PublicKeyStored', b.id), swap);
  rewriteAndRehash(ledgerFile(dir), instanceStream(b.id), await revisionOf(dir, instanceStream(b.id), 'KeyPairIssued', b.id), swap);
  // The operator confirms the right signing key; the ledger binds it to another RSA key, which its proof does not cover.
  const join = await a.run(...joinArgs(b));
  t.is(join.code, 5, join.stderr);
  t.regex(join.stderr, /signing key registered for .* is not proved/);
  await nothingWrapped(t, dir, a, b);
});

test('no confirmation: without --expect-thumbprint and without a terminal nothing is wrapped, and the line says how to confirm', async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await waiting();
  const join = await a.run('join', b.id);
  t.is(join.code, 5);
  const tp = keystoreThumbprint(b.file);
  t.regex(join.stderr, new RegExp(`was not confirmed\\. Nothing was wrapped\\. .*--expect-thumbprint ${tp}`));
  t.deepEqual(
    (await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyWrapped'),
    [],
  );
});

test('on a terminal: the key is shown SSH-style; "yes" wraps it, anything else does not', async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await waiting();
  const tp = keystoreThumbprint(b.file);
  const no = await cliAnswering('no', '-c', a.file, 'join', b.id);
  t.is(no.code, 5);
  t.true(no.stderr.includes(`has the thumbprint\n  ${tp}\n`), no.stderr);
  t.deepEqual(
    (await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyWrapped'),
    [],
  );
  const yes = await cliAnswering('yes', '-c', a.file, 'join', b.id);
  t.is(yes.code, 0, yes.stderr);
  t.is((await b.run('start')).code, 0);
});

for (const [label, modulusLength, publicExponent] of [
  ['a 1024-bit modulus', 1024, 65537],
  ['exponent 3', 2048, 3],
] as const) {
  test(`a weak newcomer key (${label}), even registered consistently and confirmed: refused`, async (t) => {
    t.timeout(60_000);
    const { dir, a, b } = await waiting();
    const weak = generateKeyPairSync('rsa', { modulusLength, publicExponent }).publicKey.export({ format: 'jwk' }) as { n: string; e: string };
    const publicKey = { kty: 'RSA', n: weak.n, e: weak.e, alg: 'RSA-OAEP-256', use: 'enc' };
    const tp = rightOf(await joseCrypto().thumbprint(publicKey as never)());
    const swap = (d: Record<string, unknown>) => ({ ...d, publicKey: { ...publicKey, kid: tp }, thumbprint: tp });
    rewriteAndRehash(ledgerFile(dir), DSTREAM, await revisionOf(dir, DSTREAM, 'PublicKeyStored', b.id), swap);
    rewriteAndRehash(ledgerFile(dir), instanceStream(b.id), await revisionOf(dir, instanceStream(b.id), 'KeyPairIssued', b.id), swap);
    const join = await a.run('join', b.id, '--expect-thumbprint', tp);
    t.is(join.code, 5, join.stderr);
    t.regex(join.stderr, /too weak/);
    t.deepEqual(
      (await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyWrapped'),
      [],
    );
    t.true(fs.existsSync(ledgerFile(dir)));
  });
}

test("trusted cache: the local state's saved view edited (the newcomer's key swapped for the attacker's) → join reads the verified ledger, never the cache", async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await waiting();
  t.is((await a.run('list')).code, 0); // the shared view is saved in the state folder
  const evil = await attackerKey();
  const real = keystoreThumbprint(b.file);
  let named = false;
  const edited = editCheckpointState(path.join(dir, '.keyledger', 'projections.db'), (json) => {
    named ||= json.includes(real);
    return json.replaceAll(real, evil.thumbprint);
  });
  t.true(named && edited > 0, 'the cache names the newcomer by its thumbprint');
  const forged = await a.run('join', b.id, '--expect-thumbprint', evil.thumbprint);
  t.is(forged.code, 5, forged.stderr);
  t.regex(forged.stderr, new RegExp(`key is ${real}, not the expected ${evil.thumbprint}`));
  t.regex((await a.run('list')).stdout, new RegExp(real.slice(0, 12)), 'the edited cache is not shown either: rebuilt from the ledger');
  t.is((await a.run(...joinArgs(b))).code, 0);
  t.is((await b.run('start')).code, 0, 'the key went to the newcomer’s real key');
});
