/**
 * Issue 9, item 4: rollback detection. An attacker who can write the store
 * deletes the newest events (a removal and a refusal); the hash chain cannot
 * tell (`verify` passes), but an instance that had relied on them remembers the
 * stream heads under a MAC only it can compute, and stops key decisions with
 * LedgerRolledBack until an operator accepts the rollback.
 */
import test from 'ava';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { type DeploymentId, deploymentStream } from '../src/domain/ids';
import { tempDir } from './support/fixtures';
import { reindex } from './support/tamper';
import { activatedDeployment, deploymentEvents, instanceEvents, ledgerFile, type TestNode } from './support/nodes';

const DSTREAM = deploymentStream('default' as DeploymentId);

/** Deletes the events of a stream from revision `from` on, and fixes the streams table: a clean truncation. */
const truncate = (file: string, stream: string, from: number): void => {
  const db = new Database(file);
  try {
    db.prepare('DELETE FROM events WHERE stream_name = ? AND stream_revision >= ?').run(stream, from);
    db.prepare('UPDATE streams SET revision = ? WHERE stream_name = ?').run(from - 1, stream);
  } finally {
    db.close();
  }
};

/** A and B activated; A removed B, and B's start was refused for it (B relied on the removal). */
const removedAndRefused = async (): Promise<{ dir: string; a: TestNode; b: TestNode; removalAt: number }> => {
  const dir = tempDir('kl-rb');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  if ((await a!.run('remove', b!.id)).code !== 0) throw new Error('remove');
  if ((await b!.run('start')).code !== 1) throw new Error('B should be refused');
  const removal = (await deploymentEvents(dir)).find((e) => e.event.type === 'InstanceRemoved');
  if (!removal) throw new Error('no removal');
  return { dir, a: a!, b: b!, removalAt: Number(removal.revision) };
};

test('rollback: the InstanceRemoved and the refusal deleted — verify is fooled, but the removed instance that had seen them is not activated', async (t) => {
  t.timeout(60_000);
  const { dir, a, b, removalAt } = await removedAndRefused();
  const bEvents = await instanceEvents(dir, b.id);
  truncate(ledgerFile(dir), DSTREAM, removalAt);
  truncate(ledgerFile(dir), bEvents[0]!.stream, bEvents.length - 1);
  reindex(ledgerFile(dir)); // the attacker rebuilds the tree index over what is left too (ADR 0018)
  t.is((await a.run('verify')).code, 0, 'a clean truncation keeps every hash link: the chain alone cannot tell');

  const before = (await instanceEvents(dir, b.id)).length;
  const start = await b.run('start');
  t.is(start.code, 4, start.stdout + start.stderr);
  t.regex(start.stderr, /the ledger was rolled back: .* was at revision \d+ when this instance last relied on it, but now ends at revision \d+/);
  t.regex(start.stderr, /keyledger accept-rollback --to \S+@\d+/);
  t.is((await instanceEvents(dir, b.id)).length, before, 'nothing recorded: B did not activate on the rolled-back ledger');
  // The member that recorded the removal stops too: it will not sponsor on a rolled-back ledger.
  const list = await a.run('start');
  t.is(list.code, 4);
  t.regex(list.stderr, new RegExp(`${DSTREAM.replace('.', '\\.')} was at revision ${removalAt}`));
});

test("the remembered heads are MAC'd: lowering one in the local state file (without the machine secret) is caught as tampering", async (t) => {
  t.timeout(60_000);
  const { dir, a, removalAt } = await removedAndRefused();
  truncate(ledgerFile(dir), DSTREAM, removalAt);
  const state = new Database(path.join(dir, '.keyledger', 'projections.db'));
  try {
    // The attacker rewrites A's remembered head to the truncated ledger's: hash and revision, but cannot compute the MAC.
    const rows = state.prepare('SELECT key, revision, hash FROM heads').all() as Array<{ key: string; revision: number; hash: string }>;
    const events = await deploymentEvents(dir);
    for (const r of rows.filter((x) => x.key.startsWith(`${a.id}|`) && x.key.endsWith(DSTREAM)))
      state.prepare('UPDATE heads SET revision = ?, hash = ? WHERE key = ?').run(Number(events.at(-1)!.revision), events.at(-1)!.metadata.hash, r.key);
  } finally {
    state.close();
  }
  const start = await a.run('start');
  t.is(start.code, 4, start.stderr);
  t.regex(start.stderr, /local state .* was altered .*does not carry this instance's MAC/);
});

test('accept-rollback: an operator accepts a store restored from a backup; it is recorded and key decisions resume', async (t) => {
  t.timeout(60_000);
  const { dir, a, removalAt } = await removedAndRefused();
  truncate(ledgerFile(dir), DSTREAM, removalAt);
  const refused = await a.run('start');
  t.is(refused.code, 4);
  const target = /accept-rollback --to (\S+)/.exec(refused.stderr)?.[1];
  if (!target) return t.fail(refused.stderr);
  t.is(target, `${DSTREAM}@${removalAt - 1}`);

  const wrong = await a.run('accept-rollback', '--to', `${DSTREAM}@${removalAt + 5}`);
  t.is(wrong.code, 2);
  t.regex(wrong.stderr, new RegExp(`ends at revision ${removalAt - 1}, not ${removalAt + 5}`));

  const accepted = await a.run('--json', 'accept-rollback', '--to', target);
  t.is(accepted.code, 0, accepted.stderr);
  t.deepEqual(accepted.json<{ accepted: { from: string; to: string } }>().accepted, { from: String(removalAt), to: String(removalAt - 1) });
  const recorded = (await instanceEvents(dir, a.id)).at(-1)?.event;
  t.is(recorded?.type, 'LedgerRollbackAccepted');
  t.is((await a.run('start')).code, 0, 'key decisions resume on the accepted ledger');
  t.is((await a.run('accept-rollback', '--to', target)).code, 0, 'accepting again is nothing to do');
});

test('no false alarm: a ledger that only grows, across many commands and instances sharing one state folder', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-rb');
  const [a, b, c] = await activatedDeployment(dir, ['A', 'B', 'C']);
  for (const n of [a!, b!, c!, a!, b!]) t.is((await n.run('start')).code, 0);
  t.is((await a!.run('remove', c!.id)).code, 0);
  t.is((await b!.run('start')).code, 0);
});
