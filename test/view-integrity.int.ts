/**
 * The activation view does not trust a damaged ledger: the runner checks every
 * event's hash, its previous-hash link and its revision as it folds (from an
 * empty view, and across runs from the heads saved with the checkpoint), and a
 * ledger file replaced behind its back (another ledger, a restored backup) is
 * noticed and rebuilt from, instead of silently skipping events.
 *
 * Ledgers are built with `sealEvents` (the domain builders' events) into the
 * SQLite store, and tampered with in the file (`test/support/tamper.ts`).
 */
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { filter, firstValueFrom, share, take, toArray } from 'rxjs';
import { GENESIS, hashEvent, sealEvents } from '../src/domain/envelope';
import { isContentEvent, isDeploymentEvent, type LedgerEvent, type RefusalReason } from '../src/domain/events';
import { contentStream, instanceStream } from '../src/domain/ids';
import { sha256Hex } from '../src/infra/sha256';
import { openSqliteCheckpoints } from '../src/infra/sqlite-checkpoints';
import type { CheckpointStore } from '../src/ports/checkpoints';
import type { EventStore } from '../src/ports/event-store';
import { activationProjection, type ActivationView } from '../src/projections/activation';
import { instanceStatus } from '../src/projections/status';
import { runLive } from '../src/projections/live';
import { catchUp, type ProjectionResult, type RunnerError } from '../src/projections/runner';
import { runCli } from '../src/cli/main';
import { cli } from './support/cli-inproc';
import { activatedDeployment } from './support/nodes';
import { editCheckpointState } from './support/tamper';
import {
  activated,
  cluster,
  configRead,
  DSTREAM,
  founder,
  IDENTITY,
  keyPairIssued,
  NODE_1,
  NODE_2,
  NODE_3,
  publicKeyStored,
  refused,
  TP_1,
  TP_2,
  TP_3,
} from './support/domain-builders';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { rowOf, tamper } from './support/tamper';

const digest = sha256Hex;
const S1 = instanceStream(NODE_1);
const S2 = instanceStream(NODE_2);

const checkpointsIn = (dir: string): CheckpointStore => rightOf(openSqliteCheckpoints(path.join(dir, 'state', 'projections.db')));

/** Seals each event onto the head of its stream, as a command would, and appends it. */
const write = async (store: EventStore, events: ReadonlyArray<LedgerEvent>): Promise<void> => {
  for (const ev of events) {
    const stream = isDeploymentEvent(ev) ? DSTREAM : isContentEvent(ev) ? contentStream(ev.data.deploymentId) : instanceStream(ev.data.installationId);
    const last = rightOf(await store.readStream(stream, { direction: 'backwards', maxCount: 1 })())[0];
    const head = last ? { revision: last.revision, hash: (last.metadata as { hash: string }).hash } : { revision: 'no_stream' as const, hash: GENESIS };
    const sealed = rightOf(sealEvents(stream, head, [ev], aContext('test'), digest));
    rightOf(await store.append(stream, sealed, head.revision)());
  }
};

/** A new ledger file holding these events. */
const ledgerWith = async (file: string, events: ReadonlyArray<LedgerEvent>): Promise<EventStore> => {
  const store = openTestStore(file);
  await write(store, events);
  return store;
};

/** A fresh directory with a ledger file holding the founder's history (NODE_1 initialized and activated). */
const founderLedger = async (): Promise<{ dir: string; file: string; store: EventStore }> => {
  const dir = tempDir('kl-vi');
  const file = path.join(dir, 'ledger.db');
  return { dir, file, store: await ledgerWith(file, founder) };
};

/** Changes one character of the stored thumbprint of an event, in the file (the hash in its metadata is left as it was). */
const flipThumbprint = (file: string, stream: string, revision: number): void => {
  const data = JSON.parse(rowOf(file, stream, revision).data) as { thumbprint: string };
  const c = data.thumbprint[5] === 'A' ? 'B' : 'A';
  const edited = { ...data, thumbprint: data.thumbprint.slice(0, 5) + c + data.thumbprint.slice(6) };
  if (tamper(file, 'UPDATE events SET data = ? WHERE stream_name = ? AND stream_revision = ?', JSON.stringify(edited), stream, revision) !== 1)
    throw new Error('test bug: no such row');
};

