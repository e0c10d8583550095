/**
 * The node-jose crypto adapter: RFC 7638 thumbprints, key pairs, wrapping the
 * symmetric key as a compact JWE (checked independently with node:crypto),
 * and handles that never print key material.
 */
import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import test from 'ava';
import * as E from 'fp-ts/Either';
import type { CompactJwe, PublicJwk } from '../../src/domain/events';
import { joseCrypto, privateJwkOf } from '../../src/infra/jose-crypto';
import type { GeneratedKeyPair } from '../../src/ports/crypto';
import { rightOf } from '../support/fixtures';
import { unwrapWithNodeCrypto } from '../support/secrets';

const crypto = joseCrypto();
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint. */
const RFC7638_KEY = {
  kty: 'RSA',
  n:
    '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64t' +
    'Z_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO' +
    'pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29',
};
const RFC7638_THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

// Key generation is the slow part: share two 2048-bit pairs across tests.
let pairs: Promise<[GeneratedKeyPair, GeneratedKeyPair]> | undefined;
const twoPairs = (): Promise<[GeneratedKeyPair, GeneratedKeyPair]> =>
  (pairs ??= Promise.all([crypto.generateKeyPair(2048)(), crypto.generateKeyPair(2048)()]).then(([a, b]) => [rightOf(a), rightOf(b)]));

const headerOf = (jwe: string): unknown => JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8'));

// ─── Thumbprints ──────────────────────────────────────────────────────────

test('thumbprint: the RFC 7638 §3.1 test vector', async (t) => {
  t.timeout(10_000);
  t.deepEqual(await crypto.thumbprint(RFC7638_KEY as unknown as PublicJwk)(), E.right(RFC7638_THUMBPRINT));
});

test('thumbprint: only the required members count (alg, use, kid are ignored)', async (t) => {
  t.timeout(10_000);
  const { alg: _alg, kid: _kid, ...bare } = RFC7638_KEY;
  t.deepEqual(await crypto.thumbprint({ ...bare, use: 'enc' } as unknown as PublicJwk)(), E.right(RFC7638_THUMBPRINT));
});

// ─── Key pairs ────────────────────────────────────────────────────────────

