/**
 * Issue 9, item 7: every content-encryption key and IV comes from node:crypto
 * (the OS CSPRNG), never from node-forge's JavaScript PRNG (node-jose's own
 * random source), and the JWEs stay standard compact JWEs that node-jose and
 * the independent `jose` package decrypt.
 *
 * The path taken is proved two ways at once, around a wrap and a keystore
 * create: node-forge's PRNG is replaced by a trap that throws (and counts),
 * and node:crypto's randomBytes by a spy that records what it hands out; the
 * IV in the JWE and the CEK recovered from it must be bytes the spy handed out.
 * Both replace process-wide functions, so those tests are serial (ava runs
 * serial tests before the concurrent ones of a file, and each file in its own
 * worker).
 */
import { constants, createPrivateKey, type JsonWebKey, privateDecrypt } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import * as E from 'fp-ts/Either';
import * as jose from 'jose';
import nodeJose from 'node-jose';
import type { CompactJwe } from '../../src/domain/events';
import type { InstallationId } from '../../src/domain/ids';
import { fileKeystore, MACHINE_SECRET_ENV } from '../../src/infra/file-keystore';
import { joseCrypto, privateJwkOf } from '../../src/infra/jose-crypto';
import type { GeneratedKeyPair } from '../../src/ports/crypto';
import { newInstallationId, rightOf, tempDir } from '../support/fixtures';
import { pooledCrypto } from '../support/pooled-crypto';

import nodeCrypto = require('node:crypto');

// The keystore below must create its machine.secret file (from node:crypto too).
delete process.env[MACHINE_SECRET_ENV];

const crypto = pooledCrypto(joseCrypto());

let pairs: Promise<[GeneratedKeyPair, GeneratedKeyPair]> | undefined;
const twoPairs = (): Promise<[GeneratedKeyPair, GeneratedKeyPair]> =>
  (pairs ??= Promise.all([crypto.generateKeyPair(2048)(), crypto.generateKeyPair(2048)()]).then(([a, b]) => [rightOf(a), rightOf(b)]));

const partsOf = (jwe: string): { header: string; encryptedKey: Buffer; iv: Buffer; ciphertext: Buffer; tag: Buffer } => {
  const [header = '', encryptedKey = '', iv = '', ciphertext = '', tag = ''] = jwe.split('.');
  const b = (s: string): Buffer => Buffer.from(s, 'base64url');
  return { header, encryptedKey: b(encryptedKey), iv: b(iv), ciphertext: b(ciphertext), tag: b(tag) };
};

