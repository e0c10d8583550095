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
import type { EventSigner } from '../domain/envelope';
import type { LedgerEvent, RefusalReason } from '../domain/events';
import type { DeploymentId, InstallationId, KeyVersion } from '../domain/ids';
import { keyPairOf } from '../domain/instance/decider';
import { confirmationProblem, type NewcomerKeyProblem, signingKeyProblem, storedKeyProblem } from '../domain/newcomer-key';
import { proofOfPossessionText } from '../domain/signatures';
import { checkBeforeUnwrap } from '../domain/start-check';
import type { InstanceConfig } from '../domain/instance/decider';
import { type Decision, handleCommand, type HandlerDeps } from './handler';
import { signerOf, trustIn, trustProblem } from './signing';
import {
  type CommandError,
  deploymentAggregate,
  heldFrom,
  instanceAggregate,
  type InstanceDeps,
  isKeystoreError,
  memberAggregates,
  unwrapOwnCopy,
} from './instance';

export type MembershipError =
  | CommandError
  | { readonly _tag: 'SponsorNotActivated'; readonly sponsor: InstallationId; readonly reason: RefusalReason | null }
  | { readonly _tag: 'NewcomerKeyRefused'; readonly newcomer: InstallationId; readonly problem: NewcomerKeyProblem };

/** What the operator is shown before the key is wrapped for a newcomer (SSH-style: compare it out of band). */
export interface JoinCandidate {
  readonly installationId: InstallationId;
  readonly machineName: string;
  readonly instanceName: string;
  /** What the operator confirms: the RFC 7638 thumbprint recomputed from its registered signing key (whose proof of possession binds the RSA key). */
  readonly thumbprint: string;
  /** RFC 7638 thumbprint recomputed from its registered RSA public key (what the key is wrapped for). */
  readonly keyThumbprint: string;
}

