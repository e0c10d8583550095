/**
 * `ServerFeatures.GetSupportedMethods`: the client calls it lazily, once per
 * connection, on its first append, and uses `Streams.BatchAppend` for every
 * append if (and only if) it is listed here; otherwise `Streams.Append`.
 */
import type * as grpc from '@grpc/grpc-js';
import * as features from '@eventstore/db-client/generated/serverfeatures_pb';
import type * as shared from '@eventstore/db-client/generated/shared_pb';

export const serverFeaturesService = (
  batchAppend: boolean,
  calls: { features: number },
): { getSupportedMethods: grpc.handleUnaryCall<shared.Empty, features.SupportedMethods> } => ({
  getSupportedMethods: (_call, callback) => {
    calls.features++;
    const m = new features.SupportedMethods().setEventStoreServerVersion('23.10.0-double');
    const add = (service: string, method: string): void => {
      m.addMethods(new features.SupportedMethod().setServiceName(service).setMethodName(method));
    };
    for (const method of ['read', 'append', 'delete', 'tombstone']) add('event_store.client.streams.streams', method);
    if (batchAppend) add('event_store.client.streams.streams', 'batchappend');
    add('event_store.client.server_features.serverfeatures', 'getsupportedmethods');
    callback(null, m);
  },
});
