/**
 * Where the time of `readAll` of N events through the EventStoreDB adapter goes (issue 17): the adapter, the client,
 * the wire, the double — each measured in the same run, against SQLite's `readAll` of the same events.
 *
 *   sqlite      the SQLite adapter's readAll (the baseline)
 *   adapter     the EventStoreDB adapter's readAll: everything below, plus the adapter (filtering, toRecorded)
 *   client      the raw client's readAll of the same page: client + wire + double
 *   double      the double's own work for that page: each event built as a `ReadResp` and serialised (what it
 *               writes; grpc-js framing excluded)
 *   decode      the client's own work for that page: each `ReadResp` deserialised and converted
 *               (`convertGrpcEvent`), as the client does on receipt
 *   adapter share = adapter − client; wire/transport share = client − double − decode (HTTP/2 in one process,
 *   grpc-js on both sides, the stream's back-pressure and event-loop hops).
 *
 * Medians of R runs after a warm-up, the adapter's and the client's interleaved. `node dist/bench/esdb-profile.js [N] [R]`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as E from 'fp-ts/Either';
import { EventStoreDBClient, FORWARDS, START } from '@eventstore/db-client';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import { openEsdbStore } from '../src/infra/esdb-store';
import { openSqliteStore } from '../src/infra/sqlite-store';
import type { EventStore } from '../src/ports/event-store';
import { startEsdbDouble } from '../test/support/esdb-double';
import type { Stored } from '../test/support/esdb-double/log';
import { eventResp } from '../test/support/esdb-double/streams-read';

// The client's own converter (not exported from the package root).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { convertGrpcEvent } = require('@eventstore/db-client/dist/utils/convertGrpcEvent') as { convertGrpcEvent: (e: pb.ReadResp.ReadEvent) => unknown };

export interface EsdbProfile {
  readonly n: number;
  readonly sqliteMs: number;
  readonly adapterMs: number;
  readonly clientMs: number;
  readonly doubleMs: number;
  readonly decodeMs: number;
  /** The adapter's first readAll of the run (cold: the read path not yet compiled, on both ends). */
  readonly coldMs: number;
}

const must = <A>(r: E.Either<unknown, A>, what: string): A => {
  if (E.isLeft(r)) throw new Error(`${what}: ${JSON.stringify(r.left, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}`);
  return r.right;
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const time = async (runs: number, f: () => Promise<unknown> | unknown): Promise<number> => {
  for (let i = 0; i < 3; i++) await f();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    out.push(performance.now() - t0);
  }
  return median(out);
};

const fill = async (store: EventStore, stream: string, n: number): Promise<void> => {
  for (let i = 0; i < n; i += 100)
    must(
      await store.append(
        stream,
        Array.from({ length: Math.min(100, n - i) }, (_, j) => ({
          id: randomUUID(),
          type: 'KeyRotated',
          data: { i: i + j, key: `k-${i + j}` },
          metadata: { actor: 'bench' },
        })),
        i === 0 ? 'no_stream' : BigInt(i - 1),
      )(),
      'fill',
    );
};

