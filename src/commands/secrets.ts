/**
 * Encrypted content (issue 12, docs/adr/0011-encrypted-content.md): named secrets encrypted under the
 * deployment's current key version, their ciphertexts in the content store, their history in the
 * deployment's content stream (`keyledger.content-<id>`) — never in its deployment stream, which every key
 * decision reads.
 *
 * The symmetric key comes only from this instance's own copy, proved as the start check proves it: the start
 * check's verdict, the unwrap with its private key, the key check (and its pin), the copy and key check
 * certified back to the pinned genesis — and the instance's own last recorded outcome is an activation.
 * Nothing read from the store is used unverified: a ciphertext only when its fingerprint is the one a
 * member's signed SecretPut recorded and its authenticated header binds it to this deployment, this secret
 * and the key version held.
 *
 * `secret put` writes the ciphertext before it records the SecretPut, and removes the one it superseded only
 * after: a crash anywhere leaves every recorded secret readable, and a rerun completes.
 */
import * as E from 'fp-ts/Either';
import {
  type ContentState,
  contentEventClaim,
  contentEventProblem,
  type ContentEventProblem,
  decideContent,
  type SignatureClaim,
  evolveContent,
  initialContentState,
} from '../domain/content/decider';
import type { SecretEntry } from '../domain/content/decider';
import type { EventSigner, StoredEvent } from '../domain/envelope';
import { type ContentEvent, type Fingerprint, isContentEvent, type LedgerEvent, type RefusalReason, type SecretName } from '../domain/events';
import { contentStream, type DeploymentId, type InstallationId, type KeyVersion } from '../domain/ids';
import type { DeploymentState } from '../domain/deployment/decider';
import type { InstanceConfig } from '../domain/instance/decider';
import { checkBeforeUnwrap } from '../domain/start-check';
import type { Trust } from '../domain/trust';
import type { ContentStore, ContentStoreError, OpenProblem, SecretCipher } from '../ports/content';
import type { KeystoreError, Signatures, SigningKeyPair, StoredKeyPair, SymmetricKeyHandle } from '../ports/crypto';
import { type Aggregate, handleCommand, type Handled, type Loaded, type LoadedAll, loadAggregate } from './handler';
import { type CommandError, heldFrom, type InstanceDeps, isKeystoreError, memberAggregates, unwrapOwnCopy } from './instance';
import { signerOf, trustIn, trustProblem } from './signing';

/** The largest value `secret put` takes: secrets are connection strings and credentials, not files. */
export const MAX_SECRET_BYTES = 64 * 1024;

export interface SecretDeps extends InstanceDeps {
  readonly content: ContentStore;
  readonly cipher: SecretCipher;
}

/** Why a ciphertext or the event naming it cannot be trusted: someone wrote the store. */
export type SecretTamperProblem = ContentEventProblem | 'ciphertext-missing' | 'fingerprint-mismatch' | 'malformed' | 'does-not-decrypt' | 'bound-elsewhere';

export type SecretError =
  | CommandError
  | ContentStoreError
  /** This instance may not use the key: its start check refuses (reason), or it has not activated (null: run start). */
  | { readonly _tag: 'SecretsNotActivated'; readonly installationId: InstallationId; readonly reason: RefusalReason | null }
  | { readonly _tag: 'SecretMissing'; readonly name: string }
  | { readonly _tag: 'SecretKeyVersion'; readonly name: string; readonly secretVersion: number; readonly heldVersion: number }
  | { readonly _tag: 'SecretTampered'; readonly name: string; readonly problem: SecretTamperProblem; readonly revision: string; readonly detail?: string }
  | { readonly _tag: 'InvalidSecret'; readonly message: string }
  | { readonly _tag: 'KeyBeingDestroyed'; readonly keyVersion: number };

// ─── The aggregates ───────────────────────────────────────────────────────

export const contentAggregate = (id: DeploymentId): Aggregate<ContentState, ContentEvent> => ({
  stream: contentStream(id),
  initialState: initialContentState,
  evolve: evolveContent,
  accepts: isContentEvent,
});