/** Changes an event's thumbprint and re-seals its own hash (as someone who knows the scheme would): its successor's link breaks. */
const rewriteWithNewHash = (file: string, stream: string, revision: number): void => {
  const row = rowOf(file, stream, revision);
  const data = JSON.parse(row.data) as { thumbprint: string };
  const { hash: _old, ...meta } = JSON.parse(row.metadata) as { hash: string; prevHash: string };
  const edited = { ...data, thumbprint: TP_3 };
  const hash = hashEvent(digest, stream, BigInt(revision), row.event_type, edited, meta as never);
  tamper(
    file,
    'UPDATE events SET data = ?, metadata = ? WHERE stream_name = ? AND stream_revision = ?',
    JSON.stringify(edited),
    JSON.stringify({ ...meta, hash }),
    stream,
    revision,
  );
};

/** Copies a closed ledger file over another (as a file restore would), dropping the target's WAL side files. */
const replaceFile = (from: string, to: string): void => {
  for (const suffix of ['-wal', '-shm']) fs.rmSync(to + suffix, { force: true });
  fs.copyFileSync(from, to);
};

const leftOf = <A>(t: ExecutionContext, r: E.Either<RunnerError, A>): RunnerError => {
  if (E.isRight(r)) {
    t.fail('expected the runner to stop');
    throw new Error('expected Left');
  }
  return r.left;
};

const expectTampered = (t: ExecutionContext, e: RunnerError, stream: string, revision: bigint, eventType: string, problem: RegExp): void => {
  t.like(e, { _tag: 'CorruptEvent', stream, revision, eventType, tampered: true });
  t.regex((e as { problem: string }).problem, problem);
};

/** A start refused because the service identity changed (NODE_1 disabled). */
const MOVED: RefusalReason = { _tag: 'ServiceIdentityChanged', recordedIdentity: IDENTITY, presentedIdentity: 'svc-moved' };

const HASH = /its content does not match its hash/;
const LINK = /previous-hash link does not match the event before it/;

// ─── (a) tampered, read from an empty view ────────────────────────────────

test('from an empty view: one character of a stored thumbprint changed → CorruptEvent naming stream and revision, tampered', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  flipThumbprint(file, S1, 1); // KeyPairIssued
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());

  const e = leftOf(t, await catchUp(store, activationProjection, cp, { digest })());
  expectTampered(t, e, S1, 1n, 'KeyPairIssued', HASH);
  // The checkpoint stayed before it (ConfigRead folded): the next run meets it again, never past it.
  const again = leftOf(t, await catchUp(store, activationProjection, cp, { digest })());
  expectTampered(t, again, S1, 1n, 'KeyPairIssued', HASH);
  // With a page size of 1, too.
  const cpFresh = checkpointsIn(tempDir('kl-vi'));
  t.teardown(() => cpFresh.close());
  expectTampered(t, leftOf(t, await catchUp(store, activationProjection, cpFresh, { digest, pageSize: 1 })()), S1, 1n, 'KeyPairIssued', HASH);
  await store.close();
});

test("an event re-sealed with its own new hash: the next event's link is broken", async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  rewriteWithNewHash(file, S1, 1);
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  expectTampered(t, leftOf(t, await catchUp(store, activationProjection, cp, { digest })()), S1, 2n, 'InstanceActivated', LINK);
  await store.close();
});

test('an undecodable event stays a CorruptEvent without the tampered mark (exit 3, not 4)', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  tamper(file, "UPDATE events SET event_type = 'KeyPairStolen' WHERE stream_name = ? AND stream_revision = 1", S1);
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  const e = leftOf(t, await catchUp(store, activationProjection, cp, { digest })());
  t.like(e, { _tag: 'CorruptEvent', stream: S1, revision: 1n, eventType: 'KeyPairStolen', problem: 'unknown event type "KeyPairStolen"' });
  t.false('tampered' in e);
  await store.close();
});

