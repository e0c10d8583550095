/**
 * Issue 15: the verifiable ledger through the CLI. The tree index kept by every append is the tree of the events;
 * `checkpoint` signs it; `verify --checkpoint` proves the ledger extends a checkpoint or names the first difference
 * for each tampering (one byte of data, of metadata, two events reordered, one deleted from the middle, the tail
 * truncated, history rewritten and re-signed with a key that is not a member's); a member's `start` (a witness)
 * refuses a truncated or rewritten ledger with LedgerForked, and `accept-rollback --tree` (recorded) is the way past it.
 */
import test from 'ava';
import { generateKeyPairSync, sign } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { eventSigningText } from '../../src/domain/envelope';
import { type DeploymentId, deploymentStream } from '../../src/domain/ids';
import { signatures } from '../../src/infra/signing';
import { tempDir } from '../support/fixtures';
import { issueToken, serve } from '../support/http';
import { activatedDeployment, instanceEvents, joinArgs, ledgerFile, newNode, type TestNode } from '../support/nodes';
import { reindex, rewriteAndRehash, tamper } from '../support/tamper';

const DSTREAM = deploymentStream('default' as DeploymentId);

interface Row {
  global_position: number;
  stream_name: string;
  stream_revision: number;
  event_type: string;
  data: string;
  metadata: string;
}

/** The ledger's events in tree order (its leaves). */
const leaves = (file: string): Row[] => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT * FROM events WHERE stream_name LIKE 'keyledger.%' ORDER BY global_position").all() as Row[];
  } finally {
    db.close();
  }
};

const treeRows = (file: string): { hashes: string[]; size: number } => {
  const db = new Database(file, { readonly: true });
  try {
    return {
      hashes: (db.prepare('SELECT hex(hash) AS h FROM tlog_hashes ORDER BY id').all() as Array<{ h: string }>).map((r) => r.h),
      size: (db.prepare('SELECT size FROM tlog_state').get() as { size: number }).size,
    };
  } finally {
    db.close();
  }
};

/** One digit of the text changed (a UUID's, a time's): one byte, still JSON. */
const oneByte = (text: string): string => {
  const at = text.search(/[0-8]/);
  return text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) + 1) + text.slice(at + 1);
};

/** Three members, a checkpoint signed by A, then a newcomer D registered (events after the checkpoint). */
const ledgerWithCheckpoint = async (label: string): Promise<{ dir: string; file: string; nodes: TestNode[]; cp: string; size: number }> => {
  const dir = tempDir(label);
  const nodes = await activatedDeployment(dir, ['A', 'B', 'C']);
  const cp = path.join(dir, 'a.checkpoint');
  const signed = await nodes[0]!.run('--json', 'checkpoint', '-o', cp);
  if (signed.code !== 0) throw new Error(signed.stderr);
  const d = await newNode(dir, 'D');
  if ((await d.run('init')).code !== 1) throw new Error('D should wait');
  if ((await d.run('start')).code !== 1) throw new Error('D should be refused, waiting');
  return { dir, file: ledgerFile(dir), nodes: [...nodes, d], cp, size: signed.json<{ size: number }>().size };
};

const verifyCheckpoint = (n: TestNode, cp: string) => n.run('verify', '--checkpoint', cp);

test('the index an append keeps is the tree of the events: a rebuild from them gives the same hashes; verify --checkpoint passes', async (t) => {
  t.timeout(90_000);
  const { file, nodes, cp, size } = await ledgerWithCheckpoint('kl-tree');
  const kept = treeRows(file);
  t.is(kept.size, leaves(file).length);
  reindex(file);
  t.is((await nodes[0]!.run('prove', `${DSTREAM}@0`)).code, 0, 'any command that needs the tree rebuilds it');
  t.deepEqual(treeRows(file), kept);
  const v = await verifyCheckpoint(nodes[1]!, cp);
  t.is(v.code, 0, v.stdout + v.stderr);
  t.regex(
    v.stdout,
    new RegExp(`the ledger extends it: its first ${size} events have the checkpoint's root; consistency proof ${size} → ${kept.size} verified`),
  );
  t.regex(v.stdout, /signed by keyledger\/member\/[0-9a-f-]{36}/);
});

