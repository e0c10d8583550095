/**
 * The store contract against a REAL EventStoreDB / KurrentDB server — the check the
 * wire-level double (`test/support/esdb-double.ts`) cannot give: the server's own
 * semantics (system events in `$all`, positions, idempotency, filters, `caught_up`).
 *
 *   ESDB_CONNECTION_STRING='esdb://127.0.0.1:2113?tls=false' npx ava test/esdb-real.int.ts
 *
 * Needs a server ≥ 23.10 (older ones never send `caught_up`, so subscriptions never
 * report `caughtUp`). Every case writes under a fresh stream prefix, so a server that
 * already holds data is fine. It is not part of `npm test` / `npm run test:full`
 * (no server can be installed on our machines): `npm run test:esdb` runs it, and
 * without the variable says so and runs nothing — no test pretends to pass.
 */
import * as E from 'fp-ts/Either';
import { esdbEndpoint, openEsdbStore } from '../src/infra/esdb-store';
import type { EventStore } from '../src/ports/event-store';
import { storeContract } from './support/store-contract';

const connectionString = process.env.ESDB_CONNECTION_STRING?.trim();

const open = (cs: string): EventStore => {
  const r = openEsdbStore(cs);
  if (E.isLeft(r)) throw new Error(`cannot open ${esdbEndpoint(cs)}: ${r.left._tag}`);
  return r.right;
};

if (!connectionString) throw new Error('ESDB_CONNECTION_STRING is not set: run this file through npm run test:esdb');

storeContract(`esdb(real ${esdbEndpoint(connectionString)})`, async () => {
  const store = open(connectionString);
  return { store, other: async () => open(connectionString), cleanup: () => store.close() };
});
