/**
 * Issue 17, problem 6: `esdb+discover://` exercised. A three-node cluster of the double (one log, gossip on every
 * node, one leader): the client discovers the leader from the seeds (also with a seed down), a node that stops
 * leading answers `not-leader` naming the new leader and the adapter follows it, and a leader failover in the
 * middle of a command (`init`, held between two of its appends) leaves a whole, verifiable ledger.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openEsdbStore } from '../src/infra/esdb-store';
import type { EventData } from '../src/ports/event-store';
import { cliWithEnv } from './support/cli-inproc';
import { startEsdbCluster } from './support/esdb-double';
import { rightOf, tempDir } from './support/fixtures';
import { newNode } from './support/nodes';

const ev = (type: string): EventData => ({ id: randomUUID(), type, data: { n: 1 }, metadata: {} });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('discovery: the client asks the seeds’ gossip and writes to the leader, whichever node it is, a seed being down or not', async (t) => {
  t.timeout(30_000);
  const c = await startEsdbCluster({ batchAppend: false });
  try {
    c.elect(2);
    const store = rightOf(openEsdbStore(c.connectionString));
    const s = `keyledger.instance-${randomUUID()}`;
    rightOf(await store.append(s, [ev('A0')], 'no_stream')());
    await store.close();
    t.true(
      c.nodes.some((n) => n.calls.gossip > 0),
      'gossip was read',
    );
    t.deepEqual(
      c.nodes.map((n) => n.calls.append),
      [0, 0, 1],
      'written on the leader',
    );
    t.is(
      c.nodes.reduce((sum, n) => sum + n.calls.notLeader, 0),
      0,
      'straight to the leader: no redirect needed',
    );

    await c.nodes[0]!.stop(); // the first seed is down: the others answer
    const again = rightOf(openEsdbStore(c.connectionString));
    rightOf(await again.append(s, [ev('A1')], 0n)());
    await again.close();
    t.is(c.nodes[2]!.calls.append, 2);
  } finally {
    await c.stop();
  }
});

test('a leader that steps down answers not-leader naming the new one; the adapter follows it, the append written once', async (t) => {
  t.timeout(30_000);
  const c = await startEsdbCluster({ batchAppend: false });
  const store = rightOf(openEsdbStore(c.connectionString));
  try {
    const s = `keyledger.instance-${randomUUID()}`;
    rightOf(await store.append(s, [ev('A0')], 'no_stream')());
    t.is(c.nodes[0]!.calls.append, 1);
    c.elect(1);
    t.is(rightOf(await store.append(s, [ev('A1')], 0n)()).nextExpectedRevision, 1n);
    t.true(c.nodes[0]!.calls.notLeader >= 1, 'the old leader redirected');
    t.is(c.nodes[1]!.calls.append, 1, 'the new leader wrote it');
    t.deepEqual(
      rightOf(await store.readStream(s)()).map((e) => e.type),
      ['A0', 'A1'],
    );
  } finally {
    await store.close();
    await c.stop();
  }
});

test('a leader failover in the middle of init: the command finishes on the new leader, the ledger verifies', async (t) => {
  t.timeout(60_000);
  const c = await startEsdbCluster({ batchAppend: false });
  try {
    const dir = tempDir('kl-esdb-cluster');
    const a = await newNode(dir, 'C1', ['--ledger', c.connectionString, '--allow-insecure-store']);
    const pauseFile = path.join(dir, 'release');
    const init = cliWithEnv({ KEYLEDGER_PAUSE_AT: 'init:before-append:PublicKeyStored', KEYLEDGER_PAUSE_FILE: pauseFile }, '-c', a.file, '--json', 'init');
    while (!fs.existsSync(`${pauseFile}.reached`)) await sleep(10);
    const before = c.nodes[0]!.calls.append;
    t.true(before >= 2, 'ConfigRead and KeyPairIssued written on node 0');
    c.elect(2); // the failover, between two appends of the command
    fs.writeFileSync(pauseFile, '');
    const r = await init;
    t.is(r.code, 0, r.stderr);
    t.like(r.json(), { state: 'activated', recorded: ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored', 'SymmetricKeyCreated', 'InstanceActivated'] });
    t.true(c.nodes[0]!.calls.notLeader >= 1, 'node 0 redirected the first append after the failover');
    t.is(c.nodes[0]!.calls.append, before, 'nothing more written through node 0');
    t.true(c.nodes[2]!.calls.append >= 3, 'the rest written on the new leader');
    const verify = await a.run('--json', 'verify');
    t.is(verify.code, 0, verify.stderr);
    t.like(verify.json(), { events: 5, problems: [] });
  } finally {
    await c.stop();
  }
});