// ─── (b) tampered after the checkpoint ────────────────────────────────────

test('an event written after the checkpoint and then altered: detected by the next catch-up', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  t.is(rightOf(await catchUp(store, activationProjection, cp, { digest })()).processed, 5);

  await write(store, [configRead(NODE_2), keyPairIssued(NODE_2, TP_2), publicKeyStored(NODE_2, TP_2)]);
  flipThumbprint(file, S2, 1);
  expectTampered(t, leftOf(t, await catchUp(store, activationProjection, cp, { digest })()), S2, 1n, 'KeyPairIssued', HASH);

  await store.close();
});

test('the heads are saved with the checkpoint: a link broken right after it is caught across runs (new process)', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  const cp1 = checkpointsIn(dir);
  t.is(rightOf(await catchUp(store, activationProjection, cp1, { digest })()).processed, 5);
  cp1.close();

  // NODE_1's stream grows (revisions 3 and 4); then revision 3 is forged with a different predecessor (hash re-sealed).
  await write(store, [refused(NODE_1, MOVED), activated(NODE_1, TP_1)]);
  const row = rowOf(file, S1, 3);
  const { hash: _h, ...meta } = JSON.parse(row.metadata) as { hash: string; prevHash: string };
  const forgedMeta = { ...meta, prevHash: 'f'.repeat(64) };
  const forgedHash = hashEvent(digest, S1, 3n, row.event_type, JSON.parse(row.data), forgedMeta as never);
  tamper(file, 'UPDATE events SET metadata = ? WHERE stream_name = ? AND stream_revision = 3', JSON.stringify({ ...forgedMeta, hash: forgedHash }), S1);

  const cp2 = checkpointsIn(dir); // a new process: only the checkpoint file knows the head of S1 (revision 2)
  t.teardown(() => cp2.close());
  const e = leftOf(t, await catchUp(store, activationProjection, cp2, { digest })());
  expectTampered(t, e, S1, 3n, 'InstanceActivationRefused', LINK);
  await store.close();
});

// ─── (c) an event removed ─────────────────────────────────────────────────

test('an event deleted from the middle of a stream: the revision gap is named', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  t.is(tamper(file, 'DELETE FROM events WHERE stream_name = ? AND stream_revision = 1', S1), 1);
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  expectTampered(t, leftOf(t, await catchUp(store, activationProjection, cp, { digest })()), S1, 2n, 'InstanceActivated', /revision 1 is missing before it/);
  await store.close();
});

test('an event deleted and the rest renumbered (streams table fixed): the renumbered event no longer matches its hash', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  tamper(file, 'DELETE FROM events WHERE stream_name = ? AND stream_revision = 1', S1);
  tamper(file, 'UPDATE events SET stream_revision = 1 WHERE stream_name = ? AND stream_revision = 2', S1);
  tamper(file, 'UPDATE streams SET revision = 1 WHERE stream_name = ?', S1);
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  expectTampered(t, leftOf(t, await catchUp(store, activationProjection, cp, { digest })()), S1, 1n, 'InstanceActivated', HASH);
  await store.close();
});

test('the first event of a stream deleted after the checkpoint: revision 0 is missing', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  rightOf(await catchUp(store, activationProjection, cp, { digest })());
  await write(store, [configRead(NODE_2), keyPairIssued(NODE_2, TP_2)]);
  tamper(file, 'DELETE FROM events WHERE stream_name = ? AND stream_revision = 0', S2);
  expectTampered(t, leftOf(t, await catchUp(store, activationProjection, cp, { digest })()), S2, 1n, 'KeyPairIssued', /revision 0 is missing before it/);
  await store.close();
});

// ─── (d) the ledger file replaced ─────────────────────────────────────────

