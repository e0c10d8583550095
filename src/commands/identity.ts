/**
 * Service identity change (SSRS: "if you change the service identity you must
 * update the keys; the configuration tool does it automatically").
 *
 * Resumable, in three recorded steps, each one append:
 *   1. a new key pair is staged in a keystore bound to the NEW identity, then
 *      `ServiceIdentityChanged` (instance stream) records it;
 *   2. the instance unwraps its own copy with the OLD private key, wraps it for
 *      the new public key, and records `PublicKeyReplaced` + `SymmetricKeyWrapped`
 *      in one append to the deployment stream;
 *   3. the staged keystore replaces the old one (the old private key is gone)
 *      and the start check under the new identity records `InstanceActivated`.
 * The old keystore stays until step 2 is recorded, so a crash anywhere leaves
 * what the next run needs. The old identity is taken from the ledger, not the
 * config, so it works whether or not the config file was already edited.
 */
import * as E from 'fp-ts/Either';
import { currentCopyOf, decideDeployment } from '../domain/deployment/decider';
import type { LedgerEvent } from '../domain/events';
import type { NonEmptyString, Thumbprint } from '../domain/ids';
import { configOf, decideInstance, type InstanceConfig, keyPairOf } from '../domain/instance/decider';
import { explainRefusal } from '../domain/refusal';
import { type Decision, handleCommand, type LoadedAll } from './handler';
import { registrationOf, signerOf, trustIn, trustProblem } from './signing';
import {
  type ActivationOutcome,
  type CommandError,
  type InstanceDeps,
  type MemberAggregates,
  memberAggregates,
  startInstance,
  isKeystoreError,
  unwrapOwnCopy,
} from './instance';

export type IdentityError =
  | CommandError
  | { readonly _tag: 'NotAMemberYet'; readonly installationId: string }
  | { readonly _tag: 'CannotProveKey'; readonly installationId: string; readonly detail: string };

export interface IdentityOutcome {
  readonly previousIdentity: string;
  readonly serviceIdentity: string;
  readonly previousThumbprint: string | null;
  readonly thumbprint: string;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
  readonly activation: ActivationOutcome;
}

type Step = { readonly _tag: 'Continue' } | { readonly _tag: 'Promote'; readonly thumbprint: Thumbprint };
type StepDecision = E.Either<IdentityError, Decision<MemberAggregates, Step>>;

