/**
 * Questions to the activation view (./activation.ts): whose outcome describes an
 * installation (the registered holder's, still current), and so its status — one
 * of not-initialized, initializing, waiting-to-join, activated, disabled, removed —
 * with the remedy; every instance's status for `list`. Pure.
 */
import type { OutcomeBasis, RefusalReason } from '../domain/events';
import { joinAgain, proveCopy, type Remedy, type RemedyContext, rejoin, remedyFor, resumeInit } from '../domain/remedy';
import { type ActivationView, type DeploymentView, type EventRef, type InstanceView, isAfter, type RecordedOutcome } from './activation';

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
    ...[d?.registered[id]?.at, d?.copies[id]?.at, d?.removed[id]?.at, d?.currentKeyCreated, d?.contentDeleted?.at]
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
  return ![d?.registered[id]?.at, d?.copies[id]?.at, d?.removed[id]?.at, d?.currentKeyCreated, d?.contentDeleted?.at].some(
    (r) => r != null && isAfter(r, o.at),
  );
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

/**
 * The registered members holding a copy of the deployment's current key, per deployment record. A record handed out in a
 * view is never changed (a fold writes only its own copies: activation.ts), so what is computed for it holds; without
 * this, every instance's status counted every copy — `list` and the dashboard quadratic in the fleet (26 s for 5,000).
 */
const holdersOf = new WeakMap<DeploymentView, ReadonlySet<string>>();

const currentHolders = (d: DeploymentView): ReadonlySet<string> => {
  const found = holdersOf.get(d);
  if (found) return found;
  const holders = new Set(
    Object.entries(d.copies).flatMap(([who, c]) => (c.keyVersion === d.currentKeyVersion && d.registered[who] !== undefined ? [who] : [])),
  );
  holdersOf.set(d, holders);
  return holders;
};

/** Members other than `id` that hold a copy of the deployment's current key: who could sponsor a join. */
export const otherHolders = (d: DeploymentView | undefined, id: string): number => {
  if (d === undefined || d.currentKeyVersion === null) return 0;
  const holders = currentHolders(d);
  return holders.size - (holders.has(id.toLowerCase()) ? 1 : 0);
};

export const remedyContext = (v: ActivationView, i: InstanceView): RemedyContext => ({
  installationId: i.installationId,
  otherHolders: otherHolders(deploymentOf(v, i), i.installationId),
  thumbprint: i.signingThumbprint ?? i.thumbprint,
  deploymentId: i.deploymentId,
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
  // Its copy went with the deployment's key when the encrypted content was deleted: disabled since then, until initialized afresh.
  const deleted = d?.contentDeleted;
  if (!last && deleted && d.currentKeyVersion === null && d.registered[id]) {
    const reason = { _tag: 'ContentDeleted', keyVersions: deleted.keyVersions, deletedBy: deleted.deletedBy } as RefusalReason;
    return { state: 'disabled', reason, since: deleted.at, view: i, remedy: remedyFor(reason, ctx) };
  }
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
