/**
 * Re-create the deployment's symmetric key (rskeymgmt -s; docs/adr/0014-key-re-creation.md), in three recorded
 * steps, each signed by the member that proves the current key (as `secret` and `backup` prove it):
 *
 *   1. deployment stream: SymmetricKeyCreated for version N+1 (the creator's copy and key check) and, in the same
 *      append, a SymmetricKeyWrapped for each other active member (activated, signing key registered, copy current);
 *   2. content stream, in batches of up to 1,000 (in name order): every secret still under N read as a reader reads it
 *      (the signatures of the events it was read from checked together, off the main thread) and sealed under N+1, the
 *      new ciphertexts written beside the old ones, then one signed SecretsReencrypted recorded for the batch, then the
 *      old ciphertexts removed;
 *   3. deployment stream: KeyVersionRetired for N.
 *
 * Until step 3 the deployment state keeps version N and each member's copy of it (`previousKey`), and a reader
 * proves both: a crash anywhere leaves every secret readable, and a rerun sees where it stopped (a version not yet
 * retired, secrets still under it) and finishes.
 */
import * as E from 'fp-ts/Either';
import { currentCopyOf, decideDeployment } from '../domain/deployment/decider';
import { type ContentState, decideContent, type SecretEntry } from '../domain/content/decider';
import { type Fingerprint, type LedgerEvent, MAX_REENCRYPTED_PER_EVENT, type SecretName, type WrappedCopy } from '../domain/events';
import type { InstallationId, KeyVersion } from '../domain/ids';
import type { InstanceConfig } from '../domain/instance/decider';
import type { KeystoreError, SigningKeyPair, StoredKeyPair } from '../ports/crypto';
import { type Decision, handleCommand, type Loaded, loadAggregate } from './handler';
import { instanceAggregate, startInstance } from './instance';
import {
  eventChecker,
  type Proven,
  proveKey,
  readSecrets,
  type SecretAggregates,
  type SecretDeps,
  type SecretError,
  secretAggregates,
  type SecretsLoaded,
} from './secrets';

/** Secrets re-encrypted per batch: one SecretsReencrypted (one signature) and one content-store transaction each. */
export const RECREATE_BATCH = MAX_REENCRYPTED_PER_EVENT;

/** Batches whose signatures are being checked ahead of the one re-encrypted (bounded: their texts wait in memory). */
const LOOKAHEAD = 2;

export interface RecreateOutcome {
  /** The version created (by this run or the run it resumed). */
  readonly keyVersion: KeyVersion;
  readonly retiredVersion: KeyVersion;
  /** Whether this run created the version (false: it resumed an unfinished re-creation). */
  readonly created: boolean;
  /** Members the new version was wrapped for (this run). */
  readonly wrappedFor: ReadonlyArray<InstallationId>;
  /** Members left with a stale copy: not active when it ran; `join` from a member wraps the new version for them. */
  readonly stale: ReadonlyArray<InstallationId>;
  /** Secrets re-encrypted by this run. */
  readonly reencrypted: number;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
  /**
   * This instance's start check under the new version (as `restore` does): activated, or why not. The re-creation
   * is complete either way — a rerun would create yet another version — so a failed start is reported, not returned.
   */
  readonly thisInstance: { readonly activated: true } | { readonly activated: false; readonly why: string };
}

export interface RecreateOptions {
  /** Re-encrypted so far, of how many (for a progress bar). */
  readonly progress?: (done: number, total: number) => void;
  readonly batch?: number;
}

/** Members the new version is wrapped for: the creator, and each member whose last start outcome is an activation. */
const activeMembers = async (deps: SecretDeps, l: SecretsLoaded, self: InstallationId): Promise<E.Either<SecretError, ReadonlyArray<InstallationId>>> => {
  const d = l.deployment.state;
  const out: InstallationId[] = [];
  for (const r of Object.values(d.registered)) {
    const held = currentCopyOf(d, r.installationId);
    if (!held || held.copy.recipientThumbprint !== r.thumbprint) continue;
    if (r.installationId === self) {
      out.push(r.installationId);
      continue;
    }
    if (!r.signing) continue; // its copy could not be certified: it re-joins after a `trust`
    const inst = await loadAggregate(deps.store, instanceAggregate(r.installationId), deps.digest)();
    if (E.isLeft(inst)) return inst;
    if (inst.right.state.status === 'Activated') out.push(r.installationId);
  }
  return E.right(out);
};

type Row = { readonly name: string; readonly fingerprint: Fingerprint };

