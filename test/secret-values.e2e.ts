/**
 * A secret's value never reaches the ledger's events, the operations log, the local state, an error or any
 * CLI output — except `secret get` to a terminal or with --reveal (issue 12). After every secret command and
 * its failure paths (in process, and through the library API), each value, raw and in every encoding
 * (test/support/secrets.ts), is searched for in every file of the state folder (the ledger with its -wal,
 * where the ciphertexts also live) and in every output but the revealed ones.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { openDeployment } from '../src/library';
import { cliWith, type InProcResult } from './support/cli-inproc';
import { tempDir } from './support/fixtures';
import { activatedDeployment, ledgerFile, newNode } from './support/nodes';
import { pooledCrypto } from './support/pooled-crypto';
import { encodings } from './support/secrets';
import { tamper } from './support/tamper';

test('no secret value in the ledger, the log, the local state, errors or output (but a revealed get)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-values');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const values = Array.from({ length: 4 }, (_, i) => `secret-${i}-${randomBytes(18).toString('base64url')}`);
  const outputs: Array<{ what: string; r: InProcResult }> = [];
  const run = async (what: string, options: Parameters<typeof cliWith>[0], ...args: string[]): Promise<InProcResult> => {
    const r = await cliWith(options, ...args);
    outputs.push({ what, r });
    return r;
  };
  t.is((await run('put', { stdin: values[0]! }, '-c', a!.file, 'secret', 'put', 's0')).code, 0);
  t.is((await run('put --json', { stdin: values[1]! }, '-c', a!.file, '--json', 'secret', 'put', 's1')).code, 0);
  t.is((await run('replace', { stdin: values[2]! }, '-c', b!.file, 'secret', 'put', 's0')).code, 0);
  const file = path.join(dir, 'v3.txt');
  fs.writeFileSync(file, values[3]!);
  t.is((await run('put --file', {}, '-c', a!.file, 'secret', 'put', 's3', '--file', file)).code, 0);
  fs.rmSync(file);

  const revealed = [
    await cliWith({}, '-c', b!.file, 'secret', 'get', 's0', '--reveal'),
    await cliWith({ stdoutIsTTY: true }, '-c', a!.file, 'secret', 'get', 's1'),
    await cliWith({}, '-c', a!.file, '--json', 'secret', 'get', 's3', '--reveal'),
  ];
  t.is(revealed[0]!.stdout, values[2]!);
  t.is(revealed[1]!.stdout, `${values[1]}\n`);
  t.is(JSON.parse(revealed[2]!.stdout).value, values[3]);

  await run('list', {}, '-c', a!.file, 'secret', 'list');
  await run('list --json', {}, '-c', a!.file, '--json', 'secret', 'list');
  t.is((await run('get to a pipe', {}, '-c', a!.file, 'secret', 'get', 's0')).code, 2);
  t.is((await run('get missing', {}, '-c', a!.file, 'secret', 'get', 'nope', '--reveal')).code, 5);
  t.is((await run('value as argument', {}, '-c', a!.file, 'secret', 'put', 'x', values[0]!)).code, 2);
  const c = await newNode(dir, 'C');
  await c.run('init');
  t.is((await run('put by a newcomer', { stdin: values[0]! }, '-c', c.file, 'secret', 'put', 'x')).code, 1);
  t.is((await run('get by a newcomer', {}, '-c', c.file, 'secret', 'get', 's0', '--reveal')).code, 1);

  // Through the library: the value object, the status, the errors.
  const d = await openDeployment({ config: a!.file, refreshMs: 0, crypto: pooledCrypto() });
  if (E.isLeft(d)) return t.fail(JSON.stringify(d.left));
  const library: string[] = [];
  const v = await d.right.decrypt('s1');
  if (E.isLeft(v)) return t.fail();
  t.is(v.right.text(), values[1]!);
  library.push(JSON.stringify(v.right), String(v.right), JSON.stringify(await d.right.status()), JSON.stringify(await d.right.encrypt('s1', values[1]!)));

  // A swapped ciphertext: the error names the secret, not its value.
  tamper(ledgerFile(dir), "UPDATE keyledger_content SET jwe = (SELECT jwe FROM keyledger_content WHERE name = 's3') WHERE name = 's0'");
  t.is((await run('tampered', {}, '-c', a!.file, 'secret', 'get', 's0', '--reveal')).code, 4);
  library.push(JSON.stringify(await d.right.decrypt('s0')));
  t.true(E.isRight(await d.right.close()));
  await run('verify', {}, '-c', a!.file, 'verify', '--signatures');

  const stateDir = path.join(dir, '.keyledger');
  const haystacks = [
    ...fs
      .readdirSync(stateDir)
      .map((f) => path.join(stateDir, f))
      .filter((f) => fs.statSync(f).isFile())
      .map((f) => ({ where: f, bytes: fs.readFileSync(f) })),
    ...outputs.map(({ what, r }) => ({ where: `output of ${what}`, bytes: Buffer.from(r.stdout + r.stderr) })),
    ...library.map((s, i) => ({ where: `library output #${i}`, bytes: Buffer.from(s) })),
  ];
  t.true(haystacks.some((h) => h.where.endsWith('ledger.db')));
  t.true(haystacks.some((h) => h.where.endsWith('keyledger.log')));
  let scanned = 0;
  for (const value of values) {
    const bytes = Buffer.from(value);
    for (const h of haystacks) {
      scanned++;
      t.is(h.bytes.indexOf(bytes), -1, `a value found in ${h.where}`);
      const text = h.bytes.toString('latin1');
      for (const enc of encodings(bytes)) t.false(text.includes(enc), `a value found encoded in ${h.where}`);
    }
  }
  t.true(scanned >= values.length * 15, `scanned ${scanned} (value, place) pairs`);
});
