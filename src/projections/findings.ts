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
 */
import { type ActivationView, currentActivation, type EventRef, type InstanceView, isAfter } from './activation';

export type FindingKind = 'ForeignPublicKey' | 'CopyForKeyNoLongerHeld' | 'StaleCopy' | 'RemovedInstanceStarting' | 'InstallationClaimedByTwoMachines';

export interface Finding {
  readonly kind: FindingKind;
  readonly installationId: string;
  readonly summary: string;
  readonly remedy: string;
  readonly evidence: Readonly<Record<string, string | number | ReadonlyArray<string>>>;
  /** The events that show it, oldest first. */
  readonly events: ReadonlyArray<EventRef>;
}

const byPosition = (refs: ReadonlyArray<EventRef | null | undefined>): EventRef[] =>
  refs.filter((r): r is EventRef => r != null).sort((a, b) => (isAfter(a, b) ? 1 : isAfter(b, a) ? -1 : 0));

export const findingsFor = (v: ActivationView, installationId: string): ReadonlyArray<Finding> => {
  const id = installationId.toLowerCase();
  const i: InstanceView | undefined = v.instances[id];
  if (!i) return [];
  const d = i.deploymentId === null ? undefined : v.deployments[i.deploymentId];
  const out: Finding[] = [];
  const last = currentActivation(v, i);
  const refusal = last?.kind === 'refused' ? last : undefined;
  const copy = d?.copies[id];
  const registration = d?.registered[id];

  if (refusal?.reason.kind === 'PublicKeyMismatch') {
    const r = refusal.reason;
    out.push({
      kind: 'ForeignPublicKey',
      installationId: i.installationId,
      summary: `installation ${i.installationId} was presented with public key ${r.heldThumbprint}, but the ${r.storedIn} holds ${r.storedThumbprint}: a cloned config or a rebuilt machine`,
      remedy: 'remove the stale installation (rskeymgmt -r) and join the real one again from an activated member (rskeymgmt -j); or restore a backup key (rskeymgmt -a)',
      evidence: { installationId: i.installationId, presentedThumbprint: r.heldThumbprint, storedThumbprint: r.storedThumbprint, storedIn: r.storedIn },
      events: byPosition([r.storedIn === 'deployment' ? registration?.at : i.keyPairIssued, refusal.at]),
    });
  }

  const keystoreLost = refusal?.reason.kind === 'KeystoreUnavailable' && refusal.reason.problem !== 'unreadable';
  const copyForOther = refusal?.reason.kind === 'WrappedCopyForOtherKey';
  const structural = copy !== undefined && i.thumbprint !== null && copy.thumbprint !== i.thumbprint;
  if (copy && (keystoreLost || copyForOther || structural)) {
    const held = refusal?.reason.kind === 'WrappedCopyForOtherKey' ? refusal.reason.heldThumbprint : refusal?.reason.kind === 'KeystoreUnavailable' ? `none (keystore ${refusal.reason.problem})` : (i.thumbprint ?? 'none');
    out.push({
      kind: 'CopyForKeyNoLongerHeld',
      installationId: i.installationId,
      summary: `the copy of key version ${copy.keyVersion} is wrapped for ${copy.thumbprint}, a key this instance no longer holds (held: ${held}): a lost, replaced or no longer decryptable keystore`,
      remedy: 'restore the keystore from backup, or restore a backup key (rskeymgmt -a), or remove the installation and join it again (rskeymgmt -r, -j)',
      evidence: { installationId: i.installationId, keyVersion: copy.keyVersion, copyThumbprint: copy.thumbprint, heldThumbprint: held },
      events: byPosition([copy.at, i.keyPairIssued, refusal?.at]),
    });
  }

  if (copy && d && d.currentKeyVersion !== null && copy.keyVersion < d.currentKeyVersion) {
    out.push({
      kind: 'StaleCopy',
      installationId: i.installationId,
      summary: `this instance holds key version ${copy.keyVersion}, the deployment's current key is version ${d.currentKeyVersion}`,
      remedy: 'join it again from an activated member (rskeymgmt -j) so it gets the current key, or restore a backup of the current key (rskeymgmt -a)',
      evidence: { installationId: i.installationId, heldVersion: copy.keyVersion, currentVersion: d.currentKeyVersion },
      events: byPosition([copy.at, d.currentKeyCreated, refusal?.reason.kind === 'StaleWrappedCopy' ? refusal.at : undefined]),
    });
  }

  if (refusal?.reason.kind === 'InstanceRemoved') {
    const removal = d?.removed[id];
    out.push({
      kind: 'RemovedInstanceStarting',
      installationId: i.installationId,
      summary: `installation ${i.installationId} tried to start after it was removed from the scale-out (its key ${refusal.reason.revokedThumbprint} was revoked)`,
      remedy: 'if it should be a member again: keyledger init --rejoin on it, then join it from an activated member (rskeymgmt -j); otherwise shut it down',
      evidence: { installationId: i.installationId, revokedThumbprint: refusal.reason.revokedThumbprint },
      events: byPosition([removal?.at, refusal.at]),
    });
  }

  const machines = Object.keys(i.machines).sort();
  if (machines.length > 1) {
    out.push({
      kind: 'InstallationClaimedByTwoMachines',
      installationId: i.installationId,
      summary: `installation ID ${i.installationId} is claimed by ${machines.length} machines: ${machines.join(', ')} (a config file copied to another machine)`,
      remedy: 'give every machine but the original its own installation ID (keyledger config new) and join it (rskeymgmt -j)',
      evidence: { installationId: i.installationId, machines },
      events: byPosition(machines.map((m) => i.machines[m])),
    });
  }
  return out;
};

/** Every finding in the view, instance by instance. */
export const allFindings = (v: ActivationView): ReadonlyArray<Finding> => Object.keys(v.instances).flatMap((id) => findingsFor(v, id));
