/**
 * The POSIX permissions of what keyledger keeps on disk, whatever the umask:
 *
 * - the SQLite ledger and its -wal and -shm: 0600 in a 0700 folder, or with
 *   `ledgerAccess: "group"` 0660 in a 2770 folder (setgid: new files take the
 *   folder's group), never wider;
 * - the local state (`projections.db` and its -wal and -shm, the op log): 0600
 *   in a 0700 folder;
 * - the keystore and the machine secret: 0600 in a 0700 folder, and refused,
 *   like ssh refuses an unprotected private key, when they have any permission
 *   bit for group or others or lie in a folder that group or others can write.
 *
 * Folders keyledger creates get their mode exactly (chmod after mkdir, so the
 * umask cannot narrow or widen it); folders that already exist are left as
 * they are — they may be anyone's (`/srv`, a home folder), so keyledger never
 * changes them. Only the secret's own folder is checked, not its parents.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Who may open the SQLite ledger: its owner only (the default), or also its group (instances running as different OS users). */
export type LedgerAccess = 'owner' | 'group';

export const PRIVATE_FILE = 0o600;
export const PRIVATE_DIR = 0o700;
export const GROUP_FILE = 0o660;
export const GROUP_DIR = 0o2770;

export const ledgerModes = (access: LedgerAccess): { readonly file: number; readonly dir: number } =>
  access === 'group' ? { file: GROUP_FILE, dir: GROUP_DIR } : { file: PRIVATE_FILE, dir: PRIVATE_DIR };

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(3, '0');

const codeOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/**
 * Creates `dir` and every missing parent, each with exactly `mode`. Folders
 * that exist are not touched. A folder another process creates at the same
 * moment is left to that process.
 */
export const ensureDir = (dir: string, mode: number): void => {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode });
    } catch (e) {
      if (codeOf(e) === 'EEXIST') continue;
      throw e;
    }
    fs.chmodSync(d, mode);
  }
};

/**
 * Brings an existing file to exactly `mode` when this process owns it; one
 * that belongs to another user and has a permission bit outside `mode` is
 * refused (keyledger cannot narrow it), with the command that fixes it.
 * A missing file is nothing to do.
 */
export const tightenFile = (file: string, mode: number, what: string): void => {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return;
    throw e;
  }
  const current = st.mode & 0o777;
  if (current === mode) return;
  if (st.uid === process.getuid?.()) {
    try {
      fs.chmodSync(file, mode);
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') throw e; // removed meanwhile (a -wal or -shm at the last close): nothing to tighten
    }
    return;
  }
  if ((current & ~mode) !== 0)
    throw new Error(
      `${what} ${file} is mode ${octal(current)}, wider than ${octal(mode)}, and belongs to user ${st.uid}: as that user, run chmod ${octal(mode)} ${file}`,
    );
};

/**
 * A SQLite file ready to be opened with exactly `mode`: created empty with that
 * mode if missing (SQLite takes an empty file as a new database), tightened if
 * it exists, and so are a leftover -wal and -shm. SQLite creates -wal and -shm
 * with the main file's permission bits exactly (it fchmods them after open, so
 * the umask does not apply): they follow the main file from then on.
 */
export const prepareSqliteFile = (file: string, mode: number, what: string): void => {
  try {
    const fd = fs.openSync(file, 'wx', mode);
    try {
      fs.fchmodSync(fd, mode);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if (codeOf(e) !== 'EEXIST') throw e;
  }
  for (const f of [file, `${file}-wal`, `${file}-shm`]) tightenFile(f, mode, what);
};

/**
 * Why a folder holding a secret must not be trusted, with the one-line fix:
 * group or others can write it (and so replace or remove what is in it).
 * `null` when it is fine.
 */
export const openFolder = (dir: string, subject: string): string | null => {
  const mode = fs.statSync(dir).mode;
  return (mode & 0o022) !== 0 ? `${subject} is in ${dir}, a folder group or others can write (mode ${octal(mode)}; run: chmod go-w ${dir})` : null;
};

/**
 * Why a secret file (a keystore, the machine secret) must not be used, like
 * ssh's "UNPROTECTED PRIVATE KEY FILE": any permission bit for group or others,
 * or a folder group or others can write; with the one-line fix. `null` when it
 * is fine. Throws what `stat` throws (ENOENT: the file is missing).
 */
export const unprotectedSecret = (file: string, subject: string): string | null => {
  const st = fs.statSync(file);
  if (!st.isFile()) return `${subject} (${file}) is ${st.isDirectory() ? 'a directory' : 'not a regular file'}: point the config at the file itself`;
  const mode = st.mode;
  if ((mode & 0o077) !== 0) return `${subject} has permissions ${octal(mode)}, too open (run: chmod 600 ${file})`;
  return openFolder(path.dirname(file), subject);
};

/** Whether a process with this ID is running (signal 0: nothing is sent). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // running, as another user
  }
};

/**
 * Removes what a killed process left beside `file` while writing it atomically — `<name>.tmp-<pid>-…` and
 * `<name>.next.tmp-<pid>-…` (a keystore's staged replacement) — when that process is gone: such a file can hold
 * a private key that was never recorded. A running writer's files are left alone. Returns the names removed.
 */
export const sweepLeftovers = (file: string): ReadonlyArray<string> => {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^(.*)\.tmp-(\d+)(?:-[0-9a-f]+)?$/.exec(name);
    if (!m || (m[1] !== base && m[1] !== `${base}.next` && m[1] !== 'pins.json' && m[1] !== 'machine.secret')) continue;
    if (alive(Number(m[2]))) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // not ours to remove (permissions): the next run tries again
    }
  }
  return removed;
};

/** Writes a small file 0600 in a 0700 folder (replaced whole: a temp file renamed over it). */
export const writePrivateFile = (file: string, content: string): void => {
  ensureDir(path.dirname(path.resolve(file)), PRIVATE_DIR);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode: PRIVATE_FILE });
  fs.chmodSync(tmp, PRIVATE_FILE);
  fs.renameSync(tmp, file);
};