test("the ledger file replaced by another ledger after a checkpoint: rebuilt (ledger-replaced), the view is the new ledger's only", async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  const first = rightOf(await catchUp(store, activationProjection, cp, { digest })());
  t.is(first.rebuilt, null);
  t.is(instanceStatus(first.state, NODE_1).state, 'activated');
  await store.close();

  // Another ledger: NODE_2 founded its own deployment (three events of its own stream, two of the deployment's).
  const other = path.join(tempDir('kl-vi-other'), 'ledger.db');
  await (await ledgerWith(other, [configRead(NODE_2), keyPairIssued(NODE_2, TP_2), publicKeyStored(NODE_2, TP_2)])).close();
  replaceFile(other, file);

  const reopened = openTestStore(file);
  const r = rightOf(await catchUp(reopened, activationProjection, cp, { digest })());
  t.deepEqual(r.rebuilt, { reason: 'ledger-replaced' });
  t.is(r.processed, 3);
  t.is(instanceStatus(r.state, NODE_1).state, 'not-initialized');
  t.is(instanceStatus(r.state, NODE_2).state, 'initializing');
  // Reported once: the next run trusts the new checkpoint.
  const next = rightOf(await catchUp(reopened, activationProjection, cp, { digest })());
  t.like(next, { rebuilt: null, processed: 0 });
  t.deepEqual(next.state, r.state);
  await reopened.close();
});

test('restored from an older backup, then the same stream written again: same revision and position, another hash → rebuilt', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-vi');
  const file = path.join(dir, 'ledger.db');
  const backup = path.join(dir, 'backup.db');
  const store = await ledgerWith(file, founder);
  await store.close();
  fs.copyFileSync(file, backup); // the store was closed: the WAL is checkpointed into the file

  const live = openTestStore(file);
  await write(live, [refused(NODE_1, MOVED)]); // S1@3, position 6
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  const before = rightOf(await catchUp(live, activationProjection, cp, { digest })());
  t.is(instanceStatus(before.state, NODE_1).state, 'disabled');
  await live.close();

  replaceFile(backup, file);
  const restored = openTestStore(file);
  await write(restored, [activated(NODE_1, TP_1)]); // S1@3 again, position 6 again, another event
  const r = rightOf(await catchUp(restored, activationProjection, cp, { digest })());
  t.deepEqual(r.rebuilt, { reason: 'ledger-replaced' });
  t.is(r.processed, 6);
  t.is(instanceStatus(r.state, NODE_1).state, 'activated', 'not the refusal of the replaced ledger');
  await restored.close();
});

test('restored from a backup older than the checkpoint: the checkpointed event is gone → rebuilt from what is there', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-vi');
  const file = path.join(dir, 'ledger.db');
  const backup = path.join(dir, 'backup.db');
  await (await ledgerWith(file, founder)).close();
  fs.copyFileSync(file, backup);
  const live = openTestStore(file);
  await write(live, [configRead(NODE_2), keyPairIssued(NODE_2, TP_2)]);
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  t.is(rightOf(await catchUp(live, activationProjection, cp, { digest })()).processed, 7);
  await live.close();
  replaceFile(backup, file);
  const restored = openTestStore(file);
  const r = rightOf(await catchUp(restored, activationProjection, cp, { digest })());
  t.like(r, { rebuilt: { reason: 'ledger-replaced' }, processed: 5 });
  t.is(instanceStatus(r.state, NODE_2).state, 'not-initialized');
  await restored.close();
});

test('a checkpoint without heads (written before they were kept, old table layout) is rebuilt; a version bump says so', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-vi');
  const store = await ledgerWith(path.join(dir, 'ledger.db'), founder);
  // The checkpoint file as the previous release wrote it: no heads / tip columns, a row claiming position 5.
  const cpFile = path.join(dir, 'state', 'projections.db');
  fs.mkdirSync(path.dirname(cpFile), { recursive: true });
  const db = new Database(cpFile);
  db.exec(`CREATE TABLE checkpoints (
      key TEXT PRIMARY KEY, version INTEGER NOT NULL, commit_pos TEXT NOT NULL, prepare_pos TEXT NOT NULL,
      state TEXT NOT NULL, saved_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
    ) WITHOUT ROWID`);
  db.prepare('INSERT INTO checkpoints (key, version, commit_pos, prepare_pos, state) VALUES (?, ?, ?, ?, ?)').run(
    `${activationProjection.name}@${store.endpoint}`,
    activationProjection.version,
    '5',
    '5',
    JSON.stringify({ instances: {}, deployments: {} }),
  );
  db.close();

  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  const r = rightOf(await catchUp(store, activationProjection, cp, { digest })());
  t.like(r, { rebuilt: { reason: 'no-heads' }, processed: 5 });
  t.is(instanceStatus(r.state, NODE_1).state, 'activated');
  t.like(rightOf(await catchUp(store, activationProjection, cp, { digest })()), { rebuilt: null, processed: 0 });
  t.like(rightOf(await catchUp(store, { ...activationProjection, version: activationProjection.version + 1 }, cp, { digest })()), {
    rebuilt: { reason: 'version-changed' },
    processed: 5,
  });
  await store.close();
});

