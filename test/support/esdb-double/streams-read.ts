/**
 * `Streams.Read` (server stream): reads of a stream or of `$all`, forwards or
 * backwards, and catch-up subscriptions (the request sets `subscription`
 * instead of `count`): `confirmation`, the backlog, `caught_up` once, then live
 * events until the client cancels or the server stops.
 *
 * As on a real server: `$all` reads from a position are inclusive;
 * subscriptions from a position/revision are exclusive; a missing (or
 * soft-deleted) stream reads as a `stream_not_found` message and a normal end;
 * a tombstoned stream answers with the `stream-deleted` error status; a
 * stream's reads start at its metadata's lower bound (`$tb`, `$maxCount`,
 * `$maxAge`: see ./log.ts), `$all` reads are not filtered by metadata. A
 * filtered subscription also sends `checkpoint` messages, one per
 * `checkpointIntervalMultiplier × window` events it scans (matching or not).
 * Reads need read access (`$all`: `$admins` unless its metadata grants more);
 * a `requires-leader` read on a node that does not lead is `not-leader`. On a
 * grpc-js server stream, errors are emitted as `'error'` (`destroy` sends no status).
 */
import * as grpc from '@grpc/grpc-js';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';
import { allowed } from './auth';
import type { Stored } from './log';
import type { NodeContext } from './node';
import { accessDeniedError, notLeaderError, requiresLeader, serviceError, streamDeletedError, streamId, streamName, unauthenticatedError, uuid } from './wire';

type ReadCall = grpc.ServerWritableStream<pb.ReadReq, pb.ReadResp>;

const recordedEvent = (e: Stored): pb.ReadResp.ReadEvent.RecordedEvent => {
  const r = new pb.ReadResp.ReadEvent.RecordedEvent()
    .setId(uuid(e.id))
    .setStreamIdentifier(streamId(e.stream))
    .setStreamRevision(e.revision.toString())
    .setCommitPosition(e.commit.toString())
    .setPreparePosition(e.prepare.toString())
    .setData(e.data)
    .setCustomMetadata(e.customMetadata);
  const md = r.getMetadataMap();
  md.set('type', e.type);
  md.set('content-type', e.contentType);
  md.set('created', e.created);
  return r;
};

/** One event as the server sends it (exported for bench/esdb-profile.ts). */
export const eventResp = (e: Stored, withCommitPosition: boolean): pb.ReadResp => {
  const re = new pb.ReadResp.ReadEvent().setEvent(recordedEvent(e));
  if (withCommitPosition) re.setCommitPosition(e.commit.toString());
  else re.setNoPosition(new shared.Empty());
  return new pb.ReadResp().setEvent(re);
};

/** Writes with back-pressure; resolves early if the call goes away. */
const writeTo = (call: ReadCall, msg: pb.ReadResp): Promise<void> => {
  if (call.cancelled || call.destroyed) return Promise.resolve();
  if (call.write(msg)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('close', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('close', done);
    call.on('cancelled', done);
  });
};

/** Events a filtered subscription scans between two checkpoints: the multiplier × the window (`max`; the client's default 32). */
const checkpointEvery = (o: pb.ReadReq.Options): number | undefined => {
  const f = o.getFilter();
  if (!f) return undefined;
  return Math.max(1, f.getCheckpointintervalmultiplier() || 1) * Math.max(1, f.getMax() || 32);
};

/** The server-side filter of a read or subscription (prefixes, else regex), on stream name or event type. */
const filterOf = (o: pb.ReadReq.Options): ((e: Stored) => boolean) => {
  const f = o.getFilter();
  if (!f) return () => true;
  const byStream = f.hasStreamIdentifier();
  const expr = byStream ? f.getStreamIdentifier() : f.getEventType();
  if (!expr) return () => true;
  const prefixes = expr.getPrefixList();
  const regex = expr.getRegex() ? new RegExp(expr.getRegex()) : undefined;
  return (e) => {
    const value = byStream ? e.stream : e.type;
    if (prefixes.length > 0) return prefixes.some((p) => value.startsWith(p));
    return regex ? regex.test(value) : true;
  };
};

/** Finite read: the selected events, then a normal end. */
const stream = async (call: ReadCall, events: ReadonlyArray<Stored>, withCommit: boolean): Promise<void> => {
  for (const e of events) {
    if (call.cancelled) return;
    await writeTo(call, eventResp(e, withCommit));
  }
  if (!call.cancelled) call.end();
};