/** What a secret command reads: the instance and its deployment (to prove the key) and the content stream. */
export const secretAggregates = (config: InstanceConfig) => ({ ...memberAggregates(config), content: contentAggregate(config.deploymentId) });
export type SecretAggregates = ReturnType<typeof secretAggregates>;
export type SecretsLoaded = LoadedAll<SecretAggregates>;

// ─── The key, proved ──────────────────────────────────────────────────────

export interface Proven {
  readonly key: SymmetricKeyHandle;
  readonly keyVersion: KeyVersion;
  /**
   * During a re-creation (docs/adr/0014): the version it replaced, unwrapped from this instance's own copy of it and
   * checked against that version's signed key check — for the secrets not yet re-encrypted. Absent once retired.
   */
  readonly previous?: { readonly key: SymmetricKeyHandle; readonly keyVersion: KeyVersion };
  readonly signer: EventSigner;
  readonly trust: Trust;
}

const notActivated = (config: InstanceConfig, reason: RefusalReason | null): E.Either<SecretError, never> =>
  E.left({ _tag: 'SecretsNotActivated', installationId: config.installationId, reason });

/**
 * The deployment's key, as this instance holds it: the start check's proof (src/commands/instance.ts
 * `unwrapOwnCopy` with its pins and the trust walk), on an instance whose last recorded outcome is an
 * activation. Nothing is recorded.
 */
export const proveKey = async (
  deps: InstanceDeps,
  config: InstanceConfig,
  l: Pick<SecretsLoaded, 'instance' | 'deployment'>,
  held: E.Either<KeystoreError, StoredKeyPair>,
): Promise<E.Either<SecretError, Proven>> => {
  const pre = checkBeforeUnwrap(l.instance.state, l.deployment.state, config, heldFrom(held));
  if (E.isLeft(pre)) return notActivated(config, pre.left);
  if (E.isLeft(held)) return E.left(held.left);
  const own = l.instance.state;
  if (own.status === 'Disabled') return notActivated(config, own.reason);
  if (own.status !== 'Activated') return notActivated(config, null);
  const trust = trustIn(deps.crypto, l.deployment.events, deps.remembered);
  const key = await unwrapOwnCopy(deps.crypto, pre.right, held.right.privateKey, { keystore: deps.keystore, deploymentId: config.deploymentId }, () =>
    trustProblem(trust, held.right, config.deploymentId, pre.right.keyVersion, pre.right.expectedKeyCheck),
  );
  if (E.isLeft(key)) return isKeystoreError(key.left) ? E.left(key.left) : notActivated(config, key.left);
  const signer = signerOf(deps.crypto, held.right);
  if (!signer) return notActivated(config, { _tag: 'UntrustedKeyEvent', keyVersion: pre.right.keyVersion, problem: 'no-signing-key', revision: null });
  const previous = await provePrevious(deps, config, l.deployment.state, held.right, trust);
  return E.right({ key: key.right, keyVersion: pre.right.keyVersion, signer, trust, ...(previous ? { previous } : {}) });
};

/**
 * The version a re-creation under way replaced, from this instance's own copy of it: unwrapped with its private key
 * (the copy's binding checked) and held only when its key check is that version's signed one and the one pinned.
 */
const provePrevious = async (
  deps: InstanceDeps,
  config: InstanceConfig,
  d: DeploymentState,
  held: StoredKeyPair,
  trust: Trust,
): Promise<Proven['previous']> => {
  const p = d.previousKey;
  const copy = p?.copies[config.installationId];
  if (!p || !copy || copy.copy.recipientThumbprint !== held.thumbprint) return undefined;
  const v = p.key.keyVersion;
  const key = await deps.crypto.unwrap(copy.copy.jwe, held.privateKey, {
    deploymentId: config.deploymentId,
    installationId: config.installationId,
    keyVersion: v,
  })();
  if (E.isLeft(key)) return undefined;
  const check = deps.crypto.keyCheck(key.right);
  const signed = trust.keyChecks[v];
  const pinned = deps.keystore.pinnedKeyCheck(config.deploymentId, v);
  if (check !== p.key.keyCheck || !signed?.trusted || signed.keyCheck !== check) return undefined;
  if (E.isLeft(pinned) || (pinned.right !== undefined && pinned.right !== check)) return undefined;
  return { key: key.right, keyVersion: v };
};

