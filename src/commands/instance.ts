/**
 * `init` and `start` for one instance, both driven by the pure workflow
 * `nextInitStep` (src/domain/init-workflow.ts) through the one command handler.
 *
 * init performs the next step, one event each, until the instance is activated,
 * waits to be joined, or is refused: resumable after a crash between any two
 * steps (the keystore is written before KeyPairIssued and reused when found; a
 * symmetric key only exists in the event that stores its first wrapped copy),
 * and racing processes converge (the loser of an append reloads and finds the
 * step done).
 *
 * start is the start check on every start. It performs no initialization step:
 * an incomplete initialization is reported as such (run `init`), not as a
 * refusal. Otherwise the instance proves it holds its copy by unwrapping it, and
 * the outcome is recorded with its basis — the deployment revision it read and
 * who presented the installation — when it says something new.
 */
import * as E from 'fp-ts/Either';
import {
  type DeploymentError,
  type DeploymentState,
  decideDeployment,
  deploymentDecider,
  keyHolders,
  lastChangeFor,
  nextKeyVersion,
} from '../domain/deployment/decider';
import {
  type DeploymentEvent,
  type InstanceEvent,
  isDeploymentEvent,
  isInstanceEvent,
  type KeySize,
  type LedgerEvent,
  type OutcomeBasis,
  type RefusalReason,
} from '../domain/events';
import type { EventSigner } from '../domain/envelope';
import { type DeploymentId, deploymentStream, type InstallationId, instanceStream, type KeyVersion } from '../domain/ids';
import { checkAfterUnwrap, completedStepsAt, type HeldKey, type InitStep, isInitStep, nextInitStep, type UnwrapPlan } from '../domain/init-workflow';
import { decideInstance, type InstanceConfig, type InstanceError, type InstanceState, instanceDecider } from '../domain/instance/decider';
import type { Crypto, CryptoError, Keystore, KeystoreError, PrivateKeyHandle, RememberedSignatures, StoredKeyPair, SymmetricKeyHandle } from '../ports/crypto';
import { type Aggregate, type Decision, type HandlerDeps, type HandlerError, handleCommand, type LoadedAll } from './handler';
import { pinGenesis, pinnedGenesisOf, registrationOf, signerOf, trustIn, trustProblem } from './signing';
import type { StartWitness, WitnessError } from './witness';

export interface InstanceDeps extends HandlerDeps {
  readonly crypto: Crypto;
  readonly keystore: Keystore;
  /** Key size for a new key pair (an identity change never goes below the recorded size). */
  readonly keySize?: KeySize;
  /** init: re-register an installation that was removed from the deployment. */
  readonly rejoin?: boolean;
  /** The host name this process runs on: recorded as evidence with every start-check outcome. */
  readonly host: string;
  /** Signatures verified before, remembered under the local-state MAC (the CLI's): trust walks verify only what is new. */
  readonly remembered?: RememberedSignatures;
  /** start: this member as a witness of the ledger's tree (src/commands/witness.ts); absent: no tree checks. */
  readonly witness?: StartWitness;
}

export type ActivationState = 'activated' | 'waiting-to-join' | 'disabled' | 'initializing';

