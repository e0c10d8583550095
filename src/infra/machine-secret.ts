/**
 * The instance's machine secret (32+ random bytes, base64url: `machine.secret`
 * beside the keystore, or the file the config's `keystoreSecretFile` names, or
 * KEYLEDGER_MACHINE_SECRET, which wins) and the local-state MAC derived from it.
 * Kept apart from the keystore adapter so that commands which only read views
 * (status, list, watch) can authenticate their checkpoints without loading
 * node-jose. See docs/adr/0003 and 0009.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { errorMessage } from './error-message';
import { ensureDir, PRIVATE_DIR, unprotectedSecret } from './file-modes';

export const MACHINE_SECRET_ENV = 'KEYLEDGER_MACHINE_SECRET';
/** HKDF info for the local-state MAC key (no salt: one key per machine secret). */
const LOCAL_STATE_INFO = 'keyledger-local-state/v1';

export interface SecretProblem {
  readonly problem: 'locked' | 'unreadable';
  readonly detail: string;
}

/** Where the secret of a keystore lives: `secretFile`, or `machine.secret` beside the keystore. */
export const secretFileOf = (keystorePath: string, secretFile?: string): string =>
  secretFile === undefined ? path.join(path.dirname(path.resolve(keystorePath)), 'machine.secret') : path.resolve(secretFile);

/** Makes a folder's entries durable (after a file in it was created or renamed). */
export const fsyncDir = (dir: string): void => {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
};

/**
 * Writes a file atomically and exclusively (0600): temp file, fsync, hard link — `exists` when another process
 * linked it first (theirs is kept). The caller fsyncs the folder (once for several files).
 */
export const writeExclusive = (file: string, content: string): 'written' | 'exists' => {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.chmodSync(tmp, 0o600);
    fs.linkSync(tmp, file);
    return 'written';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
};

const createSecret = (file: string): void => {
  ensureDir(path.dirname(file), PRIVATE_DIR);
  writeExclusive(file, randomBytes(32).toString('base64url'));
  fsyncDir(path.dirname(file));
};

/** The machine secret's bytes; created (0600 in a 0700 folder) only when asked. Refused like ssh refuses an open key. */
export const readMachineSecret = (file: string, createIfMissing: boolean): E.Either<SecretProblem, Buffer> => {
  const fromEnv = process.env[MACHINE_SECRET_ENV];
  if (fromEnv !== undefined) {
    const b = Buffer.from(fromEnv, 'base64url');
    return b.length >= 32 ? E.right(b) : E.left({ problem: 'locked', detail: `${MACHINE_SECRET_ENV} must be at least 32 bytes, base64url` });
  }
  try {
    if (!fs.existsSync(file)) {
      if (!createIfMissing) return E.left({ problem: 'locked', detail: `the machine secret ${file} is missing` });
      createSecret(file);
    }
    const open = unprotectedSecret(file, `the machine secret ${file}`);
    if (open !== null) return E.left({ problem: 'unreadable', detail: open });
    const b = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url');
    return b.length >= 32 ? E.right(b) : E.left({ problem: 'locked', detail: `the machine secret ${file} is damaged` });
  } catch (e) {
    return E.left({ problem: 'unreadable', detail: `the machine secret ${file} cannot be read: ${errorMessage(e)}` });
  }
};

/** HMAC-SHA256 (hex) under HKDF-SHA256(secret, info "keyledger-local-state/v1"): remembered heads, pins, view checkpoints. */
export const localStateMacFrom = (secret: Buffer): ((text: string) => string) => {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), Buffer.from(LOCAL_STATE_INFO, 'utf8'), 32));
  return (text: string) => createHmac('sha256', key).update(text, 'utf8').digest('hex');
};
