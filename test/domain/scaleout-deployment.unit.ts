/**
 * The deployment decider's scale-out commands, as given / when / then:
 * joining a member (WrapForMember, rskeymgmt -j), removing one (RemoveInstance,
 * rskeymgmt -r, with the last-member guard), replacing a member's public key
 * after a service identity change (ReplacePublicKey), registering again after
 * a removal (StorePublicKey with rejoin), who holds the key (keyHolders), and
 * what evolve makes of InstanceRemoved and PublicKeyReplaced.
 */
import test from 'ava';
import { type DeploymentCommand, evolveDeployment, initialDeploymentState, keyHolders } from '../../src/domain/deployment/decider';
import type { DeploymentState } from '../../src/domain/deployment/decider';
import type { DeploymentEvent, WrappedCopy } from '../../src/domain/events';
import type { InstallationId, KeyVersion, Thumbprint } from '../../src/domain/ids';
import { spec, stateAfter } from '../support/decider-spec';
import {
  copyFor,
  DEPLOYMENT,
  deploymentDecider as deployment,
  KEY_CHECK,
  keyCreated,
  keyReplaced as replaced,
  keyWrapped,
  NODE_1,
  NODE_2,
  NODE_3,
  publicKey,
  publicKeyStored as stored,
  removed,
  storePublicKey,
  TP_1,
  TP_1B,
  TP_2,
  TP_3,
  TP_X,
  V1,
  V2,
} from '../support/domain-builders';

/** The membership part of the state (registrations, key, copies, removals); revisions are asserted on their own. */
const membershipOf = ({ registered, currentKey, copies, removed }: DeploymentState) => ({ registered, currentKey, copies, removed });

// ─── Test data ────────────────────────────────────────────────────────────

/** NODE_1 creates every key version here. */
const created = (keyVersion: KeyVersion = V1): DeploymentEvent => keyCreated(NODE_1, TP_1, keyVersion);

const wrapForMember = (copy: WrappedCopy, sponsor: InstallationId = NODE_1, sponsorThumbprint: Thumbprint = TP_1): DeploymentCommand => ({
  type: 'WrapForMember',
  deploymentId: DEPLOYMENT,
  sponsor,
  sponsorThumbprint,
  copy,
});
const removeInstance = (installationId: InstallationId, force = false): DeploymentCommand => ({
  type: 'RemoveInstance',
  deploymentId: DEPLOYMENT,
  installationId,
  force,
});
const replacePublicKey = (
  installationId: InstallationId,
  previousThumbprint: Thumbprint,
  thumbprint: Thumbprint,
  copy: WrappedCopy = copyFor(installationId, thumbprint),
): DeploymentCommand => ({
  type: 'ReplacePublicKey',
  deploymentId: DEPLOYMENT,
  installationId,
  previousThumbprint,
  thumbprint,
  publicKey: publicKey(thumbprint),
  copy,
});

/** NODE_1 created key version 1 and holds the only copy. */
const founded: ReadonlyArray<DeploymentEvent> = [stored(NODE_1, TP_1), created()];
/** … and NODE_2 registered, waiting to join. */
const waiting: ReadonlyArray<DeploymentEvent> = [...founded, stored(NODE_2, TP_2)];
/** … and NODE_2 joined (NODE_1 wrapped the key for it). */
const joined: ReadonlyArray<DeploymentEvent> = [...waiting, keyWrapped(NODE_2, TP_2)];
/** NODE_2 holds a copy of version 1, then NODE_1 (out of band) holds version 2, the current one. */
const staleForNode2: ReadonlyArray<DeploymentEvent> = [stored(NODE_1, TP_1), stored(NODE_2, TP_2), keyWrapped(NODE_2, TP_2), created(V2)];

// ─── WrapForMember (join) ─────────────────────────────────────────────────

test('WrapForMember: a registered newcomer gets a copy of the current key, recorded with its sponsor', (t) => {
  spec(t, deployment)
    .given(waiting)
    .when(wrapForMember(copyFor(NODE_2, TP_2)))
    .then([
      {
        type: 'SymmetricKeyWrapped',
        data: { deploymentId: DEPLOYMENT, keyVersion: V1, copy: copyFor(NODE_2, TP_2), wrappedBy: NODE_1, wrappedByThumbprint: TP_1 },
      },
    ]);
});

