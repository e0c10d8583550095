/**
 * Scale-out membership: join (rskeymgmt -j) and remove (rskeymgmt -r).
 *
 * join runs on an activated member — the sponsor — in its own process: it
 * proves it holds the current key by unwrapping its own copy with its own
 * private key, re-wraps the key for the newcomer's registered public key and
 * records `SymmetricKeyWrapped`. The plain key exists only in this process's
 * memory, inside an opaque handle. Racing sponsors: the deployment stream's
 * expected revision lets one wrap through; the other reloads and finds the
 * newcomer joined.
 */
import * as E from 'fp-ts/Either';
import { currentCopyOf, decideDeployment } from '../domain/deployment/decider';
import type { LedgerEvent, RefusalReason } from '../domain/events';
import type { DeploymentId, InstallationId, KeyVersion } from '../domain/ids';
import type { InstanceConfig } from '../domain/instance/decider';
import { checkBeforeUnwrap } from '../domain/start-check';
import { type CommandError, heldFrom, type InstanceDeps, loadDeployment, loadInstance, unwrapOwnCopy } from './instance';
import { appendOrConflict } from './ledger';

export type MembershipError =
  | CommandError
  | { readonly _tag: 'SponsorNotActivated'; readonly sponsor: InstallationId; readonly reason: RefusalReason | null };

export interface JoinOutcome {
  readonly sponsor: InstallationId;
  readonly newcomer: InstallationId;
  readonly keyVersion: KeyVersion;
  /** True when the newcomer already held the current key: nothing was recorded. */
  readonly alreadyJoined: boolean;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

const conflictLimit = (deps: { readonly maxConflicts?: number }): number => deps.maxConflicts ?? 20;

export const joinInstance = async (deps: InstanceDeps, sponsor: InstanceConfig, newcomer: InstallationId): Promise<E.Either<MembershipError, JoinOutcome>> => {
  const held = await deps.keystore.load({ installationId: sponsor.installationId, serviceIdentity: sponsor.serviceIdentity })();
  for (let conflicts = 0; conflicts <= conflictLimit(deps); conflicts++) {
    const inst = await loadInstance(deps.store, sponsor.installationId)();
    if (E.isLeft(inst)) return inst;
    const dep = await loadDeployment(deps.store, sponsor.deploymentId, deps.snapshots)();
    if (E.isLeft(dep)) return dep;
    const state = dep.right.state;

    // The sponsor must be an activated member that can prove it holds the key.
    const pre = checkBeforeUnwrap(inst.right.state, state, sponsor, heldFrom(held));
    if (E.isLeft(pre)) return E.left({ _tag: 'SponsorNotActivated', sponsor: sponsor.installationId, reason: pre.left });
    if (inst.right.state.status !== 'Activated' || E.isLeft(held)) return E.left({ _tag: 'SponsorNotActivated', sponsor: sponsor.installationId, reason: null });

    // Cheap checks on the newcomer before any crypto.
    const target = state.registered[newcomer];
    const has = currentCopyOf(state, newcomer);
    if (target && has && has.copy.recipientThumbprint === target.thumbprint)
      return E.right({ sponsor: sponsor.installationId, newcomer, keyVersion: has.keyVersion, alreadyJoined: true, recorded: [] });
    if (!target)
      return E.left({
        _tag: 'DeploymentRefused',
        error: state.removed[newcomer] ? { _tag: 'InstallationRemoved', installationId: newcomer } : { _tag: 'InstallationNotRegistered', installationId: newcomer },
      });

    // Unwrap with the sponsor's own private key; wrap for the newcomer's public key. In memory only.
    const unwrapped = await unwrapOwnCopy(deps.crypto, pre.right, held.right.privateKey);
    if (E.isLeft(unwrapped)) return E.left({ _tag: 'SponsorNotActivated', sponsor: sponsor.installationId, reason: unwrapped.left });
    const jwe = await deps.crypto.wrap(unwrapped.right, target.publicKey)();
    if (E.isLeft(jwe)) return jwe;

    const decided = decideDeployment(
      {
        type: 'WrapForMember',
        deploymentId: sponsor.deploymentId,
        sponsor: sponsor.installationId,
        sponsorThumbprint: pre.right.thumbprint,
        copy: { installationId: newcomer, recipientThumbprint: target.thumbprint, jwe: jwe.right },
      },
      state,
    );
    if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
    const appended = await appendOrConflict(deps.store, dep.right, decided.right, deps.ctx);
    if (E.isLeft(appended)) return appended;
    if (appended.right === 'conflict') continue;
    return E.right({ sponsor: sponsor.installationId, newcomer, keyVersion: pre.right.keyVersion, alreadyJoined: decided.right.length === 0, recorded: decided.right.map((e) => e.type) });
  }
  return E.left({ _tag: 'TooManyConflicts', stream: `deployment ${sponsor.deploymentId}`, attempts: conflictLimit(deps) });
};

export interface RemoveOutcome {
  readonly installationId: InstallationId;
  readonly deploymentId: DeploymentId;
  readonly lastMember: boolean;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

/** Removes an instance from the scale-out: its registration and wrapped copy are revoked. */
export const removeInstance = async (
  deps: Pick<InstanceDeps, 'store' | 'ctx' | 'maxConflicts' | 'snapshots'>,
  deploymentId: DeploymentId,
  installationId: InstallationId,
  force: boolean,
): Promise<E.Either<MembershipError, RemoveOutcome>> => {
  for (let conflicts = 0; conflicts <= conflictLimit(deps); conflicts++) {
    const dep = await loadDeployment(deps.store, deploymentId, deps.snapshots)();
    if (E.isLeft(dep)) return dep;
    const decided = decideDeployment({ type: 'RemoveInstance', deploymentId, installationId, force }, dep.right.state);
    if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
    const appended = await appendOrConflict(deps.store, dep.right, decided.right, deps.ctx);
    if (E.isLeft(appended)) return appended;
    if (appended.right === 'conflict') continue;
    const ev = decided.right[0];
    return E.right({ installationId, deploymentId, lastMember: ev?.type === 'InstanceRemoved' ? ev.data.lastMember : false, recorded: decided.right.map((e) => e.type) });
  }
  return E.left({ _tag: 'TooManyConflicts', stream: `deployment ${deploymentId}`, attempts: conflictLimit(deps) });
};
