/**
 * A wire-level test double of an EventStoreDB node: an in-process gRPC server
 * (`@grpc/grpc-js`, insecure HTTP/2 on 127.0.0.1) built from the
 * `@eventstore/db-client` package's OWN generated message classes and service
 * definitions, with in-memory state.
 *
 * WHAT IT PROVES: that `src/infra/esdb-store.ts` drives the real client library
 * (6.2.1, pinned) correctly over the real wire protocol — both append paths
 * (`Streams.Append` and the `Streams.BatchAppend` bidi stream, chosen by
 * `ServerFeatures.GetSupportedMethods`), reads, catch-up subscriptions with a
 * server-side filter and `caught_up`, the error shapes the client turns into
 * `WrongExpectedVersionError` / `StreamNotFoundError` / `StreamDeletedError`,
 * and the behaviour of a dropped connection.
 *
 * WHAT IT DOES NOT PROVE: EventStoreDB's own semantics. System events and
 * projections ($stats, $ce-, $et- …), scavenging, ACLs and authentication,
 * `$maxCount`/`$maxAge`/`$tb` metadata, clustering/gossip, real log positions
 * and exact idempotency rules are not modelled (system events can be injected
 * by hand with `inject`). The same contract suite therefore also runs against a
 * real server via `test/esdb-real.int.ts` whenever `ESDB_CONNECTION_STRING`
 * is set.
 *
 * Semantics chosen here (as on a real server): `$all` reads from a position
 * are inclusive; subscriptions from a position/revision are exclusive; a
 * missing stream reads as a `stream_not_found` message; a tombstoned stream
 * answers with the `stream-deleted` error; a soft-deleted stream reads as
 * missing and can be written again (revisions continue).
 *
 * Modules, one per gRPC service: `server-features.ts`
 * (ServerFeatures.GetSupportedMethods), `streams-append.ts` (Streams.Append and
 * Streams.BatchAppend), `streams-read.ts` (Streams.Read: reads, subscriptions),
 * `streams-delete.ts` (Streams.Delete and Streams.Tombstone); underneath,
 * `log.ts` (the in-memory log and its semantics) and `wire.ts` (shared
 * message and error-status helpers). No Gossip service: a single-host
 * `esdb://` connection string never asks for it.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { metastreamOf, Store } from './log';
import { serverFeaturesService } from './server-features';
import { appendHandlers } from './streams-append';
import { deleteHandlers } from './streams-delete';
import { readHandlers } from './streams-read';
import { bytes } from './wire';

export interface EsdbDoubleOptions {
  /** Advertise `Streams.BatchAppend` in the server features (the client then uses it for every append). */
  readonly batchAppend: boolean;
  /** 0 / undefined: pick a free port. */
  readonly port?: number;
}

export interface EsdbDoubleCalls {
  features: number;
  /** `Streams.Append` calls that completed an append attempt. */
  append: number;
  /** `Streams.BatchAppend` bidi streams opened. */
  batchAppendStreams: number;
  /** Append requests served over BatchAppend (one per correlation id). */
  batchAppend: number;
  read: number;
  subscriptions: number;
  delete: number;
  tombstone: number;
}

export interface InjectedEvent {
  readonly stream: string;
  readonly type: string;
  readonly data?: unknown;
}

export interface EsdbDouble {
  readonly port: number;
  readonly connectionString: string;
  readonly calls: EsdbDoubleCalls;
  /** Appends bypassing every check (e.g. `$`-prefixed system events). */
  inject(events: ReadonlyArray<InjectedEvent>): void;
  /** Number of events in `$all`. */
  size(): number;
  /** The JSON text of a stream's metadata (the last event of its `$$` metastream), or undefined. */
  metadataTextOf(stream: string): string | undefined;
  /** Stops serving (connections dropped at once); the state is kept. */
  stop(): Promise<void>;
  /** Serves again on the same port with the same state. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
}

export const startEsdbDouble = async (options: EsdbDoubleOptions): Promise<EsdbDouble> => {
  const store = new Store();
  const calls: EsdbDoubleCalls = { features: 0, append: 0, batchAppendStreams: 0, batchAppend: 0, read: 0, subscriptions: 0, delete: 0, tombstone: 0 };
  let server: grpc.Server | undefined;
  let port = options.port ?? 0;

  // Built once, so state such as subscription ids survives a restart.
  const serverFeatures = serverFeaturesService(options.batchAppend, calls);
  const streams = { ...readHandlers(store, calls), ...appendHandlers(store, calls), ...deleteHandlers(store, calls) };

  const start = async (): Promise<void> => {
    if (server) return;
    const s = new grpc.Server();
    s.addService(ServerFeaturesService, serverFeatures);
    s.addService(StreamsService, streams);
    port = await new Promise<number>((resolve, reject) =>
      s.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    server = s;
  };

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s) s.forceShutdown();
  };

  await start();

  return {
    get port() {
      return port;
    },
    get connectionString() {
      return `esdb://127.0.0.1:${port}?tls=false`;
    },
    calls,
    inject: (events) => {
      for (const e of events) {
        store.write(e.stream, [
          { id: randomUUID(), type: e.type, contentType: 'application/json', data: bytes(JSON.stringify(e.data ?? {})), customMetadata: new Uint8Array() },
        ]);
      }
    },
    size: () => store.log.length,
    metadataTextOf: (stream) => {
      const meta = store.stream(metastreamOf(stream));
      const last = meta?.events[meta.events.length - 1];
      return last ? Buffer.from(last.data).toString('utf8') : undefined;
    },
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
  };
};
