/**
 * File modes whatever the umask (issue 9, "Files"): the ledger, its -wal and
 * -shm and the local state 0600 in 0700 folders (or, with `ledgerAccess:
 * "group"`, the ledger 0660 in a 2770 folder — never wider); a keystore or a
 * machine secret that group or others can read, or that lies in a folder they
 * can write, refused like ssh refuses an unprotected key, with the fix; the
 * machine secret wherever `keystoreSecretFile` says, the env variable first.
 *
 * A permissive umask cannot be set here (ava runs this file in a worker
 * thread, where `process.umask(mask)` throws), so the files are created by a
 * child `node` process that sets the umask and then uses the compiled modules
 * from dist/; this process checks the modes with `fs.statSync`. The child
 * exits without closing its store, so the -wal and -shm stay to be looked at.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { fileKeystore, MACHINE_SECRET_ENV } from '../../src/infra/file-keystore';
import { openSqliteStore } from '../../src/infra/sqlite-store';
import type { GeneratedKeyPair, KeystoreBinding } from '../../src/ports/crypto';
import { cli } from '../support/cli-inproc';
import { newInstallationId, rightOf, tempDir } from '../support/fixtures';
import { pooledCrypto } from '../support/pooled-crypto';

delete process.env[MACHINE_SECRET_ENV];

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DIST = path.join(ROOT, 'dist', 'src', 'infra');

const CHILD = `
const fs = require('node:fs');
const { randomUUID } = require('node:crypto');
const [umask, job, argJson] = process.argv.slice(1);
process.umask(parseInt(umask, 8));
const a = JSON.parse(argJson);
const need = (r, what) => { if (r._tag === 'Left') throw new Error(what + ': ' + JSON.stringify(r.left, (_k, v) => (typeof v === 'bigint' ? String(v) : v))); return r.right; };
const jobs = {
  // A ledger opened through openStore (as the CLI does), one event appended; exits without closing.
  async ledger() {
    const { openStore } = require(${JSON.stringify(path.join(DIST, 'open-store.js'))});
    const store = need(await openStore('sqlite:' + a.file, '/', a.access ? { ledgerAccess: a.access } : {}), 'open');
    need(await store.append('s-1', [{ id: randomUUID(), type: 'X', data: {}, metadata: {} }], 'any')(), 'append');
  },
  // The local state file with one checkpoint saved; exits without closing.
  async state() {
    const { openSqliteCheckpoints } = require(${JSON.stringify(path.join(DIST, 'sqlite-checkpoints.js'))});
    const cps = need(openSqliteCheckpoints(a.file), 'open');
    need(cps.save('k', { version: 1, position: { commit: 1n, prepare: 1n }, state: {}, heads: null, tip: null }), 'save');
  },
  // A ledger as SQLite alone makes it (what an older keyledger left behind): 0644 under umask 000.
  async raw() {
    const Database = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'better-sqlite3'))});
    const db = new Database(a.file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x)');
    db.prepare('INSERT INTO t VALUES (1)').run();
  },
  // A keystore created with a fresh key pair.
  async keystore() {
    const { fileKeystore } = require(${JSON.stringify(path.join(DIST, 'file-keystore.js'))});
    const { joseCrypto } = require(${JSON.stringify(path.join(DIST, 'jose-crypto.js'))});
    const pair = need(await joseCrypto().generateKeyPair(2048)(), 'keygen');
    need(await fileKeystore(a.file, a.secretFile ? { secretFile: a.secretFile } : {}).create(a.binding, pair)(), 'create');
  },
};
jobs[job]().then(
  () => process.exit(0),
  (e) => { process.stderr.write(String(e && e.stack ? e.stack : e)); process.exit(1); },
);
`;

/** Runs one job of CHILD under `umask` (octal text); fails the test if it fails. */
const inChild = (t: ExecutionContext, umask: string, job: string, args: object, env: NodeJS.ProcessEnv = {}): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD, umask, job, JSON.stringify(args)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      t.is(code, 0, `child ${job} under umask ${umask}: ${stderr}`);
      resolve();
    });
  });

