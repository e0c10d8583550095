/**
 * Key backup and restore through the CLI (issue 12, part 2; docs/adr/0012): the file, what the ledger records,
 * restore onto a lost copy, and every refusal — each one line, each changing nothing.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { createHash, createHmac } from 'node:crypto';
import { cliWith } from './support/cli-inproc';
import { tempDir } from './support/fixtures';
import { toLegacyKeystore } from './support/legacy';
import { activatedDeployment, deploymentEvents, joinArgs, newNode, type TestNode } from './support/nodes';
import { appendToDeployment, BACKUP_PASSWORD, backup, FAST, ledgerState, restore, sealOntoDeployment, secretsOf } from './support/backups';

test('backup writes a 0600 JWE the jose package opens to the deployment key, and records KeyBackedUp signed, with the file fingerprint — never the password', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-backup');
  const [a] = await activatedDeployment(dir, ['A']);
  const file = path.join(dir, 'rs-key.snk');
  const r = await backup(a!, file);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /backed up: symmetric key version 1 of deployment default/);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  const text = fs.readFileSync(file, 'utf8').trim();
  const events = await deploymentEvents(dir);
  const created = events.find((e) => e.event.type === 'SymmetricKeyCreated')!.event as { data: { keyCheck: string } };
  const genesisSigner = (events[0]!.metadata as { sig?: { key: string } }).sig?.key;
  t.like(decodeProtectedHeader(text), { alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 1000, kl_dep: 'default', kl_ver: 1, kl_genesis: genesisSigner });
  const opened = await compactDecrypt(text, new TextEncoder().encode(BACKUP_PASSWORD), {
    keyManagementAlgorithms: ['PBES2-HS512+A256KW'],
    maxPBES2Count: 10_000,
  });
  t.is(createHmac('sha256', Buffer.from(opened.plaintext)).update('keyledger/key-check/v1').digest('base64url'), created.data.keyCheck);
  const last = events.at(-1)!;
  t.is(last.event.type, 'KeyBackedUp');
  t.like(last.event.data, {
    backedUpBy: a!.id,
    keyVersion: 1,
    iterations: 1000,
    fingerprint: createHash('sha256').update(text).digest('base64url'),
    genesisThumbprint: genesisSigner,
  });
  t.is((last.metadata as { sig?: { by: string } }).sig?.by, a!.id);
  const stateDir = path.join(dir, '.keyledger');
  const files = fs
    .readdirSync(stateDir)
    .map((f) => path.join(stateDir, f))
    .filter((f) => fs.statSync(f).isFile());
  t.true(files.some((f) => f.endsWith('keyledger.log')) && files.some((f) => f.endsWith('ledger.db')));
  const everything = Buffer.concat([...files.map((f) => fs.readFileSync(f)), Buffer.from(r.stdout + r.stderr), fs.readFileSync(file)]).toString('latin1');
  t.false(everything.includes(BACKUP_PASSWORD));
});

test('backup refuses an empty or short password, a second source, an existing file (unless --force), and a password as an argument', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-backup');
  const [a] = await activatedDeployment(dir, ['A']);
  const file = path.join(dir, 'k.snk');
  const before = (await deploymentEvents(dir)).length;
  const empty = await backup(a!, file, '');
  t.is(empty.code, 2);
  t.regex(empty.stderr, /^keyledger: the password is empty/m);
  const short = await backup(a!, file, 'eleven-char');
  t.is(short.code, 2);
  t.regex(short.stderr, /too short \(11 characters; at least 12\)/);
  t.false(fs.existsSync(file));
  t.is((await backup(a!, file)).code, 0);
  const again = await backup(a!, file);
  t.is(again.code, 2);
  t.regex(again.stderr, /already exists: nothing was written or recorded.*--force/);
  t.is((await backup(a!, file, BACKUP_PASSWORD, ['--force'])).code, 0);
  const arg = await cliWith({}, '-c', a!.file, 'backup', '-f', file, '-p', BACKUP_PASSWORD);
  t.is(arg.code, 2);
  const noSource = await cliWith({ env: {} }, '-c', a!.file, 'backup', '-f', path.join(dir, 'x.snk'));
  t.is(noSource.code, 2);
  t.regex(noSource.stderr, /no password: run on a terminal to be asked, or give --password-stdin or --password-file FILE/);
  t.is((await deploymentEvents(dir)).length, before + 2, 'two backups recorded, nothing for the refusals');
});

test('restore onto a removed instance registered again: refused while a member remains; then genesis, own copy, activated, secrets decrypt', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-backup');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const file = path.join(dir, 'k.snk');
  t.is((await backup(a!, file)).code, 0);
  t.is((await cliWith({ stdin: 'Server=db;Password=x' }, '-c', a!.file, 'secret', 'put', 'db')).code, 0);
  // B is removed; with A left, a restore on B is refused (a member joins it instead) — then A is removed too.
  t.is((await a!.run('remove', b!.id)).code, 0);
  t.is((await b!.run('init', '--rejoin')).code, 1);
  const refused = await restore(b!, file);
  t.is(refused.code, 5);
  t.regex(refused.stderr, /1 certified member\(s\) of the deployment remain and this instance is not one of them/);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const r = await restore(b!, file);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /restored: key version 1/);
  t.regex(r.stdout, /this instance is now the deployment's root of trust \(genesis [\w-]{43}; GenesisDeclared recorded\)/);
  t.regex(r.stdout, /run `keyledger trust --expect-genesis [\w-]{43}`/);
  const types = (await deploymentEvents(dir)).map((e) => e.event.type);
  t.deepEqual(types.slice(-3), ['GenesisDeclared', 'SymmetricKeyWrapped', 'KeyRestored']);
  t.deepEqual(await secretsOf(b!, ['db']), ['Server=db;Password=x']);
  t.is((await b!.run('verify', '--signatures')).code, 0);
  // A rerun finds the copy restored: nothing recorded but the start check's outcome.
  const again = await restore(b!, file);
  t.is(again.code, 0);
  t.regex(again.stdout, /already holds a certified copy of key version 1; nothing to restore/);
  t.is((await deploymentEvents(dir)).length, types.length);
});

// ─── Refusals: each one line, each changing nothing ──────────────────────

const refusalCase = async (t: ExecutionContext, prepare: (a: TestNode, file: string, dir: string) => Promise<{ file: string; password?: string }>) => {
  const dir = tempDir('kl-refuse');
  const [a] = await activatedDeployment(dir, ['A']);
  const file = path.join(dir, 'k.snk');
  t.is((await backup(a!, file)).code, 0);
  const b = await newNode(dir, 'B');
  t.is((await b.run('init')).code, 1);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const given = await prepare(a!, file, dir);
  const before = await ledgerState(dir, b);
  const r = await restore(b, given.file, given.password);
  t.deepEqual(await ledgerState(dir, b), before, 'the ledger and keystore are unchanged');
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  return r;
};

const editHeader = (text: string, change: (h: Record<string, unknown>) => Record<string, unknown>): string => {
  const [h = '', ...rest] = text.trim().split('.');
  const header = change(JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>);
  return [Buffer.from(JSON.stringify(header)).toString('base64url'), ...rest].join('.');
};
const rewrite = (file: string, f: (text: string) => string): string => {
  const out = `${file}.edited`;
  fs.writeFileSync(out, f(fs.readFileSync(file, 'utf8')));
  return out;
};

test('restore refuses a wrong password', async (t) => {
  t.timeout(30_000);
  const r = await refusalCase(t, async (_a, file) => ({ file, password: 'not the password, clearly' }));
  t.is(r.code, 5);
  t.regex(r.stderr, /^keyledger: the password does not open this backup .*Nothing was changed/);
});

test('restore refuses a truncated file', async (t) => {
  t.timeout(30_000);
  const r = await refusalCase(t, async (_a, file) => ({ file: rewrite(file, (s) => s.slice(0, 200)) }));
  t.is(r.code, 5);
  t.regex(r.stderr, /^keyledger: the file is not a usable key backup: it is not a compact JWE .*truncated/);
});

test('restore refuses a corrupted file (its content altered)', async (t) => {
  t.timeout(30_000);
  const r = await refusalCase(t, async (_a, file) => ({
    file: rewrite(file, (s) => {
      const parts = s.trim().split('.');
      const ct = Buffer.from(parts[3]!, 'base64url');
      ct[0] = (ct[0] ?? 0) ^ 1;
      parts[3] = ct.toString('base64url');
      return parts.join('.');
    }),
  }));
  t.is(r.code, 4);
  t.regex(r.stderr, /^keyledger: the backup was altered after it was written/);
});

test('restore refuses a backup of another deployment', async (t) => {
  t.timeout(30_000);
  const r = await refusalCase(t, async (_a, _file, dir) => {
    const other = tempDir('kl-other');
    const file = path.join(dir, 'other.snk');
    const y = await newNode(other, 'Y', ['--deployment', 'finance']);
    t.is((await y.run('init')).code, 0);
    t.is((await backup(y, file)).code, 0);
    return { file };
  });
  t.is(r.code, 5);
  t.regex(r.stderr, /^keyledger: the backup is of deployment "finance", not this instance's "default"/);
});

test('restore refuses a backup of an older key version', async (t) => {
  t.timeout(30_000);
  const r = await refusalCase(t, async (a, file, dir) => {
    await sealOntoDeployment(dir, a, 2);
    return { file };
  });
  t.is(r.code, 5);
  t.regex(r.stderr, /^keyledger: the backup holds key version 1, but the deployment's current key is version 2 \(the key was re-created since\)/);
});

test('restore refuses an iteration count above the ceiling at once (10⁹ would hang it)', async (t) => {
  t.timeout(30_000);
  const started = Date.now();
  const r = await refusalCase(t, async (_a, file) => ({ file: rewrite(file, (s) => editHeader(s, (h) => ({ ...h, p2c: 1_000_000_000 }))) }));
  t.is(r.code, 5);
  t.regex(r.stderr, /^keyledger: the backup asks for 1000000000 PBES2 iterations, above the ceiling of 5000000/);
  t.true(Date.now() - started < 20_000);
});

test('attack: a file naming the right deployment but holding another key is refused by the key check; nothing recorded', async (t) => {
  t.timeout(30_000);
  const r = await refusalCase(t, async (_a, _file, dir) => {
    // Another deployment also called "default", with its own key: the header names the right deployment and version.
    const other = tempDir('kl-forged');
    const [x] = await activatedDeployment(other, ['X']);
    const file = path.join(dir, 'forged.snk');
    t.is((await backup(x!, file)).code, 0);
    return { file };
  });
  t.is(r.code, 5);
  t.regex(r.stderr, /^keyledger: the backup's key is not the deployment's key version 1 \(its key check differs from the signed one\)/);
  t.regex(r.stderr, /on this instance run `keyledger restore -f <the key backup file>`/);
});

test('rskeymgmt -e -f -p and -a -f -p: the SSRS flags back up and restore, warning that -p shows the password to the process list', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-rskeymgmt');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const file = path.join(dir, 'rs.snk');
  const e = await cliWith({ env: FAST }, '-c', a!.file, 'rskeymgmt', '-e', '-f', file, '-p', BACKUP_PASSWORD);
  t.is(e.code, 0, e.stderr);
  t.regex(e.stderr, /warning: a password given with -p is visible to every user of this machine/);
  t.regex(e.stdout, /backed up: symmetric key version 1/);
  t.false(e.stdout.includes(BACKUP_PASSWORD) || e.stderr.includes(BACKUP_PASSWORD));
  const noFile = await a!.run('rskeymgmt', '-e', '-p', BACKUP_PASSWORD);
  t.is(noFile.code, 2);
  t.regex(noFile.stderr, /rskeymgmt -e needs -f <file>/);
  const wrong = await b!.run('rskeymgmt', '-a', '-f', file, '-p', 'not the password, clearly');
  t.is(wrong.code, 5);
  t.regex(wrong.stderr, /the password does not open this backup/);
  const applied = await b!.run('rskeymgmt', '-a', '-f', file, '-p', BACKUP_PASSWORD);
  t.is(applied.code, 0, applied.stderr);
  t.regex(applied.stdout, /already holds a certified copy of key version 1/);
  t.is((await a!.run('rskeymgmt', '-e', '-a', '-f', file)).code, 2);
});

test('--help teaches where the password comes from and what is refused; --json gives the outcome', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-help');
  const [a] = await activatedDeployment(dir, ['A']);
  const help = await a!.run('backup', '--help');
  t.regex(help.stdout, /600,000 iterations/);
  t.regex(help.stdout, /never an argument/);
  t.regex((await a!.run('restore', '--help')).stdout, /a backup of another deployment or of an older key version, a wrong password/);
  const file = path.join(dir, 'k.snk');
  const r = await cliWith({ stdin: BACKUP_PASSWORD, env: FAST }, '-c', a!.file, '--json', 'backup', '-f', file, '--password-stdin');
  t.like(r.json(), { keyVersion: 1, iterations: 1000, recorded: ['KeyBackedUp'], path: file });
});

test('re-genesis: an instance that pinned the old genesis trusts what the restorer signs once it pins the thumbprint restore printed', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-regenesis');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const file = path.join(dir, 'k.snk');
  t.is((await backup(a!, file)).code, 0);
  t.is((await a!.run('remove', b!.id)).code, 0);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  const r = await restore(c, file);
  t.is(r.code, 0, r.stderr);
  const genesis = /`keyledger trust --expect-genesis ([\w-]{43})`/.exec(r.stdout)?.[1];
  t.truthy(genesis);
  // B comes back: registered again, joined by the restorer — and refused until its operator pins the new genesis.
  t.is((await b!.run('init', '--rejoin')).code, 1);
  t.is((await c.run(...joinArgs(b!))).code, 0);
  const refused = await b!.run('--json', 'start');
  t.is(refused.code, 1);
  t.like(refused.json(), { reason: { _tag: 'GenesisNotPinned', ledgerGenesis: genesis } });
  t.is((await b!.run('trust', '--expect-genesis', genesis!)).code, 0);
  t.is((await b!.run('start')).code, 0);
  t.is((await c.run('verify', '--signatures')).code, 0);
});

test('verify --signatures reports a KeyBackedUp or KeyRestored not signed by the member it names (a record forged in the store)', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-forged-record');
  const [a] = await activatedDeployment(dir, ['A']);
  t.is((await backup(a!, path.join(dir, 'k.snk'))).code, 0);
  t.is((await a!.run('verify', '--signatures')).code, 0);
  const recorded = (await deploymentEvents(dir)).at(-1)!.event;
  await appendToDeployment(dir, [recorded]);
  const v = await a!.run('--json', 'verify', '--signatures');
  t.is(v.code, 4, v.stdout);
  t.regex(v.stdout, /"eventType": "KeyBackedUp"[\s\S]*"problem": "unsigned"|"problem": "unsigned"[\s\S]*"eventType": "KeyBackedUp"/);
});

test('restore on an instance never initialized, or with a keystore from before signed key events, says what to run first; nothing changes', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-restore-first');
  const [a] = await activatedDeployment(dir, ['A']);
  const file = path.join(dir, 'k.snk');
  t.is((await backup(a!, file)).code, 0);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const fresh = await newNode(dir, 'N');
  const before = await ledgerState(dir, fresh);
  const never = await restore(fresh, file);
  t.is(never.code, 5);
  t.regex(
    never.stderr,
    /^keyledger: installation .* is not registered in the deployment with the key pair it holds\. Nothing was changed\. Run keyledger init/,
  );
  t.deepEqual(await ledgerState(dir, fresh), before);
  const old = await newNode(dir, 'O');
  t.is((await old.run('init')).code, 1);
  await toLegacyKeystore(old);
  const beforeLegacy = await ledgerState(dir, old);
  const legacy = await restore(old, file);
  t.is(legacy.code, 5);
  t.regex(legacy.stderr, /keystore predates signed key events .* Nothing was changed\. Run keyledger init --new-installation-id/);
  t.deepEqual(await ledgerState(dir, old), beforeLegacy);
});

test('a hostile header (control characters in the deployment it names) is shown escaped, on one line', async (t) => {
  t.timeout(30_000);
  const r = await refusalCase(t, async (_a, file) => ({ file: rewrite(file, (s) => editHeader(s, (h) => ({ ...h, kl_dep: 'evil\n\u001b[31mred' }))) }));
  t.is(r.code, 5);
  t.regex(r.stderr, /the backup is of deployment "evil\\u000a\\u001b\[31mred", not this instance's "default"/);
  t.false(r.stderr.includes('\u001b'));
});
