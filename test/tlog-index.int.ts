/**
 * The tree index as a port (docs/adr/0018-verifiable-ledger.md), on both stores: built from the events when they
 * were written without it, rebuilt when its end no longer matches them, the same tree whichever way it was built;
 * the witness's inclusion check against a store that shows an event its index does not hold; its memory MAC'd;
 * EventStoreDB's local index (over the wire-level double); and the report's latest checkpoint.
 */
import test from 'ava';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as E from 'fp-ts/Either';
import { latestCheckpoint } from '../src/commands/checkpoint-report';
import { loadAggregate } from '../src/commands/handler';
import { deploymentAggregate, instanceAggregate, startInstance } from '../src/commands/instance';
import { currentHead, type TreeDeps } from '../src/commands/tree';
import { checkedHead, checkIncluded, COSIGNED, type NoteSigner, signHead, startWitness, type WitnessDeps } from '../src/commands/witness';
import { fromBase64Url, toBase64 } from '../src/domain/tlog/bytes';
import { leafHashOfEvent } from '../src/domain/tlog/leaf';
import { TreeBuilder } from '../src/domain/tlog/merkle';
import { deploymentStream } from '../src/domain/ids';
import { openEsdbStore } from '../src/infra/esdb-store';
import { fileKeystore } from '../src/infra/file-keystore';
import { ed25519Of } from '../src/infra/note-verify';
import { sha256Hex } from '../src/infra/sha256';
import { signatures } from '../src/infra/signing';
import { openSqliteHeads } from '../src/infra/sqlite-heads';
import { SqliteEventStore } from '../src/infra/sqlite-store';
import { sha256Bytes } from '../src/infra/sqlite-tree';
import { localTreeIndex } from '../src/infra/sqlite-tree-index';
import type { EventStore } from '../src/ports/event-store';
import { startEsdbDouble } from './support/esdb-double';
import { aConfig, depsFor, rightOf, tempDir } from './support/fixtures';
import { initInstance } from '../src/commands/instance';
import { newNode } from './support/nodes';
import { rewriteAndRehash } from './support/tamper';

/** The root of every `keyledger.` event of the store, recomputed from a read of $all. */
const recomputed = async (store: EventStore): Promise<{ size: number; root: string }> => {
  const b = new TreeBuilder(sha256Bytes);
  const all = rightOf(await store.readAll({ streamPrefixes: ['keyledger.'] })());
  for (const r of all) b.push(leafHashOfEvent(sha256Bytes, r));
  return { size: b.size, root: toBase64(b.root()) };
};

/** An activated instance on `store`, and what it needs to be a witness. */
const member = async (dir: string, store: EventStore, tree: TreeDeps['tree']) => {
  const config = aConfig(dir);
  const init = rightOf(await initInstance(depsFor(store, config), config));
  if (init.state !== 'activated') throw new Error('not activated');
  const keystore = fileKeystore(config.keystorePath);
  const heads = rightOf(openSqliteHeads(path.join(dir, 'state.db'), config.installationId, store.endpoint, rightOf(keystore.localStateMac())));
  const held = rightOf(await keystore.load({ installationId: config.installationId, serviceIdentity: config.serviceIdentity })());
  const signing = held.signing!;
  const signer: NoteSigner = {
    installationId: config.installationId,
    publicKey: fromBase64Url(signing.publicKey.x)!,
    sign: (text) => fromBase64Url(signatures.sign(signing.handle, text))!,
  };
  const deps = depsFor(store, config, 'start');
  const witness: WitnessDeps = { store, tree, sha256: sha256Bytes, heads, signer, ctx: deps.ctx };
  return { config, deps: { ...deps, heads }, witness };
};

test('SQLite: a ledger written without the index is indexed from its events; the same tree as appends keep; a changed end is rebuilt', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-tindex');
  const file = path.join(dir, 'ledger.db');
  const off = new SqliteEventStore(file, { treeIndex: false });
  const m = await member(dir, off, off.treeIndex());
  t.is(rightOf(off.treeIndex().size()), 0, 'nothing indexed while the index is off');
  const synced = rightOf(await off.treeIndex().sync());
  const expected = await recomputed(off);
  t.deepEqual({ size: synced.size, added: synced.added, rebuilt: synced.rebuilt }, { size: expected.size, added: expected.size, rebuilt: false });
  const head = rightOf(await currentHead({ store: off, tree: off.treeIndex(), sha256: sha256Bytes }));
  t.is(toBase64(head.root), expected.root);
  await off.close();

  // Appends with the index on now extend it in their transaction.
  const on = new SqliteEventStore(file);
  const r = rightOf(await startInstance({ ...m.deps, store: on, witness: startWitness({ ...m.witness, store: on, tree: on.treeIndex() }) }, m.config));
  t.is(r.state, 'activated');
  const later = await recomputed(on);
  t.is(rightOf(on.treeIndex().size()), later.size);
  t.is(toBase64(rightOf(await currentHead({ store: on, tree: on.treeIndex(), sha256: sha256Bytes })).root), later.root);

  // The last event replaced behind its back: the index's end no longer matches, so it is rebuilt from the events.
  const db = new Database(file);
  const last = db.prepare("SELECT global_position FROM events WHERE stream_name LIKE 'keyledger.%' ORDER BY global_position DESC LIMIT 1").pluck().get();
  db.prepare('UPDATE events SET metadata = replace(metadata, ?, ?) WHERE global_position = ?').run('"actor":"', '"actor":"x', last);
  db.close();
  const again = rightOf(await on.treeIndex().sync());
  t.true(again.rebuilt);
  t.is(toBase64(rightOf(await currentHead({ store: on, tree: on.treeIndex(), sha256: sha256Bytes })).root), (await recomputed(on)).root);
  await on.close();
});

