/**
 * The EventStoreDB adapter's overhead, relative to SQLite, in the same run:
 * N single-event appends, then one full `readAll`, through
 *   - the EventStoreDB adapter + real client + real gRPC to the in-process test double
 *     (advertising BatchAppend or not: the adapter takes Streams.Append either way, ADR 0006), and
 *   - the SQLite adapter on a temporary file.
 * A ratio is esdb time / sqlite time. NOT a target and not a database benchmark: the
 * double keeps everything in memory; this measures the client + wire + adapter cost.
 *
 *   node dist/bench/esdb.js [N]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as E from 'fp-ts/Either';
import { openEsdbStore } from '../src/infra/esdb-store';
import { openSqliteStore } from '../src/infra/sqlite-store';
import type { AppendResult, EventStore, RecordedEvent } from '../src/ports/event-store';
import { startEsdbDouble } from '../test/support/esdb-double';

export interface EsdbBenchResult {
  readonly name: string;
  /** esdb time / sqlite time (> 1: the EventStoreDB path is slower). */
  readonly ratio: number;
  readonly detail: string;
}

interface Timing {
  readonly appendMs: number;
  readonly readAllMs: number;
  readonly read: number;
}

const must = <A>(r: E.Either<unknown, A>, what: string): A => {
  if (E.isLeft(r)) throw new Error(`${what}: ${JSON.stringify(r.left, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}`);
  return r.right;
};

const run = async (store: EventStore, n: number): Promise<Timing> => {
  const stream = `bench-${randomUUID()}`;
  // Warm-up (connection, server features, prepared statements) outside the timing.
  const warmup = `warmup-${randomUUID()}`;
  for (let i = 0; i < 20; i++) must(await store.append(warmup, [{ id: randomUUID(), type: 'Warmup', data: {}, metadata: {} }], 'any')(), 'warm-up');
  must(await store.readAll({ streamPrefixes: [warmup] })(), 'warm-up');
  let expected: bigint | 'no_stream' = 'no_stream';
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r: AppendResult = must(
      await store.append(stream, [{ id: randomUUID(), type: 'KeyRotated', data: { i, key: `k-${i}` }, metadata: { actor: 'bench' } }], expected)(),
      'append',
    );
    expected = r.nextExpectedRevision;
  }
  const t1 = performance.now();
  const all: RecordedEvent[] = [];
  for (let after: RecordedEvent['position'] | undefined; ; ) {
    const page = must(await store.readAll({ ...(after ? { after } : {}), streamPrefixes: [stream], maxCount: 500 })(), 'readAll');
    all.push(...page);
    if (page.length < 500) break;
    after = page[page.length - 1]!.position;
  }
  const t2 = performance.now();
  if (all.length !== n) throw new Error(`readAll returned ${all.length} events, expected ${n}`);
  return { appendMs: t1 - t0, readAllMs: t2 - t1, read: all.length };
};

export async function benchEsdb(n = 500): Promise<EsdbBenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-esdb-'));
  const results: EsdbBenchResult[] = [];
  try {
    const sqlite = must(openSqliteStore(path.join(dir, 'ledger.db')), 'open sqlite');
    let base: Timing;
    try {
      base = await run(sqlite, n);
    } finally {
      await sqlite.close();
    }
    for (const batchAppend of [true, false]) {
      const d = await startEsdbDouble({ batchAppend });
      const store = must(openEsdbStore(d.connectionString), 'open esdb');
      try {
        const t = await run(store, n);
        const path_ = batchAppend ? 'BatchAppend advertised' : 'no BatchAppend';
        results.push({
          name: `esdb+double(${path_}) vs sqlite: ${n} single-event appends`,
          ratio: t.appendMs / base.appendMs,
          detail: `${(t.appendMs / n).toFixed(3)} ms/append vs ${(base.appendMs / n).toFixed(3)} ms/append`,
        });
        results.push({
          name: `esdb+double(${path_}) vs sqlite: readAll of ${n} events`,
          ratio: t.readAllMs / base.readAllMs,
          detail: `${t.readAllMs.toFixed(1)} ms vs ${base.readAllMs.toFixed(1)} ms`,
        });
      } finally {
        await store.close();
        await d.stop();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

export const formatEsdbBench = (results: ReadonlyArray<EsdbBenchResult>): string =>
  results.map((r) => `${r.name}: ×${r.ratio.toFixed(2)} (${r.detail})`).join('\n');

if (require.main === module) {
  const n = Number(process.argv[2] ?? 500);
  benchEsdb(Number.isFinite(n) && n > 0 ? n : 500).then(
    (r) => console.log(formatEsdbBench(r)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