export interface JoinOutcome {
  readonly sponsor: InstallationId;
  readonly newcomer: InstallationId;
  readonly keyVersion: KeyVersion;
  /** True when the newcomer already held the current key: nothing was recorded. */
  readonly alreadyJoined: boolean;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

export interface JoinOptions {
  /** Wrap again even though a copy for the newcomer's registered key is recorded (it cannot be unwrapped, or holds another key). */
  readonly rewrap?: boolean;
  /** The newcomer's thumbprint as the operator learned it out of band (its `status`): nothing is wrapped for another key. */
  readonly expectThumbprint?: string;
  /** Without an expected thumbprint: ask the operator (a terminal prompt); resolves true when they confirm this key. */
  readonly confirm?: (candidate: JoinCandidate) => Promise<boolean>;
}

/**
 * The sponsor proves itself by the start check and the unwrap of its own copy —
 * not by its last recorded outcome, which an impostor presenting its
 * installation ID may have written.
 */
export const joinInstance = async (
  deps: InstanceDeps,
  sponsor: InstanceConfig,
  newcomer: InstallationId,
  options: JoinOptions = {},
): Promise<E.Either<MembershipError, JoinOutcome>> => {
  const held = await deps.keystore.load({ installationId: sponsor.installationId, serviceIdentity: sponsor.serviceIdentity })();
  const aggregates = { ...memberAggregates(sponsor), newcomer: instanceAggregate(newcomer) };
  // The operator is asked once per key, however often a version conflict makes the handler decide again.
  const answers = new Map<string, boolean>();
  const askOnce = async (c: JoinCandidate): Promise<boolean> => {
    const known = answers.get(c.thumbprint);
    if (known !== undefined) return known;
    const answer = options.confirm ? await options.confirm(c) : false;
    answers.set(c.thumbprint, answer);
    return answer;
  };
  const r = await handleCommand(deps, aggregates, async (l): Promise<E.Either<MembershipError, Decision<typeof aggregates, JoinOutcome>>> => {
    const state = l.deployment.state;
    const pre = checkBeforeUnwrap(l.instance.state, state, sponsor, heldFrom(held));
    if (E.isLeft(pre)) return E.left({ _tag: 'SponsorNotActivated', sponsor: sponsor.installationId, reason: pre.left });
    if (E.isLeft(held)) return E.left({ _tag: 'SponsorNotActivated', sponsor: sponsor.installationId, reason: null });
    const outcome = (keyVersion: KeyVersion, alreadyJoined: boolean): JoinOutcome => ({
      sponsor: sponsor.installationId,
      newcomer,
      keyVersion,
      alreadyJoined,
      recorded: [],
    });

    // Cheap checks on the newcomer before any crypto.
    const target = state.registered[newcomer];
    const has = currentCopyOf(state, newcomer);
    if (target && has && has.copy.recipientThumbprint === target.thumbprint && options.rewrap !== true)
      return E.right({ result: outcome(has.keyVersion, true) });
    if (!target)
      return E.left({
        _tag: 'DeploymentRefused',
        error: state.removed[newcomer] ? { _tag: 'InstallationRemoved', installationId: newcomer } : { _tag: 'UnknownInstallation', installationId: newcomer },
      });

    // The key to wrap for: its thumbprint recomputed (the recorded one is not trusted), the newcomer's own
    // issued key, at least RSA-2048 with e = 65537; its signing key proved (its proof of possession binds the
    // RSA key) and confirmed by the operator out of band. Else nothing is wrapped.
    const computed = await deps.crypto.thumbprint(target.publicKey)();
    if (E.isLeft(computed)) return computed;
    const issuedKeys = keyPairOf(l.newcomer.state);
    const stored = storedKeyProblem({
      stored: target.publicKey,
      recordedThumbprint: target.thumbprint,
      computedThumbprint: computed.right,
      issuedThumbprint: issuedKeys?.thumbprint ?? null,
    });
    if (stored) return E.left({ _tag: 'NewcomerKeyRefused', newcomer, problem: stored });
    const sig = target.signing;
    const signingComputed = sig ? deps.crypto.signing.thumbprint(sig.signingKey) : undefined;
    const signingProblem = signingKeyProblem({
      recordedThumbprint: sig?.signingThumbprint,
      computedThumbprint: signingComputed,
      proofVerifies:
        sig !== undefined &&
        deps.crypto.signing.verify(sig.signingKey, proofOfPossessionText(newcomer, computed.right, sig.signingThumbprint), sig.signingKeyProof),
      issuedThumbprint: issuedKeys?.signingThumbprint,
    });
    if (signingProblem || !sig || signingComputed === undefined)
      return E.left({ _tag: 'NewcomerKeyRefused', newcomer, problem: signingProblem ?? { _tag: 'NoSigningKey' } });
    const candidate: JoinCandidate = {
      installationId: newcomer,
      machineName: target.machineName,
      instanceName: target.instanceName,
      thumbprint: signingComputed,
      keyThumbprint: computed.right,
    };
    const confirmed = options.expectThumbprint ?? ((await askOnce(candidate)) ? signingComputed : null);
    const problem = confirmationProblem(confirmed, signingComputed);
    if (problem) return E.left({ _tag: 'NewcomerKeyRefused', newcomer, problem });

    // Unwrap with the sponsor's own private key; wrap for the newcomer's public key. In memory only.
    // The sponsor relies on its own copy only if it is certified back to the genesis it pinned.
    const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
    const unwrapped = await unwrapOwnCopy(deps.crypto, pre.right, held.right.privateKey, { keystore: deps.keystore, deploymentId: sponsor.deploymentId }, () =>
      trustProblem(trust, held.right, sponsor.deploymentId, pre.right.keyVersion, pre.right.expectedKeyCheck),
    );
    if (E.isLeft(unwrapped))
      return isKeystoreError(unwrapped.left)
        ? E.left(unwrapped.left)
        : E.left({ _tag: 'SponsorNotActivated', sponsor: sponsor.installationId, reason: unwrapped.left });
    const jwe = await deps.crypto.wrap(unwrapped.right, target.publicKey, {
      deploymentId: sponsor.deploymentId,
      installationId: newcomer,
      keyVersion: pre.right.keyVersion,
    })();
    if (E.isLeft(jwe)) return jwe;
    const decided = decideDeployment(
      {
        type: 'WrapForMember',
        deploymentId: sponsor.deploymentId,
        sponsor: sponsor.installationId,
        sponsorThumbprint: pre.right.thumbprint,
        copy: { installationId: newcomer, recipientThumbprint: target.thumbprint, jwe: jwe.right },
        recipientSigningThumbprint: sig.signingThumbprint,
        ...(options.rewrap === true ? { rewrap: true } : {}),
      },
      state,
    );
    if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
    return E.right({
      append: { to: 'deployment', events: decided.right, signer: signerOf(deps.crypto, held.right) },
      result: outcome(pre.right.keyVersion, decided.right.length === 0),
    });
  });
  return E.isLeft(r) ? r : E.right({ ...r.right.result, recorded: r.right.appended });
};

export interface RemoveOutcome {
  readonly installationId: InstallationId;
  readonly deploymentId: DeploymentId;
  readonly lastMember: boolean;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

/** Removes an instance from the scale-out: its registration and wrapped copy are revoked. */
export const removeInstance = async (
  deps: HandlerDeps,
  deploymentId: DeploymentId,
  installationId: InstallationId,
  force: boolean,
  /** The member running the removal signs it (none: its keystore predates signatures). */
  signer?: EventSigner,
): Promise<E.Either<MembershipError, RemoveOutcome>> => {
  const r = await handleCommand(deps, { deployment: deploymentAggregate(deploymentId) }, async (l) => {
    const decided = decideDeployment({ type: 'RemoveInstance', deploymentId, installationId, force }, l.deployment.state);
    if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused' as const, error: decided.left });
    const ev = decided.right[0];
    return E.right({
      append: { to: 'deployment' as const, events: decided.right, signer },
      result: ev?.type === 'InstanceRemoved' ? ev.data.lastMember : false,
    });
  });
  return E.isLeft(r) ? r : E.right({ installationId, deploymentId, lastMember: r.right.result, recorded: r.right.appended });
};
