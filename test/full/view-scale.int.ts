/**
 * Issue 10, item 1: a catch-up folds a working copy of the view in place (its
 * cost per event does not grow with the fleet), keeps its work page by page,
 * and a catch-up killed half way (saving every page) resumes from its last saved page and ends
 * with the same view as an uninterrupted one.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { sealEvents } from '../../src/domain/envelope';
import type { LedgerEvent } from '../../src/domain/events';
import { instanceStream } from '../../src/domain/ids';
import { openSqliteCheckpoints } from '../../src/infra/sqlite-checkpoints';
import { sha256Hex } from '../../src/infra/sha256';
import type { CheckpointStore } from '../../src/ports/checkpoints';
import { type EventStore, storeUnavailable } from '../../src/ports/event-store';
import { activationFold, activationProjection, evolveActivation, initialActivationView } from '../../src/projections/activation';
import { listInstances } from '../../src/projections/status';
import { catchUp } from '../../src/projections/runner';
import { verifyLedger } from '../../src/commands/verify';
import { activated, configRead, DSTREAM, keyCreated, keyPairIssued, keyWrapped, NODE_1, publicKeyStored, refused, TP_1, V1 } from '../support/domain-builders';
import { aContext, openTestStore, rightOf, tempDir } from '../support/fixtures';
import { tamper } from '../support/tamper';

const checkpointsIn = (dir: string, name: string): CheckpointStore => rightOf(openSqliteCheckpoints(path.join(dir, name, 'projections.db')));

/** A ledger of `members` instances joined to one deployment, each started twice (refused, then activated), sealed through the port. */
const fleet = async (store: EventStore, members: number): Promise<number> => {
  const heads = new Map<string, { revision: bigint; hash: string }>();
  let count = 0;
  const write = async (e: LedgerEvent): Promise<void> => {
    const stream =
      'deploymentId' in e.data && e.type !== 'ConfigRead' && e.type !== 'InstanceActivated' && e.type !== 'InstanceActivationRefused'
        ? DSTREAM
        : instanceStream((e.data as { installationId: string }).installationId as never);
    const head = heads.get(stream);
    const sealed = rightOf(
      sealEvents(stream, head ? { revision: head.revision, hash: head.hash } : { revision: 'no_stream', hash: '0'.repeat(64) }, [e], aContext(), sha256Hex),
    );
    rightOf(await store.append(stream, sealed, head ? head.revision : 'no_stream')());
    heads.set(stream, { revision: (head?.revision ?? -1n) + 1n, hash: (sealed[0]!.metadata as { hash: string }).hash });
    count++;
  };
  for (const e of [configRead(NODE_1), keyPairIssued(NODE_1, TP_1), publicKeyStored(NODE_1, TP_1), keyCreated(NODE_1, TP_1), activated(NODE_1, TP_1)])
    await write(e);
  for (let i = 0; i < members; i++) {
    const id = `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}` as never;
    const tp = TP_1.slice(0, 31) + i.toString(16).padStart(12, '0');
    const cr = configRead(NODE_1);
    await write({ ...cr, data: { ...cr.data, installationId: id, machineName: `RS-${i}` as never } });
    const kp = keyPairIssued(NODE_1, tp as never);
    await write({ ...kp, data: { ...kp.data, installationId: id } });
    const ps = publicKeyStored(NODE_1, tp as never);
    await write({ ...ps, data: { ...ps.data, installationId: id, machineName: `RS-${i}` as never } });
    const r = refused(NODE_1, { _tag: 'NoWrappedCopy', keyVersion: V1 });
    await write({ ...r, data: { ...r.data, installationId: id } });
    await write(keyWrapped(id, tp as never, V1));
    const a = activated(NODE_1, tp as never);
    await write({ ...a, data: { ...a.data, installationId: id } });
  }
  return count;
};