// ─── (e) no false alarm; live ─────────────────────────────────────────────

test('a ledger growing across several catch-ups (new processes, small pages) is accepted without a false alarm', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-vi');
  const file = path.join(dir, 'ledger.db');
  const store = openTestStore(file);
  const batches: ReadonlyArray<ReadonlyArray<LedgerEvent>> = [
    founder.slice(0, 2),
    founder.slice(2),
    cluster.slice(5, 8),
    [refused(NODE_1, MOVED), activated(NODE_1, TP_1)],
    cluster.slice(8),
    [configRead(NODE_3), keyPairIssued(NODE_3, TP_3), publicKeyStored(NODE_3, TP_3)],
  ];
  let total = 0;
  let last: ProjectionResult<ActivationView> | undefined;
  for (const [i, batch] of batches.entries()) {
    await write(store, batch);
    total += batch.length;
    const cp = checkpointsIn(dir); // each run a new process
    last = rightOf(await catchUp(store, activationProjection, cp, { digest, pageSize: 2 })());
    cp.close();
    t.like(last, { processed: batch.length, rebuilt: null }, `run ${i}`);
    t.is(last.position.commit, BigInt(total));
  }
  t.is(instanceStatus(last!.state, NODE_1).state, 'activated');
  t.is(instanceStatus(last!.state, NODE_2).state, 'activated');
  t.is(instanceStatus(last!.state, NODE_3).state, 'waiting-to-join');
  // And a full rebuild of the same ledger agrees with the incremental view.
  const fresh = checkpointsIn(tempDir('kl-vi'));
  t.teardown(() => fresh.close());
  t.deepEqual(rightOf(await catchUp(store, activationProjection, fresh, { digest })()).state, last!.state);
  await store.close();
});

test('live: a tampered event in the backlog stops the live view with a tampered CorruptEvent', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  flipThumbprint(file, S1, 1);
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  const err = await firstValueFrom(runLive(store, activationProjection, cp, { digest })).then(
    () => undefined,
    (e: unknown) => e as RunnerError,
  );
  if (!err) return t.fail('the live view should have stopped');
  expectTampered(t, err, S1, 1n, 'KeyPairIssued', HASH);
  await store.close();
});

test('live: growing normally, then a forged event arrives → the live view stops on it, after the views before it', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  const writer = openTestStore(file);
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());

  const views$ = runLive(store, activationProjection, cp, { digest }).pipe(share());
  const views: Array<{ live: boolean; rebuilt: unknown }> = [];
  const ended = new Promise<unknown>((resolve) => views$.subscribe({ next: (v) => views.push(v), error: resolve, complete: () => resolve(undefined) }));
  await firstValueFrom(
    views$.pipe(
      filter((v) => v.live),
      take(1),
    ),
  );
  // Two genuine events, then one whose content was changed after sealing (its hash no longer matches).
  await write(writer, [configRead(NODE_2), keyPairIssued(NODE_2, TP_2)]);
  await firstValueFrom(views$.pipe(take(2), toArray()));
  const [forged] = rightOf(
    sealEvents(
      DSTREAM,
      { revision: 1n, hash: (rightOf(await store.readStream(DSTREAM, { fromRevision: 1n })())[0]!.metadata as { hash: string }).hash },
      [publicKeyStored(NODE_2, TP_2)],
      aContext(),
      digest,
    ),
  );
  rightOf(await writer.append(DSTREAM, [{ ...forged!, data: { ...(forged!.data as object), instanceName: 'EVIL' } }], 1n)());
  const err = (await ended) as RunnerError;
  expectTampered(t, err, DSTREAM, 2n, 'PublicKeyStored', HASH);
  t.is(views.length, 3, 'caught up, then one view per genuine event');
  t.like(views[0], { live: true, rebuilt: null });
  // The checkpoint kept the genuine events: a catch-up resumes after them and meets the forged one.
  const again = await catchUp(store, activationProjection, cp, { digest })();
  expectTampered(t, leftOf(t, again), DSTREAM, 2n, 'PublicKeyStored', HASH);
  await writer.close();
  await store.close();
});