const roots: string[] = [];
test.after.always(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});
const root = (): string => {
  const r = tempDir('kl-modes');
  roots.push(r);
  return r;
};

/** Permission bits (with setuid/setgid/sticky) as octal text, or "missing". */
const modeOf = (p: string): string => (fs.existsSync(p) ? (fs.statSync(p).mode & 0o7777).toString(8) : 'missing');
const modesOf = (...files: string[]): Record<string, string> => Object.fromEntries(files.map((f) => [path.basename(f), modeOf(f)]));
const sqliteFiles = (file: string): string[] => [file, `${file}-wal`, `${file}-shm`];

const IDENTITY = 'NT SERVICE\\ReportServer';
const aBinding = (): KeystoreBinding => ({ installationId: newInstallationId(), serviceIdentity: IDENTITY });
const aPair = async (): Promise<GeneratedKeyPair> => rightOf(await pooledCrypto().generateKeyPair(2048)());
const keystoreError = (file: string, problem: string, detail: string, keystoreInstallationId: string | null = null) =>
  E.left({ _tag: 'KeystoreError', path: file, problem, detail, keystoreInstallationId });

// ─── The ledger ───────────────────────────────────────────────────────────

for (const umask of ['000', '022']) {
  test(`ledger under umask ${umask}: ledger, -wal and -shm 0600, the folders keyledger creates 0700`, async (t) => {
    t.timeout(30_000);
    const dir = root();
    const file = path.join(dir, 'a', 'b', 'ledger.db');
    await inChild(t, umask, 'ledger', { file });
    t.deepEqual(modesOf(...sqliteFiles(file)), { 'ledger.db': '600', 'ledger.db-wal': '600', 'ledger.db-shm': '600' });
    t.is(modeOf(path.join(dir, 'a')), '700');
    t.is(modeOf(path.join(dir, 'a', 'b')), '700');
  });
}

for (const umask of ['000', '022', '077']) {
  test(`ledgerAccess "group" under umask ${umask}: ledger, -wal and -shm exactly 0660, new folders 2770`, async (t) => {
    t.timeout(30_000);
    const dir = root();
    const file = path.join(dir, 'shared', 'ledger.db');
    await inChild(t, umask, 'ledger', { file, access: 'group' });
    t.deepEqual(modesOf(...sqliteFiles(file)), { 'ledger.db': '660', 'ledger.db-wal': '660', 'ledger.db-shm': '660' });
    t.is(modeOf(path.join(dir, 'shared')), '2770');
  });
}

test('an existing folder is left as it is; a ledger the process owns is brought to 0600, -wal and -shm too', async (t) => {
  t.timeout(30_000);
  const dir = root();
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'ledger.db');
  await inChild(t, '000', 'raw', { file });
  t.deepEqual(modesOf(...sqliteFiles(file)), { 'ledger.db': '644', 'ledger.db-wal': '644', 'ledger.db-shm': '644' }, 'what SQLite alone makes');
  const store = rightOf(openSqliteStore(file));
  try {
    t.deepEqual(modesOf(...sqliteFiles(file)), { 'ledger.db': '600', 'ledger.db-wal': '600', 'ledger.db-shm': '600' });
    t.is(modeOf(dir), '755');
  } finally {
    await store.close();
  }
});

test('switching a ledger to "group" widens it to 0660, and back to "owner" narrows it to 0600', async (t) => {
  t.timeout(30_000);
  const file = path.join(root(), 'ledger.db');
  await rightOf(openSqliteStore(file)).close();
  t.is(modeOf(file), '600');
  await rightOf(openSqliteStore(file, { access: 'group' })).close();
  t.is(modeOf(file), '660');
  fs.chmodSync(file, 0o666);
  await rightOf(openSqliteStore(file, { access: 'group' })).close();
  t.is(modeOf(file), '660', 'never wider than 0660');
  await rightOf(openSqliteStore(file)).close();
  t.is(modeOf(file), '600');
});

