#!/usr/bin/env node
/**
 * `npm run reliability`: the hostile-input and fault harness (issue 11) as one table —
 * surface or fault × cases run × failures, plus the crash points and races. Runs the
 * tests that make it up (compiled: `npm run reliability` builds first) with ava's TAP
 * reporter and FUZZ_RUNS (default 10,000) property runs per fuzzed surface.
 */
const { spawnSync } = require('node:child_process');

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
const files = [
  'test/fuzz.unit.ts',
  'test/output-injection.int.ts',
  'test/full/output-errors.int.ts',
  'test/missing-ledger.int.ts',
  'test/storage-damage.int.ts',
  'test/disk-full.int.ts',
  'test/full/disk-faults.int.ts',
  'test/full/leftovers.int.ts',
  'test/full/fault-points.e2e.ts',
  'test/full/crash.e2e.ts',
  'test/full/scaleout-race.e2e.ts',
];
const r = spawnSync('npx', ['ava', '--config', 'ava.full.config.cjs', '--tap', ...files], {
  encoding: 'utf8',
  env: { ...process.env, FUZZ_RUNS: String(FUZZ_RUNS) },
  maxBuffer: 64 * 1024 * 1024,
});
const lines = `${r.stdout}\n${r.stderr}`.split('\n');
const results = [];
const skipped = [];
const points = new Map();
for (const line of lines) {
  const m = /^(not )?ok \d+ - (.*?)(?: # (.*))?$/.exec(line);
  // A skipped case (a disk fault this machine cannot make) is not run, and never counted as passed.
  if (m && /^SKIP/i.test(m[3] ?? '')) skipped.push(m[2]);
  const notRun = /not run here: (.*)$/.exec(line);
  if (notRun) skipped.push(notRun[1]);
  else if (m) results.push({ ok: !m[1], title: m[2] });
  const p = /^#\s+(.+?): (\d+) points: /.exec(line);
  if (p) points.set(p[1], Number(p[2]));
}
const rows = [];
const row = (what, cases, failures) => rows.push([what, String(cases), String(failures)]);
const matching = (re) => results.filter((x) => re.test(x.title));
const fails = (xs) => xs.filter((x) => !x.ok).length;
for (const [label, re, cases] of [
  ['fuzz: config files', /config files: any JSON/, FUZZ_RUNS],
  ['fuzz: connection strings', /connection strings: anything/, FUZZ_RUNS],
  ['fuzz: events read back from the store', /events read back from the store/, FUZZ_RUNS],
  ['fuzz: CLI arguments (whole invocations)', /CLI arguments: arbitrary argv/, FUZZ_RUNS >= 10000 ? 1000 : Math.min(FUZZ_RUNS, 150)],
]) {
  const xs = matching(re);
  row(label, xs.length ? cases : 0, fails(xs));
}
for (const [cmd, n] of points) {
  const xs = matching(new RegExp(`every fault point of ${cmd.replace(/[()]/g, '.')}`));
  row(`fault points: ${cmd} (killed at each, run again)`, n, fails(xs));
}
for (const [label, re] of [
  ['output injection (names, actor, stored text, arguments)', /output-injection/],
  ['output errors (closed pipe, /dev/full)', /output-errors/],
  ['missing or emptied ledger', /missing-ledger/],
  ['physical damage (index page, non-JSON row)', /storage-damage/],
  ['disk full (max_page_count)', /disk-full/],
  ['disk faults (read-only media, immutable file, full tmpfs, -wal deleted)', /disk-faults|read-only media|immutable|tmpfs|-wal deleted/],
  ['leftover key files, keystore path a folder', /leftovers/],
  ['crash tests (SIGKILL around appends, concurrent inits)', /crash\.e2e/],
  ['races (sponsors, join vs remove, concurrent inits)', /scaleout-race/],
]) {
  const xs = matching(re);
  row(label, xs.length, fails(xs));
}
const w = [0, 1, 2].map((i) => Math.max(...[['surface or fault', 'cases', 'failures'], ...rows].map((x) => x[i].length)));
const fmt = (x) => `| ${x[0].padEnd(w[0])} | ${x[1].padStart(w[1])} | ${x[2].padStart(w[2])} |`;
console.log(fmt(['surface or fault', 'cases', 'failures']));
console.log(`|${'-'.repeat(w[0] + 2)}|${'-'.repeat(w[1] + 2)}|${'-'.repeat(w[2] + 2)}|`);
for (const x of rows) console.log(fmt(x));
const failed = results.filter((x) => !x.ok);
if (skipped.length) console.log(`\nnot run here (not counted): ${skipped.join('; ')}`);
console.log(`\n${results.length} tests, ${failed.length} failed${failed.length ? `: ${failed.map((x) => x.title).join('; ')}` : ''}`);
process.exitCode = failed.length || r.status ? 1 : 0;