test('WrapForMember: a member that joined can sponsor the next newcomer', (t) => {
  spec(t, deployment)
    .given([...joined, stored(NODE_3, TP_3)])
    .when(wrapForMember(copyFor(NODE_3, TP_3), NODE_2, TP_2))
    .then([
      {
        type: 'SymmetricKeyWrapped',
        data: { deploymentId: DEPLOYMENT, keyVersion: V1, copy: copyFor(NODE_3, TP_3), wrappedBy: NODE_2, wrappedByThumbprint: TP_2 },
      },
    ]);
});

test('WrapForMember: the copy is of the current key version (a newcomer holding an older version gets the current one)', (t) => {
  spec(t, deployment)
    .given(staleForNode2)
    .when(wrapForMember(copyFor(NODE_2, TP_2, ' v2')))
    .then([
      {
        type: 'SymmetricKeyWrapped',
        data: { deploymentId: DEPLOYMENT, keyVersion: V2, copy: copyFor(NODE_2, TP_2, ' v2'), wrappedBy: NODE_1, wrappedByThumbprint: TP_1 },
      },
    ]);
});

test('WrapForMember: no symmetric key yet fails NoSymmetricKey', (t) => {
  spec(t, deployment)
    .given([stored(NODE_1, TP_1), stored(NODE_2, TP_2)])
    .when(wrapForMember(copyFor(NODE_2, TP_2)))
    .thenFails({ _tag: 'NoKeyToWrap' });
  spec(t, deployment)
    .given([])
    .when(wrapForMember(copyFor(NODE_2, TP_2)))
    .thenFails({ _tag: 'NoKeyToWrap' });
});

test('WrapForMember: a sponsor that was never registered fails SponsorHoldsNoCurrentCopy with no version', (t) => {
  spec(t, deployment)
    .given(waiting)
    .when(wrapForMember(copyFor(NODE_2, TP_2), NODE_3, TP_3))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_3, keyVersion: null });
});

test('WrapForMember: a sponsor holding a current copy but not registered fails SponsorHoldsNoCurrentCopy naming its version', (t) => {
  // the key was created by an installation whose registration the ledger does not show
  spec(t, deployment)
    .given([created(), stored(NODE_2, TP_2)])
    .when(wrapForMember(copyFor(NODE_2, TP_2)))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_1, keyVersion: V1 });
});

test('WrapForMember: a removed sponsor fails SponsorHoldsNoCurrentCopy (its copy was revoked)', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_1, TP_1, V1), stored(NODE_3, TP_3)])
    .when(wrapForMember(copyFor(NODE_3, TP_3)))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_1, keyVersion: null });
});

test('WrapForMember: a sponsor waiting to join itself (no copy) fails SponsorHoldsNoCurrentCopy', (t) => {
  spec(t, deployment)
    .given([...waiting, stored(NODE_3, TP_3)])
    .when(wrapForMember(copyFor(NODE_3, TP_3), NODE_2, TP_2))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_2, keyVersion: null });
});

test('WrapForMember: a sponsor holding only an older key version fails SponsorHoldsNoCurrentCopy naming that version', (t) => {
  spec(t, deployment)
    .given([...staleForNode2, stored(NODE_3, TP_3)])
    .when(wrapForMember(copyFor(NODE_3, TP_3), NODE_2, TP_2))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_2, keyVersion: V1 });
});

test('WrapForMember: a sponsor presenting another thumbprint than its copy was wrapped for fails SponsorHoldsNoCurrentCopy', (t) => {
  spec(t, deployment)
    .given(waiting)
    .when(wrapForMember(copyFor(NODE_2, TP_2), NODE_1, TP_X))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_1, keyVersion: V1 });
});

test('WrapForMember: after its identity change a sponsor signs with its new thumbprint, not the old one', (t) => {
  const moved = [...waiting, replaced(NODE_1, TP_1, TP_1B), keyWrapped(NODE_1, TP_1B, V1, { by: NODE_1, byThumbprint: TP_1 })];
  spec(t, deployment)
    .given(moved)
    .when(wrapForMember(copyFor(NODE_2, TP_2), NODE_1, TP_1))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_1, keyVersion: V1 });
  spec(t, deployment)
    .given(moved)
    .when(wrapForMember(copyFor(NODE_2, TP_2), NODE_1, TP_1B))
    .then([
      {
        type: 'SymmetricKeyWrapped',
        data: { deploymentId: DEPLOYMENT, keyVersion: V1, copy: copyFor(NODE_2, TP_2), wrappedBy: NODE_1, wrappedByThumbprint: TP_1B },
      },
    ]);
});