/** A batch's ciphertexts in one transaction where the content store has them, one by one otherwise. */
const writeRows = async (deps: SecretDeps, dep: string, rows: ReadonlyArray<Row & { readonly jwe: string }>): Promise<E.Either<SecretError, void>> => {
  if (deps.content.writeMany) return deps.content.writeMany(dep, rows)();
  for (const r of rows) {
    const w = await deps.content.write(dep, r.name, r.fingerprint, r.jwe)();
    if (E.isLeft(w)) return w;
  }
  return E.right(undefined);
};

const removeRows = async (deps: SecretDeps, dep: string, rows: ReadonlyArray<Row>): Promise<E.Either<SecretError, void>> => {
  if (deps.content.removeMany) return deps.content.removeMany(dep, rows)();
  for (const r of rows) {
    const w = await deps.content.remove(dep, r.name, r.fingerprint)();
    if (E.isLeft(w)) return w;
  }
  return E.right(undefined);
};

/**
 * The secrets still under the replaced version, in name order (the content store's rows are keyed by name: its writes
 * stay sequential): the first `n` from where the last call's finished ones end. When the order runs out it is taken
 * from the state again, so a secret put under that version meanwhile (a racing `secret put`) is not missed.
 */
const pendingIn = (previous: KeyVersion) => {
  let order: ReadonlyArray<string> = [];
  let at = 0;
  return (s: ContentState, n: number): ReadonlyArray<SecretEntry> => {
    const under = (name: string): SecretEntry | undefined => {
      const e = s.secrets.get(name);
      return e?.keyVersion === previous ? e : undefined;
    };
    while (at < order.length && under(order[at]!) === undefined) at++;
    if (at >= order.length) {
      order = [...s.secrets.values()]
        .filter((e) => e.keyVersion === previous)
        .map((e) => e.name as string)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      at = 0;
    }
    const out: SecretEntry[] = [];
    for (let i = at; i < order.length && out.length < n; i++) {
      const e = under(order[i]!);
      if (e) out.push(e);
    }
    return out;
  };
};

/** The ciphertexts the last SecretsReencrypted from `previous` to `current` superseded, when no longer current. */
const supersededByLastBatch = (content: Loaded<ContentState>, current: KeyVersion, previous: KeyVersion): ReadonlyArray<Row> => {
  for (let i = content.events.length - 1; i >= 0; i--) {
    const e = content.events[i]!.event;
    if (e.type !== 'SecretsReencrypted' || e.data.keyVersion !== current || e.data.previousKeyVersion !== previous) continue;
    return e.data.secrets
      .filter((x) => content.state.secrets.get(x.name)?.fingerprint !== x.previousFingerprint)
      .map((x) => ({ name: x.name, fingerprint: x.previousFingerprint }));
  }
  return [];
};

/** What steps 2 and 3 work with: the proof of both keys, the version being retired. */
interface Reencryption {
  readonly deps: SecretDeps;
  readonly config: InstanceConfig;
  readonly proven: Proven;
  readonly previous: KeyVersion;
  readonly batch: number;
  /** This instance's signing key: its own events are checked by signing them again. */
  readonly own: SigningKeyPair | undefined;
  /** What was recorded so far (appended to). */
  readonly recorded: LedgerEvent['type'][];
  readonly options: RecreateOptions;
}

/**
 * Steps 2 and 3: every secret still under the previous version re-encrypted, batch by batch, then that version retired
 * (again from step 2 if the retirement finds a secret still under it).
 */
