/**
 * The activation read model: for every instance, how far initialization got,
 * whether it is activated, and if not exactly why — with references to the
 * events that say so. A pure fold over decoded ledger events; the state is
 * plain JSON (it is checkpointed as is), and a view handed out is never changed
 * (a fold writes only the records it made or copied: see WorkingView).
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
    Record<
      string,
      {
        readonly thumbprint: string;
        readonly machineName: string;
        readonly instanceName: string;
        readonly at: EventRef;
        /** The key version of the copy it held when removed (absent: none, or recorded by an older view). */
        readonly revokedKeyVersion?: number | null;
      }
    >
  >;
  readonly registered: Readonly<
    Record<string, { readonly thumbprint: string; readonly machineName: string; readonly instanceName: string; readonly at: EventRef }>
  >;
  readonly copies: Readonly<Record<string, { readonly keyVersion: number; readonly thumbprint: string; readonly at: EventRef }>>;
  /** A deletion of the encrypted content started and not yet completed (docs/adr/0015). */
  readonly contentDeletion?: { readonly startedAt: EventRef; readonly keyVersions: ReadonlyArray<number>; readonly deletedBy: string };
  /** The last completed deletion of the encrypted content: what it destroyed, by whom, where it is recorded. */
  readonly contentDeleted?: { readonly at: EventRef; readonly keyVersions: ReadonlyArray<number>; readonly deletedBy: string };
  /** Every key version a deletion destroyed: a creation or copy of one re-added to the stream is not folded. */
  readonly destroyed?: ReadonlyArray<number>;
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

/** Who presented the installation, as one key: outcomes of the same presenter replace each other. */
export const presenterKey = (b: OutcomeBasis | null): string =>
  b === null
    ? 'unknown'
    : // Length-prefixed fields: unambiguous whatever they hold, and cheaper than JSON on a catch-up of millions.
      `${b.presentedThumbprint === null ? '-' : `${b.presentedThumbprint.length}:${b.presentedThumbprint}`}|${b.machineName.length}:${b.machineName}|` +
      `${b.host.length}:${b.host}|${b.keystorePath.length}:${b.keystorePath}`;

// ─── Fold ─────────────────────────────────────────────────────────────────

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type WritableInstance = Writable<InstanceView> & { machines: Record<string, EventRef>; outcomes: Record<string, RecordedOutcome> };
type Entry = DeploymentView['registered'][string];
type WritableDeployment = Writable<DeploymentView> & {
  removed: Record<string, DeploymentView['removed'][string]>;
  registered: Record<string, Entry>;
  copies: Record<string, DeploymentView['copies'][string]>;
};

/**
 * A fold's own working copy of the view: the two maps, and the records this fold made or copied (it writes
 * those in place). A record it did not make (from the view it began with) is copied once, on its first write:
 * the view the fold began with is never changed, and an event costs the same whatever the size of the fleet.
 */
interface WorkingView {
  instances: Record<string, InstanceView>;
  deployments: Record<string, DeploymentView>;
  owned: WeakSet<object>;
}

const ownInstance = (v: WorkingView, id: string): WritableInstance => {
  const key = id.toLowerCase();
  const found = v.instances[key];
  if (found && v.owned.has(found)) return found as WritableInstance;
  const own: WritableInstance = found
    ? { ...found, machines: { ...found.machines }, outcomes: { ...found.outcomes } }
    : (emptyInstance(id) as WritableInstance);
  v.owned.add(own);
  v.instances[key] = own;
  return own;
};

const ownDeployment = (v: WorkingView, id: string): WritableDeployment => {
  const found = v.deployments[id];
  if (found && v.owned.has(found)) return found as WritableDeployment;
  const own: WritableDeployment = found
    ? { ...found, removed: { ...found.removed }, registered: { ...found.registered }, copies: { ...found.copies } }
    : (emptyDeployment(id) as WritableDeployment);
  v.owned.add(own);
  v.deployments[id] = own;
  return own;
};

const claim = (i: WritableInstance, machine: string, at: EventRef): void => {
  if (!i.machines[machine]) i.machines[machine] = at;
};

const record = (i: WritableInstance, o: RecordedOutcome): void => {
  i.outcomes[presenterKey(o.basis)] = o;
};

