/**
 * The key backup file (src/infra/key-backup.ts): a standard PBES2-HS512+A256KW compact JWE that the
 * independent `jose` package and node-jose decrypt to the very key; every refusal before anything is
 * derived or trusted (malformed, truncated, iterations above the ceiling) and after (wrong password,
 * altered content) distinct.
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import jose from 'node-jose';
import { ALG, CEILING, DEFAULT_ITERATIONS, keyBackupCipher } from '../../src/infra/key-backup';
import { joseCrypto, symmetricKeyBytesOf } from '../../src/infra/jose-crypto';
import { rightOf } from '../support/fixtures';
import { editPart, flip } from '../support/jwe-edits';

const PASSWORD = 'correct horse battery staple';
const HEADER = { deploymentId: 'default', keyVersion: 3, genesisThumbprint: 'g3n3sis' };
const crypto = joseCrypto();

const sealed = async (iterations = 1000) => {
  const key = crypto.createSymmetricKey();
  return { key, text: rightOf(await keyBackupCipher.seal(key, HEADER, PASSWORD, iterations)()) };
};

const withHeader = (text: string, change: (h: Record<string, unknown>) => Record<string, unknown>): string =>
  editPart(text, 0, (p) => Buffer.from(JSON.stringify(change(JSON.parse(Buffer.from(p, 'base64url').toString('utf8')))), 'utf8').toString('base64url'));

test('the independent jose package decrypts a backup to the very key; its header names deployment, key version and genesis', async (t) => {
  t.timeout(20_000);
  const { key, text } = await sealed();
  const header = decodeProtectedHeader(text);
  t.like(header, { alg: ALG, enc: 'A256GCM', p2c: 1000, kl_dep: 'default', kl_ver: 3, kl_genesis: 'g3n3sis' });
  const out = await compactDecrypt(text, new TextEncoder().encode(PASSWORD), { keyManagementAlgorithms: [ALG], maxPBES2Count: 10_000 });
  t.deepEqual(Buffer.from(out.plaintext), symmetricKeyBytesOf(key));
});

test('node-jose decrypts it too', async (t) => {
  t.timeout(20_000);
  const { key, text } = await sealed();
  const pw = await jose.JWK.asKey({ kty: 'oct', k: Buffer.from(PASSWORD, 'utf8').toString('base64url') });
  const out = await jose.JWE.createDecrypt(pw).decrypt(text);
  t.deepEqual(out.plaintext, symmetricKeyBytesOf(key));
});

test('open gives back a key with the same key check', async (t) => {
  t.timeout(20_000);
  const { key, text } = await sealed();
  const opened = rightOf(await keyBackupCipher.open(text, PASSWORD)());
  t.is(crypto.keyCheck(opened), crypto.keyCheck(key));
  t.deepEqual(rightOf(keyBackupCipher.inspect(text)), { ...HEADER, iterations: 1000 });
});

test('each unusable file is its own refusal', async (t) => {
  t.timeout(20_000);
  const { text } = await sealed();
  const tagOf = async (x: string, pw = PASSWORD) => {
    const r = await keyBackupCipher.open(x, pw)();
    return E.isLeft(r) ? r.left._tag : 'opened';
  };
  t.is(await tagOf(text, 'not the password at all'), 'BackupPasswordWrong');
  t.is(await tagOf(text.slice(0, text.length - 30)), 'BackupMalformed');
  t.is(await tagOf(text.slice(0, text.lastIndexOf('.'))), 'BackupMalformed');
  t.is(await tagOf('hello'), 'BackupMalformed');
  t.is(await tagOf(editPart(text, 3, flip)), 'BackupCorrupted');
  t.is(await tagOf(editPart(text, 4, flip)), 'BackupCorrupted');
  // The header is the AAD: naming another deployment in it breaks the authentication.
  t.is(await tagOf(withHeader(text, (h) => ({ ...h, kl_dep: 'other' }))), 'BackupCorrupted');
  t.is(await tagOf(withHeader(text, (h) => ({ ...h, alg: 'PBES2-HS256+A128KW' }))), 'BackupMalformed');
  t.is(await tagOf(withHeader(text, (h) => ({ ...h, p2c: 1.5 }))), 'BackupMalformed');
});

test('an iteration count above the ceiling is refused at once, before anything is derived', async (t) => {
  t.timeout(5_000);
  const { text } = await sealed();
  const huge = withHeader(text, (h) => ({ ...h, p2c: 1_000_000_000 }));
  const started = Date.now();
  const r = await keyBackupCipher.open(huge, PASSWORD)();
  t.deepEqual(r, E.left({ _tag: 'BackupIterationsTooHigh', iterations: 1_000_000_000, ceiling: CEILING }));
  t.true(Date.now() - started < 200);
  t.true(CEILING >= DEFAULT_ITERATIONS * 4);
});