test('tampering, each detected by verify --checkpoint and located: one byte of data, of metadata, two reordered, one deleted', async (t) => {
  t.timeout(120_000);
  const { file, nodes, cp } = await ledgerWithCheckpoint('kl-tamper');
  const original = fs.readFileSync(file);
  const restore = (): void => {
    fs.writeFileSync(file, original);
    for (const f of [`${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  };
  fs.rmSync(`${file}-wal`, { force: true });
  const all = leaves(file);
  const name = (r: Row): string => `${r.stream_name}@${r.stream_revision}`.replace(/\./g, '\\.');
  const expectForked = async (what: string, leaf: number, row: Row): Promise<void> => {
    const v = await verifyCheckpoint(nodes[1]!, cp);
    t.is(v.code, 4, `${what}: ${v.stdout}`);
    t.regex(
      v.stdout,
      new RegExp(`FORKED the ledger is not an extension of the checkpoint: the first difference is at leaf ${leaf} \\(${name(row)}, ${row.event_type}\\)`),
      what,
    );
    t.regex(v.stdout, new RegExp(`INDEX the tree index differs from the events at leaf ${leaf}`), what);
    restore();
  };
  const k = 5;
  const row = all[k]!;
  tamper(file, 'UPDATE events SET data = ? WHERE global_position = ?', oneByte(row.data), row.global_position);
  await expectForked('one byte of data', k, row);
  tamper(file, 'UPDATE events SET metadata = ? WHERE global_position = ?', oneByte(row.metadata), row.global_position);
  await expectForked('one byte of metadata', k, row);
  // Two neighbouring events of different streams swapped in the global order: each stream's chain is intact, the tree is not.
  const i = all.findIndex((r, n) => n > 2 && all[n + 1] !== undefined && all[n + 1]!.stream_name !== r.stream_name);
  const [first, second] = [all[i]!, all[i + 1]!];
  tamper(file, 'UPDATE events SET global_position = -1 WHERE global_position = ?', first.global_position);
  tamper(file, 'UPDATE events SET global_position = ? WHERE global_position = ?', first.global_position, second.global_position);
  tamper(file, 'UPDATE events SET global_position = ? WHERE global_position = -1', second.global_position);
  const reordered = await verifyCheckpoint(nodes[1]!, cp);
  t.regex(reordered.stdout, new RegExp(`first difference is at leaf ${i} \\(${name(second)}`), reordered.stdout);
  t.notRegex(reordered.stdout, /TAMPERED/, 'the hash chains alone do not see a reordering across streams');
  t.is(reordered.code, 4);
  restore();
  // One event deleted from the middle: the last of its stream, so no revision is missing there.
  const lastOfStream = all.findIndex((r, i) => i > 3 && i < all.length - 3 && !all.slice(i + 1).some((x) => x.stream_name === r.stream_name));
  const gone = all[lastOfStream]!;
  tamper(file, 'DELETE FROM events WHERE global_position = ?', gone.global_position);
  tamper(file, 'UPDATE streams SET revision = revision - 1 WHERE stream_name = ?', gone.stream_name);
  const deleted = await verifyCheckpoint(nodes[1]!, cp);
  t.is(deleted.code, 4, deleted.stdout);
  t.regex(deleted.stdout, new RegExp(`first difference is at leaf ${lastOfStream} \\(${name(all[lastOfStream + 1]!)}`));
  t.notRegex(deleted.stdout, /TAMPERED/);
  restore();
  t.is((await verifyCheckpoint(nodes[1]!, cp)).code, 0, 'restored: intact again');
});

test('verify --checkpoint over HTTP (POST /api/verify with the note): the same first difference named as the CLI names it', async (t) => {
  t.timeout(120_000);
  const { file, nodes, cp } = await ledgerWithCheckpoint('kl-tamper-http');
  const auditor = await issueToken(nodes[1]!, 'auditor', 'auditor@contoso');
  const served = await serve(nodes[1]!);
  t.teardown(() => served.close());
  const verify = () =>
    served.server.app.inject({
      method: 'POST',
      url: '/api/verify',
      headers: { authorization: `Bearer ${auditor}` },
      payload: { checkpoint: fs.readFileSync(cp, 'utf8') },
    });
  const before = await verify();
  t.is(before.statusCode, 200, before.body);
  t.like(before.json(), { intact: true, tree: { checkpoint: { extended: true } }, checkpointFile: { untrusted: null, consistencyProof: 'verified' } });
  const k = 5;
  const row = leaves(file)[k]!;
  tamper(file, 'UPDATE events SET data = ? WHERE global_position = ?', oneByte(row.data), row.global_position);
  const after = await verify();
  t.is(after.statusCode, 200, 'an answer, not an error: the verdict is in it');
  const got = after.json<Record<string, unknown> & { intact: boolean; checkpointFile: { file: string } }>();
  t.false(got.intact);
  t.like(got, {
    tree: {
      index: { firstDifference: { from: k } },
      checkpoint: { extended: false, firstDifference: { from: k, how: 'index', event: { stream: row.stream_name, revision: String(row.stream_revision) } } },
    },
  });
  const cli = await nodes[1]!.run('--json', 'verify', '--checkpoint', cp);
  t.is(cli.code, 4);
  const { intact: _i, checkpointFile: fromHttp, ...restHttp } = got;
  const { checkpointFile: fromCli, ...restCli } = cli.json<Record<string, unknown> & { checkpointFile: object }>();
  t.deepEqual(restHttp, restCli);
  t.deepEqual({ ...fromHttp, file: cp }, fromCli);
});

test('the tail truncated below a checkpoint: verify --checkpoint names what is gone; the witness that co-signed it refuses, and accept-rollback --tree is recorded', async (t) => {
  t.timeout(120_000);
  const { dir, file, nodes, cp, size } = await ledgerWithCheckpoint('kl-trunc');
  const [a] = nodes;
  // A's start co-signs the tree with D's registration in it.
  t.is((await a!.run('start')).code, 0);
  const all = leaves(file);
  const cosigned = all.length;
  // The attacker removes D's last events (D's own stream: A relied on none of them), and the index rows with them.
  const d = nodes[3]!;
  const dEvents = all.filter((r) => r.stream_name.endsWith(d.id));
  const tail = dEvents.slice(-1);
  for (const r of tail) tamper(file, 'DELETE FROM events WHERE global_position = ?', r.global_position);
  tamper(file, 'UPDATE streams SET revision = revision - ? WHERE stream_name = ?', tail.length, tail[0]!.stream_name);
  t.is((await a!.run('verify')).code, 4, 'plain verify: the index holds more than the events');

  const start = await a!.run('start');
  t.is(start.code, 4, start.stdout + start.stderr);
  t.regex(
    start.stderr,
    new RegExp(
      `the ledger forked: it now has fewer events than the checkpoint this member co-signed: events were removed from its end \\(co-signed ${cosigned} events`,
    ),
  );
  t.regex(
    start.stderr,
    new RegExp(`on this instance run \`keyledger accept-rollback --tree ${cosigned - tail.length}\`; then on this instance run \`keyledger start\``),
  );
  const before = await instanceEvents(dir, a!.id);
  t.deepEqual(await instanceEvents(dir, a!.id), before, 'nothing recorded by the refused start');

  // The remedy, followed: the operator accepts the ledger as it is now (restored from a backup on purpose, say).
  const named = /accept-rollback --tree (\d+)/.exec(start.stderr)?.[1];
  const wrong = await a!.run('accept-rollback', '--tree', String(Number(named) + 1));
  t.is(wrong.code, 2);
  t.regex(wrong.stderr, new RegExp(`the ledger's tree has ${named} events, not ${Number(named) + 1}`));
  const accepted = await a!.run('accept-rollback', '--tree', named!);
  t.is(accepted.code, 0, accepted.stdout + accepted.stderr);
  t.regex(accepted.stdout, new RegExp(`now relies on the ledger's tree of ${named} events \\(it had co-signed ${cosigned}\\); LedgerForkAccepted recorded`));
  const recorded = (await instanceEvents(dir, a!.id)).filter((e) => e.event.type === 'LedgerForkAccepted');
  t.is(recorded.length, 1);
  t.is((await a!.run('start')).code, 0, 'key decisions resume on the accepted tree');
  t.is((await a!.run('accept-rollback', '--tree', String(leaves(file).length))).code, 0, 'accepting again: nothing to accept');

  // Cut below A's checkpoint: verify --checkpoint names what is gone.
  const now = leaves(file);
  for (const r of now.slice(size - 2)) tamper(file, 'DELETE FROM events WHERE global_position = ?', r.global_position);
  const v = await verifyCheckpoint(nodes[1]!, cp);
  t.is(v.code, 4);
  t.regex(
    v.stdout,
    new RegExp(
      `it has ${size - 2} events, the checkpoint covers ${size}: leaves ${size - 2}\\.\\.${size - 1} are gone \\(after ${now[size - 3]!.stream_name.replace(/\./g, '\\.')}@`,
    ),
  );
});

test('history rewritten and re-signed with a key that is not a member’s (index rebuilt over it): verify --checkpoint and the witness both refuse', async (t) => {
  t.timeout(120_000);
  const { dir, file, nodes, cp } = await ledgerWithCheckpoint('kl-rewrite');
  const [a, b] = nodes;
  t.is((await b!.run('start')).code, 0, 'B co-signs the tree as it is');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
  const thumbprint = signatures.thumbprint({ kty: 'OKP', crv: 'Ed25519', x } as never);
  // The attacker rewrites member C's own history (before A's checkpoint; a stream A and B do not rely on) and signs it with its own key.
  const d = nodes[2]!;
  const stream = `keyledger.instance-${d.id}`;
  const target = leaves(file).find((r) => r.stream_name === stream && r.event_type === 'KeyPairIssued')!;
  rewriteAndRehash(
    file,
    stream,
    target.stream_revision,
    (data) => ({ ...data, keySize: 4096 }),
    (m, data) => {
      const { sig: _sig, ...rest } = m;
      const text = eventSigningText(stream, BigInt(target.stream_revision), target.event_type, data, rest as never);
      return { ...rest, sig: { alg: 'Ed25519', by: d.id, key: thumbprint, value: sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64url') } };
    },
  );
  const v = await verifyCheckpoint(nodes[0]!, cp);
  t.is(v.code, 4, v.stdout);
  t.regex(v.stdout, /FORKED the ledger is not an extension of the checkpoint/);
  t.regex(v.stdout, new RegExp(`UNTRUSTED ${stream.replace('.', '\\.')}@${target.stream_revision} \\(KeyPairIssued\\)`), 'the re-signed event is named');
  t.notRegex(v.stdout, /^INDEX/m, 'the attacker rebuilt the index over the rewritten events');

  const start = await b!.run('start');
  t.is(start.code, 4, start.stdout + start.stderr);
  t.regex(start.stderr, /the ledger forked: it is not an append-only extension of the checkpoint this member co-signed/);

  // A checkpoint the attacker signs over the rewritten ledger with its own key is not a member's.
  const forged = path.join(dir, 'forged.checkpoint');
  const note = fs.readFileSync(cp, 'utf8').split('\n\n')[0]!;
  fs.writeFileSync(
    forged,
    `${note}\n\n— keyledger/member/${a!.id} ${Buffer.concat([Buffer.alloc(4), sign(null, Buffer.from(`${note}\n`), privateKey)]).toString('base64')}\n`,
  );
  const untrusted = await verifyCheckpoint(nodes[0]!, forged);
  t.is(untrusted.code, 4);
  t.regex(untrusted.stdout, /UNTRUSTED checkpoint .*: no signature by a known key \(1 by other keys\)/);
});

test('no false alarm: members start, join and sign checkpoints in turn; every start co-signs a head that extends the last', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('kl-witness');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const c = await newNode(dir, 'C');
  for (const step of [
    () => a!.run('start'),
    () => c.run('init'),
    () => b!.run('start'),
    () => a!.run(...joinArgs(c)),
    () => c.run('start'),
    () => a!.run('checkpoint'),
  ])
    t.not((await step()).code, 4);
  for (const n of [a!, b!, c]) t.is((await n.run('start')).code, 0);
  const file = ledgerFile(dir);
  const db = new Database(file, { readonly: true });
  const kept = db.prepare("SELECT data FROM events WHERE stream_name = 'keyledger-checkpoints'").all() as Array<{ data: string }>;
  db.close();
  const cosigners = new Set(kept.map((k) => (JSON.parse(k.data) as { signature: string }).signature.split(' ')[1]));
  t.is(cosigners.size, 3, 'each member co-signed');
  t.is((await a!.run('verify')).code, 0);
});