test('witness: an event the store shows that is not the leaf its index holds at that place is LedgerForked (event-not-in-tree)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-tincl');
  const file = path.join(dir, 'ledger.db');
  const store = new SqliteEventStore(file);
  const m = await member(dir, store, store.treeIndex());
  const head = rightOf(await checkedHead(m.witness));
  const load = async () => ({
    instance: rightOf(await loadAggregate(store, instanceAggregate(m.config.installationId), sha256Hex)()),
    deployment: rightOf(await loadAggregate(store, deploymentAggregate(m.config.deploymentId), sha256Hex)()),
  });
  const l = await load();
  t.is(rightOf(await checkIncluded(m.witness, head, [l.instance, l.deployment])), l.instance.events.length + l.deployment.events.length);
  // A store writer rewrites (and re-hashes) the deployment stream but leaves the index as it was.
  rewriteAndRehash(
    file,
    deploymentStream(m.config.deploymentId),
    0,
    (d) => ({ ...d, machineName: 'RS-ELSEWHERE' }),
    (x) => x,
    false,
  );
  const l2 = await load();
  const r = await checkIncluded(m.witness, head, [l2.instance, l2.deployment]);
  t.true(E.isLeft(r) && r.left._tag === 'LedgerForked' && r.left.problem === 'event-not-in-tree', JSON.stringify(r));
  if (E.isLeft(r) && r.left._tag === 'LedgerForked') t.deepEqual(r.left.event, { stream: deploymentStream(m.config.deploymentId), revision: '0', leaf: 2 });
  await store.close();
});

test("witness memory is MAC'd: the co-signed head lowered in the local state file (without the machine secret) is tampering", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-tmac');
  const store = new SqliteEventStore(path.join(dir, 'ledger.db'));
  const m = await member(dir, store, store.treeIndex());
  const head = rightOf(await checkedHead(m.witness));
  rightOf(await signHead(m.witness, head, 'cosignature'));
  const state = new Database(path.join(dir, 'state.db'));
  state.prepare('UPDATE heads SET revision = 1 WHERE key LIKE ?').run(`%${COSIGNED}`);
  state.close();
  const r = await checkedHead(m.witness);
  t.true(E.isLeft(r) && r.left._tag === 'LocalStateError' && r.left.problem === 'tampered', JSON.stringify(r));
  await store.close();
});

test('EventStoreDB: the local index is built from the global order (other streams are not leaves); a start witnesses and co-signs; the report counts it', async (t) => {
  t.timeout(60_000);
  const d = await startEsdbDouble({ batchAppend: true });
  const dir = tempDir('kl-tesdb');
  const store = rightOf(openEsdbStore(d.connectionString));
  try {
    const tree = rightOf(localTreeIndex(path.join(dir, 'state'), store));
    const m = await member(dir, store, tree);
    d.inject([{ stream: 'another-application', type: 'Something', data: { x: 1 } }]);
    const synced = rightOf(await tree.sync());
    const expected = await recomputed(store);
    t.is(synced.size, expected.size);
    const head = rightOf(await currentHead({ store, tree, sha256: sha256Bytes }));
    t.is(toBase64(head.root), expected.root);
    t.regex(head.origin, /^keyledger\/ledger\/[0-9a-f-]{36}$/, "named by its first event's id");
    const started = rightOf(await startInstance({ ...m.deps, witness: startWitness(m.witness) }, m.config));
    t.is(started.state, 'activated');
    const latest = rightOf(
      await latestCheckpoint(
        { store, sha256: sha256Bytes, ed25519: ed25519Of(signatures.verify), trust: { verify: signatures.verify, thumbprint: signatures.thumbprint } },
        [deploymentStream(m.config.deploymentId)],
      ),
    );
    t.is(latest.cosigners, 1);
    t.is(latest.checkpoint?.size, (await recomputed(store)).size);
    t.deepEqual(latest.members, [`keyledger/member/${m.config.installationId}`]);
    tree.close();
  } finally {
    await store.close();
    await d.stop();
  }
});

test('an init that activates signs the tree head it ends on: its events are provable at once; a newcomer waiting to join signs nothing', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-init-signs');
  const a = await newNode(dir, 'A');
  t.is((await a.run('init')).code, 0);
  const proved = await a.run('prove', `keyledger.instance-${a.id}@0`, '-o', path.join(dir, 'proof.json'));
  t.is(proved.code, 0, proved.stderr);
  const report = await a.run('--json', 'report');
  t.like(report.json<{ checkpoint: unknown }>().checkpoint, { cosigners: 1, members: [`keyledger/member/${a.id}`] });
  const b = await newNode(dir, 'B');
  t.is((await b.run('init')).code, 1, 'waiting to join');
  const after = await a.run('--json', 'report');
  t.like(after.json<{ checkpoint: unknown }>().checkpoint, { cosigners: 1, members: [`keyledger/member/${a.id}`] }, 'B signed nothing');
});
