/**
 * Shared wire helpers for the double's service handlers: protobuf values built
 * from the client's OWN generated classes (its serializers check `instanceof`),
 * error statuses with the metadata the client needs, and the mapping from a
 * request's expected-revision case to the log's `Expected`.
 */
import * as grpc from '@grpc/grpc-js';
import { Any } from 'google-protobuf/google/protobuf/any_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';
import { Status } from '@eventstore/db-client/generated/status_pb';
import type { Code } from '@eventstore/db-client/generated/code_pb';
import type { Expected } from './log';

export const utf8 = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
export const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

/** Stream names travel as bytes. */
export const streamId = (name: string): shared.StreamIdentifier => new shared.StreamIdentifier().setStreamName(bytes(name));
export const streamName = (id: shared.StreamIdentifier | undefined): string => utf8(id?.getStreamName_asU8() ?? new Uint8Array());

/** UUIDs are sent in string form; both forms are accepted. */
export const uuid = (s: string): shared.UUID => new shared.UUID().setString(s);
export const uuidString = (u: shared.UUID | undefined): string => {
  if (!u) return '';
  if (u.hasString()) return u.getString();
  const st = u.getStructured();
  if (!st) return '';
  const buf = Buffer.alloc(16);
  buf.writeBigInt64BE(BigInt(st.getMostSignificantBits()), 0);
  buf.writeBigInt64BE(BigInt(st.getLeastSignificantBits()), 8);
  const h = buf.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/** A gRPC error status; the client reads `exception`, `stream-name` (always needed) and the version keys from its metadata. */
export const serviceError = (code: grpc.status, details: string, md: Record<string, string | undefined> = {}): grpc.ServiceError => {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) if (v !== undefined) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata });
};

/** The status a tombstoned stream answers with (append, read, delete). */
export const streamDeletedError = (name: string): grpc.ServiceError =>
  serviceError(grpc.status.FAILED_PRECONDITION, `Event stream '${name}' is deleted.`, { exception: 'stream-deleted', 'stream-name': name });

/** A `google.rpc.Status` with one detail packed as `Any` (BatchAppend errors). */
export const rpcStatus = (code: Code, message: string, typeName: string, detail: Uint8Array): Status => {
  const any = new Any();
  any.pack(detail, typeName);
  return new Status().setCode(code).setMessage(message).setDetails(any);
};

/** An unset expected revision means `any`. */
export const expectedOf = (c: 'revision' | 'no_stream' | 'any' | 'stream_exists' | 'unset', revision: string): Expected =>
  c === 'revision' ? { kind: 'revision', revision: BigInt(revision) } : c === 'unset' ? { kind: 'any' } : { kind: c };

/** `RpcExceptions.AccessDenied`: the caller's rights do not allow the operation. */
export const accessDeniedError = (): grpc.ServiceError => serviceError(grpc.status.PERMISSION_DENIED, 'Access Denied', { exception: 'access-denied' });

/** A bad user name or password (the server's authentication answers 401, which gRPC carries as UNAUTHENTICATED). */
export const unauthenticatedError = (): grpc.ServiceError => serviceError(grpc.status.UNAUTHENTICATED, 'Bad HTTP status code: 401');

/** `RpcExceptions.LeaderInfo`: this node is not the leader; the client reconnects to the one named. */
export const notLeaderError = (host: string, port: number): grpc.ServiceError =>
  serviceError(grpc.status.NOT_FOUND, 'Leader info available', { exception: 'not-leader', 'leader-endpoint-host': host, 'leader-endpoint-port': String(port) });

/** `RpcExceptions.Timeout`: the write was not confirmed in time (it may still be written). */
export const timeoutError = (): grpc.ServiceError => serviceError(grpc.status.ABORTED, 'Operation timed out: Commit timed out.');

/** `RpcExceptions.MaxAppendSizeExceeded`. */
export const maxAppendSizeError = (max: number): grpc.ServiceError =>
  serviceError(grpc.status.INVALID_ARGUMENT, `Maximum Append Size of ${max} Exceeded.`, {
    exception: 'maximum-append-size-exceeded',
    'maximum-append-size': String(max),
  });

/** `Event.SizeOnDisk`: what counts against the maximum append size. */
export const sizeOnDisk = (p: { readonly type: string; readonly data: Uint8Array; readonly customMetadata: Uint8Array }): number =>
  p.data.length + p.customMetadata.length + p.type.length * 2;

/** The `requires-leader` header of a call. */
export const requiresLeader = (md: grpc.Metadata): boolean => md.get('requires-leader')[0] === 'true';
