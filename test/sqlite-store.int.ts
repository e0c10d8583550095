import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { openSqliteStore } from '../src/infra/sqlite-store';
import type { EventStore } from '../src/ports/event-store';
import { storeContract } from './support/store-contract';

const open = (file: string): EventStore => {
  const r = openSqliteStore(file, { pollIntervalMs: 20 });
  if (E.isLeft(r)) throw new Error(`cannot open test store: ${JSON.stringify(r.left)}`);
  return r.right;
};

storeContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-contract-'));
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
