/**
 * Issue 14: one instance's `diagnose` and `audit` in a large ledger vs in a 10k-event one (they read its streams
 * only, so the size of the ledger should not show: target ≤ 2x each), with the peak memory of the process running
 * them (< 300 MB); and `audit --all` over the large ledger, streamed: its time against the raw better-sqlite3 read +
 * 2x JSON.parse of the same rows (reported), its peak memory (< 300 MB: flat, whatever the ledger's size).
 * Each runs the CLI in a child process (bench/diagnose-audit-child.ts), as an operator with no config and `--store`.
 * The ledgers are the catch-up bench's (bench/catchup.ts: BENCH_CATCHUP_INSTANCES, BENCH_CATCHUP_EVENTS,
 * BENCH_LEDGER_CACHE); the scale is 10,000 instances and 1,000,000 events.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ledgerOf, rawRead, rightIds } from './catchup';
import type { BenchResult } from './result';

interface One {
  readonly diagnoseMs: number;
  readonly auditMs: number;
  readonly auditLines: number;
  readonly maxRssMb: number;
}
interface All {
  readonly ms: number;
  readonly lines: number;
  readonly maxRssMb: number;
}

const child = <T>(args: ReadonlyArray<string>): T => {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'diagnose-audit-child.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench: the diagnose/audit process failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

/** 20 instances spread over the ledger. */
const someIds = (file: string): string[] => {
  const ids = rightIds(file);
  return Array.from({ length: 20 }, (_, i) => ids[(i * 7919) % ids.length]!);
};

export const benchDiagnoseAudit = async (): Promise<BenchResult[]> => {
  const large = Number(process.env['BENCH_CATCHUP_INSTANCES'] ?? 2000);
  const target = Number(process.env['BENCH_CATCHUP_EVENTS'] ?? large * 8);
  const restartsFor = (instances: number, events: number): number => Math.max(0, Math.round(events / instances) - 6);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-diag-'));
  try {
    const big = await ledgerOf(dir, Math.max(1, Math.round(large / 10)), 10, restartsFor(large, target));
    const small = await ledgerOf(dir, 10, 10, restartsFor(100, 10_000));
    // Interleaved, twice each: the machine is noisy; the better of the two rounds of each.
    const rounds = [0, 1].map(() => ({
      big: child<One>(['one', big.file, ...someIds(big.file)]),
      small: child<One>(['one', small.file, ...someIds(small.file)]),
    }));
    const best = (f: (o: One) => number, side: 'big' | 'small'): number => Math.min(...rounds.map((r) => f(r[side])));
    const all = child<All>(['all', big.file]);
    const raw = rawRead(big.file);
    const peak = Math.max(...rounds.flatMap((r) => [r.big.maxRssMb, r.small.maxRssMb]));
    const note = (o: One): string => `${o.auditLines.toFixed(0)} trail lines an instance`;
    return [
      {
        name: `diagnose of one instance (CLI, no config, --store): in the ${big.events}-event ledger vs in a ${small.events}-event one`,
        ours: `${best((o) => o.diagnoseMs, 'big').toFixed(1)} ms`,
        baseline: `${best((o) => o.diagnoseMs, 'small').toFixed(1)} ms`,
        ratio: best((o) => o.diagnoseMs, 'big') / best((o) => o.diagnoseMs, 'small'),
        target: { op: '<=', value: 2 },
        note: 'median of 20 instances, signatures of its two streams checked; the better of two interleaved rounds',
      },
      {
        name: `audit of one instance (CLI, no config, --store): in the ${big.events}-event ledger vs in a ${small.events}-event one`,
        ours: `${best((o) => o.auditMs, 'big').toFixed(1)} ms`,
        baseline: `${best((o) => o.auditMs, 'small').toFixed(1)} ms`,
        ratio: best((o) => o.auditMs, 'big') / best((o) => o.auditMs, 'small'),
        target: { op: '<=', value: 2 },
        note: `median of 20 instances; ${note(rounds[0]!.big)} vs ${note(rounds[0]!.small)}`,
      },
      {
        name: 'peak memory (RSS) of the process running those diagnose and audit commands',
        ours: `${peak.toFixed(0)} MB`,
        baseline: '300 MB',
        ratio: peak / 300,
        target: { op: '<=', value: 1 },
        note: "the issue's bound: under 300 MB",
      },
      {
        name: `audit --all --json over the ${big.events}-event ledger (streamed) vs raw better-sqlite3 read + 2x JSON.parse`,
        ours: `${all.ms.toFixed(0)} ms`,
        baseline: `${raw.toFixed(0)} ms`,
        ratio: raw / all.ms,
        note: `reported: throughput ratio, ${all.lines} JSON lines (decode, hash links, one record a line)`,
      },
      {
        name: `peak memory (RSS) of that whole-ledger audit, in a process of its own (${big.events} events)`,
        ours: `${all.maxRssMb.toFixed(0)} MB`,
        baseline: '300 MB',
        ratio: all.maxRssMb / 300,
        target: { op: '<=', value: 1 },
        note: 'flat: a page at a time, one chain head per stream',
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
