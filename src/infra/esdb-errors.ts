/**
 * What a failed EventStoreDB call means for the adapter — retry, retry with the same event ids because the outcome
 * is unknown, follow the leader, or a typed answer — from the errors `@eventstore/db-client` 6.2.1 raises (its
 * `convertToCommandError`, which maps the server's `RpcExceptions`: Timeout is ABORTED, NotLeader carries the
 * leader's endpoint, MaxAppendSize its limit).
 */
import {
  AccessDeniedError,
  DeadlineExceededError,
  ErrorType,
  isCommandError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  TimeoutError,
} from '@eventstore/db-client';

/** The adapter's own bound on an unanswered append ran out (the client was still waiting). */
export class NoReply extends Error {}

export type Failure =
  /** The server could not be reached, or dropped the call (UNAVAILABLE, a server-side CANCELLED): retry. */
  | { readonly kind: 'transient' }
  /** Sent, not answered in time (the server's Timeout, a deadline, no reply): it may be written. Retry with the SAME event ids. */
  | { readonly kind: 'unknown-outcome' }
  /** The node is not the leader; the client reconnects to the one named on the next call: retry. */
  | { readonly kind: 'not-leader'; readonly leader: string | null }
  | { readonly kind: 'access-denied' }
  | { readonly kind: 'too-large'; readonly maxBytes: number }
  | { readonly kind: 'other' };

export const classify = (e: unknown): Failure => {
  if (e instanceof NoReply || e instanceof TimeoutError || e instanceof DeadlineExceededError) return { kind: 'unknown-outcome' };
  if (e instanceof NotLeaderError) return { kind: 'not-leader', leader: e.leader ? `${e.leader.address}:${e.leader.port}` : null };
  if (e instanceof AccessDeniedError) return { kind: 'access-denied' };
  if (e instanceof MaxAppendSizeExceededError) return { kind: 'too-large', maxBytes: e.maxAppendSize };
  if (e instanceof Error && isCommandError(e)) {
    if (e.type === ErrorType.UNAVAILABLE || e.type === ErrorType.CANCELLED) return { kind: 'transient' };
    if (e.type === ErrorType.TIMEOUT || e.type === ErrorType.DEADLINE_EXCEEDED) return { kind: 'unknown-outcome' };
    if (e.type === ErrorType.ACCESS_DENIED) return { kind: 'access-denied' };
    return { kind: 'other' };
  }
  return typeof e === 'object' && e !== null && 'code' in e && (e as { code: unknown }).code === 14 ? { kind: 'transient' } : { kind: 'other' };
};

/** Worth another attempt (the first three kinds). */
export const retriable = (f: Failure): boolean => f.kind === 'transient' || f.kind === 'unknown-outcome' || f.kind === 'not-leader';

/** The bytes the server counts against `MaxAppendSize` for one event (`Event.SizeOnDisk`: data, metadata, the type twice). */
export const sizeOnDisk = (type: string, data: string, metadata: string): number =>
  Buffer.byteLength(data, 'utf8') + Buffer.byteLength(metadata, 'utf8') + type.length * 2;
