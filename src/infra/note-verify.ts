/** Ed25519 for signed notes (src/domain/tlog/note.ts) over the signing adapter: raw 32-byte keys and 64-byte signatures. */
import type { Verify } from '../domain/signatures';
import type { SigningJwk } from '../domain/events';
import { toBase64Url } from '../domain/tlog/bytes';
import type { Ed25519Verify } from '../domain/tlog/note';

export const ed25519Of =
  (verify: Verify): Ed25519Verify =>
  (publicKey, message, signature) =>
    signature.length === 64 && verify({ kty: 'OKP', crv: 'Ed25519', x: toBase64Url(publicKey) } as SigningJwk, message, toBase64Url(signature));
