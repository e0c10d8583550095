/**
 * The crypto adapter over node-jose: RSA key pairs (RSA-OAEP-256), RFC 7638
 * thumbprints, and the symmetric key wrapped as a compact JWE
 * (RSA-OAEP-256 + A256GCM). node-jose is imported nowhere outside src/infra/.
 *
 * Key material only ever sits in the WeakMaps below, keyed by opaque handles
 * whose toJSON / inspect output is a redaction marker.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import * as E from 'fp-ts/Either';
import * as TE from 'fp-ts/TaskEither';
import jose from 'node-jose';
import { type Base64Url, CompactJwe, type KeySize, type PublicJwk } from '../domain/events';
import { Thumbprint } from '../domain/ids';
import { errorMessage } from './error-message';
import type { Crypto, CryptoError, GeneratedKeyPair, PrivateKeyHandle, SymmetricKeyHandle } from '../ports/crypto';

const KEY_CHECK_LABEL = 'keyledger/key-check/v1';

// ─── Opaque handles ───────────────────────────────────────────────────────

const privateKeys = new WeakMap<PrivateKeyHandle, jose.JWK.Key>();
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

const joseKeyOf = (h: PrivateKeyHandle): jose.JWK.Key => {
  const k = privateKeys.get(h);
  if (!k) throw new Error('programmer error: private key handle from another adapter');
  return k;
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

  thumbprint: (publicKey) => TE.tryCatch(async () => thumbprintOf(await jose.JWK.asKey(publicKey as jose.JWK.RawKey)), fail('thumbprint')),

  createSymmetricKey: () => symmetricFrom(randomBytes(32)),

  keyCheck: (key) => b64u(createHmac('sha256', bytesOf(key)).update(KEY_CHECK_LABEL).digest()) as Base64Url,

  wrap: (key, recipientJwk) =>
    TE.tryCatch(async () => {
      const pub = await jose.JWK.asKey(recipientJwk as jose.JWK.RawKey);
      const jwe = await jose.JWE.createEncrypt(
        { format: 'compact', contentAlg: 'A256GCM', fields: { alg: 'RSA-OAEP-256', kid: recipientJwk.kid ?? (await thumbprintOf(pub)) } },
        recipient(pub),
      )
        .update(bytesOf(key))
        .final();
      const decoded = CompactJwe.decode(jwe);
      if (E.isLeft(decoded)) throw new Error('node-jose produced an unexpected JWE shape');
      return decoded.right;
    }, fail('wrap')),

  unwrap: (jwe, privateKey) =>
    TE.tryCatch(
      async () => {
        const result = await decryptWith(joseKeyOf(privateKey), jwe, ['RSA-OAEP-256', 'A256GCM']);
        const bytes = Buffer.from(result.plaintext);
        if (bytes.length !== 32) throw new Error(`unwrapped ${bytes.length} bytes, expected a 256-bit key`);
        return symmetricFrom(bytes);
      },
      (e) => fail('unwrap')(e instanceof Error && /no key found|decrypt/i.test(e.message) ? new Error('the JWE was not encrypted for this private key') : e),
    ),
});
