/**
 * diagnose and audit on an EventStoreDB ledger, against the wire-level double: the same per-stream reads (an
 * instance's streams), the same pass over $all (a deployment, the ledger), positions as EventStoreDB gives them
 * (`--at C/P`), and an operator with no config naming the store.
 */
import test from 'ava';
import * as path from 'node:path';
import { openEsdbStore } from '../../src/infra/esdb-store';
import { cli } from '../support/cli-inproc';
import { startEsdbDouble } from '../support/esdb-double';
import { rightOf, tempDir } from '../support/fixtures';
import { joinArgs, newNode } from '../support/nodes';

test('EventStoreDB: diagnose an instance waiting to join, then joined; audit it, its deployment and the ledger', async (t) => {
  t.timeout(60_000);
  const d = await startEsdbDouble({ batchAppend: true });
  try {
    const store = `esdb://127.0.0.1:${d.port}?tls=false`;
    const dir = tempDir('kl-esdb-diag');
    const a = await newNode(dir, 'E1', ['--ledger', store, '--allow-insecure-store']);
    const b = await newNode(dir, 'E2', ['--ledger', store, '--allow-insecure-store']);
    t.is((await a.run('init')).code, 0);
    t.is((await b.run('init')).code, 1);
    const waiting = await b.run('--json', 'diagnose');
    t.is(waiting.code, 1, waiting.stderr);
    t.like(waiting.json(), { state: 'waiting-to-join', stop: { step: 4, mark: 'missing' } });
    t.is((await a.run(...joinArgs(b))).code, 0);
    t.is((await b.run('start')).code, 0);

    const operator = (...args: string[]) => cli('-c', path.join(tempDir('kl-esdb-op'), 'none.json'), '--store', store, '--allow-insecure-store', ...args);
    const now = await operator('--json', 'diagnose', '--machine', 'RS-E2', '--instance', 'E2');
    t.is(now.code, 0, now.stderr);
    const timeline = now.json<{ timeline: Array<{ type: string; at: { position: string; stream: string } }> }>().timeline;
    const registered = timeline.find((e) => e.type === 'PublicKeyStored')!.at.position;
    t.regex(registered, /^\d+\/\d+$/);
    const then = await operator('--json', 'diagnose', b.id, '--at', registered);
    t.is(then.code, 1);
    t.like(then.json(), { state: 'waiting-to-join', at: `position ${registered}` });

    const raw = rightOf(openEsdbStore(store));
    const all = rightOf(await raw.readAll({ streamPrefixes: ['keyledger.'] })());
    await raw.close();
    const lines = (s: string) =>
      s
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { stream: string; position: string });
    const ledger = await operator('--json', 'audit', '--all');
    t.is(ledger.code, 0, ledger.stderr);
    t.deepEqual(
      lines(ledger.stdout).map((x) => x.stream),
      all.map((e) => e.streamName),
    );
    const deployment = await operator('--json', 'audit', '--deployment', 'default');
    t.is(lines(deployment.stdout).length, all.length, 'every event of this ledger is the deployment default’s');
    const one = await operator('--json', 'audit', b.id);
    t.deepEqual(
      lines(one.stdout).map((x) => x.stream),
      timeline.filter((e) => e.type !== 'SymmetricKeyCreated').map((e) => e.at.stream),
      "its own stream and the deployment events naming it (the creator's key is not its event)",
    );
  } finally {
    await d.stop();
  }
});