test('WrapForMember: a removed newcomer fails InstallationRemoved', (t) => {
  spec(t, deployment)
    .given([...waiting, removed(NODE_2, TP_2, null)])
    .when(wrapForMember(copyFor(NODE_2, TP_2)))
    .thenFails({ _tag: 'InstallationRemoved', installationId: NODE_2 });
});

test('WrapForMember: a removed newcomer fails InstallationRemoved even for a copy wrapped for another key', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(wrapForMember(copyFor(NODE_2, TP_X)))
    .thenFails({ _tag: 'InstallationRemoved', installationId: NODE_2 });
});

test('WrapForMember: a newcomer that was never registered fails InstallationNotRegistered', (t) => {
  spec(t, deployment)
    .given(founded)
    .when(wrapForMember(copyFor(NODE_2, TP_2)))
    .thenFails({ _tag: 'UnknownInstallation', installationId: NODE_2 });
});

test('WrapForMember: a copy wrapped for another thumbprint than the registered one fails CopyNotForRegisteredKey', (t) => {
  spec(t, deployment)
    .given(waiting)
    .when(wrapForMember(copyFor(NODE_2, TP_X)))
    .thenFails({ _tag: 'CopyNotForRegisteredKey', installationId: NODE_2, storedThumbprint: TP_2, copyThumbprint: TP_X });
});

test('WrapForMember: a newcomer that already holds the current copy for its key: nothing happened (one wrap per member)', (t) => {
  spec(t, deployment)
    .given(joined)
    .when(wrapForMember(copyFor(NODE_2, TP_2)))
    .thenNothingHappened();
  // another ciphertext of the same key for the same public key changes nothing either
  spec(t, deployment)
    .given(joined)
    .when(wrapForMember(copyFor(NODE_2, TP_2, ' again')))
    .thenNothingHappened();
  // nor does another member sponsoring the repeat
  spec(t, deployment)
    .given([...joined, stored(NODE_3, TP_3), keyWrapped(NODE_3, TP_3)])
    .when(wrapForMember(copyFor(NODE_2, TP_2), NODE_3, TP_3))
    .thenNothingHappened();
});

test('WrapForMember: a sponsor wrapping for itself is a repeat: nothing happened', (t) => {
  spec(t, deployment)
    .given(founded)
    .when(wrapForMember(copyFor(NODE_1, TP_1)))
    .thenNothingHappened();
});

// ─── RemoveInstance (rskeymgmt -r) ────────────────────────────────────────

test('RemoveInstance: a joined member is removed, its registration and copy revoked', (t) => {
  spec(t, deployment)
    .given(joined)
    .when(removeInstance(NODE_2))
    .then([
      {
        type: 'InstanceRemoved',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_2,
          machineName: 'RS-NODE-2',
          instanceName: 'MSSQLSERVER',
          thumbprint: TP_2,
          revokedKeyVersion: V1,
          forced: false,
          lastMember: false,
        },
      },
    ]);
});

test('RemoveInstance: the creator can be removed while another member holds the key', (t) => {
  spec(t, deployment)
    .given(joined)
    .when(removeInstance(NODE_1))
    .then([
      {
        type: 'InstanceRemoved',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_1,
          machineName: 'RS-NODE-1',
          instanceName: 'MSSQLSERVER',
          thumbprint: TP_1,
          revokedKeyVersion: V1,
          forced: false,
          lastMember: false,
        },
      },
    ]);
});

test('RemoveInstance: force on a member that is not the last records forced, not lastMember', (t) => {
  spec(t, deployment)
    .given(joined)
    .when(removeInstance(NODE_2, true))
    .then([
      {
        type: 'InstanceRemoved',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_2,
          machineName: 'RS-NODE-2',
          instanceName: 'MSSQLSERVER',
          thumbprint: TP_2,
          revokedKeyVersion: V1,
          forced: true,
          lastMember: false,
        },
      },
    ]);
});

test('RemoveInstance: a member waiting to join (no copy) is removed with revokedKeyVersion null', (t) => {
  spec(t, deployment)
    .given(waiting)
    .when(removeInstance(NODE_2))
    .then([
      {
        type: 'InstanceRemoved',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_2,
          machineName: 'RS-NODE-2',
          instanceName: 'MSSQLSERVER',
          thumbprint: TP_2,
          revokedKeyVersion: null,
          forced: false,
          lastMember: false,
        },
      },
    ]);
});

