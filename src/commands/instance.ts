/**
 * `init` and `start` for one instance.
 *
 * init runs the five steps, one event each, and is resumable: every pass
 * reloads both streams, finds the first step not yet recorded, performs it
 * and appends with the revision it saw. After a crash between any two steps,
 * running it again continues from there — the keystore is written *before*
 * KeyPairIssued is recorded and reused when found, and a symmetric key is
 * only ever created in the same event that stores its first wrapped copy, so
 * there is never a second key pair or a second symmetric key. Racing
 * processes converge: the loser of each append reloads and finds the step done.
 *
 * start is the start check on every start: the installation ID and the public
 * key held must match what the deployment stored, and the instance must be
 * able to unwrap its own copy. The outcome is recorded either way.
 */
import * as E from 'fp-ts/Either';
import { type DeploymentError, type DeploymentState, decideDeployment, evolveDeployment, initialDeploymentState } from '../domain/deployment/decider';
import type { CommandContext } from '../domain/envelope';
import { type InstanceEvent, isDeploymentEvent, isInstanceEvent, type KeySize, type LedgerEvent, type RefusalReason, WrappedCopy } from '../domain/events';
import { type DeploymentId, deploymentStream, type InstallationId, instanceStream } from '../domain/ids';
import { decideInstance, evolveInstance, type InstanceConfig, type InstanceError, type InstanceState, initialInstanceState, keyPairOf } from '../domain/instance/decider';
import { checkAfterUnwrap, checkBeforeUnwrap, type HeldKey, type UnwrapOutcome, type UnwrapPlan } from '../domain/start-check';
import type { Crypto, CryptoError, Keystore, KeystoreError, PrivateKeyHandle, StoredKeyPair, SymmetricKeyHandle } from '../ports/crypto';
import type { EventStore } from '../ports/event-store';
import type { SnapshotStore } from '../ports/snapshots';
import { type AppendError, appendOrConflict, type LoadError, type Loaded, loadAggregate } from './ledger';

export interface InstanceDeps {
  readonly store: EventStore;
  readonly crypto: Crypto;
  readonly keystore: Keystore;
  readonly ctx: CommandContext;
  readonly keySize?: KeySize;
  /** How many version conflicts to absorb (reload and retry) before giving up. */
  readonly maxConflicts?: number;
  /** init: re-register an installation that was removed from the deployment. */
  readonly rejoin?: boolean;
  /** Local snapshots of the deployment aggregate, so commands read only its new events. */
  readonly snapshots?: SnapshotStore;
}

export type ActivationState = 'activated' | 'waiting-to-join' | 'disabled';

