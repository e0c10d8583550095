/**
 * `keyledger report` through the CLI in process (docs/adr/0017-compliance-report.md): findings against a policy,
 * present and absent, each printed remedy followed to the state it promises; the trust anchor (right, wrong, none,
 * and an attacker who re-hashed the chain); JSON and CSV parsed back; exit codes and one-line errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { parse } from 'csv-parse/sync';
import { loadConfig } from '../src/infra/config';
import { fileKeystore } from '../src/infra/file-keystore';
import { sha256Hex } from '../src/infra/sha256';
import { initInstance } from '../src/commands/instance';
import { type DeploymentId, deploymentStream, instanceStream } from '../src/domain/ids';
import { buildReport, type ComplianceReport } from '../src/projections/report-runner';
import { runCli } from '../src/cli/main';
import { backup } from './support/backups';
import { cli } from './support/cli-inproc';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { activatedDeployment, editConfig, joinArgs, keystoreThumbprint, ledgerFile, newNode, type TestNode } from './support/nodes';
import { pooledCrypto } from './support/pooled-crypto';
import { rewriteAndRehash, tamper } from './support/tamper';

const DAY = 86_400_000;
const inDays = (n: number): string => new Date(Date.now() + n * DAY).toISOString();
const reportOf = async (n: TestNode, ...args: string[]): Promise<{ code: number; r: ComplianceReport; stderr: string }> => {
  const out = await n.run('--json', 'report', ...args);
  return { code: out.code, r: JSON.parse(out.stdout === '' ? 'null' : out.stdout) as ComplianceReport, stderr: out.stderr };
};
const kinds = (r: ComplianceReport): string[] => r.findings.map((f) => f.kind);

test('a clean deployment: no finding (exit 0), every operation listed; JSON and CSV parsed back agree; without an anchor nothing claims the signatures verified', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-report');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const { code, r, stderr } = await reportOf(a!, '--no-require-backup');
  t.is(code, 0, JSON.stringify(r?.findings));
  t.is(stderr, '', 'nothing on stderr when piped: no progress bar');
  t.like(r, { deploymentId: 'default', verdict: 'clean', findings: [], integrity: { hashProblems: [], signatures: { status: 'not-anchored' } } });
  t.deepEqual(
    r.operations.map((o) => `${o.type} ${o.installationId === a!.id ? 'A' : 'B'}`),
    [
      'ConfigRead A',
      'KeyPairIssued A',
      'PublicKeyStored A',
      'SymmetricKeyCreated A',
      'InstanceActivated A',
      'ConfigRead B',
      'KeyPairIssued B',
      'PublicKeyStored B',
      'SymmetricKeyWrapped B',
      'InstanceActivated B',
    ],
  );
  const wrap = r.operations.find((o) => o.type === 'SymmetricKeyWrapped')!;
  t.like(wrap, { keyVersion: 1, machineName: 'RS-B', instanceName: 'B', signedBy: a!.id, at: { actor: 'operator@test', command: 'join' } });
  t.is(wrap.thumbprints['recipientSigningThumbprint'], keystoreThumbprint(b!.file));
  t.deepEqual(
    r.membership.changes.map((c) => c.change),
    ['registered', 'joined', 'registered', 'joined'],
  );
  t.deepEqual(
    r.membership.members.map((m) => [m.machineName, m.state, m.keyVersion]),
    [
      ['RS-A', 'activated', 1],
      ['RS-B', 'activated', 1],
    ],
  );
  t.is(Object.keys(r.integrity.heads).length, 3);

  const text = await a!.run('report', '--no-require-backup', '--format', 'csv');
  t.is(text.code, 0);
  const rows = parse(text.stdout, { columns: true }) as Array<Record<string, string>>;
  t.is(rows.filter((x) => x['section'] === 'operation').length, r.operations.length);
  t.deepEqual(
    rows.filter((x) => x['section'] === 'operation').map((x) => [x['kind'], x['stream'], x['revision']]),
    r.operations.map((o) => [o.type, o.at.stream, o.at.revision]),
  );
  t.regex(rows[0]!['summary']!, /signatures NOT checked: no trust anchor given/);
  // Progress: the runner counts what it will read (every stream's length) and reports it; the CLI draws a bar only on a
  // terminal, and only for a long read (none here, terminal or not).
  const store = openTestStore(ledgerFile(dir));
  const seen: Array<[number, number]> = [];
  const built = rightOf(
    await buildReport(store, {
      deploymentId: 'default' as DeploymentId,
      period: { from: null, to: new Date().toISOString() },
      policy: { maxKeyAge: null, maxBackupAge: null, requireBackup: false, trust: null },
      digest: sha256Hex,
      generatedAt: new Date().toISOString(),
      onProgress: (done, total) => seen.push([done, total]),
    })(),
  );
  await store.close();
  t.deepEqual(seen.at(-1), [built.integrity.events, built.integrity.events]);
  let onTerminal = '';
  const terminal = await runCli(['-c', a!.file, 'report', '--no-require-backup'], {
    stdout: () => undefined,
    stderr: (s) => (onTerminal += s),
    env: { KEYLEDGER_ACTOR: 'operator@test' },
    isTTY: true,
  });
  t.is(terminal, 0);
  t.is(onTerminal, '');
  const html = await a!.run('report', '--no-require-backup');
  t.regex(html.stdout, /^<!DOCTYPE html>/);
  t.regex(html.stdout, /signatures NOT checked/);
  t.notRegex(html.stdout, /signatures verified/);
});

test('the trust anchor: the genesis verifies every signature (exit 0); another thumbprint is reported as not verified (exit 4), never as fine', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-report');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const genesis = keystoreThumbprint(a!.file);
  const right = await reportOf(a!, '--no-require-backup', '--trust', genesis);
  t.is(right.code, 0, JSON.stringify(right.r.findings));
  t.like(right.r.integrity.signatures, { status: 'verified', anchor: genesis, ledgerGenesis: { thumbprint: genesis, installationId: a!.id }, problems: [] });
  t.true(right.r.integrity.signatures.status === 'verified' && right.r.integrity.signatures.verified >= 8);
  // The latest checkpoint members signed (B co-signed one on its start), its signers' keys certified back to the anchor.
  t.like(right.r.checkpoint, { anchored: true, cosigners: 1, members: [`keyledger/member/${b!.id}`] });
  t.truthy(right.r.checkpoint?.checkpoint?.size);
  // A signs the head, B's next start co-signs the same one: two members.
  t.is((await a!.run('checkpoint')).code, 0);
  t.is((await b!.run('start')).code, 0);
  const both = await reportOf(a!, '--no-require-backup', '--trust', genesis);
  t.like(both.r.checkpoint, { anchored: true, cosigners: 2 });
  t.deepEqual([...(both.r.checkpoint?.members ?? [])].sort(), [`keyledger/member/${a!.id}`, `keyledger/member/${b!.id}`].sort());

  const wrong = await reportOf(a!, '--no-require-backup', '--trust', keystoreThumbprint(b!.file));
  t.is(wrong.code, 4);
  t.like(wrong.r, { verdict: 'tampered', integrity: { signatures: { status: 'anchor-mismatch', verified: 0, ledgerGenesis: { thumbprint: genesis } } } });
  t.deepEqual(kinds(wrong.r), ['TrustAnchorMismatch']);
  t.like(wrong.r.checkpoint, { anchored: false });
  const text = await a!.run('report', '--no-require-backup', '--trust', keystoreThumbprint(b!.file), '--out', path.join(dir, 'r.html'));
  t.is(text.code, 4);
  t.regex(text.stdout, /signatures NOT verified: the deployment's root of trust is \S+, not the anchor given/);
  t.regex(
    text.stdout,
    /latest checkpoint: tree size \d+, root \S+, signed or co-signed by 2 current member\(s\) \(members as the ledger names them: not anchored/,
  );
  const page = fs.readFileSync(path.join(dir, 'r.html'), 'utf8');
  t.regex(page, /TrustAnchorMismatch/);
  t.notRegex(page, /signatures verified against/);

  // In a policy file, the same; a flag wins over the file.
  const policy = path.join(dir, 'policy.json');
  fs.writeFileSync(policy, JSON.stringify({ trust: keystoreThumbprint(b!.file), requireBackup: false }));
  t.is((await a!.run('report', '--policy', policy)).code, 4);
  t.is((await a!.run('report', '--policy', policy, '--trust', genesis)).code, 0);

  // A reviewer's machine: no config, no keystore — the store and the deployment named.
  const elsewhere = path.join(dir, 'no-such-config.json');
  const reviewer = await cli(
    '-c',
    elsewhere,
    '--store',
    `sqlite:${ledgerFile(dir)}`,
    '--json',
    'report',
    '--deployment',
    'default',
    '--no-require-backup',
    '--trust',
    genesis,
  );
  t.is(reviewer.code, 0, reviewer.stderr);
  t.like(reviewer.json<ComplianceReport>(), { verdict: 'clean', integrity: { signatures: { status: 'verified' } } });
  t.is(reviewer.json<ComplianceReport>().operations.length, right.r.operations.length);
  const unnamed = await cli('-c', elsewhere, '--store', `sqlite:${ledgerFile(dir)}`, 'report');
  t.is(unnamed.code, 2);
  t.regex(unnamed.stderr, /name the deployment to report on with --deployment/);
});

test('an attacker who edits an event and re-hashes the chain: without an anchor nothing is claimed of signatures; with it, the event is reported (exit 4)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-report');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const genesis = keystoreThumbprint(a!.file);
  const dstream = deploymentStream('default' as DeploymentId);
  rewriteAndRehash(ledgerFile(dir), dstream, 2, (d) => ({ ...d, machineName: 'RS-ATTACKER' })); // B's PublicKeyStored

  const blind = await reportOf(a!, '--no-require-backup');
  t.is(blind.code, 0, 'the hash chain was recomputed: nothing the chain alone can see');
  t.like(blind.r.integrity, { hashProblems: [], signatures: { status: 'not-anchored' } });
  t.is(blind.r.membership.members.find((m) => m.installationId === b!.id)?.machineName, 'RS-ATTACKER');
  t.regex((await a!.run('report', '--no-require-backup', '--format', 'csv')).stdout, /signatures NOT checked/);

  const anchored = await reportOf(a!, '--no-require-backup', '--trust', genesis);
  t.is(anchored.code, 4);
  t.like(anchored.r.integrity.signatures, { status: 'problems' });
  const first = anchored.r.findings.find((f) => f.kind === 'SignatureNotVerified');
  t.like(first, { evidence: { stream: dstream, revision: '2', eventType: 'PublicKeyStored' } });

  // An edit without re-hashing: the chain shows it, anchor or not.
  tamper(ledgerFile(dir), "UPDATE events SET data = json_set(data, '$.instanceName', 'X') WHERE stream_name = ? AND stream_revision = 0", dstream);
  const broken = await reportOf(a!, '--no-require-backup');
  t.is(broken.code, 4);
  t.like(
    broken.r.findings.find((f) => f.kind === 'HashChainBroken'),
    { evidence: { stream: dstream, revision: '0' } },
  );

  // A record that is not even JSON: reported where it is, and its stream read on after it.
  const bstream = instanceStream(b!.id);
  const events = broken.r.integrity.events;
  tamper(ledgerFile(dir), "UPDATE events SET data = '{not json' WHERE stream_name = ? AND stream_revision = 1", bstream);
  const unreadable = await reportOf(a!, '--no-require-backup');
  t.is(unreadable.code, 4);
  const problem = unreadable.r.integrity.hashProblems.find((p) => p.stream === bstream);
  t.like(problem, { revision: '1', eventType: '?' });
  t.regex(problem?.problem ?? '', /the stored record is not JSON/);
  t.is(unreadable.r.integrity.events, events, 'every record still counted: the stream was read on after it');
  t.is(unreadable.r.integrity.heads[bstream]?.revision, broken.r.integrity.heads[bstream]?.revision);
});

test('policy findings and their remedies: no backup (backup clears it), key age and backup age (by the end of the period), exit 6', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-report');
  const [a] = await activatedDeployment(dir, ['A']);
  const none = await reportOf(a!);
  t.is(none.code, 6);
  t.deepEqual(kinds(none.r), ['NoBackupOfCurrentKey']);
  const remedy = none.r.findings[0]!.remedy;
  t.deepEqual(remedy?._tag === 'Run' ? remedy.steps.map((s) => [s.on, s.args]) : [], [['a-member', ['backup', '-f', { placeholder: 'backup-file' }]]]);
  t.is((await backup(a!, path.join(dir, 'key.snk'))).code, 0);
  t.is((await reportOf(a!)).code, 0, 'backed up: the finding is gone');

  t.deepEqual(kinds((await reportOf(a!, '--max-key-age', '90d', '--to', inDays(100))).r), ['KeyTooOld']);
  t.deepEqual(kinds((await reportOf(a!, '--max-key-age', '90d', '--to', inDays(10))).r), []);
  t.deepEqual(kinds((await reportOf(a!, '--max-backup-age', '30d', '--to', inDays(40))).r), ['BackupTooOld']);
  t.deepEqual(kinds((await reportOf(a!, '--max-backup-age', '30d', '--to', inDays(20))).r), []);
  const file = path.join(dir, 'p.json');
  fs.writeFileSync(file, JSON.stringify({ maxKeyAge: '12w', maxBackupAge: '4w' }));
  t.deepEqual(kinds((await reportOf(a!, '--policy', file, '--to', inDays(100))).r), ['KeyTooOld', 'BackupTooOld']);
});

test('KeyTooOld: an old key, then the printed remedy (recreate on a member): the finding is gone for the same period end', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-report');
  const a = await newNode(dir, 'A');
  // Initialized a year ago (the command layer with that clock; everything after it through the CLI, now).
  const config = rightOf(loadConfig(a.file)).instance;
  const store = openTestStore(ledgerFile(dir));
  const then = Date.now() - 365 * DAY;
  const init = await initInstance(
    {
      store,
      crypto: pooledCrypto(),
      keystore: fileKeystore(config.keystorePath),
      ctx: aContext('init', { now: () => new Date(then) }),
      digest: sha256Hex,
      host: 'h',
    },
    config,
  );
  await store.close();
  t.is(rightOf(init).state, 'activated');
  const old = await reportOf(a, '--max-key-age', '90d', '--no-require-backup');
  t.is(old.code, 6);
  t.like(old.r.findings, [{ kind: 'KeyTooOld', evidence: { keyVersion: 1, ageDays: 365 } }]);
  const steps = old.r.findings[0]!.remedy;
  t.deepEqual(steps?._tag === 'Run' ? steps.steps.map((s) => [s.on, ...s.args]) : [], [['a-member', 'recreate']]);
  t.is((await a.run('recreate')).code, 0);
  const fresh = await reportOf(a, '--max-key-age', '90d', '--no-require-backup');
  t.is(fresh.code, 0, JSON.stringify(fresh.r.findings));
  t.deepEqual(
    fresh.r.keyVersions.map((k) => [k.keyVersion, k.retired !== null]),
    [
      [1, true],
      [2, false],
    ],
  );
});

test('membership findings followed to their end: a newcomer not activated (join + start), a removed member holding the key (recreate), a disabled member', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-report');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  const waiting = await reportOf(a!, '--no-require-backup');
  t.is(waiting.code, 6);
  t.like(waiting.r.findings, [{ kind: 'InstanceNotActivated', installationId: c.id, evidence: { state: 'waiting-to-join' } }]);
  const join = waiting.r.findings[0]!.remedy;
  t.deepEqual(join?._tag === 'Run' ? join.steps.map((s) => s.args[0]) : [], ['join', 'start']);
  t.is((await a!.run(...joinArgs(c))).code, 0);
  t.is((await c.run('start')).code, 0);
  t.is((await reportOf(a!, '--no-require-backup')).code, 0);

  t.is((await a!.run('remove', b!.id)).code, 0);
  const removed = await reportOf(a!, '--no-require-backup');
  t.deepEqual(kinds(removed.r), ['RemovedMemberHoldsKey']);
  t.like(removed.r.membership.changes.at(-1), { change: 'left', installationId: b!.id });
  t.is((await a!.run('recreate')).code, 0);
  // C was active, so the re-creation wrapped version 2 for it; it has not proved it yet.
  const after = await reportOf(a!, '--no-require-backup');
  t.like(after.r.findings, [{ kind: 'InstanceNotActivated', installationId: c.id, evidence: { completedSteps: 4 } }]);
  const prove = after.r.findings[0]!.remedy;
  t.deepEqual(prove?._tag === 'Run' ? prove.steps.map((s) => [s.on, ...s.args]) : [], [['this-instance', 'start']]);
  t.is((await c.run('start')).code, 0);
  t.is((await reportOf(a!, '--no-require-backup')).code, 0);

  // A member whose service identity changed without its keys: disabled, until change-identity moves them.
  editConfig(c, { serviceIdentity: 'svc-other' });
  t.is((await c.run('start')).code, 1);
  const disabled = await reportOf(a!, '--no-require-backup');
  t.like(disabled.r.findings, [{ kind: 'InstanceDisabled', installationId: c.id, evidence: { reason: 'ServiceIdentityChanged', code: 'rsKeyStateNotValid' } }]);
  const move = disabled.r.findings[0]!.remedy;
  t.deepEqual(move?._tag === 'Run' ? move.steps.map((s) => [s.on, ...s.args]) : [], [['this-instance', 'change-identity', 'svc-other']]);
  t.is((await c.run('change-identity', 'svc-other')).code, 0);
  const moved = await reportOf(a!, '--no-require-backup');
  t.is(moved.code, 0, JSON.stringify(moved.r.findings));
  t.like(moved.r.membership.changes.at(-1), { change: 'identity-changed', installationId: c.id, details: { serviceIdentity: 'svc-other' } });
});

test('bad input: each one line on stderr and exit 2 (a policy file, a flag, a period); an --out that cannot be written: exit 3, nothing left', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-report');
  const a = await newNode(dir, 'A');
  t.is((await a.run('init')).code, 0);
  const file = path.join(dir, 'p.json');
  const cases: Array<[string[], RegExp]> = [
    [['--policy', file], /--policy \S+p\.json: unknown member "maxAge" \(known: maxKeyAge, maxBackupAge, requireBackup, trust\): fix the file/],
    [['--policy', path.join(dir, 'missing.json')], /cannot be read \(ENOENT\)/],
    [['--max-key-age', '90'], /--max-key-age "90" is not a duration/],
    [['--trust', 'nope'], /--trust takes the genesis signing-key thumbprint/],
    [['--from', 'yesterday'], /--from "yesterday" is not an ISO date/],
    [['--from', '2026-02-01', '--to', '2026-01-01'], /--from \(2026-02-01T00:00:00.000Z\) is after --to \(2026-01-01T23:59:59.999Z\)/],
    [['--format', 'pdf'], /--format "pdf" is not one of html, json, csv/],
    [['--deployment', '../x'], /--deployment "..\/x" is not a deployment name/],
    [['--deployment', 'defualt'], /deployment "defualt" has no events in this ledger \(sqlite:\S+\): check --deployment/],
  ];
  fs.writeFileSync(file, JSON.stringify({ maxAge: '90d' }));
  for (const [args, message] of cases) {
    const r = await a.run('report', ...args);
    t.is(r.code, 2, args.join(' '));
    t.is(r.stdout, '');
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, message);
  }
  fs.writeFileSync(file, '{"maxKeyAge": ');
  t.regex((await a.run('report', '--policy', file)).stderr, /is not valid JSON: give a readable JSON file/);
  const out = await a.run('report', '--out', path.join(dir, 'no', 'such', 'r.html'));
  t.is(out.code, 3);
  t.regex(out.stderr, /^keyledger: the report could not be written to \S+r\.html \(ENOENT\); nothing was replaced there/);
  t.false(fs.existsSync(path.join(dir, 'no')));
});
