/**
 * `keyledger diagnose` on failures made for real through the CLI: a crash at each initialization step, a removed
 * instance, a clone, one installation ID with two keystores, a copy made stale by a re-creation while the
 * instance was offline, a wrong backup, a rolled-back ledger, an altered event — each with the step, the evidence
 * and the remedy asserted exactly, and the remedy followed to an activated instance; `--at` at several points of
 * one history; and an operator on another machine (no config, no keystore) naming the instance by machine.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { type DeploymentId, deploymentStream, instanceStream } from '../src/domain/ids';
import { unsafeInText } from '../src/domain/text';
import { backup, restore } from './support/backups';
import { cli, cliWith } from './support/cli-inproc';
import { commandsOf, diagnoseOf, followRemedy, marks } from './support/diagnose';
import { tempDir } from './support/fixtures';
import { initStoppedAfter } from './support/interrupted';
import {
  activatedDeployment,
  deploymentEvents,
  instanceEvents,
  joinArgs,
  keystoreKeyThumbprint,
  keystoreThumbprint,
  ledgerFile,
  newNode,
  type TestNode,
} from './support/nodes';
import { rewriteAndRehash, tamper } from './support/tamper';

const DSTREAM = deploymentStream('default' as DeploymentId);
const STEP_TYPES = ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored', 'SymmetricKeyCreated', 'InstanceActivated'];

// ─── A crash at each initialization step ──────────────────────────────────

for (const k of [1, 2, 3, 4]) {
  test(`diagnose after init crashed after step ${k}: step ${k + 1} missing, the steps before done with their events; remedy followed`, async (t) => {
    t.timeout(60_000);
    const dir = tempDir('kl-diag');
    const a = await newNode(dir, 'A');
    await initStoppedAfter(t, a, k);
    const { code, d, text } = await diagnoseOf(a);
    t.is(code, 1);
    t.is(d.state, 'initializing');
    t.deepEqual(d.stop, { step: k + 1, mark: 'missing', at: null });
    t.deepEqual(
      marks(d),
      ['done', 'done', 'done', 'done', 'missing'].map((m, i) => (i < k ? m : 'missing')),
    );
    t.deepEqual(
      d.timeline.map((e) => e.type),
      STEP_TYPES.slice(0, k),
    );
    t.deepEqual(
      d.timeline.map((e) => e.step),
      [1, 2, 3, 4].slice(0, k),
    );
    for (const [i, s] of d.steps.entries()) {
      if (i >= k) continue;
      t.is(s.at?.stream, d.timeline[i]!.at.stream, 'each done step names the event that recorded it');
      t.is(s.at?.revision, d.timeline[i]!.at.revision);
      t.is(s.at?.actor, 'operator@test');
      t.is(s.at?.command, 'init');
      t.truthy(s.at?.correlationId);
    }
    t.deepEqual(d.evidence.installationId, { presented: a.id, stored: k >= 3 ? a.id : null, keystore: null });
    t.deepEqual(d.evidence.thumbprint, {
      presented: null,
      stored: k >= 3 ? keystoreKeyThumbprint(a.file) : null,
      recorded: k >= 2 ? keystoreKeyThumbprint(a.file) : null,
    });
    t.deepEqual(d.evidence.keyVersion, { held: k >= 4 ? 1 : null, current: k >= 4 ? 1 : null });
    t.deepEqual(commandsOf(d.remedy), [k === 4 ? 'keyledger start' : 'keyledger init']);
    const printed = await text();
    t.regex(printed, new RegExp(`where it stopped  stopped at step ${k + 1}/5 \\(.*\\): missing`));
    t.regex(printed, new RegExp(`status says       RSReportServerNotActivated: initialization stopped after step ${k} of 5`));
    await followRemedy(t, d.remedy, printed, { self: a });
    const after = await diagnoseOf(a);
    t.is(after.code, 0);
    t.deepEqual(marks(after.d), ['done', 'done', 'done', 'done', 'done']);
    t.is(after.d.stop, null);
    t.is(after.d.remedy, null);
  });
}

test('diagnose an instance never initialized (its config only): step 1 missing, remedy init', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  const { code, d } = await diagnoseOf(b);
  t.is(code, 1);
  t.is(d.state, 'not-initialized');
  t.deepEqual(d.stop, { step: 1, mark: 'missing', at: null });
  t.deepEqual(marks(d), ['missing', 'missing', 'missing', 'missing', 'missing']);
  t.deepEqual(d.timeline, [], 'nothing of it recorded (its deployment is named by its first event)');
  t.is(d.deploymentId, null);
  t.deepEqual(commandsOf(d.remedy), ['keyledger init']);
});

// ─── --at: one history, several points ────────────────────────────────────

test('--at shows the instance as it was: before it existed, registered, joined, activated, removed — and what status said each time', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [a] = await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  t.is((await b.run('init')).code, 1);
  t.is((await a!.run(...joinArgs(b))).code, 0);
  t.is((await b.run('start')).code, 0);
  t.is((await a!.run('remove', b.id)).code, 0);
  const now = await diagnoseOf(a!, b.id);
  t.is(now.code, 1);
  t.is(now.d.state, 'removed');
  const ofB = (type: string) => now.d.timeline.find((e) => e.type === type && (e.at.stream === instanceStream(b.id) || e.summary.includes(b.id)))!;
  const pos = (type: string): string => ofB(type).at.position;
  const cases: Array<[string, string, number, { step: number; mark: string } | null, string[]]> = [
    [
      pos('PublicKeyStored'),
      'waiting-to-join',
      1,
      { step: 4, mark: 'missing' },
      [`keyledger join ${b.id} --expect-thumbprint ${keystoreThumbprint(b.file)}`, 'keyledger start'],
    ],
    [pos('SymmetricKeyWrapped'), 'initializing', 1, { step: 5, mark: 'missing' }, ['keyledger start']],
    [pos('InstanceActivated'), 'activated', 0, null, []],
  ];
  for (const [at, state, code, stop, remedy] of cases) {
    const then = await diagnoseOf(a!, b.id, '--at', at);
    t.is(then.code, code, at);
    t.is(then.d.state, state, at);
    t.is(then.d.at, `position ${at}`);
    if (stop === null) t.is(then.d.stop, null);
    else t.like(then.d.stop, stop);
    t.deepEqual(commandsOf(then.d.remedy), remedy);
    t.is(then.d.status.state, state, 'what status would have said then');
    t.true(
      then.d.timeline.every((e) => BigInt(e.at.position.split('/')[0]!) <= BigInt(at.split('/')[0]!)),
      'nothing after the point',
    );
    t.regex(await then.text(), new RegExp(`as of position ${at}`));
  }
  // A time before B's first event: not initialized yet. The removal's own time: removed.
  const first = now.d.timeline.find((e) => e.type === 'ConfigRead')!.at.occurredAt;
  const before = await diagnoseOf(a!, b.id, '--at', new Date(Date.parse(first) - 1).toISOString());
  t.is(before.d.state, 'not-initialized');
  const removal = now.d.timeline.find((e) => e.type === 'InstanceRemoved')!.at;
  const atRemoval = await diagnoseOf(a!, b.id, '--at', removal.occurredAt);
  t.is(atRemoval.d.state, 'removed');
  t.deepEqual(atRemoval.d.stop, { step: 3, mark: 'failed', at: { ...removal } });
  const bad = await a!.run('diagnose', b.id, '--at', 'yesterday');
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--at "yesterday" is neither a time .* nor a position/);
});

// ─── Membership failures ──────────────────────────────────────────────────

test('a removed instance that tried to start: step 3 failed at the removal, finding RemovedInstanceStarting, remedy rejoin — followed', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const tp = keystoreKeyThumbprint(b!.file);
  t.is((await a!.run('remove', b!.id)).code, 0);
  t.is((await b!.run('start')).code, 1);
  const removal = (await deploymentEvents(dir)).find((e) => e.event.type === 'InstanceRemoved')!;
  const { code, d, text } = await diagnoseOf(b!);
  t.is(code, 1);
  t.is(d.state, 'removed');
  t.like(d.stop, { step: 3, mark: 'failed', at: { stream: DSTREAM, revision: removal.revision.toString() } });
  t.deepEqual(marks(d), ['done', 'done', 'missing', 'missing', 'missing']);
  t.regex(d.steps[2]!.note ?? '', new RegExp(`its registration was revoked \\(removed at ${DSTREAM.replace('.', '\\.')}@${removal.revision}\\)`));
  t.deepEqual(d.evidence.installationId, { presented: b!.id, stored: null, keystore: null });
  t.deepEqual(d.evidence.thumbprint, { presented: tp, stored: null, recorded: tp });
  t.deepEqual(
    d.findings.map((f) => [f.kind, f.evidence]),
    [['RemovedInstanceStarting', { installationId: b!.id, revokedThumbprint: tp }]],
  );
  t.deepEqual(commandsOf(d.remedy), [
    'keyledger init --rejoin',
    `keyledger join ${b!.id} --expect-thumbprint ${keystoreThumbprint(b!.file)}`,
    'keyledger start',
  ]);
  t.deepEqual(
    d.timeline.slice(-2).map((e) => [e.type, e.mark]),
    [
      ['InstanceRemoved', 'done'],
      ['InstanceActivationRefused', 'failed'],
    ],
  );
  // On the member: the removed one held the current key version — a finding until the key is re-created.
  const member = await diagnoseOf(a!);
  t.is(member.code, 0);
  t.deepEqual(
    member.d.findings.map((f) => [f.kind, f.evidence, commandsOf(f.remedy)]),
    [['RemovedMemberHoldsKey', { installationId: b!.id, keyVersion: 1 }, ['keyledger recreate']]],
  );
  await followRemedy(t, member.d.findings[0]!.remedy, await member.text(), { self: a!, member: a! });
  t.deepEqual((await diagnoseOf(a!)).d.findings, [], 'gone once re-created');
  await followRemedy(t, d.remedy, await text(), { self: b!, member: a! });
  t.is((await diagnoseOf(b!)).code, 0);
});

test('a config cloned onto another machine: the holder stays activated, the clone is the finding, from both sides', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [, b] = await activatedDeployment(dir, ['A', 'B']);
  const cloneFile = path.join(dir, 'clone.json');
  fs.writeFileSync(cloneFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(b!.file, 'utf8')), machineName: 'RS-CLONE' }));
  const clone: TestNode = { ...b!, file: cloneFile, run: (...args: string[]) => cli('-c', cloneFile, ...args) };
  t.is((await clone.run('start')).code, 1);
  for (const n of [clone, b!]) {
    const { code, d } = await diagnoseOf(n);
    t.is(code, 0, 'the registered holder is activated');
    t.is(d.stop, null);
    t.deepEqual(d.evidence.machine, { presented: 'RS-B', stored: 'RS-B', host: 'test-host', keystorePath: b!.keystore });
    const f = d.findings.find((x) => x.kind === 'InstallationClaimedByTwoMachines');
    t.deepEqual(f?.evidence['machines'], ['RS-B', 'RS-CLONE']);
    t.deepEqual(commandsOf(f?.remedy ?? null), [
      'keyledger init --new-installation-id',
      'keyledger join <new-installation-id> --expect-thumbprint <new-thumbprint>',
      'keyledger start',
    ]);
    t.deepEqual(d.timeline.at(-1)?.mark, 'failed', "the clone's refusal is on the timeline");
  }
});

test('one installation ID with two keystores (a config copied with its relative keystore path): the second is refused; the finding names both', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const x = await newNode(dir, 'X');
  t.is((await x.run('init')).code, 0);
  const other = path.join(dir, 'second');
  fs.mkdirSync(other);
  const file = path.join(other, 'X.json');
  const cfg = JSON.parse(fs.readFileSync(x.file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(file, JSON.stringify({ ...cfg, store: `sqlite:${ledgerFile(dir)}` }));
  const y: TestNode = { ...x, file, dir: other, run: (...args: string[]) => cli('-c', file, ...args) };
  const second = await y.run('init');
  t.is(second.code, 1, second.stdout + second.stderr);
  const { code, d } = await diagnoseOf(y);
  t.is(code, 0, 'the holder (the first keystore) is activated');
  const f = d.findings.find((k) => k.kind === 'InstallationClaimedByTwoMachines');
  if (!f) return t.fail(JSON.stringify(d.findings));
  t.deepEqual(f.evidence['installationId'], x.id);
  const claimants = f.evidence['claimants'] as string[];
  t.is(claimants.length, 1);
  t.true(claimants[0]!.includes(`keystore ${path.resolve(other, String(cfg['keystore']))}`), claimants[0]);
});

test('a copy made stale by a re-creation while the instance was offline: step 4 failed, held 1 vs current 2, finding StaleCopy; remedy followed', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [a] = await activatedDeployment(dir, ['A']);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  t.is((await a!.run(...joinArgs(c))).code, 0);
  t.is((await a!.run('recreate')).code, 0);
  t.is((await c.run('start')).code, 1);
  const { code, d, text } = await diagnoseOf(c);
  t.is(code, 1);
  t.is(d.state, 'disabled');
  t.is(d.status.reason?._tag, 'StaleWrappedCopy');
  t.like(d.stop, { step: 4, mark: 'failed', at: { stream: instanceStream(c.id) } });
  t.deepEqual(marks(d), ['done', 'done', 'done', 'failed', 'failed']);
  t.deepEqual(d.evidence.keyVersion, { held: 1, current: 2 });
  t.like(d.evidence.copy, { keyVersion: 1, wrappedFor: keystoreKeyThumbprint(c.file) });
  t.deepEqual(
    d.findings.map((f) => [f.kind, f.evidence]),
    [['StaleCopy', { installationId: c.id, heldVersion: 1, currentVersion: 2 }]],
  );
  t.like(d.signatures, { problems: [], copy: { trusted: true, keyVersion: 1, by: a!.id }, keyCheck: { keyVersion: 2, trusted: true } });
  t.true(
    d.timeline.some((e) => e.type === 'KeyVersionRetired'),
    "the deployment's re-creation is on its timeline",
  );
  t.deepEqual(commandsOf(d.remedy), [`keyledger join ${c.id} --expect-thumbprint ${keystoreThumbprint(c.file)}`, 'keyledger start']);
  await followRemedy(t, d.remedy, await text(), { self: c, member: a! });
  const after = await diagnoseOf(c);
  t.is(after.code, 0);
  t.deepEqual(after.d.evidence.keyVersion, { held: 2, current: 2 });
});

test('a wrong backup: refused, nothing recorded; diagnose names the fingerprint of the right file among the recorded backups; restoring that one activates', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [a] = await activatedDeployment(dir, ['A']);
  const right = path.join(dir, 'rs-key.snk');
  t.is((await backup(a!, right)).code, 0);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  const elsewhere = tempDir('kl-diag-other');
  const [x] = await activatedDeployment(elsewhere, ['X']);
  const wrong = path.join(elsewhere, 'other.snk');
  t.is((await backup(x!, wrong)).code, 0);
  t.is((await restore(c, wrong)).code, 5);
  const { code, d } = await diagnoseOf(c);
  t.is(code, 1);
  t.is(d.status.reason?._tag, 'NoMemberHoldsKey');
  t.like(d.stop, { step: 4, mark: 'failed' });
  // The file's text (the compact JWE, without its line end), SHA-256, base64url: what KeyBackedUp records.
  const fingerprint = (f: string): string => createHash('sha256').update(fs.readFileSync(f, 'utf8').trim()).digest('base64url');
  t.deepEqual(
    d.evidence.backups.map((b) => [b.keyVersion, b.fingerprint, b.by]),
    [[1, fingerprint(right), a!.id]],
  );
  t.not(fingerprint(wrong), fingerprint(right));
  t.deepEqual(commandsOf(d.remedy), ['keyledger restore -f <backup-file>']);
  t.is((await restore(c, right)).code, 0);
  const after = await diagnoseOf(c);
  t.is(after.code, 0);
  t.true(
    after.d.timeline.some((e) => e.type === 'KeyRestored' && e.summary.includes(fingerprint(right))),
    JSON.stringify(after.d.timeline.map((e) => [e.type, e.summary])),
  );
});

// ─── The ledger itself ────────────────────────────────────────────────────

test('a rolled-back ledger: on the instance that relied on the lost events, diagnose says so (exit 4) and its remedy — accept-rollback — is followed', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  t.is((await a!.run('remove', b!.id)).code, 0);
  const removal = (await deploymentEvents(dir)).find((e) => e.event.type === 'InstanceRemoved')!;
  const db = new Database(ledgerFile(dir));
  db.prepare('DELETE FROM events WHERE stream_name = ? AND stream_revision >= ?').run(DSTREAM, Number(removal.revision));
  db.prepare('UPDATE streams SET revision = ? WHERE stream_name = ?').run(Number(removal.revision) - 1, DSTREAM);
  db.close();
  const { code, d, text } = await diagnoseOf(a!);
  t.is(code, 4);
  t.like(d.ledger, { _tag: 'LedgerRolledBack', stream: DSTREAM, found: { revision: String(Number(removal.revision) - 1) } });
  t.false(d.activated);
  t.deepEqual(commandsOf(d.remedy), [`keyledger accept-rollback --to ${DSTREAM}@${Number(removal.revision) - 1}`]);
  t.regex(await text(), /where it stopped {2}the ledger itself: the ledger was rolled back/);
  // From a machine that never relied on those events, nothing tells the rollback apart: the store is read as it is.
  const elsewhere = await cli('--store', `sqlite:${ledgerFile(dir)}`, '-c', path.join(dir, 'none.json'), '--json', 'diagnose', a!.id);
  t.is(elsewhere.code, 0);
  t.is(elsewhere.json<{ ledger: unknown }>().ledger, null);
  await followRemedy(t, d.remedy, await text(), { self: a! });
  const after = await diagnoseOf(a!);
  t.is(after.code, 0);
  t.is(after.d.ledger, null);
  t.is(after.d.timeline.at(-1)?.type, 'LedgerRollbackAccepted');
});

test('an altered event: diagnosed up to it, the alteration is the answer (exit 4), named by stream and revision', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [, b] = await activatedDeployment(dir, ['A', 'B']);
  t.is(
    tamper(ledgerFile(dir), "UPDATE events SET data = replace(data, 'RS-B', 'RS-X') WHERE stream_name = ? AND stream_revision = 0", instanceStream(b!.id)),
    1,
  );
  const { code, d } = await diagnoseOf(b!);
  t.is(code, 4);
  t.like(d.ledger, { _tag: 'CorruptEvent', stream: instanceStream(b!.id), revision: '0', tampered: true });
  t.is(d.remedy?.kind, 'NotYetPossible');
  t.regex(d.remedy?.sentence ?? '', new RegExp(`altered event at ${instanceStream(b!.id).replace('.', '\\.')}@0: restore the store from a backup`));
  t.false(
    d.timeline.some((e) => e.at.stream === instanceStream(b!.id)),
    'nothing of the altered stream is relied on',
  );
});

// ─── Another machine ──────────────────────────────────────────────────────

test('an operator on another machine: no config, no keystore — the store named, the instance by machine and instance name', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [, b] = await activatedDeployment(dir, ['A', 'B']);
  fs.rmSync(b!.keystore);
  t.is((await b!.run('start')).code, 1);
  const nowhere = path.join(tempDir('kl-diag-op'), 'keyledger.config.json');
  const store = `sqlite:${ledgerFile(dir)}`;
  const byName = await cli('-c', nowhere, '--store', store, '--json', 'diagnose', '--machine', 'rs-b', '--instance', 'b');
  t.is(byName.code, 1, byName.stderr);
  const d = byName.json<{ installationId: string; state: string; stop: unknown; findings: Array<{ kind: string }> }>();
  t.is(d.installationId, b!.id);
  t.is(d.state, 'disabled');
  t.like(d.stop, { step: 2, mark: 'failed' });
  t.deepEqual(
    d.findings.map((f) => f.kind),
    ['CopyForKeyNoLongerHeld'],
  );
  t.is((await cli('-c', nowhere, '--store', store, 'diagnose', b!.id)).code, 1, 'by installation ID too');
  const unnamed = await cli('-c', nowhere, '--store', store, 'diagnose');
  t.is(unnamed.code, 2);
  t.regex(unnamed.stderr, /name the instance to diagnose: keyledger diagnose <installationId>, or --machine M --instance N \(this machine has no config\)/);
  const noStore = await cli('-c', nowhere, 'diagnose', b!.id);
  t.is(noStore.code, 2);
  t.regex(noStore.stderr, /there is no config at .* name the store with --store CONN/);
  const unknown = await cli('-c', nowhere, '--store', store, 'diagnose', '--machine', 'RS-Z', '--instance', 'B');
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /no instance B on machine RS-Z was ever registered in deployment default/);
  const missing = await cli('-c', nowhere, '--store', `sqlite:${path.join(dir, 'nope.db')}`, 'diagnose', b!.id);
  t.is(missing.code, 3);
  t.false(fs.existsSync(path.join(dir, 'nope.db')), 'no ledger is created');
});

test('stored text is escaped on the human output of diagnose; --json keeps it JSON-escaped', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-diag');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const forged = 'ops\n\u001b[31mFORGED-LINE state activated\u202e';
  rewriteAndRehash(ledgerFile(dir), instanceStream(b!.id), 0, (x) => ({ ...x, machineName: forged }));
  const r = await a!.run('diagnose', b!.id);
  t.false(
    [...r.stdout].some((ch) => ch !== '\n' && unsafeInText(ch.charCodeAt(0))),
    'no raw control character',
  );
  t.notRegex(r.stdout, /^\S*FORGED-LINE/m);
  t.regex(r.stdout, /\\u000a\\u001b\[31mFORGED-LINE/);
  const json = await a!.run('--json', 'diagnose', b!.id);
  t.true(json.stdout.includes('\\u001b[31mFORGED-LINE'));
  t.true((await instanceEvents(dir, b!.id)).length > 0);
  // B itself relied on the event that was rewritten: its own diagnose says the ledger changed under it.
  const own = await cliWith({}, '-c', b!.file, '--json', 'diagnose');
  t.is(own.code, 4);
  t.like(own.json(), { ledger: { _tag: 'LedgerRolledBack', stream: instanceStream(b!.id) } });
});
