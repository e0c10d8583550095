/**
 * Regression: a new, empty SQLite ledger opened by several REAL processes at
 * the same instant. Every opener must wait (within its busy timeout) instead
 * of failing at once with SQLITE_BUSY "database is locked".
 *
 * N child node processes (`node -e`, requiring the compiled store from dist/)
 * each run every round: wait until the round's "go" file exists (polling every
 * 1 ms), open the round's ledger file, append one event to their own stream
 * with `no_stream`, close, and report. The parent creates the next "go" file
 * once all children have reported, so each round is a fresh race on a fresh
 * file. Afterwards every child must have exited 0, every open and append must
 * have succeeded, and every round's file must hold exactly N events.
 *
 * And the other side: a file held locked for longer than the busy timeout is
 * still reported as `StoreUnavailable` ("database is locked") once the timeout
 * is spent — retrying never hides a real failure or waits without bound.
 *
 * The race window is small (the switch to WAL of a file nobody has switched
 * yet), so it is repeated: ROUNDS (env, default 30) rounds per test, CHILDREN
 * (env, default 6) processes: `ROUNDS=100 npx ava --config ava.full.config.cjs test/full/sqlite-open-race.int.ts`.
 */
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { openSqliteStore } from '../../src/infra/sqlite-store';

const envInt = (name: string, fallback: number): number => Math.max(1, Math.floor(Number(process.env[name] ?? fallback)) || fallback);
const ROUNDS = envInt('ROUNDS', 30);
const CHILDREN = envInt('CHILDREN', 6);

/** The repo root, from the compiled test at dist/test/. */
const ROOT = path.resolve(__dirname, '..', '..', '..');
const STORE_MODULE = path.join(ROOT, 'dist', 'src', 'infra', 'sqlite-store.js');

/**
 * One child: argv = [dir, rounds, childName]. Prints `ready`, then one JSON
 * line per round: {round, ok, error?}. Exits 1 if any round failed.
 */
const CHILD = `
const fs = require('node:fs');
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const { openSqliteStore } = require(${JSON.stringify(STORE_MODULE)});
const [dir, roundsArg, name] = process.argv.slice(1);
const rounds = Number(roundsArg);
const cell = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => Atomics.wait(cell, 0, 0, ms);
const show = (e) => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
(async () => {
  let failed = 0;
  process.stdout.write('ready\\n');
  for (let round = 0; round < rounds; round++) {
    const go = path.join(dir, 'go-' + round);
    while (!fs.existsSync(go)) sleep(1);
    let report;
    try {
      const opened = openSqliteStore(path.join(dir, 'ledger-' + round + '.db'));
      if (opened._tag === 'Left') {
        report = { round, ok: false, error: 'open: ' + show(opened.left) };
      } else {
        const store = opened.right;
        const r = await store.append('race-' + name, [{ id: randomUUID(), type: 'X', data: {}, metadata: {} }], 'no_stream')();
        await store.close();
        report = r._tag === 'Right' ? { round, ok: true } : { round, ok: false, error: 'append: ' + show(r.left) };
      }
    } catch (e) {
      report = { round, ok: false, error: 'threw: ' + (e && e.stack ? e.stack : String(e)) };
    }
    if (!report.ok) failed++;
    process.stdout.write(JSON.stringify(report) + '\\n');
  }
  process.exit(failed === 0 ? 0 : 1);
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\\n');
  process.exit(2);
});
`;

interface Report {
  readonly round: number;
  readonly ok: boolean;
  readonly error?: string;
}

interface ChildResult {
  readonly name: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly reports: ReadonlyArray<Report>;
}

const countEvents = async (file: string): Promise<{ events: number; streams: number } | string> => {
  const opened = openSqliteStore(file);
  if (E.isLeft(opened)) return `cannot open ${file}: ${opened.left._tag}`;
  try {
    const all = await opened.right.readAll()();
    if (E.isLeft(all)) return `cannot read ${file}: ${all.left._tag}`;
    return { events: all.right.length, streams: new Set(all.right.map((e) => e.streamName)).size };
  } finally {
    await opened.right.close();
  }
};

