/**
 * Key backup and restore (rskeymgmt -e / -a; docs/adr/0012-key-backup-and-restore.md).
 *
 * backup, on a member that holds the key: it proves its copy as the start check does (unwrapped, certified
 * back to its pinned genesis), seals the key into a password-protected file, writes it, then records
 * `KeyBackedUp` (who, when, key version, the file's fingerprint) signed by its signing key.
 *
 * restore, on a registered instance whose copy is lost, unusable or of no use (a new key pair, the last
 * member removed): it refuses before any work a file that is malformed, asks for too many iterations, names
 * another deployment or an older key version, does not open with the password, or whose key is not the
 * deployment's signed key check. Then, in one append, it wraps the key for its own public key
 * (`SymmetricKeyWrapped`) and records `KeyRestored` — after `GenesisDeclared` when no certified member
 * remains (#7's re-genesis: other members accept it with `trust --expect-genesis`). Then it starts.
 * A rerun after a crash finds its copy recorded and only starts.
 */
import * as E from 'fp-ts/Either';
import { currentCopyOf, decideDeployment, isDestroyed } from '../domain/deployment/decider';
import type { Base64Url, Fingerprint, Iterations, LedgerEvent } from '../domain/events';
import type { DeploymentId, InstallationId, KeyVersion, Thumbprint } from '../domain/ids';
import type { InstanceConfig } from '../domain/instance/decider';
import { explainRefusal } from '../domain/refusal';
import type { StoredKeyPair, SymmetricKeyHandle } from '../ports/crypto';
import type { BackupReadError, BackupSealError, KeyBackupCipher } from '../ports/key-backup';
import type { Trust } from '../domain/trust';
import { type Decision, handleCommand, type LoadedAll } from './handler';
import {
  type ActivationOutcome,
  type CommandError,
  type InstanceDeps,
  isKeystoreError,
  type MemberAggregates,
  memberAggregates,
  startInstance,
  unwrapOwnCopy,
} from './instance';
import { pinnedGenesisOf, signerOf, trustIn, trustProblem } from './signing';

export interface BackupDeps extends InstanceDeps {
  readonly backups: KeyBackupCipher;
}

export type BackupError =
  | CommandError
  | BackupReadError
  | BackupSealError
  /** This instance holds no usable copy of the current key: it cannot back it up. */
  | { readonly _tag: 'CannotProveKey'; readonly installationId: string; readonly detail: string }
  /** The file could not be written (exists without --force, or I/O): nothing was recorded. */
  | { readonly _tag: 'BackupFileNotWritten'; readonly path: string; readonly detail: string; readonly exists: boolean }
  /** The backup's header names another deployment than this instance's config. */
  | { readonly _tag: 'BackupOfAnotherDeployment'; readonly backup: string; readonly config: string }
  /** restore needs this installation registered (init) and a keystore with a signing key. */
  | { readonly _tag: 'RestoreNeedsRegistration'; readonly installationId: string }
  | { readonly _tag: 'RestoreNeedsSigningKey'; readonly installationId: string }
  /** Certified members remain: one of them joins this instance; a restore would need a re-genesis, refused while they remain. */
  | { readonly _tag: 'MembersRemain'; readonly installationId: string; readonly members: number }
  /** The deployment's key check for the version is not signed by a member it trusts: the backup cannot be checked against it. */
  | { readonly _tag: 'KeyCheckNotTrusted'; readonly keyVersion: number }
  /** The key this instance held for that version (its pin) is not the backup's: someone else's deployment, or a ledger rewritten. */
  | { readonly _tag: 'BackupNotThePinnedKey'; readonly keyVersion: number };

