/**
 * The activation read model: for every instance, how far initialization got,
 * whether it is activated, and if not exactly why — with references to the
 * events that say so. A pure fold over decoded ledger events; the state is
 * plain JSON (it is checkpointed as is) and is never mutated.
 */
import type { StoredEvent } from '../domain/envelope';
import type { OutcomeBasis, RefusalReason } from '../domain/events';
import type { Fold } from './runner';
import { joinAgain, proveCopy, type Remedy, type RemedyContext, rejoin, remedyFor, resumeInit } from '../domain/remedy';
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

/** A start-check outcome as recorded, with what it was decided on (null basis: recorded before outcomes carried one). */
export type RecordedOutcome =
  | { readonly kind: 'activated'; readonly keyVersion: number; readonly basis: OutcomeBasis | null; readonly at: EventRef }
  | { readonly kind: 'refused'; readonly reason: RefusalReason; readonly basis: OutcomeBasis | null; readonly at: EventRef };

export interface InstanceView {
  readonly installationId: string;
  readonly deploymentId: string | null;
  readonly machineName: string | null;
  readonly instanceName: string | null;
  readonly serviceIdentity: string | null;
  /** The keystore path the installation's config named when it was first read. */
  readonly keystorePath: string | null;
  readonly thumbprint: string | null;
  readonly configRead: EventRef | null;
  readonly keyPairIssued: EventRef | null;
  /** Every machine name this installation ID was presented from, with the first event that shows it (from events without a basis). */
  readonly machines: Readonly<Record<string, EventRef>>;
  /**
   * The newest outcome of each presenter (key pair held, machine, host, keystore)
   * since the current key pair was issued: bounded by the number of distinct
   * presenters. Whose outcome describes the instance is decided at query time.
   */
  readonly outcomes: Readonly<Record<string, RecordedOutcome>>;
}

export interface DeploymentView {
  readonly deploymentId: string;
  readonly currentKeyVersion: number | null;
  readonly currentKeyCreated: EventRef | null;
  readonly removed: Readonly<
    Record<string, { readonly thumbprint: string; readonly machineName: string; readonly instanceName: string; readonly at: EventRef }>
  >;
  readonly registered: Readonly<
    Record<string, { readonly thumbprint: string; readonly machineName: string; readonly instanceName: string; readonly at: EventRef }>
  >;
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
  keystorePath: null,
  thumbprint: null,
  configRead: null,
  keyPairIssued: null,
  machines: {},
  outcomes: {},
});

const emptyDeployment = (deploymentId: string): DeploymentView => ({
  deploymentId,
  currentKeyVersion: null,
  currentKeyCreated: null,
  removed: {},
  registered: {},
  copies: {},
});

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

/** Who presented the installation, as one key: outcomes of the same presenter replace each other. */
export const presenterKey = (b: OutcomeBasis | null): string =>
  b === null ? 'unknown' : JSON.stringify([b.presentedThumbprint, b.machineName, b.host, b.keystorePath]);

const record = (i: InstanceView, o: RecordedOutcome): InstanceView => ({ ...i, outcomes: { ...i.outcomes, [presenterKey(o.basis)]: o } });

// ─── Fold ─────────────────────────────────────────────────────────────────

/** The two maps of the view, writable: only ever a fold's own working copy (see activationFold). */
interface WorkingView {
  instances: Record<string, InstanceView>;
  deployments: Record<string, DeploymentView>;
}

/**
 * One event into a working copy of the view: the instance or deployment it is about is replaced by a new,
 * immutable record; the maps themselves are written in place, so an event costs the same whatever the
 * size of the fleet.
 */