const race = async (t: ExecutionContext, precreateEmptyFile: boolean): Promise<void> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-open-race-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  if (precreateEmptyFile) for (let r = 0; r < ROUNDS; r++) fs.writeFileSync(path.join(dir, `ledger-${r}.db`), '');

  const started = Date.now();
  const ready = new Set<string>();
  const done = new Array<number>(ROUNDS).fill(0);
  let released = 0; // go files written so far
  const release = (upTo: number): void => {
    for (; released < Math.min(upTo, ROUNDS); released++) fs.writeFileSync(path.join(dir, `go-${released}`), '');
  };

  const children = Array.from({ length: CHILDREN }, (_, i) => `c${i}`).map(
    (name) =>
      new Promise<ChildResult>((resolve) => {
        const child = spawn(process.execPath, ['-e', CHILD, dir, String(ROUNDS), name], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        t.teardown(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        });
        const reports: Report[] = [];
        let stderr = '';
        let buffered = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          buffered += d;
          for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line === 'ready') {
              ready.add(name);
              if (ready.size === CHILDREN) release(1);
              continue;
            }
            const report = JSON.parse(line) as Report;
            reports.push(report);
            done[report.round] = (done[report.round] ?? 0) + 1;
            if (done[report.round] === CHILDREN) release(report.round + 2);
          }
        });
        child.on('exit', (code, signal) => {
          // A child that died early must not leave the others waiting for "go".
          release(ROUNDS);
          resolve({ name, code, signal, stderr, reports });
        });
      }),
  );
  const results = await Promise.all(children);

  const problems: string[] = [];
  const failedRounds = new Set<number>();
  for (const c of results) {
    if (c.code !== 0) problems.push(`child ${c.name} exited ${String(c.code)}${c.signal ? ` (${c.signal})` : ''}${c.stderr ? `; stderr: ${c.stderr}` : ''}`);
    if (c.reports.length !== ROUNDS) problems.push(`child ${c.name} reported ${c.reports.length} of ${ROUNDS} rounds`);
    for (const r of c.reports) {
      if (!r.ok) {
        failedRounds.add(r.round);
        problems.push(`round ${r.round}, child ${c.name}: ${r.error ?? '?'}`);
      }
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    const counted = await countEvents(path.join(dir, `ledger-${r}.db`));
    if (typeof counted === 'string') problems.push(`round ${r}: ${counted}`);
    else if (counted.events !== CHILDREN || counted.streams !== CHILDREN)
      problems.push(`round ${r}: the ledger holds ${counted.events} events in ${counted.streams} streams, expected ${CHILDREN} in ${CHILDREN}`);
  }
  t.log(`${CHILDREN} processes x ${ROUNDS} rounds in ${Date.now() - started} ms; rounds with a failed opener: ${failedRounds.size}/${ROUNDS}`);
  t.deepEqual(problems, [], 'every child opened the new ledger, appended its event and exited 0');
};

test.serial('a brand-new ledger file opened by several processes at once: every one waits, none fails with "database is locked"', async (t) => {
  t.timeout(120_000);
  await race(t, false);
});

test.serial('an existing but empty (0-byte) ledger file opened by several processes at once: every one waits', async (t) => {
  t.timeout(120_000);
  await race(t, true);
});

test.serial('a new ledger file locked for longer than the busy timeout: the open still fails, as StoreUnavailable, after about that timeout', (t) => {
  t.timeout(30_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-open-locked-'));
  const file = path.join(dir, 'ledger.db');
  const holder = new Database(file);
  holder.exec('BEGIN EXCLUSIVE');
  try {
    const started = performance.now();
    const opened = openSqliteStore(file, { busyTimeoutMs: 300 });
    const took = performance.now() - started;
    if (E.isRight(opened)) {
      void opened.right.close();
      t.fail('opened a file another connection holds exclusively');
      return;
    }
    t.is(opened.left._tag, 'StoreUnavailable');
    t.regex(opened.left._tag === 'StoreUnavailable' ? opened.left.message : '', /database is locked/);
    t.true(took >= 250, `gave up after ${Math.round(took)} ms, before its busy timeout of 300 ms`);
    t.true(took < 5_000, `gave up only after ${Math.round(took)} ms, far beyond its busy timeout of 300 ms`);
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