/** Proves the key for a decision: the CLI proves it at every command; the library keeps a proof while the streams it was made on stand. */
export type Prove = (l: SecretsLoaded) => Promise<E.Either<SecretError, Proven>>;

export const proverFor = (deps: InstanceDeps, config: InstanceConfig): Prove => {
  let held: E.Either<KeystoreError, StoredKeyPair> | undefined;
  return async (l) => {
    held ??= await deps.keystore.load({ installationId: config.installationId, serviceIdentity: config.serviceIdentity })();
    return proveKey(deps, config, l, held);
  };
};

// ─── Reading a secret ─────────────────────────────────────────────────────

/** How many verified ciphertexts a long-running reader keeps (about 300 bytes each for a connection string). */
const MAX_CACHED_CIPHERTEXTS = 20_000;

/** The verdict on content events already checked, by event hash (a long-running reader checks each once). */
export type CheckedEvents = Map<string, ContentEventProblem | undefined>;

const tampered = (name: string, problem: SecretTamperProblem, revision: number, detail?: string): E.Either<SecretError, never> =>
  E.left({ _tag: 'SecretTampered', name, problem, revision: revision.toString(), ...(detail !== undefined ? { detail } : {}) });

const openProblem = (p: OpenProblem): SecretTamperProblem =>
  p._tag === 'Malformed' ? 'malformed' : p._tag === 'DoesNotDecrypt' ? 'does-not-decrypt' : 'bound-elsewhere';

/**
 * A secret's value: the entry the content stream ends with, its SecretPut signed by a member, its ciphertext
 * the one that event fingerprinted, bound (by its authenticated header) to this deployment, name and key version.
 */
export const readSecret = async (
  deps: Pick<SecretDeps, 'content' | 'cipher' | 'crypto'>,
  deploymentId: DeploymentId,
  proven: Proven,
  content: Loaded<ContentState>,
  name: string,
  checked?: CheckedEvents,
  /**
   * Ciphertexts already read and found to hash to their recorded fingerprint, by fingerprint (a long-running
   * reader's): never a value — each call still authenticates and decrypts (docs/adr/0011-encrypted-content.md).
   */
  ciphertexts?: Map<string, string>,
): Promise<E.Either<SecretError, { readonly entry: SecretEntry; readonly value: Buffer }>> => {
  const entry = content.state.secrets.get(name);
  if (!entry) {
    // Gone, if a member's signed event removed it (SecretDeleted, SecretsDestroyed); a removal forged in the store is tampering.
    const at = content.state.removed?.get(name);
    const removal = at === undefined ? undefined : content.events[at];
    if (removal && at !== undefined) {
      const hash = removal.metadata.hash;
      const problem = checked?.has(hash) ? checked.get(hash) : contentEventProblem(removal, proven.trust, deps.crypto.signing.verify);
      checked?.set(hash, problem);
      if (problem) return tampered(name, problem, at);
    }
    return E.left({ _tag: 'SecretMissing', name });
  }
  const event = recordingEvent(content, entry);
  const hash = event.metadata.hash;
  let problem = checked?.get(hash);
  if (!checked?.has(hash)) {
    problem = contentEventProblem(event, proven.trust, deps.crypto.signing.verify);
    checked?.set(hash, problem);
  }
  if (problem) return tampered(name, problem, entry.revision);
  const key = keyFor(proven, entry);
  if (E.isLeft(key)) return key;
  let jwe = ciphertexts?.get(entry.fingerprint);
  if (jwe === undefined) {
    const read = await deps.content.read(deploymentId, name, entry.fingerprint)();
    if (E.isLeft(read)) return read;
    const checkedJwe = recordedCiphertext(deps.cipher, entry, read.right);
    if (E.isLeft(checkedJwe)) return checkedJwe;
    jwe = checkedJwe.right;
    if (ciphertexts) {
      if (ciphertexts.size >= MAX_CACHED_CIPHERTEXTS) ciphertexts.clear();
      ciphertexts.set(entry.fingerprint, jwe);
    }
  }
  return openEntry(deps.cipher, deploymentId, key.right, entry, jwe);
};

