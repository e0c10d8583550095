/**
 * The key backup file (docs/adr/0012-key-backup-and-restore.md): the 32-byte symmetric key as a compact JWE,
 * PBES2-HS512+A256KW (RFC 7518 §4.8) + A256GCM, written and read with node:crypto — the salt, content key and
 * IV come from the OS CSPRNG, as for the wrapped copies (src/infra/jose-crypto.ts says why not node-jose's
 * generator). node-jose and the `jose` package read it (test/infra/key-backup.int.ts).
 *
 * Reading checks the protected header before the password is used: the shape, the algorithms, and the
 * iteration count `p2c` against CEILING, so a file asking for 10⁹ rounds is refused at once instead of
 * running PBKDF2 for an hour. The password then derives the key-encryption key (PBKDF2-SHA512 over the
 * salt input `alg || 0x00 || p2s`); AES key wrap's integrity check tells a wrong password from a file
 * altered after (AES-GCM over the header as AAD).
 */
import { createCipheriv, createDecipheriv, hash, pbkdf2, randomBytes } from 'node:crypto';
import * as E from 'fp-ts/Either';
import * as TE from 'fp-ts/TaskEither';
import type { SymmetricKeyHandle } from '../ports/crypto';
import type { BackupHeader, BackupReadError, KeyBackupCipher } from '../ports/key-backup';
import { errorMessage } from './error-message';
import { symmetricKeyBytesOf, symmetricKeyFromBytes } from './jose-crypto';

export const ALG = 'PBES2-HS512+A256KW';
/** What `keyledger backup` writes: OWASP's 2023 figure for PBKDF2-HMAC-SHA512 is 210,000; the issue asks ≥ 600,000. */
export const DEFAULT_ITERATIONS = 600_000;
/** The most a backup may ask for: about 8x the default (a few seconds here). Above it, refused before deriving. */
export const CEILING = 5_000_000;
/** RFC 7518 §4.8.1.2: at least 1000. Only tests go below the default (KEYLEDGER_TEST_BACKUP_ITERATIONS). */
export const FLOOR = 1000;

const B64U = /^[A-Za-z0-9_-]*$/;
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const b64u = (b: Buffer): string => b.toString('base64url');

const deriveKek = (password: string, p2s: Buffer, iterations: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const salt = Buffer.concat([Buffer.from(ALG, 'utf8'), Buffer.from([0]), p2s]);
    pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha512', (e, k) => (e ? reject(e) : resolve(k)));
  });

const malformed = (detail: string): E.Either<BackupReadError, never> => E.left({ _tag: 'BackupMalformed', detail });

interface Parsed {
  readonly header: BackupHeader;
  readonly protectedB64: string;
  readonly p2s: Buffer;
  readonly encryptedKey: Buffer;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

const parse = (text: string): E.Either<BackupReadError, Parsed> => {
  const parts = text.trim().split('.');
  if (parts.length !== 5 || !parts.every((p) => B64U.test(p)))
    return malformed('it is not a compact JWE (five base64url parts): the file is truncated or not a key backup');
  const [protectedB64 = '', ek = '', iv = '', ct = '', tag = ''] = parts;
  let h: Record<string, unknown>;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(protectedB64, 'base64url').toString('utf8'));
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) return malformed('its header is not a JSON object');
    h = decoded as Record<string, unknown>;
  } catch {
    return malformed('its header is not JSON: the file is damaged or not a key backup');
  }
  if (h['alg'] !== ALG || h['enc'] !== 'A256GCM') return malformed(`it is not ${ALG} + A256GCM`);
  if ('zip' in h || 'crit' in h) return malformed('its header has zip or crit, which a key backup never has');
  const dep = h['kl_dep'];
  const ver = h['kl_ver'];
  const genesis = h['kl_genesis'];
  if (
    typeof dep !== 'string' ||
    dep === '' ||
    typeof ver !== 'number' ||
    !Number.isInteger(ver) ||
    ver < 1 ||
    !(genesis === null || typeof genesis === 'string')
  )
    return malformed('its header does not name a deployment and key version: it is not a keyledger key backup');
  const p2c = h['p2c'];
  if (typeof p2c !== 'number' || !Number.isInteger(p2c) || p2c < 1) return malformed('its iteration count (p2c) is not a positive integer');
  const p2s = typeof h['p2s'] === 'string' && B64U.test(h['p2s']) ? Buffer.from(h['p2s'], 'base64url') : Buffer.alloc(0);
  if (p2s.length < 8) return malformed('its salt (p2s) is missing or shorter than 8 bytes');
  const parsed = {
    header: { deploymentId: dep, keyVersion: ver, genesisThumbprint: genesis, iterations: p2c },
    protectedB64,
    p2s,
    encryptedKey: Buffer.from(ek, 'base64url'),
    iv: Buffer.from(iv, 'base64url'),
    ciphertext: Buffer.from(ct, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
  };
  if (parsed.encryptedKey.length !== 40 || parsed.iv.length !== 12 || parsed.tag.length !== 16 || parsed.ciphertext.length !== 32)
    return malformed('its parts have the wrong lengths: the file is truncated or damaged');
  return E.right(parsed);
};