const applyActivation = (v: WorkingView, e: StoredEvent): WorkingView => {
  const ev = e.event;
  const at = refOf(e);
  const instance = (id: string, f: (i: InstanceView) => InstanceView): WorkingView => {
    v.instances[id.toLowerCase()] = f(v.instances[id.toLowerCase()] ?? emptyInstance(id));
    return v;
  };
  const deployment = (id: string, f: (d: DeploymentView) => DeploymentView): WorkingView => {
    v.deployments[id] = f(v.deployments[id] ?? emptyDeployment(id));
    return v;
  };
  switch (ev.type) {
    case 'ConfigRead':
      return instance(ev.data.installationId, (i) => ({
        ...i,
        deploymentId: ev.data.deploymentId,
        machineName: ev.data.machineName,
        instanceName: ev.data.instanceName,
        serviceIdentity: ev.data.serviceIdentity,
        keystorePath: i.keystorePath ?? ev.data.keystorePath,
        configRead: i.configRead ?? at,
        machines: claim(i, ev.data.machineName, at),
      }));
    case 'KeyPairIssued':
      return instance(ev.data.installationId, (i) => ({ ...i, thumbprint: ev.data.thumbprint, keyPairIssued: at }));
    case 'InstanceActivated': {
      const basis = ev.data.basis ?? null;
      return instance(ev.data.installationId, (i) =>
        record({ ...i, deploymentId: i.deploymentId ?? ev.data.deploymentId }, { kind: 'activated', keyVersion: ev.data.keyVersion, basis, at }),
      );
    }
    case 'InstanceActivationRefused': {
      const r = ev.data.reason;
      const basis = ev.data.basis ?? null;
      return instance(ev.data.installationId, (i) =>
        record(
          {
            ...i,
            deploymentId: i.deploymentId ?? ev.data.deploymentId,
            // Without a basis, a machine name is all that shows another claimant.
            machines: basis === null && r._tag === 'ConfigurationChanged' && r.field === 'machineName' ? claim(i, r.presented, at) : i.machines,
          },
          { kind: 'refused', reason: r, basis, at },
        ),
      );
    }
    case 'LedgerRollbackAccepted':
      return v; // the store's history, not an instance's state
    case 'ServiceIdentityChanged':
      // A new key pair: outcomes presented with the old one no longer describe the instance.
      return instance(ev.data.installationId, (i) => ({
        ...i,
        serviceIdentity: ev.data.serviceIdentity,
        thumbprint: ev.data.thumbprint,
        keyPairIssued: at,
        outcomes: {},
      }));
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
        registered: {
          ...d.registered,
          [ev.data.installationId.toLowerCase()]: { thumbprint: ev.data.thumbprint, machineName: ev.data.machineName, instanceName: ev.data.instanceName, at },
        },
        removed: omit(d.removed, ev.data.installationId.toLowerCase()),
      }));
    case 'SymmetricKeyCreated':
    case 'SymmetricKeyWrapped':
      return deployment(ev.data.deploymentId, (d) => ({
        ...d,
        currentKeyVersion: ev.type === 'SymmetricKeyCreated' ? ev.data.keyVersion : d.currentKeyVersion,
        currentKeyCreated: ev.type === 'SymmetricKeyCreated' ? at : d.currentKeyCreated,
        copies: {
          ...d.copies,
          [ev.data.copy.installationId.toLowerCase()]: { keyVersion: ev.data.keyVersion, thumbprint: ev.data.copy.recipientThumbprint, at },
        },
      }));
  }
};

/** The view after one more event (a new view; the one given is not changed). */
export const evolveActivation = (v: ActivationView, e: StoredEvent): ActivationView => {
  const working: WorkingView = { instances: { ...v.instances }, deployments: { ...v.deployments } };
  applyActivation(working, e);
  return working;
};

/**
 * The fold a catch-up runs: one working copy of the two maps for the whole run (copied once at its start),
 * written in place event after event, handed out only when the run ends or saves — so a catch-up is linear
 * in events, not in events × instances (issue 10).
 */
export const activationFold: Fold<ActivationView, WorkingView> = {
  begin: (v) => ({ instances: { ...v.instances }, deployments: { ...v.deployments } }),
  apply: (working, e) => {
    applyActivation(working, e);
  },
  end: (working) => working,
};

// ─── Queries ──────────────────────────────────────────────────────────────

export const deploymentOf = (v: ActivationView, i: InstanceView): DeploymentView | undefined =>
  i.deploymentId === null ? undefined : v.deployments[i.deploymentId];

