/**
 * Mismatch detection: named findings, with evidence (installation IDs,
 * thumbprints, key versions, event positions) and the documented remedy, read
 * off the activation view. Pure.
 *
 *   ForeignPublicKey                 the same installation ID presented with a different public key
 *                                    (cloned config, rebuilt machine)
 *   CopyForKeyNoLongerHeld           the wrapped copy is for a key the instance no longer holds
 *                                    (lost or replaced keystore)
 *   StaleCopy                        the copy is of an older key version than the deployment's current one
 *   RemovedInstanceStarting          an instance removed from the scale-out tried to start
 *   InstallationClaimedByTwoMachines one installation ID presented from two machine names
 *   RemovedMemberHoldsKey            a removed member held a copy of the current key version (no re-creation since):
 *                                    shown on every member's status, once in the compliance list
 *   ContentDeletionUnfinished        a deletion of the encrypted content was started and not completed (docs/adr/0015):
 *                                    shown on every member's status, once in the compliance list
 */
import { finishContentDeletion, freshInstallation, joinAgain, type Remedy, recreateTheKey, rejoin } from '../domain/remedy';
import { type ActivationView, type DeploymentView, type EventRef, type InstanceView, isAfter } from './activation';
import { currentOutcome, deploymentOf, holderOf, otherClaimants, otherHolders, remedyContext } from './status';

export type FindingKind =
  | 'ForeignPublicKey'
  | 'CopyForKeyNoLongerHeld'
  | 'StaleCopy'
  | 'RemovedInstanceStarting'
  | 'InstallationClaimedByTwoMachines'
  | 'RemovedMemberHoldsKey'
  | 'ContentDeletionUnfinished';

export interface Finding {
  readonly kind: FindingKind;
  readonly installationId: string;
  readonly summary: string;
  readonly remedy: Remedy;
  readonly evidence: Readonly<Record<string, string | number | ReadonlyArray<string>>>;
  /** The events that show it, oldest first. */
  readonly events: ReadonlyArray<EventRef>;
}

const byPosition = (refs: ReadonlyArray<EventRef | null | undefined>): EventRef[] =>
  refs.filter((r): r is EventRef => r != null).sort((a, b) => (isAfter(a, b) ? 1 : isAfter(b, a) ? -1 : 0));

/**
 * The findings about a deployment as a whole, shown on every registered member's status — the same for each, so made
 * once per deployment record (a record handed out in a view is never changed: activation.ts). Made per member, they
 * cost every member a pass over every removed one: the dashboard's board of a fleet was quadratic in it.
 */
const deploymentWide = new WeakMap<DeploymentView, ReadonlyArray<Finding>>();

const deploymentFindings = (d: DeploymentView): ReadonlyArray<Finding> => {
  const found = deploymentWide.get(d);
  if (found) return found;
  const out: Finding[] = [];
  // A removed member that may have kept the current key: warned on the status of every member until it is re-created.
  if (d.currentKeyVersion !== null)
    for (const [removedId, r] of Object.entries(d.removed).sort(([a], [b]) => (a < b ? -1 : 1)))
      if (r.revokedKeyVersion === d.currentKeyVersion)
        out.push({
          kind: 'RemovedMemberHoldsKey',
          installationId: removedId,
          summary:
            `removed member ${removedId} (${r.machineName}\\${r.instanceName}) held a copy of the current key version ${d.currentKeyVersion} ` +
            'and may have kept the key: re-create it (keyledger recreate, or remove --rotate next time)',
          remedy: recreateTheKey('a removed member may still hold the current key version'),
          evidence: { installationId: removedId, keyVersion: d.currentKeyVersion },
          events: byPosition([d.currentKeyCreated, r.at]),
        });
  // A deletion of the encrypted content that stopped half-way (a crash, a kill): its secrets are partly destroyed.
  const deletion = d.contentDeletion;
  if (deletion)
    out.push({
      kind: 'ContentDeletionUnfinished',
      installationId: deletion.deletedBy,
      summary:
        `a deletion of the encrypted content was started by installation ${deletion.deletedBy} (key version ${deletion.keyVersions.join(', ')}) ` +
        'and not finished: some secrets may be gone already, none can be stored',
      remedy: finishContentDeletion(d.deploymentId),
      evidence: { installationId: deletion.deletedBy, keyVersions: deletion.keyVersions.map(String) },
      events: [deletion.startedAt],
    });
  deploymentWide.set(d, out);
  return out;
};

