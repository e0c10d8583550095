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
import type { NonEmptyString } from '../domain/ids';
import { configOf, decideInstance, type InstanceConfig, keyPairOf } from '../domain/instance/decider';
import { explainRefusal } from '../domain/refusal';
import { type ActivationOutcome, type CommandError, type InstanceDeps, loadDeployment, loadInstance, startInstance, unwrapOwnCopy } from './instance';
import { appendOrConflict, type Loaded } from './ledger';

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

export const changeServiceIdentity = async (deps: InstanceDeps, config: InstanceConfig, newIdentity: NonEmptyString): Promise<E.Either<IdentityError, IdentityOutcome>> => {
  const id = config.installationId;
  const staging = deps.keystore.staging();
  const recorded: Array<LedgerEvent['type']> = [];
  let previousIdentity: string | undefined;
  let previousThumbprint: string | null = null;
  const maxConflicts = deps.maxConflicts ?? 20;
  let conflicts = 0;
  const write = async (loaded: Loaded<unknown>, events: ReadonlyArray<LedgerEvent>): Promise<E.Either<IdentityError, 'ok' | 'conflict'>> => {
    const r = await appendOrConflict(deps.store, loaded, events, deps.ctx);
    if (E.isLeft(r)) return r;
    if (r.right === 'conflict')
      return ++conflicts > maxConflicts ? E.left({ _tag: 'TooManyConflicts', stream: loaded.stream, attempts: conflicts }) : E.right('conflict');
    if (r.right === 'written') recorded.push(...events.map((e) => e.type));
    return E.right('ok');
  };

  for (let pass = 0; pass < 100; pass++) {
    const inst = await loadInstance(deps.store, id)();
    if (E.isLeft(inst)) return inst;
    const dep = await loadDeployment(deps.store, config.deploymentId, deps.snapshots)();
    if (E.isLeft(dep)) return dep;
    const s = inst.right.state;
    const recordedConfig = configOf(s);
    const keyPair = keyPairOf(s);
    if (!recordedConfig || !keyPair) return E.left({ _tag: 'NotAMemberYet', installationId: id });
    const registered = dep.right.state.registered[id];
    const ownCopy = currentCopyOf(dep.right.state, id);

    if (recordedConfig.serviceIdentity !== newIdentity) {
      // Step 1 — stage a key pair under the new identity, then record the change.
      previousIdentity = recordedConfig.serviceIdentity;
      previousThumbprint = keyPair.thumbprint;
      if (!registered || !ownCopy) return E.left({ _tag: 'NotAMemberYet', installationId: id });
      let staged = await staging.load({ installationId: id, serviceIdentity: newIdentity })();
      if (E.isLeft(staged) && staged.left.problem === 'missing') {
        const generated = await deps.crypto.generateKeyPair(deps.keySize ?? keyPair.keySize)();
        if (E.isLeft(generated)) return generated;
        const created = await staging.create({ installationId: id, serviceIdentity: newIdentity }, generated.right)();
        if (E.isLeft(created) && created.left._tag === 'KeystoreError') return E.left(created.left);
        staged = await staging.load({ installationId: id, serviceIdentity: newIdentity })();
      }
      if (E.isLeft(staged)) return staged;
      const k = staged.right;
      const decided = decideInstance({ type: 'ChangeServiceIdentity', installationId: id, serviceIdentity: newIdentity, publicKey: k.publicKey, thumbprint: k.thumbprint, keySize: k.keySize }, s);
      if (E.isLeft(decided)) return E.left({ _tag: 'InstanceRefused', error: decided.left });
      const w = await write(inst.right, decided.right);
      if (E.isLeft(w)) return w;
      continue;
    }

    // The change is recorded: the instance's key pair is the new one.
    const changed = [...inst.right.events].reverse().find((e) => e.event.type === 'ServiceIdentityChanged')?.event;
    if (changed?.type === 'ServiceIdentityChanged') {
      previousIdentity ??= changed.data.previousIdentity;
      previousThumbprint ??= changed.data.previousThumbprint;
    }
    if (registered && registered.thumbprint !== keyPair.thumbprint) {
      // Step 2 — re-wrap the instance's own copy for its new key, with the old private key.
      if (!changed || changed.type !== 'ServiceIdentityChanged') return E.left({ _tag: 'NotAMemberYet', installationId: id });
      if (!ownCopy) return E.left({ _tag: 'NotAMemberYet', installationId: id });
      const old = await deps.keystore.load({ installationId: id, serviceIdentity: changed.data.previousIdentity })();
      if (E.isLeft(old)) return E.left({ _tag: 'CannotProveKey', installationId: id, detail: `the keystore under the previous identity is ${old.left.problem}: ${old.left.detail}` });
      const current = dep.right.state.currentKey!; // a current copy implies a current key
      const plan = { keyVersion: current.keyVersion, copy: ownCopy, expectedKeyCheck: current.keyCheck, thumbprint: old.right.thumbprint };
      const key = await unwrapOwnCopy(deps.crypto, plan, old.right.privateKey);
      if (E.isLeft(key)) return E.left({ _tag: 'CannotProveKey', installationId: id, detail: explainRefusal(key.left).summary });
      const jwe = await deps.crypto.wrap(key.right, keyPair.publicKey)();
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
        },
        dep.right.state,
      );
      if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
      const w = await write(dep.right, decided.right);
      if (E.isLeft(w)) return w;
      continue;
    }

    // Step 3 — the new keystore replaces the old one; the start check under the new identity activates.
    const promoted = await deps.keystore.promoteStaging()();
    if (E.isLeft(promoted)) return promoted;
    const activation = await startInstance(deps, { ...config, serviceIdentity: newIdentity });
    if (E.isLeft(activation)) return activation;
    return E.right({
      previousIdentity: previousIdentity ?? newIdentity,
      serviceIdentity: newIdentity,
      previousThumbprint,
      thumbprint: keyPair.thumbprint,
      recorded: [...recorded, ...activation.right.recorded],
      activation: activation.right,
    });
  }
  throw new Error('programmer error: identity change did not converge');
};