const reencryptAndRetire = async (
  x: Reencryption,
  from: SecretsLoaded,
): Promise<E.Either<SecretError, { readonly loaded: SecretsLoaded; readonly reencrypted: number }>> => {
  const { deps, config, proven, previous, batch, recorded, options } = x;
  const dep = config.deploymentId;
  const self = config.installationId;
  const current = proven.keyVersion;
  let loaded = from;
  let reencrypted = 0;
  const pending = pendingIn(previous);
  // Verdicts on the events secrets were read from, by event hash: a SecretsReencrypted of an earlier re-creation is verified once.
  const checker = eventChecker(deps.crypto.signing, proven.trust, x.own);
  let total = pending(loaded.content.state, Number.POSITIVE_INFINITY).length;
  options.progress?.(0, total);
  for (;;) {
    for (;;) {
      const r = await handleCommand(
        deps,
        secretAggregates(config),
        async (l) => {
          const ahead = pending(l.content.state, (1 + LOOKAHEAD) * batch);
          const todo = ahead.slice(0, batch);
          // The next batches' signatures start verifying now, off this thread, while this one is re-encrypted and recorded.
          checker.start(ahead.slice(batch).map((entry) => l.content.events[entry.revision]!));
          // Read as a reader reads them: each event that recorded one signed by a certified member (each event verified once).
          const read = await readSecrets(
            deps,
            dep,
            proven,
            l.content,
            todo.map((e) => e.name),
            checker,
          );
          if (E.isLeft(read)) return read;
          const superseded: Array<{ name: string; fingerprint: Fingerprint }> = [];
          const rows: Array<{ name: SecretName; fingerprint: Fingerprint; jwe: string }> = [];
          for (const { entry, value } of read.right) {
            const jwe = deps.cipher.seal(proven.key, value, { deploymentId: dep, name: entry.name, keyVersion: current });
            value.fill(0);
            rows.push({ name: entry.name, fingerprint: deps.cipher.fingerprint(jwe), jwe });
            superseded.push({ name: entry.name, fingerprint: entry.fingerprint });
          }
          const decided = decideContent(
            { type: 'ReencryptSecrets', deploymentId: dep, keyVersion: current, previousKeyVersion: previous, secrets: rows, by: self },
            l.content.state,
          );
          if (E.isLeft(decided)) return decided;
          // The new ciphertexts beside the old ones first: a batch is never recorded without its ciphertexts.
          const written = await writeRows(deps, dep, rows);
          if (E.isLeft(written)) return written;
          await deps.pause?.('recreate:after-content-written');
          return E.right({ append: { to: 'content' as const, events: decided.right, signer: proven.signer }, result: superseded });
        },
        loaded,
      );
      if (E.isLeft(r)) return r;
      loaded = r.right.loaded;
      if (r.right.result.length === 0) break;
      recorded.push(...r.right.appended);
      // The superseded ciphertexts go only now that the new ones are recorded.
      const removed = await removeRows(deps, dep, r.right.result);
      if (E.isLeft(removed)) return removed;
      reencrypted += r.right.result.length;
      total = Math.max(total, reencrypted);
      options.progress?.(reencrypted, total);
      await deps.pause?.('recreate:after-batch');
    }

    // ─── 3. The previous version retired ───
    const retire = await handleCommand(
      deps,
      secretAggregates(config),
      async (l) => {
        const p = l.deployment.state.previousKey;
        if (!p) return E.right({ result: 'retired' as const });
        // A secret still under it (a put that raced this run, decided on the deployment as it was before step 1, seen on a
        // reload): re-encrypted first, then retired.
        const left = [...l.content.state.secrets.values()].some((s) => s.keyVersion === p.key.keyVersion);
        if (left && p.key.keyVersion === previous) return E.right({ result: 'pending' as const });
        // Another run's re-creation (it finished this one and began the next): that run retires its own.
        if (left || p.key.keyVersion !== previous)
          return E.left({
            _tag: 'DeploymentRefused' as const,
            error: { _tag: 'RecreationUnfinished' as const, previousVersion: p.key.keyVersion, currentVersion: l.deployment.state.currentKey!.keyVersion },
          });
        const secrets = [...l.content.state.secrets.values()].filter((s) => s.keyVersion === current).length;
        const decided = decideDeployment(
          { type: 'RetireKeyVersion', deploymentId: dep, retiredBy: self, keyVersion: p.key.keyVersion, secrets },
          l.deployment.state,
        );
        if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused' as const, error: decided.left });
        return E.right({ append: { to: 'deployment' as const, events: decided.right, signer: proven.signer }, result: 'retired' as const });
      },
      loaded,
    );
    if (E.isLeft(retire)) return retire as E.Either<SecretError, never>;
    loaded = retire.right.loaded;
    if (retire.right.result === 'pending') continue;
    recorded.push(...retire.right.appended);
    break;
  }
  return E.right({ loaded, reencrypted });
};

