/**
 * `keyledger diagnose` and `keyledger audit` as an operator on another machine runs them (the CLI in this process,
 * no config, `--store` naming the ledger), in a process of its own so its peak memory is its own. Prints JSON:
 *   one   <ledger> <id>...   the median ms of `diagnose <id>` and of `audit <id>` over the ids (after a warm-up)
 *   all   <ledger>           the ms of `audit --all --json` over the whole ledger, and the lines it printed
 * with the process's peak RSS in MB.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../src/cli/main';

const NO_CONFIG = path.join(os.tmpdir(), 'kl-bench-no-config', 'keyledger.config.json');

const run = async (args: ReadonlyArray<string>): Promise<{ ms: number; lines: number }> => {
  let lines = 0;
  let stderr = '';
  const t0 = performance.now();
  const code = await runCli(args, {
    stdout: (s) => {
      for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) lines++;
    },
    stderr: (s) => (stderr += s),
    env: {},
    isTTY: false,
  });
  const ms = performance.now() - t0;
  if (code > 1) throw new Error(`keyledger ${args.join(' ')} exited ${code}: ${stderr}`);
  return { ms, lines };
};

const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const main = async (): Promise<void> => {
  const [mode, file, ...ids] = process.argv.slice(2);
  if (!file || (mode !== 'one' && mode !== 'all')) throw new Error('usage: diagnose-audit-child one|all <ledger> [id...]');
  const store = ['-c', NO_CONFIG, '--store', `sqlite:${file}`];
  if (mode === 'all') {
    const r = await run([...store, '--json', 'audit', '--all']);
    process.stdout.write(`${JSON.stringify({ ms: r.ms, lines: r.lines, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
    return;
  }
  // Warm-up: modules loaded, code compiled.
  for (const id of ids.slice(0, 2)) {
    await run([...store, 'diagnose', id]);
    await run([...store, 'audit', id]);
  }
  const diagnose: number[] = [];
  const audit: number[] = [];
  let lines = 0;
  for (const id of ids) {
    diagnose.push((await run([...store, 'diagnose', id])).ms);
    const a = await run([...store, 'audit', id]);
    audit.push(a.ms);
    lines += a.lines;
  }
  process.stdout.write(
    `${JSON.stringify({ diagnoseMs: median(diagnose), auditMs: median(audit), auditLines: lines / ids.length, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
  );
};

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
