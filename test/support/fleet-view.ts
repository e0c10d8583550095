/**
 * A synthetic activation view of a fleet of any size, written as the projection keeps it (plain records, the way a
 * checkpoint holds it) — no ledger, no events: for tests and benches of what reads the view (the dashboard's board).
 * One deployment, key version 1; each instance in the state asked for, as `instanceStatus` reads it.
 */
import type { RefusalReason } from '../../src/domain/events';
import type { ActivationView, DeploymentView, EventRef, InstanceView } from '../../src/projections/activation';

export type FleetState = 'activated' | 'disabled' | 'waiting-to-join' | 'initializing' | 'removed' | 'removed-holding';

export interface FleetMember {
  readonly state: FleetState;
  readonly machineName?: string;
  readonly instanceName?: string;
  /** Machine names it was presented from (two or more: the finding InstallationClaimedByTwoMachines). */
  readonly presentedFrom?: ReadonlyArray<string>;
}

/** The nth installation ID of a synthetic fleet (a GUID). */
export const fleetId = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

const thumbprint = (n: number, salt: string): string => `${salt}${n.toString(36)}`.padEnd(43, 'A').slice(0, 43);

const DEPLOYMENT = 'default';

/** The view of `members`, instance n with installation ID fleetId(n); machine RS-<n> and instance MSSQLSERVER unless named. */
export const fleetView = (members: ReadonlyArray<FleetMember>): ActivationView => {
  let position = 0;
  const ref = (stream: string): EventRef => {
    position++;
    return { stream, revision: String(position), position: `${position}/${position}`, occurredAt: '2026-11-28T12:00:00.000Z', actor: 'operator@test' };
  };
  const dstream = `keyledger.deployment-${DEPLOYMENT}`;
  const created = ref(dstream);
  const registered: Record<string, DeploymentView['registered'][string]> = {};
  const copies: Record<string, DeploymentView['copies'][string]> = {};
  const removed: Record<string, DeploymentView['removed'][string]> = {};
  const instances: Record<string, InstanceView> = {};
  members.forEach((m, n) => {
    const id = fleetId(n);
    const stream = `keyledger.instance-${id}`;
    const machineName = m.machineName ?? `RS-${n}`;
    const instanceName = m.instanceName ?? 'MSSQLSERVER';
    const tp = thumbprint(n, 'k');
    const configRead = ref(stream);
    const keyPairIssued = m.state === 'initializing' && n % 2 === 0 ? null : ref(stream);
    const outcomes: Record<string, InstanceView['outcomes'][string]> = {};
    const entry = { thumbprint: tp, machineName, instanceName };
    if (m.state === 'activated' || m.state === 'disabled' || m.state === 'waiting-to-join') registered[id] = { ...entry, at: ref(dstream) };
    if (m.state === 'activated' || m.state === 'disabled') copies[id] = { keyVersion: 1, thumbprint: tp, at: ref(dstream) };
    if (m.state === 'removed' || m.state === 'removed-holding')
      removed[id] = { ...entry, at: ref(dstream), revokedKeyVersion: m.state === 'removed-holding' ? 1 : null };
    const outcome = (reason: RefusalReason | null): InstanceView['outcomes'][string] =>
      reason === null ? { kind: 'activated', keyVersion: 1, basis: null, at: ref(stream) } : { kind: 'refused', reason, basis: null, at: ref(stream) };
    if (m.state === 'activated') outcomes['unknown'] = outcome(null);
    if (m.state === 'disabled')
      outcomes['unknown'] = outcome({
        _tag: 'ServiceIdentityChanged',
        recordedIdentity: 'NT SERVICE\\ReportServer',
        presentedIdentity: 'CONTOSO\\svc',
      } as RefusalReason);
    if (m.state === 'waiting-to-join') outcomes['unknown'] = outcome({ _tag: 'NoWrappedCopy', keyVersion: 1 } as RefusalReason);
    instances[id] = {
      installationId: id,
      deploymentId: DEPLOYMENT,
      machineName,
      instanceName,
      serviceIdentity: 'NT SERVICE\\ReportServer',
      keystorePath: '/var/lib/keyledger/keystore/instance.keystore.json',
      thumbprint: keyPairIssued ? tp : null,
      signingThumbprint: keyPairIssued ? thumbprint(n, 's') : null,
      configRead,
      keyPairIssued,
      machines: Object.fromEntries((m.presentedFrom ?? []).map((name) => [name, ref(stream)])),
      outcomes,
    };
  });
  const deployment: DeploymentView = { deploymentId: DEPLOYMENT, currentKeyVersion: 1, currentKeyCreated: created, removed, registered, copies };
  return { instances, deployments: { [DEPLOYMENT]: deployment } };
};
