/**
 * A wire-level test double of an EventStoreDB / KurrentDB node — or of a three-node cluster — served in process
 * (`@grpc/grpc-js` on 127.0.0.1, plaintext or TLS with the test CA in ./tls), built from the
 * `@eventstore/db-client` 6.2.1 package's OWN generated message classes and service definitions, with in-memory
 * state. It proves that `src/infra/esdb-store.ts` drives the real client over the real wire protocol, and it
 * behaves as the server does where that decides whether a failure shows (issue 17, problem 5).
 *
 * WHAT WAS READ (EventStore/EventStore at 3f1acb7e4, now kurrent-io/KurrentDB; learnt from, not copied):
 * `Services/Transport/Grpc/Streams.Append.cs`, `Streams.BatchAppend.cs`, `Streams.Read.cs`, `Streams.Delete.cs`,
 * `RpcExceptions.cs`, `ServiceBase.cs` (requires-leader), `Gossip.cs`; `Services/Storage/ReaderIndex/IndexWriter.cs`
 * (`CheckCommit`: expected revisions, idempotency, soft-deleted streams) and `IndexReader.cs` (read lower bounds);
 * `Services/Storage/StorageWriterService.cs` (soft delete, soft undelete, tombstone); `Authorization/
 * LegacyStreamPermissionAssertion.cs` and `Data/SystemSettings.cs` (ACLs); `Configuration/ClusterVNodeOptions.cs`
 * (`MaxAppendSize` 1 MiB, `WriteTimeoutMs` 2 s, `AllowAnonymousStreamAccess` false); `Data/Event.cs` (`SizeOnDisk`).
 *
 * AS THE SERVER DOES (each in the module named):
 * - BatchAppend: a half-close with nothing pending leaves the call open until the client cancels it; the
 *   request's deadline (and `WriteTimeoutMs`) bounds every request, `Timeout` after it; `not-leader` fails the
 *   whole call (streams-append.ts). Append: `Timeout` (ABORTED) when the commit is late although it is written;
 *   `MaxAppendSize` 1 MiB; wrong-expected-version replies carry the legacy `_2060` fields (streams-append.ts).
 * - Expected revisions and idempotency as `CheckCommit`: an exact revision (and `no_stream`) recognises a retried
 *   append from the index; `any` / `stream_exists` only while the first event id is in a bounded cache of recent
 *   ids; `stream_exists` passes on a stream with metadata only and is `stream-deleted` on a soft-deleted one;
 *   `no_stream` re-creates a soft-deleted stream (log.ts).
 * - Stream metadata lives in `$$<stream>` and is applied on reads (`$tb`, `$maxCount`, `$maxAge`); a soft delete
 *   replaces it by `{"$tb": 2^63-1}`, the next write sets `$tb` to its first revision; a tombstone is a
 *   `$streamDeleted` record at revision 2^63-1 (log.ts).
 * - `$all` begins with the server's own events (epoch, settings, the default users) and holds every `$$` metadata
 *   event and, with `systemProjections`, the `$>` links of `$ce-` / `$et-` streams; filtered subscriptions send
 *   `checkpoint` messages (streams-read.ts).
 * - Over TLS the client sends credentials: users are authenticated and the legacy ACL policy applies (`$admins`
 *   bypass, per-key fallback to the default ACLs, user names and groups as roles, no anonymous stream access);
 *   over plaintext nothing is checked, as with `--insecure` (auth.ts).
 * - A cluster: three nodes over one log, `Gossip.Read` on each (one leader), `requires-leader` calls on a
 *   follower answered `not-leader` with the leader's endpoint, and a failover a test triggers (gossip.ts).
 *
 * WHAT STILL DIFFERS (not modelled; the real-server run, `npm run test:esdb`, covers what matters of it):
 * - One in-memory log, written synchronously: no replication lag between nodes, no election (a test names the
 *   new leader), no NotReady / TooBusy, no read-only replicas; a follower serves reads from the shared log.
 * - Positions are synthetic (increasing, prepare ≠ commit), not byte offsets; no scavenging (deleted and expired
 *   events stay in `$all` for good); no transactions; no persistent subscriptions or projections API.
 * - `$maxAge` is applied on reads only (no scavenge), `$cacheControl` ignored; `$settings` ACLs are the defaults
 *   (a `$settings` event is written, not read back); the user store is the fixed list given, no `$users` API.
 * - BatchAppend's request timeout covers an unfinished multi-message request, not a commit in the storage
 *   writer; `MaxAppendEventSize` is unlimited (the server's default); faults are injected (`faults`), not emergent.
 * - The `$all` read checks `$all` read access only; stream ACLs are not applied to events seen through `$all`
 *   (nor does the server) and system-stream reads other than `$all` need `$admins` only (no `$ops` specials).
 * - Subscriptions to a single stream and gossip ignore credentials; `Gossip.Read` takes no deadline.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { GossipService } from '@eventstore/db-client/generated/gossip_grpc_pb';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { type DoubleUser, principalOf } from './auth';
import { gossipService, type Member } from './gossip';
import { metastreamOf, type Proposed, Store } from './log';
import type { AppendFault, DoubleCalls, NodeContext } from './node';
import { serverFeaturesService } from './server-features';
import { appendHandlers } from './streams-append';
import { deleteHandlers } from './streams-delete';
import { readHandlers } from './streams-read';
import { doubleTls } from './tls';
import { bytes } from './wire';

export type { AppendFault, DoubleCalls } from './node';
export type { DoubleUser } from './auth';
/** @deprecated the old name */
export type EsdbDoubleCalls = DoubleCalls;