test('live: a replaced ledger is rebuilt and the caught-up view says so', async (t) => {
  t.timeout(30_000);
  const { dir, file, store } = await founderLedger();
  const cp = checkpointsIn(dir);
  t.teardown(() => cp.close());
  rightOf(await catchUp(store, activationProjection, cp, { digest })());
  await store.close();
  const other = path.join(tempDir('kl-vi-other'), 'ledger.db');
  await (await ledgerWith(other, [configRead(NODE_2)])).close();
  replaceFile(other, file);
  const reopened = openTestStore(file);
  const first = await firstValueFrom(runLive(reopened, activationProjection, cp, { digest }));
  t.like(first, { live: true, rebuilt: { reason: 'ledger-replaced' } });
  t.is(instanceStatus(first.state, NODE_1).state, 'not-initialized');
  t.is(instanceStatus(first.state, NODE_2).state, 'initializing');
  await reopened.close();
});

// ─── The CLI ──────────────────────────────────────────────────────────────

/**
 * A config made by the CLI, its instance's ledger written with `sealEvents`
 * (NODE_1 founded the deployment and is activated). Not `init` through the CLI:
 * this file tests the view, not the commands.
 */
const instanceWithLedger = async (dir: string, events: ReadonlyArray<LedgerEvent> = founder): Promise<{ file: string; ledger: string; stream: string }> => {
  const file = path.join(dir, 'A.json');
  const made = await cli('-c', file, 'config', 'new', '--instance', 'A');
  if (made.code !== 0) throw new Error(made.stderr);
  fs.writeFileSync(file, JSON.stringify({ ...(JSON.parse(fs.readFileSync(file, 'utf8')) as object), installationId: NODE_1 }, null, 2));
  const ledger = path.join(dir, '.keyledger', 'ledger.db');
  await (await ledgerWith(ledger, events)).close();
  return { file, ledger, stream: S1 };
};

/**
 * The CLI in process, like `cli` in test/support/cli-inproc.ts, but keeping what
 * was written to stderr even if the command throws after loading the view
 * (code -1 then): these tests are about the view's loading, not the rendering.
 */
const run = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  let stdout = '';
  let stderr = '';
  const io = { stdout: (x: string) => (stdout += x), stderr: (x: string) => (stderr += x), env: { KEYLEDGER_ACTOR: 'operator@test' }, isTTY: false };
  try {
    return { code: await runCli(args, io), stdout, stderr };
  } catch (e) {
    return { code: -1, stdout, stderr: `${stderr}[threw] ${e instanceof Error ? e.message : String(e)}\n` };
  }
};

test('cli: a thumbprint changed in the ledger file, local view deleted → status and list exit 4 naming stream and revision', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vi-cli');
  const { file, ledger, stream } = await instanceWithLedger(dir);
  const before = await run('-c', file, 'status'); // builds the local view from the intact ledger
  t.false(before.stderr.includes('keyledger:'), before.stderr);
  flipThumbprint(ledger, stream, 1);
  fs.rmSync(path.join(dir, '.keyledger', 'projections.db'), { force: true });
  const status = await run('-c', file, 'status');
  t.is(status.code, 4, status.stderr);
  t.is(status.stdout, '');
  t.is(status.stderr.trim().split('\n').length, 1, 'one line');
  t.true(status.stderr.includes(`${stream}@1`), status.stderr);
  t.regex(status.stderr, /does not match its hash/);
  const list = await run('-c', file, 'list');
  t.is(list.code, 4, list.stderr);
});

