/**
 * The crypto adapter: RSA key pairs (RSA-OAEP-256) and RFC 7638 thumbprints
 * with node-jose; the symmetric key wrapped as a compact JWE
 * (RSA-OAEP-256 + A256GCM, RFC 7516 §7.1) with node:crypto. node-jose is
 * imported nowhere outside src/infra/.
 *
 * Randomness: every content-encryption key and IV comes from node:crypto's
 * `randomBytes` (the OS CSPRNG). node-jose would draw them from node-forge's
 * JavaScript PRNG (`jose.util.randomBytes` is `forge.random.getBytes`, a
 * Fortuna generator reseeded from a UTF-8 decode of OS bytes), so the wrap
 * below does not go through node-jose's encrypt. The JWE is the same standard
 * compact JWE node-jose produced (same protected header, member order
 * included); node-jose and the `jose` package decrypt it
 * (test/infra/randomness.int.ts).
 *
 * Key material only ever sits in the WeakMaps below, keyed by opaque handles
 * whose toJSON / inspect output is a redaction marker. Imported keys are kept
 * once per process: a node:crypto KeyObject per private-key handle, and the
 * recipients' public keys in a small bounded cache.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { inspect } from 'node:util';
import * as E from 'fp-ts/Either';
import * as TE from 'fp-ts/TaskEither';
import jose from 'node-jose';
import { type Base64Url, CompactJwe, type KeySize, type PublicJwk } from '../domain/events';
import { Thumbprint } from '../domain/ids';
import { errorMessage } from './error-message';
import { signatures } from './signing';
import type { CopyBinding, Crypto, CryptoError, GeneratedKeyPair, PrivateKeyHandle, SymmetricKeyHandle } from '../ports/crypto';

const KEY_CHECK_LABEL = 'keyledger/key-check/v1';

// ─── Opaque handles ───────────────────────────────────────────────────────

const privateKeys = new WeakMap<PrivateKeyHandle, jose.JWK.Key>();
/** The same private keys as node:crypto objects, imported on first unwrap. */
const privateKeyObjects = new WeakMap<PrivateKeyHandle, KeyObject>();
const symmetricKeys = new WeakMap<SymmetricKeyHandle, Buffer>();

class PrivateKeyBox implements PrivateKeyHandle {
  readonly kind = 'PrivateKey' as const;
  constructor(readonly thumbprint: Thumbprint) {}
  toJSON(): string {
    return `[private key ${this.thumbprint}: redacted]`;
  }
  [inspect.custom](): string {
    return this.toJSON();
  }
  toString(): string {
    return this.toJSON();
  }
}

class SymmetricKeyBox implements SymmetricKeyHandle {
  readonly kind = 'SymmetricKey' as const;
  toJSON(): string {
    return '[symmetric key: redacted]';
  }
  [inspect.custom](): string {
    return this.toJSON();
  }
  toString(): string {
    return this.toJSON();
  }
}

const symmetricFrom = (bytes: Buffer): SymmetricKeyHandle => {
  const h = new SymmetricKeyBox();
  symmetricKeys.set(h, bytes);
  return h;
};

const bytesOf = (h: SymmetricKeyHandle): Buffer => {
  const b = symmetricKeys.get(h);
  if (!b) throw new Error('programmer error: symmetric key handle from another adapter');
  return b;
};

/** The same symmetric keys as node:crypto secret-key objects, imported once (content encryption, src/infra/content-cipher.ts). */
const symmetricKeyObjects = new WeakMap<SymmetricKeyHandle, KeyObject>();

/** The symmetric key behind a handle as a node:crypto KeyObject, imported on first use. Infra only. */
export const symmetricKeyObjectOf = (h: SymmetricKeyHandle): KeyObject => {
  let k = symmetricKeyObjects.get(h);
  if (!k) {
    k = createSecretKey(bytesOf(h));
    symmetricKeyObjects.set(h, k);
  }
  return k;
};

