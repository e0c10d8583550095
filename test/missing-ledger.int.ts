/**
 * Issue 11, item 2 (first part): a missing or emptied ledger never silently
 * becomes a new one. Only init creates a ledger — for an instance that was never
 * initialized (a deployment's first), or with --create-ledger; every other
 * command, and an instance initialized before, is refused with one line and
 * nothing is created.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './support/fixtures';
import { activatedDeployment, ledgerFile, newNode } from './support/nodes';

/** The ledger file emptied (0 bytes), its -wal and -shm gone: a disk accident, or a careless `> ledger.db`. */
const emptyLedger = (file: string): void => {
  for (const f of [`${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  fs.truncateSync(file, 0);
};

test('--store sqlite:/nonexistent/x.db: status and verify refuse (exit 3), and create neither the folders nor a file', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-miss');
  const n = await newNode(dir, 'A');
  const missing = path.join(dir, 'nonexistent', 'x.db');
  for (const args of [['status'], ['verify'], ['list'], ['start']]) {
    const r = await n.run('--store', `sqlite:${missing}`, ...args);
    t.is(r.code, 3, `${args[0]}: ${r.stderr}`);
    t.regex(r.stderr, /^keyledger: no ledger at sqlite:.*x\.db: there is no ledger file\. Nothing was created\./);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  t.false(fs.existsSync(path.dirname(missing)), 'no folder created');
});

test('a ledger truncated to 0 bytes: members refuse it, and their init does not make a second key (only --create-ledger would)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-miss');
  const [a] = await activatedDeployment(dir, ['A', 'B']);
  const file = ledgerFile(dir);
  emptyLedger(file);
  const status = await a!.run('status');
  t.is(status.code, 3);
  t.regex(status.stderr, /the ledger file is empty \(0 bytes\)/);
  const init = await a!.run('init');
  t.is(init.code, 3, init.stdout + init.stderr);
  t.is(fs.statSync(file).size, 0, 'nothing was written: no second "version 1" key');
  // A brand-new instance's init is a deployment's first: it may create the ledger.
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 0);
  t.true(fs.statSync(file).size > 0);
});

test('init of a first instance creates the ledger (the quick start)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-miss');
  const n = await newNode(dir, 'A');
  t.false(fs.existsSync(ledgerFile(dir)));
  t.is((await n.run('init')).code, 0);
  t.true(fs.existsSync(ledgerFile(dir)));
});

test('every ledger has an identity each instance remembers: a ledger replaced or re-created is refused for key decisions (exit 4)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-miss');
  const [a] = await activatedDeployment(dir, ['A', 'B']);
  const file = ledgerFile(dir);
  // Emptied, then re-created by a brand-new instance's init: a new ledger at the same path.
  emptyLedger(file);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 0);
  for (const args of [['start'], ['init'], ['join', c.id, '--expect-thumbprint', 'A'.repeat(43)]]) {
    const r = await a!.run(...args);
    t.is(r.code, 4, `${args[0]}: ${r.stdout}${r.stderr}`);
    t.regex(r.stderr, /is not the ledger this instance belongs to .*re-created after it was lost or emptied/);
  }
  // A copy of the same ledger (a backup restored) keeps its identity: no refusal for that reason.
  const other = tempDir('kl-miss');
  const [x] = await activatedDeployment(other, ['X']);
  fs.copyFileSync(ledgerFile(other), path.join(other, 'backup.db'));
  t.is((await x!.run('start')).code, 0);
  for (const f of [`${ledgerFile(other)}-wal`, `${ledgerFile(other)}-shm`]) fs.rmSync(f, { force: true });
  fs.copyFileSync(path.join(other, 'backup.db'), ledgerFile(other));
  const restored = await x!.run('start');
  t.notRegex(restored.stderr, /is not the ledger this instance belongs to/);
});