/** The CEK inside a wrapped copy, recovered with plain node:crypto. */
const cekOf = (jwe: string, privateJwk: object): Buffer =>
  privateDecrypt(
    { key: createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    partsOf(jwe).encryptedKey,
  );

// ─── The trap and the spy ─────────────────────────────────────────────────

/** node-forge as node-jose loads it (node-jose's lib/deps/forge.js requires node-forge/lib/forge). */
const forge = createRequire(require.resolve('node-jose'))('node-forge/lib/forge') as {
  random: Record<'getBytes' | 'getBytesSync' | 'generate', (...args: unknown[]) => unknown>;
};
const FORGE_RANDOM = ['getBytes', 'getBytesSync', 'generate'] as const;

interface Recorded {
  /** Calls into node-forge's PRNG (each one threw). */
  forgeCalls: number;
  /** What node:crypto's randomBytes handed out, copied (the adapter wipes its CEK after use). */
  osBytes: Buffer[];
}

/** Runs `f` with node-forge's PRNG throwing and node:crypto's randomBytes recorded; restores both. */
const trapped = async <A>(f: (r: Recorded) => Promise<A>): Promise<{ result: A; recorded: Recorded }> => {
  const recorded: Recorded = { forgeCalls: 0, osBytes: [] };
  const saved = FORGE_RANDOM.map((name) => forge.random[name]);
  const realRandomBytes = nodeCrypto.randomBytes;
  for (const name of FORGE_RANDOM)
    forge.random[name] = () => {
      recorded.forgeCalls++;
      throw new Error(`node-forge's PRNG was consulted (random.${name})`);
    };
  nodeCrypto.randomBytes = ((size: number, ...rest: unknown[]) => {
    if (rest.length > 0) return (realRandomBytes as (...a: unknown[]) => unknown)(size, ...rest);
    const out = realRandomBytes(size);
    recorded.osBytes.push(Buffer.from(out));
    return out;
  }) as typeof nodeCrypto.randomBytes;
  try {
    return { result: await f(recorded), recorded };
  } finally {
    FORGE_RANDOM.forEach((name, i) => {
      forge.random[name] = saved[i]!;
    });
    nodeCrypto.randomBytes = realRandomBytes;
  }
};

const handedOut = (r: Recorded, bytes: Buffer): boolean => r.osBytes.some((b) => b.equals(bytes));

// ─── The path taken ───────────────────────────────────────────────────────

test.serial('the trap is wired to what node-jose draws from: jose.util.randomBytes throws under it', async (t) => {
  t.timeout(10_000);
  const { recorded } = await trapped(async () => t.throws(() => nodeJose.util.randomBytes(12), { message: /node-forge's PRNG was consulted/ }));
  t.is(recorded.forgeCalls, 1);
  t.is(nodeJose.util.randomBytes(12).length, 12, 'restored afterwards');
});

test.serial('wrap: CEK and IV come from node:crypto; node-forge PRNG untouched', async (t) => {
  t.timeout(30_000);
  const [a] = await twoPairs();
  const key = crypto.createSymmetricKey();
  const { result: jwe, recorded } = await trapped(async () => rightOf(await crypto.wrap(key, a.publicKey)()));
  t.is(recorded.forgeCalls, 0);
  const { iv } = partsOf(jwe);
  const cek = cekOf(jwe, privateJwkOf(a.privateKey));
  t.is(iv.length, 12);
  t.is(cek.length, 32);
  t.true(handedOut(recorded, iv), 'the IV is bytes node:crypto.randomBytes returned');
  t.true(handedOut(recorded, cek), 'the CEK is bytes node:crypto.randomBytes returned');
  t.deepEqual(
    recorded.osBytes.map((b) => b.length),
    [32, 12],
    'one CEK, one IV, nothing else',
  );
  // Unwrapping draws nothing at all.
  const unwrapped = await trapped(async () => rightOf(await crypto.unwrap(jwe, a.privateKey)()));
  t.is(unwrapped.recorded.forgeCalls, 0);
  t.is(crypto.keyCheck(unwrapped.result), crypto.keyCheck(key));
});

test.serial('keystore create: the private-key JWE IV comes from node:crypto; node-forge PRNG untouched; it opens again', async (t) => {
  t.timeout(30_000);
  const [a] = await twoPairs();
  const root = tempDir('kl-random');
  try {
    const file = path.join(root, 'ks', 'instance.keystore.json');
    const binding = { installationId: newInstallationId() as InstallationId, serviceIdentity: 'NT SERVICE\\ReportServer' };
    const { result: created, recorded } = await trapped(async () => fileKeystore(file).create(binding, a)());
    t.deepEqual(created, E.right(undefined));
    t.is(recorded.forgeCalls, 0);
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { privateKey: string; kdf: { salt: string } };
    const { iv, encryptedKey } = partsOf(stored.privateKey);
    t.is(encryptedKey.length, 0, 'dir: no encrypted key, the CEK is the HKDF-derived key');
    t.is(iv.length, 12);
    t.true(handedOut(recorded, iv), 'the IV is bytes node:crypto.randomBytes returned');
    t.true(handedOut(recorded, Buffer.from(stored.kdf.salt, 'base64url')), 'the salt too');
    const loaded = await trapped(async () => rightOf(await fileKeystore(file).load(binding)()));
    t.is(loaded.recorded.forgeCalls, 0);
    t.is(loaded.result.thumbprint, a.thumbprint);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

// ─── Still the same standard JWE ──────────────────────────────────────────

test('wrap: the protected header is exactly {alg: RSA-OAEP-256, kid, enc: A256GCM}, in that order', async (t) => {
  t.timeout(30_000);
  const [a] = await twoPairs();
  const jwe = rightOf(await crypto.wrap(crypto.createSymmetricKey(), a.publicKey)());
  t.is(Buffer.from(partsOf(jwe).header, 'base64url').toString('utf8'), JSON.stringify({ alg: 'RSA-OAEP-256', kid: a.thumbprint, enc: 'A256GCM' }));
  const { tag } = partsOf(jwe);
  t.is(tag.length, 16);
});

test('interop: the independent jose package decrypts a wrapped copy (private key as a node:crypto KeyObject)', async (t) => {
  t.timeout(30_000);
  const [a] = await twoPairs();
  const key = crypto.createSymmetricKey();
  const jwe = rightOf(await crypto.wrap(key, a.publicKey)());
  const privateKey = createPrivateKey({ key: privateJwkOf(a.privateKey) as JsonWebKey, format: 'jwk' });
  const { plaintext, protectedHeader } = await jose.compactDecrypt(jwe, privateKey, {
    keyManagementAlgorithms: ['RSA-OAEP-256'],
    contentEncryptionAlgorithms: ['A256GCM'],
  });
  t.deepEqual(protectedHeader, { alg: 'RSA-OAEP-256', kid: a.thumbprint, enc: 'A256GCM' });
  t.is(plaintext.length, 32);
  t.is(nodeCrypto.createHmac('sha256', plaintext).update('keyledger/key-check/v1').digest('base64url'), crypto.keyCheck(key));
});

test('interop: node-jose decrypts a wrapped copy, and unwrap opens one node-jose made (copies already in ledgers)', async (t) => {
  t.timeout(30_000);
  const [a] = await twoPairs();
  const nodeJoseKey = await nodeJose.JWK.asKey(privateJwkOf(a.privateKey) as nodeJose.JWK.RawKey);
  const key = crypto.createSymmetricKey();
  const ours = rightOf(await crypto.wrap(key, a.publicKey)());
  const opened = await nodeJose.JWE.createDecrypt(nodeJoseKey).decrypt(ours);
  t.is(nodeCrypto.createHmac('sha256', opened.plaintext).update('keyledger/key-check/v1').digest('base64url'), crypto.keyCheck(key));

  const raw = nodeCrypto.randomBytes(32);
  const publicKey = await nodeJose.JWK.asKey(a.publicKey as unknown as nodeJose.JWK.RawKey);
  const theirs = await nodeJose.JWE.createEncrypt({ format: 'compact', contentAlg: 'A256GCM', fields: { alg: 'RSA-OAEP-256', kid: a.thumbprint } }, {
    key: publicKey,
    reference: false,
  } as unknown as nodeJose.JWK.Key)
    .update(raw)
    .final();
  t.is(partsOf(theirs).header, partsOf(ours).header, 'byte-identical protected header');
  const unwrapped = rightOf(await crypto.unwrap(theirs as CompactJwe, a.privateKey)());
  t.is(nodeCrypto.createHmac('sha256', raw).update('keyledger/key-check/v1').digest('base64url'), crypto.keyCheck(unwrapped));
});

test('two wraps of the same key: different CEKs, IVs and ciphertexts; both unwrap to the key', async (t) => {
  t.timeout(30_000);
  const [a] = await twoPairs();
  const key = crypto.createSymmetricKey();
  const [one, two] = [rightOf(await crypto.wrap(key, a.publicKey)()), rightOf(await crypto.wrap(key, a.publicKey)())];
  const jwk = privateJwkOf(a.privateKey);
  t.false(cekOf(one, jwk).equals(cekOf(two, jwk)), 'CEKs differ');
  t.false(partsOf(one).iv.equals(partsOf(two).iv), 'IVs differ');
  t.false(partsOf(one).ciphertext.equals(partsOf(two).ciphertext), 'ciphertexts differ');
  for (const jwe of [one, two]) t.is(crypto.keyCheck(rightOf(await crypto.unwrap(jwe, a.privateKey)())), crypto.keyCheck(key));
});

// ─── Unwrap is strict about what it opens ─────────────────────────────────

const withHeader = (jwe: string, edit: (h: Record<string, unknown>) => void): CompactJwe => {
  const parts = jwe.split('.');
  const h = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(h);
  parts[0] = Buffer.from(JSON.stringify(h), 'utf8').toString('base64url');
  return parts.join('.') as CompactJwe;
};

const unwrapFails = async (t: ExecutionContext, jwe: CompactJwe, message: RegExp): Promise<void> => {
  const [a] = await twoPairs();
  const r = await crypto.unwrap(jwe, a.privateKey)();
  t.true(E.isLeft(r) && r.left._tag === 'CryptoError' && r.left.operation === 'unwrap' && message.test(r.left.message), JSON.stringify(r));
};

test('unwrap refuses zip and crit, and a wrong key or an edited header as "not encrypted for this private key"', async (t) => {
  t.timeout(30_000);
  const [a, b] = await twoPairs();
  const jwe = rightOf(await crypto.wrap(crypto.createSymmetricKey(), a.publicKey)());
  await unwrapFails(
    t,
    withHeader(jwe, (h) => (h['zip'] = 'DEF')),
    /without zip or crit/,
  );
  await unwrapFails(
    t,
    withHeader(jwe, (h) => (h['crit'] = ['exp'])),
    /without zip or crit/,
  );
  await unwrapFails(
    t,
    withHeader(jwe, (h) => (h['kid'] = b.thumbprint)),
    /^the JWE was not encrypted for this private key$/,
  );
  const forB = rightOf(await crypto.wrap(crypto.createSymmetricKey(), b.publicKey)());
  await unwrapFails(t, forB, /^the JWE was not encrypted for this private key$/);
});

// ─── Copies bound to where they belong (issue 9) ──────────────────────────

const rightOfE = <L, A>(r: E.Either<L, A>): A => {
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  return r.right;
};

test('a copy binds deployment, recipient and key version in its protected header; unwrap refuses it elsewhere, accepts unbound (older) copies', async (t) => {
  t.timeout(30_000);
  const c = joseCrypto();
  const pair = rightOfE(await c.generateKeyPair(2048)());
  const key = c.createSymmetricKey();
  const binding = { deploymentId: 'default', installationId: '6F1C2B0E-8A4D-4C1E-9B7A-2D5E8F0A1C3B', keyVersion: 2 };
  const bound = rightOfE(await c.wrap(key, pair.publicKey, binding)());
  const header = JSON.parse(Buffer.from(bound.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  t.like(header, { alg: 'RSA-OAEP-256', enc: 'A256GCM', kl_dep: 'default', kl_inst: '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b', kl_ver: 2 });
  t.true(E.isRight(await c.unwrap(bound, pair.privateKey, { ...binding, installationId: binding.installationId.toLowerCase() })()));
  for (const other of [
    { ...binding, deploymentId: 'other' },
    { ...binding, keyVersion: 1 },
    { ...binding, installationId: '0a6e1f3c-2b7d-4e9a-8c5f-1d3b6a9e2f4c' },
  ]) {
    const r = await c.unwrap(bound, pair.privateKey, other)();
    t.true(E.isLeft(r) && /the copy is bound to deployment default, installation 6f1c2b0e/.test(r.left.message), JSON.stringify(r));
  }
  const unbound = rightOfE(await c.wrap(key, pair.publicKey)());
  t.true(E.isRight(await c.unwrap(unbound, pair.privateKey, binding)()), 'copies written before bindings still unwrap');
});
