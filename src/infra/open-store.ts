/**
 * Store selection by connection string — the one place that knows every adapter.
 *   sqlite:PATH                      the embedded default (a single file)
 *   esdb://host:port?tls=false       EventStoreDB / KurrentDB, single node
 *   esdb+discover://host:port?...    EventStoreDB / KurrentDB cluster (gossip)
 */
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import type { EventStore, StoreError } from '../ports/event-store';
import { openEsdbStore } from './esdb-store';
import { openSqliteStore } from './sqlite-store';

export interface StoreSelectionError {
  readonly _tag: 'UnsupportedConnectionString';
  readonly connectionString: string;
  readonly message: string;
}

/** What a connection string says, without secrets: safe to record in events and print. */
export const describeConnection = (connectionString: string): { kind: 'sqlite' | 'esdb'; location: string } | undefined => {
  if (connectionString.startsWith('sqlite:')) return { kind: 'sqlite', location: connectionString.slice('sqlite:'.length) };
  if (/^esdb(\+discover)?:\/\//.test(connectionString)) {
    try {
      const u = new URL(connectionString.replace(/^esdb(\+discover)?:/, 'http:'));
      return { kind: 'esdb', location: `${connectionString.split(':')[0]}://${u.host}` };
    } catch {
      return undefined;
    }
  }
  return undefined;
};

export const openStore = async (
  connectionString: string,
  baseDir: string = process.cwd(),
): Promise<E.Either<StoreError | StoreSelectionError, EventStore>> => {
  if (connectionString.startsWith('sqlite:')) {
    const file = connectionString.slice('sqlite:'.length);
    if (file.length === 0)
      return E.left({ _tag: 'UnsupportedConnectionString', connectionString, message: 'sqlite: needs a file path, e.g. sqlite:./.keyledger/ledger.db' });
    return openSqliteStore(file === ':memory:' ? file : path.resolve(baseDir, file));
  }
  if (/^esdb(\+discover)?:\/\//.test(connectionString)) {
    // Lazy: nothing is contacted until the first call. Errors name the endpoint, never the credentials.
    return openEsdbStore(connectionString);
  }
  return E.left({
    _tag: 'UnsupportedConnectionString',
    connectionString: describeConnection(connectionString)?.location ?? '<unrecognised>',
    message: 'use sqlite:PATH, esdb://host:port?tls=false or esdb+discover://host:port',
  });
};
