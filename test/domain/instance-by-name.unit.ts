/**
 * The lookup `keyledger join --machine M --instance N` and `POST /api/join` share (src/projections/instance-by-name.ts):
 * the only instance so named, else the only one of them waiting to join; no match and several matches as typed errors.
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import type { LedgerEvent } from '../../src/domain/events';
import type { InstallationId, NonEmptyString } from '../../src/domain/ids';
import { instanceByName } from '../../src/projections/instance-by-name';
import {
  anInstanceConfig,
  cluster,
  founder,
  history,
  keyPairIssued,
  keyWrapped,
  NODE_2,
  NODE_3,
  publicKeyStored,
  replay,
  statusOf,
  TP_2,
  TP_3,
} from '../support/domain-builders';

/** An installation that ran steps 1–3 under the machine and instance names given: waiting to join. */
const waitingAs = (id: InstallationId, tp: Parameters<typeof keyPairIssued>[1], machineName: string, instanceName = 'MSSQLSERVER'): LedgerEvent[] => {
  const names = { machineName: machineName as NonEmptyString, instanceName: instanceName as NonEmptyString };
  const stored = publicKeyStored(id, tp);
  return [
    { type: 'ConfigRead', data: anInstanceConfig({ installationId: id, ...names }) },
    keyPairIssued(id, tp),
    { ...stored, data: { ...stored.data, ...names } },
  ];
};

test('the only instance so named, machine and instance name compared without case', (t) => {
  const v = replay(history(...cluster));
  t.deepEqual(instanceByName(v, 'rs-node-2', 'mssqlserver'), E.right(NODE_2));
  t.deepEqual(instanceByName(v, 'RS-NODE-2', 'MSSQLSERVER'), E.right(NODE_2));
});

test('no instance so named: NoInstanceNamed with the names as given (one name matching is not a match)', (t) => {
  const v = replay(history(...cluster));
  t.deepEqual(instanceByName(v, 'RS-NODE-9', 'MSSQLSERVER'), E.left({ _tag: 'NoInstanceNamed', machine: 'RS-NODE-9', instance: 'MSSQLSERVER' }));
  t.deepEqual(instanceByName(v, 'RS-NODE-2', 'SSRS'), E.left({ _tag: 'NoInstanceNamed', machine: 'RS-NODE-2', instance: 'SSRS' }));
  t.deepEqual(instanceByName(replay([]), 'RS-NODE-2', 'MSSQLSERVER'), E.left({ _tag: 'NoInstanceNamed', machine: 'RS-NODE-2', instance: 'MSSQLSERVER' }));
});

test('a machine rebuilt under the same names: the one waiting to join is meant, not the member it replaces', (t) => {
  const v = replay(history(...cluster, ...waitingAs(NODE_3, TP_3, 'RS-NODE-2')));
  t.is(statusOf(v, NODE_3).state, 'waiting-to-join');
  t.is(statusOf(v, NODE_2).state, 'activated');
  t.deepEqual(instanceByName(v, 'RS-NODE-2', 'MSSQLSERVER'), E.right(NODE_3));
});

test('several so named and not one alone waiting: InstanceNameAmbiguous naming each, sorted', (t) => {
  const ambiguous = (machine: string, instance: string) =>
    E.left({ _tag: 'InstanceNameAmbiguous', machine, instance, installationIds: [NODE_2, NODE_3].sort() });
  const bothWaiting = history(...founder, ...waitingAs(NODE_2, TP_2, 'RS-X'), ...waitingAs(NODE_3, TP_3, 'RS-X'));
  const v = replay(bothWaiting);
  t.is(statusOf(v, NODE_2).state, 'waiting-to-join');
  t.is(statusOf(v, NODE_3).state, 'waiting-to-join');
  t.deepEqual(instanceByName(v, 'RS-X', 'MSSQLSERVER'), ambiguous('RS-X', 'MSSQLSERVER'));
  // Both wrapped for, neither waiting any more: still two, none to prefer.
  const neither = replay(
    history(...founder, ...waitingAs(NODE_2, TP_2, 'RS-X'), ...waitingAs(NODE_3, TP_3, 'RS-X'), keyWrapped(NODE_2, TP_2), keyWrapped(NODE_3, TP_3)),
  );
  t.not(statusOf(neither, NODE_2).state, 'waiting-to-join');
  t.deepEqual(instanceByName(neither, 'rs-x', 'mssqlserver'), ambiguous('rs-x', 'mssqlserver'));
  // One of them joined: the other, still waiting, is the one meant.
  const one = replay(history(...founder, ...waitingAs(NODE_2, TP_2, 'RS-X'), ...waitingAs(NODE_3, TP_3, 'RS-X'), keyWrapped(NODE_2, TP_2)));
  t.deepEqual(instanceByName(one, 'RS-X', 'MSSQLSERVER'), E.right(NODE_3));
});
