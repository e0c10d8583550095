/**
 * The library API for service code (the SSRS WMI provider's analogue, issue 12): a long-running process opens its
 * instance's deployment once and encrypts and decrypts named secrets through it.
 *
 *   const d = await openDeployment({ config: '/etc/keyledger/node1.json' });
 *   if (E.isRight(d)) {
 *     const v = await d.right.decrypt('reportserver/datasource/sales');   // Either<LibraryError, SecretValue>
 *     if (E.isRight(v)) connect(v.right.text());
 *   }
 *
 * The key is proved as the CLI proves it (src/commands/secrets.ts `proveKey`: the start check, the unwrap of
 * this instance's own copy, its key check, pins and trust) when the deployment is opened — after the ledger's
 * identity and the stream heads this instance remembered are checked (LedgerReplaced, LedgerRolledBack) — and
 * again whenever the instance or deployment stream changed. The ledger is read again at most every `refreshMs` (default 1 s): an
 * instance removed or disabled meanwhile gets `SecretsNotActivated` from its next call after that, never a
 * throw. Reads are counted per secret and recorded as one SecretReadsCounted event per period (at `close`,
 * `recordReads`, or every `recordReadsEveryMs`), not one event per read: docs/adr/0011-encrypted-content.md.
 *
 * Every failure is a tagged value (Either); `describeLibraryError` gives the CLI's one line for it.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import * as E from 'fp-ts/Either';
import { handleCommand, loadAggregate } from './commands/handler';
import {
  type CheckedEvents,
  type PutOutcome,
  type Proven,
  proveKey,
  putSecret,
  readSecret,
  recordCountedReads,
  type SecretDeps,
  type SecretError,
  type SecretsLoaded,
  secretAggregates,
} from './commands/secrets';
import { type CliError, describeError } from './cli/errors';
import { signerOf } from './commands/signing';
import type { InstanceConfig } from './domain/instance/decider';
import { explainRefusal } from './domain/refusal';
import { SecretName } from './domain/events';
import { nameProblem } from './domain/text';
import { contentCipher } from './infra/content-cipher';
import { fileKeystore } from './infra/file-keystore';
import { joseCrypto } from './infra/jose-crypto';
import { loadConfig } from './infra/config';
import { openStore } from './infra/open-store';
import { storeAccess } from './infra/store-access';
import { sha256Hex } from './infra/sha256';
import { openSqliteContent } from './infra/sqlite-content';
import { openSqliteHeads } from './infra/sqlite-heads';
import { eventStoreContent } from './infra/eventstore-content';
import type { ContentStore } from './ports/content';
import type { Crypto, Keystore } from './ports/crypto';
import type { HeadStore } from './ports/heads';
import type { EventStore } from './ports/event-store';

export type LibraryError = SecretError | CliError;

export interface DeploymentOptions {
  /** The instance's config file (as the CLI's `-c`). */
  readonly config: string;
  /** Overrides the config's store connection. */
  readonly store?: string;
  /** Recorded on the events this process appends (default: $KEYLEDGER_ACTOR, else `library:user@host`). */
  readonly actor?: string;
  /** How often, at most, the ledger is read again for changes to the instance, the deployment and the secrets (ms; default 1000). */
  readonly refreshMs?: number;
  /** How often counted reads are recorded while the process runs (ms; default 15 minutes). */
  readonly recordReadsEveryMs?: number;
  /** The crypto adapter (tests pass one with pre-generated keys). */
  readonly crypto?: Crypto;
}