test('RemoveInstance: a member holding only an older key version revokes that version and is not the last member', (t) => {
  spec(t, deployment)
    .given(staleForNode2)
    .when(removeInstance(NODE_2))
    .then([
      {
        type: 'InstanceRemoved',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_2,
          machineName: 'RS-NODE-2',
          instanceName: 'MSSQLSERVER',
          thumbprint: TP_2,
          revokedKeyVersion: V1,
          forced: false,
          lastMember: false,
        },
      },
    ]);
});

test('RemoveInstance: before any key exists nobody is the last member', (t) => {
  spec(t, deployment)
    .given([stored(NODE_1, TP_1)])
    .when(removeInstance(NODE_1))
    .then([
      {
        type: 'InstanceRemoved',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_1,
          machineName: 'RS-NODE-1',
          instanceName: 'MSSQLSERVER',
          thumbprint: TP_1,
          revokedKeyVersion: null,
          forced: false,
          lastMember: false,
        },
      },
    ]);
});

test('RemoveInstance: the last member holding the key, without force, fails LastMember', (t) => {
  spec(t, deployment).given(founded).when(removeInstance(NODE_1)).thenFails({ _tag: 'LastMember', installationId: NODE_1, keyVersion: V1 });
  // a member still waiting to join does not hold the key
  spec(t, deployment).given(waiting).when(removeInstance(NODE_1)).thenFails({ _tag: 'LastMember', installationId: NODE_1, keyVersion: V1 });
  // nor does one holding only an older version
  spec(t, deployment).given(staleForNode2).when(removeInstance(NODE_1)).thenFails({ _tag: 'LastMember', installationId: NODE_1, keyVersion: V2 });
});

test('RemoveInstance: the last member becomes the last after the others were removed', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(removeInstance(NODE_1))
    .thenFails({ _tag: 'LastMember', installationId: NODE_1, keyVersion: V1 });
});

test('RemoveInstance: the last member holding the key, with force, is removed with lastMember true', (t) => {
  spec(t, deployment)
    .given(waiting)
    .when(removeInstance(NODE_1, true))
    .then([
      {
        type: 'InstanceRemoved',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_1,
          machineName: 'RS-NODE-1',
          instanceName: 'MSSQLSERVER',
          thumbprint: TP_1,
          revokedKeyVersion: V1,
          forced: true,
          lastMember: true,
        },
      },
    ]);
});

test('RemoveInstance: an installation already removed: nothing happened (with or without force)', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(removeInstance(NODE_2))
    .thenNothingHappened();
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(removeInstance(NODE_2, true))
    .thenNothingHappened();
  spec(t, deployment)
    .given([...waiting, removed(NODE_1, TP_1, V1, { forced: true, lastMember: true })])
    .when(removeInstance(NODE_1, true))
    .thenNothingHappened();
});

test('RemoveInstance: an installation that was removed and registered again is removed again', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1), stored(NODE_2, TP_X)])
    .when(removeInstance(NODE_2))
    .then([
      {
        type: 'InstanceRemoved',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_2,
          machineName: 'RS-NODE-2',
          instanceName: 'MSSQLSERVER',
          thumbprint: TP_X,
          revokedKeyVersion: null,
          forced: false,
          lastMember: false,
        },
      },
    ]);
});

test('RemoveInstance: an installation that was never registered fails NotAMember', (t) => {
  spec(t, deployment).given(joined).when(removeInstance(NODE_3)).thenFails({ _tag: 'NotAMember', installationId: NODE_3 });
  spec(t, deployment).given([]).when(removeInstance(NODE_3, true)).thenFails({ _tag: 'NotAMember', installationId: NODE_3 });
});

// ─── ReplacePublicKey (service identity change) ───────────────────────────

test('ReplacePublicKey: the new public key replaces the old one and the member re-wraps its own copy for it', (t) => {
  spec(t, deployment)
    .given(joined)
    .when(replacePublicKey(NODE_1, TP_1, TP_1B))
    .then([
      {
        type: 'PublicKeyReplaced',
        data: {
          deploymentId: DEPLOYMENT,
          installationId: NODE_1,
          previousThumbprint: TP_1,
          thumbprint: TP_1B,
          publicKey: publicKey(TP_1B),
          reason: 'service-identity-changed',
        },
      },
      {
        type: 'SymmetricKeyWrapped',
        data: { deploymentId: DEPLOYMENT, keyVersion: V1, copy: copyFor(NODE_1, TP_1B), wrappedBy: NODE_1, wrappedByThumbprint: TP_1 },
      },
    ]);
});

