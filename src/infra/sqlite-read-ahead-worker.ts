/**
 * The threads behind `SqliteEventStore.readAhead` and `integrityCheck`. Read ahead: reads pages of $all from its own read-only connection and,
 * for each event, the SHA-256 of its stored text as the hash chain hashes it (`hashedText`), so that the
 * thread folding the events spends its time on decoding and folding. It posts the text it hashed, exactly:
 * the reader parses that same text, so the digest is of what is decoded. At most `ahead` pages are in flight.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from './sqlite-db';
import { pageText, type ReadAheadMessage, type ReadAheadRow } from './sqlite-read-ahead-page';

export interface ReadAheadJob {
  readonly kind: 'keyledger-read-ahead';
  /** What the store opened: a path, or a `file:` URI (read-only media). */
  readonly name: string;
  readonly after: string;
  readonly pageSize: number;
  readonly prefixes: ReadonlyArray<string>;
  readonly ahead: number;
}

/** SQLite's check of the whole file (quick_check), on its own thread: `verify` goes on with the events meanwhile. */
export interface IntegrityJob {
  readonly kind: 'keyledger-integrity-check';
  readonly name: string;
  /** integrity_check (every index against its table, O(n log n)) rather than quick_check (every page's structure). */
  readonly deep: boolean;
}

/** SQLite's check of a whole file: the problems it names (none: sound). */
export const fileProblems = (db: InstanceType<typeof Database>, deep: boolean): string[] => {
  const pragma = deep ? 'integrity_check' : 'quick_check';
  const rows = db.pragma(`${pragma}(20)`, { simple: false }) as Array<Record<string, string>>;
  return rows.map((r) => r[pragma]!).filter((m) => m !== 'ok');
};

export type IntegrityMessage =
  | { readonly problems: ReadonlyArray<string> }
  | { readonly error: { readonly message: string; readonly code: string | undefined } };

const checkIntegrity = (job: IntegrityJob, port: NonNullable<typeof parentPort>): void => {
  try {
    const db = new Database(job.name, { readonly: true, fileMustExist: true });
    try {
      port.postMessage({ problems: fileProblems(db, job.deep) } satisfies IntegrityMessage);
    } finally {
      db.close();
    }
  } catch (e) {
    port.postMessage({ error: { message: e instanceof Error ? e.message : String(e), code: (e as { code?: string }).code } } satisfies IntegrityMessage);
  }
};

const run = (job: ReadAheadJob, port: NonNullable<typeof parentPort>): void => {
  let db: InstanceType<typeof Database> | undefined;
  let after: number | bigint = BigInt(job.after);
  let credits = job.ahead;
  let done = false;
  const fail = (e: unknown): void => {
    done = true;
    port.postMessage({ error: { message: e instanceof Error ? e.message : String(e), code: (e as { code?: string }).code } } satisfies ReadAheadMessage);
  };
  try {
    db = new Database(job.name, { readonly: true, fileMustExist: true });
  } catch (e) {
    fail(e);
    return;
  }
  const filter = job.prefixes.length > 0 ? ` AND (${job.prefixes.map(() => 'substr(stream_name, 1, ?) = ?').join(' OR ')})` : '';
  const page = db
    .prepare(
      'SELECT global_position, stream_name, stream_revision, event_id, event_type, data, metadata FROM events ' +
        `WHERE global_position > ?${filter} ORDER BY global_position ASC LIMIT ?`,
    )
    .raw();
  const prefixParams = job.prefixes.flatMap((p) => [p.length, p]);
  const pump = (): void => {
    while (!done && credits > 0) {
      let rows: ReadAheadRow[];
      try {
        rows = page.all(after, ...prefixParams, job.pageSize) as ReadAheadRow[];
      } catch (e) {
        fail(e);
        return;
      }
      credits--;
      port.postMessage(pageText(rows) satisfies ReadAheadMessage);
      if (rows.length < job.pageSize) done = true;
      else after = rows[rows.length - 1]![0];
    }
    if (done) db?.close();
  };
  port.on('message', () => {
    credits++;
    pump();
  });
  pump();
};

// Only as one of these threads (this module is never imported, but a test runner's threads have workerData too).
const kind = (workerData as { kind?: unknown } | undefined)?.kind;
if (parentPort && kind === 'keyledger-read-ahead') run(workerData as ReadAheadJob, parentPort);
if (parentPort && kind === 'keyledger-integrity-check') checkIntegrity(workerData as IntegrityJob, parentPort);
