/**
 * Views at fleet scale (issue 10): a cold catch-up of the activation view
 * (decode + hash-link check + fold, no local view) on generated ledgers,
 *   - against raw better-sqlite3: read the same rows and JSON.parse data and metadata, in the same run;
 *   - the same number of events over a small fleet and over a large one (flat in fleet size).
 * Ledgers are generated through the port with real sealing (bench/generate.ts) into a temp folder.
 * BENCH_CATCHUP_INSTANCES (default 2,000) sets the large fleet; the small one has 100 instances.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { openSqliteCheckpoints } from '../src/infra/sqlite-checkpoints';
import { verifyLedger } from '../src/commands/verify';
import { sha256Hex } from '../src/infra/sha256';
import { signatures } from '../src/infra/signing';
import { openSqliteStore } from '../src/infra/sqlite-store';
import { activationProjection } from '../src/projections/activation';
import { instanceViewFromStreams } from '../src/projections/instance-view';
import { catchUp } from '../src/projections/runner';
import { generateLedger } from './generate';
import type { BenchResult } from './result';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

const rawRead = (file: string): number => {
  const t0 = now();
  const db = new Database(file, { readonly: true });
  let n = 0;
  for (const row of db.prepare('SELECT data, metadata FROM events ORDER BY global_position').iterate() as Iterable<{ data: string; metadata: string }>) {
    JSON.parse(row.data);
    JSON.parse(row.metadata);
    n++;
  }
  db.close();
  if (n === 0) throw new Error('bench: empty ledger');
  return now() - t0;
};

const coldCatchUp = async (file: string, stateDir: string): Promise<{ ms: number; events: number }> => {
  fs.rmSync(stateDir, { recursive: true, force: true });
  const store = openSqliteStore(file);
  const cp = openSqliteCheckpoints(path.join(stateDir, 'projections.db'));
  if (E.isLeft(store) || E.isLeft(cp)) throw new Error('bench: cannot open');
  const t0 = now();
  const r = await catchUp(store.right, activationProjection, cp.right, { digest: sha256Hex })();
  const ms = now() - t0;
  cp.right.close();
  await store.right.close();
  if (E.isLeft(r)) throw new Error(`bench: catch-up failed: ${r.left._tag}`);
  return { ms, events: r.right.processed };
};

/** `verify` over the whole ledger: hash links only, or with every signature checked too. */
const verifyRun = async (file: string, signed: boolean): Promise<{ ms: number; verified: number }> => {
  const store = openSqliteStore(file);
  if (E.isLeft(store)) throw new Error('bench: cannot open');
  const t0 = now();
  const r = await verifyLedger(store.right, {
    digest: sha256Hex,
    ...(signed ? { signatures: { verify: signatures.verify, thumbprint: signatures.thumbprint } } : {}),
  })();
  const ms = now() - t0;
  await store.right.close();
  if (E.isLeft(r)) throw new Error(`bench: verify failed: ${r.left._tag}`);
  const problems = r.right.problems.length + (r.right.signatures?.problems.length ?? 0);
  if (problems > 0) throw new Error(`bench: the generated ledger has ${problems} problem(s)`);
  return { ms, verified: r.right.signatures?.verified ?? 0 };
};

/** A cold `status` of one instance: its streams and its deployment's, not $all (median of 20 runs). */
const coldStatus = async (file: string): Promise<number> => {
  const store = openSqliteStore(file);
  if (E.isLeft(store)) throw new Error('bench: cannot open');
  const ids = rightIds(file);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const id = ids[(i * 7919) % ids.length]!;
    const t0 = now();
    const v = await instanceViewFromStreams(store.right, id as never, sha256Hex)();
    times.push(now() - t0);
    if (E.isLeft(v)) throw new Error('bench: cold status failed');
  }
  await store.right.close();
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
};

const rightIds = (file: string): string[] => {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare("SELECT stream_name FROM streams WHERE stream_name LIKE 'keyledger.instance-%'").all() as Array<{ stream_name: string }>;
  db.close();
  return rows.map((r) => r.stream_name.slice('keyledger.instance-'.length));
};

export const benchCatchUp = async (): Promise<BenchResult[]> => {
  const large = Number(process.env['BENCH_CATCHUP_INSTANCES'] ?? 2000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-catchup-'));
  try {
    // Same event count: a large fleet with 2 restarts each, a small one with many restarts each.
    const perEventsLarge = 6 + 2;
    const wide = path.join(dir, 'wide.db');
    const narrow = path.join(dir, 'narrow.db');
    const g1 = await generateLedger(wide, large / 10, 10, 2);
    const restarts = Math.max(0, Math.round(g1.events / 100 - (perEventsLarge - 2)));
    const g2 = await generateLedger(narrow, 10, 10, restarts);
    const rawWide = rawRead(wide);
    const cw = await coldCatchUp(wide, path.join(dir, 'state-wide'));
    const cn = await coldCatchUp(narrow, path.join(dir, 'state-narrow'));
    const perEvent = (c: { ms: number; events: number }): number => c.ms / c.events;
    const sw = await coldStatus(wide);
    const sn = await coldStatus(narrow);
    const rawAgain = rawRead(wide);
    const vh = await verifyRun(wide, false);
    const vs = await verifyRun(wide, true);
    return [
      {
        name: `cold catch-up (decode + hash links + fold) vs raw better-sqlite3 read + 2x JSON.parse, ${g1.events} events over ${g1.instances} instances`,
        ours: `${cw.ms.toFixed(0)} ms`,
        baseline: `${rawWide.toFixed(0)} ms`,
        ratio: rawWide / cw.ms,
        target: { op: '>=', value: 0.4 },
        note: `throughput ratio (higher is better); ${(cw.events / (cw.ms / 1000)).toFixed(0)} events/s`,
      },
      {
        name: `cold catch-up per event: ${g1.instances} instances vs 100 instances (${g1.events} vs ${g2.events} events)`,
        ours: `${(perEvent(cw) * 1000).toFixed(1)} µs/event`,
        baseline: `${(perEvent(cn) * 1000).toFixed(1)} µs/event`,
        ratio: perEvent(cw) / perEvent(cn),
        target: { op: '<=', value: 1.3 },
        note: 'flat in fleet size: the fold writes a working copy in place',
      },
      {
        name: `cold status of one instance (its own streams only): in the ${g1.events}-event ledger vs in the ${g2.events}-event one`,
        ours: `${sw.toFixed(1)} ms`,
        baseline: `${sn.toFixed(1)} ms`,
        ratio: sw / sn,
        target: { op: '<=', value: 2 },
        note: 'the median of 20; a full catch-up of the large ledger takes the first figure above',
      },
      {
        name: `verify (hash links, no signatures) vs raw better-sqlite3 read + 2x JSON.parse, ${g1.events} events`,
        ours: `${vh.ms.toFixed(0)} ms`,
        baseline: `${rawAgain.toFixed(0)} ms`,
        ratio: rawAgain / vh.ms,
        target: { op: '>=', value: 0.4 },
        note: 'throughput ratio (higher is better)',
      },
      {
        name: `verify --signatures vs the same raw read, ${g1.events} events`,
        ours: `${vs.ms.toFixed(0)} ms`,
        baseline: `${rawAgain.toFixed(0)} ms`,
        ratio: rawAgain / vs.ms,
        note: `reported only: ${vs.verified} Ed25519 signatures verified, ${(((vs.ms - vh.ms) / Math.max(1, vs.verified)) * 1000).toFixed(0)} µs each (the trust walk included)`,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
