/**
 * `keyledger delete-content` (rskeymgmt -d; docs/adr/0015-content-deletion.md) through the CLI: the dry run changes
 * nothing; --confirm must name the deployment; only a certified member may run it; it destroys every secret and the
 * key version (every ciphertext gone from the content store, the ledger saying exactly what); afterwards nothing treats
 * the destroyed version as a key (reader, start, join, backup, restore of an old backup), status and list say so, and
 * `init` initializes the deployment afresh; members re-join. On EventStoreDB the content streams are deleted.
 */
import test from 'ava';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as E from 'fp-ts/Either';
import { eventStoreContent, secretContentStream } from '../src/infra/eventstore-content';
import { openEsdbStore } from '../src/infra/esdb-store';
import { openDeployment } from '../src/library';
import { backup, restore } from './support/backups';
import { cliWith } from './support/cli-inproc';
import { startEsdbDouble } from './support/esdb-double';
import { rightOf, tempDir } from './support/fixtures';
import { eventsOf } from './support/ledger-reader';
import { openTestStore } from './support/fixtures';
import { pooledCrypto } from './support/pooled-crypto';
import { activatedDeployment, deploymentEvents, joinArgs, ledgerFile, newNode, type TestNode } from './support/nodes';

const SECRETS = { 'reportserver/datasource/sales': 'Server=db1;Password=Tr0ub4dor&3', 'delivery/smtp': 'smtp-pass-42', 'delivery/share': 'share-7' };

const putAll = async (n: TestNode): Promise<void> => {
  for (const [name, value] of Object.entries(SECRETS))
    if ((await cliWith({ stdin: value }, '-c', n.file, 'secret', 'put', name)).code !== 0) throw new Error(name);
};

const rows = (dir: string): number => {
  const db = new Database(ledgerFile(dir), { readonly: true });
  try {
    return db.prepare<[], number>("SELECT count(*) FROM keyledger_content WHERE deployment = 'default'").pluck().get() ?? -1;
  } finally {
    db.close();
  }
};

const contentEvents = async (dir: string) => {
  const store = openTestStore(ledgerFile(dir));
  try {
    return await eventsOf(store, 'keyledger.content-default');
  } finally {
    await store.close();
  }
};

interface Plan {
  dryRun: boolean;
  keyVersions: number[];
  names: string[];
  copies: Array<{ installationId: string; keyVersion: number }>;
  authority: { allowed: boolean; as?: string; error?: string };
}

test('the dry run shows what would be destroyed and changes nothing; --confirm must be the deployment ID; a newcomer may not delete', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-delete');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  await putAll(a!);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1, 'C waits to be joined: registered, not certified');
  const before = { events: (await deploymentEvents(dir)).length, content: (await contentEvents(dir)).length, rows: rows(dir) };

  const dry = await a!.run('--json', 'delete-content');
  t.is(dry.code, 2, dry.stderr);
  const plan = dry.json<Plan>();
  t.true(plan.dryRun);
  t.deepEqual(plan.keyVersions, [1]);
  t.deepEqual(plan.names, Object.keys(SECRETS).sort());
  t.deepEqual(plan.copies.map((x) => x.installationId).sort(), [a!.id, b!.id].sort());
  t.deepEqual(plan.authority, { allowed: true, as: 'certified-member' });
  t.is(dry.stderr.trim().split('\n').length, 1, dry.stderr);
  const text = await a!.run('delete-content');
  t.is(text.code, 2);
  t.regex(text.stdout, /nothing was deleted/);
  t.regex(text.stdout, /secrets {10}3: delivery\/share, delivery\/smtp, reportserver\/datasource\/sales/);
  t.regex(text.stdout, /To delete: keyledger delete-content --confirm default/);
  t.is((await c.run('--json', 'delete-content')).json<Plan>().authority.error, 'DeletionNotAuthorised');

  const wrong = await a!.run('delete-content', '--confirm', 'Default');
  t.is(wrong.code, 2);
  t.is(wrong.stderr.trim().split('\n').length, 1);
  t.regex(wrong.stderr, /--confirm "Default" is not this instance's deployment ID: nothing was deleted/);
  const newcomer = await c.run('delete-content', '--confirm', 'default');
  t.is(newcomer.code, 5);
  t.is(newcomer.stderr.trim().split('\n').length, 1);
  t.regex(newcomer.stderr, /may not delete .* not a member certified back to the genesis, and certified members remain/);

  t.deepEqual({ events: (await deploymentEvents(dir)).length, content: (await contentEvents(dir)).length, rows: rows(dir) }, before, 'nothing changed');
  t.is((await cliWith({}, '-c', b!.file, 'secret', 'get', 'delivery/smtp', '--reveal')).stdout, SECRETS['delivery/smtp']);
});

