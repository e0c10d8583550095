/**
 * The activation read model: for every instance, how far initialization got,
 * whether it is activated, and if not exactly why — with references to the
 * events that say so. A pure fold over decoded ledger events; the state is
 * plain JSON (it is checkpointed as is) and is never mutated.
 */
import type { StoredEvent } from '../domain/envelope';
import type { RefusalReason } from '../domain/events';
import { positionToString } from '../ports/event-store';

// ─── View ─────────────────────────────────────────────────────────────────

/** Where a fact came from: enough to find the event again. */
export interface EventRef {
  readonly stream: string;
  readonly revision: string;
  readonly position: string;
  readonly occurredAt: string;
  readonly actor: string;
}

export interface InstanceView {
  readonly installationId: string;
  readonly deploymentId: string | null;
  readonly machineName: string | null;
  readonly instanceName: string | null;
  readonly serviceIdentity: string | null;
  readonly thumbprint: string | null;
  readonly configRead: EventRef | null;
  readonly keyPairIssued: EventRef | null;
  readonly lastActivation:
    | { readonly kind: 'activated'; readonly keyVersion: number; readonly at: EventRef }
    | { readonly kind: 'refused'; readonly reason: RefusalReason; readonly at: EventRef }
    | null;
}

export interface DeploymentView {
  readonly deploymentId: string;
  readonly currentKeyVersion: number | null;
  readonly registered: Readonly<Record<string, { readonly thumbprint: string; readonly machineName: string; readonly instanceName: string; readonly at: EventRef }>>;
  readonly copies: Readonly<Record<string, { readonly keyVersion: number; readonly thumbprint: string; readonly at: EventRef }>>;
}

export interface ActivationView {
  readonly instances: Readonly<Record<string, InstanceView>>;
  readonly deployments: Readonly<Record<string, DeploymentView>>;
}

export const initialActivationView: ActivationView = { instances: {}, deployments: {} };

const refOf = (e: StoredEvent): EventRef => ({
  stream: e.stream,
  revision: e.revision.toString(),
  position: positionToString(e.position),
  occurredAt: e.metadata.occurredAt,
  actor: e.metadata.actor,
});

const emptyInstance = (installationId: string): InstanceView => ({
  installationId,
  deploymentId: null,
  machineName: null,
  instanceName: null,
  serviceIdentity: null,
  thumbprint: null,
  configRead: null,
  keyPairIssued: null,
  lastActivation: null,
});

const emptyDeployment = (deploymentId: string): DeploymentView => ({ deploymentId, currentKeyVersion: null, registered: {}, copies: {} });

// ─── Fold ─────────────────────────────────────────────────────────────────

export const evolveActivation = (v: ActivationView, e: StoredEvent): ActivationView => {
  const ev = e.event;
  const at = refOf(e);
  const instance = (id: string, f: (i: InstanceView) => InstanceView): ActivationView => ({
    ...v,
    instances: { ...v.instances, [id.toLowerCase()]: f(v.instances[id.toLowerCase()] ?? emptyInstance(id)) },
  });
  const deployment = (id: string, f: (d: DeploymentView) => DeploymentView): ActivationView => ({
    ...v,
    deployments: { ...v.deployments, [id]: f(v.deployments[id] ?? emptyDeployment(id)) },
  });
  switch (ev.type) {
    case 'ConfigRead':
      return instance(ev.data.installationId, (i) => ({
        ...i,
        deploymentId: ev.data.deploymentId,
        machineName: ev.data.machineName,
        instanceName: ev.data.instanceName,
        serviceIdentity: ev.data.serviceIdentity,
        configRead: at,
      }));
    case 'KeyPairIssued':
      return instance(ev.data.installationId, (i) => ({ ...i, thumbprint: ev.data.thumbprint, keyPairIssued: at }));
    case 'InstanceActivated':
      return instance(ev.data.installationId, (i) => ({ ...i, deploymentId: i.deploymentId ?? ev.data.deploymentId, lastActivation: { kind: 'activated', keyVersion: ev.data.keyVersion, at } }));
    case 'InstanceActivationRefused':
      return instance(ev.data.installationId, (i) => ({ ...i, deploymentId: i.deploymentId ?? ev.data.deploymentId, lastActivation: { kind: 'refused', reason: ev.data.reason, at } }));
    case 'PublicKeyStored':
      return deployment(ev.data.deploymentId, (d) => ({
        ...d,
        registered: { ...d.registered, [ev.data.installationId.toLowerCase()]: { thumbprint: ev.data.thumbprint, machineName: ev.data.machineName, instanceName: ev.data.instanceName, at } },
      }));
    case 'SymmetricKeyCreated':
    case 'SymmetricKeyWrapped':
      return deployment(ev.data.deploymentId, (d) => ({
        ...d,
        currentKeyVersion: ev.type === 'SymmetricKeyCreated' ? ev.data.keyVersion : d.currentKeyVersion,
        copies: { ...d.copies, [ev.data.copy.installationId.toLowerCase()]: { keyVersion: ev.data.keyVersion, thumbprint: ev.data.copy.recipientThumbprint, at } },
      }));
  }
};

