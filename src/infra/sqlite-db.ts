/**
 * better-sqlite3, loaded with SQLite URI file names enabled: a ledger on read-only media is opened
 * `immutable=1`, because SQLite cannot open a WAL-mode file read-only when it can neither find nor create
 * the file's -shm. SQLite reads that setting once, when better-sqlite3 loads its addon (at its first
 * connection), so the first connection is made here. Only a name starting with `file:` is a URI: every
 * store and state file is opened by an absolute path (`plainName` makes sure).
 */
import Database from 'better-sqlite3';

const prior = process.env['SQLITE_USE_URI'];
process.env['SQLITE_USE_URI'] = '1';
try {
  new Database(':memory:').close();
} finally {
  if (prior === undefined) delete process.env['SQLITE_USE_URI'];
  else process.env['SQLITE_USE_URI'] = prior;
}

/** A file name SQLite takes as a path, never as a URI (a relative `file:x` becomes `./file:x`). */
export const plainName = (file: string): string => (file.startsWith('file:') ? `./${file}` : file);

export default Database;
