/**
 * Issue 11, disk faults as an operator meets them, on real file systems: the ledger's folder on read-only
 * media (a read-only bind mount), the ledger file made immutable (chattr +i), a disk that fills up (a small
 * tmpfs), and a -wal deleted after a crash. Each gives one clear line, reads still answer where they can, and
 * nothing is corrupted: `verify` passes afterwards. The mounts need root (CAP_SYS_ADMIN); a case that cannot
 * run here is not registered: its title and the reason are printed ("not run here: …"), never counted as passed.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, type CliResult, runNode } from '../support/cli';
import type { InProcResult } from '../support/cli-inproc';
import { tempDir } from '../support/fixtures';
import { activatedDeployment, instanceEvents, joinArgs, ledgerFile, newNode, type TestNode } from '../support/nodes';

const sh = (cmd: string, ...args: string[]): void => {
  execFileSync(cmd, args, { stdio: 'pipe' });
};

/** Why a capability is missing here (undefined: it works). */
const missing = (what: string, f: () => void): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return `${what} failed (${
      String((e as { stderr?: Buffer }).stderr ?? e)
        .trim()
        .split('\n')[0]
    }); needs root with CAP_SYS_ADMIN`;
  }
};
const cannotMount = missing('mount', () => {
  const d = tempDir('kl-probe');
  sh('mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d);
  sh('umount', d);
});
const cannotChattr = missing('chattr +i', () => {
  const f = path.join(tempDir('kl-probe'), 'f');
  fs.writeFileSync(f, '');
  sh('chattr', '+i', f);
  sh('chattr', '-i', f);
});

/** A case this machine cannot make is not registered at all (never counted as passed): the reason is printed instead. */
const faultTest = (title: string, cannot: string | undefined, body: (t: ExecutionContext) => Promise<void>): void => {
  if (cannot === undefined) test(title, body);
  else process.stderr.write(`not run here: ${title} — ${cannot}\n`);
};

/** The real binary (it runs on the main thread, where SQLite's URI setting reaches: see src/infra/sqlite-db.ts). */
const binary = (n: TestNode, ...args: string[]): Promise<CliResult> => runNode(CLI, ['-c', n.file, ...args], { cwd: n.dir, timeoutMs: 30_000 });

const eventCount = (r: CliResult): number => Number(/ledger intact: (\d+) events/.exec(r.stdout)?.[1] ?? Number.NaN);

const oneLine = (t: ExecutionContext, r: CliResult): void => {
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
};

/** Mounts the folder holding `dir`'s ledger read-only at `dir/ro` (unmounted when the test ends). */
const readOnlyView = (t: ExecutionContext, dir: string): string => {
  const ro = path.join(dir, 'ro');
  fs.mkdirSync(ro);
  sh('mount', '--bind', path.dirname(ledgerFile(dir)), ro);
  t.teardown(() => sh('umount', ro));
  sh('mount', '-o', 'remount,bind,ro', ro);
  return path.join(ro, 'ledger.db');
};

faultTest('ledger folder on read-only media: status, list and verify answer; init refuses "read-only", records and creates nothing', cannotMount, async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-rofs');
  const [a] = await activatedDeployment(dir, ['A']);
  const before = eventCount(await binary(a!, 'verify'));
  const store = `sqlite:${readOnlyView(t, dir)}`;
  const status = await binary(a!, '--store', store, 'status');
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /state\s+activated/);
  t.is((await binary(a!, '--store', store, 'list')).code, 0);
  const verify = await binary(a!, '--store', store, 'verify');
  t.is(verify.code, 0, verify.stderr);
  t.is(eventCount(verify), before);
  const b = await newNode(dir, 'B');
  const init = await binary(b, '--store', store, 'init');
  t.is(init.code, 3, init.stdout + init.stderr);
  t.regex(init.stderr, /^keyledger: the ledger sqlite:.*ledger\.db is read-only \(it is on read-only media\): nothing was recorded\. Make it writable/);
  oneLine(t, init);
  t.false(fs.existsSync(b.keystore), 'no key pair made for an init that cannot be recorded');
  t.is(eventCount(await binary(a!, 'verify')), before, 'the ledger is as it was');
});

faultTest('ledger file made immutable: reads answer, a write refuses "immutable", and verify passes once it is writable again', cannotChattr, async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-immutable');
  const [a] = await activatedDeployment(dir, ['A']);
  const file = ledgerFile(dir);
  const before = eventCount(await binary(a!, 'verify'));
  sh('chattr', '+i', file);
  let immutable = true;
  t.teardown(() => {
    if (immutable) sh('chattr', '-i', file);
  });
  t.is((await binary(a!, 'status')).code, 0);
  t.is(eventCount(await binary(a!, 'verify')), before);
  const b = await newNode(dir, 'B');
  const init = await binary(b, 'init');
  t.is(init.code, 3, init.stdout + init.stderr);
  t.regex(init.stderr, /is read-only \(the file or its folder is immutable\): nothing was recorded/);
  oneLine(t, init);
  sh('chattr', '-i', file);
  immutable = false;
  const after = await binary(a!, 'verify');
  t.is(after.code, 0, after.stdout + after.stderr);
  t.is(eventCount(after), before);
  t.is((await binary(b, 'init')).code, 1, 'writable again: B initializes (waiting to join)');
});