for (const size of [2048, 3072] as const) {
  test(`generateKeyPair ${size}: a public JWK with no private members, named by its thumbprint`, async (t) => {
    t.timeout(120_000);
    const pair = rightOf(await crypto.generateKeyPair(size)());
    t.is(pair.keySize, size);
    t.deepEqual(Object.keys(pair.publicKey).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
    for (const m of PRIVATE_MEMBERS) t.false(m in pair.publicKey, `public key carries ${m}`);
    t.is(pair.publicKey.kty, 'RSA');
    t.is(pair.publicKey.alg, 'RSA-OAEP-256');
    t.is(pair.publicKey.use, 'enc');
    t.is(pair.publicKey.e as string, 'AQAB');
    t.is(Buffer.from(pair.publicKey.n, 'base64url').length, size / 8);
    t.regex(pair.thumbprint, /^[A-Za-z0-9_-]{43}$/);
    t.is(pair.publicKey.kid, pair.thumbprint);
    t.deepEqual(await crypto.thumbprint(pair.publicKey)(), E.right(pair.thumbprint));
    t.is(pair.privateKey.thumbprint, pair.thumbprint);
    t.is(pair.privateKey.kind, 'PrivateKey');
  });
}

test('generateKeyPair: two pairs are different keys', async (t) => {
  t.timeout(120_000);
  const [a, b] = await twoPairs();
  t.not(a.thumbprint, b.thumbprint);
  t.not(a.publicKey.n, b.publicKey.n);
});

// ─── Wrapping the symmetric key ───────────────────────────────────────────

test('wrap → unwrap round trip yields the same key (same key check)', async (t) => {
  t.timeout(120_000);
  const [a] = await twoPairs();
  const key = crypto.createSymmetricKey();
  const jwe = rightOf(await crypto.wrap(key, a.publicKey)());
  const unwrapped = rightOf(await crypto.unwrap(jwe, a.privateKey)());
  t.is(crypto.keyCheck(unwrapped), crypto.keyCheck(key));
  t.regex(crypto.keyCheck(key), /^[A-Za-z0-9_-]{43}$/);
});

test('two symmetric keys have different key checks', (t) => {
  t.not(crypto.keyCheck(crypto.createSymmetricKey()), crypto.keyCheck(crypto.createSymmetricKey()));
});

test('unwrap with another private key fails: CryptoError, operation unwrap', async (t) => {
  t.timeout(120_000);
  const [a, b] = await twoPairs();
  const jwe = rightOf(await crypto.wrap(crypto.createSymmetricKey(), a.publicKey)());
  t.deepEqual(
    await crypto.unwrap(jwe, b.privateKey)(),
    E.left({ _tag: 'CryptoError', operation: 'unwrap', message: 'the JWE was not encrypted for this private key' }),
  );
});

test('unwrap of a tampered ciphertext fails: CryptoError, operation unwrap', async (t) => {
  t.timeout(120_000);
  const [a] = await twoPairs();
  const jwe = rightOf(await crypto.wrap(crypto.createSymmetricKey(), a.publicKey)());
  const parts = jwe.split('.');
  const ct = Buffer.from(parts[3]!, 'base64url');
  ct[0] = ct[0]! ^ 0xff;
  parts[3] = ct.toString('base64url');
  const r = await crypto.unwrap(parts.join('.') as CompactJwe, a.privateKey)();
  t.is(E.isLeft(r) ? `${r.left._tag}/${r.left.operation}` : 'unwrapped', 'CryptoError/unwrap');
});

test('the wrapped key is a compact JWE whose header is exactly RSA-OAEP-256 + A256GCM (and the recipient kid)', async (t) => {
  t.timeout(120_000);
  const [a] = await twoPairs();
  const jwe = rightOf(await crypto.wrap(crypto.createSymmetricKey(), a.publicKey)());
  const parts = jwe.split('.');
  t.is(parts.length, 5);
  t.deepEqual(headerOf(jwe), { alg: 'RSA-OAEP-256', kid: a.thumbprint, enc: 'A256GCM' });
  t.is(Buffer.from(parts[1]!, 'base64url').length, 256, 'RSA-2048 encrypted key');
  t.is(Buffer.from(parts[2]!, 'base64url').length, 12, '96-bit GCM IV');
  t.is(Buffer.from(parts[3]!, 'base64url').length, 32, 'a 256-bit key');
  t.is(Buffer.from(parts[4]!, 'base64url').length, 16, '128-bit GCM tag');
});

test('interop: plain node:crypto decrypts the JWE (RSA-OAEP SHA-256, then AES-256-GCM) to the key behind the key check', async (t) => {
  t.timeout(120_000);
  const [a] = await twoPairs();
  const key = crypto.createSymmetricKey();
  const jwe = rightOf(await crypto.wrap(key, a.publicKey)());
  const bytes = unwrapWithNodeCrypto(jwe, privateJwkOf(a.privateKey));
  t.is(bytes.length, 32);
  t.is(createHmac('sha256', bytes).update('keyledger/key-check/v1').digest('base64url'), crypto.keyCheck(key));
});

test('interop: a JWE with the AAD (protected header) changed does not decrypt', async (t) => {
  t.timeout(120_000);
  const [a] = await twoPairs();
  const jwe = rightOf(await crypto.wrap(crypto.createSymmetricKey(), a.publicKey)());
  const parts = jwe.split('.');
  parts[0] = Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: a.thumbprint })).toString('base64url');
  t.throws(() => unwrapWithNodeCrypto(parts.join('.'), privateJwkOf(a.privateKey)), { message: /unable to authenticate data/i });
});

// ─── Handles redact ───────────────────────────────────────────────────────

test('a PrivateKeyHandle prints and serializes as a redaction marker, never key material', async (t) => {
  t.timeout(120_000);
  const [a] = await twoPairs();
  const jwk = privateJwkOf(a.privateKey) as Record<string, string>;
  const outputs = [
    JSON.stringify(a.privateKey),
    inspect(a.privateKey),
    String(a.privateKey),
    `${a.privateKey}`,
    JSON.stringify(a),
    inspect(a, { depth: 10, showHidden: true }),
    inspect({ nested: { a } }),
  ];
  t.is(JSON.stringify(a.privateKey), JSON.stringify(`[private key ${a.thumbprint}: redacted]`));
  for (const out of outputs) {
    t.true(out.includes('redacted'), out);
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
      t.false(out.includes(jwk[m]!), `output leaks ${m}`);
      t.false(out.includes(jwk[m]!.slice(0, 16)), `output leaks the start of ${m}`);
    }
    t.false(/"d"\s*:/.test(out));
  }
});

test('a SymmetricKeyHandle prints and serializes as a redaction marker, never the key bytes', async (t) => {
  t.timeout(120_000);
  const [a] = await twoPairs();
  const key = crypto.createSymmetricKey();
  const bytes = unwrapWithNodeCrypto(rightOf(await crypto.wrap(key, a.publicKey)()), privateJwkOf(a.privateKey));
  const outputs = [JSON.stringify(key), inspect(key), String(key), inspect({ key }, { showHidden: true }), JSON.stringify({ key })];
  t.is(JSON.stringify(key), '"[symmetric key: redacted]"');
  for (const out of outputs) {
    t.true(out.includes('redacted'), out);
    for (const encoding of ['hex', 'base64', 'base64url'] as const) t.false(out.includes(bytes.toString(encoding)), `output leaks the key as ${encoding}`);
    t.false(out.includes(bytes.subarray(0, 8).toString('hex')));
  }
});
