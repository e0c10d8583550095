/**
 * The thread behind `SqliteEventStore.readAhead`: reads pages of $all from its own read-only connection and,
 * for each event, the SHA-256 of its stored text as the hash chain hashes it (`hashedText`), so that the
 * thread folding the events spends its time on decoding and folding. It posts the text it hashed, exactly:
 * the reader parses that same text, so the digest is of what is decoded. At most `ahead` pages are in flight.
 */
import { hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { hashedText } from '../domain/envelope';
import Database from './sqlite-db';

export interface ReadAheadJob {
  /** What the store opened: a path, or a `file:` URI (read-only media). */
  readonly name: string;
  readonly after: string;
  readonly pageSize: number;
  readonly prefixes: ReadonlyArray<string>;
  readonly ahead: number;
}

/** [global position, stream, revision, event id, type, data text, metadata text, digest (null: text not canonical)] */
export type ReadAheadRow = [number, string, number, string, string, string, string, string | null];

export type ReadAheadMessage =
  | { readonly rows: ReadonlyArray<ReadAheadRow> }
  | { readonly error: { readonly message: string; readonly code: string | undefined } };

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
      for (const r of rows) {
        const text = hashedText(r[1], BigInt(r[2]), r[4], { data: r[5], metadata: r[6] });
        r.push(text === undefined ? null : hash('sha256', text, 'hex'));
      }
      credits--;
      port.postMessage({ rows } satisfies ReadAheadMessage);
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

if (parentPort && workerData) run(workerData as ReadAheadJob, parentPort);
