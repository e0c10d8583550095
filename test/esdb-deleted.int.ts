/**
 * Issue 17, problem 4: a ledger stream deleted or cut short on the server no longer reads as `[]` (the audit trail
 * vanishing silently); it is the `StreamDeleted` error naming the stream — tombstoned, soft-deleted (what the
 * server's soft delete writes: `$tb` = 2^63-1), or truncated (`$tb`, `$maxCount`, a soft delete then a new write).
 * `status` refuses to decide on it (exit 4, one line naming the stream) and `verify` reports it (exit 4). Streams
 * outside the ledger (the content store's, soft-deleted on purpose by delete-content) still read as empty.
 *
 * Against the double, whose metadata semantics follow the server's (test/support/esdb-double/log.ts); the raw
 * client does the deleting, as an operator's tool or an attacker holding credentials would.
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { EventStoreDBClient } from '@eventstore/db-client';
import { instanceStream } from '../src/domain/ids';
import { openEsdbStore } from '../src/infra/esdb-store';
import type { EventData, EventStore, StoreError } from '../src/ports/event-store';
import { type EsdbDouble, startEsdbDouble } from './support/esdb-double';
import { rightOf, tempDir } from './support/fixtures';
import { newNode } from './support/nodes';

const ev = (type: string): EventData => ({ id: randomUUID(), type, data: { n: 1 }, metadata: {} });

const withLedger = (title: string, body: (t: ExecutionContext, d: EsdbDouble, store: EventStore, raw: EventStoreDBClient) => Promise<void>): void => {
  test(title, async (t) => {
    t.timeout(30_000);
    const d = await startEsdbDouble({ batchAppend: false });
    const store = rightOf(openEsdbStore(d.connectionString));
    const raw = EventStoreDBClient.connectionString(d.connectionString);
    try {
      await body(t, d, store, raw);
    } finally {
      await raw.dispose();
      await store.close();
      await d.stop();
    }
  });
};

const leftOf = async <A>(t: ExecutionContext, te: () => Promise<E.Either<StoreError, A>>): Promise<StoreError> => {
  const r = await te();
  if (E.isRight(r)) t.fail(`expected an error, read ${JSON.stringify(r.right, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}`);
  return (r as E.Left<StoreError>).left;
};

const ledgerStream = (): string => `keyledger.instance-${randomUUID()}`;

withLedger('a tombstoned ledger stream: StreamDeleted (tombstoned) on every read, and on append', async (t, _d, store, raw) => {
  const s = ledgerStream();
  rightOf(await store.append(s, [ev('A0'), ev('A1')], 'no_stream')());
  await raw.tombstoneStream(s);
  const expected = { _tag: 'StreamDeleted', stream: s, how: 'tombstoned' };
  t.deepEqual(await leftOf(t, store.readStream(s)), expected);
  t.deepEqual(await leftOf(t, store.readStream(s, { direction: 'backwards', maxCount: 1 })), expected);
  t.deepEqual(await leftOf(t, store.append(s, [ev('A2')], 1n)), expected);
});

withLedger('a soft-deleted ledger stream: StreamDeleted (soft-deleted), although the server answers "not found"', async (t, d, store, raw) => {
  const s = ledgerStream();
  rightOf(await store.append(s, [ev('A0'), ev('A1')], 'no_stream')());
  await raw.deleteStream(s);
  t.is(d.metadataTextOf(s), '{"$tb":9223372036854775807}', "the server's soft delete replaces the metadata");
  t.deepEqual(await leftOf(t, store.readStream(s)), { _tag: 'StreamDeleted', stream: s, how: 'soft-deleted' });
  t.deepEqual(await leftOf(t, store.readStream(s, { direction: 'backwards' })), { _tag: 'StreamDeleted', stream: s, how: 'soft-deleted' });
  // A stream never written is still just missing.
  t.deepEqual(rightOf(await store.readStream(ledgerStream())()), []);
});

withLedger('a soft-deleted ledger stream written again reads from the new events only: StreamDeleted (truncated), naming where', async (t, _d, store, raw) => {
  const s = ledgerStream();
  rightOf(await store.append(s, [ev('A0'), ev('A1')], 'no_stream')());
  await raw.deleteStream(s);
  // What an attacker holding credentials does to restart an instance's history: the server takes no_stream on a soft-deleted stream.
  rightOf(await store.append(s, [ev('Forged')], 'no_stream')());
  t.deepEqual(await leftOf(t, store.readStream(s)), { _tag: 'StreamDeleted', stream: s, how: 'truncated', from: 2n });
  t.deepEqual(await leftOf(t, store.readStream(s, { direction: 'backwards' })), { _tag: 'StreamDeleted', stream: s, how: 'truncated', from: 2n });
  // Reads that do not need the start are answered.
  t.deepEqual(
    rightOf(await store.readStream(s, { direction: 'backwards', maxCount: 1 })()).map((e) => [e.type, e.revision]),
    [['Forged', 2n]],
  );
});

withLedger('$tb and $maxCount set on a ledger stream: StreamDeleted (truncated); every event below $tb: truncated, not empty', async (t, _d, store, raw) => {
  const s = ledgerStream();
  rightOf(await store.append(s, [ev('A0'), ev('A1'), ev('A2')], 'no_stream')());
  await raw.setStreamMetadata(s, { maxCount: 2 });
  t.deepEqual(await leftOf(t, store.readStream(s)), { _tag: 'StreamDeleted', stream: s, how: 'truncated', from: 1n });
  await raw.setStreamMetadata(s, { truncateBefore: 10 });
  t.deepEqual(await leftOf(t, store.readStream(s)), { _tag: 'StreamDeleted', stream: s, how: 'truncated' });
});

withLedger('a stream outside the ledger (the content store) still reads a deletion as empty, as delete-content expects', async (t, _d, store, raw) => {
  const s = `keyledger-content.default.${randomUUID()}`;
  rightOf(await store.append(s, [ev('SecretCiphertext')], 'any')());
  await raw.deleteStream(s);
  t.deepEqual(rightOf(await store.readStream(s)()), []);
  const gone = `other-${randomUUID()}`;
  rightOf(await store.append(gone, [ev('X')], 'any')());
  await raw.tombstoneStream(gone);
  t.deepEqual(rightOf(await store.readStream(gone)()), []);
});

test('the CLI: status refuses an instance whose stream was deleted (exit 4, one line naming it); verify reports every deleted stream', async (t) => {
  t.timeout(60_000);
  const d = await startEsdbDouble({ batchAppend: false });
  const raw = EventStoreDBClient.connectionString(d.connectionString);
  try {
    const dir = tempDir('kl-esdb-deleted');
    const a = await newNode(dir, 'D1', ['--ledger', d.connectionString, '--allow-insecure-store']);
    t.is((await a.run('init')).code, 0);
    t.is((await a.run('verify')).code, 0);
    const stream = instanceStream(a.id);
    await raw.deleteStream(stream);

    const status = await a.run('status');
    t.is(status.code, 4, status.stderr);
    t.is(status.stdout, '');
    const lines = status.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('keyledger: warning: the connection to')); // the plaintext double, allowed by its config
    t.is(lines.length, 1, status.stderr);
    t.true(
      lines[0]!.startsWith(`keyledger: ledger stream ${stream} was deleted on the server (soft-deleted: hidden from reads): part of the audit trail`),
      lines[0],
    );

    const verify = await a.run('--json', 'verify');
    t.is(verify.code, 4, verify.stderr);
    const report = verify.json<{ problems: Array<{ stream: string; eventType: string; problem: string }> }>();
    t.deepEqual(report.problems, [
      {
        stream,
        revision: '2',
        eventType: '(stream)',
        problem: 'the stream was deleted on the server (soft-deleted): readers no longer see its 3 event(s), only $all still holds them',
      },
    ]);
    const text = await a.run('verify');
    t.regex(text.stdout, new RegExp(`^TAMPERED ${stream.replace(/\./g, '\\.')}@2 \\(\\(stream\\)\\): the stream was deleted on the server`, 'm'));
  } finally {
    await raw.dispose();
    await d.stop();
  }
});
