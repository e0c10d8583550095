/**
 * A session for commands that only read the ledger (`diagnose`, `audit`): with this machine's config when there
 * is one (its store, its instance, the heads it remembers), or — for an operator on another machine, with no
 * config and no keystore — with only the store named by `--store` or `KEYLEDGER_STORE`. Nothing is ever
 * created: a missing ledger is an error, as for every command but init.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { openStore } from '../infra/open-store';
import { storeAccess } from '../infra/store-access';
import type { EventStore } from '../ports/event-store';
import type { CliError } from './errors';
import type { GlobalOptions, Io } from './io';
import { fail, type Session, withSession } from './session';

export interface ReadSession {
  readonly store: EventStore;
  /** This machine's session, when it has a config (null: only a store was named). */
  readonly local: Session | null;
}

export const withReadSession = async (io: Io, g: GlobalOptions, f: (s: ReadSession) => Promise<E.Either<CliError, number>>): Promise<number> => {
  if (fs.existsSync(g.config)) return withSession(io, g, (s) => f({ store: s.store, local: s }));
  const connection = g.store ?? io.env['KEYLEDGER_STORE'];
  if (connection === undefined)
    return fail(io, {
      _tag: 'UsageError',
      message:
        `there is no config at ${path.resolve(g.config)} to find the ledger in: name the store with --store CONN ` +
        "(or KEYLEDGER_STORE), e.g. --store sqlite:/path/to/ledger.db, to read it from a machine that is not one of the deployment's instances",
    });
  const access = storeAccess(connection, {
    env: io.env,
    fromCommandLine: g.store !== undefined,
    connectionName: 'keyledger (read-only session)',
    allowInsecure: g.allowInsecureStore === true,
  });
  if (E.isLeft(access)) return fail(io, { _tag: 'UsageError', message: access.left });
  for (const w of access.right.warnings) io.stderr(`keyledger: warning: ${w}\n`);
  const store = await openStore(connection, process.cwd(), { mayCreate: false, ...(access.right.esdb ? { esdb: access.right.esdb } : {}) });
  if (E.isLeft(store)) return fail(io, store.left);
  try {
    const r = await f({ store: store.right, local: null });
    return E.isLeft(r) ? fail(io, r.left) : r.right;
  } finally {
    await store.right.close();
  }
};
