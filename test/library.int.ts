/**
 * The library API (src/library.ts): a long-running service process encrypts and decrypts through
 * `openDeployment`, sees what other members change, and gets a typed error — never a throw — once its instance
 * is removed or disabled. Its reads are counted and recorded once per period, not one event per read.
 */
import test from 'ava';
import * as path from 'node:path';
import { inspect } from 'node:util';
import * as E from 'fp-ts/Either';
import { contentStream, type DeploymentId } from '../src/domain/ids';
import { describeLibraryError, type Deployment, openDeployment } from '../src/library';
import { cliWith } from './support/cli-inproc';
import { rightOf, tempDir } from './support/fixtures';
import { backup, restore } from './support/backups';
import { activatedDeployment, editConfig, ledgerFile, newNode, withLedger } from './support/nodes';
import { pooledCrypto } from './support/pooled-crypto';

const CONTENT = contentStream('default' as DeploymentId);
const open = async (file: string, refreshMs = 0): Promise<Deployment> =>
  rightOf(await openDeployment({ config: file, refreshMs, crypto: pooledCrypto(), actor: 'svc@test' }));

test('a long-running process encrypts and decrypts; sees secrets other members put; values print redacted; reads are counted, recorded once', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-lib');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const d = await open(a!.file);
  try {
    const put = rightOf(await d.encrypt('smtp/password', 'p@ss-from-library'));
    t.like(put, { name: 'smtp/password', keyVersion: 1, previousFingerprint: null });
    for (let i = 0; i < 200; i++) {
      const v = await d.decrypt('smtp/password');
      if (E.isLeft(v)) return t.fail(describeLibraryError(v.left));
    }
    const v = rightOf(await d.decrypt('smtp/password'));
    t.is(v.text(), 'p@ss-from-library');
    t.is(JSON.stringify({ v }), '{"v":"[secret value: redacted]"}');
    t.is(`${v}`, '[secret value: redacted]');
    t.false(inspect(v).includes('p@ss'));

    // Another member puts a secret through the CLI: the process reads it.
    t.is((await cliWith({ stdin: 'from-the-cli' }, '-c', b!.file, 'secret', 'put', 'ds/sales')).code, 0);
    t.is(rightOf(await d.decrypt('ds/sales')).text(), 'from-the-cli');
    // And the CLI reads what the process put.
    t.is((await cliWith({}, '-c', b!.file, 'secret', 'get', 'smtp/password', '--reveal')).stdout, 'p@ss-from-library');

    const missing = await d.decrypt('nope');
    t.true(E.isLeft(missing) && missing.left._tag === 'SecretMissing');
    const badName = await d.encrypt('a\u202eb', 'x');
    t.true(E.isLeft(badName) && badName.left._tag === 'UsageError');

    const status = rightOf(await d.status());
    t.like(status, { activated: true, keyVersion: 1, reason: null, secrets: 2, reads: { total: 202, unrecorded: 202 } });
  } finally {
    rightOf(await d.close());
  }
  await withLedger(dir, async (read) => {
    const events = await read(CONTENT);
    t.deepEqual(
      events.map((e) => e.event.type),
      ['SecretPut', 'SecretPut', 'SecretRead', 'SecretReadsCounted'],
      'one event for the 202 library reads',
    );
    const counted = events[3]!.event;
    if (counted.type !== 'SecretReadsCounted') return t.fail();
    t.like(counted.data, { installationId: a!.id, reads: 202 });
    t.deepEqual(counted.data.secrets, [
      { name: 'ds/sales', reads: 1 },
      { name: 'smtp/password', reads: 201 },
    ]);
    t.is(events[3]!.metadata.actor as string, 'svc@test');
  });
  const list = await cliWith({}, '-c', a!.file, '--json', 'secret', 'list');
  t.like(list.json<unknown[]>()[1], { name: 'smtp/password', reads: 1, countedReads: 201 });
});

test('removed while running: the next call is a typed SecretsNotActivated (no throw), status says why', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-lib');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const d = await open(b!.file);
  try {
    rightOf(await d.encrypt('k', 'v'));
    t.is(rightOf(await d.decrypt('k')).text(), 'v');
    t.is((await a!.run('remove', b!.id)).code, 0);
    const after = await d.decrypt('k');
    t.true(E.isLeft(after) && after.left._tag === 'SecretsNotActivated', JSON.stringify(after));
    if (E.isLeft(after)) t.regex(describeLibraryError(after.left), /cannot use the deployment key/);
    const put = await d.encrypt('k', 'w');
    t.true(E.isLeft(put) && put.left._tag === 'SecretsNotActivated');
    const s = rightOf(await d.status());
    t.false(s.activated);
    t.truthy(s.reason);
  } finally {
    rightOf(await d.close()); // its one read is still recorded, signed by its own key
  }
  await withLedger(dir, async (read) => t.true((await read(CONTENT)).some((e) => e.event.type === 'SecretReadsCounted')));
});

