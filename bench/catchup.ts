/**
 * Views at fleet scale (issue 10): a cold catch-up of the activation view
 * (decode + hash-link check + fold, no local view) on generated ledgers,
 *   - against raw better-sqlite3: read the same rows and JSON.parse data and metadata, in the same run;
 *   - the same number of events over a small fleet and over a large one (flat in fleet size).
 * Ledgers are generated through the port with real sealing (bench/generate.ts) into a temp folder.
 * BENCH_CATCHUP_INSTANCES and BENCH_CATCHUP_EVENTS set the large ledger (see benchCatchUp); BENCH_LEDGER_CACHE keeps ledgers.
 */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { verifyLedger } from '../src/commands/verify';
import { sha256Hex } from '../src/infra/sha256';
import { signatures } from '../src/infra/signing';
import { openSqliteStore } from '../src/infra/sqlite-store';
import { instanceViewFromStreams } from '../src/projections/instance-view';
import { generateLedger } from './generate';
import type { BenchResult } from './result';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

export const rawRead = (file: string): number => {
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

/** A cold catch-up in a process of its own (bench/catchup-child.ts): its time and its peak memory. */
const coldCatchUp = (file: string, stateDir: string): { ms: number; events: number; maxRssMb: number } => {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'catchup-child.js'), file, stateDir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench: the catch-up process failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ms: number; events: number; maxRssMb: number };
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

export const rightIds = (file: string): string[] => {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare("SELECT stream_name FROM streams WHERE stream_name LIKE 'keyledger.instance-%'").all() as Array<{ stream_name: string }>;
  db.close();
  return rows.map((r) => r.stream_name.slice('keyledger.instance-'.length));
};

/**
 * A generated ledger, kept in BENCH_LEDGER_CACHE (a folder) when it is set — generating a million signed events
 * takes minutes — else made in the run's temp folder.
 */
export const ledgerOf = async (
  dir: string,
  deployments: number,
  perDeployment: number,
  restarts: number,
): Promise<{ file: string; events: number; instances: number }> => {
  const cache = process.env['BENCH_LEDGER_CACHE'];
  const file = path.join(cache ?? dir, `ledger-${deployments}x${perDeployment}x${restarts}.db`);
  const meta = `${file}.json`;
  if (cache && fs.existsSync(meta)) return { file, ...(JSON.parse(fs.readFileSync(meta, 'utf8')) as { events: number; instances: number }) };
  if (cache) fs.mkdirSync(cache, { recursive: true });
  fs.rmSync(file, { force: true });
  const g = await generateLedger(file, deployments, perDeployment, restarts);
  if (cache) fs.writeFileSync(meta, JSON.stringify(g));
  return { file, ...g };
};

/**
 * BENCH_CATCHUP_INSTANCES (default 2,000, in deployments of 10) and BENCH_CATCHUP_EVENTS (default 8 an
 * instance) set the large ledger; the figure is BENCH_CATCHUP_INSTANCES=10000 BENCH_CATCHUP_EVENTS=1000000.
 */
export const benchCatchUp = async (): Promise<BenchResult[]> => {
  const large = Number(process.env['BENCH_CATCHUP_INSTANCES'] ?? 2000);
  const target = Number(process.env['BENCH_CATCHUP_EVENTS'] ?? large * 8);
  // An instance's own events: 6 (5 for a deployment's first) and one per restart.
  const restartsFor = (instances: number, events: number): number => Math.max(0, Math.round(events / instances) - 6);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-catchup-'));
  try {
    // The same number of events over a large fleet and over 100 instances; and a 10,000-event ledger for status.
    const g1 = await ledgerOf(dir, Math.max(1, Math.round(large / 10)), 10, restartsFor(large, target));
    const g2 = await ledgerOf(dir, 10, 10, restartsFor(100, g1.events));
    const g3 = await ledgerOf(dir, 10, 10, restartsFor(100, 10_000));
    const wide = g1.file;
    const narrow = g2.file;
    const rawWide = rawRead(wide);
    const cw = coldCatchUp(wide, path.join(dir, 'state-wide'));
    const cn = coldCatchUp(narrow, path.join(dir, 'state-narrow'));
    const perEvent = (c: { ms: number; events: number }): number => c.ms / c.events;
    const sw = await coldStatus(wide);
    const sn = await coldStatus(g3.file);
    const rawAgain = rawRead(wide);
    const vh = await verifyRun(wide, false);
    // Reported beside it; a million signatures take minutes (BENCH_VERIFY_SIGNATURES=0 leaves them out).
    const vs = process.env['BENCH_VERIFY_SIGNATURES'] === '0' ? undefined : await verifyRun(wide, true);
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
        name: `peak memory (RSS) of that cold catch-up, in a process of its own (${g1.events} events over ${g1.instances} instances)`,
        ours: `${cw.maxRssMb.toFixed(0)} MB`,
        baseline: '300 MB',
        ratio: cw.maxRssMb / 300,
        target: { op: '<=', value: 1 },
        note: "the issue's bound: under 300 MB",
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
        name: `cold status of one instance (its own streams only): in the ${g1.events}-event ledger vs in a ${g3.events}-event one`,
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
      ...(vs === undefined
        ? []
        : [
            {
              name: `verify --signatures vs the same raw read, ${g1.events} events`,
              ours: `${vs.ms.toFixed(0)} ms`,
              baseline: `${rawAgain.toFixed(0)} ms`,
              ratio: rawAgain / vs.ms,
              note:
                `reported only: ${vs.verified} Ed25519 signatures verified, ` +
                `${(((vs.ms - vh.ms) / Math.max(1, vs.verified)) * 1000).toFixed(0)} µs each (the trust walk included)`,
            },
          ]),
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