const inspect = (text: string): E.Either<BackupReadError, BackupHeader> => {
  const p = parse(text);
  if (E.isLeft(p)) return p;
  const { iterations } = p.right.header;
  return iterations > CEILING ? E.left({ _tag: 'BackupIterationsTooHigh', iterations, ceiling: CEILING }) : E.right(p.right.header);
};

const open = async (text: string, password: string): Promise<E.Either<BackupReadError, SymmetricKeyHandle>> => {
  const p = parse(text);
  if (E.isLeft(p)) return p;
  const { header, p2s, encryptedKey, iv, ciphertext, tag, protectedB64 } = p.right;
  // The ceiling before anything is derived: a file must not decide how long restore runs.
  if (header.iterations > CEILING) return E.left({ _tag: 'BackupIterationsTooHigh', iterations: header.iterations, ceiling: CEILING });
  const kek = await deriveKek(password, p2s, header.iterations);
  let cek: Buffer;
  try {
    const kw = createDecipheriv('id-aes256-wrap', kek, KW_IV);
    cek = Buffer.concat([kw.update(encryptedKey), kw.final()]);
  } catch {
    return E.left({ _tag: 'BackupPasswordWrong' });
  } finally {
    kek.fill(0);
  }
  try {
    const gcm = createDecipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
    gcm.setAAD(Buffer.from(protectedB64, 'ascii'));
    gcm.setAuthTag(tag);
    const key = Buffer.concat([gcm.update(ciphertext), gcm.final()]);
    return key.length === 32 ? E.right(symmetricKeyFromBytes(key)) : E.left({ _tag: 'BackupCorrupted', detail: 'it holds no 256-bit key' });
  } catch {
    return E.left({ _tag: 'BackupCorrupted', detail: 'its header or content was altered after it was written (authentication failed)' });
  } finally {
    cek.fill(0);
  }
};

const seal = async (key: SymmetricKeyHandle, header: Omit<BackupHeader, 'iterations'>, password: string, iterations: number): Promise<string> => {
  if (!Number.isInteger(iterations) || iterations < FLOOR || iterations > CEILING)
    throw new Error(`programmer error: backup iterations ${iterations} outside ${FLOOR}..${CEILING}`);
  const p2s = randomBytes(16);
  const protectedB64 = b64u(
    Buffer.from(
      JSON.stringify({
        alg: ALG,
        enc: 'A256GCM',
        p2s: b64u(p2s),
        p2c: iterations,
        kl_dep: header.deploymentId,
        kl_ver: header.keyVersion,
        kl_genesis: header.genesisThumbprint,
      }),
      'utf8',
    ),
  );
  const kek = await deriveKek(password, p2s, iterations);
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  try {
    const kw = createCipheriv('id-aes256-wrap', kek, KW_IV);
    const encryptedKey = Buffer.concat([kw.update(cek), kw.final()]);
    const gcm = createCipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
    gcm.setAAD(Buffer.from(protectedB64, 'ascii'));
    const ciphertext = Buffer.concat([gcm.update(symmetricKeyBytesOf(key)), gcm.final()]);
    return [protectedB64, b64u(encryptedKey), b64u(iv), b64u(ciphertext), b64u(gcm.getAuthTag())].join('.');
  } finally {
    kek.fill(0);
    cek.fill(0);
  }
};

export const keyBackupCipher: KeyBackupCipher = {
  seal: (key, header, password, iterations) =>
    TE.tryCatch(
      () => seal(key, header, password, iterations),
      (e) => ({ _tag: 'BackupSealFailed', detail: errorMessage(e) }),
    ),
  inspect,
  open: (text, password) => () => open(text, password),
  fingerprint: (text) => hash('sha256', text, 'base64url'),
};
