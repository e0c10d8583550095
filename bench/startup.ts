/**
 * Start-up cost of a command that answers and exits: CPU of `keyledger status`
 * on a tiny ledger against a bare `node -e 0`, measured side by side, each run
 * in its own process. CPU (user + system) is read by the process itself at exit
 * through a preloaded module, so the spawning process's own work is not counted.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BenchResult } from './result';

const REPORT_CPU = `process.on('exit', () => { const u = process.cpuUsage(); require('fs').appendFileSync(process.env.KL_CPU_OUT, ((u.user + u.system) / 1000) + '\\n'); });`;

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

export const benchStartup = async (rounds = Number(process.env['BENCH_STARTUP_ROUNDS'] ?? 15)): Promise<BenchResult> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-startup-'));
  try {
    const cli = path.resolve(__dirname, '..', 'src', 'cli', 'main.js');
    const preload = path.join(dir, 'report-cpu.js');
    fs.writeFileSync(preload, REPORT_CPU);
    const run = (args: ReadonlyArray<string>, out: string): void => {
      execFileSync(process.execPath, ['-r', preload, ...args], { cwd: dir, env: { ...process.env, KL_CPU_OUT: out }, stdio: 'ignore' });
    };
    const quiet = (args: ReadonlyArray<string>): void => void execFileSync(process.execPath, [cli, ...args], { cwd: dir, stdio: 'ignore' });
    quiet(['config', 'new', '--machine', 'BENCH']);
    quiet(['init']);
    quiet(['status']); // the local view is caught up once: later runs measure start-up, not the first replay
    const bare = path.join(dir, 'bare.txt');
    const status = path.join(dir, 'status.txt');
    for (let i = 0; i < rounds; i++) {
      run(['-e', '0'], bare);
      run([cli, 'status'], status);
    }
    const read = (f: string): number[] => fs.readFileSync(f, 'utf8').trim().split('\n').map(Number);
    const base = median(read(bare));
    const ours = median(read(status));
    return {
      name: 'start-up: `keyledger status` on a tiny ledger vs a bare `node -e 0` (CPU, median)',
      ours: `${ours.toFixed(0)} ms CPU`,
      baseline: `${base.toFixed(0)} ms CPU`,
      ratio: ours / base,
      target: { op: '<=', value: 3 },
      note: `${rounds} interleaved runs each; node-jose, the EventStoreDB client and rxjs are loaded only by the commands that need them`,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
