/**
 * Delete the deployment's encrypted content (rskeymgmt -d; Configuration Manager's "Delete"; docs/adr/0015-content-deletion.md):
 * the last resort when no key backup exists and nobody can prove the key any more — so it never asks for the key.
 * Events are immutable, so this is crypto-shredding: every ciphertext of the deployment is removed from the content
 * store and the key versions are marked destroyed; the wrapped copies left in the ledger then protect nothing, and
 * are never used again. Then the deployment is initialized afresh (`keyledger init`: a new key, a new genesis).
 *
 * Who: a registered member whose signing key the trust walk certifies — or, when no certified member remains (the only
 * one lost its keystore and was removed, the last one was removed), a registered instance's own registered key: the rule
 * a re-genesis follows (src/domain/trust.ts). It signs every event.
 *
 * Three recorded steps, each signed; a crash anywhere leaves every secret either readable (its key not yet destroyed)
 * or gone with its destruction recorded, and a rerun finishes:
 *   1. deployment stream: EncryptedContentDeletionStarted — the intent (no secret is put, no member joined from then on);
 *   2. content stream, in batches: SecretsDestroyed (names, key versions, fingerprints), then those ciphertexts removed;
 *      then every ciphertext of the deployment still stored (ones a crash left unnamed) removed;
 *   3. deployment stream: EncryptedContentDeleted — the key versions with their key checks, every copy of them, the counts.
 */
import * as E from 'fp-ts/Either';
import { type DeploymentState, decideDeployment, versionsToDestroy } from '../domain/deployment/decider';
import { decideContent, type SecretEntry } from '../domain/content/decider';
import type { LedgerEvent } from '../domain/events';
import type { DeploymentId, InstallationId, KeyVersion } from '../domain/ids';
import type { InstanceConfig } from '../domain/instance/decider';
import type { Trust } from '../domain/trust';
import type { KeystoreError, StoredKeyPair } from '../ports/crypto';
import { type Decision, handleCommand } from './handler';
import { type SecretAggregates, type SecretDeps, type SecretError, secretAggregates, type SecretsLoaded } from './secrets';
import { pinnedGenesisOf, signerOf, trustIn } from './signing';

/** Secrets destroyed per SecretsDestroyed batch (one append, one signature, one content-store transaction each). */
export const DELETE_BATCH = 1000;
/** Rounds of steps 2–3 before giving up on a content stream that keeps naming new secrets (only forged events can). */
const MAX_ROUNDS = 5;

/** Why this instance may not delete the content (as evidence: what the ledger and its keystore show). */
export type NotAuthorisedWhy =
  /** Not registered in the deployment (or registered with another key pair than the one it holds). */
  | 'not-registered'
  | 'removed'
  /** Its keystore predates signatures: it could not sign the deletion. */
  | 'no-signing-key'
  /** Certified members remain and it is not one of them (a newcomer waiting to join, a member whose copy no member certified). */
  | 'not-certified'
  /** The ledger's root of trust is not the genesis this instance pinned: the walk that would authorise it cannot be relied on. */
  | 'genesis-not-pinned';

export type DeleteContentError =
  | SecretError
  /** `--confirm` did not name this deployment: nothing was deleted. */
  | { readonly _tag: 'DeletionNotConfirmed'; readonly deploymentId: string; readonly given: string }
  | { readonly _tag: 'DeletionNotAuthorised'; readonly installationId: string; readonly why: NotAuthorisedWhy; readonly members: number };

/** On whose authority a deletion runs: a certified member, or a registered instance when no certified member remains. */
export type Authority = 'certified-member' | 'no-certified-member-remains';

/** What a deletion would destroy (the dry run), or destroys. */
export interface DeletionPlan {
  readonly deploymentId: DeploymentId;
  readonly keyVersions: ReadonlyArray<number>;
  /** The secrets the content stream holds now, by name (sorted). */
  readonly names: ReadonlyArray<string>;
  /** Wrapped copies of those versions in the ledger: they would protect nothing. */
  readonly copies: ReadonlyArray<{ readonly installationId: string; readonly keyVersion: number }>;
  /** A deletion was started before and not finished: running it finishes that one. */
  readonly underway: boolean;
  /** The key was deleted before and no new one created since: nothing is left to destroy but stray ciphertexts. */
  readonly alreadyDeleted: boolean;
  /** Whether this instance may run it. */
  readonly authority: { readonly allowed: true; readonly as: Authority } | { readonly allowed: false; readonly error: DeleteContentError };
  /** Deployment-stream events `verify --signatures` would report: look at them before deleting anything. */
  readonly trustFindings: number;
}