export const recreateKey = async (deps: SecretDeps, config: InstanceConfig, options: RecreateOptions = {}): Promise<E.Either<SecretError, RecreateOutcome>> => {
  const dep = config.deploymentId;
  const self = config.installationId;
  const held: E.Either<KeystoreError, StoredKeyPair> = await deps.keystore.load({ installationId: self, serviceIdentity: config.serviceIdentity })();
  const recorded: LedgerEvent['type'][] = [];

  // ─── 1. The new version, wrapped for every active member (or nothing: a re-creation is under way) ───
  interface Created {
    readonly created: boolean;
    readonly wrappedFor: ReadonlyArray<InstallationId>;
    readonly keyCheck: { readonly keyVersion: KeyVersion; readonly keyCheck: string } | undefined;
  }
  const step1 = await handleCommand(deps, secretAggregates(config), async (l): Promise<E.Either<SecretError, Decision<SecretAggregates, Created>>> => {
    const proven = await proveKey(deps, config, l, held);
    if (E.isLeft(proven)) return proven;
    if (E.isLeft(held)) return held;
    const d = l.deployment.state;
    if (d.deletion)
      return E.left({ _tag: 'DeploymentRefused' as const, error: { _tag: 'ContentDeletionUnderway' as const, keyVersions: d.deletion.keyVersions } });
    if (d.previousKey) return E.right({ result: { created: false, wrappedFor: [], keyCheck: undefined } });
    const active = await activeMembers(deps, l, self);
    if (E.isLeft(active)) return active;
    const key = deps.crypto.createSymmetricKey();
    const keyCheck = deps.crypto.keyCheck(key);
    const keyVersion = (proven.right.keyVersion + 1) as KeyVersion;
    const copies: WrappedCopy[] = [];
    for (const id of active.right) {
      const r = d.registered[id]!;
      const jwe = await deps.crypto.wrap(key, r.publicKey, { deploymentId: dep, installationId: id, keyVersion })();
      if (E.isLeft(jwe)) return jwe;
      copies.push({ installationId: id, recipientThumbprint: r.thumbprint, jwe: jwe.right });
    }
    const decided = decideDeployment(
      { type: 'RecreateKey', deploymentId: dep, createdBy: self, creatorThumbprint: held.right.thumbprint, keyCheck, copies },
      d,
    );
    if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused' as const, error: decided.left });
    return E.right({
      append: { to: 'deployment' as const, events: decided.right, signer: proven.right.signer },
      result: { created: true, wrappedFor: active.right, keyCheck: { keyVersion, keyCheck } },
    });
  });
  if (E.isLeft(step1)) return step1 as E.Either<SecretError, never>;
  recorded.push(...step1.right.appended);
  if (step1.right.result.keyCheck) {
    // The creator pins what it created: a key planted later under this version is refused.
    const pinned = deps.keystore.pinKeyCheck(dep, step1.right.result.keyCheck.keyVersion, step1.right.result.keyCheck.keyCheck);
    if (E.isLeft(pinned)) return pinned;
  }
  await deps.pause?.('recreate:after-key-created');

  // ─── 2 and 3. Every secret still under the previous version re-encrypted, then that version retired ───
  let loaded = step1.right.loaded;
  const proven = await proveKey(deps, config, loaded, held);
  if (E.isLeft(proven)) return proven;
  // Step 1 created the version (the one it replaced is kept until retired) or found one being created.
  const previous = loaded.deployment.state.previousKey?.key.keyVersion;
  if (previous === undefined) throw new Error('programmer error: no previous key version after step 1');
  const current = proven.right.keyVersion;
  const batch = Math.min(options.batch ?? RECREATE_BATCH, MAX_REENCRYPTED_PER_EVENT);
  if (proven.right.previous?.keyVersion !== previous)
    return E.left({ _tag: 'SecretsNotActivated', installationId: self, reason: { _tag: 'NoWrappedCopy', keyVersion: previous } });
  // A run stopped after recording a batch but before removing the ciphertexts it superseded left them behind (under
  // the old version): the last batch of this re-creation names them (each earlier one was removed before the next).
  const leftBehind = step1.right.result.created ? [] : supersededByLastBatch(loaded.content, current, previous);
  if (leftBehind.length > 0) {
    const removed = await removeRows(deps, dep, leftBehind);
    if (E.isLeft(removed)) return removed;
  }
  const own = E.isRight(held) ? held.right.signing : undefined;
  const done = await reencryptAndRetire({ deps, config, proven: proven.right, previous, batch, own, recorded, options }, loaded);
  if (E.isLeft(done)) return done;
  loaded = done.right.loaded;
  const reencrypted = done.right.reencrypted;
  const d = loaded.deployment.state;
  const stale = Object.values(d.registered)
    .filter((r) => !currentCopyOf(d, r.installationId) && d.copies[r.installationId] !== undefined)
    .map((r) => r.installationId);
  // ─── 4. This instance proves the new version at once (its status stays "activated", as SSRS's server stays up) ───
  const started = await startInstance(deps, config);
  const thisInstance: RecreateOutcome['thisInstance'] = E.isLeft(started)
    ? { activated: false, why: started.left._tag }
    : started.right.state === 'activated'
      ? { activated: true }
      : { activated: false, why: started.right.reason?._tag ?? started.right.state };
  if (E.isRight(started)) recorded.push(...started.right.recorded);
  return E.right({
    keyVersion: current,
    retiredVersion: previous,
    created: step1.right.result.created,
    wrappedFor: step1.right.result.wrappedFor,
    stale,
    reencrypted,
    recorded,
    thisInstance,
  });
};
