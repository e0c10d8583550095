/**
 * The content cipher (issue 12): a secret's value as a standard compact JWE (RFC 7516 §7.1), `alg: "dir"` (the
 * deployment's symmetric key is the content-encryption key, so the encrypted-key part is empty), `enc:
 * "A256GCM"`, produced and consumed with node:crypto directly — docs/adr/0011-encrypted-content.md says why not
 * node-jose (its AES path draws IVs from a JavaScript PRNG and re-imports the key on every call). The
 * protected header names the key version (`kid: "v<N>"` and `kl_ver`), the deployment (`kl_dep`) and the
 * secret's name (`kl_name`); it is the AAD of the encryption, so a ciphertext moved to another secret or
 * deployment, or relabelled with another key version, does not open. The `jose` package decrypts it
 * (test/infra/content-cipher.int.ts).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import * as E from 'fp-ts/Either';
import type { Fingerprint } from '../domain/events';
import type { OpenProblem, SecretBinding, SecretCipher } from '../ports/content';
import { symmetricKeyObjectOf } from './jose-crypto';

/** The encoded protected header of a binding: always the same text for the same binding (member order fixed). */
const headerOf = (b: SecretBinding): string =>
  Buffer.from(
    JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: `v${b.keyVersion}`, kl_dep: b.deploymentId, kl_name: b.name, kl_ver: b.keyVersion }),
    'utf8',
  ).toString('base64url');

/** Encoded headers (and their bytes, the AAD) by binding: one secret is read many times, and its header is then compared as text. */
const HEADER_CACHE_SIZE = 65_536;
const headers = new Map<string, { readonly text: string; readonly aad: Buffer }>();
const cachedHeader = (b: SecretBinding): { readonly text: string; readonly aad: Buffer } => {
  const id = `${b.keyVersion}\u0000${b.deploymentId}\u0000${b.name}`;
  let h = headers.get(id);
  if (h === undefined) {
    const text = headerOf(b);
    h = { text, aad: Buffer.from(text, 'ascii') };
    if (headers.size >= HEADER_CACHE_SIZE) headers.clear();
    headers.set(id, h);
  }
  return h;
};

const malformed: E.Either<OpenProblem, never> = E.left({ _tag: 'Malformed' });
const B64U = /^[A-Za-z0-9_-]*$/;

/** A header that is not the one this binding writes (another writer's member order, or another binding): parsed and checked. */
const checkForeignHeader = (header: string, expected: SecretBinding): E.Either<OpenProblem, void> => {
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return malformed;
  }
  if (typeof h !== 'object' || h === null || h['alg'] !== 'dir' || h['enc'] !== 'A256GCM' || 'zip' in h || 'crit' in h) return malformed;
  if (h['kl_dep'] === expected.deploymentId && h['kl_name'] === expected.name && h['kl_ver'] === expected.keyVersion) return E.right(undefined);
  return E.left({ _tag: 'BoundElsewhere', found: { deploymentId: String(h['kl_dep']), name: String(h['kl_name']), keyVersion: String(h['kl_ver']) } });
};

/** IVs drawn from the OS CSPRNG a few hundred at a time (one call instead of one per secret), each 12 bytes handed out once. */
const IV_POOL = 12 * 256;

export const contentCipher = (): SecretCipher => {
  let pool = Buffer.alloc(0);
  let at = 0;
  const freshIv = (): Buffer => {
    if (at + 12 > pool.length) {
      pool = randomBytes(IV_POOL);
      at = 0;
    }
    // A view: a used pool is replaced, never refilled in place.
    const iv = pool.subarray(at, at + 12);
    at += 12;
    return iv;
  };
  return {
    seal: (key, value, binding) => {
      const { text: header, aad } = cachedHeader(binding);
      const iv = freshIv();
      const gcm = createCipheriv('aes-256-gcm', symmetricKeyObjectOf(key), iv, { authTagLength: 16 });
      gcm.setAAD(aad);
      const ciphertext = Buffer.concat([gcm.update(value), gcm.final()]);
      return `${header}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${gcm.getAuthTag().toString('base64url')}`;
    },

    open: (key, jwe, expected) => {
      const parts = jwe.split('.');
      if (parts.length !== 5 || parts[1] !== '') return malformed;
      const [header = '', , iv = '', ciphertext = '', tag = ''] = parts;
      if (!B64U.test(iv) || !B64U.test(tag) || !B64U.test(header)) return malformed;
      // The header is checked after the tag (it is authenticated as the AAD), but parsed only when it is not the expected text.
      const cached = cachedHeader(expected);
      const own = header === cached.text;
      const foreign = own ? E.right(undefined) : checkForeignHeader(header, expected);
      if (E.isLeft(foreign) && foreign.left._tag === 'Malformed') return foreign;
      const ivBytes = Buffer.from(iv, 'base64url');
      const tagBytes = Buffer.from(tag, 'base64url');
      if (ivBytes.length !== 12 || tagBytes.length !== 16) return malformed;
      let plain: Buffer;
      try {
        const gcm = createDecipheriv('aes-256-gcm', symmetricKeyObjectOf(key), ivBytes, { authTagLength: 16 });
        gcm.setAAD(own ? cached.aad : Buffer.from(header, 'ascii'));
        gcm.setAuthTag(tagBytes);
        plain = Buffer.concat([gcm.update(Buffer.from(ciphertext, 'base64url')), gcm.final()]);
      } catch {
        return E.left({ _tag: 'DoesNotDecrypt' });
      }
      if (E.isLeft(foreign)) {
        plain.fill(0);
        return foreign;
      }
      return E.right(plain);
    },

    fingerprint: (jwe) => createHash('sha256').update(jwe, 'utf8').digest('base64url') as Fingerprint,
  };
};
