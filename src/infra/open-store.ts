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

const ESDB_SCHEME = /^(esdb(?:\+discover)?):\/\//;
const HOST_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The hosts of an `esdb://` / `esdb+discover://` string, normalised (`host` or `host:port`, host
 * lower-cased), or undefined if any is malformed. User info (everything up to the last `@`),
 * a trailing `/` and the query are dropped. Several hosts (`h1:2113,h2:2113`) are allowed: the
 * client takes them as gossip seeds.
 */
const esdbHosts = (rest: string): string[] | undefined => {
  let authority = rest.split('?')[0] ?? '';
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  if (authority.endsWith('/')) authority = authority.slice(0, -1);
  if (authority.length === 0) return undefined;
  const hosts: string[] = [];
  for (const h of authority.split(',')) {
    const [name = '', port, ...extra] = h.split(':');
    if (extra.length > 0 || !HOST_NAME.test(name)) return undefined;
    if (port === undefined) {
      hosts.push(name.toLowerCase());
      continue;
    }
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535) return undefined;
    hosts.push(`${name.toLowerCase()}:${Number(port)}`);
  }
  return hosts;
};

/** What a connection string says, without secrets: safe to record in events and print. */
export const describeConnection = (connectionString: string): { kind: 'sqlite' | 'esdb'; location: string } | undefined => {
  if (connectionString.startsWith('sqlite:')) return { kind: 'sqlite', location: connectionString.slice('sqlite:'.length) };
  const m = ESDB_SCHEME.exec(connectionString);
  if (m) {
    const hosts = esdbHosts(connectionString.slice(m[0].length));
    return hosts ? { kind: 'esdb', location: `${m[1]!}://${hosts.join(',')}` } : undefined;
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