test('the fold gives exactly the view that evolve gives event by event', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-scale');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  await fleet(store, 40);
  const all = rightOf(await store.readAll({ maxCount: 10_000 })());
  const { decodeRecorded } = await import('../../src/domain/envelope');
  const events = all.map((r) => rightOf(decodeRecorded(r)));
  const byEvolve = events.reduce(evolveActivation, initialActivationView);
  const working = activationFold.begin(initialActivationView);
  for (const e of events) activationFold.apply(working, e);
  t.deepEqual(activationFold.end(working), byEvolve);
  t.is(listInstances(byEvolve).filter((s) => s.state === 'activated').length, 41);
  await store.close();
});

test('a catch-up killed half way (saving every page) resumes from its last saved page and ends with the same view as an uninterrupted one', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-scale');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const total = await fleet(store, 60); // 365 events
  const pageSize = 50;

  // The reference: one uninterrupted catch-up.
  const reference = rightOf(await catchUp(store, activationProjection, checkpointsIn(dir, 'reference'), { digest: sha256Hex, pageSize })());
  t.is(reference.processed, total);

  // Killed during its fourth page (the store goes away after three pages).
  let pages = 0;
  const dying: EventStore = {
    endpoint: store.endpoint,
    append: (s, e, x) => store.append(s, e, x),
    readStream: (s, o) => store.readStream(s, o),
    readAll: (o) => (++pages > 3 ? async () => E.left(storeUnavailable(store.endpoint, 'killed')) : store.readAll(o)),
    subscribeToAll: (o) => store.subscribeToAll(o),
    close: () => store.close(),
  };
  const cp = checkpointsIn(dir, 'interrupted');
  const killed = await catchUp(dying, activationProjection, cp, { digest: sha256Hex, pageSize, saveEveryMs: 0 })();
  t.true(E.isLeft(killed));
  const resumed = rightOf(await catchUp(store, activationProjection, cp, { digest: sha256Hex, pageSize })());
  t.is(resumed.processed, total - 3 * pageSize, 'the three saved pages were not folded again');
  t.deepEqual(resumed.state, reference.state);
  t.deepEqual(resumed.position, reference.position);
  await store.close();
});

test("a cold status reads only its instance's and deployment's streams (not $all), and answers as the whole view does", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-scale');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  await fleet(store, 30);
  const { instanceViewFromStreams } = await import('../../src/projections/instance-view');
  const { findingsFor } = await import('../../src/projections/findings');
  const { instanceStatus } = await import('../../src/projections/status');
  let readAlls = 0;
  const counting: EventStore = {
    ...Object.create(null),
    endpoint: store.endpoint,
    append: (s, e, x) => store.append(s, e, x),
    readStream: (s, o) => store.readStream(s, o),
    readAll: (o) => {
      readAlls += 1;
      return store.readAll(o);
    },
    subscribeToAll: (o) => store.subscribeToAll(o),
    close: () => store.close(),
  };
  const whole = rightOf(await catchUp(store, activationProjection, checkpointsIn(dir, 'whole'), { digest: sha256Hex })()).state;
  const id = '00000000-0000-4000-8000-00000000000a';
  const one = rightOf(await instanceViewFromStreams(counting, id as never, sha256Hex)());
  t.is(readAlls, 0, 'no read of $all');
  t.deepEqual(instanceStatus(one, id), instanceStatus(whole, id));
  t.deepEqual(findingsFor(one, id), findingsFor(whole, id));
  await store.close();
});

/** The store as the runner sees it, counting read-aheads (none: `readAhead` hidden, every page read on this thread). */
const counting = (store: EventStore, readAhead: boolean): EventStore & { aheads: number } => {
  const s = {
    endpoint: store.endpoint,
    aheads: 0,
    append: store.append.bind(store),
    readStream: store.readStream.bind(store),
    readAll: store.readAll.bind(store),
    subscribeToAll: store.subscribeToAll.bind(store),
    close: () => store.close(),
  };
  if (!readAhead) return s;
  return Object.assign(s, {
    readAhead: (o: Parameters<NonNullable<EventStore['readAhead']>>[0]) => {
      s.aheads++;
      return store.readAhead!(o);
    },
  });
};