test('cli: the ledger file replaced by another → status says the view was rebuilt, once', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vi-cli');
  const a = await instanceWithLedger(dir);
  // The local view's checkpoint, on the original ledger (`list` builds the whole view; a cold `status` reads only its own streams).
  const before = await run('-c', a.file, 'list');
  t.false(before.stderr.includes('keyledger:'), before.stderr);
  const other = path.join(tempDir('kl-vi-cli-other'), 'ledger.db');
  await (await ledgerWith(other, [configRead(NODE_2), keyPairIssued(NODE_2, TP_2), publicKeyStored(NODE_2, TP_2)])).close();
  replaceFile(other, a.ledger);
  const status = await run('-c', a.file, 'status');
  t.is(
    status.stderr.split('\n')[0],
    "keyledger: the local view no longer matches the ledger (it was replaced or restored from a backup): rebuilt it from the ledger's 3 events",
  );
  t.is(status.stderr.split('\n').filter((l) => l.includes('no longer matches')).length, 1);
  const again = await run('-c', a.file, 'status');
  t.false(again.stderr.includes('no longer matches'), again.stderr);
});

test("the view checkpoint is MAC'd under the instance's local-state key: one edited in the state folder is rebuilt from the ledger, not shown", async (t) => {
  t.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-cpmac-'));
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  t.regex((await a!.run('list')).stdout, /RS-B/); // list catches the shared view up and saves its checkpoint
  // Someone who can write the state folder (but has no machine secret) edits the saved view.
  t.true(editCheckpointState(path.join(dir, '.keyledger', 'projections.db'), (json) => json.replaceAll('RS-B', 'RS-FORGED')) > 0);
  for (const after of [await a!.run('list'), await a!.run('status', b!.id)]) {
    t.is(after.code, 0, after.stderr);
    t.regex(after.stdout, /RS-B/);
    t.notRegex(after.stdout, /FORGED/);
  }
  // Unit level: the store refuses a row whose MAC does not verify, and accepts its own.
  const mac = (text: string) => `m:${text.length}`;
  const file = path.join(dir, 'unit.db');
  const store = E.getOrElseW(() => t.fail() as never)(openSqliteCheckpoints(file, { mac })) as CheckpointStore;
  const cp = { version: 1, position: { commit: 1n, prepare: 1n }, state: { x: 1 }, heads: {}, tip: null };
  t.true(E.isRight(store.save('k', cp)));
  t.like(E.getOrElseW(() => undefined)(store.load('k')), { version: 1 });
  store.close();
  const other = E.getOrElseW(() => t.fail() as never)(openSqliteCheckpoints(file, { mac: (text: string) => `other:${text.length}` })) as CheckpointStore;
  t.is(E.getOrElseW(() => 'error')(other.load('k')), undefined, 'under another key: absent, rebuilt');
  other.close();
});

test('instances sharing a state folder keep a view each (rows per machine secret), instead of rebuilding over each other', async (t) => {
  t.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-cpshare-'));
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const secretOf = (keystore: string): string => fs.readFileSync(path.join(path.dirname(keystore), 'machine.secret'), 'utf8');
  t.not(secretOf(a!.keystore), secretOf(b!.keystore), 'each config new gives the instance a keystore folder and machine secret of its own');
  t.is((await a!.run('list')).code, 0);
  t.is((await b!.run('list')).code, 0);
  const db = new Database(path.join(dir, '.keyledger', 'projections.db'), { readonly: true });
  try {
    const keys = (db.prepare('SELECT key FROM checkpoints').all() as Array<{ key: string }>).map((r) => r.key);
    t.is(keys.length, 2, keys.join(', '));
    t.not(keys[0], keys[1]);
  } finally {
    db.close();
  }
});