test('delete-content destroys every secret and the key; nothing uses the destroyed version again; init afresh, the members re-join', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-delete');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  await putAll(a!);
  const file = path.join(dir, 'old.snk');
  t.is((await backup(a!, file)).code, 0);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1, 'C waits to be joined');

  // A long-running reader (the library) on A, its key proved and the value read before the deletion.
  const lib = rightOf(await openDeployment({ config: a!.file, refreshMs: 0, crypto: pooledCrypto(), actor: 'svc@test' }));
  t.is(rightOf(await lib.decrypt('delivery/smtp')).text(), SECRETS['delivery/smtp']);

  const r = await b!.run('--json', 'delete-content', '--confirm', 'default');
  t.is(r.code, 0, r.stderr);
  const after = await lib.decrypt('delivery/smtp');
  t.true(E.isLeft(after) && after.left._tag === 'SecretsNotActivated', `the reader refuses from its next call: ${JSON.stringify(after)}`);
  await lib.close();
  const o = r.json<{ recorded: string[]; secrets: number; keys: Array<{ keyVersion: number }>; copies: number; authority: string }>();
  t.deepEqual(o.recorded, ['EncryptedContentDeletionStarted', 'SecretsDestroyed', 'EncryptedContentDeleted']);
  t.like(o, { secrets: 3, copies: 2, authority: 'certified-member' });
  t.deepEqual(
    o.keys.map((k) => k.keyVersion),
    [1],
  );
  t.is(rows(dir), 0, 'no ciphertext of the deployment is left in the content store');

  // Exactly what was destroyed, in signed events: names and fingerprints in the content stream, versions and copies in the deployment stream.
  const destroyed = (await contentEvents(dir)).filter((e) => e.event.type === 'SecretsDestroyed');
  t.is(destroyed.length, 1);
  const ev = destroyed[0]!.event;
  t.deepEqual(ev.type === 'SecretsDestroyed' ? ev.data.secrets.map((s) => s.name).sort() : [], Object.keys(SECRETS).sort());
  t.is((destroyed[0]!.metadata.sig as { by?: string } | undefined)?.by, b!.id);
  const done = (await deploymentEvents(dir)).at(-1)!;
  t.is(done.event.type, 'EncryptedContentDeleted');
  t.deepEqual(done.event.type === 'EncryptedContentDeleted' ? done.event.data.copies.map((x) => x.installationId).sort() : [], [a!.id, b!.id].sort());
  t.deepEqual(done.event.type === 'EncryptedContentDeleted' ? done.event.data.contentRevisions : [], [destroyed[0]!.revision.toString()]);

  // status and list: not activated, the reason and the remedy.
  for (const n of [a!, b!]) {
    const s = await n.run('--json', 'status');
    t.is(s.code, 1);
    t.like(s.json(), { state: 'disabled', reason: { _tag: 'ContentDeleted', keyVersions: [1], deletedBy: b!.id }, remedy: { steps: [{ args: ['init'] }] } });
  }
  t.regex((await a!.run('list')).stdout, /disabled \(ContentDeleted\)/);
  // Nothing takes the destroyed version for a key: a reader, a start, a join, a backup, a restore of a backup of it.
  const get = await cliWith({}, '-c', a!.file, 'secret', 'get', 'delivery/smtp', '--reveal');
  t.is(get.code, 1, get.stderr);
  t.is(get.stdout, '');
  const start = await a!.run('--json', 'start');
  t.is(start.code, 1);
  t.like(start.json(), { state: 'disabled', reason: { _tag: 'ContentDeleted' } });
  t.is((await backup(a!, path.join(dir, 'new.snk'))).code, 5, 'no key to back up');
  const old = await restore(a!, file);
  t.is(old.code, 5, old.stderr);
  t.regex(old.stderr, /key version 1 was destroyed when the deployment's encrypted content was deleted/);
  t.is((await a!.run(...joinArgs(c))).code, 5, 'no key to join anyone with');

  // init afresh: a new version; the others re-join.
  const init = await a!.run('--json', 'init');
  t.is(init.code, 0, init.stderr);
  t.like(init.json(), { state: 'activated', keyVersion: 2 });
  t.is((await b!.run('init')).code, 1, 'B waits to be joined');
  t.is((await a!.run(...joinArgs(b!))).code, 0);
  t.is((await b!.run('start')).code, 0);
  t.is((await restore(b!, file)).code, 5, 'the old backup still restores nothing');
  t.deepEqual((await b!.run('--json', 'secret', 'list')).json(), []);
  t.is((await cliWith({ stdin: 'new' }, '-c', b!.file, 'secret', 'put', 'delivery/smtp')).code, 0);
  t.is((await cliWith({}, '-c', a!.file, 'secret', 'get', 'delivery/smtp', '--reveal')).stdout, 'new');
  const v = await a!.run('verify', '--signatures');
  t.is(v.code, 0, v.stdout);
  t.regex(v.stdout, /genesis .* created the key after the content was deleted at @/);
  // Run again now: it would delete the new key — a dry run says so.
  t.deepEqual((await a!.run('--json', 'delete-content')).json<Plan>().keyVersions, [2]);
});