(process.getuid?.() === 0 ? test : test.skip)(
  'a ledger another user owns that is wider than allowed is refused with the fix; 0660 is fine in group mode',
  async (t) => {
    t.timeout(30_000);
    const file = path.join(root(), 'ledger.db');
    await rightOf(openSqliteStore(file, { access: 'group' })).close();
    fs.chownSync(file, 4242, 4242);
    fs.chmodSync(file, 0o664);
    t.deepEqual(
      openSqliteStore(file, { access: 'group' }),
      E.left({
        _tag: 'StoreUnavailable',
        endpoint: `sqlite:${file}`,
        message: `the ledger ${file} is mode 664, wider than 660, and belongs to user 4242: as that user, run chmod 660 ${file}`,
      }),
    );
    fs.chmodSync(file, 0o660);
    await rightOf(openSqliteStore(file, { access: 'group' })).close();
    t.is(modeOf(file), '660', 'not changed: it is not ours');
    const owner = openSqliteStore(file);
    t.true(E.isLeft(owner) && owner.left._tag === 'StoreUnavailable' && owner.left.message.includes(`run chmod 600 ${file}`), JSON.stringify(owner));
  },
);

// ─── The local state ──────────────────────────────────────────────────────

for (const umask of ['000', '022']) {
  test(`local state under umask ${umask}: projections.db, -wal and -shm 0600, the state folder 0700`, async (t) => {
    t.timeout(30_000);
    const dir = root();
    const file = path.join(dir, 'state', 'projections.db');
    await inChild(t, umask, 'state', { file });
    t.deepEqual(modesOf(...sqliteFiles(file)), { 'projections.db': '600', 'projections.db-wal': '600', 'projections.db-shm': '600' });
    t.is(modeOf(path.join(dir, 'state')), '700');
  });
}

// ─── The keystore and the machine secret ──────────────────────────────────

test('keystore under umask 000: the keystore and machine.secret 0600, their folders 0700', async (t) => {
  t.timeout(60_000);
  const dir = root();
  const file = path.join(dir, 'ks', 'node', 'instance.keystore.json');
  await inChild(t, '000', 'keystore', { file, binding: aBinding() });
  t.deepEqual(modesOf(file, path.join(dir, 'ks', 'node', 'machine.secret')), { 'instance.keystore.json': '600', 'machine.secret': '600' });
  t.is(modeOf(path.join(dir, 'ks')), '700');
  t.is(modeOf(path.join(dir, 'ks', 'node')), '700');
});

test('a machine.secret that group or others can read is refused, with the chmod that fixes it', async (t) => {
  t.timeout(30_000);
  const file = path.join(root(), 'ks', 'instance.keystore.json');
  const secret = path.join(path.dirname(file), 'machine.secret');
  const binding = aBinding();
  rightOf(await fileKeystore(file).create(binding, await aPair())());
  for (const mode of [0o644, 0o640, 0o604]) {
    fs.chmodSync(secret, mode);
    t.deepEqual(
      await fileKeystore(file).load(binding)(),
      keystoreError(
        file,
        'unreadable',
        `the machine secret ${secret} has permissions ${mode.toString(8)}, too open (run: chmod 600 ${secret})`,
        binding.installationId,
      ),
    );
  }
  fs.chmodSync(secret, 0o600);
  t.true(E.isRight(await fileKeystore(file).load(binding)()));
});

test('a keystore that group or others can read is refused, with the chmod that fixes it', async (t) => {
  t.timeout(30_000);
  const file = path.join(root(), 'ks', 'instance.keystore.json');
  const binding = aBinding();
  rightOf(await fileKeystore(file).create(binding, await aPair())());
  fs.chmodSync(file, 0o640);
  t.deepEqual(await fileKeystore(file).load(binding)(), keystoreError(file, 'unreadable', `it has permissions 640, too open (run: chmod 600 ${file})`));
});