/** The bytes behind a handle, for the key backup's encryption (src/infra/key-backup.ts). Infra only; the caller never keeps them. */
export const symmetricKeyBytesOf = (h: SymmetricKeyHandle): Buffer => bytesOf(h);

/** A handle for a key read back from a backup (src/infra/key-backup.ts). Infra only: the bytes are owned by the handle from now on. */
export const symmetricKeyFromBytes = (bytes: Buffer): SymmetricKeyHandle => symmetricFrom(bytes);

const joseKeyOf = (h: PrivateKeyHandle): jose.JWK.Key => {
  const k = privateKeys.get(h);
  if (!k) throw new Error('programmer error: private key handle from another adapter');
  return k;
};

const privateKeyObjectOf = (h: PrivateKeyHandle): KeyObject => {
  let k = privateKeyObjects.get(h);
  if (!k) {
    k = createPrivateKey({ key: joseKeyOf(h).toJSON(true) as JsonWebKey, format: 'jwk' });
    privateKeyObjects.set(h, k);
  }
  return k;
};

// ─── Recipients' public keys, imported once per process ───────────────────

/** Enough for every member of a large deployment; the least recently used key is dropped beyond it. */
const PUBLIC_KEY_CACHE_SIZE = 256;
/** Keyed by the key itself (e and n), not by its kid, which is only a label. */
const publicKeyObjects = new Map<string, KeyObject>();

const publicKeyObjectOf = (jwk: PublicJwk): KeyObject => {
  if (jwk.kty !== 'RSA' || (jwk.alg ?? 'RSA-OAEP-256') !== 'RSA-OAEP-256' || (jwk.use ?? 'enc') !== 'enc')
    throw new Error('the recipient key is not an RSA-OAEP-256 encryption key');
  const id = `${jwk.e}.${jwk.n}`;
  const hit = publicKeyObjects.get(id);
  if (hit) {
    publicKeyObjects.delete(id); // re-insert: Map order is the recency order
    publicKeyObjects.set(id, hit);
    return hit;
  }
  const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
  publicKeyObjects.set(id, key);
  if (publicKeyObjects.size > PUBLIC_KEY_CACHE_SIZE) publicKeyObjects.delete(publicKeyObjects.keys().next().value as string);
  return key;
};

// ─── The wrapped copy: compact JWE, RSA-OAEP-256 + A256GCM ────────────────

const OAEP_SHA256 = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' } as const;

/**
 * RFC 7516 §5.1 with node:crypto: a fresh 256-bit CEK and 96-bit IV from the
 * OS CSPRNG, the CEK encrypted with RSAES-OAEP (SHA-256, MGF1-SHA-256), the
 * plaintext with AES-256-GCM (128-bit tag) under the ASCII of the encoded
 * protected header as AAD. Header members in node-jose's order: alg, kid, enc.
 */
const bindingHeader = (b: CopyBinding | undefined): Record<string, string | number> =>
  b ? { kl_dep: b.deploymentId, kl_inst: b.installationId.toLowerCase(), kl_ver: b.keyVersion } : {};

const encryptCompact = (plaintext: Buffer, recipient: KeyObject, kid: string, binding?: CopyBinding): string => {
  const header = Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', kid, enc: 'A256GCM', ...bindingHeader(binding) }), 'utf8').toString('base64url');
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  try {
    const encryptedKey = publicEncrypt({ key: recipient, ...OAEP_SHA256 }, cek);
    const gcm = createCipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
    gcm.setAAD(Buffer.from(header, 'ascii'));
    const ciphertext = Buffer.concat([gcm.update(plaintext), gcm.final()]);
    return [header, b64u(encryptedKey), b64u(iv), b64u(ciphertext), b64u(gcm.getAuthTag())].join('.');
  } finally {
    cek.fill(0);
  }
};

const NOT_FOR_THIS_KEY = 'the JWE was not encrypted for this private key';

/**
 * RFC 7516 §5.2 for exactly RSA-OAEP-256 + A256GCM (the protected header must
 * name both; `zip` and `crit` are refused). Like node-jose's decrypt with a
 * given key, the header's kid is not consulted. Every decryption failure
 * reads "not encrypted for this private key", as it did with node-jose.
 */
