/**
 * Issue 11, disk faults: a ledger that cannot grow (SQLite `max_page_count`, a
 * full disk made to order) refuses the append with a "disk is full, nothing was
 * recorded" error, and leaves the ledger as it was: `verify` passes afterwards.
 */
import test from 'ava';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { describeError } from '../src/cli/errors';
import { verifyLedger } from '../src/commands/verify';
import { GENESIS, sealEvents } from '../src/domain/envelope';
import { instanceStream } from '../src/domain/ids';
import { sha256Hex } from '../src/infra/sha256';
import { openSqliteStore } from '../src/infra/sqlite-store';
import { aContext, aConfig, rightOf, tempDir, newInstallationId } from './support/fixtures';

test('a full disk: the append is refused as "full", nothing half-written, verify passes afterwards', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-full');
  const file = path.join(dir, 'ledger.db');
  const store = rightOf(openSqliteStore(file, { maxPageCount: 40 }));
  let last: { revision: bigint | 'no_stream'; hash: string } = { revision: 'no_stream', hash: GENESIS };
  const id = newInstallationId();
  const stream = instanceStream(id);
  const config = aConfig(dir, { installationId: id });
  let appended = 0;
  let failure: unknown;
  for (let i = 0; i < 2000 && failure === undefined; i++) {
    const ev = { type: 'ConfigRead' as const, data: { ...config, instanceName: `I-${i}-${'x'.repeat(100)}` as never } };
    const sealed = rightOf(sealEvents(stream, last, [ev], aContext('init'), sha256Hex));
    const r = await store.append(stream, sealed, last.revision)();
    if (E.isLeft(r)) failure = r.left;
    else {
      appended++;
      last = { revision: r.right.nextExpectedRevision, hash: (sealed[0]!.metadata as { hash: string }).hash };
    }
  }
  await store.close();
  t.true(appended > 0);
  t.like(failure, { _tag: 'StoreUnavailable', cause: 'full' });
  t.regex(describeError(failure as never), /disk holding .* is full .*nothing was recorded/);
  const reopened = rightOf(openSqliteStore(file));
  const report = rightOf(await verifyLedger(reopened, { digest: sha256Hex })());
  await reopened.close();
  t.is(report.events, appended, 'every acknowledged append is there, the refused one is not');
  t.deepEqual(report.problems, []);
  t.deepEqual(report.storage, []);
});