export interface BackupOutcome {
  readonly installationId: InstallationId;
  readonly deploymentId: DeploymentId;
  readonly keyVersion: number;
  readonly fingerprint: string;
  readonly iterations: number;
  readonly genesisThumbprint: string | null;
  readonly path: string;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

/** Writes the file (0600, atomically, refusing to overwrite unless asked): done by the caller, before the event is recorded. */
export type WriteBackup = (text: string) => E.Either<{ readonly detail: string; readonly exists: boolean }, string>;

const binding = (config: InstanceConfig) => ({ installationId: config.installationId, serviceIdentity: config.serviceIdentity });

/** The key of the current version, proved as the start check proves it. */
const provenKey = async (
  deps: InstanceDeps,
  config: InstanceConfig,
  l: LoadedAll<MemberAggregates>,
  held: StoredKeyPair,
): Promise<E.Either<BackupError, SymmetricKeyHandle>> => {
  const id = config.installationId;
  const state = l.deployment.state;
  const copy = currentCopyOf(state, id);
  if (!copy || !state.currentKey)
    return E.left({
      _tag: 'CannotProveKey',
      installationId: id,
      detail: 'it holds no copy of the current key version (run the backup on an activated member)',
    });
  const plan = { keyVersion: copy.keyVersion, copy, expectedKeyCheck: state.currentKey.keyCheck, thumbprint: held.thumbprint };
  const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
  const proven = await unwrapOwnCopy(deps.crypto, plan, held.privateKey, { keystore: deps.keystore, deploymentId: config.deploymentId }, () =>
    trustProblem(trust, held, config.deploymentId, plan.keyVersion, plan.expectedKeyCheck),
  );
  if (E.isRight(proven)) return proven;
  return isKeystoreError(proven.left)
    ? E.left(proven.left)
    : E.left({ _tag: 'CannotProveKey', installationId: id, detail: explainRefusal(proven.left).summary });
};

/** Exports the current key to a password-protected file and records it. */
export const backupKey = async (
  deps: BackupDeps,
  config: InstanceConfig,
  password: string,
  iterations: number,
  path: string,
  write: WriteBackup,
): Promise<E.Either<BackupError, BackupOutcome>> => {
  const id = config.installationId;
  const held = await deps.keystore.load(binding(config))();
  if (E.isLeft(held)) return held;
  const signer = signerOf(deps.crypto, held.right);
  const aggregates = memberAggregates(config);
  // First: prove the key and write the file (no event yet: an event must never claim a file that was not written).
  const sealed = await handleCommand(deps, aggregates, async (l) => {
    // A key being destroyed with the encrypted content is not backed up (docs/adr/0015): nothing is written.
    const deletion = l.deployment.state.deletion;
    if (deletion) return E.left({ _tag: 'DeploymentRefused' as const, error: { _tag: 'ContentDeletionUnderway' as const, keyVersions: deletion.keyVersions } });
    const key = await provenKey(deps, config, l, held.right);
    if (E.isLeft(key)) return key;
    const keyVersion = l.deployment.state.currentKey!.keyVersion;
    const genesisThumbprint = trustIn(deps.crypto, l.deployment.events, deps.remembered).genesis?.thumbprint ?? null;
    const text = await deps.backups.seal(key.right, { deploymentId: config.deploymentId, keyVersion, genesisThumbprint }, password, iterations)();
    if (E.isLeft(text)) return text;
    return E.right({ result: { text: text.right, keyVersion, genesisThumbprint } });
  });
  if (E.isLeft(sealed)) return sealed;
  const { text, keyVersion, genesisThumbprint } = sealed.right.result;
  const written = write(text);
  if (E.isLeft(written)) return E.left({ _tag: 'BackupFileNotWritten', path, ...written.left });
  await deps.pause?.(`${deps.ctx.command}:after-file-written`);
  const fingerprint = deps.backups.fingerprint(text) as Fingerprint;
  const recorded = await handleCommand(
    deps,
    aggregates,
    async (l) => {
      const decided = decideDeployment(
        {
          type: 'RecordBackup',
          deploymentId: config.deploymentId,
          installationId: id,
          keyVersion: keyVersion as KeyVersion,
          fingerprint,
          iterations: iterations as Iterations,
          genesisThumbprint: genesisThumbprint as Thumbprint | null,
        },
        l.deployment.state,
      );
      if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused' as const, error: decided.left });
      return E.right({ append: { to: 'deployment' as const, events: decided.right, signer }, result: undefined });
    },
    sealed.right.loaded,
  );
  if (E.isLeft(recorded)) return recorded;
  return E.right({
    installationId: id,
    deploymentId: config.deploymentId,
    keyVersion,
    fingerprint,
    iterations,
    genesisThumbprint,
    path,
    recorded: recorded.right.appended,
  });
};

export interface RestoreOutcome {
  readonly installationId: InstallationId;
  readonly deploymentId: DeploymentId;
  readonly keyVersion: number;
  readonly fingerprint: string;
  /** The genesis this instance declared (the thumbprint other members confirm with `trust --expect-genesis`), or null. */
  readonly genesisDeclared: string | null;
  readonly alreadyRestored: boolean;
  readonly activation: ActivationOutcome;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

type RestorePlan =
  | { readonly _tag: 'AlreadyRestored'; readonly keyVersion: number; readonly genesisDeclared: string | null }
  | { readonly _tag: 'Restored'; readonly keyVersion: number; readonly genesisDeclared: string | null };

/** Applies a backup file's key to this instance (its current key pair), then runs the start check. */
export const restoreKey = async (deps: BackupDeps, config: InstanceConfig, text: string, password: string): Promise<E.Either<BackupError, RestoreOutcome>> => {
  const id = config.installationId;
  // Refusals that need neither the ledger nor the password: shape, iteration ceiling, deployment.
  const header = deps.backups.inspect(text);
  if (E.isLeft(header)) return header;
  if (header.right.deploymentId !== config.deploymentId)
    return E.left({ _tag: 'BackupOfAnotherDeployment', backup: header.right.deploymentId, config: config.deploymentId });
  const held = await deps.keystore.load(binding(config))();
  // No keystore: this installation never got its key pair here (or lost it): init first, as the remedies say.
  if (E.isLeft(held)) return held.left.problem === 'missing' ? E.left({ _tag: 'RestoreNeedsRegistration', installationId: id }) : held;
  const k = held.right;
  if (!k.signing) return E.left({ _tag: 'RestoreNeedsSigningKey', installationId: id });
  const signer = signerOf(deps.crypto, k);
  // The file's JWE, as `backup` fingerprinted it (without the line end the file ends with): a restore names the backup it applied.
  const fingerprint = deps.backups.fingerprint(text.trim()) as Fingerprint;
  let declared: string | null = null;
  const r = await handleCommand(deps, memberAggregates(config), async (l): Promise<E.Either<BackupError, { readonly result: RestorePlan }>> => {
    const state = l.deployment.state;
    const current = state.currentKey;
    // A backup of a version destroyed with the encrypted content restores nothing (docs/adr/0015), before or after a new init.
    if (isDestroyed(state, header.right.keyVersion))
      return E.left({ _tag: 'DeploymentRefused', error: { _tag: 'KeyVersionDestroyed', keyVersion: header.right.keyVersion as KeyVersion } });
    if (!current) return E.left({ _tag: 'DeploymentRefused', error: { _tag: 'NoKeyToWrap' } });
    // An older (or unknown) key version is refused before the password is used.
    if (header.right.keyVersion !== current.keyVersion)
      return E.left({
        _tag: 'DeploymentRefused',
        error: { _tag: 'BackupKeyVersion', backup: header.right.keyVersion as KeyVersion, current: current.keyVersion },
      });
    const registered = state.registered[id];
    if (!registered || registered.thumbprint !== k.thumbprint || registered.signing?.signingThumbprint !== k.signing?.thumbprint)
      return E.left({ _tag: 'RestoreNeedsRegistration', installationId: id });
    const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
    const own = trust.copies[id.toLowerCase()];
    const copy = currentCopyOf(state, id);
    if (copy && copy.copy.recipientThumbprint === k.thumbprint && own?.trusted && own.keyVersion === current.keyVersion) {
      // Restored already (a rerun), or never lost: only the start check is left.
      return E.right({ result: { _tag: 'AlreadyRestored', keyVersion: current.keyVersion, genesisDeclared: null } });
    }
    return E.right({ result: { _tag: 'Restored', keyVersion: current.keyVersion, genesisDeclared: null } });
  });
  if (E.isLeft(r)) return r;
  const loaded = r.right.loaded;
  const recorded: Array<LedgerEvent['type']> = [];
  // The password, then the key against the deployment's key check (and this instance's pin, if it held that version): always, a rerun too.
  const key = await deps.backups.open(text, password)();
  if (E.isLeft(key)) return key;
  const keyCheck = deps.crypto.keyCheck(key.right);
  const v = header.right.keyVersion;
  if (keyCheck !== loaded.deployment.state.currentKey?.keyCheck)
    return E.left({ _tag: 'DeploymentRefused', error: { _tag: 'BackupKeyMismatch', keyVersion: v as KeyVersion } });
  const pinned = deps.keystore.pinnedKeyCheck(config.deploymentId, v);
  if (E.isLeft(pinned)) return pinned;
  if (r.right.result._tag === 'Restored') {
    const appended = await handleCommand(
      deps,
      memberAggregates(config),
      async (l): Promise<E.Either<BackupError, Decision<MemberAggregates, undefined>>> => {
        const state = l.deployment.state;
        const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
        const signed = trust.keyChecks[v];
        if (state.currentKey?.keyCheck === keyCheck && !(signed?.trusted && signed.keyCheck === keyCheck))
          return E.left({ _tag: 'KeyCheckNotTrusted' as const, keyVersion: v });
        if (pinned.right !== undefined && pinned.right !== keyCheck) return E.left({ _tag: 'BackupNotThePinnedKey' as const, keyVersion: v });
        const self = trust.members[id.toLowerCase()];
        const certified = self?.signingThumbprint === k.signing?.thumbprint;
        const remaining = Object.keys(trust.members).length;
        if (!certified && remaining > 0) return E.left({ _tag: 'MembersRemain' as const, installationId: id, members: remaining });
        const jwe = await deps.crypto.wrap(key.right, k.publicKey, { deploymentId: config.deploymentId, installationId: id, keyVersion: v })();
        if (E.isLeft(jwe)) return jwe;
        const decided = decideDeployment(
          {
            type: 'RestoreKey',
            deploymentId: config.deploymentId,
            installationId: id,
            keyVersion: v as KeyVersion,
            keyCheck: keyCheck as Base64Url,
            fingerprint,
            copy: { installationId: id, recipientThumbprint: k.thumbprint, jwe: jwe.right },
            signingThumbprint: k.signing!.thumbprint,
            declareGenesis: certified ? null : { previousGenesis: (trust.genesis?.thumbprint as Thumbprint | undefined) ?? null },
          },
          state,
        );
        if (E.isLeft(decided)) return E.left({ _tag: 'DeploymentRefused' as const, error: decided.left });
        declared = certified ? null : k.signing!.thumbprint;
        return E.right({ append: { to: 'deployment' as const, events: decided.right, signer }, result: undefined });
      },
      loaded,
    );
    if (E.isLeft(appended)) return appended;
    recorded.push(...appended.right.appended);
  }
  // The genesis this instance now is (declared in this run or in a run a crash cut short): pinned in its keystore.
  const after = await handleCommand(
    deps,
    memberAggregates(config),
    async (l): Promise<E.Either<BackupError, Decision<MemberAggregates, Trust>>> =>
      E.right({ result: trustIn(deps.crypto, l.deployment.events, deps.remembered) }),
  );
  if (E.isLeft(after)) return after;
  const genesis = after.right.result.genesis;
  if (genesis && genesis.thumbprint === k.signing.thumbprint && pinnedGenesisOf(k, config.deploymentId) !== genesis.thumbprint) {
    await deps.pause?.(`${deps.ctx.command}:before-genesis-pinned`);
    const pinnedNow = await deps.keystore.update(binding(config), {
      genesis: { deploymentId: config.deploymentId, thumbprint: genesis.thumbprint as Thumbprint },
    })();
    if (E.isLeft(pinnedNow)) return pinnedNow;
    declared = genesis.thumbprint;
  }
  const started = await startInstance(deps, config);
  if (E.isLeft(started)) return started;
  const { loads: _loads, ...activation } = started.right;
  return E.right({
    installationId: id,
    deploymentId: config.deploymentId,
    keyVersion: header.right.keyVersion,
    fingerprint,
    genesisDeclared: declared,
    alreadyRestored: r.right.result._tag === 'AlreadyRestored',
    activation,
    recorded: [...recorded, ...activation.recorded],
  });
};