/** The registered holder of an installation: the key pair and machine the deployment registered (before registration: what the instance recorded). */
export const holderOf = (i: InstanceView, d: DeploymentView | undefined): { readonly thumbprint: string | null; readonly machineName: string | null } => {
  const reg = d?.registered[i.installationId.toLowerCase()];
  return { thumbprint: reg?.thumbprint ?? i.thumbprint, machineName: reg?.machineName ?? i.machineName };
};

/**
 * Whether an outcome was presented by the registered holder rather than by
 * another machine using its installation ID (a cloned config, a second
 * keystore). The holder presents its registered key pair from its registered
 * machine; without that key pair (a lost or replaced keystore) it is still the
 * holder if it presented from the same machine name, host and keystore as the
 * holder did when it last proved its key (before any proof: the keystore its
 * config named). An outcome without a basis is taken as the holder's.
 */
export const byHolder = (i: InstanceView, d: DeploymentView | undefined, o: RecordedOutcome): boolean => {
  const b = o.basis;
  if (b === null) return true;
  const h = holderOf(i, d);
  // The holder's names and keys as the deployment registered them and as the instance recorded them (they differ only if one was overwritten).
  const machines = [h.machineName, i.machineName].filter((m): m is string => m !== null);
  const keys = [h.thumbprint, i.thumbprint].filter((k): k is string => k !== null);
  if (machines.length > 0 && !machines.includes(b.machineName)) return false;
  if (b.presentedThumbprint !== null && keys.includes(b.presentedThumbprint)) return true;
  const proven = Object.values(i.outcomes).filter(
    (x) => x.basis !== null && x.basis.presentedThumbprint !== null && keys.includes(x.basis.presentedThumbprint) && machines.includes(x.basis.machineName),
  );
  if (proven.length > 0) return proven.some((x) => x.basis?.host === b.host && x.basis.keystorePath === b.keystorePath);
  return i.keystorePath === null || i.keystorePath === b.keystorePath;
};

/** The deployment revision of the last change bearing on the installation (its registration, key, copy, removal, or a new key version). */
const lastChange = (d: DeploymentView | undefined, id: string): number =>
  Math.max(
    -1,
    ...[d?.registered[id]?.at, d?.copies[id]?.at, d?.removed[id]?.at, d?.currentKeyCreated]
      .filter((r): r is EventRef => r != null)
      .map((r) => Number(r.revision)),
  );

/**
 * Whether an outcome still describes the instance: it was decided on a
 * deployment revision no older than the last change bearing on it. An outcome
 * without a basis counts until such a change is recorded after it (by position).
 */
export const isCurrent = (i: InstanceView, d: DeploymentView | undefined, o: RecordedOutcome): boolean => {
  const id = i.installationId.toLowerCase();
  if (o.basis !== null) return o.basis.deploymentRevision >= lastChange(d, id);
  return ![d?.registered[id]?.at, d?.copies[id]?.at, d?.removed[id]?.at, d?.currentKeyCreated].some((r) => r != null && isAfter(r, o.at));
};

/** The holder's newest outcome, if it still describes the instance. */
export const currentOutcome = (v: ActivationView, i: InstanceView): RecordedOutcome | null => {
  const d = deploymentOf(v, i);
  const latest = Object.values(i.outcomes)
    .filter((o) => byHolder(i, d, o))
    .reduce<RecordedOutcome | null>((a, o) => (a === null || isAfter(o.at, a.at) ? o : a), null);
  return latest !== null && isCurrent(i, d, latest) ? latest : null;
};

/** Outcomes presented by other machines than the holder, newest per presenter. */
export const otherClaimants = (v: ActivationView, i: InstanceView): ReadonlyArray<RecordedOutcome & { readonly basis: OutcomeBasis }> => {
  const d = deploymentOf(v, i);
  return Object.values(i.outcomes).filter((o): o is RecordedOutcome & { basis: OutcomeBasis } => o.basis !== null && !byHolder(i, d, o));
};

