/**
 * The CLI's scale-out flow (test/support/esdb-cli-flow.ts) against a REAL EventStoreDB / KurrentDB server — what
 * the double cannot prove: the server's own semantics under the real commands (ACLs with the user given, real
 * positions, idempotency, deletion checks on metadata the server wrote).
 *
 *   ESDB_CONNECTION_STRING='esdb://admin:changeit@127.0.0.1:2113?tlsCAFile=ca.crt' npm run test:esdb
 *
 * Each run uses a deployment of its own, so a server that already holds data is fine. A password in the string is
 * handed to the CLI through KEYLEDGER_ESDB_PASSWORD (the `--store` mode gives the user only) and must show
 * nowhere. Not part of `npm test` / `npm run test:full` (no server can be installed on our machines): without the
 * variable this file refuses to run, and `npm run test:esdb` says so and runs nothing.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { parseEsdb } from '../src/infra/connection-string';
import { openEsdbStore } from '../src/infra/esdb-store';
import { type Mode, scaleOut } from './support/esdb-cli-flow';

const cs = process.env['ESDB_CONNECTION_STRING']?.trim();
if (!cs) throw new Error('ESDB_CONNECTION_STRING is not set: run this file through npm run test:esdb');
const parsed = parseEsdb(cs);
if (E.isLeft(parsed)) throw new Error(`ESDB_CONNECTION_STRING is not usable: ${parsed.left.message}`);
const { password, username, endpoint } = parsed.right;

/** The same string with the password left out (`user:password@` → `user@`). */
const userOnly =
  password === null
    ? cs
    : cs.replace(/^(esdb(?:\+discover)?:\/\/)(.*)@/, (_m, scheme: string, info: string) => `${scheme}${info.slice(0, info.indexOf(':'))}@`);
const insecure = parsed.right.options.tls === false;

for (const mode of ['store-flag', 'config-ledger'] as const satisfies ReadonlyArray<Mode>) {
  test(`real server ${endpoint} (${mode}): init → waiting to join → join → start → status/list/verify → remove`, async (t) => {
    t.timeout(180_000);
    await scaleOut(
      t,
      {
        connection: cs,
        storeFlag: userOnly,
        env: { ...(password !== null ? { KEYLEDGER_ESDB_PASSWORD: password } : {}), ...(insecure ? { KEYLEDGER_ESDB_ALLOW_INSECURE: '1' } : {}) },
        endpoint,
        secrets: password !== null ? [password] : [],
        deployment: `e2e-${randomUUID().slice(0, 8)}`,
        fresh: false,
        reader: () => {
          const r = openEsdbStore(cs);
          if (E.isLeft(r)) throw new Error(`cannot open the reader (${username ?? 'no user'}): ${r.left._tag}`);
          return r.right;
        },
      },
      mode,
    );
  });
}
