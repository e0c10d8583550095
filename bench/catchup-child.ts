/**
 * One cold catch-up of the activation view in a process of its own, so that its peak memory is its own
 * (the bench's parent generated the ledgers): prints `{ ms, events, maxRssMb }` as JSON.
 * Usage: node dist/bench/catchup-child.js <ledger file> <state folder>
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { openSqliteCheckpoints } from '../src/infra/sqlite-checkpoints';
import { sha256Hex } from '../src/infra/sha256';
import { openSqliteStore } from '../src/infra/sqlite-store';
import { activationProjection } from '../src/projections/activation';
import { catchUp } from '../src/projections/runner';

const main = async (): Promise<void> => {
  const [file, stateDir] = process.argv.slice(2);
  if (!file || !stateDir) throw new Error('usage: catchup-child <ledger> <state folder>');
  fs.rmSync(stateDir, { recursive: true, force: true });
  const store = openSqliteStore(file);
  const cp = openSqliteCheckpoints(path.join(stateDir, 'projections.db'));
  if (E.isLeft(store) || E.isLeft(cp)) throw new Error('bench: cannot open');
  const t0 = performance.now();
  const r = await catchUp(store.right, activationProjection, cp.right, { digest: sha256Hex })();
  const ms = performance.now() - t0;
  cp.right.close();
  await store.right.close();
  if (E.isLeft(r)) throw new Error(`bench: catch-up failed: ${r.left._tag}`);
  process.stdout.write(`${JSON.stringify({ ms, events: r.right.processed, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
};

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exitCode = 1;
});