test('ReplacePublicKey: no symmetric key yet fails NoSymmetricKey', (t) => {
  spec(t, deployment)
    .given([stored(NODE_1, TP_1)])
    .when(replacePublicKey(NODE_1, TP_1, TP_1B))
    .thenFails({ _tag: 'NoKeyToWrap' });
});

test('ReplacePublicKey: a removed installation fails InstallationRemoved', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(replacePublicKey(NODE_2, TP_2, TP_X))
    .thenFails({ _tag: 'InstallationRemoved', installationId: NODE_2 });
});

test('ReplacePublicKey: an installation that was never registered fails InstallationNotRegistered', (t) => {
  spec(t, deployment)
    .given(joined)
    .when(replacePublicKey(NODE_3, TP_3, TP_X))
    .thenFails({ _tag: 'UnknownInstallation', installationId: NODE_3 });
});

test('ReplacePublicKey: already replaced (a resumed run): nothing happened', (t) => {
  spec(t, deployment)
    .given([...joined, replaced(NODE_1, TP_1, TP_1B), keyWrapped(NODE_1, TP_1B, V1, { by: NODE_1, byThumbprint: TP_1 })])
    .when(replacePublicKey(NODE_1, TP_1, TP_1B))
    .thenNothingHappened();
});

test('ReplacePublicKey: a previous thumbprint that is not the registered one fails InstallationKeyConflict', (t) => {
  spec(t, deployment)
    .given(joined)
    .when(replacePublicKey(NODE_1, TP_X, TP_1B))
    .thenFails({ _tag: 'InstallationKeyConflict', installationId: NODE_1, storedThumbprint: TP_1, presentedThumbprint: TP_X });
});

test('ReplacePublicKey: a member without a current copy of its own fails SponsorHoldsNoCurrentCopy', (t) => {
  spec(t, deployment)
    .given(waiting)
    .when(replacePublicKey(NODE_2, TP_2, TP_X))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_2, keyVersion: null });
  spec(t, deployment)
    .given(staleForNode2)
    .when(replacePublicKey(NODE_2, TP_2, TP_X))
    .thenFails({ _tag: 'SponsorHoldsNoCurrentCopy', sponsor: NODE_2, keyVersion: V1 });
});

test('ReplacePublicKey: a copy not wrapped for the new key fails CopyNotForRegisteredKey', (t) => {
  // wrapped for the old key
  spec(t, deployment)
    .given(joined)
    .when(replacePublicKey(NODE_1, TP_1, TP_1B, copyFor(NODE_1, TP_1)))
    .thenFails({ _tag: 'CopyNotForRegisteredKey', installationId: NODE_1, storedThumbprint: TP_1B, copyThumbprint: TP_1 });
  // addressed to another installation, though for the new key
  spec(t, deployment)
    .given(joined)
    .when(replacePublicKey(NODE_1, TP_1, TP_1B, copyFor(NODE_2, TP_1B)))
    .thenFails({ _tag: 'CopyNotForRegisteredKey', installationId: NODE_1, storedThumbprint: TP_1B, copyThumbprint: TP_1B });
});

// ─── StorePublicKey after a removal (init --rejoin) ───────────────────────

test('StorePublicKey: a removed installation is refused InstallationRemoved', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(storePublicKey(NODE_2, TP_2))
    .thenFails({ _tag: 'InstallationRemoved', installationId: NODE_2 });
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(storePublicKey(NODE_2, TP_X))
    .thenFails({ _tag: 'InstallationRemoved', installationId: NODE_2 });
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(storePublicKey(NODE_2, TP_2, false))
    .thenFails({ _tag: 'InstallationRemoved', installationId: NODE_2 });
});

test('StorePublicKey with rejoin: a removed installation is registered again (rejoin is not recorded)', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(storePublicKey(NODE_2, TP_2, true))
    .then([stored(NODE_2, TP_2)]);
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1)])
    .when(storePublicKey(NODE_2, TP_X, true))
    .then([stored(NODE_2, TP_X)]);
});