faultTest(
  'a real disk fills up (small tmpfs): init refuses "full, nothing was recorded"; with space freed it goes on and verify passes',
  cannotMount,
  async (t) => {
    t.timeout(60_000);
    const dir = tempDir('kl-tmpfs');
    const small = path.join(dir, 'small');
    fs.mkdirSync(small);
    sh('mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small);
    t.teardown(() => sh('umount', small));
    const store = ['--ledger', `sqlite:${path.join(small, 'ledger.db')}`];
    const a = await newNode(dir, 'A', store);
    t.is((await a.run('init')).code, 0);
    // Fill what is left of the disk.
    const filler = path.join(small, 'filler');
    const fd = fs.openSync(filler, 'w');
    const block = Buffer.alloc(4096);
    try {
      for (;;) fs.writeSync(fd, block);
    } catch (e) {
      t.is((e as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    const b = await newNode(dir, 'B', store);
    const init = await binary(b, 'init');
    t.is(init.code, 3, init.stdout + init.stderr);
    t.regex(init.stderr, /^keyledger: the disk holding sqlite:.*ledger\.db is full .*: nothing was recorded\. Free some space/);
    oneLine(t, init);
    fs.rmSync(filler);
    const verify = await binary(a, 'verify');
    t.is(verify.code, 0, verify.stdout + verify.stderr);
    t.is((await binary(b, 'init')).code, 1, 'space freed: B initializes (waiting to join)');
    t.is((await binary(a, 'verify')).code, 0);
  },
);

/**
 * Runs each `accept-rollback --to S@R` (a stream rolled back) or `accept-rollback --tree N` (the tree this member
 * co-signed forked: ADR 0018) the refusal names, then the command again, until it is not refused for a rollback.
 */
const acceptingRollbacks = async (t: ExecutionContext, n: TestNode, first: InProcResult, args: string[] = ['status']): Promise<InProcResult> => {
  let r = first;
  for (let i = 0; i < 6 && r.code === 4; i++) {
    const to = /accept-rollback --to (\S+) on this instance/.exec(r.stderr)?.[1];
    const tree = /`keyledger accept-rollback --tree (\d+)`/.exec(r.stderr)?.[1];
    t.truthy(to ?? tree, r.stderr);
    const accepted = to !== undefined ? await n.run('accept-rollback', '--to', to) : await n.run('accept-rollback', '--tree', tree!);
    t.is(accepted.code, 0, accepted.stdout + accepted.stderr);
    r = await n.run(...args);
  }
  return r;
};

test('a -wal deleted after a crash lost the last writes: status says the ledger was rolled back, and its remedy leads back to activated', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-wal');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const file = ledgerFile(dir);
  // Another process holds the ledger open, so the writes below stay in the -wal; then it dies with them unmerged.
  const holder = spawn(
    process.execPath,
    [
      '-e',
      `const D = require(${JSON.stringify(require.resolve('better-sqlite3'))}); new D(${JSON.stringify(file)}).prepare('SELECT 1').get();` +
        " console.log('ready'); setInterval(() => {}, 1000);",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  t.is((await a!.run('remove', b!.id)).code, 0);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  t.is((await a!.run(...joinArgs(c))).code, 0);
  t.is((await c.run('start')).code, 0, 'C activated on writes that are only in the -wal');
  const exited = new Promise((resolve) => holder.once('exit', resolve));
  holder.kill('SIGKILL');
  await exited;
  t.true(fs.statSync(`${file}-wal`).size > 0);
  for (const f of [`${file}-wal`, `${file}-shm`]) fs.rmSync(f);

  // C's own status no longer answers from the earlier state ("not initialized", "init"): the ledger lost what C relied on.
  const status = await c.run('status');
  t.is(status.code, 4, status.stdout + status.stderr);
  t.regex(status.stderr, /^keyledger: the ledger was rolled back: .* Restore the store; or, .* run keyledger accept-rollback --to \S+ on this instance\.\n$/);
  t.is((await a!.run('verify')).code, 0, 'nothing corrupted: the ledger is whole, only shorter');
  // Following the remedy: accept what the ledger holds now (each stream it names), and status answers truly again.
  const r = await acceptingRollbacks(t, c, status);
  t.not(r.code, 4, r.stderr);
  t.regex(r.stdout, /RSReportServerNotActivated/);
  // Its remedy now: C's init again (its key pair's record was lost with the -wal), then a join from A, which
  // relied on the lost writes too: its join says so first, and A accepts the same way.
  const again = await c.run('init');
  t.is(again.code, 1, again.stdout + again.stderr);
  const join = await acceptingRollbacks(t, a!, await a!.run(...joinArgs(c)), joinArgs(c));
  t.is(join.code, 0, join.stderr);
  // C co-signed the ledger's tree with the lost writes in it: its start says the tree forked, and names the acceptance.
  const started = await acceptingRollbacks(t, c, await c.run('start'), ['start']);
  t.is(started.code, 0, started.stderr);
  t.is((await instanceEvents(dir, c.id)).filter((e) => e.event.type === 'LedgerForkAccepted').length, 1, 'the acceptance is recorded');
  t.regex((await c.run('status')).stdout, /state\s+activated/);
});