const decryptCompact = (jwe: CompactJwe, key: KeyObject, expected?: CopyBinding): Buffer => {
  const [header = '', encryptedKey = '', iv = '', ciphertext = '', tag = ''] = jwe.split('.');
  const h = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>;
  if (h['alg'] !== 'RSA-OAEP-256' || h['enc'] !== 'A256GCM' || 'zip' in h || 'crit' in h)
    throw new Error('the JWE is not RSA-OAEP-256 + A256GCM (without zip or crit)');
  const ivBytes = Buffer.from(iv, 'base64url');
  const tagBytes = Buffer.from(tag, 'base64url');
  if (ivBytes.length !== 12 || tagBytes.length !== 16) throw new Error(NOT_FOR_THIS_KEY);
  let cek: Buffer;
  try {
    cek = privateDecrypt({ key, ...OAEP_SHA256 }, Buffer.from(encryptedKey, 'base64url'));
  } catch {
    throw new Error(NOT_FOR_THIS_KEY);
  }
  try {
    if (cek.length !== 32) throw new Error(NOT_FOR_THIS_KEY);
    const gcm = createDecipheriv('aes-256-gcm', cek, ivBytes, { authTagLength: 16 });
    gcm.setAAD(Buffer.from(header, 'ascii'));
    gcm.setAuthTag(tagBytes);
    const plaintext = Buffer.concat([gcm.update(Buffer.from(ciphertext, 'base64url')), gcm.final()]);
    checkBinding(h, expected); // the header is authenticated now (it is the AAD)
    return plaintext;
  } catch (e) {
    throw e instanceof BoundElsewhere ? e : new Error(NOT_FOR_THIS_KEY);
  } finally {
    cek.fill(0);
  }
};

class BoundElsewhere extends Error {}

/** A copy bound (by its header) to another deployment, installation or key version than expected is refused. */
const checkBinding = (h: Record<string, unknown>, expected: CopyBinding | undefined): void => {
  if (!expected || !('kl_dep' in h || 'kl_inst' in h || 'kl_ver' in h)) return;
  const want = bindingHeader(expected);
  if (h['kl_dep'] !== want['kl_dep'] || h['kl_inst'] !== want['kl_inst'] || h['kl_ver'] !== want['kl_ver'])
    throw new BoundElsewhere(
      `the copy is bound to deployment ${String(h['kl_dep'])}, installation ${String(h['kl_inst'])}, key version ${String(h['kl_ver'])}, ` +
        `not to deployment ${want['kl_dep']}, installation ${want['kl_inst']}, key version ${want['kl_ver']}`,
    );
};

// ─── Helpers shared with the keystore adapter (infra only) ────────────────

const fail =
  (operation: CryptoError['operation']) =>
  (e: unknown): CryptoError => ({ _tag: 'CryptoError', operation, message: errorMessage(e) });

const b64u = (buf: Buffer): string => buf.toString('base64url');

const publicJwkOf = (key: jose.JWK.Key): PublicJwk => {
  const j = key.toJSON(false) as Record<string, unknown>;
  return { kty: 'RSA', n: j['n'], e: j['e'], alg: 'RSA-OAEP-256', use: 'enc', kid: j['kid'] } as PublicJwk;
};

const thumbprintOf = async (key: jose.JWK.Key): Promise<Thumbprint> => {
  const tp = b64u(Buffer.from(await key.thumbprint('SHA-256')));
  if (!Thumbprint.is(tp)) throw new Error('thumbprint is not a base64url SHA-256');
  return tp;
};

/**
 * RFC 7638 for an RSA public JWK with node:crypto: SHA-256 over `{"e":…,"kty":"RSA","n":…}`, the members as
 * the JWK spells them (as node-jose's thumbprint does: the same thumbprint for the same JWK), without importing it.
 */
