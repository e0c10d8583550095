/**
 * Secret-scan support: recovering key material independently of keyledger's
 * code, and every way it could be written down.
 */
import { constants, createDecipheriv, createPrivateKey, type JsonWebKey, privateDecrypt } from 'node:crypto';

export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const;

/** Decrypts a compact RSA-OAEP-256 + A256GCM JWE with plain node:crypto: no node-jose involved. */
export const unwrapWithNodeCrypto = (jwe: string, privateJwk: object): Buffer => {
  const [protectedHeader, encryptedKey, iv, ciphertext, tag] = jwe.split('.') as [string, string, string, string, string];
  const key = createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' });
  const cek = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(encryptedKey, 'base64url'));
  const decipher = createDecipheriv('aes-256-gcm', cek, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(protectedHeader, 'ascii'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
};

/**
 * Every way a secret could be written down, as substrings that must appear in
 * any encoding of a larger buffer containing it: base64 and base64url at each
 * of the three byte alignments (whole 3-byte groups only), hex both cases.
 */
export const encodings = (secret: Buffer): string[] => {
  const out = new Set<string>([secret.toString('hex'), secret.toString('hex').toUpperCase()]);
  for (let skip = 0; skip < 3; skip++) {
    const aligned = secret.subarray(skip, skip + Math.floor((secret.length - skip) / 3) * 3);
    out.add(aligned.toString('base64'));
    out.add(aligned.toString('base64url'));
  }
  return [...out];
};
