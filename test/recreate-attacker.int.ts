/**
 * After `remove` + `recreate`, a removed member's private key — with the whole ledger and the content store in hand —
 * decrypts no current secret. Tested as the attacker would, with node:crypto alone: its keystore's private key
 * unwraps every copy in the ledger it can, and each key so recovered is tried on every ciphertext in the store.
 * `remove --rotate` (issue 13 item 2) removes and re-creates in one operation.
 */
import test from 'ava';
import { createDecipheriv } from 'node:crypto';
import * as fs from 'node:fs';
import { privateJwkOf } from '../src/infra/jose-crypto';
import { fileKeystore } from '../src/infra/file-keystore';
import { cliWith } from './support/cli-inproc';
import { rightOf, tempDir } from './support/fixtures';
import { activatedDeployment, deploymentEvents, ledgerFile, type TestNode } from './support/nodes';
import { unwrapWithNodeCrypto } from './support/secrets';

const privateJwk = async (n: TestNode): Promise<object> => {
  const cfg = JSON.parse(fs.readFileSync(n.file, 'utf8')) as { serviceIdentity: string };
  return privateJwkOf(rightOf(await fileKeystore(n.keystore).load({ installationId: n.id, serviceIdentity: cfg.serviceIdentity })()).privateKey);
};

/** Every symmetric key the private key unwraps from any copy in the deployment stream. */
const keysUnwrapped = async (dir: string, jwk: object): Promise<Buffer[]> => {
  const out: Buffer[] = [];
  for (const e of await deploymentEvents(dir)) {
    const ev = e.event;
    if (ev.type !== 'SymmetricKeyCreated' && ev.type !== 'SymmetricKeyWrapped') continue;
    try {
      out.push(unwrapWithNodeCrypto(ev.data.copy.jwe, jwk));
    } catch {
      // not wrapped for this key
    }
  }
  return out;
};

const ciphertexts = (dir: string): string[] => {
  const db = new (require('better-sqlite3') as typeof import('better-sqlite3'))(ledgerFile(dir), { readonly: true });
  try {
    return (db.prepare('SELECT jwe FROM keyledger_content').all() as Array<{ jwe: string }>).map((r) => r.jwe);
  } finally {
    db.close();
  }
};

const decrypts = (key: Buffer, jwe: string): boolean => {
  const [h = '', , iv = '', ct = '', tag = ''] = jwe.split('.');
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    d.setAAD(Buffer.from(h, 'ascii'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]);
    return true;
  } catch {
    return false;
  }
};

test('after remove --rotate, the removed member’s private key decrypts no current secret (ledger and content store in hand)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-recreate-attack');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  for (const i of [1, 2, 3]) t.is((await cliWith({ stdin: `value-${i}` }, '-c', a!.file, 'secret', 'put', `s${i}`)).code, 0);
  const jwk = await privateJwk(b!);

  // The control: before, B's key recovers the deployment key, which opens every ciphertext.
  const before = await keysUnwrapped(dir, jwk);
  t.true(before.length > 0);
  t.true(ciphertexts(dir).every((c) => before.some((k) => decrypts(k, c))));

  const r = await a!.run('--json', 'remove', b!.id, '--rotate');
  t.is(r.code, 0, r.stderr);
  const o = r.json<{ recorded: string[]; recreated: { wrappedFor: string[]; keyVersion: number } }>();
  t.deepEqual(o.recorded, ['InstanceRemoved', 'SymmetricKeyCreated', 'SecretsReencrypted', 'KeyVersionRetired', 'InstanceActivated']);
  t.deepEqual(o.recreated.wrappedFor, [a!.id], 'nothing wrapped for the removed member');
  // One audited operation: every event it recorded carries the same correlation ID.
  const all = await deploymentEvents(dir);
  const events = all.slice(all.findIndex((e) => e.event.type === 'InstanceRemoved'));
  t.deepEqual(
    events.map((e) => e.event.type),
    ['InstanceRemoved', 'SymmetricKeyCreated', 'KeyVersionRetired'],
  );
  t.is(new Set(events.map((e) => e.metadata.correlationId)).size, 1);

  const keys = await keysUnwrapped(dir, jwk);
  t.is(keys.length, before.length, 'it unwraps only the copies it held before its removal');
  const current = ciphertexts(dir);
  t.is(current.length, 3);
  for (const c of current)
    t.false(
      keys.some((k) => decrypts(k, c)),
      'no current ciphertext opens with a key it can unwrap',
    );
});

test('remove --rotate: the remaining member reads every secret; refused for this instance itself (usage, one line); plain remove re-creates nothing', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-recreate-attack');
  const [a, b, c] = await activatedDeployment(dir, ['A', 'B', 'C']);
  t.is((await cliWith({ stdin: 'value-2' }, '-c', a!.file, 'secret', 'put', 's2')).code, 0);
  const self = await a!.run('remove', a!.id, '--rotate');
  t.is(self.code, 2);
  t.is(self.stderr.trim().split('\n').length, 1, self.stderr);
  const plain = await a!.run('--json', 'remove', b!.id);
  t.is(plain.code, 0, plain.stderr);
  t.deepEqual(plain.json<{ recorded: string[] }>().recorded, ['InstanceRemoved']);
  // Without --rotate: status, list and the compliance findings warn that the removed member held the current key version.
  const warned = (await a!.run('--json', 'status')).json<{ findings: Array<{ kind: string; evidence: object; remedy: { text: string } }> }>();
  t.like(warned.findings[0], { kind: 'RemovedMemberHoldsKey', evidence: { installationId: b!.id, keyVersion: 1 } });
  t.regex(warned.findings[0]?.remedy.text ?? '', /keyledger recreate/);
  t.regex((await a!.run('status')).stdout, /finding {7}RemovedMemberHoldsKey/);
  t.regex((await a!.run('list')).stdout, new RegExp(`warning: removed member ${b!.id} .* key version 1 .*keyledger recreate`));
  const rotated = await a!.run('remove', c!.id, '--rotate');
  t.is(rotated.code, 0, rotated.stderr);
  t.regex(rotated.stdout, /re-created: symmetric key version 2 .* key version 1 retired/);
  // Re-created: no warning left (neither for B, removed before, nor for C).
  t.false((await a!.run('list')).stdout.includes('warning:'));
  t.deepEqual((await a!.run('--json', 'status')).json<{ findings: unknown[] }>().findings, []);
  t.is((await cliWith({}, '-c', a!.file, 'secret', 'get', 's2', '--reveal')).stdout, 'value-2');
});
