/**
 * Store selection by connection string — the one place that knows every adapter.
 *   sqlite:PATH                      the embedded default (a single file)
 *   esdb://host:port?tls=false       EventStoreDB / KurrentDB, single node
 *   esdb+discover://host:port?...    EventStoreDB / KurrentDB cluster (gossip)
 */
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import type { EventStore, StoreError } from '../ports/event-store';
import { describeConnection } from './connection-string';
import type { LedgerAccess } from './file-modes';

export { describeConnection } from './connection-string';

export interface StoreSelectionError {
  readonly _tag: 'UnsupportedConnectionString';
  readonly connectionString: string;
  readonly message: string;
}

export interface OpenStoreOptions {
  /** For a SQLite ledger: who may open the file (config `ledgerAccess`; default `owner`). Other stores ignore it. */
  readonly ledgerAccess?: LedgerAccess;
}

export const openStore = async (
  connectionString: string,
  baseDir: string = process.cwd(),
  options: OpenStoreOptions = {},
): Promise<E.Either<StoreError | StoreSelectionError, EventStore>> => {
  if (connectionString.startsWith('sqlite:')) {
    const file = connectionString.slice('sqlite:'.length);
    if (file.length === 0)
      return E.left({ _tag: 'UnsupportedConnectionString', connectionString, message: 'sqlite: needs a file path, e.g. sqlite:./.keyledger/ledger.db' });
    const { openSqliteStore } = await import('./sqlite-store');
    return openSqliteStore(file === ':memory:' ? file : path.resolve(baseDir, file), options.ledgerAccess ? { access: options.ledgerAccess } : {});
  }
  if (/^esdb(\+discover)?:\/\//.test(connectionString)) {
    // Loaded only for an esdb store (the client is large); nothing is contacted until the first call.
    // Errors name the endpoint, never the credentials.
    const { openEsdbStore } = await import('./esdb-store');
    return openEsdbStore(connectionString);
  }
  return E.left({
    _tag: 'UnsupportedConnectionString',
    connectionString: describeConnection(connectionString)?.location ?? '<unrecognised>',
    message: 'use sqlite:PATH, esdb://host:port?tls=false or esdb+discover://host:port',
  });
};
