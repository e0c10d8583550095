/**
 * `Gossip.Read` (unary, no credentials needed: the server lets anyone read gossip): the cluster's members with
 * their state, liveness and HTTP endpoint — where the client connects (`discovery.js` picks, for
 * `nodePreference=leader`, an alive member in state Leader). One answer for every node of the cluster.
 */
import type * as grpc from '@grpc/grpc-js';
import * as gossip from '@eventstore/db-client/generated/gossip_pb';
import type * as shared from '@eventstore/db-client/generated/shared_pb';
import { uuid } from './wire';

export interface Member {
  readonly instanceId: string;
  readonly port: number;
  readonly alive: () => boolean;
  readonly leads: () => boolean;
}

export const gossipService = (
  members: () => ReadonlyArray<Member>,
  calls: { gossip: number },
): { read: grpc.handleUnaryCall<shared.Empty, gossip.ClusterInfo> } => ({
  read: (_call, callback) => {
    calls.gossip++;
    const info = new gossip.ClusterInfo();
    for (const m of members())
      info.addMembers(
        new gossip.MemberInfo()
          .setInstanceId(uuid(m.instanceId))
          .setTimeStamp(String(BigInt(Date.now()) * 10_000n))
          .setState(m.leads() ? gossip.MemberInfo.VNodeState.LEADER : gossip.MemberInfo.VNodeState.FOLLOWER)
          .setIsAlive(m.alive())
          .setHttpEndPoint(new gossip.EndPoint().setAddress('127.0.0.1').setPort(m.port)),
      );
    callback(null, info);
  },
});