/** The test CA the double's TLS certificate is signed by, made at test time (./tls.ts; a test fixture: never trust it elsewhere). */
export const doubleCaFile = (): string => doubleTls().caFile;

export interface EsdbDoubleOptions {
  /** Advertise `Streams.BatchAppend` in the server features (the client then uses it for every append it does not send with credentials). */
  readonly batchAppend: boolean;
  /** 0 / undefined: pick a free port. */
  readonly port?: number;
  /** Serve TLS (the test CA, `doubleCaFile()`): the client then sends credentials, and ACLs apply. */
  readonly tls?: boolean;
  /** With `tls`: who may sign in. Default: `admin` / `changeit` in `$admins`. */
  readonly users?: Readonly<Record<string, DoubleUser>>;
  readonly maxAppendSize?: number;
  readonly writeTimeoutMs?: number;
  readonly idempotencyCacheSize?: number;
  /** A fresh server's own events at the start of `$all` (default true). */
  readonly systemEvents?: boolean;
  /** `$by_category` and `$by_event_type` running: each event linked (`$>`) from `$ce-<category>` and `$et-<type>` (default false). */
  readonly systemProjections?: boolean;
  /** The server's clock in ms (events' `created`, `$maxAge`); default `Date.now`. */
  readonly clock?: () => number;
}

export interface InjectedEvent {
  readonly stream: string;
  readonly type: string;
  readonly data?: unknown;
}

