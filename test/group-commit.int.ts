/**
 * Group commit on the SQLite store (docs/adr/0019): appends issued in one turn of the event loop share one
 * transaction, and each still checks its own expected revision and gets its own result — a conflict inside the group
 * loses only its own events. The whole store contract runs against a grouped store too.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { openSqliteStore, type SqliteEventStore } from '../src/infra/sqlite-store';
import type { EventData, EventStore } from '../src/ports/event-store';
import { tempDir } from './support/fixtures';
import { storeContract } from './support/store-contract';

const open = (file: string): SqliteEventStore => {
  const r = openSqliteStore(file, { pollIntervalMs: 20, groupCommit: true });
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  return r.right as SqliteEventStore;
};

storeContract('sqlite (group commit)', async () => {
  const dir = tempDir('kl-group-contract');
  const file = path.join(dir, 'ledger.db');
  const store = open(file);
  return {
    store,
    other: async () => open(file),
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

const ev = (type: string): EventData => ({ id: randomUUID(), type, data: { n: 1 }, metadata: {} });

test('appends in one turn share one transaction; each checks its own expected revision and gets its own result', async (t) => {
  t.timeout(20_000);
  const dir = tempDir('kl-group');
  const store = open(path.join(dir, 'ledger.db'));
  t.teardown(() => store.close());
  const seeded = await store.append('s-shared', [ev('Seed')], 'no_stream')();
  t.true(E.isRight(seeded));
  const before = store.groupsCommitted;
  const [a, b, racer1, racer2, wrongNoStream, exists] = await Promise.all([
    store.append('s-a', [ev('A1'), ev('A2')], 'no_stream')(),
    store.append('s-b', [ev('B1')], 'any')(),
    store.append('s-shared', [ev('Won')], 0n)(),
    store.append('s-shared', [ev('Lost')], 0n)(), // same expected revision: the first in the group won it
    store.append('s-a', [ev('Late')], 'no_stream')(), // s-a was created earlier in this very group
    store.append('s-shared', [ev('AfterWin')], 'stream_exists')(),
  ]);
  t.is(store.groupsCommitted - before, 1, 'one transaction for the six appends');
  t.deepEqual(E.isRight(a) && a.right.nextExpectedRevision, 1n);
  t.deepEqual(E.isRight(b) && b.right.nextExpectedRevision, 0n);
  t.deepEqual(E.isRight(racer1) && racer1.right.nextExpectedRevision, 1n);
  t.deepEqual(E.isLeft(racer2) && racer2.left, { _tag: 'VersionConflict', stream: 's-shared', expected: 0n, actual: 1n });
  t.deepEqual(E.isLeft(wrongNoStream) && wrongNoStream.left, { _tag: 'VersionConflict', stream: 's-a', expected: 'no_stream', actual: 1n });
  t.deepEqual(E.isRight(exists) && exists.right.nextExpectedRevision, 2n);
  const read = async (s: EventStore, stream: string) => {
    const r = await s.readStream(stream)();
    return E.isRight(r) ? r.right.map((e) => e.type) : [];
  };
  t.deepEqual(await read(store, 's-shared'), ['Seed', 'Won', 'AfterWin']);
  t.deepEqual(await read(store, 's-a'), ['A1', 'A2']);
  // What the group committed is durable for another connection (another process) at once.
  const other = open(path.join(dir, 'ledger.db'));
  t.teardown(() => other.close());
  t.deepEqual(await read(other, 's-b'), ['B1']);
});

test('a member refused before the group does not hold up the others', async (t) => {
  t.timeout(20_000);
  const dir = tempDir('kl-group-fail');
  const store = open(path.join(dir, 'ledger.db'));
  t.teardown(() => store.close());
  const pending = [
    store.append('s-1', [ev('One')], 'no_stream')(),
    // Not JSON (a bigint): refused before the group, as one transaction per append refuses it.
    store.append('s-2', [{ id: randomUUID(), type: 'Bad', data: { n: 1n }, metadata: {} }], 'any')(),
    store.append('s-3', [ev('Three')], 'no_stream')(),
  ];
  const [one, bad, three] = (await Promise.all(pending)) as [E.Either<unknown, unknown>, E.Either<{ _tag: string }, unknown>, E.Either<unknown, unknown>];
  t.true(E.isRight(one));
  t.is(E.isLeft(bad) && bad.left._tag, 'InvalidAppend');
  t.true(E.isRight(three));
});
