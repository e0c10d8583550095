/**
 * `report` for one deployment of a generated ledger (issue 14): the report (decode, hash links, the report's model
 * and findings; with a trust anchor, every signature too) against raw better-sqlite3 reading and parsing that
 * deployment's events, in a process of its own (bench/report-child.ts) so its peak memory is its own.
 * The ledger is the catch-up bench's (BENCH_CATCHUP_INSTANCES, BENCH_CATCHUP_EVENTS, BENCH_LEDGER_CACHE): at the
 * issue's scale, a deployment of 10 members in a 1,000,000-event ledger.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ledgerOf } from './catchup';
import type { BenchResult } from './result';

interface ChildResult {
  readonly events: number;
  readonly reportEvents: number;
  readonly signatures: number;
  readonly verified: number;
  readonly findings: number;
  readonly raw: number;
  readonly ours: number;
  readonly rawSig: number;
  readonly oursSig: number;
  readonly maxRssMb: number;
}

export const benchReport = async (): Promise<BenchResult[]> => {
  const large = Number(process.env['BENCH_CATCHUP_INSTANCES'] ?? 2000);
  const target = Number(process.env['BENCH_CATCHUP_EVENTS'] ?? large * 8);
  const restarts = Math.max(0, Math.round(target / large) - 6);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-report-'));
  try {
    const deployments = Math.max(1, Math.round(large / 10));
    const g = await ledgerOf(dir, deployments, 10, restarts);
    const deployment = `bench-${Math.floor(deployments / 2)}`;
    const rounds = process.env['BENCH_REPORT_ROUNDS'] ?? '9';
    const r = spawnSync(process.execPath, [path.join(__dirname, 'report-child.js'), g.file, deployment, rounds], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bench: the report process failed: ${r.stderr}`);
    const c = JSON.parse(r.stdout) as ChildResult;
    if (c.reportEvents !== c.events) throw new Error(`bench: the report read ${c.reportEvents} events, the baseline ${c.events}`);
    return [
      {
        name: `report for one deployment (${c.events} events) in a ${g.events}-event ledger vs raw better-sqlite3 read + 2x JSON.parse of those events`,
        ours: `${c.ours.toFixed(1)} ms`,
        baseline: `${c.raw.toFixed(1)} ms`,
        ratio: c.raw / c.ours,
        target: { op: '>=', value: 0.3 },
        note: `throughput ratio (higher is better), medians of ${rounds}; no trust anchor: decode, hash links, model, findings`,
      },
      {
        name: `report --trust (every signature checked against the anchor) vs the same raw read + ${c.signatures} raw node:crypto Ed25519 verifies`,
        ours: `${c.oursSig.toFixed(1)} ms`,
        baseline: `${c.rawSig.toFixed(1)} ms`,
        ratio: c.rawSig / c.oursSig,
        note: `reported only; ${c.verified} signatures verified by the report`,
      },
      {
        name: `peak memory (RSS) of the process running those reports (${g.events}-event ledger)`,
        ours: `${c.maxRssMb.toFixed(0)} MB`,
        baseline: '300 MB',
        ratio: c.maxRssMb / 300,
        target: { op: '<=', value: 1 },
        note: "the issue's bound: under 300 MB",
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
