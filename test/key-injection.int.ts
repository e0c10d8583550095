/**
 * Issue 9: key injection. An attacker who can write the store wraps a key of
 * their choosing for every member's public key (the public keys are in the
 * ledger), sets the key check to it, and re-hashes the stream with the
 * documented algorithm: `verify` passes. Every member that held the real key
 * pinned its key check beside its keystore, so none activates with the planted
 * key, none sponsors a join with it — and the real key goes to no one new.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type DeploymentId, deploymentStream } from '../src/domain/ids';
import { joseCrypto } from '../src/infra/jose-crypto';
import { expectDiagnosed } from './support/diagnose';
import { rightOf, tempDir } from './support/fixtures';
import { activatedDeployment, deploymentEvents, joinArgs, ledgerFile, newNode } from './support/nodes';
import { rewriteAndRehash } from './support/tamper';

const DSTREAM = deploymentStream('default' as DeploymentId);

test('a key planted for every member (copies and key check rewritten, chain re-hashed): refused by every member that held the real key', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-inj');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const crypto = joseCrypto();
  const planted = crypto.createSymmetricKey();
  const events = await deploymentEvents(dir);
  const registered = new Map(
    events.flatMap((e) => (e.event.type === 'PublicKeyStored' ? [[e.event.data.installationId, e.event.data.publicKey] as const] : [])),
  );
  for (const e of events) {
    if (e.event.type !== 'SymmetricKeyCreated' && e.event.type !== 'SymmetricKeyWrapped') continue;
    const to = e.event.data.copy.installationId;
    const jwe = rightOf(await crypto.wrap(planted, registered.get(to)!)());
    rewriteAndRehash(ledgerFile(dir), DSTREAM, Number(e.revision), (d) => ({
      ...d,
      ...(e.event.type === 'SymmetricKeyCreated' ? { keyCheck: crypto.keyCheck(planted) } : {}),
      copy: { ...(d['copy'] as object), jwe },
    }));
  }
  t.is((await a!.run('verify')).code, 0, 'the re-hashed chain is intact: the hash chain alone does not catch this');

  // First layer: the members remember the deployment's head; a stream that differs there is a rollback.
  const remembered = await a!.run('start');
  t.is(remembered.code, 4);
  t.regex(remembered.stderr, /holds another event at \d+/);

  // Second layer, for members whose local state was lost (a new state folder): the key each pinned beside its keystore.
  for (const f of ['projections.db', 'projections.db-wal', 'projections.db-shm']) fs.rmSync(path.join(dir, '.keyledger', f), { force: true });
  for (const n of [a!, b!]) {
    const start = await n.run('--json', 'start');
    t.is(start.code, 1, start.stderr);
    const o = start.json<{ reason: { _tag: string; keyVersion: number }; remedy: { kind: string; sentence: string } }>();
    t.is(o.reason._tag, 'KeyNotThePinnedKey');
    t.is(o.remedy.kind, 'NotYetPossible');
    await expectDiagnosed(t, n, o);
    t.regex(o.remedy.sentence, /do not use it; restore the store from a backup/);
    t.regex((await n.run('status')).stdout, /rsCannotValidateEncryptedData: the ledger's symmetric key version 1 is not the key this instance held/);
  }

  // Nobody sponsors a newcomer with the planted key.
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  const join = await a!.run(...joinArgs(c));
  t.is(join.code, 5, join.stderr);
  t.regex(join.stderr, /cannot sponsor a join: the ledger's symmetric key version 1 is not the key this instance held/);
  t.deepEqual(
    (await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyWrapped' && e.event.data.copy.installationId === c.id),
    [],
  );
});

test("the pin is the key check of the first proof, kept beside the keystore, MAC'd: an edited pin is refused, not followed", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-inj');
  const [a] = await activatedDeployment(dir, ['A']);
  const pins = path.join(path.dirname(a!.keystore), 'pins.json');
  const content = JSON.parse(fs.readFileSync(pins, 'utf8')) as { pins: Record<string, { keyCheck: string; mac: string }> };
  t.deepEqual(Object.keys(content.pins), ['default#1']);
  t.is((fs.statSync(pins).mode & 0o777).toString(8), '600');
  content.pins['default#1']!.keyCheck = 'A'.repeat(43);
  fs.writeFileSync(pins, JSON.stringify(content), { mode: 0o600 });
  const start = await a!.run('start');
  t.is(start.code, 3, start.stdout);
  t.regex(start.stderr, /the pin of default key version 1 in .*pins\.json was edited/);
});
