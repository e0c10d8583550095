/**
 * The backup file on disk: written 0600 through a temporary file in the same folder, fsynced, then linked
 * into place (refusing an existing file) or, with --force, renamed over it — never a half-written backup.
 * Read back bounded: a key backup is under 1 KiB, so anything over 64 KiB is not one.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { errorMessage } from './error-message';
import { PRIVATE_FILE } from './file-modes';

const MAX_BYTES = 64 * 1024;

const fsyncDir = (dir: string): void => {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // not every platform can fsync a directory: the file itself was fsynced
  }
};

export const writeBackupFile = (file: string, text: string, force: boolean): E.Either<{ readonly detail: string; readonly exists: boolean }, string> => {
  const target = path.resolve(file);
  if (!force && fs.existsSync(target)) return E.left({ detail: 'it exists', exists: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fd = fs.openSync(tmp, 'wx', PRIVATE_FILE);
    try {
      fs.writeSync(fd, `${text}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(tmp, PRIVATE_FILE);
    if (force) fs.renameSync(tmp, target);
    else fs.linkSync(tmp, target);
    fsyncDir(path.dirname(target));
    return E.right(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return E.left({ detail: code === 'EEXIST' ? 'it exists' : errorMessage(e), exists: code === 'EEXIST' });
  } finally {
    fs.rmSync(tmp, { force: true });
  }
};

export const readBackupFile = (file: string): E.Either<string, string> => {
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_BYTES) return E.left(`it is ${size} bytes: a key backup is under 1 KiB`);
    return E.right(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return E.left((e as NodeJS.ErrnoException).code ?? errorMessage(e));
  }
};