export interface EsdbDouble {
  readonly port: number;
  /** `127.0.0.1`, or `localhost` over TLS (the certificate names both; Node refuses an IP as TLS server name). */
  readonly host: string;
  /** `esdb://127.0.0.1:PORT?tls=false`, or with `tls`: `esdb://127.0.0.1:PORT?tlsCAFile=…` (no user). */
  readonly connectionString: string;
  /** The same with a user's credentials. */
  connectionStringAs(user: string): string;
  readonly calls: DoubleCalls;
  /** Faults for the next appends, in order. */
  readonly faults: { nextAppends(...faults: AppendFault[]): void };
  /** Appends bypassing every check (e.g. `$`-prefixed system events). */
  inject(events: ReadonlyArray<InjectedEvent>): void;
  /** Sets a stream's metadata (bypassing ACLs), as `setStreamMetadata` by an administrator. */
  setMetadata(stream: string, metadata: Record<string, unknown>): void;
  /** Number of events in `$all`. */
  size(): number;
  /** The connection names the calls so far came with. */
  connectionNames(): ReadonlyArray<string>;
  /** The JSON text of a stream's metadata (the last event of its `$$` metastream), or undefined. */
  metadataTextOf(stream: string): string | undefined;
  /** Stops serving (connections dropped at once); the state is kept. */
  stop(): Promise<void>;
  /** Serves again on the same port with the same state. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
}

const DEFAULT_USERS: Readonly<Record<string, DoubleUser>> = { admin: { password: 'changeit', groups: ['$admins'] } };

const emptyCalls = (): DoubleCalls => ({
  features: 0,
  append: 0,
  batchAppendStreams: 0,
  batchAppendStreamsEnded: 0,
  batchAppend: 0,
  read: 0,
  subscriptions: 0,
  delete: 0,
  tombstone: 0,
  gossip: 0,
  notLeader: 0,
});

const json = (v: unknown): Proposed => ({
  id: randomUUID(),
  type: '',
  contentType: 'application/json',
  data: bytes(JSON.stringify(v)),
  customMetadata: new Uint8Array(),
});

/** What a fresh server writes before anyone connects: its epoch, the default ACL settings, the default users. */
const seedSystemEvents = (store: Store): void => {
  store.write('$epoch-information', [{ ...json({ epochNumber: 0, epochPosition: 0 }), type: '$epoch-information' }]);
  store.write('$$$settings', [{ ...json({ $acl: { $r: '$admins', $w: '$admins' } }), type: '$metadata' }]);
  store.write('$settings', [
    { ...json({ $userStreamAcl: { $r: '$all', $w: '$all', $d: '$all', $mr: '$all', $mw: '$all' }, $systemStreamAcl: { $r: '$admins' } }), type: '$settings' },
  ]);
  for (const user of ['admin', 'ops']) {
    store.write(`$user-${user}`, [{ ...json({ loginName: user, groups: user === 'admin' ? ['$admins'] : ['$ops'] }), type: '$user' }]);
    store.write('$users', [{ ...json({ loginName: user }), type: '$UserCreated' }]);
  }
};

interface Served {
  readonly ctx: NodeContext;
  readonly services: {
    serverFeatures: ReturnType<typeof serverFeaturesService>;
    streams: grpc.UntypedServiceImplementation;
    gossip?: ReturnType<typeof gossipService>;
  };
}

/** One node's handlers over a (possibly shared) log. */
const serve = (
  store: Store,
  options: EsdbDoubleOptions,
  appendFaults: AppendFault[],
  leader: NodeContext['leader'],
  members?: () => ReadonlyArray<Member>,
): Served => {
  const users = options.users ?? DEFAULT_USERS;
  const connectionNames = new Set<string>();
  const ctx: NodeContext = {
    store,
    calls: emptyCalls(),
    limits: { maxAppendSize: options.maxAppendSize ?? 1024 * 1024, writeTimeoutMs: options.writeTimeoutMs ?? 2_000 },
    appendFaults,
    principal: (md) => {
      const name = md.get('connection-name')[0];
      if (typeof name === 'string') connectionNames.add(name);
      return principalOf(md, options.tls === true, users);
    },
    connectionNames,
    leader,
  };
  return {
    ctx,
    services: {
      serverFeatures: serverFeaturesService(options.batchAppend, ctx.calls),
      streams: { ...readHandlers(ctx), ...appendHandlers(ctx), ...deleteHandlers(ctx) } as grpc.UntypedServiceImplementation,
      ...(members ? { gossip: gossipService(members, ctx.calls) } : {}),
    },
  };
};

const serverCredentials = (tls: boolean): grpc.ServerCredentials => {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const made = doubleTls();
  return grpc.ServerCredentials.createSsl(null, [{ private_key: fs.readFileSync(made.keyFile), cert_chain: fs.readFileSync(made.certFile) }]);
};

/** A node that can be stopped and started again on the same port. */
const lifecycle = (served: Served, tls: boolean, initialPort: number) => {
  let server: grpc.Server | undefined;
  let port = initialPort;
  const start = async (): Promise<void> => {
    if (server) return;
    const s = new grpc.Server();
    s.addService(ServerFeaturesService, served.services.serverFeatures);
    s.addService(StreamsService, served.services.streams);
    if (served.services.gossip) s.addService(GossipService, served.services.gossip);
    port = await new Promise<number>((resolve, reject) =>
      s.bindAsync(`127.0.0.1:${port}`, serverCredentials(tls), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s) s.forceShutdown();
  };
  return { start, stop, port: () => port, running: () => server !== undefined };
};

const facade = (store: Store, served: Served, life: ReturnType<typeof lifecycle>, options: EsdbDoubleOptions): EsdbDouble => {
  const query = (): string => (options.tls ? `tlsCAFile=${encodeURIComponent(doubleCaFile())}` : 'tls=false');
  const users = options.users ?? DEFAULT_USERS;
  const host = options.tls ? 'localhost' : '127.0.0.1';
  return {
    get port() {
      return life.port();
    },
    host,
    get connectionString() {
      return `esdb://${host}:${life.port()}?${query()}`;
    },
    connectionStringAs: (user) => `esdb://${encodeURIComponent(user)}:${encodeURIComponent(users[user]?.password ?? '')}@${host}:${life.port()}?${query()}`,
    calls: served.ctx.calls,
    faults: { nextAppends: (...f) => void served.ctx.appendFaults.push(...f) },
    inject: (events) => {
      for (const e of events) store.write(e.stream, [{ ...json(e.data ?? {}), type: e.type }]);
    },
    setMetadata: (stream, metadata) => store.setMetadata(stream, metadata),
    size: () => store.log.length,
    connectionNames: () => [...served.ctx.connectionNames],
    metadataTextOf: (stream) => {
      const meta = store.stream(metastreamOf(stream));
      const last = meta?.events[meta.events.length - 1];
      return last ? Buffer.from(last.data).toString('utf8') : undefined;
    },
    stop: life.stop,
    start: life.start,
    restart: async () => {
      await life.stop();
      await life.start();
    },
  };
};

const newStore = (options: EsdbDoubleOptions): Store => {
  const store = new Store({
    ...(options.idempotencyCacheSize !== undefined ? { idempotencyCacheSize: options.idempotencyCacheSize } : {}),
    ...(options.systemProjections ? { systemProjections: true } : {}),
    ...(options.clock ? { now: options.clock } : {}),
  });
  if (options.systemEvents !== false) seedSystemEvents(store);
  return store;
};

export const startEsdbDouble = async (options: EsdbDoubleOptions): Promise<EsdbDouble> => {
  const store = newStore(options);
  const served = serve(store, options, [], () => undefined);
  const life = lifecycle(served, options.tls === true, options.port ?? 0);
  await life.start();
  return facade(store, served, life, options);
};

// ─── a cluster ────────────────────────────────────────────────────────────

export interface EsdbClusterNode extends EsdbDouble {
  readonly index: number;
}

export interface EsdbCluster {
  readonly nodes: ReadonlyArray<EsdbClusterNode>;
  /** `esdb+discover://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3?…`: the three as gossip seeds. */
  readonly connectionString: string;
  connectionStringAs(user: string): string;
  /** Which node leads now. */
  leader(): number;
  /** Makes another node the leader (a failover: the old leader becomes a follower; stopped nodes stay stopped). */
  elect(index: number): void;
  stop(): Promise<void>;
}

/** Three nodes over ONE log (replication is instantaneous), node 0 leading at first. */
export const startEsdbCluster = async (options: EsdbDoubleOptions): Promise<EsdbCluster> => {
  const store = newStore(options);
  let leader = 0;
  const faults: AppendFault[] = [];
  const lives: Array<ReturnType<typeof lifecycle>> = [];
  const members = (): Member[] =>
    lives.map((l, i) => ({ instanceId: `00000000-0000-4000-8000-00000000000${i}`, port: l.port(), alive: l.running, leads: () => i === leader }));
  const nodes: EsdbClusterNode[] = [];
  for (let i = 0; i < 3; i++) {
    const served = serve(store, options, faults, () => (i === leader ? undefined : { host: '127.0.0.1', port: lives[leader]!.port() }), members);
    const life = lifecycle(served, options.tls === true, 0);
    lives.push(life);
    await life.start();
    nodes.push(Object.assign(facade(store, served, life, options), { index: i }));
  }
  const query = options.tls ? `tlsCAFile=${encodeURIComponent(doubleCaFile())}` : 'tls=false';
  const seeds = (): string => lives.map((l) => `127.0.0.1:${l.port()}`).join(',');
  const users = options.users ?? DEFAULT_USERS;
  return {
    nodes,
    get connectionString() {
      return `esdb+discover://${seeds()}?${query}`;
    },
    connectionStringAs: (user) => `esdb+discover://${encodeURIComponent(user)}:${encodeURIComponent(users[user]?.password ?? '')}@${seeds()}?${query}`,
    leader: () => leader,
    elect: (index) => {
      leader = index;
    },
    stop: async () => {
      for (const l of lives) await l.stop();
    },
  };
};