/** One event into a working copy of the view (see WorkingView). */
const applyActivation = (v: WorkingView, e: StoredEvent): void => {
  const ev = e.event;
  switch (ev.type) {
    case 'ConfigRead': {
      const i = ownInstance(v, ev.data.installationId);
      const at = refOf(e);
      i.deploymentId = ev.data.deploymentId;
      i.machineName = ev.data.machineName;
      i.instanceName = ev.data.instanceName;
      i.serviceIdentity = ev.data.serviceIdentity;
      i.keystorePath = i.keystorePath ?? ev.data.keystorePath;
      i.configRead = i.configRead ?? at;
      claim(i, ev.data.machineName, at);
      return;
    }
    case 'KeyPairIssued': {
      const i = ownInstance(v, ev.data.installationId);
      i.thumbprint = ev.data.thumbprint;
      i.signingThumbprint = ev.data.signingThumbprint ?? null;
      i.keyPairIssued = refOf(e);
      return;
    }
    case 'InstanceActivated': {
      const i = ownInstance(v, ev.data.installationId);
      i.deploymentId = i.deploymentId ?? ev.data.deploymentId;
      record(i, { kind: 'activated', keyVersion: ev.data.keyVersion, basis: ev.data.basis ?? null, at: refOf(e) });
      return;
    }
    case 'InstanceActivationRefused': {
      const r = ev.data.reason;
      const basis = ev.data.basis ?? null;
      const i = ownInstance(v, ev.data.installationId);
      const at = refOf(e);
      i.deploymentId = i.deploymentId ?? ev.data.deploymentId;
      // Without a basis, a machine name is all that shows another claimant.
      if (basis === null && r._tag === 'ConfigurationChanged' && r.field === 'machineName') claim(i, r.presented, at);
      record(i, { kind: 'refused', reason: r, basis, at });
      return;
    }
    case 'LedgerRollbackAccepted':
    case 'LedgerForkAccepted':
    case 'GenesisAccepted':
    case 'GenesisDeclared':
    case 'KeyBackedUp':
    case 'KeyRestored':
    case 'KeyVersionRetired':
    case 'SecretPut':
    case 'SecretDeleted':
    case 'SecretRead':
    case 'SecretReadsCounted':
    case 'SecretsReencrypted':
    case 'SecretsDestroyed':
      return;
    case 'EncryptedContentDeletionStarted': {
      const d = ownDeployment(v, ev.data.deploymentId);
      if (!d.contentDeletion) d.contentDeletion = { startedAt: refOf(e), keyVersions: ev.data.keyVersions, deletedBy: ev.data.deletedBy };
      return;
    }
    case 'EncryptedContentDeleted': {
      // The key versions are destroyed, and every copy of them: nobody holds a key until the deployment is initialized afresh.
      const d = ownDeployment(v, ev.data.deploymentId);
      const gone = new Set<number>(ev.data.keys.map((k) => k.keyVersion));
      for (const [who, c] of Object.entries(d.copies)) if (gone.has(c.keyVersion)) delete d.copies[who];
      d.currentKeyVersion = null;
      delete d.contentDeletion;
      d.contentDeleted = { at: refOf(e), keyVersions: [...gone], deletedBy: ev.data.deletedBy };
      d.destroyed = [...new Set([...(d.destroyed ?? []), ...gone])];
      return;
    }
    case 'SigningKeyRegistered': {
      // A signing key added later (`keyledger trust`): what a join of it confirms from now on.
      const i = ownInstance(v, ev.data.installationId);
      if (i.signingThumbprint === null) i.signingThumbprint = ev.data.signingThumbprint;
      return;
    }
    case 'ServiceIdentityChanged': {
      // A new key pair: outcomes presented with the old one no longer describe the instance.
      const i = ownInstance(v, ev.data.installationId);
      i.serviceIdentity = ev.data.serviceIdentity;
      i.thumbprint = ev.data.thumbprint;
      i.signingThumbprint = ev.data.signingThumbprint ?? null;
      i.keyPairIssued = refOf(e);
      i.outcomes = {};
      return;
    }
    case 'PublicKeyReplaced': {
      const d = ownDeployment(v, ev.data.deploymentId);
      const id = ev.data.installationId.toLowerCase();
      const r = d.registered[id];
      if (r) d.registered[id] = { ...r, thumbprint: ev.data.thumbprint, at: refOf(e) };
      return;
    }
    case 'InstanceRemoved': {
      const d = ownDeployment(v, ev.data.deploymentId);
      const id = ev.data.installationId.toLowerCase();
      delete d.registered[id];
      delete d.copies[id];
      d.removed[id] = {
        thumbprint: ev.data.thumbprint,
        machineName: ev.data.machineName,
        instanceName: ev.data.instanceName,
        at: refOf(e),
        revokedKeyVersion: ev.data.revokedKeyVersion,
      };
      return;
    }
    case 'PublicKeyStored': {
      const d = ownDeployment(v, ev.data.deploymentId);
      const id = ev.data.installationId.toLowerCase();
      d.registered[id] = { thumbprint: ev.data.thumbprint, machineName: ev.data.machineName, instanceName: ev.data.instanceName, at: refOf(e) };
      delete d.removed[id];
      return;
    }
    case 'SymmetricKeyCreated':
    case 'SymmetricKeyWrapped': {
      const d = ownDeployment(v, ev.data.deploymentId);
      if (d.destroyed?.includes(ev.data.keyVersion)) return; // a destroyed version re-added to the stream: it protects nothing
      const at = refOf(e);
      if (ev.type === 'SymmetricKeyCreated') {
        d.currentKeyVersion = ev.data.keyVersion;
        d.currentKeyCreated = at;
      }
      d.copies[ev.data.copy.installationId.toLowerCase()] = { keyVersion: ev.data.keyVersion, thumbprint: ev.data.copy.recipientThumbprint, at };
      return;
    }
  }
};

const beginWorking = (v: ActivationView): WorkingView => ({ instances: { ...v.instances }, deployments: { ...v.deployments }, owned: new WeakSet() });

/** The view after one more event (a new view; the one given is not changed). */
export const evolveActivation = (v: ActivationView, e: StoredEvent): ActivationView => {
  const working = beginWorking(v);
  applyActivation(working, e);
  return { instances: working.instances, deployments: working.deployments };
};

/**
 * The fold a catch-up runs: one working copy for the whole run (the maps copied once at its start, each
 * record on its first write), written in place event after event and handed out only when the run ends or
 * saves — so a catch-up is linear in events, not in events × instances (issue 10). What it hands out is
 * never written again: the fold goes on in fresh copies.
 */
export const activationFold: Fold<ActivationView, WorkingView> = {
  begin: beginWorking,
  apply: applyActivation,
  end: (working) => {
    const view = { instances: working.instances, deployments: working.deployments };
    // Handed out: from now on the fold writes into copies again (a long catch-up goes on after a save).
    Object.assign(working, beginWorking(view));
    return view;
  },
};

export const activationProjection = {
  fold: activationFold,
  name: 'activation',
  /** 2: outcomes kept per presenter with their basis (docs/adr/0007-outcome-basis.md); 4: presenter keys length-prefixed; 5: content deletions. */
  version: 5,
  initialState: initialActivationView,
  evolve: evolveActivation,
} as const;
