/**
 * `Streams.Delete` (soft delete: the stream's metadata becomes `{"$tb": 2^63-1}`, its ACL gone; it reads as
 * missing and can be written again, revisions continuing from `$tb` set to the first new one) and
 * `Streams.Tombstone` (for good: reads and writes answer `stream-deleted`; see ./log.ts). Both unary, both check the expected revision;
 * a wrong one is an error status whose metadata carries `exception`,
 * `stream-name`, `expected-version` and `actual-version`.
 */
import * as grpc from '@grpc/grpc-js';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';
import { allowed } from './auth';
import type { Expected } from './log';
import type { NodeContext } from './node';
import { accessDeniedError, expectedOf, notLeaderError, requiresLeader, serviceError, streamDeletedError, streamName, unauthenticatedError } from './wire';

/** `expected-version` metadata for the non-revision cases. */
const EXPECTED_CODE: Record<Exclude<Expected['kind'], 'revision'>, string> = { any: '-2', no_stream: '-1', stream_exists: '-4' };

type DeleteLike = (
  call: grpc.ServerUnaryCall<pb.DeleteReq | pb.TombstoneReq, pb.DeleteResp | pb.TombstoneResp>,
  callback: grpc.sendUnaryData<pb.DeleteResp | pb.TombstoneResp>,
) => void;

export const deleteHandlers = (ctx: NodeContext): { delete: DeleteLike; tombstone: DeleteLike } => {
  const { store, calls } = ctx;
  const deleteLike =
    (tombstone: boolean): DeleteLike =>
    (call, callback) => {
      if (tombstone) calls.tombstone++;
      else calls.delete++;
      const o = call.request.getOptions();
      const name = streamName(o?.getStreamIdentifier());
      const principal = ctx.principal(call.metadata);
      if (principal.kind === 'unauthenticated') return callback(unauthenticatedError());
      if (!allowed(store, principal, 'delete', name)) return callback(accessDeniedError());
      const leader = ctx.leader();
      if (leader && requiresLeader(call.metadata)) {
        calls.notLeader++;
        return callback(notLeaderError(leader.host, leader.port));
      }
      const C = pb.DeleteReq.Options.ExpectedStreamRevisionCase;
      const c = o?.getExpectedStreamRevisionCase() ?? C.EXPECTED_STREAM_REVISION_NOT_SET;
      const expected = expectedOf(
        c === C.REVISION ? 'revision' : c === C.NO_STREAM ? 'no_stream' : c === C.STREAM_EXISTS ? 'stream_exists' : c === C.ANY ? 'any' : 'unset',
        o?.getRevision() ?? '0',
      );
      const out = store.delete(name, expected, tombstone);
      if (out.ok) {
        const position = out;
        if (tombstone) {
          const r = new pb.TombstoneResp();
          if (position)
            r.setPosition(new pb.TombstoneResp.Position().setCommitPosition(position.commit.toString()).setPreparePosition(position.prepare.toString()));
          else r.setNoPosition(new shared.Empty());
          return callback(null, r);
        }
        const r = new pb.DeleteResp();
        if (position) r.setPosition(new pb.DeleteResp.Position().setCommitPosition(position.commit.toString()).setPreparePosition(position.prepare.toString()));
        else r.setNoPosition(new shared.Empty());
        return callback(null, r);
      }
      if (out.kind === 'deleted') return callback(streamDeletedError(name));
      return callback(
        serviceError(grpc.status.FAILED_PRECONDITION, 'Wrong expected version.', {
          exception: 'wrong-expected-version',
          'stream-name': name,
          'expected-version': expected.kind === 'revision' ? expected.revision.toString() : EXPECTED_CODE[expected.kind],
          'actual-version': out.current?.toString(),
        }),
      );
    };
  return { delete: deleteLike(false), tombstone: deleteLike(true) };
};