/** The event that recorded a secret's current entry (its SecretPut or SecretsReencrypted). */
const recordingEvent = (content: Loaded<ContentState>, entry: SecretEntry): StoredEvent => {
  const event: StoredEvent | undefined = content.events[entry.revision];
  if (!event || event.revision !== BigInt(entry.revision)) throw new Error('programmer error: the content state names an event the load does not hold');
  return event;
};

/** The key of the version a secret is under: the current one, or (during a re-creation) the one it replaces. */
const keyFor = (proven: Proven, entry: SecretEntry): E.Either<SecretError, SymmetricKeyHandle> =>
  entry.keyVersion === proven.keyVersion
    ? E.right(proven.key)
    : entry.keyVersion === proven.previous?.keyVersion
      ? E.right(proven.previous.key)
      : E.left({ _tag: 'SecretKeyVersion', name: entry.name, secretVersion: entry.keyVersion, heldVersion: proven.keyVersion });

/** The stored ciphertext, when it is there and is the one the event fingerprinted. */
const recordedCiphertext = (cipher: SecretCipher, entry: SecretEntry, stored: string | undefined): E.Either<SecretError, string> => {
  if (stored === undefined) return tampered(entry.name, 'ciphertext-missing', entry.revision);
  if (cipher.fingerprint(stored) !== entry.fingerprint) return tampered(entry.name, 'fingerprint-mismatch', entry.revision);
  return E.right(stored);
};

/** Decrypts a checked ciphertext, bound (by its authenticated header) to this deployment, the secret's name and its key version. */
const openEntry = (
  cipher: SecretCipher,
  deploymentId: DeploymentId,
  key: SymmetricKeyHandle,
  entry: SecretEntry,
  jwe: string,
): E.Either<SecretError, { readonly entry: SecretEntry; readonly value: Buffer }> => {
  const opened = cipher.open(key, jwe, { deploymentId, name: entry.name, keyVersion: entry.keyVersion });
  if (E.isLeft(opened)) {
    const o = opened.left;
    const detail =
      o._tag === 'BoundElsewhere' ? `it is bound to deployment ${o.found.deploymentId}, secret ${o.found.name}, key version ${o.found.keyVersion}` : undefined;
    return tampered(entry.name, openProblem(o), entry.revision, detail);
  }
  return E.right({ entry, value: opened.right });
};

// ─── Reading many secrets (a re-creation) ─────────────────────────────────

/**
 * Verdicts on content events, by event hash, checked off the main thread (`Signatures.checkMany`): `start` hands over the
 * signatures of the events not yet checked or being checked, `verdict` waits for one. What it finds goes into `checked`,
 * so each event is verified once however many secrets it recorded.
 */
export interface EventChecker {
  start(events: ReadonlyArray<StoredEvent>): void;
  verdict(e: StoredEvent): Promise<ContentEventProblem | undefined>;
}