export interface DeleteOutcome {
  readonly deploymentId: DeploymentId;
  readonly deletedBy: InstallationId;
  readonly authority: Authority | null;
  /** The versions destroyed, with their key checks (what identifies a key without revealing it). */
  readonly keys: ReadonlyArray<{ readonly keyVersion: number; readonly keyCheck: string }>;
  /** Secrets destroyed by the deletion (all its runs), and by this run. */
  readonly secrets: number;
  readonly destroyedNow: number;
  /** Secrets' worth of ciphertexts no event named (a write a crash cut short), removed at the end. */
  readonly leftovers: number;
  readonly copies: number;
  /** Whether this run finished a deletion an earlier run started; whether the key was deleted before (nothing recorded). */
  readonly resumed: boolean;
  readonly alreadyDeleted: boolean;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

export interface DeleteOptions {
  /** Destroyed so far, of how many (for a progress bar). */
  readonly progress?: (done: number, total: number) => void;
  readonly batch?: number;
}

const binding = (config: InstanceConfig) => ({ installationId: config.installationId, serviceIdentity: config.serviceIdentity });

/** Whether this instance may delete: the trust walk's rule for a deletion members accept (src/domain/trust.ts `deletionProblem`). */
export const authorityOf = (
  trust: Trust,
  d: DeploymentState,
  id: InstallationId,
  held: E.Either<KeystoreError, StoredKeyPair>,
  deploymentId: DeploymentId,
): E.Either<DeleteContentError, Authority> => {
  if (E.isLeft(held)) return held;
  const k = held.right;
  const members = Object.keys(trust.members).length;
  const refuse = (why: NotAuthorisedWhy): E.Either<DeleteContentError, never> => E.left({ _tag: 'DeletionNotAuthorised', installationId: id, why, members });
  const registered = d.registered[id];
  if (!registered) return refuse(d.removed[id] ? 'removed' : 'not-registered');
  if (registered.thumbprint !== k.thumbprint) return refuse('not-registered');
  if (!k.signing) return refuse('no-signing-key');
  const pinned = pinnedGenesisOf(k, deploymentId);
  if (pinned !== undefined && trust.genesis !== null && trust.genesis.thumbprint !== pinned) return refuse('genesis-not-pinned');
  if (trust.members[id.toLowerCase()]?.signingThumbprint === k.signing.thumbprint) return E.right('certified-member');
  // (Not in a ledger from before signatures: it has no certified member until its genesis is declared, which comes first.)
  if (members === 0 && !trust.unsigned && trust.registered[id.toLowerCase()]?.signingThumbprint === k.signing.thumbprint)
    return E.right('no-certified-member-remains');
  return refuse('not-certified');
};

const planOf = (l: SecretsLoaded, trust: Trust, authority: E.Either<DeleteContentError, Authority>, deploymentId: DeploymentId): DeletionPlan => {
  const d = l.deployment.state;
  const versions = d.deletion?.keyVersions ?? versionsToDestroy(d);
  const gone = new Set<number>(versions);
  const held = [...Object.values(d.previousKey?.copies ?? {}), ...Object.values(d.copies)].filter((h) => gone.has(h.keyVersion));
  return {
    deploymentId,
    keyVersions: [...versions],
    names: [...l.content.state.secrets.values()].map((s) => s.name).sort(),
    copies: [
      ...new Map(held.map((h) => [`${h.copy.installationId}/${h.keyVersion}`, { installationId: h.copy.installationId, keyVersion: h.keyVersion }])).values(),
    ].sort((a, b) => a.keyVersion - b.keyVersion || (a.installationId < b.installationId ? -1 : a.installationId > b.installationId ? 1 : 0)),
    underway: d.deletion !== undefined,
    alreadyDeleted: d.deletion === undefined && d.currentKey === undefined && d.deleted !== undefined,
    authority: E.isRight(authority) ? { allowed: true, as: authority.right } : { allowed: false, error: authority.left },
    trustFindings: trust.findings.length,
  };
};

/** The dry run: what a deletion would destroy, and whether this instance may run it. Nothing is recorded or deleted. */
export const planContentDeletion = async (deps: SecretDeps, config: InstanceConfig): Promise<E.Either<DeleteContentError, DeletionPlan>> => {
  const held = await deps.keystore.load(binding(config))();
  const r = await handleCommand(deps, secretAggregates(config), async (l): Promise<E.Either<DeleteContentError, Decision<SecretAggregates, DeletionPlan>>> => {
    const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
    const authority = authorityOf(trust, l.deployment.state, config.installationId, held, config.deploymentId);
    return E.right({ result: planOf(l, trust, authority, config.deploymentId) });
  });
  return E.isLeft(r) ? r : E.right(r.right.result);
};

/** Deletes (or finishes deleting) the deployment's encrypted content; `confirm` must be its deployment ID. */
export const deleteContent = async (
  deps: SecretDeps,
  config: InstanceConfig,
  confirm: string,
  options: DeleteOptions = {},
): Promise<E.Either<DeleteContentError, DeleteOutcome>> => {
  const dep = config.deploymentId;
  const self = config.installationId;
  if (confirm !== dep) return E.left({ _tag: 'DeletionNotConfirmed', deploymentId: dep, given: confirm });
  const held = await deps.keystore.load(binding(config))();
  const signer = signerOf(deps.crypto, held);
  const aggregates = secretAggregates(config);
  const recorded: LedgerEvent['type'][] = [];

  // ─── 1. The intent (or a deletion under way to finish, or nothing left: deleted before) ───
  type Start = { readonly authority: Authority; readonly resumed: boolean; readonly alreadyDeleted: boolean };
  const step1 = await handleCommand(deps, aggregates, async (l): Promise<E.Either<DeleteContentError, Decision<SecretAggregates, Start>>> => {
    const d = l.deployment.state;
    const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
    const authority = authorityOf(trust, d, self, held, dep);
    if (E.isLeft(authority)) return authority;
    if (!d.deletion && !d.currentKey && d.deleted) return E.right({ result: { authority: authority.right, resumed: false, alreadyDeleted: true } });
    const decided = decideDeployment({ type: 'StartContentDeletion', deploymentId: dep, deletedBy: self, secrets: l.content.state.secrets.size }, d);
    if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
    return E.right({
      append: { to: 'deployment', events: decided.right, signer },
      result: { authority: authority.right, resumed: d.deletion !== undefined, alreadyDeleted: false },
    });
  });
  if (E.isLeft(step1)) return step1;
  recorded.push(...step1.right.appended);
  const start = step1.right.result;
  let loaded = step1.right.loaded;

  // ─── 2. Every secret destroyed, batch by batch: its destruction recorded, then its ciphertexts removed ───
  const batch = options.batch ?? DELETE_BATCH;
  const total = loaded.content.state.secrets.size;
  let destroyedNow = 0;
  let leftovers = 0;
  if (!start.alreadyDeleted) options.progress?.(0, total);
  let done: Done | undefined;
  // Steps 2 and 3 again only if a secret appeared in the content stream meanwhile (no member can put one: a forged event).
  for (let round = 0; done === undefined; round++) {
    if (round === MAX_ROUNDS) return E.left({ _tag: 'TooManyConflicts', stream: loaded.content.stream, attempts: round });
    const destroyed = await destroyBatches(deps, config, loaded, signer, batch, (n) => {
      destroyedNow += n;
      options.progress?.(destroyedNow, Math.max(total, destroyedNow));
    });
    if (E.isLeft(destroyed)) return destroyed;
    loaded = destroyed.right.loaded;
    recorded.push(...destroyed.right.recorded);
    // ─── 3. Whatever ciphertext of the deployment is still stored, then the key versions destroyed ───
    const stray = await deps.content.destroyAll(dep)();
    if (E.isLeft(stray)) return stray;
    leftovers += stray.right;
    await deps.pause?.('delete-content:after-leftovers-removed');
    const completed = await complete(deps, config, loaded, signer);
    if (E.isLeft(completed)) return completed;
    loaded = completed.right.loaded;
    recorded.push(...completed.right.appended);
    done = completed.right.result;
  }
  return E.right({
    deploymentId: dep,
    deletedBy: self,
    authority: start.authority,
    keys: done.keys,
    secrets: done.secrets,
    destroyedNow,
    leftovers,
    copies: done.copies,
    resumed: start.resumed,
    alreadyDeleted: start.alreadyDeleted,
    recorded,
  });
};

/** Step 2: batch after batch, SecretsDestroyed recorded (signed), then those secrets' ciphertexts removed from the content store. */
const destroyBatches = async (
  deps: SecretDeps,
  config: InstanceConfig,
  from: SecretsLoaded,
  signer: ReturnType<typeof signerOf>,
  batch: number,
  destroyed: (n: number) => void,
): Promise<E.Either<DeleteContentError, { readonly loaded: SecretsLoaded; readonly recorded: ReadonlyArray<LedgerEvent['type']> }>> => {
  const dep = config.deploymentId;
  const recorded: LedgerEvent['type'][] = [];
  let loaded = from;
  for (;;) {
    const r = await handleCommand(
      deps,
      secretAggregates(config),
      async (l): Promise<E.Either<DeleteContentError, Decision<SecretAggregates, ReadonlyArray<SecretEntry>>>> => {
        const deletion = l.deployment.state.deletion;
        if (!deletion) return E.right({ result: [] }); // finished (by this run before a crash, or by another member)
        const todo = [...l.content.state.secrets.values()].slice(0, batch);
        const decided = decideContent(
          { type: 'DestroySecrets', deploymentId: dep, by: config.installationId, keyVersions: deletion.keyVersions, secrets: todo },
          l.content.state,
        );
        if (E.isLeft(decided)) return decided;
        return E.right({ append: { to: 'content', events: decided.right, signer }, result: todo });
      },
      loaded,
    );
    if (E.isLeft(r)) return r;
    loaded = r.right.loaded;
    if (r.right.appended.length === 0) break;
    recorded.push(...r.right.appended);
    // The ciphertexts go only now that their destruction is recorded (a crash before leaves rows no event names: step 3 takes them).
    const names = r.right.result.map((s) => s.name);
    const removed = await deps.content.destroy(dep, names)();
    if (E.isLeft(removed)) return removed;
    destroyed(names.length);
    await deps.pause?.('delete-content:after-batch');
  }
  return E.right({ loaded, recorded });
};

/** Step 3's record: EncryptedContentDeleted (undefined result: the content stream names a secret again — another round). */
const complete = async (deps: SecretDeps, config: InstanceConfig, from: SecretsLoaded, signer: ReturnType<typeof signerOf>) =>
  handleCommand(
    deps,
    secretAggregates(config),
    async (l): Promise<E.Either<DeleteContentError, Decision<SecretAggregates, Done | undefined>>> => {
      const deletion = l.deployment.state.deletion;
      const batches = l.content.events.filter(
        (e) => e.event.type === 'SecretsDestroyed' && deletion !== undefined && sameVersions(e.event.data.keyVersions, deletion.keyVersions),
      );
      const secrets = batches.reduce((n, e) => n + (e.event.type === 'SecretsDestroyed' ? e.event.data.secrets.length : 0), 0);
      if (!deletion) {
        const last = [...l.deployment.events].reverse().find((e) => e.event.type === 'EncryptedContentDeleted')?.event;
        const data = last?.type === 'EncryptedContentDeleted' ? last.data : undefined;
        return E.right({ result: { keys: data?.keys ?? [], secrets: data?.secrets ?? 0, copies: data?.copies.length ?? 0 } });
      }
      if (l.content.state.secrets.size > 0) return E.right({ result: undefined });
      const decided = decideDeployment(
        {
          type: 'CompleteContentDeletion',
          deploymentId: config.deploymentId,
          deletedBy: config.installationId,
          secrets,
          contentRevisions: batches.map((e) => e.revision.toString()),
        },
        l.deployment.state,
      );
      if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused', error: decided.left });
      const ev = decided.right[0];
      const data = ev?.type === 'EncryptedContentDeleted' ? ev.data : undefined;
      return E.right({
        append: { to: 'deployment', events: decided.right, signer },
        result: { keys: data?.keys ?? [], secrets, copies: data?.copies.length ?? 0 },
      });
    },
    from,
  );

type Done = { readonly keys: DeleteOutcome['keys']; readonly secrets: number; readonly copies: number };

const sameVersions = (a: ReadonlyArray<KeyVersion>, b: ReadonlyArray<KeyVersion>): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
