/**
 * What every service handler of one node of the double shares: the log (one per double, shared by every node of a
 * cluster), call counters, the server's limits, faults queued by a test, who is calling, and where the leader is.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Principal } from './auth';
import type { Store } from './log';

export interface Limits {
  /** `MaxAppendSize` (default 1 MiB): the sum of `Event.SizeOnDisk` over one append. */
  readonly maxAppendSize: number;
  /** `WriteTimeoutMs` (default 2 s): a commit not confirmed within it is answered `Timeout`. */
  readonly writeTimeoutMs: number;
}

/** How the next append is answered: never (written, the reply lost), or late (written at once; past the write timeout: `Timeout`). */
export type AppendFault = 'silent' | { readonly delayMs: number };

export interface DoubleCalls {
  features: number;
  /** `Streams.Append` calls that completed an append attempt. */
  append: number;
  /** `Streams.BatchAppend` bidi streams opened. */
  batchAppendStreams: number;
  /** `Streams.BatchAppend` streams the server ended (it does not end one on a half-close while nothing is pending). */
  batchAppendStreamsEnded: number;
  /** Append requests served over BatchAppend (one per correlation id). */
  batchAppend: number;
  read: number;
  subscriptions: number;
  delete: number;
  tombstone: number;
  gossip: number;
  /** Requests answered `not-leader`. */
  notLeader: number;
}

export interface NodeContext {
  readonly store: Store;
  readonly calls: DoubleCalls;
  readonly limits: Limits;
  /** Consumed in order, one per append. */
  readonly appendFaults: AppendFault[];
  readonly principal: (md: grpc.Metadata) => Principal;
  /** The `connection-name` of every call seen (the client sends its connection name with each). */
  readonly connectionNames: Set<string>;
  /** Undefined: this node leads (or stands alone); else the leader's endpoint, for a `requires-leader` call. */
  readonly leader: () => { readonly host: string; readonly port: number } | undefined;
}
