/**
 * The crypto port with free key generation, for tests that do not test key
 * generation: `generateKeyPair(2048)` hands out the next key of a pool of real
 * RSA-2048 keys generated once (rsa-2048-pool.json), through the real adapter
 * (`privateKeyFromJwk`), so wrapping, unwrapping, key checks and the keystore
 * are the real thing. Other sizes, and tests of key generation itself, use the
 * real generator. Each process starts at a random point of the pool, so two
 * processes in one test rarely draw the same key; one process never draws the
 * same key twice until the pool (48 keys) wraps around.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as TE from 'fp-ts/TaskEither';
import { joseCrypto, privateKeyFromJwk } from '../../src/infra/jose-crypto';
import type { Crypto, GeneratedKeyPair } from '../../src/ports/crypto';

const POOL = path.resolve(__dirname, '..', '..', '..', 'test', 'support', 'rsa-2048-pool.json');

let keys: ReadonlyArray<object> | undefined;
let next = -1;

const nextKey = (): object => {
  keys ??= (JSON.parse(fs.readFileSync(POOL, 'utf8')) as { keys: object[] }).keys;
  if (next < 0) next = Math.floor(Math.random() * keys.length);
  const key = keys[next % keys.length]!;
  next += 1;
  return key;
};

export const pooledCrypto = (real: Crypto = joseCrypto()): Crypto => ({
  ...real,
  generateKeyPair: (size) =>
    size !== 2048
      ? real.generateKeyPair(size)
      : TE.tryCatch(
          async (): Promise<GeneratedKeyPair> => {
            const k = await privateKeyFromJwk(nextKey());
            return { publicKey: k.publicKey, thumbprint: k.thumbprint, keySize: 2048, privateKey: k.handle };
          },
          (e) => ({ _tag: 'CryptoError', operation: 'generate', message: String(e) }),
        ),
});
