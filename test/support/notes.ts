/**
 * A note signer of the test's own (an Ed25519 key no member holds): to sign checkpoint bodies a member never signed,
 * so that only the body, or whether its signer's key is given, is under test.
 */
import { generateKeyPairSync, hash, sign } from 'node:crypto';
import { ED25519_NOTE, formatVerifierKey, noteKey, signatureLine } from '../../src/domain/tlog/note';

export interface Outsider {
  /** Its verifier key, as `keyledger checkpoint --vkey` prints a member's. */
  readonly vkey: string;
  /** The body (origin, size, root lines) as a signed note, signed by it alone. */
  readonly note: (body: string) => string;
}

export const outsider = (name = 'test.example/outsider'): Outsider => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
  const key = noteKey((d) => new Uint8Array(hash('sha256', d, 'buffer') as unknown as Buffer), name, ED25519_NOTE, raw);
  return {
    vkey: formatVerifierKey(key),
    note: (body: string): string => `${body}\n${signatureLine(key, new Uint8Array(sign(null, Buffer.from(body, 'utf8'), privateKey)))}\n`,
  };
};
