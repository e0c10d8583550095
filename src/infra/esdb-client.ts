/**
 * Builds the `@eventstore/db-client` 6.2.1 client from a PARSED connection string (./connection-string.ts),
 * through the client's constructor. Its own `connectionString()` is never called: on an unknown option or
 * `tlsVerifyCert=false` it `console.warn`s the whole string, password included, and with `DEBUG=esdb:*` it
 * logs it — so the password only ever travels as the credentials object.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { EventStoreDBClient } from '@eventstore/db-client';
import type { EsdbConnection, EsdbHost } from './connection-string';

const BATCH_APPEND = '/event_store.client.streams.Streams/BatchAppend';

/**
 * The client that never takes the `Streams.BatchAppend` path (issue 17, problem 1; ADR 0006). Client 6.2.1 keeps
 * BatchAppend's pending appends in ONE module-wide table: an error on any client's BatchAppend stream — a server
 * going away, a `not-leader`, the cancel `dispose()` sends — rejects every pending append of every client in the
 * process (written or not), and a late reply then throws with no handler. And the server does not end a
 * BatchAppend call when the client half-closes with nothing pending (`BatchAppendWorker`'s send loop waits for a
 * reply after its closing marker): it waits for the client's cancel. `Streams.Append` has neither problem — one
 * call per append, its own deadline, nothing shared — so the client is told the server does not support
 * BatchAppend. (The client also skips it when credentials are passed per call, but that cannot cover a
 * connection without a user name and password: anonymous, or an X.509 user certificate.)
 */
class AppendPathClient extends EventStoreDBClient {
  protected override supports: EventStoreDBClient['supports'] = async (method, feature) =>
    method.path.toLowerCase() === BATCH_APPEND.toLowerCase() ? false : (await this.capabilities).supports(method, feature);
}

const DEFAULT_PORT = 2113;

export interface ClientSettings {
  /** Who this process is in the server's logs and connection list (the connection string's `connectionName` wins). */
  readonly connectionName?: string;
  /** The password when the connection string names a user without one (KEYLEDGER_ESDB_PASSWORD, the config's storePasswordFile). */
  readonly password?: string;
  /** Relative `tlsCAFile` / `userCertFile` / `userKeyFile` paths are resolved against it (default: the working directory). */
  readonly baseDir?: string;
}

const endpoint = (h: EsdbHost): { address: string; port: number } => ({ address: h.address, port: h.port ?? DEFAULT_PORT });

const readFile = (what: string, file: string, baseDir: string): E.Either<string, Buffer> => {
  const resolved = path.resolve(baseDir, file);
  try {
    return E.right(fs.readFileSync(resolved));
  } catch (e) {
    return E.left(`cannot read ${what} ${resolved} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
};

/** The client for a parsed connection string; Left: a file it names cannot be read (the message names the file, never a secret). */
export const buildEsdbClient = (c: EsdbConnection, settings: ClientSettings = {}): E.Either<string, EventStoreDBClient> => {
  const o = c.options;
  const baseDir = settings.baseDir ?? process.cwd();
  const channel: { insecure: boolean; rootCertificate?: Buffer; userCertFile?: Buffer; userKeyFile?: Buffer } = { insecure: !o.tls };
  if (o.tls && o.tlsCAFile !== undefined) {
    const ca = readFile('tlsCAFile', o.tlsCAFile, baseDir);
    if (E.isLeft(ca)) return ca;
    channel.rootCertificate = ca.right;
  }
  if (o.userCertFile !== undefined && o.userKeyFile !== undefined) {
    const cert = readFile('userCertFile', o.userCertFile, baseDir);
    if (E.isLeft(cert)) return cert;
    const key = readFile('userKeyFile', o.userKeyFile, baseDir);
    if (E.isLeft(key)) return key;
    channel.userCertFile = cert.right;
    channel.userKeyFile = key.right;
  }
  const password = c.password ?? settings.password;
  const credentials = c.username !== null && password !== undefined ? { username: c.username, password } : undefined;
  const common = {
    // The adapter needs a failed append to throw (a `throwOnAppendFailure=false` in the string is ignored).
    throwOnAppendFailure: true,
    ...(o.keepAliveInterval !== undefined ? { keepAliveInterval: o.keepAliveInterval } : {}),
    ...(o.keepAliveTimeout !== undefined ? { keepAliveTimeout: o.keepAliveTimeout } : {}),
    ...(o.defaultDeadline !== undefined ? { defaultDeadline: o.defaultDeadline } : {}),
    ...((o.connectionName ?? settings.connectionName) !== undefined ? { connectionName: o.connectionName ?? settings.connectionName } : {}),
  };
  const discovery = {
    ...(o.nodePreference !== undefined ? { nodePreference: o.nodePreference === 'readonlyreplica' ? ('read_only_replica' as const) : o.nodePreference } : {}),
    ...(o.discoveryInterval !== undefined ? { discoveryInterval: o.discoveryInterval } : {}),
    ...(o.gossipTimeout !== undefined ? { gossipTimeout: o.gossipTimeout } : {}),
    ...(o.maxDiscoverAttempts !== undefined ? { maxDiscoverAttempts: o.maxDiscoverAttempts } : {}),
  };
  const first = c.hosts[0];
  if (!first) return E.left('the connection string names no host');
  try {
    // One name to discover through (DNS); several hosts, with either scheme: each a gossip seed (the client's own parser would keep only the first).
    if (c.scheme === 'esdb+discover' && c.hosts.length === 1)
      return E.right(new AppendPathClient({ discover: endpoint(first), ...discovery, ...common }, channel, credentials));
    if (c.hosts.length > 1) return E.right(new AppendPathClient({ endpoints: c.hosts.map(endpoint), ...discovery, ...common }, channel, credentials));
    return E.right(new AppendPathClient({ endpoint: endpoint(first), ...common }, channel, credentials));
  } catch (e) {
    // The constructor only checks numbers (keep-alive, deadline); its message holds no part of the string.
    return E.left(e instanceof Error ? e.message : 'invalid client settings');
  }
};
