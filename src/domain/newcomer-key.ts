/**
 * Whether a sponsor may wrap the deployment key for a newcomer's public key
 * (issue 9, threat model: docs/adr/0009-threat-model.md). Pure: the thumbprint
 * recomputed from the stored JWK and the operator's confirmation come in.
 *
 * The recorded thumbprint is never trusted: whoever can write the store can
 * replace a registered public key and leave its thumbprint as it was. The key
 * wrapped for is the one whose *recomputed* RFC 7638 thumbprint is the one
 * the newcomer recorded when its key pair was issued, and the one the operator
 * confirmed out of band (`join --expect-thumbprint`, or a prompt on a terminal).
 */
import type { PublicJwk } from './events';

export const MIN_RSA_BITS = 2048;
export const RSA_EXPONENT = 'AQAB'; // 65537

export type NewcomerKeyProblem =
  | { readonly _tag: 'StoredKeyNotItsThumbprint'; readonly recorded: string; readonly computed: string }
  | { readonly _tag: 'NotTheIssuedKey'; readonly issued: string | null; readonly computed: string }
  | { readonly _tag: 'WeakKey'; readonly modulusBits: number; readonly exponent: string }
  | { readonly _tag: 'NotConfirmed'; readonly expected: string | null; readonly computed: string }
  /** No signing key registered for it: its keystore predates signed key events (`keyledger trust` on it adds one). */
  | { readonly _tag: 'NoSigningKey' }
  /** Its registered signing key's thumbprint or proof of possession does not verify, or is not the one it issued. */
  | { readonly _tag: 'SigningKeyNotProved'; readonly recorded: string; readonly computed: string };

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The bytes of a base64url string (no padding), or undefined if it is not one. */
const decodeBase64Url = (s: string): number[] | undefined => {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of s) {
    const v = B64U.indexOf(ch);
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return out;
};

/** The bit length of a base64url big-endian unsigned integer (an RSA modulus), leading zeros not counted. */
export const bitLength = (b64u: string): number => {
  const bytes = decodeBase64Url(b64u) ?? [];
  const first = bytes.findIndex((b) => b !== 0);
  return first < 0 ? 0 : (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first]!));
};

export interface StoredKeyInput {
  readonly stored: PublicJwk;
  /** The thumbprint the deployment recorded with the stored key. */
  readonly recordedThumbprint: string;
  /** The RFC 7638 thumbprint recomputed from the stored JWK. */
  readonly computedThumbprint: string;
  /** The thumbprint of the key pair the newcomer recorded in its own stream (KeyPairIssued / identity change). */
  readonly issuedThumbprint: string | null;
}

/** The first reason the stored key is not one to wrap for (before asking the operator), or undefined. */
export const storedKeyProblem = (k: StoredKeyInput): NewcomerKeyProblem | undefined => {
  if (k.computedThumbprint !== k.recordedThumbprint)
    return { _tag: 'StoredKeyNotItsThumbprint', recorded: k.recordedThumbprint, computed: k.computedThumbprint };
  if (k.issuedThumbprint !== k.computedThumbprint) return { _tag: 'NotTheIssuedKey', issued: k.issuedThumbprint, computed: k.computedThumbprint };
  const modulusBits = bitLength(k.stored.n);
  if (modulusBits < MIN_RSA_BITS || k.stored.e !== RSA_EXPONENT) return { _tag: 'WeakKey', modulusBits, exponent: k.stored.e };
  return undefined;
};

export interface SigningKeyInput {
  /** As the deployment registered it (absent: none). */
  readonly recordedThumbprint: string | undefined;
  /** Recomputed from the registered JWK. */
  readonly computedThumbprint: string | undefined;
  /** Its proof of possession verifies under the registered key. */
  readonly proofVerifies: boolean;
  /** The signing key the newcomer recorded in its own stream with its key pair (absent: added later by `trust`). */
  readonly issuedThumbprint: string | undefined;
}

/** The first reason the registered signing key is not one to certify (undefined: it is). */
export const signingKeyProblem = (k: SigningKeyInput): NewcomerKeyProblem | undefined => {
  if (k.recordedThumbprint === undefined || k.computedThumbprint === undefined) return { _tag: 'NoSigningKey' };
  if (k.computedThumbprint !== k.recordedThumbprint || !k.proofVerifies || (k.issuedThumbprint !== undefined && k.issuedThumbprint !== k.computedThumbprint))
    return { _tag: 'SigningKeyNotProved', recorded: k.recordedThumbprint, computed: k.computedThumbprint };
  return undefined;
};

/** The operator's confirmation (null: none) must name the recomputed thumbprint. */
export const confirmationProblem = (confirmed: string | null, computed: string): NewcomerKeyProblem | undefined =>
  confirmed === computed ? undefined : { _tag: 'NotConfirmed', expected: confirmed, computed };
