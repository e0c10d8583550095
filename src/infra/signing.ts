/**
 * Ed25519 signing keys through node:crypto (node-jose has no Ed25519): each
 * instance's signing key pair, its RFC 7638 thumbprint (SHA-256 over
 * `{"crv":"Ed25519","kty":"OKP","x":…}`), signatures and their verification.
 * See docs/adr/0010-signed-key-events.md.
 *
 * The private key only sits in a WeakMap keyed by an opaque handle whose
 * toJSON / inspect output is a redaction marker; public keys are imported once
 * per process (a bounded cache), since a start verifies every signature of
 * its deployment stream.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, timingSafeEqual, verify } from 'node:crypto';
import { inspect } from 'node:util';
import { Thumbprint } from '../domain/ids';
import type { SigningJwk } from '../domain/events';
import type { SignatureCheck, SigningKeyHandle, SigningKeyPair, Signatures } from '../ports/crypto';

const signingKeys = new WeakMap<SigningKeyHandle, KeyObject>();

class SigningKeyBox implements SigningKeyHandle {
  readonly kind = 'SigningKey' as const;
  constructor(readonly thumbprint: Thumbprint) {}
  toJSON(): string {
    return `[signing key ${this.thumbprint}: redacted]`;
  }
  [inspect.custom](): string {
    return this.toJSON();
  }
  toString(): string {
    return this.toJSON();
  }
}

/** RFC 7638: SHA-256 of the required members in lexicographic order, base64url. */
export const signingThumbprint = (jwk: SigningJwk): Thumbprint =>
  createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}`, 'utf8').digest('base64url') as Thumbprint;

const box = (privateKey: KeyObject): SigningKeyPair => {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string };
  const publicKey = { kty: 'OKP', crv: 'Ed25519', x: jwk.x } as SigningJwk;
  const thumbprint = signingThumbprint(publicKey);
  if (!Thumbprint.is(thumbprint)) throw new Error('programmer error: an Ed25519 thumbprint is not a thumbprint');
  const handle = new SigningKeyBox(thumbprint);
  signingKeys.set(handle, privateKey);
  return { publicKey, thumbprint, handle };
};

/** A fresh Ed25519 key pair from the OS CSPRNG. */
export const generateSigningKey = (): SigningKeyPair => box(generateKeyPairSync('ed25519').privateKey);

/** The private JWK of a handle, for the keystore only (it encrypts it at rest). */
export const privateSigningJwkOf = (h: SigningKeyHandle): Record<string, unknown> => {
  const k = signingKeys.get(h);
  if (!k) throw new Error('programmer error: unknown signing key handle');
  return k.export({ format: 'jwk' }) as Record<string, unknown>;
};

/** A signing key pair from a private JWK (read from the keystore); throws when it is not an Ed25519 private key. */
export const signingKeyFromJwk = (jwk: Record<string, unknown>): SigningKeyPair => {
  if (jwk['kty'] !== 'OKP' || jwk['crv'] !== 'Ed25519' || typeof jwk['d'] !== 'string') throw new Error('not an Ed25519 private JWK');
  return box(createPrivateKey({ key: jwk as never, format: 'jwk' }));
};

const MAX_CACHED = 4096;
const publicKeys = new Map<string, KeyObject | null>();
const publicKeyOf = (x: string): KeyObject | null => {
  const cached = publicKeys.get(x);
  if (cached !== undefined) return cached;
  let k: KeyObject | null;
  try {
    k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  } catch {
    k = null;
  }
  if (publicKeys.size >= MAX_CACHED) publicKeys.clear();
  publicKeys.set(x, k);
  return k;
};

const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/** One check on node's thread pool: a signature claiming the own key made again and compared (constant time), else verified. */
const checkInPool = (c: SignatureCheck, own: SigningKeyPair | undefined): Promise<boolean> => {
  if (!SIGNATURE.test(c.signature)) return Promise.resolve(false);
  const message = Buffer.from(c.message, 'utf8');
  const stored = Buffer.from(c.signature, 'base64url');
  const verifyIt = (): Promise<boolean> => {
    const k = publicKeyOf(c.publicKey.x);
    if (k === null) return Promise.resolve(false);
    return new Promise((resolve) => verify(null, message, k, stored, (err, ok) => resolve(err === null && ok)));
  };
  const mine = own !== undefined && own.publicKey.x === c.publicKey.x ? signingKeys.get(own.handle) : undefined;
  if (mine === undefined) return verifyIt();
  return new Promise<boolean>((resolve) => sign(null, message, mine, (err, made) => resolve(err === null && timingSafeEqual(made, stored)))).then((alike) =>
    alike ? true : verifyIt(),
  );
};

export const signatures: Signatures = {
  generate: generateSigningKey,
  thumbprint: signingThumbprint,
  sign: (h, message) => {
    const k = signingKeys.get(h);
    if (!k) throw new Error('programmer error: unknown signing key handle');
    return sign(null, Buffer.from(message, 'utf8'), k).toString('base64url');
  },
  verify: (publicKey, message, signature) => {
    const k = publicKeyOf(publicKey.x);
    if (k === null || !/^[A-Za-z0-9_-]{86}$/.test(signature)) return false;
    try {
      return verify(null, Buffer.from(message, 'utf8'), k, Buffer.from(signature, 'base64url'));
    } catch {
      return false;
    }
  },
  checkMany: (checks, own) => Promise.all(checks.map((c) => checkInPool(c, own))),
};