export interface ActivationOutcome {
  readonly installationId: InstallationId;
  readonly deploymentId: DeploymentId;
  readonly state: ActivationState;
  readonly keyVersion?: number;
  readonly thumbprint?: string;
  readonly reason?: RefusalReason;
  /** Event types this run appended, in order (empty: nothing to do). */
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

export type CommandError =
  | LoadError
  | AppendError
  | CryptoError
  | KeystoreError
  | { readonly _tag: 'InstanceRefused'; readonly error: InstanceError }
  | { readonly _tag: 'DeploymentRefused'; readonly error: DeploymentError }
  | { readonly _tag: 'TooManyConflicts'; readonly stream: string; readonly attempts: number };

// ─── Loading ──────────────────────────────────────────────────────────────

export const loadInstance = (store: EventStore, id: InstallationId) =>
  loadAggregate<InstanceState, InstanceEvent>(store, instanceStream(id), initialInstanceState, isInstanceEvent, evolveInstance);

/** Bump when DeploymentState's shape changes: older snapshots are then ignored. */
export const DEPLOYMENT_SNAPSHOT_VERSION = 1;

export const loadDeployment = (store: EventStore, id: DeploymentId, snapshots?: SnapshotStore) =>
  loadAggregate(
    store,
    deploymentStream(id),
    initialDeploymentState,
    isDeploymentEvent,
    evolveDeployment,
    snapshots ? { store: snapshots, version: DEPLOYMENT_SNAPSHOT_VERSION } : undefined,
  );

export const heldFrom = (r: E.Either<KeystoreError, StoredKeyPair>): HeldKey =>
  E.isRight(r)
    ? { _tag: 'Held', installationId: r.right.installationId, thumbprint: r.right.thumbprint }
    : { _tag: 'KeystoreProblem', keystorePath: r.left.path, problem: r.left.problem, detail: r.left.detail, keystoreInstallationId: r.left.keystoreInstallationId };

// ─── One pass ─────────────────────────────────────────────────────────────

type Pass = E.Either<CommandError, { readonly next: 'again'; readonly conflict: boolean } | { readonly next: 'done'; readonly outcome: Omit<ActivationOutcome, 'recorded'> }>;

const again = (conflict: boolean): Pass => E.right({ next: 'again', conflict });

/** Appends and maps the result: a conflict means "reload and try again". */
const write = async (
  deps: InstanceDeps,
  loaded: Loaded<unknown>,
  events: ReadonlyArray<LedgerEvent>,
  recorded: Array<LedgerEvent['type']>,
): Promise<E.Either<CommandError, 'written' | 'conflict' | 'nothing'>> => {
  const r = await appendOrConflict(deps.store, loaded, events, deps.ctx);
  if (E.isRight(r) && r.right === 'written') recorded.push(...events.map((e) => e.type));
  return r;
};

/**
 * The proof an instance holds the key: unwrap its own copy with its private
 * key and check the result is the plan's key version. The key comes back
 * (in its opaque handle) for the callers that re-wrap it: join, identity change.
 */
export const unwrapOwnCopy = async (crypto: Crypto, plan: UnwrapPlan, privateKey: PrivateKeyHandle): Promise<E.Either<RefusalReason, SymmetricKeyHandle>> => {
  const r = await crypto.unwrap(plan.copy.copy.jwe, privateKey)();
  const outcome: UnwrapOutcome = E.isLeft(r) ? { _tag: 'UnwrapFailed', detail: r.left.message } : { _tag: 'Unwrapped', keyCheck: crypto.keyCheck(r.right) };
  const verdict = checkAfterUnwrap(plan, outcome);
  if (E.isLeft(verdict)) return verdict;
  if (E.isLeft(r)) throw new Error('programmer error: a failed unwrap passed the check');
  return r;
};

/** The start check proper, then its outcome recorded on the instance stream. */
const checkAndRecord = async (
  deps: InstanceDeps,
  config: InstanceConfig,
  inst: Loaded<InstanceState>,
  dep: Loaded<DeploymentState>,
  held: E.Either<KeystoreError, StoredKeyPair>,
  recorded: Array<LedgerEvent['type']>,
  options: { readonly skipUnwrapIfActivated: boolean },
): Promise<Pass> => {
  const pre = checkBeforeUnwrap(inst.state, dep.state, config, heldFrom(held));
  let verdict: E.Either<RefusalReason, UnwrapPlan> = pre;
  if (E.isRight(pre) && E.isRight(held)) {
    const already = inst.state.status === 'Activated' && inst.state.keyVersion === pre.right.keyVersion;
    if (already && options.skipUnwrapIfActivated) verdict = pre;
    else {
      const proven = await unwrapOwnCopy(deps.crypto, pre.right, held.right.privateKey);
      verdict = E.isLeft(proven) ? proven : pre;
    }
  }
  const base = { installationId: config.installationId, deploymentId: config.deploymentId };
  const decided = E.isRight(verdict)
    ? decideInstance({ type: 'Activate', ...base, keyVersion: verdict.right.keyVersion, thumbprint: verdict.right.thumbprint }, inst.state)
    : decideInstance({ type: 'RefuseActivation', ...base, reason: verdict.left }, inst.state);
  if (E.isLeft(decided)) return E.left({ _tag: 'InstanceRefused', error: decided.left });
  const w = await write(deps, inst, decided.right, recorded);
  if (E.isLeft(w)) return w;
  if (w.right === 'conflict') return again(true);
  return E.right({
    next: 'done',
    outcome: E.isRight(verdict)
      ? { ...base, state: 'activated', keyVersion: verdict.right.keyVersion, thumbprint: verdict.right.thumbprint }
      : { ...base, state: verdict.left.kind === 'NoWrappedCopy' ? 'waiting-to-join' : 'disabled', reason: verdict.left },
  });
};

/** The keystore, read at most once per run (and replaced by what this run created). */
interface HeldCache {
  get(): Promise<E.Either<KeystoreError, StoredKeyPair>>;
  set(value: E.Either<KeystoreError, StoredKeyPair> | undefined): void;
}

const heldCache = (deps: InstanceDeps, config: InstanceConfig): HeldCache => {
  let cached: E.Either<KeystoreError, StoredKeyPair> | undefined;
  return {
    get: async () => (cached ??= await deps.keystore.load({ installationId: config.installationId, serviceIdentity: config.serviceIdentity })()),
    set: (value) => {
      cached = value;
    },
  };
};

const initPass = async (deps: InstanceDeps, config: InstanceConfig, recorded: Array<LedgerEvent['type']>, keys: HeldCache): Promise<Pass> => {
  const id = config.installationId;
  const inst = await loadInstance(deps.store, id)();
  if (E.isLeft(inst)) return inst;
  const dep = await loadDeployment(deps.store, config.deploymentId, deps.snapshots)();
  if (E.isLeft(dep)) return dep;
  const binding = { installationId: id, serviceIdentity: config.serviceIdentity };
  const s = inst.right.state;

  // Step 1 — config read.
  const step1 = decideInstance({ type: 'RecordConfig', config }, s);
  if (E.isLeft(step1)) return E.left({ _tag: 'InstanceRefused', error: step1.left });
  if (step1.right.length > 0) {
    const w = await write(deps, inst.right, step1.right, recorded);
    return E.isLeft(w) ? w : again(w.right === 'conflict');
  }

  // Step 2 — key pair issued (keystore first, then the event).
  const held = await keys.get();
  const recordedKeyPair = keyPairOf(s);
  if (!recordedKeyPair) {
    if (E.isLeft(held) && held.left.problem === 'missing') {
      const generated = await deps.crypto.generateKeyPair(deps.keySize ?? 2048)();
      if (E.isLeft(generated)) return generated;
      const created = await deps.keystore.create(binding, generated.right)();
      if (E.isLeft(created) && created.left._tag === 'KeystoreError') return E.left(created.left);
      // Ours is written: use it. Another process's won the race: read that one.
      keys.set(E.isRight(created) ? E.right({ ...generated.right, installationId: id }) : undefined);
      return again(false);
    }
    if (E.isLeft(held)) return checkAndRecord(deps, config, inst.right, dep.right, held, recorded, { skipUnwrapIfActivated: false });
    const k = held.right;
    const step2 = decideInstance({ type: 'RecordKeyPair', installationId: id, publicKey: k.publicKey, thumbprint: k.thumbprint, keySize: k.keySize }, s);
    if (E.isLeft(step2)) return E.left({ _tag: 'InstanceRefused', error: step2.left });
    const w = await write(deps, inst.right, step2.right, recorded);
    return E.isLeft(w) ? w : again(w.right === 'conflict');
  }

  // Steps 3–5 are driven by what the start check finds missing.
  const pre = checkBeforeUnwrap(s, dep.right.state, config, heldFrom(held));
  if (E.isLeft(pre) && E.isRight(held)) {
    const k = held.right;
    // Step 3 — installation ID and public key stored in the deployment (again, after a removal, with --rejoin).
    if (pre.left.kind === 'InstallationNotRegistered' || (pre.left.kind === 'InstanceRemoved' && deps.rejoin === true)) {
      const step3 = decideDeployment(
        {
          type: 'StorePublicKey',
          deploymentId: config.deploymentId,
          installationId: id,
          machineName: config.machineName,
          instanceName: config.instanceName,
          thumbprint: k.thumbprint,
          publicKey: k.publicKey,
          rejoin: deps.rejoin === true,
        },
        dep.right.state,
      );
      if (E.isLeft(step3)) return E.left({ _tag: 'DeploymentRefused', error: step3.left });
      const w = await write(deps, dep.right, step3.right, recorded);
      return E.isLeft(w) ? w : again(w.right === 'conflict');
    }
    // Step 4 — the first instance creates the symmetric key, stored wrapped for itself.
    if (pre.left.kind === 'NoSymmetricKey') {
      const key = deps.crypto.createSymmetricKey();
      const jwe = await deps.crypto.wrap(key, k.publicKey)();
      if (E.isLeft(jwe)) return jwe;
      const copy: WrappedCopy = { installationId: id, recipientThumbprint: k.thumbprint, jwe: jwe.right };
      const step4 = decideDeployment({ type: 'CreateSymmetricKey', deploymentId: config.deploymentId, keyCheck: deps.crypto.keyCheck(key), createdBy: id, copy }, dep.right.state);
      if (E.isLeft(step4)) return E.left({ _tag: 'DeploymentRefused', error: step4.left });
      const w = await write(deps, dep.right, step4.right, recorded);
      return E.isLeft(w) ? w : again(w.right === 'conflict');
    }
    // A later instance waits for an activated member to wrap the key for it (join).
    if (pre.left.kind === 'NoWrappedCopy')
      return E.right({ next: 'done', outcome: { installationId: id, deploymentId: config.deploymentId, state: 'waiting-to-join', reason: pre.left } });
  }
  // Step 5 — activated (or refused, with the reason), proven by unwrapping the instance's own copy.
  return checkAndRecord(deps, config, inst.right, dep.right, held, recorded, { skipUnwrapIfActivated: true });
};

const startPass = async (deps: InstanceDeps, config: InstanceConfig, recorded: Array<LedgerEvent['type']>, keys: HeldCache): Promise<Pass> => {
  const inst = await loadInstance(deps.store, config.installationId)();
  if (E.isLeft(inst)) return inst;
  const dep = await loadDeployment(deps.store, config.deploymentId, deps.snapshots)();
  if (E.isLeft(dep)) return dep;
  const held = await keys.get();
  return checkAndRecord(deps, config, inst.right, dep.right, held, recorded, { skipUnwrapIfActivated: false });
};

const run = async (deps: InstanceDeps, config: InstanceConfig, pass: typeof initPass): Promise<E.Either<CommandError, ActivationOutcome>> => {
  const recorded: Array<LedgerEvent['type']> = [];
  const keys = heldCache(deps, config);
  const maxConflicts = deps.maxConflicts ?? 20;
  let conflicts = 0;
  for (let i = 0; i < 100 + maxConflicts; i++) {
    const r = await pass(deps, config, recorded, keys);
    if (E.isLeft(r)) return r;
    if (r.right.next === 'done') return E.right({ ...r.right.outcome, recorded });
    if (r.right.conflict && ++conflicts > maxConflicts)
      return E.left({ _tag: 'TooManyConflicts', stream: instanceStream(config.installationId), attempts: conflicts });
  }
  throw new Error('programmer error: init did not converge');
};

/** Runs (or resumes) the five initialization steps. */
export const initInstance = (deps: InstanceDeps, config: InstanceConfig): Promise<E.Either<CommandError, ActivationOutcome>> => run(deps, config, initPass);

/** The start check, recorded. */
export const startInstance = (deps: InstanceDeps, config: InstanceConfig): Promise<E.Either<CommandError, ActivationOutcome>> => run(deps, config, startPass);
