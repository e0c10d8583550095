/**
 * `keyledger recreate` (rskeymgmt -s; docs/adr/0014): a new key version wrapped for every active member, every
 * secret re-encrypted under it, the old version retired — through the CLI in process.
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import { runCli } from '../src/cli/main';
import { recreateKey } from '../src/commands/recreate';
import { type Prove, proverFor, putSecret, type SecretDeps } from '../src/commands/secrets';
import type { SecretName } from '../src/domain/events';
import { loadConfig } from '../src/infra/config';
import { contentCipher } from '../src/infra/content-cipher';
import { fileKeystore } from '../src/infra/file-keystore';
import { sha256Hex } from '../src/infra/sha256';
import { openSqliteContent } from '../src/infra/sqlite-content';
import { backup } from './support/backups';
import { cliWith } from './support/cli-inproc';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { pooledCrypto } from './support/pooled-crypto';
import { activatedDeployment, deploymentEvents, joinArgs, ledgerFile, newNode, type TestNode } from './support/nodes';

const put = (n: TestNode, name: string, value: string) => cliWith({ stdin: value }, '-c', n.file, 'secret', 'put', name);
const get = (n: TestNode, name: string) => cliWith({}, '-c', n.file, 'secret', 'get', name, '--reveal');

const contentRows = (dir: string): Array<{ name: string; fingerprint: string }> => {
  const db = new (require('better-sqlite3') as typeof import('better-sqlite3'))(ledgerFile(dir), { readonly: true });
  try {
    return db.prepare('SELECT name, fingerprint FROM keyledger_content ORDER BY name').all() as Array<{ name: string; fingerprint: string }>;
  } finally {
    db.close();
  }
};

interface RecreateJson {
  keyVersion: number;
  retiredVersion: number;
  created: boolean;
  wrappedFor: string[];
  stale: string[];
  reencrypted: number;
  recorded: string[];
}

test('recreate: version 2 wrapped for the active members, every secret re-encrypted and readable, version 1 retired; an offline member is stale until joined', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-recreate');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  // C is joined but was never started: not active when the key is re-created.
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  t.is((await a!.run(...joinArgs(c))).code, 0);
  const values = new Map([...Array(5).keys()].map((i) => [`app/secret-${i}`, `value ${i} ${'x'.repeat(i * 7)}`]));
  for (const [name, value] of values) t.is((await put(a!, name, value)).code, 0);

  const r = await a!.run('--json', 'recreate');
  t.is(r.code, 0, r.stderr);
  const o = r.json<RecreateJson>();
  t.like(o, { keyVersion: 2, retiredVersion: 1, created: true, reencrypted: 5 });
  t.deepEqual(new Set(o.wrappedFor), new Set([a!.id, b!.id]));
  t.deepEqual(o.stale, [c.id]);
  // The five secrets re-encrypted in one batch: one SecretsReencrypted, one signature.
  t.deepEqual(o.recorded, ['SymmetricKeyCreated', 'SymmetricKeyWrapped', 'SecretsReencrypted', 'KeyVersionRetired', 'InstanceActivated']);
  // The member that re-created stays activated: it proved the new version at once (no `start` needed).
  t.like(o, { thisInstance: { activated: true } });
  const status = await a!.run('status');
  t.is(status.code, 0, status.stdout);
  t.regex(status.stdout, /state\s+activated \(symmetric key version 2/);
  t.is(r.stdout.length > 0 && !r.stderr.includes('re-encrypting'), true, 'no progress bar when piped');

  // Every secret reads back under version 2, from the other active member too; only the new ciphertexts remain.
  for (const [name, value] of values) {
    const g = await get(b!, name);
    t.is(g.code, 0, g.stderr);
    t.is(g.stdout, value);
  }
  t.is(contentRows(dir).length, values.size);
  const list = await a!.run('--json', 'secret', 'list');
  t.true(list.json<Array<{ keyVersion: number }>>().every((s) => s.keyVersion === 2));
  const types = (await deploymentEvents(dir)).map((e) => e.event.type);
  t.is(types.at(-1), 'KeyVersionRetired');
  const verified = await a!.run('--json', 'verify', '--signatures');
  t.is(verified.code, 0, verified.stdout + verified.stderr);

  // The offline member: refused with StaleWrappedCopy, its remedy names join (on a member), then start.
  const stale = await c.run('--json', 'start');
  t.is(stale.code, 1);
  t.like(stale.json<{ reason: { _tag: string } }>(), { reason: { _tag: 'StaleWrappedCopy' } });
  t.regex((await c.run('start')).stdout, /keyledger join/);
  t.is((await a!.run(...joinArgs(c))).code, 0);
  t.is((await c.run('start')).code, 0);
  t.is((await get(c, 'app/secret-3')).stdout, values.get('app/secret-3') ?? '');

  // A second re-creation, from B: version 3; rskeymgmt -s is the same command.
  const again = await b!.run('--json', 'rskeymgmt', '-s');
  t.is(again.code, 0, again.stderr);
  t.like(again.json<RecreateJson>(), { keyVersion: 3, retiredVersion: 2, reencrypted: 5 });
  t.is((await get(a!, 'app/secret-0')).stdout, values.get('app/secret-0') ?? '');
});

test('recreate: refused on an instance that is not activated; a bar is drawn on a terminal', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-recreate');
  const [a] = await activatedDeployment(dir, ['A']);
  const w = await newNode(dir, 'W');
  t.is((await w.run('init')).code, 1);
  const refused = await w.run('recreate');
  t.is(refused.code, 1);
  t.is(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  t.is((await put(a!, 'one', 'v')).code, 0);
  // On a terminal (Io.isTTY): the bar on stderr; piped, none (the first test).
  let stderr = '';
  const code = await runCli(['-c', a!.file, 'recreate'], {
    stdout: () => undefined,
    stderr: (s) => (stderr += s),
    env: { KEYLEDGER_ACTOR: 'operator@test', KEYLEDGER_HOST: 'test-host' },
    isTTY: true,
    stdoutIsTTY: true,
    adapters: { crypto: () => pooledCrypto() },
  });
  t.is(code, 0, stderr);
  t.regex(stderr, /re-encrypting secrets \[#+\] 1\/1/);
  const help = await a!.run('recreate', '--help');
  t.regex(help.stdout, /rskeymgmt -s/);
  t.regex(help.stdout, /StaleWrappedCopy/);
});

test('recreate: a secret put under the old version by a put that raced it (seen when its retirement met a conflict) is re-encrypted before the retirement', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-recreate');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  for (const i of [1, 2]) t.is((await put(a!, `early-${i}`, `value ${i}`)).code, 0);
  const config = rightOf(loadConfig(a!.file)).instance;
  const store = openTestStore(ledgerFile(dir));
  const content = rightOf(openSqliteContent(ledgerFile(dir)));
  const deps = (pause?: (point: string) => Promise<void>): SecretDeps => ({
    store,
    crypto: pooledCrypto(),
    keystore: fileKeystore(config.keystorePath),
    ctx: aContext('recreate'),
    digest: sha256Hex,
    host: 'test-host',
    content,
    cipher: contentCipher(),
    ...(pause ? { pause } : {}),
  });
  try {
    let raced = false;
    const o = await recreateKey(
      deps(async (point) => {
        if (point !== 'recreate:after-batch' || raced) return;
        raced = true;
        // A put that decided on the deployment as it was before the new version: it encrypts under version 1.
        const real = proverFor(deps(), config);
        const stale: Prove = async (l) => {
          const p = await real(l);
          return E.isLeft(p) || !p.right.previous ? p : E.right({ ...p.right, key: p.right.previous.key, keyVersion: p.right.previous.keyVersion });
        };
        rightOf(await putSecret(deps(), config, 'late' as SecretName, Buffer.from('late value'), { prove: stale }));
        // …and the deployment stream moves on meanwhile (a backup), so the retirement meets a conflict and reads again.
        t.is((await backup(b!, `${dir}/key.snk`)).code, 0);
      }),
      config,
    );
    const done = rightOf(o);
    t.true(raced);
    t.like(done, { keyVersion: 2, retiredVersion: 1, reencrypted: 3 });
  } finally {
    content.close();
    await store.close();
  }
  const list = (await a!.run('--json', 'secret', 'list')).json<Array<{ name: string; keyVersion: number }>>();
  t.deepEqual(
    list.map((s) => [s.name, s.keyVersion]),
    [
      ['early-1', 2],
      ['early-2', 2],
      ['late', 2],
    ],
  );
  t.is((await get(b!, 'late')).stdout, 'late value');
  t.is((await deploymentEvents(dir)).filter((e) => e.event.type === 'KeyVersionRetired').length, 1);
});
