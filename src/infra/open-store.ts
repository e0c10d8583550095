/**
 * Store selection by connection string — the one place that knows every adapter.
 *   sqlite:PATH                      the embedded default (a single file)
 *   esdb://host:port?tls=false       EventStoreDB / KurrentDB, single node
 *   esdb+discover://host:port?...    EventStoreDB / KurrentDB cluster (gossip)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { type EventStore, type StoreError, storeUnavailable } from '../ports/event-store';
import { connectionProblem, describeConnection } from './connection-string';
import type { EsdbStoreOptions } from './esdb-store';
import type { LedgerAccess } from './file-modes';

export { describeConnection } from './connection-string';

const fileSize = (file: string): number | undefined => {
  try {
    return fs.statSync(file).size;
  } catch {
    return undefined;
  }
};

export interface StoreSelectionError {
  readonly _tag: 'UnsupportedConnectionString';
  readonly connectionString: string;
  readonly message: string;
}

export interface OpenStoreOptions {
  /** For a SQLite ledger: who may open the file (config `ledgerAccess`; default `owner`). Other stores ignore it. */
  readonly ledgerAccess?: LedgerAccess;
  /**
   * For a SQLite ledger: whether a missing (or empty, 0-byte) file may become a new ledger (default true, for
   * library use). The CLI allows it only to the init of a deployment's first instance or `--create-ledger`.
   */
  readonly mayCreate?: boolean;
  /** For an EventStoreDB store: the adapter's options (connection name, a password kept out of the string, retry policy). */
  readonly esdb?: EsdbStoreOptions;
  /** For a SQLite ledger: concurrent appends of this process share durable transactions (SqliteStoreOptions.groupCommit). */
  readonly groupCommit?: boolean;
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
    const resolved = file === ':memory:' ? file : path.resolve(baseDir, file);
    if (options.mayCreate === false && resolved !== ':memory:') {
      const size = fileSize(resolved);
      if (size === undefined || size === 0)
        return E.left(storeUnavailable(`sqlite:${resolved}`, size === undefined ? 'there is no ledger file' : 'the ledger file is empty (0 bytes)', 'missing'));
    }
    const { openSqliteStore } = await import('./sqlite-store');
    return openSqliteStore(resolved, {
      ...(options.ledgerAccess ? { access: options.ledgerAccess } : {}),
      ...(options.groupCommit ? { groupCommit: true } : {}),
    });
  }
  if (/^esdb(\+discover)?:\/\//.test(connectionString)) {
    // Loaded only for an esdb store (the client is large); nothing is contacted until the first call.
    // Errors name the endpoint, never the credentials.
    const { openEsdbStore } = await import('./esdb-store');
    return openEsdbStore(connectionString, { ...options.esdb, client: { baseDir, ...options.esdb?.client } });
  }
  return E.left({
    _tag: 'UnsupportedConnectionString',
    connectionString: describeConnection(connectionString)?.location ?? '<unrecognised>',
    // Never the string itself: it may hold a password.
    message: connectionProblem(connectionString) ?? 'use sqlite:PATH, esdb://host:2113 or esdb+discover://host:2113',
  });
};
