/**
 * `keyledger serve` under load (docs/adr/0019), all on 127.0.0.1, bounded in requests and time; the server runs in a
 * child process (bench/serve-child.ts), autocannon here:
 *
 *   serve-ping     GET /reportserver (the live view, the access check, the answer) vs a bare fastify route returning a
 *                  constant in the same child, same connections, interleaved: throughput ratio.   target ≥ 0.5x
 *   serve-append   32 concurrent appending requests (POST, an operator token, one real command each: step 1 of an
 *                  initialization, its own stream and expected revision) with SQLite group commit vs one transaction
 *                  per command, a fresh ledger each round, interleaved: throughput ratio, p99 latency of each.
 *                                                                                                 target ≥ 1.5x
 * Options (env): BENCH_PING_SECONDS (default 3 per round), BENCH_SERVE_APPENDS (default 1,500 per round),
 * BENCH_SERVE_ROUNDS (default 3).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import type { BenchResult } from './result';

// autocannon has no types of its own: the part used here.
interface AutocannonResult {
  readonly requests: { readonly average: number; readonly total: number };
  readonly latency: { readonly p99: number; readonly average: number };
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly duration: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = require('autocannon') as Autocannon;

interface Child {
  readonly process: ChildProcess;
  readonly port: number;
  readonly barePort: number;
  readonly token: string;
}

const startChild = (args: ReadonlyArray<string>): Promise<Child> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'serve-child.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the bench server did not start within 60 s'));
    }, 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve({ process: child, ...(JSON.parse(line) as { port: number; barePort: number; token: string }) });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the bench server exited (${code})`));
    });
  });

/** Stops the child; resolves with what it said last (its count of group commits). */
interface ChildStopped {
  readonly groupsCommitted: number;
  /** Append children: ms from the first request in to the last answer out, by the server's clock. */
  readonly servedMs: number;
}

const stopChild = (c: Child): Promise<ChildStopped> =>
  new Promise((resolve) => {
    let out = '';
    c.process.stdout?.removeAllListeners('data');
    c.process.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.process.removeAllListeners('exit');
    c.process.once('exit', () => {
      const last = out.trim().split('\n').pop() ?? '';
      resolve(last.startsWith('{') ? (JSON.parse(last) as ChildStopped) : { groupsCommitted: 0, servedMs: 0 });
    });
    c.process.kill('SIGTERM');
  });

const check = (what: string, r: AutocannonResult): void => {
  if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0) throw new Error(`${what}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx answers`);
};

export const benchServePing = async (seconds = Number(process.env['BENCH_PING_SECONDS'] ?? 3), rounds = Number(process.env['BENCH_SERVE_ROUNDS'] ?? 3)) => {
  const c = await startChild(['ping']);
  try {
    const load = (port: number) => autocannon({ url: `http://127.0.0.1:${port}/reportserver`, connections: 10, duration: seconds });
    await load(c.port); // warm both
    await load(c.barePort);
    let ours = 0;
    let bare = 0;
    let p99 = 0;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [c.port, c.barePort] : [c.barePort, c.port];
      for (const port of order) {
        const res = await load(port);
        check('ping', res);
        if (port === c.port) {
          ours += res.requests.total / res.duration;
          p99 = Math.max(p99, res.latency.p99);
        } else bare += res.requests.total / res.duration;
      }
    }
    return {
      name: 'serve: GET /reportserver vs a bare fastify route returning a constant (throughput)',
      ours: `${(ours / rounds).toFixed(0)} req/s (p99 ${p99} ms)`,
      baseline: `${(bare / rounds).toFixed(0)} req/s`,
      ratio: ours / bare,
      target: { op: '>=', value: 0.5 },
      note: `10 connections, ${rounds} interleaved rounds of ${seconds} s each; the server in its own process`,
    } satisfies BenchResult;
  } finally {
    await stopChild(c);
  }
};

const appendRound = async (mode: 'group' | 'single', n: number): Promise<AutocannonResult & { groups: number; servedMs: number }> => {
  const c = await startChild(['append', mode]);
  let res: AutocannonResult;
  try {
    res = await autocannon({
      url: `http://127.0.0.1:${c.port}/bench/config-read`,
      method: 'POST',
      connections: 32,
      amount: n,
      headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
      requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ installationId: randomUUID() }) }) }],
    });
  } catch (e) {
    await stopChild(c);
    throw e;
  }
  const { groupsCommitted, servedMs } = await stopChild(c);
  check(`append (${mode})`, res);
  if (!(servedMs > 0)) throw new Error(`append (${mode}): the server reported no serving time`);
  return { ...res, groups: groupsCommitted, servedMs };
};

export const benchServeAppend = async (n = Number(process.env['BENCH_SERVE_APPENDS'] ?? 1500), rounds = Number(process.env['BENCH_SERVE_ROUNDS'] ?? 3)) => {
  await appendRound('group', 200); // warm the disk and the code paths
  let group = 0;
  let single = 0;
  let groupP99 = 0;
  let singleP99 = 0;
  let groups = 0;
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? (['single', 'group'] as const) : (['group', 'single'] as const)) {
      const res = await appendRound(mode, n);
      const rate = res.requests.total / (res.servedMs / 1000);
      if (mode === 'group') {
        group += rate;
        groupP99 = Math.max(groupP99, res.latency.p99);
        groups += res.groups;
      } else {
        single += rate;
        singleP99 = Math.max(singleP99, res.latency.p99);
      }
    }
  }
  return {
    name: 'serve: 32 concurrent appending requests, SQLite group commit vs one transaction per command (throughput)',
    ours: `${(group / rounds).toFixed(0)} req/s (p99 ${groupP99} ms)`,
    baseline: `${(single / rounds).toFixed(0)} req/s (p99 ${singleP99} ms)`,
    ratio: group / single,
    target: { op: '>=', value: 1.5 },
    note:
      `${n} requests a round over 32 connections, ${rounds} interleaved rounds, a fresh ledger each (WAL, synchronous=FULL), timed by the server ` +
      '(first request in to last answer out); ' +
      `${((n * rounds) / Math.max(1, groups)).toFixed(1)} appends per shared transaction; p99: the worst round's`,
  } satisfies BenchResult;
};