// ─── Queries ──────────────────────────────────────────────────────────────

export const INIT_STEPS = ['config read', 'key pair issued', 'public key stored', 'symmetric key stored wrapped', 'activated'] as const;

export type InstanceStatus =
  | { readonly state: 'not-initialized'; readonly installationId: string }
  | { readonly state: 'initializing'; readonly completedSteps: number; readonly nextStep: string; readonly view: InstanceView }
  | { readonly state: 'waiting-to-join'; readonly completedSteps: number; readonly keyVersion: number; readonly view: InstanceView }
  | { readonly state: 'activated'; readonly keyVersion: number; readonly since: EventRef; readonly view: InstanceView }
  | { readonly state: 'disabled'; readonly reason: RefusalReason; readonly since: EventRef; readonly view: InstanceView };

/** Steps 1–4 that the ledger shows as done for this instance (0–4). */
const completedSteps = (i: InstanceView, d: DeploymentView | undefined): number => {
  const id = i.installationId.toLowerCase();
  const registered = d?.registered[id];
  const copy = d?.copies[id];
  if (!i.configRead) return 0;
  if (!i.keyPairIssued) return 1;
  if (!registered || registered.thumbprint !== i.thumbprint) return 2;
  if (!copy || copy.keyVersion !== d?.currentKeyVersion) return 3;
  return 4;
};

export const instanceStatus = (v: ActivationView, installationId: string): InstanceStatus => {
  const i = v.instances[installationId.toLowerCase()];
  if (!i) return { state: 'not-initialized', installationId };
  const d = i.deploymentId === null ? undefined : v.deployments[i.deploymentId];
  const steps = completedSteps(i, d);
  const last = i.lastActivation;
  if (last?.kind === 'refused') {
    if (last.reason.kind === 'NoWrappedCopy' && steps === 3) return { state: 'waiting-to-join', completedSteps: steps, keyVersion: last.reason.keyVersion, view: i };
    return { state: 'disabled', reason: last.reason, since: last.at, view: i };
  }
  if (last?.kind === 'activated') return { state: 'activated', keyVersion: last.keyVersion, since: last.at, view: i };
  if (steps === 3 && d?.currentKeyVersion != null) return { state: 'waiting-to-join', completedSteps: steps, keyVersion: d.currentKeyVersion, view: i };
  return { state: 'initializing', completedSteps: steps, nextStep: INIT_STEPS[steps] ?? 'activated', view: i };
};

/** Every instance the ledger knows, with its status, ordered by machine and instance name. */
export const listInstances = (v: ActivationView): ReadonlyArray<InstanceStatus> =>
  Object.values(v.instances)
    .map((i) => instanceStatus(v, i.installationId))
    .sort((a, b) => sortKey(a).localeCompare(sortKey(b)));

const sortKey = (s: InstanceStatus): string =>
  s.state === 'not-initialized' ? s.installationId : `${s.view.machineName ?? ''}\u0000${s.view.instanceName ?? ''}\u0000${s.view.installationId}`;

export const activationProjection = {
  name: 'activation',
  version: 1,
  initialState: initialActivationView,
  evolve: evolveActivation,
} as const;
