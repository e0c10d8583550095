/**
 * `Streams.Append` and `Streams.BatchAppend`, after the server's `Streams.Append.cs` and `Streams.BatchAppend.cs`.
 *
 * Append (client stream: one options message, then one message per event; one reply): the caller's write access
 * is checked on the options; `MaxAppendSize` on the running total as events arrive; a `requires-leader` call on a
 * node that does not lead is answered `not-leader` naming the leader; a wrong expected version is a reply (with
 * the legacy `_2060` fields set, as the server does), every other failure an error status. An `AppendResp` must
 * set `success` or `wrong_expected_version`, or the client hangs.
 *
 * BatchAppend (bidi: requests grouped by correlation id until `is_final`; each reply echoes the correlation id
 * and the stream identifier; errors are `google.rpc.Status` with a packed detail): access, size and the request's
 * own deadline (`min(deadline - now, WriteTimeoutMs)`; none left: `Timeout` at once; a request not finished in
 * time: `Timeout`) per request; `not-leader` fails the whole call. On the client's half-close the server queues a
 * "closing" marker, and ends the call only after writing a reply that follows it — so a half-close with nothing
 * pending leaves the call open until the client cancels it (the send loop of `BatchAppendWorker`).
 *
 * Faults a test queues (`NodeContext.appendFaults`) apply to both: an append written but never answered, or
 * answered late (past `WriteTimeoutMs`: `Timeout`, although it was written — an outcome the client cannot know).
 */
