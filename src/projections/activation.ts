/**
 * The activation read model: for every instance, how far initialization got,
 * whether it is activated, and if not exactly why — with references to the
 * events that say so. A pure fold over decoded ledger events; the state is
 * plain JSON (it is checkpointed as is) and is never mutated.
 */
import type { StoredEvent } from '../domain/envelope';
import type { RefusalReason } from '../domain/events';
import { comparePositions, positionFromString, positionToString } from '../ports/event-store';

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
  /** Every machine name this installation ID was presented from, with the first event that shows it. */
  readonly machines: Readonly<Record<string, EventRef>>;
  readonly lastActivation:
    | { readonly kind: 'activated'; readonly keyVersion: number; readonly at: EventRef }
    | { readonly kind: 'refused'; readonly reason: RefusalReason; readonly at: EventRef }
    | null;
}

export interface DeploymentView {
  readonly deploymentId: string;
  readonly currentKeyVersion: number | null;
  readonly currentKeyCreated: EventRef | null;
  readonly removed: Readonly<Record<string, { readonly thumbprint: string; readonly machineName: string; readonly instanceName: string; readonly at: EventRef }>>;
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
  machines: {},
  lastActivation: null,
});

const emptyDeployment = (deploymentId: string): DeploymentView => ({ deploymentId, currentKeyVersion: null, currentKeyCreated: null, removed: {}, registered: {}, copies: {} });

/** Whether event `a` came after event `b` in the store's global order. */
export const isAfter = (a: EventRef, b: EventRef): boolean => {
  const pa = positionFromString(a.position);
  const pb = positionFromString(b.position);
  return pa !== undefined && pb !== undefined && comparePositions(pa, pb) > 0;
};

const omit = <V>(r: Readonly<Record<string, V>>, key: string): Record<string, V> => {
  const { [key]: _gone, ...rest } = r;
  return rest;
};

const claim = (i: InstanceView, machine: string, at: EventRef): Readonly<Record<string, EventRef>> =>
  i.machines[machine] ? i.machines : { ...i.machines, [machine]: at };

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
        configRead: i.configRead ?? at,
        machines: claim(i, ev.data.machineName, at),
      }));
    case 'KeyPairIssued':
      return instance(ev.data.installationId, (i) => ({ ...i, thumbprint: ev.data.thumbprint, keyPairIssued: at }));
    case 'InstanceActivated':
      return instance(ev.data.installationId, (i) => ({ ...i, deploymentId: i.deploymentId ?? ev.data.deploymentId, lastActivation: { kind: 'activated', keyVersion: ev.data.keyVersion, at } }));
    case 'InstanceActivationRefused': {
      const r = ev.data.reason;
      return instance(ev.data.installationId, (i) => ({
        ...i,
        deploymentId: i.deploymentId ?? ev.data.deploymentId,
        machines: r.kind === 'ConfigurationChanged' && r.field === 'machineName' ? claim(i, r.presented, at) : i.machines,
        lastActivation: { kind: 'refused', reason: r, at },
      }));
    }
    case 'ServiceIdentityChanged':
      return instance(ev.data.installationId, (i) => ({ ...i, serviceIdentity: ev.data.serviceIdentity, thumbprint: ev.data.thumbprint, keyPairIssued: at, lastActivation: null }));
    case 'PublicKeyReplaced':
      return deployment(ev.data.deploymentId, (d) => {
        const id = ev.data.installationId.toLowerCase();
        const r = d.registered[id];
        return r ? { ...d, registered: { ...d.registered, [id]: { ...r, thumbprint: ev.data.thumbprint, at } } } : d;
      });
    case 'InstanceRemoved':
      return deployment(ev.data.deploymentId, (d) => {
        const id = ev.data.installationId.toLowerCase();
        return {
          ...d,
          registered: omit(d.registered, id),
          copies: omit(d.copies, id),
          removed: { ...d.removed, [id]: { thumbprint: ev.data.thumbprint, machineName: ev.data.machineName, instanceName: ev.data.instanceName, at } },
        };
      });
    case 'PublicKeyStored':
      return deployment(ev.data.deploymentId, (d) => ({
        ...d,
        registered: { ...d.registered, [ev.data.installationId.toLowerCase()]: { thumbprint: ev.data.thumbprint, machineName: ev.data.machineName, instanceName: ev.data.instanceName, at } },
        removed: omit(d.removed, ev.data.installationId.toLowerCase()),
      }));
    case 'SymmetricKeyCreated':
    case 'SymmetricKeyWrapped':
      return deployment(ev.data.deploymentId, (d) => ({
        ...d,
        currentKeyVersion: ev.type === 'SymmetricKeyCreated' ? ev.data.keyVersion : d.currentKeyVersion,
        currentKeyCreated: ev.type === 'SymmetricKeyCreated' ? at : d.currentKeyCreated,
        copies: { ...d.copies, [ev.data.copy.installationId.toLowerCase()]: { keyVersion: ev.data.keyVersion, thumbprint: ev.data.copy.recipientThumbprint, at } },
      }));
  }
};

// ─── Queries ──────────────────────────────────────────────────────────────

/**
 * The instance's last activation or refusal — unless the deployment registered
 * it again since (a rejoin, a first registration after a refused start): an
 * outcome from before the current registration no longer describes it.
 */
export const currentActivation = (v: ActivationView, i: InstanceView): InstanceView['lastActivation'] => {
  const d = i.deploymentId === null ? undefined : v.deployments[i.deploymentId];
  const reg = d?.registered[i.installationId.toLowerCase()];
  return i.lastActivation && reg && isAfter(reg.at, i.lastActivation.at) ? null : i.lastActivation;
};

export const INIT_STEPS = ['config read', 'key pair issued', 'public key stored', 'symmetric key stored wrapped', 'activated'] as const;

export type InstanceStatus =
  | { readonly state: 'not-initialized'; readonly installationId: string }
  | { readonly state: 'initializing'; readonly completedSteps: number; readonly nextStep: string; readonly view: InstanceView }
  | { readonly state: 'waiting-to-join'; readonly completedSteps: number; readonly keyVersion: number; readonly view: InstanceView }
  | { readonly state: 'activated'; readonly keyVersion: number; readonly since: EventRef; readonly view: InstanceView }
  | { readonly state: 'disabled'; readonly reason: RefusalReason; readonly since: EventRef; readonly view: InstanceView }
  | { readonly state: 'removed'; readonly since: EventRef; readonly revokedThumbprint: string; readonly view: InstanceView };

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
  const last = currentActivation(v, i);
  const removal = d?.removed[installationId.toLowerCase()];
  if (removal && !(last !== null && isAfter(last.at, removal.at) && !(last.kind === 'refused' && last.reason.kind === 'InstanceRemoved')))
    return { state: 'removed', since: removal.at, revokedThumbprint: removal.thumbprint, view: i };
  if (last?.kind === 'refused') {
    if (last.reason.kind === 'NoWrappedCopy' && steps === 3 && d?.currentKeyVersion != null) return { state: 'waiting-to-join', completedSteps: steps, keyVersion: last.reason.keyVersion, view: i };
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