export const readHandlers = (ctx: NodeContext): { read: grpc.handleServerStreamingCall<pb.ReadReq, pb.ReadResp> } => {
  const { store, calls } = ctx;
  let subscriptionSeq = 0;

  /** Catch-up from `startIndex` of `$all`, then `caught_up`, then live; ends only when the client cancels or the server stops. */
  const subscription = (call: ReadCall, match: (e: Stored) => boolean, startIndex: number, withCommit: boolean, every?: number): void => {
    calls.subscriptions++;
    let cursor = startIndex;
    let scanned = 0;
    let caughtUp = false;
    let running = false;
    let done = false;
    const pump = async (): Promise<void> => {
      if (running || done) return;
      running = true;
      try {
        for (;;) {
          while (cursor < store.log.length && !done) {
            const e = store.log[cursor++]!;
            if (match(e)) await writeTo(call, eventResp(e, withCommit));
            if (every !== undefined && ++scanned % every === 0)
              await writeTo(
                call,
                new pb.ReadResp().setCheckpoint(new pb.ReadResp.Checkpoint().setCommitPosition(e.commit.toString()).setPreparePosition(e.prepare.toString())),
              );
          }
          if (done) return;
          if (!caughtUp) {
            caughtUp = true;
            await writeTo(call, new pb.ReadResp().setCaughtUp(new pb.ReadResp.CaughtUp()));
            continue;
          }
          return;
        }
      } finally {
        running = false;
      }
    };
    const off = store.onAppend(() => void pump());
    const end = (): void => {
      done = true;
      off();
    };
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    void writeTo(call, new pb.ReadResp().setConfirmation(new pb.ReadResp.SubscriptionConfirmation().setSubscriptionId(`double-${++subscriptionSeq}`))).then(
      pump,
    );
  };

  const read: grpc.handleServerStreamingCall<pb.ReadReq, pb.ReadResp> = (call) => {
    calls.read++;
    call.on('error', () => undefined);
    const o = call.request.getOptions();
    if (!o) return call.emit('error', serviceError(grpc.status.INVALID_ARGUMENT, 'read without options'));
    const backwards = o.getReadDirection() === pb.ReadReq.Options.ReadDirection.BACKWARDS;
    const subscribe = o.getCountOptionCase() === pb.ReadReq.Options.CountOptionCase.SUBSCRIPTION;
    const count = subscribe ? Infinity : Number(BigInt(o.getCount() || '0'));
    const match = filterOf(o);
    const principal = ctx.principal(call.metadata);
    if (principal.kind === 'unauthenticated') return call.emit('error', unauthenticatedError());
    const leader = ctx.leader();
    if (leader && requiresLeader(call.metadata)) {
      calls.notLeader++;
      return call.emit('error', notLeaderError(leader.host, leader.port));
    }

    const streamOptions = o.getStream();
    if (streamOptions) {
      const name = streamName(streamOptions.getStreamIdentifier());
      if (!allowed(store, principal, 'read', name)) return call.emit('error', accessDeniedError());
      const readable = store.readable(name);
      if (readable.kind === 'deleted') return call.emit('error', streamDeletedError(name));
      const R = pb.ReadReq.Options.StreamOptions.RevisionOptionCase;
      const rc = streamOptions.getRevisionOptionCase();
      const from = rc === R.REVISION ? BigInt(streamOptions.getRevision()) : undefined;
      if (subscribe) {
        // Exclusive: events after `from`; `end`: only new ones.
        const startIndex = (): number => {
          if (rc === R.END) return store.log.length;
          if (from === undefined) return 0;
          const i = store.log.findIndex((e) => e.stream === name && e.revision > from);
          return i < 0 ? store.log.length : i;
        };
        const visible = (e: Stored): boolean => {
          if (e.stream !== name) return false;
          const now = store.readable(name);
          return now.kind === 'ok' && now.events.includes(e);
        };
        return subscription(call, visible, startIndex(), false);
      }
      if (readable.kind === 'not_found') {
        call.write(new pb.ReadResp().setStreamNotFound(new pb.ReadResp.StreamNotFound().setStreamIdentifier(streamId(name))));
        return call.end();
      }
      const visible = readable.events;
      const selected = backwards
        ? visible.filter((e) => from === undefined || e.revision <= from).reverse()
        : visible.filter((e) => from === undefined || e.revision >= from);
      return void stream(call, selected.filter(match).slice(0, count), false);
    }

    const allOptions = o.getAll();
    if (!allOptions) return call.emit('error', serviceError(grpc.status.INVALID_ARGUMENT, 'read of neither a stream nor $all'));
    if (!allowed(store, principal, 'read', '$all')) return call.emit('error', accessDeniedError());
    const A = pb.ReadReq.Options.AllOptions.AllOptionCase;
    const ac = allOptions.getAllOptionCase();
    const p = allOptions.getPosition();
    const at = ac === A.POSITION && p ? { commit: BigInt(p.getCommitPosition()), prepare: BigInt(p.getPreparePosition()) } : undefined;
    const cmp = (e: Stored): number =>
      at === undefined ? 0 : e.commit < at.commit ? -1 : e.commit > at.commit ? 1 : e.prepare < at.prepare ? -1 : e.prepare > at.prepare ? 1 : 0;
    if (subscribe) {
      let startIndex = 0;
      if (ac === A.END) startIndex = store.log.length;
      else if (at !== undefined) {
        const i = store.log.findIndex((e) => cmp(e) > 0);
        startIndex = i < 0 ? store.log.length : i;
      }
      return subscription(call, match, startIndex, true, checkpointEvery(o));
    }
    let selected: Stored[];
    if (!backwards) selected = ac === A.END ? [] : store.log.filter((e) => cmp(e) >= 0);
    else selected = (ac === A.START ? [] : store.log.filter((e) => at === undefined || cmp(e) < 0)).reverse();
    return void stream(call, selected.filter(match).slice(0, count), true);
  };

  return { read };
};
