/**
 * `keyledger recreate` on an EventStoreDB ledger (issue 13, docs/adr/0014), against the wire-level double (what it
 * proves and what it does not: test/support/esdb-double/index.ts): the content store there is one stream per secret,
 * written a batch at a time by concurrent single-stream appends. A re-creation stopped mid-way (in process, at a named
 * point) leaves every secret readable (on the member that did not run it); a rerun through the CLI finishes it: every
 * secret decrypts under the new version on both members, the superseded ciphertexts are no longer read, and the old
 * version is retired.
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import { deploymentAggregate } from '../../src/commands/instance';
import { loadAggregate } from '../../src/commands/handler';
import { recreateKey } from '../../src/commands/recreate';
import type { SecretDeps } from '../../src/commands/secrets';
import type { Fingerprint } from '../../src/domain/events';
import { contentStream, type DeploymentId, deploymentStream } from '../../src/domain/ids';
import { loadConfig } from '../../src/infra/config';
import { contentCipher } from '../../src/infra/content-cipher';
import { openEsdbStore } from '../../src/infra/esdb-store';
import { eventStoreContent } from '../../src/infra/eventstore-content';
import { fileKeystore } from '../../src/infra/file-keystore';
import { sha256Hex } from '../../src/infra/sha256';
import { cliWith } from '../support/cli-inproc';
import { SimulatedCrash } from '../support/crashing-store';
import { startEsdbDouble } from '../support/esdb-double';
import { aContext, rightOf, tempDir } from '../support/fixtures';
import { eventsOf } from '../support/ledger-reader';
import { joinArgs, newNode, type TestNode } from '../support/nodes';
import { pooledCrypto } from '../support/pooled-crypto';

const DEP = 'default' as DeploymentId;
const SECRETS = new Map([...Array(5).keys()].map((i) => [`ds/source-${i}`, `Data Source=sql-${i};Password=p${i}-${'x'.repeat(i * 5)}`]));
const reveal = async (n: TestNode, name: string): Promise<string> => (await cliWith({}, '-c', n.file, 'secret', 'get', name, '--reveal')).stdout;
const listed = async (n: TestNode) =>
  (await cliWith({}, '-c', n.file, '--json', 'secret', 'list')).json<Array<{ name: string; keyVersion: number; fingerprint: string }>>();

/** Two activated members on the double's ledger, five secrets put by the first. */
const deploymentOnEsdb = async (connection: string): Promise<[TestNode, TestNode]> => {
  const dir = tempDir('kl-esdb-recreate');
  const e1 = await newNode(dir, 'E1', ['--ledger', connection, '--allow-insecure-store']);
  const e2 = await newNode(dir, 'E2', ['--ledger', connection, '--allow-insecure-store']);
  if ((await e1.run('init')).code !== 0 || (await e2.run('init')).code !== 1) throw new Error('init');
  if ((await e1.run(...joinArgs(e2))).code !== 0 || (await e2.run('start')).code !== 0) throw new Error('join');
  for (const [name, value] of SECRETS) if ((await cliWith({ stdin: value }, '-c', e1.file, 'secret', 'put', name)).code !== 0) throw new Error(`put ${name}`);
  return [e1, e2];
};

/** The first member's re-creation, in process over the EventStoreDB adapters, in batches of 2, stopped the `nth` time it reaches `point`. */
const recreateStoppedAt = async (connection: string, n: TestNode, point: string, nth: number): Promise<unknown> => {
  const config = rightOf(loadConfig(n.file)).instance;
  const store = rightOf(openEsdbStore(connection));
  let reached = 0;
  const deps: SecretDeps = {
    store,
    crypto: pooledCrypto(),
    keystore: fileKeystore(config.keystorePath),
    ctx: aContext('recreate'),
    digest: sha256Hex,
    host: 'test-host',
    content: eventStoreContent(store),
    cipher: contentCipher(),
    pause: async (p) => {
      if (p === point && ++reached === nth) throw new SimulatedCrash(reached, 'after');
    },
  };
  try {
    return await recreateKey(deps, config, { batch: 2 });
  } catch (e) {
    return e;
  } finally {
    await store.close();
  }
};

