/**
 * Delete the encrypted content over 10,000 secrets (docs/adr/0015): a progress bar on a terminal (Io.isTTY), none when
 * piped; batches of 1,000 (one signed SecretsDestroyed each, each secret named with its fingerprint); no ciphertext
 * left; the deployment initialized afresh. Seeded fast: test/support/many-secrets.ts.
 */
import test from 'ava';
import Database from 'better-sqlite3';
import { runCli } from '../../src/cli/main';
import { cliWith } from '../support/cli-inproc';
import { openTestStore, tempDir } from '../support/fixtures';
import { eventsOf } from '../support/ledger-reader';
import { seedSecrets } from '../support/many-secrets';
import { activatedDeployment, ledgerFile, type TestNode } from '../support/nodes';
import { pooledCrypto } from '../support/pooled-crypto';

const N = 10_000;

const onTerminal = async (n: TestNode, ...args: string[]) => {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['-c', n.file, ...args], {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { KEYLEDGER_ACTOR: 'operator@test', KEYLEDGER_HOST: 'test-host' },
    isTTY: true,
    stdoutIsTTY: true,
    adapters: { crypto: () => pooledCrypto() },
  });
  return { code, stdout, stderr };
};

test('delete-content over 10,000 secrets: a bar on a terminal, none piped; ten signed batches; nothing left; init afresh', async (t) => {
  t.timeout(600_000);
  const dir = tempDir('kl-delete-10k');
  const [a] = await activatedDeployment(dir, ['A', 'B']);
  let started = Date.now();
  await seedSecrets(a!, N);
  t.log(`seeded ${N} secrets in ${Date.now() - started} ms (content store + one batched append)`);

  const dry = await cliWith({}, '-c', a!.file, '--json', 'delete-content');
  t.is(dry.code, 2);
  t.is(dry.json<{ names: string[] }>().names.length, N);

  started = Date.now();
  const tty = await onTerminal(a!, 'delete-content', '--confirm', 'default');
  t.is(tty.code, 0, tty.stderr);
  t.log(`delete-content (terminal) over ${N} secrets: ${Date.now() - started} ms`);
  t.regex(tty.stderr, /destroying secrets \[[#-]+\] \d+\/10000/);
  t.regex(tty.stderr, /destroying secrets \[#+\] 10000\/10000/);
  t.regex(tty.stdout, /10000 secret\(s\) destroyed, key version 1 destroyed/);

  const store = openTestStore(ledgerFile(dir));
  const batches = (await eventsOf(store, 'keyledger.content-default')).filter((e) => e.event.type === 'SecretsDestroyed');
  await store.close();
  t.is(batches.length, 10);
  t.is(
    batches.reduce((n, e) => n + (e.event.type === 'SecretsDestroyed' ? e.event.data.secrets.length : 0), 0),
    N,
  );
  const db = new Database(ledgerFile(dir), { readonly: true });
  t.is(db.prepare('SELECT count(*) FROM keyledger_content').pluck().get(), 0);
  db.close();

  // Initialized afresh, then the content of version 2 (one secret) deleted again, piped: no bar.
  t.is((await a!.run('init')).code, 0);
  t.is((await cliWith({ stdin: 'v' }, '-c', a!.file, 'secret', 'put', 'one')).code, 0);
  const piped = await cliWith({}, '-c', a!.file, 'delete-content', '--confirm', 'default');
  t.is(piped.code, 0, piped.stderr);
  t.is(piped.stderr, '', 'no bar when piped');
  t.regex(piped.stdout, /1 secret\(s\) destroyed, key version 2 destroyed/);
});