test('delete-content on EventStoreDB: every content stream of the deployment is deleted (a ciphertext no event names included)', async (t) => {
  t.timeout(60_000);
  const d = await startEsdbDouble({ batchAppend: true });
  try {
    const store = `esdb://127.0.0.1:${d.port}?tls=false`;
    const dir = tempDir('kl-delete-esdb');
    const n1 = await newNode(dir, 'E1', ['--ledger', store, '--allow-insecure-store']);
    t.is((await n1.run('init')).code, 0);
    t.is((await cliWith({ stdin: 'v1' }, '-c', n1.file, 'secret', 'put', 'ds/sales')).code, 0);
    t.is((await cliWith({ stdin: 'v2' }, '-c', n1.file, 'secret', 'put', 'ds/sales')).code, 0);
    const raw = rightOf(openEsdbStore(store));
    const content = eventStoreContent(raw);
    // A crash between writing a ciphertext and recording it: a stream no event names.
    rightOf(await content.write('default', 'never/recorded', 'y'.repeat(43) as never, 'a.b.c.d.e')());
    const r = await n1.run('--json', 'delete-content', '--confirm', 'default');
    t.is(r.code, 0, r.stderr);
    t.like(r.json(), { secrets: 1, leftovers: 1 });
    for (const name of ['ds/sales', 'never/recorded'])
      t.deepEqual(await raw.readStream(secretContentStream('default', name))(), E.right([]), `${name}: its stream reads empty (deleted)`);
    t.is((await n1.run('init')).code, 0);
    t.is((await cliWith({ stdin: 'v3' }, '-c', n1.file, 'secret', 'put', 'ds/sales')).code, 0, 'a deleted stream can be written again');
    t.is((await cliWith({}, '-c', n1.file, 'secret', 'get', 'ds/sales', '--reveal')).stdout, 'v3');
    await raw.close();
  } finally {
    await d.stop();
  }
});

test('the help teaches: when, what it destroys, who may run it, what comes after', async (t) => {
  t.timeout(30_000);
  const h = await cliWith({}, 'delete-content', '--help');
  t.is(h.code, 0);
  for (const needle of ['rskeymgmt -d', 'no backup', 'restore -f FILE', 'Who may run it', 'Safe to interrupt', 'keyledger init', '--confirm default'])
    t.true(h.stdout.includes(needle), needle);
});