export const eventChecker = (
  signing: Signatures,
  trust: Trust,
  /** This instance's own signing key: its own events are checked by signing them again (Signatures.checkMany), verified if that differs. */
  own?: SigningKeyPair,
  checked: CheckedEvents = new Map(),
): EventChecker => {
  const pending = new Map<string, { readonly results: Promise<ReadonlyArray<boolean>>; readonly at: number }>();
  const start = (events: ReadonlyArray<StoredEvent>): void => {
    const hashes: string[] = [];
    const checks: SignatureClaim[] = [];
    const seen = new Set<string>(); // one event may have recorded several of the secrets asked for
    for (const e of events) {
      const hash = e.metadata.hash;
      if (checked.has(hash) || pending.has(hash) || seen.has(hash)) continue;
      seen.add(hash);
      const claim = contentEventClaim(e, trust);
      if (E.isLeft(claim)) checked.set(hash, claim.left);
      else {
        hashes.push(hash);
        checks.push(claim.right);
      }
    }
    if (checks.length === 0) return;
    const results = signing.checkMany(
      checks.map((c) => ({ publicKey: c.signingKey, message: c.text, signature: c.signature })),
      own,
    );
    for (const [at, hash] of hashes.entries()) pending.set(hash, { results, at });
  };
  return {
    start,
    verdict: async (e) => {
      const hash = e.metadata.hash;
      if (!checked.has(hash)) {
        if (!pending.has(hash)) start([e]);
        const p = pending.get(hash);
        if (p) {
          const ok = (await p.results)[p.at] === true;
          checked.set(hash, ok ? undefined : 'bad-signature');
          pending.delete(hash);
        }
      }
      return checked.get(hash);
    },
  };
};

/**
 * Many secrets, each read exactly as `readSecret` reads one — the event that recorded it signed by a certified member,
 * its ciphertext the fingerprinted one, bound to this deployment, name and key version — with the signatures verified
 * together off the main thread while the ciphertexts are read and opened, and the ciphertexts read in one go where the
 * content store can. The first secret (in the order given) that fails fails them all, with the error `readSecret`
 * would give for it; values are only returned once every event is verified.
 */
export const readSecrets = async (
  deps: Pick<SecretDeps, 'content' | 'cipher'>,
  deploymentId: DeploymentId,
  proven: Proven,
  content: Loaded<ContentState>,
  names: ReadonlyArray<string>,
  checker: EventChecker,
): Promise<E.Either<SecretError, ReadonlyArray<{ readonly entry: SecretEntry; readonly value: Buffer }>>> => {
  const entries: SecretEntry[] = [];
  for (const name of names) {
    const entry = content.state.secrets.get(name);
    if (!entry) return E.left({ _tag: 'SecretMissing', name });
    entries.push(entry);
  }
  checker.start(entries.map((entry) => recordingEvent(content, entry)));
  const stored = await readCiphertexts(deps.content, deploymentId, entries);
  if (E.isLeft(stored)) return stored;
  // Opened while the signatures are verified; nothing opened is returned (or kept) unless every event verifies.
  const opened = entries.map((entry, i) => {
    const key = keyFor(proven, entry);
    if (E.isLeft(key)) return key;
    const jwe = recordedCiphertext(deps.cipher, entry, stored.right[i]);
    return E.isLeft(jwe) ? jwe : openEntry(deps.cipher, deploymentId, key.right, entry, jwe.right);
  });
  const wipe = () => {
    for (const o of opened) if (E.isRight(o)) o.right.value.fill(0);
  };
  const out: Array<{ readonly entry: SecretEntry; readonly value: Buffer }> = [];
  for (const [i, entry] of entries.entries()) {
    const problem = await checker.verdict(recordingEvent(content, entry));
    const o = opened[i]!;
    if (problem) {
      wipe();
      return tampered(entry.name, problem, entry.revision);
    }
    if (E.isLeft(o)) {
      wipe();
      return o;
    }
    out.push(o.right);
  }
  return E.right(out);
};

/** The stored ciphertexts of many entries (undefined: not there), in one go where the content store can. */
const readCiphertexts = async (
  content: ContentStore,
  deploymentId: DeploymentId,
  entries: ReadonlyArray<SecretEntry>,
): Promise<E.Either<SecretError, ReadonlyArray<string | undefined>>> => {
  if (content.readMany) return content.readMany(deploymentId, entries)();
  const out: Array<string | undefined> = [];
  for (const e of entries) {
    const r = await content.read(deploymentId, e.name, e.fingerprint)();
    if (E.isLeft(r)) return r;
    out.push(r.right);
  }
  return E.right(out);
};