export async function profileEsdbReadAll(n = 500, runs = 15): Promise<EsdbProfile> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-esdb-profile-'));
  try {
    const stream = `bench-${randomUUID()}`;
    const sqlite = must(openSqliteStore(path.join(dir, 'ledger.db')), 'open sqlite');
    let sqliteMs: number;
    try {
      await fill(sqlite, stream, n);
      sqliteMs = await time(runs, async () => must(await sqlite.readAll({ streamPrefixes: [stream], maxCount: n })(), 'sqlite readAll'));
    } finally {
      await sqlite.close();
    }
    // No system events in this $all: the page the adapter reads is the page the raw client reads.
    const d = await startEsdbDouble({ batchAppend: false, systemEvents: false });
    const store = must(openEsdbStore(d.connectionString, { readPageSize: n + 1 }), 'open esdb');
    const raw = EventStoreDBClient.connectionString(d.connectionString);
    try {
      await fill(store, stream, n);
      // Interleaved, one of each per round: run one after the other, the second is skewed by the first's garbage and JIT state.
      const c0 = performance.now();
      must(await store.readAll({ streamPrefixes: [stream] })(), 'cold readAll');
      const coldMs = performance.now() - c0;
      const adapterRuns: number[] = [];
      const clientRuns: number[] = [];
      for (let i = 0; i < runs + 3; i++) {
        let t0 = performance.now();
        const all = must(await store.readAll({ streamPrefixes: [stream] })(), 'adapter readAll');
        if (all.length !== n) throw new Error(`read ${all.length}`);
        if (i >= 3) adapterRuns.push(performance.now() - t0);
        t0 = performance.now();
        let k = 0;
        for await (const _r of raw.readAll({ fromPosition: START, direction: FORWARDS, maxCount: n + 1, requiresLeader: true })) k++;
        if (k !== n) throw new Error(`raw read ${k}`);
        if (i >= 3) clientRuns.push(performance.now() - t0);
      }
      const adapterMs = median(adapterRuns);
      const clientMs = median(clientRuns);
      // The double's and the client's own work on the same events, without the wire.
      const stored: Stored[] = [];
      for await (const r of raw.readAll({ fromPosition: START, maxCount: n })) {
        const ev = r.event!;
        stored.push({
          stream: ev.streamId,
          revision: ev.revision,
          id: ev.id,
          type: ev.type,
          contentType: 'application/json',
          data: Buffer.from(JSON.stringify(ev.data)),
          customMetadata: Buffer.from(JSON.stringify(ev.metadata ?? {})),
          created: (BigInt(ev.created.getTime()) * 10_000n).toString(),
          createdMs: ev.created.getTime(),
          commit: ev.position!.commit,
          prepare: ev.position!.prepare,
        });
      }
      let wire: Uint8Array[] = [];
      const doubleMs = await time(runs, () => {
        wire = stored.map((e) => eventResp(e, true).serializeBinary());
      });
      const decodeMs = await time(runs, () => {
        for (const bytes of wire) convertGrpcEvent(pb.ReadResp.deserializeBinary(bytes).getEvent()!);
      });
      return { n, sqliteMs, adapterMs, clientMs, doubleMs, decodeMs, coldMs };
    } finally {
      await raw.dispose();
      await store.close();
      await d.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const formatEsdbProfile = (p: EsdbProfile): string => {
  const pct = (x: number): string => `${((100 * x) / p.adapterMs).toFixed(0)}%`;
  const adapterShare = p.adapterMs - p.clientMs;
  const wire = p.clientMs - p.doubleMs - p.decodeMs;
  return [
    `readAll of ${p.n} events: EventStoreDB adapter + double ${p.adapterMs.toFixed(1)} ms vs SQLite ${p.sqliteMs.toFixed(1)} ms (×${(p.adapterMs / p.sqliteMs).toFixed(1)}; ` +
      `the first, cold: ${p.coldMs.toFixed(1)} ms)`,
    `  adapter (filtering, toRecorded): ${adapterShare.toFixed(1)} ms (${pct(adapterShare)}; within the noise when near 0)`,
    `  the double (build + serialise ${p.n} ReadResp): ${p.doubleMs.toFixed(1)} ms (${pct(p.doubleMs)})`,
    `  the client (deserialise + convert): ${p.decodeMs.toFixed(1)} ms (${pct(p.decodeMs)})`,
    `  wire (grpc-js + HTTP/2 both sides, in one process): ${wire.toFixed(1)} ms (${pct(wire)})`,
  ].join('\n');
};

if (require.main === module) {
  const n = Number(process.argv[2] ?? 500);
  const runs = Number(process.argv[3] ?? 15);
  profileEsdbReadAll(n, runs).then(
    (p) => console.log(formatEsdbProfile(p)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