export interface ActivationOutcome {
  readonly installationId: InstallationId;
  readonly deploymentId: DeploymentId;
  readonly state: ActivationState;
  readonly keyVersion?: number;
  /** The thumbprint a join confirms: its signing key's (its RSA key's, in a keystore from before signatures). */
  readonly thumbprint?: string;
  /** The RFC 7638 thumbprint of its RSA key pair (what copies are wrapped for). */
  readonly keyThumbprint?: string;
  readonly reason?: RefusalReason;
  /** How many of the five steps are recorded (when initializing). */
  readonly completedSteps?: number;
  /** Activated members other than this one holding the current key: who could sponsor a join. */
  readonly otherHolders: number;
  /** Event types this run appended, in order (empty: nothing to do). */
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

export type CommandError =
  | HandlerError
  | WitnessError
  | CryptoError
  | KeystoreError
  | { readonly _tag: 'InstanceRefused'; readonly error: InstanceError }
  | { readonly _tag: 'DeploymentRefused'; readonly error: DeploymentError };

// ─── The aggregates ───────────────────────────────────────────────────────

export const instanceAggregate = (id: InstallationId): Aggregate<InstanceState, InstanceEvent> => ({
  stream: instanceStream(id),
  initialState: instanceDecider.initialState,
  evolve: instanceDecider.evolve,
  accepts: isInstanceEvent,
});

export const deploymentAggregate = (id: DeploymentId): Aggregate<DeploymentState, DeploymentEvent> => ({
  stream: deploymentStream(id),
  initialState: deploymentDecider.initialState,
  evolve: deploymentDecider.evolve,
  accepts: isDeploymentEvent,
});

/** An instance and its deployment: what init, start, join and identity change read. */
export const memberAggregates = (config: InstanceConfig) => ({
  instance: instanceAggregate(config.installationId),
  deployment: deploymentAggregate(config.deploymentId),
});
export type MemberAggregates = ReturnType<typeof memberAggregates>;

export const heldFrom = (r: E.Either<KeystoreError, StoredKeyPair>): HeldKey =>
  E.isRight(r)
    ? { _tag: 'Held', installationId: r.right.installationId, thumbprint: r.right.thumbprint }
    : {
        _tag: 'KeystoreProblem',
        keystorePath: r.left.path,
        problem: r.left.problem,
        detail: r.left.detail,
        keystoreInstallationId: r.left.keystoreInstallationId,
      };

/** Activated members other than `id` that hold the current key. */
export const otherHoldersOf = (d: DeploymentState, id: string): number => keyHolders(d).filter((h) => h !== id).length;

/**
 * The proof an instance holds the key: unwrap its own copy with its private
 * key and check the result is the plan's key version. The key comes back
 * (in its opaque handle) for the callers that re-wrap it: join, identity change.
 */
export const unwrapOwnCopy = async (
  crypto: Crypto,
  plan: UnwrapPlan,
  privateKey: PrivateKeyHandle,
  pins?: { readonly keystore: Keystore; readonly deploymentId: DeploymentId },
  /** Whether the copy and its key check are certified back to the pinned genesis (checked before anything is pinned). */
  trusted?: () => RefusalReason | undefined,
): Promise<E.Either<RefusalReason | KeystoreError, SymmetricKeyHandle>> => {
  const pinned = pins ? pins.keystore.pinnedKeyCheck(pins.deploymentId, plan.keyVersion) : E.right(undefined);
  if (E.isLeft(pinned)) return pinned;
  const expected = pins ? { deploymentId: pins.deploymentId, installationId: plan.copy.copy.installationId, keyVersion: plan.keyVersion } : undefined;
  const r = await crypto.unwrap(plan.copy.copy.jwe, privateKey, expected)();
  const verdict = checkAfterUnwrap(
    plan,
    E.isLeft(r) ? { _tag: 'UnwrapFailed', detail: r.left.message } : { _tag: 'Unwrapped', keyCheck: crypto.keyCheck(r.right) },
    pinned.right,
  );
  if (verdict._tag === 'Refused') return E.left(verdict.reason);
  if (E.isLeft(r)) throw new Error('programmer error: a failed unwrap passed the check');
  const distrust = trusted?.();
  if (distrust) return E.left(distrust);
  // First proof of this key version: pin it, so a key planted later in the ledger is refused.
  if (pins && pinned.right === undefined) {
    const pinnedNow = pins.keystore.pinKeyCheck(pins.deploymentId, plan.keyVersion, plan.expectedKeyCheck);
    if (E.isLeft(pinnedNow)) return pinnedNow;
  }
  return r;
};

/** A keystore problem met while checking the pin is a command error, not a refusal reason. */
export const isKeystoreError = (e: RefusalReason | KeystoreError): e is KeystoreError => e._tag === 'KeystoreError';

// ─── The workflow ─────────────────────────────────────────────────────────

/** The keystore, read at most once per run (and read again after this run created it). */
const keystoreReader = (deps: InstanceDeps, config: InstanceConfig) => {
  let cached: E.Either<KeystoreError, StoredKeyPair> | undefined;
  return {
    get: async () => (cached ??= await deps.keystore.load({ installationId: config.installationId, serviceIdentity: config.serviceIdentity })()),
    forget: () => {
      cached = undefined;
    },
  };
};

type Verb = 'init' | 'start';
type Next = { readonly _tag: 'Continue' } | { readonly _tag: 'Finished'; readonly outcome: Omit<ActivationOutcome, 'recorded'> };
type StepDecision = E.Either<CommandError, Decision<MemberAggregates, Next>>;

const CONTINUE: Next = { _tag: 'Continue' };
const appendTo = (to: 'instance' | 'deployment', events: ReadonlyArray<LedgerEvent>, signer: EventSigner | undefined, result: Next = CONTINUE): StepDecision =>
  E.right({ append: { to, events, signer }, result });

/** One decision of init or start: perform (or, for start, report) the next step. */
const decideNext = async (
  deps: InstanceDeps,
  config: InstanceConfig,
  verb: Verb,
  keys: ReturnType<typeof keystoreReader>,
  l: LoadedAll<MemberAggregates>,
): Promise<StepDecision> => {
  const id = config.installationId;
  const held = await keys.get();
  const signer = signerOf(deps.crypto, held);
  const binding = { installationId: id, serviceIdentity: config.serviceIdentity };
  // The key pair this instance holds: what an operator confirms at the join (`join --expect-thumbprint`).
  const base = {
    installationId: id,
    deploymentId: config.deploymentId,
    otherHolders: otherHoldersOf(l.deployment.state, id),
    ...(E.isRight(held) ? { thumbprint: held.right.signing?.thumbprint ?? held.right.thumbprint, keyThumbprint: held.right.thumbprint } : {}),
  };
  const step: InitStep = nextInitStep({
    instance: l.instance.state,
    deployment: l.deployment.state,
    presented: config,
    held: heldFrom(held),
    rejoin: deps.rejoin === true,
  });
  const basis: OutcomeBasis = {
    deploymentRevision: l.deployment.state.revision as OutcomeBasis['deploymentRevision'],
    presentedThumbprint: E.isRight(held) ? held.right.thumbprint : null,
    machineName: config.machineName,
    host: deps.host,
    keystorePath: config.keystorePath,
  };
  const changedAt = lastChangeFor(l.deployment.state, id);
  const finished = (outcome: Omit<ActivationOutcome, 'recorded' | 'installationId' | 'deploymentId' | 'otherHolders'>): Next => ({
    _tag: 'Finished',
    outcome: { ...base, ...outcome },
  });
  const refuse = (reason: RefusalReason, state: 'disabled' | 'waiting-to-join'): StepDecision => {
    const decided = decideInstance(
      { type: 'RefuseActivation', installationId: id, deploymentId: config.deploymentId, reason, basis, changedAt },
      l.instance.state,
    );
    return E.isLeft(decided)
      ? E.left({ _tag: 'InstanceRefused', error: decided.left })
      : appendTo('instance', decided.right, signer, finished({ state, reason }));
  };
  const deployment = (decided: E.Either<DeploymentError, ReadonlyArray<LedgerEvent>>): StepDecision =>
    E.isLeft(decided) ? E.left({ _tag: 'DeploymentRefused', error: decided.left }) : appendTo('deployment', decided.right, signer);
  const instance = (decided: E.Either<InstanceError, ReadonlyArray<LedgerEvent>>): StepDecision =>
    E.isLeft(decided) ? E.left({ _tag: 'InstanceRefused', error: decided.left }) : appendTo('instance', decided.right, signer);
  const signing = (k: StoredKeyPair) => (k.signing ? registrationOf(deps.crypto, id, k.thumbprint, k.signing) : undefined);

  // The key was deleted with the encrypted content (docs/adr/0015): acted on only when a member entitled to delete it signed that.
  const deleted = step._tag === 'CreateSymmetricKey' ? l.deployment.state.deleted : undefined;
  if (deleted) {
    const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
    const newest = Math.max(...deleted.keyVersions) as KeyVersion;
    if (trust.lastDeletion?.authorised !== true)
      return refuse(
        { _tag: 'UntrustedKeyEvent', keyVersion: newest, problem: 'deletion-not-signed-by-a-member', revision: deleted.revision.toString() },
        'disabled',
      );
    if (verb === 'start') return refuse({ _tag: 'ContentDeleted', keyVersions: [...deleted.keyVersions], deletedBy: deleted.by }, 'disabled');
  }
  if (verb === 'start' && isInitStep(step)) return E.right({ result: finished({ state: 'initializing', completedSteps: completedStepsAt(step._tag) }) });

  switch (step._tag) {
    case 'RecordConfig':
      return instance(decideInstance({ type: 'RecordConfig', config }, l.instance.state));
    case 'GenerateKeyPair': {
      // Step 2, first half: the key pair goes to the keystore before anything is recorded.
      const generated = await deps.crypto.generateKeyPair(deps.keySize ?? 2048)();
      if (E.isLeft(generated)) return generated;
      const created = await deps.keystore.create(binding, generated.right, deps.crypto.signing.generate())();
      if (E.isLeft(created) && created.left._tag === 'KeystoreError') return E.left(created.left);
      keys.forget(); // ours, or the one a racing process wrote first: read it back
      await deps.pause?.(`${deps.ctx.command}:after-keystore-written`);
      return E.right({ result: CONTINUE });
    }
    case 'RecordKeyPair': {
      if (E.isLeft(held)) throw new Error('programmer error: RecordKeyPair without a key pair held');
      const k = held.right;
      return instance(
        decideInstance(
          { type: 'RecordKeyPair', installationId: id, publicKey: k.publicKey, thumbprint: k.thumbprint, keySize: k.keySize, signing: signing(k) },
          l.instance.state,
        ),
      );
    }
    case 'StorePublicKey': {
      if (E.isLeft(held)) throw new Error('programmer error: StorePublicKey without a key pair held');
      const k = held.right;
      return deployment(
        decideDeployment(
          {
            type: 'StorePublicKey',
            deploymentId: config.deploymentId,
            installationId: id,
            machineName: config.machineName,
            instanceName: config.instanceName,
            thumbprint: k.thumbprint,
            publicKey: k.publicKey,
            rejoin: step.rejoin,
            signing: signing(k),
          },
          l.deployment.state,
        ),
      );
    }
    case 'CreateSymmetricKey': {
      if (E.isLeft(held)) throw new Error('programmer error: CreateSymmetricKey without a key pair held');
      const k = held.right;
      const key = deps.crypto.createSymmetricKey();
      // Version 1 — or, after the encrypted content was deleted, the version after every destroyed one (what the decider records).
      const keyVersion = nextKeyVersion(l.deployment.state);
      const jwe = await deps.crypto.wrap(key, k.publicKey, { deploymentId: config.deploymentId, installationId: id, keyVersion })();
      if (E.isLeft(jwe)) return jwe;
      return deployment(
        decideDeployment(
          {
            type: 'CreateSymmetricKey',
            deploymentId: config.deploymentId,
            keyCheck: deps.crypto.keyCheck(key),
            createdBy: id,
            copy: { installationId: id, recipientThumbprint: k.thumbprint, jwe: jwe.right },
          },
          l.deployment.state,
        ),
      );
    }
    case 'Waiting':
      return verb === 'start' ? refuse(step.reason, 'waiting-to-join') : E.right({ result: finished({ state: 'waiting-to-join', reason: step.reason }) });
    case 'Refused':
      return refuse(step.reason, 'disabled');
    case 'Done':
    case 'Prove': {
      // init stops at an activation that still holds; start proves on every start.
      if (step._tag === 'Done' && verb === 'init') return E.right({ result: finished({ state: 'activated', keyVersion: step.plan.keyVersion }) });
      if (E.isLeft(held)) throw new Error('programmer error: Prove without a key pair held');
      // The copy and its key check must come from members certified back to the genesis this instance pinned.
      const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
      const refounded = await pinSelfAsNewGenesis(deps, binding, held.right, trust, config.deploymentId);
      if (E.isLeft(refounded)) return refounded;
      if (refounded.right) {
        keys.forget(); // its pin changed: read the keystore again
        return E.right({ result: CONTINUE });
      }
      const proven = await unwrapOwnCopy(deps.crypto, step.plan, held.right.privateKey, { keystore: deps.keystore, deploymentId: config.deploymentId }, () =>
        trustProblem(trust, held.right, config.deploymentId, step.plan.keyVersion, step.plan.expectedKeyCheck),
      );
      if (E.isLeft(proven)) return isKeystoreError(proven.left) ? E.left(proven.left) : refuse(proven.left, 'disabled');
      const pinned = await pinGenesis(deps.keystore, binding, held.right, trust, config.deploymentId);
      if (E.isLeft(pinned)) return pinned;
      if (pinned.right === 'pinned') keys.forget();
      const { keyVersion, thumbprint } = step.plan;
      const decided = decideInstance(
        { type: 'Activate', installationId: id, deploymentId: config.deploymentId, keyVersion, thumbprint, basis, changedAt },
        l.instance.state,
      );
      return E.isLeft(decided)
        ? E.left({ _tag: 'InstanceRefused', error: decided.left })
        : appendTo('instance', decided.right, signer, finished({ state: 'activated', keyVersion }));
    }
  }
};

/**
 * After the encrypted content was deleted, the instance that created the new key is the deployment's new genesis
 * (src/domain/trust.ts): it pins itself in place of the genesis it pinned before — the only genesis an instance ever
 * pins without its operator's word, and only its own signing key, as the trust walk found it founded anew by a key
 * creation this instance signed. Every other instance pins it with `trust --expect-genesis` (docs/adr/0015).
 */
const pinSelfAsNewGenesis = async (
  deps: InstanceDeps,
  binding: { readonly installationId: InstallationId; readonly serviceIdentity: string },
  held: StoredKeyPair,
  trust: ReturnType<typeof trustIn>,
  deploymentId: DeploymentId,
): Promise<E.Either<KeystoreError, boolean>> => {
  const own = held.signing?.thumbprint;
  const g = trust.genesis;
  if (!trust.refounded || !g || own === undefined || g.thumbprint !== own || g.installationId.toLowerCase() !== held.installationId.toLowerCase())
    return E.right(false);
  const pinned = pinnedGenesisOf(held, deploymentId);
  if (pinned === undefined || pinned === own) return E.right(false); // none pinned: the ordinary first pin follows the proof
  const updated = await deps.keystore.update(binding, { genesis: { deploymentId, thumbprint: own } })();
  return E.isLeft(updated) ? updated : E.right(true);
};

/** Step after step through the handler, each on the states the previous one left in memory. */
const runWorkflow = async (
  deps: InstanceDeps,
  config: InstanceConfig,
  verb: Verb,
): Promise<E.Either<CommandError, ActivationOutcome & { readonly loads: number }>> => {
  const keys = keystoreReader(deps, config);
  const aggregates = memberAggregates(config);
  const recorded: Array<LedgerEvent['type']> = [];
  let loaded: LoadedAll<MemberAggregates> | undefined;
  let loads = 0;
  // Five steps, plus a keystore written by a racing process: a bounded walk.
  for (let i = 0; i < 12; i++) {
    const witness = verb === 'start' ? deps.witness : undefined;
    const r = await handleCommand(
      deps,
      aggregates,
      async (l): Promise<StepDecision> => {
        // A witness decides nothing on a ledger that forked from what it co-signed, nor on events its tree does not hold.
        const checked = witness ? await witness.check([l.instance, l.deployment]) : E.right(undefined);
        return E.isLeft(checked) ? checked : decideNext(deps, config, verb, keys, l);
      },
      loaded,
    );
    if (E.isLeft(r)) return r;
    recorded.push(...r.right.appended);
    loads += r.right.loads;
    loaded = r.right.loaded;
    if (r.right.result._tag === 'Finished') {
      const cosigned = witness ? await witness.cosign() : E.right(undefined);
      if (E.isLeft(cosigned)) return cosigned;
      return E.right({ ...r.right.result.outcome, recorded, loads });
    }
  }
  throw new Error(`programmer error: ${verb} did not converge`);
};

/** Runs (or resumes) the five initialization steps. */
export const initInstance = (deps: InstanceDeps, config: InstanceConfig) => runWorkflow(deps, config, 'init');

/** The start check, recorded. */
export const startInstance = (deps: InstanceDeps, config: InstanceConfig) => runWorkflow(deps, config, 'start');
