/**
 * The activation read model: for every instance, how far initialization got,
 * whether it is activated, and if not exactly why — with references to the
 * events that say so. A pure fold over decoded ledger events; the state is
 * plain JSON (it is checkpointed as is) and is never mutated.
 */
import type { StoredEvent } from '../domain/envelope';
import type { OutcomeBasis, RefusalReason } from '../domain/events';
import type { Fold } from './runner';
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
  /** Its signing key's thumbprint: what a join confirms (null: none registered, a keystore from before signatures). */
  readonly signingThumbprint: string | null;
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
  signingThumbprint: null,
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
      return instance(ev.data.installationId, (i) => ({
        ...i,
        thumbprint: ev.data.thumbprint,
        signingThumbprint: ev.data.signingThumbprint ?? null,
        keyPairIssued: at,
      }));
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
    case 'GenesisAccepted':
    case 'GenesisDeclared':
    case 'SecretPut':
    case 'SecretDeleted':
    case 'SecretRead':
    case 'SecretReadsCounted':
      return v;
    case 'SigningKeyRegistered':
      // A signing key added later (`keyledger trust`): what a join of it confirms from now on.
      return instance(ev.data.installationId, (i) => (i.signingThumbprint === null ? { ...i, signingThumbprint: ev.data.signingThumbprint } : i));
    case 'ServiceIdentityChanged':
      // A new key pair: outcomes presented with the old one no longer describe the instance.
      return instance(ev.data.installationId, (i) => ({
        ...i,
        serviceIdentity: ev.data.serviceIdentity,
        thumbprint: ev.data.thumbprint,
        signingThumbprint: ev.data.signingThumbprint ?? null,
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

export const activationProjection = {
  fold: activationFold,
  name: 'activation',
  /** 2: outcomes kept per presenter with their basis (docs/adr/0007-outcome-basis.md). */
  version: 3,
  initialState: initialActivationView,
  evolve: evolveActivation,
} as const;