test('a keystore in a folder group or others can write is refused (load and create), with chmod go-w', async (t) => {
  t.timeout(30_000);
  const dir = path.join(root(), 'ks');
  const file = path.join(dir, 'instance.keystore.json');
  const binding = aBinding();
  rightOf(await fileKeystore(file).create(binding, await aPair())());
  for (const mode of [0o777, 0o1777, 0o770]) {
    fs.chmodSync(dir, mode);
    const why = `it is in ${dir}, a folder group or others can write (mode ${mode.toString(8)}; run: chmod go-w ${dir})`;
    t.deepEqual(await fileKeystore(file).load(binding)(), keystoreError(file, 'unreadable', why));
    const other = path.join(dir, 'other.keystore.json');
    t.deepEqual(await fileKeystore(other).create(aBinding(), await aPair())(), keystoreError(other, 'unreadable', why));
    t.false(fs.existsSync(other));
  }
  fs.chmodSync(dir, 0o755);
  t.true(E.isRight(await fileKeystore(file).load(binding)()), 'a folder others can only read is fine');
});

test('keystoreSecretFile: the secret is created there (0600, new folder 0700), none beside the keystore; staging uses it too', async (t) => {
  t.timeout(30_000);
  const dir = root();
  const file = path.join(dir, 'ks', 'instance.keystore.json');
  const secretFile = path.join(dir, 'elsewhere', 'volume', 'node.secret');
  const binding = aBinding();
  const keystore = fileKeystore(file, { secretFile });
  rightOf(await keystore.create(binding, await aPair())());
  t.deepEqual(fs.readdirSync(path.dirname(file)), ['instance.keystore.json']);
  t.is(modeOf(secretFile), '600');
  t.is(modeOf(path.join(dir, 'elsewhere')), '700');
  t.is(modeOf(path.join(dir, 'elsewhere', 'volume')), '700');
  t.true(E.isRight(await keystore.load(binding)()));
  t.deepEqual(
    await fileKeystore(file).load(binding)(),
    E.left({
      _tag: 'KeystoreError',
      path: file,
      problem: 'locked',
      detail: `the machine secret ${path.join(path.dirname(file), 'machine.secret')} is missing`,
      keystoreInstallationId: binding.installationId,
    }),
    'without the option the secret beside the keystore is looked for',
  );
  // An identity change stages a keystore under the same secret.
  const next = { ...binding, serviceIdentity: 'svc-reports' };
  rightOf(await keystore.staging().create(next, await aPair())());
  t.deepEqual(fs.readdirSync(path.dirname(file)).sort(), ['instance.keystore.json', 'instance.keystore.json.next']);
  t.is(rightOf(await keystore.promoteStaging()()), 'promoted');
  t.true(E.isRight(await keystore.load(next)()));
  // Its folder is checked like the keystore's.
  fs.chmodSync(path.dirname(secretFile), 0o770);
  const folder = path.dirname(secretFile);
  t.deepEqual(
    await keystore.load(next)(),
    E.left({
      _tag: 'KeystoreError',
      path: file,
      problem: 'unreadable',
      detail: `the machine secret ${secretFile} is in ${folder}, a folder group or others can write (mode 770; run: chmod go-w ${folder})`,
      keystoreInstallationId: binding.installationId,
    }),
  );
});