import * as grpc from '@grpc/grpc-js';
import { Empty as GEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';
import { Code } from '@eventstore/db-client/generated/code_pb';
import { allowed } from './auth';
import type { AppendOutcome, Expected, Proposed } from './log';
import type { AppendFault, NodeContext } from './node';
import {
  accessDeniedError,
  expectedOf,
  maxAppendSizeError,
  notLeaderError,
  requiresLeader,
  rpcStatus,
  serviceError,
  sizeOnDisk,
  streamDeletedError,
  streamId,
  streamName,
  timeoutError,
  unauthenticatedError,
  uuid,
  uuidString,
} from './wire';

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

/** The Append path's wrong-expected-version reply, legacy `_2060` fields included (`Streams.Append.cs`). */
const wrongExpectedVersionReply = (expected: Expected, current: bigint | undefined): pb.AppendResp => {
  const w = new pb.AppendResp.WrongExpectedVersion();
  if (current === undefined) w.setCurrentNoStream(new shared.Empty()).setNoStream2060(new shared.Empty());
  else w.setCurrentRevision(current.toString()).setCurrentRevision2060(Number(current));
  switch (expected.kind) {
    case 'any':
      w.setExpectedAny(new shared.Empty()).setAny2060(new shared.Empty());
      break;
    case 'no_stream':
      // ulong.MaxValue in the legacy field; the JS setter takes a number, and 2^64 - 1 has none: the largest below it.
      w.setExpectedNoStream(new shared.Empty()).setExpectedRevision2060(2 ** 64 - 2048);
      break;
    case 'stream_exists':
      w.setExpectedStreamExists(new shared.Empty()).setStreamExists2060(new shared.Empty());
      break;
    case 'revision':
      w.setExpectedRevision(expected.revision.toString()).setExpectedRevision2060(Number(expected.revision));
      break;
  }
  return new pb.AppendResp().setWrongExpectedVersion(w);
};

/** Runs `reply` as the queued fault says: now, later, as a `Timeout` (the write stands), or never. */
const answer = (fault: AppendFault | undefined, writeTimeoutMs: number, reply: () => void, timedOut: () => void): void => {
  if (fault === undefined) reply();
  else if (fault === 'silent') return;
  else if (fault.delayMs >= writeTimeoutMs) setTimeout(timedOut, writeTimeoutMs);
  else setTimeout(reply, fault.delayMs);
};

export const appendHandlers = (
  ctx: NodeContext,
): {
  append: grpc.handleClientStreamingCall<pb.AppendReq, pb.AppendResp>;
  batchAppend: grpc.handleBidiStreamingCall<pb.BatchAppendReq, pb.BatchAppendResp>;
} => {
  const { store, calls, limits } = ctx;

  const append: grpc.handleClientStreamingCall<pb.AppendReq, pb.AppendResp> = (call, callback) => {
    const principal = ctx.principal(call.metadata);
    let header: pb.AppendReq.Options | undefined;
    const proposed: Proposed[] = [];
    let size = 0;
    let done = false;
    const fail = (e: grpc.ServiceError): void => {
      if (done) return;
      done = true;
      callback(e);
    };
    call.on('data', (req: pb.AppendReq) => {
      if (done) return;
      if (req.hasOptions()) {
        header = req.getOptions();
        if (principal.kind === 'unauthenticated') return fail(unauthenticatedError());
        if (!allowed(store, principal, 'write', streamName(header?.getStreamIdentifier()))) return fail(accessDeniedError());
        return;
      }
      const p = req.getProposedMessage();
      if (!p) return;
      const one = proposedFrom(p);
      size += sizeOnDisk(one);
      if (size > limits.maxAppendSize) return fail(maxAppendSizeError(limits.maxAppendSize));
      proposed.push(one);
    });
    call.on('error', () => {
      done = true;
    });
    call.on('end', () => {
      if (done || call.cancelled) return;
      if (!header) return fail(serviceError(grpc.status.INVALID_ARGUMENT, 'append without options'));
      const leader = ctx.leader();
      if (leader && requiresLeader(call.metadata)) {
        calls.notLeader++;
        return fail(notLeaderError(leader.host, leader.port));
      }
      calls.append++;
      const name = streamName(header.getStreamIdentifier());
      const c = header.getExpectedStreamRevisionCase();
      const E = pb.AppendReq.Options.ExpectedStreamRevisionCase;
      const expected = expectedOf(
        c === E.REVISION ? 'revision' : c === E.NO_STREAM ? 'no_stream' : c === E.STREAM_EXISTS ? 'stream_exists' : c === E.ANY ? 'any' : 'unset',
        header.getRevision(),
      );
      const out = store.append(name, expected, proposed);
      const reply = (): void => {
        if (done || call.cancelled) return;
        done = true;
        if (out.ok) {
          const success = new pb.AppendResp.Success()
            .setCurrentRevision(out.current.toString())
            .setPosition(new pb.AppendResp.Position().setCommitPosition(out.commit.toString()).setPreparePosition(out.prepare.toString()));
          callback(null, new pb.AppendResp().setSuccess(success));
        } else if (out.kind === 'deleted') callback(streamDeletedError(name));
        else callback(null, wrongExpectedVersionReply(expected, out.current));
      };
      answer(ctx.appendFaults.shift(), limits.writeTimeoutMs, reply, () => fail(timeoutError()));
    });
  };

  const batchAppend: grpc.handleBidiStreamingCall<pb.BatchAppendReq, pb.BatchAppendResp> = (call) => {
    calls.batchAppendStreams++;
    const principal = ctx.principal(call.metadata);
    if (principal.kind === 'unauthenticated') {
      call.emit('error', unauthenticatedError());
      return;
    }
    const mustLead = requiresLeader(call.metadata);
    const pending = new Map<string, { options: pb.BatchAppendReq.Options; proposed: Proposed[]; size: number; timer: NodeJS.Timeout }>();
    /** Published writes not yet answered, as the server counts them (error replies count down too). */
    let inFlight = 0;
    let closing = false;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      calls.batchAppendStreamsEnded++;
      call.end();
    };
    const send = (resp: pb.BatchAppendResp): void => {
      if (ended || call.cancelled || call.destroyed) return;
      call.write(resp);
      if (--inFlight >= 0 && closing) end();
    };
    const errorReply = (id: string, name: string, status: ReturnType<typeof rpcStatus>): pb.BatchAppendResp =>
      new pb.BatchAppendResp().setCorrelationId(uuid(id)).setStreamIdentifier(streamId(name)).setError(status);

    call.on('data', (req: pb.BatchAppendReq) => {
      if (ended) return;
      const id = uuidString(req.getCorrelationId());
      const o = req.getOptions();
      if (o) {
        const name = streamName(o.getStreamIdentifier());
        if (!allowed(store, principal, 'write', name))
          return send(
            errorReply(
              id,
              name,
              rpcStatus(Code.PERMISSION_DENIED, 'Access Denied', 'event_store.client.AccessDenied', new shared.AccessDenied().serializeBinary()),
            ),
          );
        const deadline = o.getDeadline();
        const left = Math.min(deadline ? deadline.toDate().getTime() - Date.now() : Infinity, limits.writeTimeoutMs);
        const timedOut = (): pb.BatchAppendResp =>
          errorReply(id, name, rpcStatus(Code.DEADLINE_EXCEEDED, 'Timeout', 'event_store.client.Timeout', new shared.Timeout().serializeBinary()));
        if (left <= 0) return send(timedOut());
        if (!pending.has(id)) {
          const timer = setTimeout(() => {
            if (pending.delete(id)) send(timedOut());
          }, left);
          pending.set(id, { options: o, proposed: [], size: 0, timer });
        }
      }
      const entry = pending.get(id);
      if (!entry) return;
      for (const p of req.getProposedMessagesList()) {
        const one = proposedFrom(p);
        entry.size += sizeOnDisk(one);
        entry.proposed.push(one);
      }
      const name = streamName(entry.options.getStreamIdentifier());
      if (entry.size > limits.maxAppendSize) {
        clearTimeout(entry.timer);
        pending.delete(id);
        return send(
          errorReply(
            id,
            name,
            rpcStatus(
              Code.INVALID_ARGUMENT,
              `Maximum Append Size of ${limits.maxAppendSize} Exceeded.`,
              'event_store.client.MaximumAppendSizeExceeded',
              new shared.MaximumAppendSizeExceeded().setMaxappendsize(limits.maxAppendSize).serializeBinary(),
            ),
          ),
        );
      }
      if (!req.getIsFinal()) return;
      clearTimeout(entry.timer);
      pending.delete(id);
      inFlight++;
      const leader = ctx.leader();
      if (leader && mustLead) {
        calls.notLeader++;
        // The server's reply converter throws the leader info: it completes the whole call with that error.
        ended = true;
        call.emit('error', notLeaderError(leader.host, leader.port));
        return;
      }
      calls.batchAppend++;
      const C = pb.BatchAppendReq.Options.ExpectedStreamPositionCase;
      const c = entry.options.getExpectedStreamPositionCase();
      const expected = expectedOf(
        c === C.STREAM_POSITION ? 'revision' : c === C.NO_STREAM ? 'no_stream' : c === C.STREAM_EXISTS ? 'stream_exists' : c === C.ANY ? 'any' : 'unset',
        entry.options.getStreamPosition() ?? '0',
      );
      const out = store.append(name, expected, entry.proposed);
      answer(
        ctx.appendFaults.shift(),
        limits.writeTimeoutMs,
        () => send(batchReply(id, name, expected, out)),
        () => send(errorReply(id, name, rpcStatus(Code.DEADLINE_EXCEEDED, 'Timeout', 'event_store.client.Timeout', new shared.Timeout().serializeBinary()))),
      );
    });
    // The half-close: the "closing" marker. Nothing pending: the call stays open until the client cancels it.
    call.on('end', () => {
      closing = true;
    });
    call.on('cancelled', () => {
      ended = true;
      for (const e of pending.values()) clearTimeout(e.timer);
    });
    call.on('error', () => undefined);
  };

  return { append, batchAppend };
};

const batchReply = (id: string, name: string, expected: Expected, out: AppendOutcome): pb.BatchAppendResp => {
  const resp = new pb.BatchAppendResp().setCorrelationId(uuid(id)).setStreamIdentifier(streamId(name));
  if (out.ok)
    return resp.setSuccess(
      new pb.BatchAppendResp.Success()
        .setCurrentRevision(out.current.toString())
        .setPosition(new shared.AllStreamPosition().setCommitPosition(out.commit.toString()).setPreparePosition(out.prepare.toString())),
    );
  if (out.kind === 'deleted')
    return resp.setError(
      rpcStatus(
        Code.FAILED_PRECONDITION,
        `Event stream '${name}' is deleted.`,
        'event_store.client.StreamDeleted',
        new shared.StreamDeleted().setStreamIdentifier(streamId(name)).serializeBinary(),
      ),
    );
  return resp.setError(
    rpcStatus(
      Code.FAILED_PRECONDITION,
      'Append failed due to WrongExpectedVersion.',
      'event_store.client.WrongExpectedVersion',
      wrongExpectedVersionDetails(expected, out.current).serializeBinary(),
    ),
  );
};