test('recreate on EventStoreDB: stopped twice mid-way (ciphertexts written, then a batch recorded), every secret reads; the rerun finishes it', async (t) => {
  t.timeout(120_000);
  const d = await startEsdbDouble({ batchAppend: true });
  try {
    const connection = `esdb://127.0.0.1:${d.port}?tls=false`;
    const [e1, e2] = await deploymentOnEsdb(connection);
    const before = new Map((await listed(e1)).map((s) => [s.name, s.fingerprint as Fingerprint]));
    const midway = async (under2: number, label: string): Promise<void> => {
      const mid = await listed(e2);
      t.is(mid.filter((s) => s.keyVersion === 2).length, under2, label);
      t.is(mid.filter((s) => s.keyVersion === 1).length, SECRETS.size - under2, label);
      for (const [name, value] of SECRETS) t.is(await reveal(e2, name), value, `${label}: ${name} on ${e2.name}`);
    };

    // Stopped once its second batch's new ciphertexts are written but not recorded (the first batch is recorded)…
    const first = await recreateStoppedAt(connection, e1, 'recreate:after-content-written', 2);
    t.true(first instanceof SimulatedCrash, JSON.stringify(first));
    await midway(2, 'stopped with a batch written');
    // …then a resumed run stopped once its first batch is recorded, before the ciphertexts it superseded are removed.
    const second = await recreateStoppedAt(connection, e1, 'recreate:after-append:SecretsReencrypted', 1);
    t.true(second instanceof SimulatedCrash, JSON.stringify(second));
    await midway(4, 'stopped with a batch recorded');

    // The rerun (the CLI, its own session) finishes the same re-creation.
    const r = await e1.run('--json', 'recreate');
    t.is(r.code, 0, r.stderr);
    t.like(r.json(), { keyVersion: 2, retiredVersion: 1, created: false, reencrypted: 1, thisInstance: { activated: true } });

    // Every secret decrypts under version 2, on both members (E2 was active: its copy of version 2 was wrapped).
    const after = await listed(e2);
    t.deepEqual(
      after.map((s) => s.keyVersion),
      after.map(() => 2),
    );
    for (const m of [e1, e2]) for (const [name, value] of SECRETS) t.is(await reveal(m, name), value, `after the rerun: ${name} on ${m.name}`);

    // Version 1 is retired: recorded once, gone from the deployment's state, none of its ciphertexts read any more —
    // those the second stop left behind included (the rerun removed what the last recorded batch superseded).
    const store = rightOf(openEsdbStore(connection));
    try {
      const retired = (await eventsOf(store, deploymentStream(DEP))).filter((e) => e.event.type === 'KeyVersionRetired');
      t.is(retired.length, 1);
      t.like(retired[0]?.event.data, { keyVersion: 1, currentVersion: 2, secrets: SECRETS.size });
      t.is(rightOf(await loadAggregate(store, deploymentAggregate(DEP), sha256Hex)()).state.previousKey, undefined);
      const content = eventStoreContent(store);
      for (const [name, fingerprint] of before) t.deepEqual(await content.read(DEP, name, fingerprint)(), E.right(undefined), `${name}: its v1 ciphertext`);
      // Each batch recorded once: two of 2 before the stops, the last secret by the rerun.
      const batches = (await eventsOf(store, contentStream(DEP))).filter((e) => e.event.type === 'SecretsReencrypted');
      t.deepEqual(
        batches.map((e) => (e.event.data as { secrets: unknown[] }).secrets.length),
        [2, 2, 1],
      );
    } finally {
      await store.close();
    }
    const v = await e2.run('verify', '--signatures');
    t.is(v.code, 0, v.stdout);
  } finally {
    await d.stop();
  }
});
