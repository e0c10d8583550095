/**
 * Key material never leaves the keystore in plain text. After a full run of
 * the real CLI (two instances, init, start, status, list, verify, refusals),
 * the private keys and the plain symmetric key — recovered here independently
 * with node:crypto — appear in no byte of the ledger file (and its WAL), the
 * projection file, the operations log, or any command's output.
 */
import test from 'ava';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileKeystore } from '../../src/infra/file-keystore';
import { privateJwkOf } from '../../src/infra/jose-crypto';
import { keyledger, type CliResult } from '../support/cli';
import { openTestStore, rightOf, tempDir } from '../support/fixtures';
import { eventsOf } from '../support/ledger-reader';
import { encodings, unwrapWithNodeCrypto } from '../support/secrets';
import { deploymentStream, type InstallationId } from '../../src/domain/ids';

test('no private key and no plain symmetric key in the ledger, the logs or any output', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-secrets');
  const outputs: CliResult[] = [];
  const run = async (...args: string[]): Promise<CliResult> => {
    const r = await keyledger(dir, ...args);
    outputs.push(r);
    return r;
  };
  for (const n of ['A', 'B']) t.is((await run('-c', `${n}.json`, 'config', 'new', '--instance', n)).code, 0);
  t.is((await run('-c', 'A.json', 'init')).code, 0);
  t.is((await run('-c', 'A.json', '--json', 'init')).code, 0);
  t.is((await run('-c', 'B.json', 'init')).code, 1);
  t.is((await run('-c', 'A.json', 'start')).code, 0);
  t.is((await run('-c', 'A.json', '--json', 'start')).code, 0);
  for (const n of ['A', 'B']) {
    await run('-c', `${n}.json`, 'status');
    await run('-c', `${n}.json`, '--json', 'status');
  }
  await run('-c', 'A.json', 'list');
  await run('-c', 'A.json', '--json', 'list');
  await run('-c', 'A.json', '--json', 'verify');
  await run('-c', 'A.json', 'config', 'check');
  // A refused start too (identity changed), so refusal paths are covered.
  const a = JSON.parse(fs.readFileSync(path.join(dir, 'A.json'), 'utf8')) as { installationId: InstallationId; serviceIdentity: string; keystore: string };
  fs.writeFileSync(path.join(dir, 'A2.json'), JSON.stringify({ ...a, serviceIdentity: 'someone-else' }));
  t.is((await run('-c', 'A2.json', 'start')).code, 1);

  // The secrets, recovered from the keystores and the ledger.
  const secrets: Array<{ what: string; bytes: Buffer }> = [];
  const privateJwks: Record<string, object> = {};
  for (const n of ['A', 'B']) {
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, `${n}.json`), 'utf8')) as {
      installationId: InstallationId;
      serviceIdentity: string;
      keystore: string;
    };
    const kp = rightOf(
      await fileKeystore(path.resolve(dir, cfg.keystore)).load({ installationId: cfg.installationId, serviceIdentity: cfg.serviceIdentity })(),
    );
    const jwk = privateJwkOf(kp.privateKey) as Record<string, string>;
    privateJwks[n] = jwk;
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) secrets.push({ what: `${n}'s private ${m}`, bytes: Buffer.from(jwk[m]!, 'base64url') });
  }
  const store = openTestStore(path.join(dir, '.keyledger', 'ledger.db'));
  const created = (await eventsOf(store, deploymentStream('default' as never))).find((e) => e.event.type === 'SymmetricKeyCreated')!.event;
  await store.close();
  t.is(created.type, 'SymmetricKeyCreated');
  if (created.type !== 'SymmetricKeyCreated') return;
  const symmetric = unwrapWithNodeCrypto(created.data.copy.jwe, privateJwks['A']!);
  t.is(symmetric.length, 32);
  t.is(createHmac('sha256', symmetric).update('keyledger/key-check/v1').digest('base64url'), created.data.keyCheck, 'the key recovered is the deployment key');
  secrets.push({ what: 'the symmetric key', bytes: symmetric });

  // Everything an attacker or a log shipper could read.
  const stateDir = path.join(dir, '.keyledger');
  const files = fs
    .readdirSync(stateDir)
    .filter((f) => !fs.statSync(path.join(stateDir, f)).isDirectory())
    .map((f) => path.join(stateDir, f));
  t.true(files.some((f) => f.endsWith('ledger.db')));
  t.true(files.some((f) => f.endsWith('keyledger.log')));
  const haystacks: Array<{ where: string; bytes: Buffer }> = [
    ...files.map((f) => ({ where: f, bytes: fs.readFileSync(f) })),
    ...outputs.map((o, i) => ({ where: `output #${i}`, bytes: Buffer.from(o.stdout + o.stderr) })),
  ];
  const keystoreFiles = ['A', 'B'].map((n) => {
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, `${n}.json`), 'utf8')) as { keystore: string };
    return path.resolve(dir, cfg.keystore);
  });
  haystacks.push(...keystoreFiles.map((f) => ({ where: f, bytes: fs.readFileSync(f) })));

  let scanned = 0;
  for (const s of secrets) {
    for (const h of haystacks) {
      scanned++;
      t.is(h.bytes.indexOf(s.bytes), -1, `${s.what} (raw) found in ${h.where}`);
      const text = h.bytes.toString('latin1');
      for (const enc of encodings(s.bytes)) t.false(text.includes(enc), `${s.what} found encoded in ${h.where}`);
    }
  }
  t.true(scanned >= secrets.length * 10, `scanned ${scanned} (secret, place) pairs`);
});
