/**
 * Editing the SQLite ledger file behind keyledger's back, as an attacker or a
 * damaged disk would. Test support only.
 */
import Database from 'better-sqlite3';

export const tamper = (file: string, sql: string, ...params: unknown[]): number => {
  const db = new Database(file);
  try {
    return db.prepare(sql).run(...params).changes;
  } finally {
    db.close();
  }
};

export const rowOf = (file: string, stream: string, revision: number): { data: string; metadata: string; event_type: string } => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT data, metadata, event_type FROM events WHERE stream_name = ? AND stream_revision = ?').get(stream, revision) as {
      data: string;
      metadata: string;
      event_type: string;
    };
  } finally {
    db.close();
  }
};