test('StorePublicKey with rejoin: the registration is back, `removed` is cleared, and no copy comes back', (t) => {
  const s = stateAfter(deployment, [...joined, removed(NODE_2, TP_2, V1), stored(NODE_2, TP_2)]);
  t.deepEqual(membershipOf(s), {
    registered: {
      [NODE_1]: { installationId: NODE_1, machineName: 'RS-NODE-1', instanceName: 'MSSQLSERVER', thumbprint: TP_1, publicKey: publicKey(TP_1) },
      [NODE_2]: { installationId: NODE_2, machineName: 'RS-NODE-2', instanceName: 'MSSQLSERVER', thumbprint: TP_2, publicKey: publicKey(TP_2) },
    },
    currentKey: { keyVersion: V1, keyCheck: KEY_CHECK },
    copies: { [NODE_1]: { keyVersion: V1, copy: copyFor(NODE_1, TP_1) } },
    removed: {},
  });
  // … so it is a newcomer waiting to join again
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1), stored(NODE_2, TP_2)])
    .when(wrapForMember(copyFor(NODE_2, TP_2)))
    .then([keyWrapped(NODE_2, TP_2)]);
});

test('StorePublicKey with rejoin: an installation that was never removed behaves as without it', (t) => {
  spec(t, deployment)
    .given(founded)
    .when(storePublicKey(NODE_2, TP_2, true))
    .then([stored(NODE_2, TP_2)]);
  spec(t, deployment)
    .given(joined)
    .when(storePublicKey(NODE_2, TP_2, true))
    .thenNothingHappened();
  spec(t, deployment)
    .given(joined)
    .when(storePublicKey(NODE_2, TP_X, true))
    .thenFails({ _tag: 'InstallationKeyConflict', installationId: NODE_2, storedThumbprint: TP_2, presentedThumbprint: TP_X });
});

test('StorePublicKey with rejoin, repeated after the rejoin: nothing happened', (t) => {
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1), stored(NODE_2, TP_2)])
    .when(storePublicKey(NODE_2, TP_2, true))
    .thenNothingHappened();
  spec(t, deployment)
    .given([...joined, removed(NODE_2, TP_2, V1), stored(NODE_2, TP_2)])
    .when(storePublicKey(NODE_2, TP_2))
    .thenNothingHappened();
});

// ─── keyHolders ───────────────────────────────────────────────────────────

test('keyHolders: nobody before a key exists', (t) => {
  t.deepEqual(keyHolders(initialDeploymentState), []);
  t.deepEqual(keyHolders(stateAfter(deployment, [stored(NODE_1, TP_1), stored(NODE_2, TP_2)])), []);
});

test('keyHolders: the creator, then every member that joined, in the order they got their copies', (t) => {
  t.deepEqual(keyHolders(stateAfter(deployment, founded)), [NODE_1]);
  t.deepEqual(keyHolders(stateAfter(deployment, waiting)), [NODE_1]);
  t.deepEqual(keyHolders(stateAfter(deployment, joined)), [NODE_1, NODE_2]);
});

test('keyHolders: not a member holding an older version, not a removed member, not an unregistered copy', (t) => {
  t.deepEqual(keyHolders(stateAfter(deployment, staleForNode2)), [NODE_1]);
  t.deepEqual(keyHolders(stateAfter(deployment, [...joined, removed(NODE_1, TP_1, V1)])), [NODE_2]);
  t.deepEqual(keyHolders(stateAfter(deployment, [...waiting, removed(NODE_1, TP_1, V1, { forced: true, lastMember: true })])), []);
  t.deepEqual(keyHolders(stateAfter(deployment, [created(), stored(NODE_2, TP_2)])), []);
});

test('keyHolders: a member keeps holding the key through its identity change', (t) => {
  t.deepEqual(
    keyHolders(stateAfter(deployment, [...joined, replaced(NODE_1, TP_1, TP_1B), keyWrapped(NODE_1, TP_1B, V1, { by: NODE_1, byThumbprint: TP_1 })])),
    [NODE_1, NODE_2],
  );
});

// ─── evolve: InstanceRemoved and PublicKeyReplaced ────────────────────────

