/**
 * Re-create over 10,000 secrets (docs/adr/0014): a progress bar on a terminal (Io.isTTY), none when piped; every
 * secret decrypts afterwards under the new version. Seeded fast: test/support/many-secrets.ts.
 */
import test from 'ava';
import { runCli } from '../../src/cli/main';
import { cliWith } from '../support/cli-inproc';
import { tempDir } from '../support/fixtures';
import { seedSecrets, secretName, secretValue } from '../support/many-secrets';
import { activatedDeployment, type TestNode } from '../support/nodes';
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

test('recreate over 10,000 secrets: a bar on a terminal, none piped; every secret decrypts under the new version', async (t) => {
  t.timeout(600_000);
  const dir = tempDir('kl-recreate-10k');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  let started = Date.now();
  await seedSecrets(a!, N);
  t.log(`seeded ${N} secrets in ${Date.now() - started} ms (content store + one batched append)`);

  started = Date.now();
  const tty = await onTerminal(a!, 'recreate');
  const ttyMs = Date.now() - started;
  t.is(tty.code, 0, tty.stderr);
  t.log(`recreate (terminal) over ${N} secrets: ${ttyMs} ms`);
  t.regex(tty.stderr, /re-encrypting secrets \[[#-]+\] \d+\/10000/);
  t.regex(tty.stderr, /re-encrypting secrets \[#+\] 10000\/10000/);
  t.regex(tty.stdout, /10000 secret\(s\) re-encrypted; key version 1 retired/);

  started = Date.now();
  const piped = await cliWith({}, '-c', a!.file, 'recreate');
  t.log(`recreate (piped) over ${N} secrets: ${Date.now() - started} ms`);
  t.is(piped.code, 0, piped.stderr);
  t.is(piped.stderr, '', 'no bar when piped');
  t.regex(piped.stdout, /10000 secret\(s\) re-encrypted; key version 2 retired/);

  const list = await cliWith({}, '-c', b!.file, '--json', 'secret', 'list');
  const secrets = list.json<Array<{ name: string; keyVersion: number }>>();
  t.is(secrets.length, N);
  t.true(secrets.every((s) => s.keyVersion === 3));
  for (const i of [0, 1, 4999, 9998, 9999]) {
    const g = await cliWith({}, '-c', b!.file, 'secret', 'get', secretName(i), '--reveal');
    t.is(g.stdout, secretValue(i), g.stderr);
  }
});
