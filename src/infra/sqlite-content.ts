/**
 * The content store of a SQLite ledger (issue 12): a table beside the events, in the same file, through a
 * connection of its own (src/infra/sqlite-store.ts is not involved). One row per stored ciphertext, keyed by
 * deployment, secret name and fingerprint: a new value is written under its own fingerprint before its
 * SecretPut is recorded, and the ciphertext it supersedes is removed only after — so a crash at any point
 * leaves the ciphertext of every recorded SecretPut in place (at worst an unreferenced row).
 *
 * Rows are not trusted (whoever writes the file can edit them): src/commands/secrets.ts checks each one
 * against the fingerprint a member's signed event recorded, and the JWE header against the secret.
 */
import Database from 'better-sqlite3';
import * as E from 'fp-ts/Either';
import type { Fingerprint } from '../domain/events';
import type { ContentRow, ContentStore, ContentStoreError } from '../ports/content';
import { errorMessage } from './error-message';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keyledger_content (
  deployment  TEXT NOT NULL,
  name        TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  jwe         TEXT NOT NULL,
  PRIMARY KEY (deployment, name, fingerprint)
) WITHOUT ROWID;
`;

const BUSY_TIMEOUT_MS = 5000;

/** Opens the content table of an existing ledger file (never creates the file: the ledger store opened it first). */
export const openSqliteContent = (file: string): E.Either<ContentStoreError, ContentStore> => {
  const location = `sqlite:${file}#keyledger_content`;
  const fail = (e: unknown): ContentStoreError => ({ _tag: 'ContentStoreError', location, message: errorMessage(e) });
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  } catch (e) {
    return E.left(fail(e));
  }
  let writable = true;
  try {
    db.exec(SCHEMA);
  } catch {
    writable = false; // a read-only ledger: reads of a table already there still work
  }
  try {
    const read = db
      .prepare<[string, string, string], string>('SELECT jwe FROM keyledger_content WHERE deployment = ? AND name = ? AND fingerprint = ?')
      .pluck();
    const write = writable ? db.prepare('INSERT OR REPLACE INTO keyledger_content (deployment, name, fingerprint, jwe) VALUES (?, ?, ?, ?)') : undefined;
    const remove = writable ? db.prepare('DELETE FROM keyledger_content WHERE deployment = ? AND name = ? AND fingerprint = ?') : undefined;
    const readOnly = (): E.Either<ContentStoreError, never> => E.left(fail('the ledger is read-only here: nothing was stored'));
    const writeAll =
      write &&
      db.transaction((dep: string, rows: ReadonlyArray<ContentRow & { readonly jwe: string }>) => {
        for (const r of rows) write.run(dep, r.name, r.fingerprint, r.jwe);
      });
    // One read transaction for a batch: the statement runs without taking and releasing the read lock each time.
    const readAll = db.transaction((dep: string, rows: ReadonlyArray<ContentRow>) => rows.map((r) => read.get(dep, r.name, r.fingerprint)));
    const removeAll =
      remove &&
      db.transaction((dep: string, rows: ReadonlyArray<ContentRow>) => {
        for (const r of rows) remove.run(dep, r.name, r.fingerprint);
      });
    const destroyName = writable ? db.prepare('DELETE FROM keyledger_content WHERE deployment = ? AND name = ?') : undefined;
    const destroyNames =
      destroyName &&
      db.transaction((dep: string, names: ReadonlyArray<string>) => {
        for (const n of names) destroyName.run(dep, n);
      });
    const destroyDeployment = writable
      ? db.transaction((dep: string): number => {
          const names = db.prepare<[string], string>('SELECT count(DISTINCT name) FROM keyledger_content WHERE deployment = ?').pluck().get(dep) ?? 0;
          db.prepare('DELETE FROM keyledger_content WHERE deployment = ?').run(dep);
          return Number(names);
        })
      : undefined;
    return E.right({
      location,
      write: (deploymentId: string, name: string, fingerprint: Fingerprint, jwe: string) => () =>
        Promise.resolve(write ? E.tryCatch(() => void write.run(deploymentId, name, fingerprint, jwe), fail) : readOnly()),
      read: (deploymentId: string, name: string, fingerprint: Fingerprint) => () =>
        Promise.resolve(E.tryCatch(() => read.get(deploymentId, name, fingerprint), fail)),
      remove: (deploymentId: string, name: string, fingerprint: Fingerprint) => () =>
        Promise.resolve(remove ? E.tryCatch(() => void remove.run(deploymentId, name, fingerprint), fail) : readOnly()),
      readMany: (deploymentId: string, rows: ReadonlyArray<ContentRow>) => () => Promise.resolve(E.tryCatch(() => readAll(deploymentId, rows), fail)),
      writeMany: (deploymentId: string, rows: ReadonlyArray<ContentRow & { readonly jwe: string }>) => () =>
        Promise.resolve(writeAll ? E.tryCatch(() => writeAll(deploymentId, rows), fail) : readOnly()),
      removeMany: (deploymentId: string, rows: ReadonlyArray<ContentRow>) => () =>
        Promise.resolve(removeAll ? E.tryCatch(() => removeAll(deploymentId, rows), fail) : readOnly()),
      // Removed rows are gone from the table; SQLite reuses their pages (secure_delete is not on: the file's free pages
      // may hold old bytes until reused or the file is vacuumed — docs/adr/0015 says what that means).
      destroy: (deploymentId: string, names: ReadonlyArray<string>) => () =>
        Promise.resolve(destroyNames ? E.tryCatch(() => destroyNames(deploymentId, names), fail) : readOnly()),
      destroyAll: (deploymentId: string) => () => Promise.resolve(destroyDeployment ? E.tryCatch(() => destroyDeployment(deploymentId), fail) : readOnly()),
      close: () => db.close(),
    } satisfies ContentStore);
  } catch (e) {
    // no table (a read-only ledger never written by a version with secrets): every read finds nothing
    db.close();
    return E.left(fail(e));
  }
};