test('evolve: InstanceRemoved drops the registration and the copy and remembers the revoked key', (t) => {
  t.deepEqual(membershipOf(stateAfter(deployment, [...joined, removed(NODE_2, TP_2, V1)])), {
    registered: { [NODE_1]: { installationId: NODE_1, machineName: 'RS-NODE-1', instanceName: 'MSSQLSERVER', thumbprint: TP_1, publicKey: publicKey(TP_1) } },
    currentKey: { keyVersion: V1, keyCheck: KEY_CHECK },
    copies: { [NODE_1]: { keyVersion: V1, copy: copyFor(NODE_1, TP_1) } },
    removed: { [NODE_2]: { thumbprint: TP_2 } },
  });
});

test('evolve: removing the last member keeps the current key (only a backup restores it) but no copy of it', (t) => {
  t.deepEqual(membershipOf(stateAfter(deployment, [...waiting, removed(NODE_1, TP_1, V1, { forced: true, lastMember: true })])), {
    registered: { [NODE_2]: { installationId: NODE_2, machineName: 'RS-NODE-2', instanceName: 'MSSQLSERVER', thumbprint: TP_2, publicKey: publicKey(TP_2) } },
    currentKey: { keyVersion: V1, keyCheck: KEY_CHECK },
    copies: {},
    removed: { [NODE_1]: { thumbprint: TP_1 } },
  });
});

test('evolve: two removals are both remembered', (t) => {
  const s = stateAfter(deployment, [...joined, stored(NODE_3, TP_3), removed(NODE_3, TP_3, null), removed(NODE_2, TP_2, V1)]);
  t.deepEqual(s.removed, { [NODE_3]: { thumbprint: TP_3 }, [NODE_2]: { thumbprint: TP_2 } });
  t.deepEqual(Object.keys(s.registered), [NODE_1]);
});

test('evolve: PublicKeyReplaced replaces thumbprint and public key only; the copy follows with SymmetricKeyWrapped', (t) => {
  const node1After = { installationId: NODE_1, machineName: 'RS-NODE-1', instanceName: 'MSSQLSERVER', thumbprint: TP_1B, publicKey: publicKey(TP_1B) };
  const node2 = { installationId: NODE_2, machineName: 'RS-NODE-2', instanceName: 'MSSQLSERVER', thumbprint: TP_2, publicKey: publicKey(TP_2) };
  t.deepEqual(membershipOf(stateAfter(deployment, [...joined, replaced(NODE_1, TP_1, TP_1B)])), {
    registered: { [NODE_1]: node1After, [NODE_2]: node2 },
    currentKey: { keyVersion: V1, keyCheck: KEY_CHECK },
    copies: { [NODE_1]: { keyVersion: V1, copy: copyFor(NODE_1, TP_1) }, [NODE_2]: { keyVersion: V1, copy: copyFor(NODE_2, TP_2) } },
    removed: {},
  });
  t.deepEqual(
    membershipOf(stateAfter(deployment, [...joined, replaced(NODE_1, TP_1, TP_1B), keyWrapped(NODE_1, TP_1B, V1, { by: NODE_1, byThumbprint: TP_1 })])),
    {
      registered: { [NODE_1]: node1After, [NODE_2]: node2 },
      currentKey: { keyVersion: V1, keyCheck: KEY_CHECK },
      copies: { [NODE_1]: { keyVersion: V1, copy: copyFor(NODE_1, TP_1B) }, [NODE_2]: { keyVersion: V1, copy: copyFor(NODE_2, TP_2) } },
      removed: {},
    },
  );
});

test('evolve: PublicKeyReplaced for an installation that is not registered changes nothing', (t) => {
  const before = stateAfter(deployment, [...joined, removed(NODE_2, TP_2, V1)]);
  t.deepEqual(evolveDeployment(before, replaced(NODE_2, TP_2, TP_X)), { ...before, revision: before.revision + 1 });
  t.deepEqual(evolveDeployment(before, replaced(NODE_3, TP_3, TP_X)), { ...before, revision: before.revision + 1 });
});

test('evolve never mutates the state it is given (InstanceRemoved, PublicKeyReplaced)', (t) => {
  const before = stateAfter(deployment, joined);
  const snapshot = structuredClone(before);
  const afterRemoval = evolveDeployment(before, removed(NODE_2, TP_2, V1));
  const afterReplace = evolveDeployment(before, replaced(NODE_1, TP_1, TP_1B));
  t.deepEqual(before, snapshot);
  t.not(afterRemoval, before);
  t.not(afterReplace, before);
  t.deepEqual(Object.keys(before.removed), []);
});
