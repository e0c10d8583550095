/**
 * `Streams.Append` (client stream: one options message, then one message per
 * event; one reply) and `Streams.BatchAppend` (bidi: requests grouped by
 * correlation id until `is_final`; each reply echoes the correlation id and the
 * stream identifier, errors are `google.rpc.Status` with a packed detail).
 * An `AppendResp` must set `success` or `wrong_expected_version`, or the client hangs.
 */
import * as grpc from '@grpc/grpc-js';
import { Empty as GEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';
import { Code } from '@eventstore/db-client/generated/code_pb';
import type { Expected, Proposed, Store } from './log';
import { expectedOf, rpcStatus, serviceError, streamDeletedError, streamId, streamName, uuid, uuidString } from './wire';

export interface AppendCalls {
  /** `Streams.Append` calls that completed an append attempt. */
  append: number;
  /** `Streams.BatchAppend` bidi streams opened. */
  batchAppendStreams: number;
  /** Append requests served over BatchAppend (one per correlation id). */
  batchAppend: number;
}

const proposedFrom = (p: pb.AppendReq.ProposedMessage | pb.BatchAppendReq.ProposedMessage): Proposed => {
  const md = p.getMetadataMap();
  return {
    id: uuidString(p.getId()),
    type: md.get('type') ?? '',
    contentType: md.get('content-type') ?? 'application/octet-stream',
    data: p.getData_asU8(),
    customMetadata: p.getCustomMetadata_asU8(),
  };
};

/** The `WrongExpectedVersion` detail of a BatchAppend error. */
const wrongExpectedVersionDetails = (expected: Expected, current: bigint | undefined): shared.WrongExpectedVersion => {
  const w = new shared.WrongExpectedVersion();
  if (current === undefined) w.setCurrentNoStream(new GEmpty());
  else w.setCurrentStreamRevision(current.toString());
  switch (expected.kind) {
    case 'any':
      w.setExpectedAny(new GEmpty());
      break;
    case 'no_stream':
      w.setExpectedNoStream(new GEmpty());
      break;
    case 'stream_exists':
      w.setExpectedStreamExists(new GEmpty());
      break;
    case 'revision':
      w.setExpectedStreamPosition(expected.revision.toString());
      break;
  }
  return w;
};

export const appendHandlers = (
  store: Store,
  calls: AppendCalls,
): {
  append: grpc.handleClientStreamingCall<pb.AppendReq, pb.AppendResp>;
  batchAppend: grpc.handleBidiStreamingCall<pb.BatchAppendReq, pb.BatchAppendResp>;
} => {
  const append: grpc.handleClientStreamingCall<pb.AppendReq, pb.AppendResp> = (call, callback) => {
    let header: pb.AppendReq.Options | undefined;
    const proposed: Proposed[] = [];
    let failed = false;
    call.on('data', (req: pb.AppendReq) => {
      if (req.hasOptions()) header = req.getOptions();
      else {
        const p = req.getProposedMessage();
        if (p) proposed.push(proposedFrom(p));
      }
    });
    call.on('error', () => {
      failed = true;
    });
    call.on('end', () => {
      if (failed || call.cancelled) return;
      if (!header) return callback(serviceError(grpc.status.INVALID_ARGUMENT, 'append without options'));
      calls.append++;
      const name = streamName(header.getStreamIdentifier());
      const c = header.getExpectedStreamRevisionCase();
      const E = pb.AppendReq.Options.ExpectedStreamRevisionCase;
      const expected = expectedOf(
        c === E.REVISION ? 'revision' : c === E.NO_STREAM ? 'no_stream' : c === E.STREAM_EXISTS ? 'stream_exists' : c === E.ANY ? 'any' : 'unset',
        header.getRevision(),
      );
      const out = store.append(name, expected, proposed);
      if (out.ok) {
        const success = new pb.AppendResp.Success()
          .setCurrentRevision(out.current.toString())
          .setPosition(new pb.AppendResp.Position().setCommitPosition(out.commit.toString()).setPreparePosition(out.prepare.toString()));
        return callback(null, new pb.AppendResp().setSuccess(success));
      }
      if (out.kind === 'deleted') return callback(streamDeletedError(name));
      const w = new pb.AppendResp.WrongExpectedVersion();
      if (out.current === undefined) w.setCurrentNoStream(new shared.Empty());
      else w.setCurrentRevision(out.current.toString());
      switch (expected.kind) {
        case 'any':
          w.setExpectedAny(new shared.Empty());
          break;
        case 'no_stream':
          w.setExpectedNoStream(new shared.Empty());
          break;
        case 'stream_exists':
          w.setExpectedStreamExists(new shared.Empty());
          break;
        case 'revision':
          w.setExpectedRevision(expected.revision.toString());
          break;
      }
      return callback(null, new pb.AppendResp().setWrongExpectedVersion(w));
    });
  };

  const batchAppend: grpc.handleBidiStreamingCall<pb.BatchAppendReq, pb.BatchAppendResp> = (call) => {
    calls.batchAppendStreams++;
    const pending = new Map<string, { options: pb.BatchAppendReq.Options | undefined; proposed: Proposed[] }>();
    call.on('data', (req: pb.BatchAppendReq) => {
      const id = uuidString(req.getCorrelationId());
      const entry = pending.get(id) ?? { options: undefined, proposed: [] };
      pending.set(id, entry);
      if (req.hasOptions()) entry.options = req.getOptions();
      for (const p of req.getProposedMessagesList()) entry.proposed.push(proposedFrom(p));
      if (!req.getIsFinal()) return;
      pending.delete(id);
      calls.batchAppend++;
      const o = entry.options;
      const name = streamName(o?.getStreamIdentifier());
      const C = pb.BatchAppendReq.Options.ExpectedStreamPositionCase;
      const c = o?.getExpectedStreamPositionCase() ?? C.EXPECTED_STREAM_POSITION_NOT_SET;
      const expected = expectedOf(
        c === C.STREAM_POSITION ? 'revision' : c === C.NO_STREAM ? 'no_stream' : c === C.STREAM_EXISTS ? 'stream_exists' : c === C.ANY ? 'any' : 'unset',
        o?.getStreamPosition() ?? '0',
      );
      const resp = new pb.BatchAppendResp().setCorrelationId(uuid(id)).setStreamIdentifier(streamId(name));
      switch (expected.kind) {
        case 'any':
          resp.setAny(new GEmpty());
          break;
        case 'no_stream':
          resp.setNoStream(new GEmpty());
          break;
        case 'stream_exists':
          resp.setStreamExists(new GEmpty());
          break;
        case 'revision':
          resp.setStreamPosition(expected.revision.toString());
          break;
      }
      const out = store.append(name, expected, entry.proposed);
      if (out.ok) {
        resp.setSuccess(
          new pb.BatchAppendResp.Success()
            .setCurrentRevision(out.current.toString())
            .setPosition(new shared.AllStreamPosition().setCommitPosition(out.commit.toString()).setPreparePosition(out.prepare.toString())),
        );
      } else if (out.kind === 'deleted') {
        resp.setError(
          rpcStatus(
            Code.FAILED_PRECONDITION,
            `Event stream '${name}' is deleted.`,
            'event_store.client.StreamDeleted',
            new shared.StreamDeleted().setStreamIdentifier(streamId(name)).serializeBinary(),
          ),
        );
      } else {
        resp.setError(
          rpcStatus(
            Code.FAILED_PRECONDITION,
            'Append failed due to WrongExpectedVersion.',
            'event_store.client.WrongExpectedVersion',
            wrongExpectedVersionDetails(expected, out.current).serializeBinary(),
          ),
        );
      }
      call.write(resp);
    });
    call.on('end', () => call.end());
    call.on('error', () => undefined);
  };

  return { append, batchAppend };
};