/** A decrypted value. It prints, logs and serializes as a redaction marker: `text()` or `bytes()` reveal it. */
export class SecretValue {
  readonly #bytes: Buffer;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }
  text(): string {
    return this.#bytes.toString('utf8');
  }
  bytes(): Buffer {
    return Buffer.from(this.#bytes);
  }
  /** Overwrites the value in memory (later calls see zeros). */
  wipe(): void {
    this.#bytes.fill(0);
  }
  toJSON(): string {
    return '[secret value: redacted]';
  }
  toString(): string {
    return this.toJSON();
  }
  [inspect.custom](): string {
    return this.toJSON();
  }
}

export interface DeploymentStatus {
  readonly installationId: string;
  readonly deploymentId: string;
  readonly activated: boolean;
  readonly keyVersion: number | null;
  /** Why not activated (one line), when not. */
  readonly reason: string | null;
  readonly secrets: number;
  /** Reads this process made, and those not recorded yet. */
  readonly reads: { readonly total: number; readonly unrecorded: number };
  /** When the ledger was last read. */
  readonly checkedAt: string;
}

export interface Deployment {
  encrypt(name: string, value: string | Uint8Array): Promise<E.Either<LibraryError, Omit<PutOutcome, 'recorded'>>>;
  decrypt(name: string): Promise<E.Either<LibraryError, SecretValue>>;
  /** Reads the ledger now, and says whether this instance may use the key. */
  status(): Promise<E.Either<LibraryError, DeploymentStatus>>;
  /** Records the reads counted so far (SecretReadsCounted); resolves to how many were recorded. */
  recordReads(): Promise<E.Either<LibraryError, number>>;
  /** Records the counted reads and closes the store. */
  close(): Promise<E.Either<LibraryError, void>>;
}

/** The CLI's one line for a library error (what, why, what to do). */
export const describeLibraryError = (e: LibraryError): string => describeError(e);

const defaultActor = (): string => {
  try {
    return `library:${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return `library@${os.hostname()}`;
  }
};

const usage = (message: string): E.Either<LibraryError, never> => E.left({ _tag: 'UsageError', message });

export const openDeployment = async (options: DeploymentOptions | string): Promise<E.Either<LibraryError, Deployment>> => {
  const o: DeploymentOptions = typeof options === 'string' ? { config: options } : options;
  const actor = o.actor ?? process.env['KEYLEDGER_ACTOR'] ?? defaultActor();
  const actorProblem = nameProblem(actor);
  if (actorProblem !== undefined) return usage(`the actor ${actorProblem}: give 1–128 printable characters`);
  const config = loadConfig(o.config);
  if (E.isLeft(config)) return config;
  const c = config.right;
  const connection = o.store ?? c.storeConnection;
  const access = storeAccess(connection, {
    settings: c.esdb,
    connectionName: `keyledger library ${c.instance.instanceName}@${c.instance.machineName}`,
    env: process.env,
    fromCommandLine: false,
  });
  if (E.isLeft(access)) return E.left({ _tag: 'ConfigError', file: c.file, message: access.left });
  const opened = await openStore(connection, path.dirname(c.file), {
    ledgerAccess: c.ledgerAccess,
    mayCreate: false,
    ...(access.right.esdb ? { esdb: access.right.esdb } : {}),
  });
  if (E.isLeft(opened)) return opened;
  const store = opened.right;
  if (store.endpoint === 'sqlite::memory:') {
    await store.close();
    return usage('secrets need a ledger in a file or on EventStoreDB, not in memory');
  }
  const content = store.endpoint.startsWith('sqlite:') ? openSqliteContent(store.endpoint.slice('sqlite:'.length)) : E.right(eventStoreContent(store));
  if (E.isLeft(content)) {
    await store.close();
    return content;
  }
  // The heads this instance relied on (rollback detection, ADR 0009 defence 4), as the CLI keeps them: none without its machine secret.
  const keystore = fileKeystore(c.instance.keystorePath, c.keystoreSecretFile === null ? {} : { secretFile: c.keystoreSecretFile });
  const mac = keystore.localStateMac();
  const heads = E.isRight(mac) ? openSqliteHeads(path.join(c.stateDir, 'projections.db'), c.instance.installationId, store.endpoint, mac.right) : undefined;
  if (heads && E.isLeft(heads)) {
    content.right.close();
    await store.close();
    return heads;
  }
  const d = new LibraryDeployment(o, c.instance, store, content.right, actor, keystore, heads?.right);
  const first = await d.refresh();
  if (E.isLeft(first)) {
    await d.closeStores();
    return first;
  }
  return E.right(d);
};

type Proof = { readonly _tag: 'Proven'; readonly proven: Proven } | { readonly _tag: 'Refused'; readonly error: SecretError };

class LibraryDeployment implements Deployment {
  private readonly crypto: Crypto;
  private readonly deps: SecretDeps;
  private readonly refreshMs: number;
  private readonly recordEveryMs: number;
  private loaded: SecretsLoaded | undefined;
  private proof: Proof | undefined;
  /** The instance and deployment revisions the proof was made on. */
  private provenAt = '';
  private lastRefresh = 0;
  private refreshing: Promise<E.Either<LibraryError, void>> | undefined;
  private readonly checked: CheckedEvents = new Map();
  private readonly ciphertexts = new Map<string, string>();
  private readonly reads = new Map<string, number>();
  private readsSince = new Date();
  private total = 0;
  private unrecorded = 0;
  private closed = false;

  constructor(
    options: DeploymentOptions,
    private readonly config: InstanceConfig,
    private readonly store: EventStore,
    private readonly content: ContentStore,
    actor: string,
    keystore: Keystore,
    private readonly heads: (HeadStore & { close(): void }) | undefined,
  ) {
    this.crypto = options.crypto ?? joseCrypto();
    this.refreshMs = options.refreshMs ?? 1000;
    this.recordEveryMs = options.recordReadsEveryMs ?? 15 * 60_000;
    const correlationId = randomUUID();
    this.deps = {
      store,
      ctx: { actor, command: 'library', correlationId, causationId: correlationId, now: () => new Date(), newId: randomUUID },
      digest: sha256Hex,
      crypto: this.crypto,
      keystore,
      ...(heads ? { heads } : {}),
      host: os.hostname(),
      content,
      cipher: contentCipher(),
    };
  }

  private depsFor(command: string): SecretDeps {
    return { ...this.deps, ctx: { ...this.deps.ctx, command } };
  }

  private at(l: SecretsLoaded): string {
    return `${l.instance.revision}/${l.deployment.revision}`;
  }

  /** The proof for these states: the one held while instance and deployment streams are unchanged, else made again. */
  private async proveOn(l: SecretsLoaded): Promise<Proof> {
    if (this.proof && this.provenAt === this.at(l)) return this.proof;
    const held = await this.deps.keystore.load({ installationId: this.config.installationId, serviceIdentity: this.config.serviceIdentity })();
    const p = await proveKey(this.deps, this.config, l, held);
    this.proof = E.isRight(p) ? { _tag: 'Proven', proven: p.right } : { _tag: 'Refused', error: p.left };
    this.provenAt = this.at(l);
    return this.proof;
  }

  /** Reads what the three streams gained since the last read (every event decoded, linked and hash-checked), and proves the key again if needed. */
  refresh(): Promise<E.Either<LibraryError, void>> {
    this.refreshing ??= (async () => {
      try {
        const aggregates = secretAggregates(this.config);
        if (!this.loaded) {
          // The first load goes through the handler: the ledger's identity and the remembered heads are checked, then remembered.
          const first = await handleCommand(this.deps, aggregates, async () => E.right({ result: undefined }));
          if (E.isLeft(first)) return first;
          this.loaded = first.right.loaded;
        } else {
          const next: Record<string, unknown> = {};
          for (const [k, agg] of Object.entries(aggregates)) {
            const l = await loadAggregate(this.store, agg as never, sha256Hex, this.loaded[k as keyof SecretsLoaded] as never)();
            if (E.isLeft(l)) return l;
            next[k] = l.right;
          }
          this.loaded = next as unknown as SecretsLoaded;
        }
        await this.proveOn(this.loaded);
        this.lastRefresh = Date.now();
        if (this.unrecorded > 0 && Date.now() - this.readsSince.getTime() >= this.recordEveryMs) {
          const r = await this.recordReads();
          if (E.isLeft(r)) return r;
        }
        return E.right(undefined);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async fresh(force = false): Promise<E.Either<LibraryError, { loaded: SecretsLoaded; proven: Proven }>> {
    const ready = force ? undefined : this.ready();
    if (ready) return ready;
    if (this.closed) return usage('this deployment was closed: open it again (openDeployment)');
    if (force || !this.loaded || Date.now() - this.lastRefresh >= this.refreshMs) {
      const r = await this.refresh();
      if (E.isLeft(r)) return r;
    }
    const loaded = this.loaded;
    const proof = this.proof;
    if (!loaded || !proof) throw new Error('programmer error: refreshed without states');
    return proof._tag === 'Refused' ? E.left(proof.error) : E.right({ loaded, proven: proof.proven });
  }

  /** The states and proof held, while they are fresh enough (the common case: no read of the ledger, no promise). */
  private ready(): E.Either<LibraryError, { loaded: SecretsLoaded; proven: Proven }> | undefined {
    if (this.closed || !this.loaded || !this.proof || Date.now() - this.lastRefresh >= this.refreshMs) return undefined;
    return this.proof._tag === 'Refused' ? E.left(this.proof.error) : E.right({ loaded: this.loaded, proven: this.proof.proven });
  }

  async encrypt(name: string, value: string | Uint8Array): Promise<E.Either<LibraryError, Omit<PutOutcome, 'recorded'>>> {
    if (!SecretName.is(name)) return usage(`the secret name ${nameProblem(name) ?? 'is not valid'}: give 1–128 printable characters`);
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    try {
      const f = await this.fresh();
      if (E.isLeft(f)) return f;
      const r = await putSecret(this.depsFor('library-encrypt'), this.config, name, bytes, {
        from: f.right.loaded,
        prove: async (l) => {
          const p = await this.proveOn(l);
          return p._tag === 'Proven' ? E.right(p.proven) : E.left(p.error);
        },
      });
      if (E.isLeft(r)) return r;
      this.loaded = r.right.loaded;
      if (this.proof) this.provenAt = this.at(r.right.loaded); // the append changed the content stream only
      return E.right({
        name: r.right.name,
        keyVersion: r.right.keyVersion,
        fingerprint: r.right.fingerprint,
        previousFingerprint: r.right.previousFingerprint,
      });
    } finally {
      bytes.fill(0);
    }
  }

  async decrypt(name: string): Promise<E.Either<LibraryError, SecretValue>> {
    const before = this.lastRefresh;
    let f = this.ready() ?? (await this.fresh());
    if (E.isLeft(f)) return f;
    let r = await readSecret(this.deps, this.config.deploymentId, f.right.proven, f.right.loaded.content, name, this.checked, this.ciphertexts);
    // Another process may have put or deleted it since the last read of the ledger: read the ledger again, once.
    if (E.isLeft(r) && (r.left._tag === 'SecretMissing' || r.left._tag === 'SecretTampered') && this.lastRefresh === before) {
      f = await this.fresh(true);
      if (E.isLeft(f)) return f;
      r = await readSecret(this.deps, this.config.deploymentId, f.right.proven, f.right.loaded.content, name, this.checked, this.ciphertexts);
    }
    if (E.isLeft(r)) return r;
    this.reads.set(name, (this.reads.get(name) ?? 0) + 1);
    this.total++;
    this.unrecorded++;
    return E.right(new SecretValue(r.right.value));
  }

  async status(): Promise<E.Either<LibraryError, DeploymentStatus>> {
    if (this.closed) return usage('this deployment was closed: open it again (openDeployment)');
    const r = await this.refresh();
    if (E.isLeft(r)) return r;
    const proof = this.proof;
    const refused = proof?._tag === 'Refused' ? proof.error : undefined;
    return E.right({
      installationId: this.config.installationId,
      deploymentId: this.config.deploymentId,
      activated: proof?._tag === 'Proven',
      keyVersion: proof?._tag === 'Proven' ? proof.proven.keyVersion : null,
      reason:
        refused === undefined
          ? null
          : refused._tag === 'SecretsNotActivated' && refused.reason
            ? explainRefusal(refused.reason).summary
            : describeLibraryError(refused),
      secrets: this.loaded?.content.state.secrets.size ?? 0,
      reads: { total: this.total, unrecorded: this.unrecorded },
      checkedAt: new Date(this.lastRefresh).toISOString(),
    });
  }

  async recordReads(): Promise<E.Either<LibraryError, number>> {
    if (this.unrecorded === 0) return E.right(0);
    // A process that may no longer use the key still says what it read, signed by its own key.
    let by = this.proof?._tag === 'Proven' ? this.proof.proven.signer : undefined;
    if (!by) {
      const held = await this.deps.keystore.load({ installationId: this.config.installationId, serviceIdentity: this.config.serviceIdentity })();
      if (E.isLeft(held)) return held;
      by = signerOf(this.crypto, held.right);
    }
    if (!by) return usage('the reads cannot be recorded: this instance has no signing key');
    const until = new Date();
    const counted = new Map(this.reads);
    const r = await recordCountedReads(
      this.depsFor('library-reads'),
      this.config,
      by,
      { since: this.readsSince.toISOString(), until: until.toISOString(), reads: counted },
      this.loaded,
    );
    if (E.isLeft(r)) return r;
    this.loaded = r.right.loaded;
    if (this.proof) this.provenAt = this.at(r.right.loaded);
    const n = this.unrecorded;
    this.reads.clear();
    this.unrecorded = 0;
    this.readsSince = until;
    return E.right(n);
  }

  async closeStores(): Promise<void> {
    this.heads?.close();
    this.content.close();
    await this.store.close();
  }

  async close(): Promise<E.Either<LibraryError, void>> {
    if (this.closed) return E.right(undefined);
    const recorded = await this.recordReads();
    this.closed = true;
    await this.closeStores();
    return E.isLeft(recorded) ? recorded : E.right(undefined);
  }
}