// ─── Commands ─────────────────────────────────────────────────────────────

export interface PutOutcome {
  readonly name: string;
  readonly keyVersion: KeyVersion;
  readonly fingerprint: Fingerprint;
  /** The ciphertext this value superseded (null: a new secret). */
  readonly previousFingerprint: Fingerprint | null;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

export const putSecret = async (
  deps: SecretDeps,
  config: InstanceConfig,
  name: SecretName,
  value: Uint8Array,
  options: { readonly prove?: Prove; readonly from?: SecretsLoaded } = {},
): Promise<E.Either<SecretError, PutOutcome & { readonly loaded: SecretsLoaded }>> => {
  if (value.length > MAX_SECRET_BYTES) return E.left({ _tag: 'InvalidSecret', message: `the value is ${value.length} bytes (at most ${MAX_SECRET_BYTES})` });
  const prove = options.prove ?? proverFor(deps, config);
  const dep = config.deploymentId;
  const r = await handleCommand(
    deps,
    secretAggregates(config),
    async (l) => {
      const proven = await prove(l);
      if (E.isLeft(proven)) return proven;
      // The key is being destroyed with the encrypted content (docs/adr/0015): nothing new is stored under it.
      const deletion = l.deployment.state.deletion;
      if (deletion)
        return E.left({ _tag: 'DeploymentRefused' as const, error: { _tag: 'ContentDeletionUnderway' as const, keyVersions: deletion.keyVersions } });
      const jwe = deps.cipher.seal(proven.right.key, value, { deploymentId: dep, name, keyVersion: proven.right.keyVersion });
      const fingerprint = deps.cipher.fingerprint(jwe);
      const decided = decideContent(
        { type: 'PutSecret', deploymentId: dep, name, keyVersion: proven.right.keyVersion, fingerprint, by: config.installationId },
        l.content.state,
      );
      if (E.isLeft(decided)) return decided;
      // The ciphertext before the event: a SecretPut is never recorded without it.
      const written = await deps.content.write(dep, name, fingerprint, jwe)();
      if (E.isLeft(written)) return written;
      await deps.pause?.(`${deps.ctx.command}:after-content-written`);
      const previousFingerprint = l.content.state.secrets.get(name)?.fingerprint ?? null;
      return E.right({
        append: { to: 'content' as const, events: decided.right, signer: proven.right.signer },
        result: { name, keyVersion: proven.right.keyVersion, fingerprint, previousFingerprint },
      });
    },
    options.from,
  );
  if (E.isLeft(r)) return r;
  // The superseded ciphertext goes only now that the new one is recorded (a crash before leaves an unreferenced row).
  const previous = r.right.result.previousFingerprint;
  if (previous !== null) {
    const removed = await deps.content.remove(dep, name, previous)();
    if (E.isLeft(removed)) return removed;
    await deps.pause?.(`${deps.ctx.command}:after-superseded-removed`);
  }
  return E.right({ ...r.right.result, recorded: r.right.appended, loaded: r.right.loaded });
};

export interface GetOutcome {
  readonly entry: SecretEntry;
  readonly value: Buffer;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

/** `secret get`: the value, decrypted, after the read is recorded (SecretRead, signed): no record, no value. */
export const getSecret = async (deps: SecretDeps, config: InstanceConfig, name: string): Promise<E.Either<SecretError, GetOutcome>> => {
  const prove = proverFor(deps, config);
  const r = await handleCommand(deps, secretAggregates(config), async (l) => {
    const proven = await prove(l);
    if (E.isLeft(proven)) return proven;
    const read = await readSecret(deps, config.deploymentId, proven.right, l.content, name);
    if (E.isLeft(read)) return read;
    const decided = decideContent(
      { type: 'RecordRead', deploymentId: config.deploymentId, entry: read.right.entry, by: config.installationId },
      l.content.state,
    );
    if (E.isLeft(decided)) return decided;
    return E.right({ append: { to: 'content' as const, events: decided.right, signer: proven.right.signer }, result: read.right });
  });
  return E.isLeft(r) ? r : E.right({ ...r.right.result, recorded: r.right.appended });
};

export interface DeleteOutcome {
  readonly name: string;
  readonly fingerprint: Fingerprint;
  readonly recorded: ReadonlyArray<LedgerEvent['type']>;
}

/** `secret delete`: SecretDeleted recorded (by a member that proves the key), then its ciphertext removed. */
export const deleteSecret = async (deps: SecretDeps, config: InstanceConfig, name: SecretName): Promise<E.Either<SecretError, DeleteOutcome>> => {
  const prove = proverFor(deps, config);
  const r = await handleCommand(deps, secretAggregates(config), async (l) => {
    const proven = await prove(l);
    if (E.isLeft(proven)) return proven;
    const decided = decideContent({ type: 'DeleteSecret', deploymentId: config.deploymentId, name, by: config.installationId }, l.content.state);
    if (E.isLeft(decided)) return decided;
    const fingerprint = l.content.state.secrets.get(name)?.fingerprint as Fingerprint;
    return E.right({ append: { to: 'content' as const, events: decided.right, signer: proven.right.signer }, result: fingerprint });
  });
  if (E.isLeft(r)) return r;
  const removed = await deps.content.remove(config.deploymentId, name, r.right.result)();
  if (E.isLeft(removed)) return removed;
  return E.right({ name, fingerprint: r.right.result, recorded: r.right.appended });
};

export interface SecretListing {
  readonly name: string;
  readonly keyVersion: number;
  readonly fingerprint: string;
  /** When and by whom (the recorded actor, and the installation) the current value was put. */
  readonly putAt: string;
  readonly putByActor: string;
  readonly putBy: string;
  /** Recorded reads (CLI) since the ledger began, and reads the library counted. */
  readonly reads: number;
  readonly countedReads: number;
}

/** `secret list`: what the content stream records (no key needed, nothing decrypted, nothing recorded). */
export const listSecrets = async (
  deps: Pick<SecretDeps, 'store' | 'digest'>,
  deploymentId: DeploymentId,
): Promise<E.Either<SecretError, ReadonlyArray<SecretListing>>> => {
  const l = await loadAggregate(deps.store, contentAggregate(deploymentId), deps.digest)();
  if (E.isLeft(l)) return l;
  const reads = new Map<string, number>();
  const counted = new Map<string, number>();
  for (const e of l.right.events) {
    if (e.event.type === 'SecretRead') reads.set(e.event.data.name, (reads.get(e.event.data.name) ?? 0) + 1);
    if (e.event.type === 'SecretReadsCounted') for (const s of e.event.data.secrets) counted.set(s.name, (counted.get(s.name) ?? 0) + s.reads);
  }
  return E.right(
    [...l.right.state.secrets.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((s) => {
        const e = l.right.events[s.revision]!;
        return {
          name: s.name,
          keyVersion: s.keyVersion,
          fingerprint: s.fingerprint,
          putAt: e.metadata.occurredAt,
          putByActor: e.metadata.actor,
          putBy: s.putBy,
          reads: reads.get(s.name) ?? 0,
          countedReads: counted.get(s.name) ?? 0,
        };
      }),
  );
};

/** Records the reads a library process counted (SecretReadsCounted, signed), from the states it holds. */
export const recordCountedReads = async (
  deps: SecretDeps,
  config: InstanceConfig,
  signer: EventSigner,
  counts: { readonly since: string; readonly until: string; readonly reads: ReadonlyMap<string, number> },
  from?: SecretsLoaded,
): Promise<E.Either<SecretError, Handled<SecretAggregates, number>>> =>
  handleCommand(
    deps,
    secretAggregates(config),
    async (l) => {
      const decided = decideContent({ type: 'CountReads', deploymentId: config.deploymentId, by: config.installationId, ...counts }, l.content.state);
      if (E.isLeft(decided)) return decided;
      return E.right({ append: { to: 'content' as const, events: decided.right, signer }, result: decided.right.length });
    },
    from,
  );