test('disabled while running (its start check refused: the service identity changed), then activated again: typed error, then it works', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-lib');
  const [a] = await activatedDeployment(dir, ['A']);
  const d = await open(a!.file);
  try {
    rightOf(await d.encrypt('k', 'v'));
    const file = a!.file;
    const fs = await import('node:fs');
    const original = fs.readFileSync(file, 'utf8');
    editConfig(a!, { serviceIdentity: 'someone-else' });
    t.is((await a!.run('start')).code, 1);
    fs.writeFileSync(file, original);
    const disabled = await d.decrypt('k');
    t.true(E.isLeft(disabled) && disabled.left._tag === 'SecretsNotActivated', JSON.stringify(disabled));
    t.is((await a!.run('start')).code, 0);
    t.is(rightOf(await d.decrypt('k')).text(), 'v');
  } finally {
    rightOf(await d.close());
  }
});

test('an instance that is not activated cannot open for secrets: openDeployment answers, decrypt is a typed error', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-lib');
  await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  t.is((await b.run('init')).code, 1);
  const d = await open(b.file);
  try {
    const r = await d.decrypt('anything');
    t.true(E.isLeft(r) && r.left._tag === 'SecretsNotActivated');
    t.false(rightOf(await d.status()).activated);
  } finally {
    rightOf(await d.close());
  }
  const noConfig = await openDeployment({ config: `${dir}/missing.json` });
  t.true(E.isLeft(noConfig) && noConfig.left._tag === 'ConfigError');
});

test('the content stream cut back behind the process (a secret’s newer value removed): the next open is refused as a rollback', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-lib');
  const [a] = await activatedDeployment(dir, ['A']);
  const d = await open(a!.file);
  const oldPut = rightOf(await d.encrypt('db/password', 'old'));
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(ledgerFile(dir), { readonly: true });
  const oldJwe = db.prepare('SELECT jwe FROM keyledger_content WHERE fingerprint = ?').pluck().get(oldPut.fingerprint) as string;
  db.close();
  rightOf(await d.encrypt('db/password', 'new'));
  rightOf(await d.close());
  // Whoever writes the store drops the newer SecretPut and puts the older ciphertext back: a consistent, older ledger.
  const { tamper } = await import('./support/tamper');
  t.is(tamper(ledgerFile(dir), 'DELETE FROM events WHERE stream_name = ? AND stream_revision = 1', CONTENT), 1);
  tamper(
    ledgerFile(dir),
    'INSERT INTO keyledger_content (deployment, name, fingerprint, jwe) VALUES (?, ?, ?, ?)',
    'default',
    'db/password',
    oldPut.fingerprint,
    oldJwe,
  );
  // An instance that never relied on the stream reads the older value (nothing tells it otherwise: ADR 0009, defence 4)…
  // …but this one remembers what it relied on.
  const again = await openDeployment({ config: a!.file, refreshMs: 0, crypto: pooledCrypto() });
  t.true(E.isLeft(again) && again.left._tag === 'LedgerRolledBack', JSON.stringify(again));
  if (E.isLeft(again)) t.regex(describeLibraryError(again.left), /rolled back: keyledger\.content-default/);
});

test('a long-running process keeps working across a restore on another member (the key it holds is the key restored)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-lib');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const file = path.join(dir, 'key.snk');
  t.is((await backup(a!, file)).code, 0);
  const d = await open(a!.file);
  try {
    rightOf(await d.encrypt('before', 'put-before-the-restore'));
    const restored = await restore(b!, file);
    t.is(restored.code, 0, restored.stdout + restored.stderr);
    // The process reads what it put before, and what the restored member puts after; the member reads what it puts after.
    t.is(rightOf(await d.decrypt('before')).text(), 'put-before-the-restore');
    t.is((await cliWith({ stdin: 'put-after-the-restore' }, '-c', b!.file, 'secret', 'put', 'after')).code, 0);
    t.is(rightOf(await d.decrypt('after')).text(), 'put-after-the-restore');
    rightOf(await d.encrypt('from-the-process', 'again'));
    t.is((await cliWith({}, '-c', b!.file, 'secret', 'get', 'from-the-process', '--reveal')).stdout, 'again');
    t.like(rightOf(await d.status()), { activated: true, keyVersion: 1, reason: null });
  } finally {
    rightOf(await d.close());
  }
});