const rsaThumbprint = (jwk: PublicJwk): Thumbprint => {
  if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw new Error('not an RSA public JWK');
  const tp = createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n }), 'utf8')
    .digest('base64url');
  if (!Thumbprint.is(tp)) throw new Error('thumbprint is not a base64url SHA-256');
  return tp;
};

/** Imports a private RSA JWK (from the keystore) as a handle. Infra only. */
export const privateKeyFromJwk = async (jwk: object): Promise<{ handle: PrivateKeyHandle; publicKey: PublicJwk; thumbprint: Thumbprint }> => {
  const key = await jose.JWK.asKey(jwk as jose.JWK.RawKey, 'json');
  if (typeof (key.toJSON(true) as Record<string, unknown>)['d'] !== 'string') throw new Error('not a private key');
  const thumbprint = await thumbprintOf(key);
  const handle = new PrivateKeyBox(thumbprint);
  privateKeys.set(handle, key);
  return { handle, publicKey: { ...publicJwkOf(key), kid: thumbprint }, thumbprint };
};

/** The private JWK behind a handle, for the keystore to encrypt. Infra only. */
export const privateJwkOf = (h: PrivateKeyHandle): object => joseKeyOf(h).toJSON(true) as object;

/** node-jose's decrypt with an algorithm allow-list (the option is missing from its typings). */
export const decryptWith = (key: jose.JWK.Key, jwe: string, algorithms: ReadonlyArray<string>): Promise<jose.JWE.DecryptResult> =>
  (jose.JWE.createDecrypt(key) as unknown as { decrypt(input: string, opts: object): Promise<jose.JWE.DecryptResult> }).decrypt(jwe, { algorithms });

/** A node-jose recipient that does not embed the key in the JWE header. */
export const recipient = (key: jose.JWK.Key): jose.JWK.Key => ({ key, reference: false }) as unknown as jose.JWK.Key;

// ─── The adapter ──────────────────────────────────────────────────────────

export const joseCrypto = (): Crypto => ({
  generateKeyPair: (size: KeySize) =>
    TE.tryCatch(async (): Promise<GeneratedKeyPair> => {
      const generated = await jose.JWK.createKey('RSA', size, { alg: 'RSA-OAEP-256', use: 'enc' });
      const thumbprint = await thumbprintOf(generated);
      // Re-key with kid = thumbprint, so the JWK names itself deterministically.
      const key = await jose.JWK.asKey({ ...(generated.toJSON(true) as object), kid: thumbprint } as unknown as jose.JWK.RawKey);
      const privateKey = new PrivateKeyBox(thumbprint);
      privateKeys.set(privateKey, key);
      return { publicKey: publicJwkOf(key), thumbprint, keySize: size, privateKey };
    }, fail('generate')),

  thumbprint: (publicKey) => TE.tryCatch(async () => rsaThumbprint(publicKey), fail('thumbprint')),

  createSymmetricKey: () => symmetricFrom(randomBytes(32)),

  signing: signatures,

  keyCheck: (key) => b64u(createHmac('sha256', bytesOf(key)).update(KEY_CHECK_LABEL).digest()) as Base64Url,

  wrap: (key, recipientJwk, binding) =>
    TE.tryCatch(async () => {
      const pub = publicKeyObjectOf(recipientJwk);
      const kid = recipientJwk.kid ?? (await thumbprintOf(await jose.JWK.asKey(recipientJwk as jose.JWK.RawKey)));
      const decoded = CompactJwe.decode(encryptCompact(bytesOf(key), pub, kid, binding));
      if (E.isLeft(decoded)) throw new Error('programmer error: the JWE has an unexpected shape');
      return decoded.right;
    }, fail('wrap')),

  unwrap: (jwe, privateKey, expected) =>
    TE.tryCatch(async () => {
      const bytes = decryptCompact(jwe, privateKeyObjectOf(privateKey), expected);
      if (bytes.length !== 32) throw new Error(`unwrapped ${bytes.length} bytes, expected a 256-bit key`);
      return symmetricFrom(bytes);
    }, fail('unwrap')),
});