test(`keystoreSecretFile under umask 000 in a child; ${MACHINE_SECRET_ENV} still wins over it`, async (t) => {
  t.timeout(60_000);
  const dir = root();
  const file = path.join(dir, 'ks', 'instance.keystore.json');
  const secretFile = path.join(dir, 'secrets', 'node.secret');
  const binding = aBinding();
  await inChild(t, '000', 'keystore', { file, secretFile, binding });
  t.deepEqual(modesOf(file, secretFile, path.join(dir, 'secrets')), { 'instance.keystore.json': '600', 'node.secret': '600', secrets: '700' });
  t.false(fs.existsSync(path.join(dir, 'ks', 'machine.secret')));

  const envSecret = randomBytes(32).toString('base64url');
  const other = path.join(dir, 'ks2', 'instance.keystore.json');
  const otherSecret = path.join(dir, 'secrets2', 'node.secret');
  await inChild(t, '000', 'keystore', { file: other, secretFile: otherSecret, binding }, { [MACHINE_SECRET_ENV]: envSecret });
  t.false(fs.existsSync(otherSecret), 'with the env variable set, the secret file is neither read nor created');
  t.false(fs.existsSync(path.join(dir, 'ks2', 'machine.secret')));
  // Without the variable the keystore does not open (its secret is the env's); with it, it does.
  t.is((await fileKeystore(other, { secretFile: otherSecret }).load(binding)())._tag, 'Left');
  fs.mkdirSync(path.dirname(otherSecret), { mode: 0o700 });
  fs.writeFileSync(otherSecret, envSecret, { mode: 0o600 });
  t.true(E.isRight(await fileKeystore(other, { secretFile: otherSecret }).load(binding)()), 'the same secret from the file opens it');
});

// ─── Through the CLI ──────────────────────────────────────────────────────

test('CLI: ledgerAccess "group" and keystoreSecretFile from the config, through init, start and change-identity', async (t) => {
  t.timeout(60_000);
  const dir = root();
  const config = path.join(dir, 'node.json');
  t.is((await cli('-c', config, 'config', 'new', '--instance', 'N1', '--ledger', 'sqlite:./shared/ledger.db')).code, 0);
  const raw = JSON.parse(fs.readFileSync(config, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(config, JSON.stringify({ ...raw, ledgerAccess: 'group', keystoreSecretFile: './secrets/node.secret' }), { mode: 0o600 });

  const check = await cli('-c', config, '--json', 'config', 'check');
  t.is(check.code, 0, check.stderr);
  t.like(check.json(), { ledgerAccess: 'group', keystoreSecretFile: path.join(dir, 'secrets', 'node.secret') });

  for (const args of [['init'], ['start'], ['change-identity', 'svc-reports'], ['start'], ['status']]) {
    const r = await cli('-c', config, ...args);
    t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const ledger = path.join(dir, 'shared', 'ledger.db');
  t.is(modeOf(path.join(dir, 'shared')), '2770');
  t.is(modeOf(ledger), '660');
  t.is(modeOf(path.join(dir, 'secrets')), '700');
  t.is(modeOf(path.join(dir, 'secrets', 'node.secret')), '600');
  const keystoreDir = path.dirname(path.resolve(dir, raw['keystore'] as string));
  t.deepEqual(
    fs.readdirSync(keystoreDir).sort(),
    ['instance.keystore.json', 'pins.json'],
    'no machine.secret beside the keystore (the pins of the keys it held are)',
  );
  t.is(modeOf(path.join(keystoreDir, 'pins.json')), '600');
  t.is(modeOf(path.join(dir, '.keyledger')), '700');
  t.is(modeOf(path.join(dir, '.keyledger', 'projections.db')), '600');
});

test('CLI: a machine secret others can read stops a start with one line naming the fix', async (t) => {
  t.timeout(60_000);
  const dir = root();
  const config = path.join(dir, 'node.json');
  t.is((await cli('-c', config, 'config', 'new', '--instance', 'N1')).code, 0);
  t.is((await cli('-c', config, 'init')).code, 0);
  const raw = JSON.parse(fs.readFileSync(config, 'utf8')) as { keystore: string };
  const secret = path.join(path.dirname(path.resolve(dir, raw.keystore)), 'machine.secret');
  fs.chmodSync(secret, 0o644);
  const start = await cli('-c', config, 'start');
  t.is(start.code, 1, start.stderr);
  t.true(`${start.stdout}${start.stderr}`.includes(`run: chmod 600 ${secret}`), `${start.stdout}${start.stderr}`);
});
