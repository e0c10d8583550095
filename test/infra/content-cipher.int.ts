/**
 * The content cipher (src/infra/content-cipher.ts): a standard compact JWE (dir + A256GCM) that the independent
 * `jose` package decrypts, whose protected header binds deployment, secret name and key version, and which
 * refuses anything altered.
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { contentCipher } from '../../src/infra/content-cipher';
import { privateJwkOf } from '../../src/infra/jose-crypto';
import type { SymmetricKeyHandle } from '../../src/ports/crypto';
import { rightOf } from '../support/fixtures';
import { pooledCrypto } from '../support/pooled-crypto';
import { unwrapWithNodeCrypto } from '../support/secrets';
import { editPart, flip } from '../support/jwe-edits';

const cipher = contentCipher();
const BINDING = { deploymentId: 'default', name: 'reportserver/datasource/sales', keyVersion: 1 };
const VALUE = 'Server=db1;User Id=rs;Password=Tr0ub4dor&3';

/** A fresh deployment key, and its raw bytes recovered independently (wrapped for a pooled RSA key, unwrapped with node:crypto). */
const aKey = async (): Promise<{ key: SymmetricKeyHandle; raw: Buffer }> => {
  const crypto = pooledCrypto();
  const key = crypto.createSymmetricKey();
  const pair = rightOf(await crypto.generateKeyPair(2048)());
  const jwe = rightOf(await crypto.wrap(key, pair.publicKey)());
  return { key, raw: unwrapWithNodeCrypto(jwe, privateJwkOf(pair.privateKey)) };
};

test('interop: the independent jose package decrypts a secret with the raw key; the header names key version, deployment and secret', async (t) => {
  t.timeout(10_000);
  const { key, raw } = await aKey();
  const jwe = cipher.seal(key, Buffer.from(VALUE), BINDING);
  t.is(jwe.split('.')[1], '', 'dir: no encrypted key');
  const header = decodeProtectedHeader(jwe);
  t.like(header, { alg: 'dir', enc: 'A256GCM', kid: 'v1', kl_dep: 'default', kl_name: BINDING.name, kl_ver: 1 });
  const { plaintext } = await compactDecrypt(jwe, new Uint8Array(raw));
  t.is(Buffer.from(plaintext).toString('utf8'), VALUE);
  t.is(rightOf(cipher.open(key, jwe, BINDING)).toString('utf8'), VALUE);
});

test('interop: a JWE the jose package made (dir + A256GCM, same binding) opens', async (t) => {
  t.timeout(10_000);
  const { CompactEncrypt } = await import('jose');
  const { key, raw } = await aKey();
  const jwe = await new CompactEncrypt(Buffer.from(VALUE))
    .setProtectedHeader({ enc: 'A256GCM', alg: 'dir', kl_ver: 1, kl_name: BINDING.name, kl_dep: 'default' })
    .encrypt(new Uint8Array(raw));
  t.is(rightOf(cipher.open(key, jwe, BINDING)).toString('utf8'), VALUE);
});

test('two seals of one value differ (fresh IV each) and have different fingerprints', async (t) => {
  t.timeout(10_000);
  const { key } = await aKey();
  const a = cipher.seal(key, Buffer.from(VALUE), BINDING);
  const b = cipher.seal(key, Buffer.from(VALUE), BINDING);
  t.not(a, b);
  t.not(cipher.fingerprint(a), cipher.fingerprint(b));
  t.regex(cipher.fingerprint(a), /^[A-Za-z0-9_-]{43}$/);
});

test('tampered ciphertext, tag, IV or header: refused, never a wrong value', async (t) => {
  t.timeout(10_000);
  const { key } = await aKey();
  const jwe = cipher.seal(key, Buffer.from(VALUE), BINDING);
  for (const part of [2, 3, 4]) t.deepEqual(cipher.open(key, editPart(jwe, part, flip), BINDING), E.left({ _tag: 'DoesNotDecrypt' }), `part ${part}`);
  // The header rewritten to name another secret: it is the AAD, so the tag no longer verifies.
  const relabelled = editPart(jwe, 0, (h) =>
    Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), kl_name: 'other' })).toString('base64url'),
  );
  t.deepEqual(cipher.open(key, relabelled, { ...BINDING, name: 'other' }), E.left({ _tag: 'DoesNotDecrypt' }));
  t.deepEqual(cipher.open(key, 'not.a.jwe', BINDING), E.left({ _tag: 'Malformed' }));
  t.deepEqual(
    cipher.open(
      key,
      editPart(jwe, 1, () => 'AAAA'),
      BINDING,
    ),
    E.left({ _tag: 'Malformed' }),
    'an encrypted key where dir has none',
  );
  const zipped = editPart(jwe, 0, (h) =>
    Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), zip: 'DEF' })).toString('base64url'),
  );
  t.deepEqual(cipher.open(key, zipped, BINDING), E.left({ _tag: 'Malformed' }));
});

test('a ciphertext of another secret, deployment or key version (swapped, not altered): BoundElsewhere', async (t) => {
  t.timeout(10_000);
  const { key } = await aKey();
  const jwe = cipher.seal(key, Buffer.from(VALUE), BINDING);
  for (const expected of [
    { ...BINDING, name: 'smtp/password' },
    { ...BINDING, deploymentId: 'staging' },
    { ...BINDING, keyVersion: 2 },
  ]) {
    const r = cipher.open(key, jwe, expected);
    t.true(E.isLeft(r) && r.left._tag === 'BoundElsewhere', JSON.stringify(expected));
  }
});

test('another key: DoesNotDecrypt', async (t) => {
  t.timeout(10_000);
  const a = await aKey();
  const b = await aKey();
  t.deepEqual(cipher.open(b.key, cipher.seal(a.key, Buffer.from(VALUE), BINDING), BINDING), E.left({ _tag: 'DoesNotDecrypt' }));
});
