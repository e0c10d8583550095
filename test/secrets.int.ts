/**
 * `keyledger secret put | get | list | delete` (issue 12), through the CLI in process: what a member may do,
 * what an instance that is not activated may not, and an attack for each trust decision — whoever can write the
 * store (the content table, the events) but holds no keystore never gets a wrong value out, only a refusal.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { type Prove, putSecret, type SecretDeps, secretAggregates } from '../src/commands/secrets';
import { contentStream, type DeploymentId, type KeyVersion } from '../src/domain/ids';
import type { SecretName } from '../src/domain/events';
import { loadConfig } from '../src/infra/config';
import { contentCipher } from '../src/infra/content-cipher';
import { fileKeystore } from '../src/infra/file-keystore';
import { sha256Hex } from '../src/infra/sha256';
import { openSqliteContent } from '../src/infra/sqlite-content';
import { cliWith } from './support/cli-inproc';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { activatedDeployment, ledgerFile, newNode, type TestNode, withLedger } from './support/nodes';
import { pooledCrypto } from './support/pooled-crypto';
import { rewriteAndRehash, tamper } from './support/tamper';

const CONTENT = contentStream('default' as DeploymentId);

const put = (n: TestNode, name: string, value: string, ...extra: string[]) => cliWith({ stdin: value }, '-c', n.file, ...extra, 'secret', 'put', name);
const get = (n: TestNode, name: string) => cliWith({}, '-c', n.file, 'secret', 'get', name, '--reveal');

const contentRows = (dir: string): Array<{ name: string; fingerprint: string; jwe: string }> => {
  const db = new (require('better-sqlite3') as typeof import('better-sqlite3'))(ledgerFile(dir), { readonly: true });
  try {
    return db.prepare('SELECT name, fingerprint, jwe FROM keyledger_content ORDER BY name').all() as Array<{ name: string; fingerprint: string; jwe: string }>;
  } finally {
    db.close();
  }
};

test('a member puts, gets, lists and deletes; another member reads it; every get is recorded; the ledger holds no value', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-secret');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const value = 'Data Source=sql1;User ID=rs;Password=s3cr3t-Pa55!';
  const p = await put(a!, 'reportserver/datasource/sales', value, '--json');
  t.is(p.code, 0, p.stderr);
  const put1 = p.json<{ name: string; keyVersion: number; fingerprint: string; previousFingerprint: null; recorded: string[] }>();
  t.like(put1, { name: 'reportserver/datasource/sales', keyVersion: 1, previousFingerprint: null, recorded: ['SecretPut'] });

  const fromB = await get(b!, 'reportserver/datasource/sales');
  t.is(fromB.code, 0, fromB.stderr);
  t.is(fromB.stdout, value, 'exactly the bytes put, read by another member');

  // A new value supersedes the old ciphertext: one row left.
  t.is((await put(b!, 'reportserver/datasource/sales', 'v2')).code, 0);
  t.is((await get(a!, 'reportserver/datasource/sales')).stdout, 'v2');
  t.is(contentRows(dir).length, 1);

  const list = await cliWith({}, '-c', a!.file, '--json', 'secret', 'list');
  t.is(list.code, 0, list.stderr);
  t.like(list.json<unknown[]>()[0], { name: 'reportserver/datasource/sales', keyVersion: 1, reads: 2, putByActor: 'operator@test', putBy: b!.id });
  const verified = await a!.run('--json', 'verify', '--signatures');
  t.is(verified.code, 0, verified.stdout);
  const human = await cliWith({}, '-c', a!.file, 'secret', 'list');
  t.regex(human.stdout, /reportserver\/datasource\/sales\s+v1/);

  const del = await cliWith({}, '-c', a!.file, '--json', 'secret', 'delete', 'reportserver/datasource/sales');
  t.is(del.code, 0, del.stderr);
  t.deepEqual(contentRows(dir), []);
  const gone = await get(a!, 'reportserver/datasource/sales');
  t.is(gone.code, 5);
  t.regex(gone.stderr, /^keyledger: there is no secret named "reportserver\/datasource\/sales"/);

  await withLedger(dir, async (read) => {
    const events = await read(CONTENT);
    t.deepEqual(
      events.map((e) => e.event.type),
      ['SecretPut', 'SecretRead', 'SecretPut', 'SecretRead', 'SecretDeleted'],
    );
    t.true(
      events.every((e) => e.metadata.sig !== undefined),
      'every content event is signed by the member',
    );
    t.false(JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)).includes('s3cr3t'));
    const deployment = await read('keyledger.deployment-default');
    t.false(
      deployment.some((e) => e.event.type.startsWith('Secret')),
      'secret events never go to the deployment stream',
    );
  });
});

test('values come from stdin or --file, never an argument; get prints only to a terminal or with --reveal', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-secret');
  const [a] = await activatedDeployment(dir, ['A']);
  const asArgument = await cliWith({ stdin: '' }, '-c', a!.file, 'secret', 'put', 'x', 'the-value');
  t.is(asArgument.code, 2, 'an extra argument is a usage error');
  t.false(asArgument.stderr.includes('the-value'), 'and is not echoed');
  const empty = await cliWith({ stdin: '' }, '-c', a!.file, 'secret', 'put', 'x');
  t.is(empty.code, 2);
  t.regex(empty.stderr, /the value is empty/);
  const file = path.join(dir, 'value.txt');
  fs.writeFileSync(file, 'from-a-file');
  t.is((await cliWith({}, '-c', a!.file, 'secret', 'put', 'x', '--file', file)).code, 0);
  const pipe = await cliWith({}, '-c', a!.file, 'secret', 'get', 'x');
  t.is(pipe.code, 2);
  t.is(pipe.stdout, '');
  t.regex(pipe.stderr, /--reveal/);
  const tty = await cliWith({ stdoutIsTTY: true }, '-c', a!.file, 'secret', 'get', 'x');
  t.is(tty.stdout, 'from-a-file\n');
  const bad = await cliWith({ stdin: 'v' }, '-c', a!.file, 'secret', 'put', 'line\nbreak');
  t.is(bad.code, 2);
  t.false(bad.stderr.includes('line\nbreak'));
  t.is((await cliWith({ stdin: Buffer.from([0xff, 0xfe]) }, '-c', a!.file, 'secret', 'put', 'bin')).code, 2, 'not UTF-8');
  const large = await cliWith({ stdin: 'x'.repeat(64 * 1024 + 1) }, '-c', a!.file, 'secret', 'put', 'large');
  t.is(large.code, 2);
  t.regex(large.stderr, /at most 65536/);
  const help = await cliWith({}, 'secret', '--help');
  t.regex(help.stdout, /never from an argument/);
});

test('an instance that is not activated (waiting to join, removed) cannot put or get: SecretsNotActivated, exit 1', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-secret');
  const [a] = await activatedDeployment(dir, ['A']);
  t.is((await put(a!, 'shared', 'v')).code, 0);
  const b = await newNode(dir, 'B');
  t.is((await b.run('init')).code, 1);
  const waiting = await put(b, 'shared', 'from-b');
  t.is(waiting.code, 1, waiting.stderr);
  t.regex(waiting.stderr, /cannot use the deployment key/);
  t.is((await get(b, 'shared')).code, 1);
  const c = (await activatedDeployment(tempDir('kl-secret'), ['C']))[0]!;
  t.is((await put(c, 'x', 'v')).code, 0);
  // Removed with --force (the last member): its next put and get are refused.
  t.is((await c.run('remove', c.id, '--force')).code, 0);
  const removed = await get(c, 'x');
  t.is(removed.code, 1, removed.stderr);
  await withLedger(dir, async (read) => t.is((await read(CONTENT)).filter((e) => e.event.type === 'SecretPut').length, 1, 'nothing from B'));
});

test('attacks on the content table: a row edited, deleted, or swapped between two secrets — refused (exit 4), never a wrong value', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-secret');
  const [a] = await activatedDeployment(dir, ['A']);
  for (const n of ['edited', 'deleted', 'swap-1', 'swap-2']) t.is((await put(a!, n, `value of ${n}`)).code, 0);
  const rows = Object.fromEntries(contentRows(dir).map((r) => [r.name, r]));
  const file = ledgerFile(dir);

  const flipped = rows['edited']!.jwe.replace(/\.([A-Za-z0-9_-])/, (_m, c: string) => `.${c === 'A' ? 'B' : 'A'}`);
  tamper(file, 'UPDATE keyledger_content SET jwe = ? WHERE name = ?', flipped, 'edited');
  const edited = await get(a!, 'edited');
  t.is(edited.code, 4);
  t.regex(edited.stderr, /not the one the ledger recorded/);

  tamper(file, 'DELETE FROM keyledger_content WHERE name = ?', 'deleted');
  t.regex((await get(a!, 'deleted')).stderr, /not in the content store/);

  // Swapped: each row holds the other's ciphertext (and fingerprint column).
  const [s1, s2] = [rows['swap-1']!, rows['swap-2']!];
  tamper(file, 'UPDATE keyledger_content SET jwe = ?, fingerprint = ? WHERE name = ?', s2.jwe, s1.fingerprint, 'swap-1');
  const swapped = await get(a!, 'swap-1');
  t.is(swapped.code, 4);
  t.is(swapped.stdout, '');
  t.false(swapped.stderr.includes('value of'));

  // The swapped row with the fingerprint the ledger recorded for it: its own header still says swap-2 (cipher test: BoundElsewhere).
  t.is((await get(a!, 'swap-2')).stdout, 'value of swap-2', 'the untouched secret still reads');
});

test('attacks on the content stream: a fingerprint edited (chain broken: exit 4), edited and re-hashed (signature: exit 4)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-secret');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  t.is((await put(a!, 'one', 'first')).code, 0);
  t.is((await put(a!, 'two', 'second')).code, 0);
  const rows = Object.fromEntries(contentRows(dir).map((r) => [r.name, r]));
  const file = ledgerFile(dir);
  // The attacker points secret one at secret two's ciphertext, and re-hashes the chain.
  rewriteAndRehash(file, CONTENT, 0, (d) => ({ ...d, fingerprint: rows['two']!.fingerprint }));
  tamper(
    file,
    'INSERT INTO keyledger_content (deployment, name, fingerprint, jwe) VALUES (?, ?, ?, ?)',
    'default',
    'one',
    rows['two']!.fingerprint,
    rows['two']!.jwe,
  );
  // A relied on the content stream as it was: the rewrite is a rollback to it (ADR 0009, defence 4).
  const remembered = await get(a!, 'one');
  t.is(remembered.code, 4);
  t.regex(remembered.stderr, /rolled back: keyledger\.content-default/);
  // B never read the content stream: the signature, which covers the predecessor's hash and the fingerprint, refuses it.
  const rehashed = await get(b!, 'one');
  t.is(rehashed.code, 4, rehashed.stderr);
  t.regex(rehashed.stderr, /signature of the event that recorded its value does not verify/);
  t.false(rehashed.stdout.includes('second'));
  // verify: the chain is intact (re-hashed), the signatures are not.
  const v = await b!.run('verify', '--signatures');
  t.is(v.code, 4, v.stdout);
  t.regex(v.stdout + v.stderr, /keyledger\.content-default@0/);

  // Edited without re-hashing: the chain check refuses the whole stream.
  tamper(file, "UPDATE events SET data = json_set(data, '$.fingerprint', ?) WHERE stream_name = ? AND stream_revision = 1", rows['one']!.fingerprint, CONTENT);
  const edited = await get(b!, 'two');
  t.is(edited.code, 4);
  t.regex(edited.stderr, /invalid event at keyledger\.content-default@1/);
});

test('a secret under another key version than the one held: SecretKeyVersion (exit 3), nothing decrypted', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-secret');
  const [a] = await activatedDeployment(dir, ['A']);
  const config = rightOf(loadConfig(a!.file));
  const store = openTestStore(ledgerFile(dir));
  const content = rightOf(openSqliteContent(ledgerFile(dir)));
  try {
    const deps: SecretDeps = {
      store,
      crypto: pooledCrypto(),
      keystore: fileKeystore(config.instance.keystorePath),
      ctx: aContext('test'),
      digest: sha256Hex,
      host: 'test-host',
      content,
      cipher: contentCipher(),
    };
    // A member signs a SecretPut under key version 2 (as after a re-created key this instance does not hold).
    const { proverFor } = await import('../src/commands/secrets');
    const real = proverFor(deps, config.instance);
    const v2: Prove = async (l) => {
      const p = await real(l);
      return E.isLeft(p) ? p : E.right({ ...p.right, keyVersion: 2 as KeyVersion });
    };
    rightOf(await putSecret(deps, config.instance, 'future' as SecretName, Buffer.from('v'), { prove: v2 }));
    t.truthy(secretAggregates);
  } finally {
    content.close();
    await store.close();
  }
  const r = await get(a!, 'future');
  t.is(r.code, 3, r.stderr);
  t.regex(r.stderr, /encrypted under key version 2, and this instance holds version 1/);
});

test('two puts of one secret race (one held before its append): the later append wins, its value reads, no current ciphertext is removed', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-secret');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  t.is((await put(a!, 'raced', 'v0')).code, 0);
  const gate = path.join(dir, 'gate');
  const held = cliWith(
    { stdin: 'from-A', env: { KEYLEDGER_PAUSE_AT: 'secret-put:before-append:SecretPut', KEYLEDGER_PAUSE_FILE: gate } },
    '-c',
    a!.file,
    'secret',
    'put',
    'raced',
  );
  for (let i = 0; i < 6000 && !fs.existsSync(`${gate}.reached`); i++) await new Promise((r) => setTimeout(r, 5));
  t.true(fs.existsSync(`${gate}.reached`), 'A is held before its append');
  t.is((await put(b!, 'raced', 'from-B')).code, 0);
  fs.writeFileSync(gate, 'go');
  const r = await held;
  t.is(r.code, 0, r.stderr);
  t.is((await get(b!, 'raced')).stdout, 'from-A', 'A met the conflict, decided again on B’s value, and superseded it');
  await withLedger(dir, async (read) => {
    const puts = (await read(CONTENT)).filter((e) => e.event.type === 'SecretPut');
    t.is(puts.length, 3);
    const last = puts[2]!.event;
    if (last.type !== 'SecretPut') return t.fail();
    t.is(last.data.previousFingerprint as string | null, (puts[1]!.event.data as { fingerprint: string }).fingerprint, 'A superseded B’s value, not v0');
  });
});