/** Members other than `id` that hold a copy of the deployment's current key: who could sponsor a join. */
export const otherHolders = (d: DeploymentView | undefined, id: string): number =>
  d === undefined || d.currentKeyVersion === null
    ? 0
    : Object.entries(d.copies).filter(([who, c]) => who !== id.toLowerCase() && c.keyVersion === d.currentKeyVersion && d.registered[who] !== undefined).length;

export const remedyContext = (v: ActivationView, i: InstanceView): RemedyContext => ({
  installationId: i.installationId,
  otherHolders: otherHolders(deploymentOf(v, i), i.installationId),
  thumbprint: i.thumbprint,
});

export const INIT_STEPS = ['config read', 'key pair issued', 'public key stored', 'symmetric key stored wrapped', 'activated'] as const;

export type InstanceStatus =
  | { readonly state: 'not-initialized'; readonly installationId: string; readonly remedy: Remedy }
  | { readonly state: 'initializing'; readonly completedSteps: number; readonly nextStep: string; readonly view: InstanceView; readonly remedy: Remedy }
  | { readonly state: 'waiting-to-join'; readonly completedSteps: number; readonly keyVersion: number; readonly view: InstanceView; readonly remedy: Remedy }
  | { readonly state: 'activated'; readonly keyVersion: number; readonly since: EventRef; readonly view: InstanceView }
  | { readonly state: 'disabled'; readonly reason: RefusalReason; readonly since: EventRef; readonly view: InstanceView; readonly remedy: Remedy }
  | { readonly state: 'removed'; readonly since: EventRef; readonly revokedThumbprint: string; readonly view: InstanceView; readonly remedy: Remedy };

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
  if (!i) return { state: 'not-initialized', installationId, remedy: resumeInit('it is not initialized') };
  const d = deploymentOf(v, i);
  const id = installationId.toLowerCase();
  const ctx = remedyContext(v, i);
  const steps = completedSteps(i, d);
  const removal = d?.removed[id];
  if (removal && !d?.registered[id])
    return { state: 'removed', since: removal.at, revokedThumbprint: removal.thumbprint, view: i, remedy: rejoin(ctx, 'it was removed from the scale-out') };
  const last = currentOutcome(v, i);
  if (last?.kind === 'refused') {
    if (last.reason._tag === 'NoWrappedCopy' && steps === 3 && d?.currentKeyVersion != null)
      return { state: 'waiting-to-join', completedSteps: steps, keyVersion: last.reason.keyVersion, view: i, remedy: joinAgain(ctx, 'it is waiting to join') };
    return { state: 'disabled', reason: last.reason, since: last.at, view: i, remedy: remedyFor(last.reason, ctx) };
  }
  if (last?.kind === 'activated') return { state: 'activated', keyVersion: last.keyVersion, since: last.at, view: i };
  if (steps === 3 && d?.currentKeyVersion != null)
    return { state: 'waiting-to-join', completedSteps: steps, keyVersion: d.currentKeyVersion, view: i, remedy: joinAgain(ctx, 'it is waiting to join') };
  return {
    state: 'initializing',
    completedSteps: steps,
    nextStep: INIT_STEPS[steps] ?? 'activated',
    view: i,
    remedy:
      steps === 4
        ? proveCopy('a copy of the current key is wrapped for it, but it has not proved it since')
        : resumeInit(`initialization stopped after step ${steps} of 5`),
  };
};

/** Every instance the ledger knows, with its status, ordered by machine and instance name. */
export const listInstances = (v: ActivationView): ReadonlyArray<InstanceStatus> =>
  Object.values(v.instances)
    .map((i) => instanceStatus(v, i.installationId))
    .sort((a, b) => sortKey(a).localeCompare(sortKey(b)));

const sortKey = (s: InstanceStatus): string =>
  s.state === 'not-initialized' ? s.installationId : `${s.view.machineName ?? ''}\u0000${s.view.instanceName ?? ''}\u0000${s.view.installationId}`;

export const activationProjection = {
  fold: activationFold,
  name: 'activation',
  /** 2: outcomes kept per presenter with their basis (docs/adr/0007-outcome-basis.md). */
  version: 2,
  initialState: initialActivationView,
  evolve: evolveActivation,
} as const;