export const findingsFor = (v: ActivationView, installationId: string): ReadonlyArray<Finding> => {
  const id = installationId.toLowerCase();
  const i: InstanceView | undefined = v.instances[id];
  if (!i) return [];
  const d = deploymentOf(v, i);
  const ctx = remedyContext(v, i);
  const out: Finding[] = [];
  const last = currentOutcome(v, i);
  const refusal = last?.kind === 'refused' ? last : undefined;
  const copy = d?.copies[id];
  const registration = d?.registered[id];

  if (refusal?.reason._tag === 'PublicKeyMismatch') {
    const r = refusal.reason;
    out.push({
      kind: 'ForeignPublicKey',
      installationId: i.installationId,
      summary:
        `installation ${i.installationId} was presented with public key ${r.heldThumbprint}, ` +
        `but the ${r.storedIn} holds ${r.storedThumbprint}: a cloned config or a rebuilt machine`,
      remedy: freshInstallation(ctx, 'the machine holds another key pair than the one registered'),
      evidence: { installationId: i.installationId, presentedThumbprint: r.heldThumbprint, storedThumbprint: r.storedThumbprint, storedIn: r.storedIn },
      events: byPosition([r.storedIn === 'deployment' ? registration?.at : i.keyPairIssued, refusal.at]),
    });
  }

  const keystoreLost = refusal?.reason._tag === 'KeystoreUnavailable' && refusal.reason.problem !== 'unreadable';
  const copyForOther = refusal?.reason._tag === 'WrappedCopyForOtherKey';
  const structural = copy !== undefined && i.thumbprint !== null && copy.thumbprint !== i.thumbprint;
  if (copy && (keystoreLost || copyForOther || structural)) {
    const held =
      refusal?.reason._tag === 'WrappedCopyForOtherKey'
        ? refusal.reason.heldThumbprint
        : refusal?.reason._tag === 'KeystoreUnavailable'
          ? `none (keystore ${refusal.reason.problem})`
          : (i.thumbprint ?? 'none');
    out.push({
      kind: 'CopyForKeyNoLongerHeld',
      installationId: i.installationId,
      summary:
        `the copy of key version ${copy.keyVersion} is wrapped for ${copy.thumbprint}, a key this instance no longer holds (held: ${held}): ` +
        'a lost, replaced or no longer decryptable keystore',
      remedy: copyForOther || structural ? joinAgain(ctx, 'its copy is wrapped for a key it no longer holds') : freshInstallation(ctx, 'its key pair is lost'),
      evidence: { installationId: i.installationId, keyVersion: copy.keyVersion, copyThumbprint: copy.thumbprint, heldThumbprint: held },
      events: byPosition([copy.at, i.keyPairIssued, refusal?.at]),
    });
  }

  if (copy && d && d.currentKeyVersion !== null && copy.keyVersion < d.currentKeyVersion) {
    out.push({
      kind: 'StaleCopy',
      installationId: i.installationId,
      summary: `this instance holds key version ${copy.keyVersion}, the deployment's current key is version ${d.currentKeyVersion}`,
      remedy: joinAgain(ctx, 'its copy is of an older key version'),
      evidence: { installationId: i.installationId, heldVersion: copy.keyVersion, currentVersion: d.currentKeyVersion },
      events: byPosition([copy.at, d.currentKeyCreated, refusal?.reason._tag === 'StaleWrappedCopy' ? refusal.at : undefined]),
    });
  }

  const removedStart = Object.values(i.outcomes).find((o) => o.kind === 'refused' && o.reason._tag === 'InstanceRemoved');
  const removal = d?.removed[id];
  if (removal && !registration && removedStart?.kind === 'refused' && removedStart.reason._tag === 'InstanceRemoved' && !isAfter(removal.at, removedStart.at)) {
    out.push({
      kind: 'RemovedInstanceStarting',
      installationId: i.installationId,
      summary: `installation ${i.installationId} tried to start after it was removed from the scale-out (its key ${removedStart.reason.revokedThumbprint} was revoked)`,
      remedy: rejoin(ctx, 'it was removed from the scale-out'),
      evidence: { installationId: i.installationId, revokedThumbprint: removedStart.reason.revokedThumbprint },
      events: byPosition([removal.at, removedStart.at]),
    });
  }

  // Another machine presenting this installation ID: shown on the holder's status and on the other machine's alike.
  const others = otherClaimants(v, i);
  const holder = holderOf(i, d);
  const legacyMachines = Object.keys(i.machines);
  const machines = [
    ...new Set([...(holder.machineName !== null ? [holder.machineName] : []), ...legacyMachines, ...others.map((o) => o.basis.machineName)]),
  ].sort();
  if (others.length > 0 || legacyMachines.length > 1) {
    const claimants = others
      .map((o) => `${o.basis.machineName} (host ${o.basis.host}, keystore ${o.basis.keystorePath}, key ${o.basis.presentedThumbprint ?? 'none'})`)
      .sort();
    out.push({
      kind: 'InstallationClaimedByTwoMachines',
      installationId: i.installationId,
      summary: `installation ID ${i.installationId} is registered to ${holder.machineName ?? '?'} (key ${holder.thumbprint ?? 'none'}) but was also presented by ${
        claimants.length > 0 ? claimants.join('; ') : machines.filter((m) => m !== holder.machineName).join(', ')
      } (a config file copied to another machine, or a second keystore)`,
      // The holder itself can sponsor the other machine's new installation.
      remedy: freshInstallation({ ...ctx, otherHolders: otherHolders(d, '') }, 'another machine presents this installation ID', 'the-other-machine'),
      evidence: { installationId: i.installationId, machines, ...(claimants.length > 0 ? { claimants } : {}) },
      events: byPosition([
        ...(legacyMachines.length > 0 ? legacyMachines.map((m) => i.machines[m]) : [registration?.at ?? i.configRead]),
        ...others.map((o) => o.at),
      ]),
    });
  }
  if (d && registration) out.push(...deploymentFindings(d));
  return out;
};

/** Whether a finding is about a deployment as a whole (shown on every registered member's status), not the instance's own keys. */
export const isDeploymentWide = (f: Finding): boolean => f.kind === 'RemovedMemberHoldsKey' || f.kind === 'ContentDeletionUnfinished';

/** The deployment-wide findings of each deployment that has a registered member, once each (what its members' status repeats). */
export const deploymentWideFindings = (v: ActivationView): ReadonlyArray<Finding> =>
  Object.values(v.deployments)
    .filter((d) => Object.keys(d.registered).length > 0)
    .flatMap(deploymentFindings);

/** Every finding in the view, instance by instance (a deployment-wide one, shown on every member, once). */
export const allFindings = (v: ActivationView): ReadonlyArray<Finding> => {
  const seen = new Set<string>();
  return Object.keys(v.instances)
    .flatMap((id) => findingsFor(v, id))
    .filter((f) => {
      if (!isDeploymentWide(f)) return true;
      const key = `${f.kind}/${f.installationId}/${String(f.evidence['keyVersion'])}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
};