test('a long catch-up reads and hashes ahead on another thread, and folds exactly the view read here gives', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ahead');
  const store = openTestStore(path.join(dir, 'ledger.db'));
  const total = await fleet(store, 60); // 365 events: 73 pages of 5, read ahead after the 20th
  const here = counting(store, false);
  const ahead = counting(store, true);
  const reference = rightOf(await catchUp(here, activationProjection, checkpointsIn(dir, 'here'), { digest: sha256Hex, pageSize: 5 })());
  const r = rightOf(await catchUp(ahead, activationProjection, checkpointsIn(dir, 'ahead'), { digest: sha256Hex, pageSize: 5 })());
  t.is(ahead.aheads, 1, 'read ahead once the catch-up was long');
  t.is(r.processed, total);
  t.deepEqual(r.state, reference.state);
  t.deepEqual(r.position, reference.position);
  await store.close();
});

test('read ahead: an event edited in place (no re-hash) stops the catch-up on it as tampered; a row that is not JSON as unreadable', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ahead');
  const file = path.join(dir, 'ledger.db');
  const store = openTestStore(file);
  await fleet(store, 60);
  // Member 55's first event comes long after the catch-up starts reading ahead.
  const victim = instanceStream('00000000-0000-4000-8000-000000000037' as never);
  t.is(tamper(file, 'UPDATE events SET data = replace(data, \'"RS-55"\', \'"RS-66"\') WHERE stream_name = ? AND stream_revision = 0', victim), 1);
  const edited = await catchUp(store, activationProjection, checkpointsIn(dir, 'a'), { digest: sha256Hex, pageSize: 5 })();
  t.like(E.isLeft(edited) ? edited.left : undefined, { _tag: 'CorruptEvent', stream: victim, revision: 0n, tampered: true });
  t.is(tamper(file, "UPDATE events SET data = '{not json' WHERE stream_name = ? AND stream_revision = 1", victim), 1);
  const unreadable = await catchUp(store, activationProjection, checkpointsIn(dir, 'b'), { digest: sha256Hex, pageSize: 5 })();
  // The page holding it cannot be read at all: the error names the row, before the edited event is reached.
  t.like(E.isLeft(unreadable) ? unreadable.left : undefined, { _tag: 'StoredRecordUnreadable', stream: victim, revision: 1n });
  await store.close();
});

test('verify reads ahead too: the same report as read here, and a row that is not JSON far into the ledger is reported and passed', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ahead');
  const file = path.join(dir, 'ledger.db');
  const store = openTestStore(file);
  const total = await fleet(store, 60);
  const clean = rightOf(await verifyLedger(counting(store, true), { digest: sha256Hex, pageSize: 5 })());
  t.is(clean.events, total);
  t.deepEqual(clean.problems, []);
  const victim = instanceStream('00000000-0000-4000-8000-000000000037' as never);
  t.is(tamper(file, "UPDATE events SET data = '{not json' WHERE stream_name = ? AND stream_revision = 1", victim), 1);
  const ahead = counting(store, true);
  const damaged = rightOf(await verifyLedger(ahead, { digest: sha256Hex, pageSize: 5 })());
  t.true(ahead.aheads >= 1, 'it read ahead');
  t.is(damaged.events, total, 'every event counted: it went on after the row');
  t.like(damaged.problems[0], { stream: victim, revision: '1' });
  t.regex(damaged.problems[0]!.problem, /not JSON/);
  const here = rightOf(await verifyLedger(counting(store, false), { digest: sha256Hex, pageSize: 5 })());
  t.deepEqual(damaged.problems, here.problems, 'the same report as read on this thread (the event after it no longer links)');
  await store.close();
});

test('read ahead: a reading thread that cannot open the ledger (moved away meanwhile) ends the catch-up with StoreUnavailable, not a hang', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-ahead');
  const file = path.join(dir, 'ledger.db');
  const store = openTestStore(file);
  await fleet(store, 60);
  // This store's own connection keeps the moved file open; the thread opens the ledger by its name.
  fs.renameSync(file, path.join(dir, 'moved.db'));
  const r = await catchUp(store, activationProjection, checkpointsIn(dir, 'moved'), { digest: sha256Hex, pageSize: 5 })();
  t.like(E.isLeft(r) ? r.left : undefined, { _tag: 'StoreUnavailable' });
  await store.close();
});