export const changeServiceIdentity = async (
  deps: InstanceDeps,
  config: InstanceConfig,
  newIdentity: NonEmptyString,
): Promise<E.Either<IdentityError, IdentityOutcome>> => {
  const id = config.installationId;
  const staging = deps.keystore.staging();
  let previous: { identity: string; thumbprint: Thumbprint } | undefined;

  const decide = async (l: LoadedAll<MemberAggregates>): Promise<StepDecision> => {
    const s = l.instance.state;
    const recordedConfig = configOf(s);
    const keyPair = keyPairOf(s);
    if (!recordedConfig || !keyPair) return E.left({ _tag: 'NotAMemberYet', installationId: id });
    const registered = l.deployment.state.registered[id];
    const ownCopy = currentCopyOf(l.deployment.state, id);

    if (recordedConfig.serviceIdentity !== newIdentity) {
      // Step 1 — stage a key pair under the new identity (never smaller than the recorded one), then record the change.
      previous = { identity: recordedConfig.serviceIdentity, thumbprint: keyPair.thumbprint };
      if (!registered || !ownCopy) return E.left({ _tag: 'NotAMemberYet', installationId: id });
      let staged = await staging.load({ installationId: id, serviceIdentity: newIdentity })();
      if (E.isLeft(staged) && staged.left.problem === 'missing') {
        const size = Math.max(deps.keySize ?? 0, keyPair.keySize) as typeof keyPair.keySize;
        const generated = await deps.crypto.generateKeyPair(size)();
        if (E.isLeft(generated)) return generated;
        const created = await staging.create({ installationId: id, serviceIdentity: newIdentity }, generated.right, deps.crypto.signing.generate())();
        if (E.isLeft(created) && created.left._tag === 'KeystoreError') return E.left(created.left);
        await deps.pause?.('change-identity:after-staged-keystore');
        staged = await staging.load({ installationId: id, serviceIdentity: newIdentity })();
      }
      if (E.isLeft(staged)) return staged;
      const k = staged.right;
      const decided = decideInstance(
        {
          type: 'ChangeServiceIdentity',
          installationId: id,
          serviceIdentity: newIdentity,
          publicKey: k.publicKey,
          thumbprint: k.thumbprint,
          keySize: k.keySize,
          signing: k.signing ? registrationOf(deps.crypto, id, k.thumbprint, k.signing) : undefined,
        },
        s,
      );
      if (E.isLeft(decided)) return E.left({ _tag: 'InstanceRefused', error: decided.left });
      // Signed by the old signing key when it can still be opened (it vouches for the new one), else by the new.
      const old = await deps.keystore.load({ installationId: id, serviceIdentity: recordedConfig.serviceIdentity })();
      return E.right({
        append: { to: 'instance', events: decided.right, signer: signerOf(deps.crypto, old) ?? signerOf(deps.crypto, k) },
        result: { _tag: 'Continue' },
      });
    }

    // The change is recorded: the instance's key pair is the new one. A resumed run finds the old identity in the ledger.
    if (!previous) {
      const changed = [...l.instance.events].reverse().find((e) => e.event.type === 'ServiceIdentityChanged')?.event;
      if (changed?.type === 'ServiceIdentityChanged') previous = { identity: changed.data.previousIdentity, thumbprint: changed.data.previousThumbprint };
    }
    if (registered && registered.thumbprint !== keyPair.thumbprint) {
      // Step 2 — re-wrap the instance's own copy for its new key, with the old private key.
      if (!previous || !ownCopy) return E.left({ _tag: 'NotAMemberYet', installationId: id });
      const old = await deps.keystore.load({ installationId: id, serviceIdentity: previous.identity })();
      if (E.isLeft(old))
        return E.left({
          _tag: 'CannotProveKey',
          installationId: id,
          detail: `the keystore under the previous identity is ${old.left.problem}: ${old.left.detail}`,
        });
      const current = l.deployment.state.currentKey!; // a current copy implies a current key
      // The new keystore carries the genesis pins of the old one, and its signing key is certified by the old.
      const newBinding = { installationId: id, serviceIdentity: keyPair.serviceIdentity };
      let staged = await staging.load(newBinding)();
      for (const pin of old.right.genesis ?? []) {
        if (E.isLeft(staged)) break;
        staged = await staging.update(newBinding, { genesis: pin })();
      }
      if (E.isLeft(staged)) return staged;
      const plan = { keyVersion: current.keyVersion, copy: ownCopy, expectedKeyCheck: current.keyCheck, thumbprint: old.right.thumbprint };
      // The old copy is relied on only if it is certified back to the pinned genesis.
      const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
      const key = await unwrapOwnCopy(deps.crypto, plan, old.right.privateKey, { keystore: deps.keystore, deploymentId: config.deploymentId }, () =>
        trustProblem(trust, old.right, config.deploymentId, current.keyVersion, current.keyCheck),
      );
      if (E.isLeft(key))
        return isKeystoreError(key.left) ? E.left(key.left) : E.left({ _tag: 'CannotProveKey', installationId: id, detail: explainRefusal(key.left).summary });
      const jwe = await deps.crypto.wrap(key.right, keyPair.publicKey, {
        deploymentId: config.deploymentId,
        installationId: id,
        keyVersion: current.keyVersion,
      })();
      if (E.isLeft(jwe)) return jwe;
      const decided = decideDeployment(
        {
          type: 'ReplacePublicKey',
          deploymentId: config.deploymentId,
          installationId: id,
          previousThumbprint: registered.thumbprint,
          thumbprint: keyPair.thumbprint,
          publicKey: keyPair.publicKey,
          copy: { installationId: id, recipientThumbprint: keyPair.thumbprint, jwe: jwe.right },
          signing: staged.right.signing ? registrationOf(deps.crypto, id, keyPair.thumbprint, staged.right.signing) : undefined,
        },
        l.deployment.state,
      );
      if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
      // PublicKeyReplaced signed by the old signing key (it certifies the new one); the re-wrap by the new.
      const signers = decided.right.map((e) => (e.type === 'PublicKeyReplaced' ? signerOf(deps.crypto, old.right) : signerOf(deps.crypto, staged.right)));
      return E.right({ append: { to: 'deployment', events: decided.right, signer: signers }, result: { _tag: 'Continue' } });
    }
    return E.right({ result: { _tag: 'Promote', thumbprint: keyPair.thumbprint } });
  };

  const recorded: Array<LedgerEvent['type']> = [];
  let loaded: LoadedAll<MemberAggregates> | undefined;
  for (let i = 0; i < 4; i++) {
    const r = await handleCommand(deps, memberAggregates(config), decide, loaded);
    if (E.isLeft(r)) return r;
    recorded.push(...r.right.appended);
    loaded = r.right.loaded;
    if (r.right.result._tag === 'Continue') continue;
    // Step 3 — the new keystore replaces the old one; the start check under the new identity activates.
    await deps.pause?.('change-identity:before-promote');
    const promoted = await deps.keystore.promoteStaging()();
    await deps.pause?.('change-identity:after-promote');
    if (E.isLeft(promoted)) return promoted;
    const activation = await startInstance(deps, { ...config, serviceIdentity: newIdentity });
    if (E.isLeft(activation)) return activation;
    return E.right({
      previousIdentity: previous?.identity ?? newIdentity,
      serviceIdentity: newIdentity,
      previousThumbprint: previous?.thumbprint ?? null,
      thumbprint: r.right.result.thumbprint,
      recorded: [...recorded, ...activation.right.recorded],
      activation: activation.right,
    });
  }
  throw new Error('programmer error: identity change did not converge');
};
