/**
 * The composition root's shared part: open the config and the store for a
 * command, build the command dependencies (crypto and keystore are loaded only
 * by the commands that use them), fold the activation view, print results and
 * errors. Every failure is one line on stderr and an exit code; nothing throws.
 */
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import type { HandlerDeps } from '../commands/handler';
import type { Crypto, Keystore, RememberedSignatures } from '../ports/crypto';
import type { HeadStore } from '../ports/heads';
import type { InstanceDeps } from '../commands/instance';
import type { SecretDeps } from '../commands/secrets';
import { signerOf } from '../commands/signing';
import type { CommandContext, EventSigner } from '../domain/envelope';
import { nameProblem, shown } from '../domain/text';
import type { KeySize } from '../domain/events';
import { InstallationId } from '../domain/ids';
import { type LoadedConfig, loadConfig } from '../infra/config';
import { fileOpLog, type OpLog } from '../infra/oplog';
import { openStore } from '../infra/open-store';
import { storeAccess } from '../infra/store-access';
import { pauseFromEnv } from '../infra/pause';
import { sha256Hex } from '../infra/sha256';
import { sweepLeftovers } from '../infra/file-modes';
import { localStateMacFrom, readMachineSecret, secretFileOf } from '../infra/machine-secret';
import { openSqliteCheckpoints } from '../infra/sqlite-checkpoints';
import type { CheckpointStore } from '../ports/checkpoints';
import type { ContentStore } from '../ports/content';
import type { EventStore } from '../ports/event-store';
import { activationProjection, type ActivationView } from '../projections/activation';
import { catchUp, checkpointKey } from '../projections/runner';
import { type CliError, describeError, exitCodeOf } from './errors';
import type { GlobalOptions, Io } from './io';
import { progressReporter } from './progress';
import type { TreeDeps } from '../commands/tree';
import type { NoteSigner, WitnessDeps } from '../commands/witness';
import { fromBase64Url } from '../domain/tlog/bytes';
import { writePrivateFile } from '../infra/file-modes';

export interface Session {
  readonly config: LoadedConfig;
  readonly store: EventStore;
  readonly log: OpLog;
  readonly ctx: (command: string) => CommandContext;
  /** The host name recorded with start-check outcomes ($KEYLEDGER_HOST, default: this host's name). */
  readonly host: string;
  readonly env: NodeJS.ProcessEnv;
  readonly adapters: NonNullable<Io['adapters']>;
  /** Registers what to close when the command is done (local files opened on the way). */
  readonly onClose: (f: () => void) => void;
  readonly closeLocal: () => void;
}

const defaultActor = (): string => {
  try {
    return `${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return `uid-${process.getuid?.() ?? 'unknown'}@${os.hostname()}`;
  }
};

/** Prints the error as one line on stderr and gives its exit code. */
export const fail = (io: Io, e: CliError): number => {
  io.stderr(`keyledger: ${describeError(e)}\n`);
  return exitCodeOf(e);
};

export const usage = (message: string): E.Either<CliError, never> => E.left({ _tag: 'UsageError', message });

export const emit = (io: Io, g: GlobalOptions, json: unknown, text: string): void => {
  io.stdout(g.json ? `${JSON.stringify(json, null, 2)}\n` : text);
};

/** An installation ID from the command line (case-insensitive, stored lowercase). */
export const parseInstallationId = (id: string): E.Either<CliError, InstallationId> => {
  const lower = id.toLowerCase();
  return InstallationId.is(lower) ? E.right(lower) : usage(`"${shown(id, 64)}" is not an installation ID (a GUID)`);
};

export const openSession = async (io: Io, g: GlobalOptions, options: SessionOptions = {}): Promise<E.Either<CliError, Session>> => {
  // Recorded on every event and shown to every later reader: checked at the door, never echoed back.
  const actorProblem = g.actor !== undefined ? nameProblem(g.actor) : undefined;
  if (actorProblem !== undefined) return usage(`--actor ${actorProblem}: give 1–128 printable characters (who is acting, e.g. ops@example)`);
  const envActor = io.env['KEYLEDGER_ACTOR'];
  const envActorProblem = g.actor === undefined && envActor !== undefined ? nameProblem(envActor) : undefined;
  if (envActorProblem !== undefined) return usage(`KEYLEDGER_ACTOR ${envActorProblem}: give 1–128 printable characters`);
  const correlationProblem = g.correlationId !== undefined ? nameProblem(g.correlationId) : undefined;
  if (correlationProblem !== undefined)
    return usage(`--correlation-id ${correlationProblem}: give 1–128 printable characters (a change ticket, an outer operation's ID)`);
  const config = loadConfig(g.config);
  if (E.isLeft(config)) return config;
  // A kill -9 while a keystore was being written can leave its temp file (an unrecorded private key): any
  // command for this instance removes it, unless the process writing it still runs.
  sweepLeftovers(config.right.instance.keystorePath);
  const connection = g.store ?? io.env['KEYLEDGER_STORE'] ?? config.right.storeConnection;
  const { instanceName, machineName } = config.right.instance;
  const access = storeAccess(connection, {
    settings: config.right.esdb,
    connectionName: `keyledger ${instanceName}@${machineName}`,
    env: io.env,
    fromCommandLine: g.store !== undefined,
    allowInsecure: g.allowInsecureStore === true,
  });
  if (E.isLeft(access)) return E.left({ _tag: 'ConfigError', file: config.right.file, message: access.left });
  for (const w of access.right.warnings) io.stderr(`keyledger: warning: ${w}\n`);
  const store = await openStore(connection, path.dirname(config.right.file), {
    ledgerAccess: config.right.ledgerAccess,
    mayCreate: options.mayCreateLedger?.(config.right) ?? false,
    ...(access.right.esdb ? { esdb: access.right.esdb } : {}),
    ...(options.groupCommit ? { groupCommit: true } : {}),
  });
  if (E.isLeft(store)) return store;
  const actor = g.actor ?? io.env['KEYLEDGER_ACTOR'] ?? defaultActor();
  const correlationId = g.correlationId ?? randomUUID();
  return E.right(sessionOn({ config: config.right, store: store.right, env: io.env, adapters: io.adapters ?? {} }, { actor, correlationId }));
};

/** What a long-running server shares between its requests: the config and the store it opened (and closes itself). */
export interface SessionBase {
  readonly config: LoadedConfig;
  readonly store: EventStore;
  readonly env: NodeJS.ProcessEnv;
  readonly adapters: NonNullable<Io['adapters']>;
}

/**
 * A session over a config and a store already open: the CLI's (one per command), or one per HTTP request of
 * `keyledger serve`, whose actor is the name of the request's token. Its local files close with `closeLocal`;
 * the store is the opener's to close.
 */
export const sessionOn = (base: SessionBase, who: { readonly actor: string; readonly correlationId: string }): Session => {
  const closers: Array<() => void> = [];
  return {
    config: base.config,
    store: base.store,
    log: fileOpLog(base.config.stateDir),
    ctx: (command) => ({
      actor: who.actor,
      command,
      correlationId: who.correlationId,
      causationId: who.correlationId,
      now: () => new Date(),
      newId: randomUUID,
    }),
    host: base.env['KEYLEDGER_HOST'] ?? os.hostname(),
    env: base.env,
    adapters: base.adapters,
    onClose: (f) => closers.push(f),
    closeLocal: () => {
      for (const close of closers.splice(0).reverse()) close();
    },
  };
};

/** Opens the session, runs `f`, closes the store; a failure anywhere is one line on stderr and its exit code. */
export interface SessionOptions {
  /** Whether a missing (or empty) SQLite ledger may be created: only init's, for a first instance (default: never). */
  readonly mayCreateLedger?: (config: LoadedConfig) => boolean;
  /** A SQLite ledger appends concurrent appends of this process in shared transactions (`serve`: see SqliteStoreOptions.groupCommit). */
  readonly groupCommit?: boolean;
}

export const withSession = async (
  io: Io,
  g: GlobalOptions,
  f: (s: Session) => Promise<E.Either<CliError, number>>,
  options: SessionOptions = {},
): Promise<number> => {
  const s = await openSession(io, g, options);
  if (E.isLeft(s)) return fail(io, s.left);
  try {
    const r = await f(s.right);
    return E.isLeft(r) ? fail(io, r.left) : r.right;
  } finally {
    s.right.closeLocal();
    await s.right.store.close();
  }
};

/** The ledger's Merkle tree index: in the SQLite ledger itself, or a local one under the state folder (EventStoreDB). */
export const treeDeps = async (s: Session): Promise<E.Either<CliError, TreeDeps>> => {
  const { sha256Bytes } = await import('../infra/sqlite-tree');
  const { SqliteEventStore } = await import('../infra/sqlite-store');
  if (s.store instanceof SqliteEventStore) return E.right({ store: s.store, tree: s.store.treeIndex(), sha256: sha256Bytes });
  const { localTreeIndex } = await import('../infra/sqlite-tree-index');
  const tree = localTreeIndex(s.config.stateDir, s.store);
  if (E.isLeft(tree)) return tree;
  s.onClose(() => tree.right.close());
  return E.right({ store: s.store, tree: tree.right, sha256: sha256Bytes });
};

/** This instance's signing key as a note signer (undefined: no keystore, or one from before signing keys). */
export const noteSignerOf = async (s: Session, deps: InstanceDeps): Promise<NoteSigner | undefined> => {
  const held = await deps.keystore.load({ installationId: s.config.instance.installationId, serviceIdentity: s.config.instance.serviceIdentity })();
  const signing = E.isRight(held) ? held.right.signing : undefined;
  const publicKey = signing ? fromBase64Url(signing.publicKey.x) : undefined;
  if (!signing || !publicKey || publicKey.length !== 32) return undefined;
  return {
    installationId: s.config.instance.installationId,
    publicKey,
    sign: (text) => fromBase64Url(deps.crypto.signing.sign(signing.handle, text)) ?? new Uint8Array(0),
  };
};

/** Where an instance keeps the last checkpoint it signed or co-signed (its evidence for `verify --checkpoint`). */
export const signedNoteFile = (s: Session): string => path.join(s.config.stateDir, `signed-${s.config.instance.installationId}.checkpoint`);

/** What a member needs to witness the ledger's tree or sign a checkpoint (undefined: no machine secret or no signing key here). */
export const witnessDeps = async (s: Session, deps: InstanceDeps): Promise<E.Either<CliError, WitnessDeps | undefined>> => {
  if (!deps.heads) return E.right(undefined);
  const signer = await noteSignerOf(s, deps);
  if (!signer) return E.right(undefined);
  const tree = await treeDeps(s);
  if (E.isLeft(tree)) return tree;
  const file = signedNoteFile(s);
  return E.right({
    ...tree.right,
    heads: deps.heads,
    signer,
    ctx: deps.ctx,
    keepNote: (note) => {
      try {
        writePrivateFile(file, note);
      } catch {
        // evidence for the operator only: the note is kept with the ledger too
      }
    },
  });
};

/** The keystore of the session's instance (node-jose loads here, not at start-up). */
const keystoreOf = async (s: Session): Promise<Keystore> => {
  const { fileKeystore } = await import('../infra/file-keystore');
  return fileKeystore(s.config.instance.keystorePath, s.config.keystoreSecretFile === null ? {} : { secretFile: s.config.keystoreSecretFile });
};

/**
 * The stream heads this instance relied on, under its local-state MAC (rollback detection). None when
 * its machine secret is not there (a lost keystore cannot be protected, and is refused by the start check anyway).
 */
const headsOf = async (s: Session, keystore: Keystore): Promise<HeadStore | undefined> => {
  const mac = keystore.localStateMac();
  return E.isLeft(mac) ? undefined : headsUnder(s, mac.right);
};

/** The same, for a command that does not open the keystore (status): keyed from the machine secret alone. */
export const rememberedHeads = async (s: Session): Promise<HeadStore | undefined> => {
  const mac = localStateMacOf(s);
  return mac === undefined ? undefined : headsUnder(s, mac);
};

const headsUnder = async (s: Session, mac: (text: string) => string): Promise<HeadStore> => {
  const { openSqliteHeads } = await import('../infra/sqlite-heads');
  const opened = openSqliteHeads(path.join(s.config.stateDir, 'projections.db'), s.config.instance.installationId, s.store.endpoint, mac);
  if (E.isLeft(opened)) {
    const error = opened.left;
    return { load: () => E.left(error), save: () => E.left(error), reset: () => E.left(error) };
  }
  s.onClose(() => opened.right.close());
  return opened.right;
};

/** The local-state MAC of this instance, from its machine secret (undefined: the secret is not here). */
const localStateMacOf = (s: Session): ((text: string) => string) | undefined => {
  const secret = readMachineSecret(secretFileOf(s.config.instance.keystorePath, s.config.keystoreSecretFile ?? undefined), false);
  return E.isRight(secret) ? localStateMacFrom(secret.right) : undefined;
};

/** Signature verification that remembers what verified, under the local-state MAC (none without a machine secret). */
const verifiedSignaturesOf = async (s: Session, keystore: Keystore, crypto: Crypto): Promise<RememberedSignatures | undefined> => {
  const mac = keystore.localStateMac();
  if (E.isLeft(mac)) return undefined;
  const { openVerifiedSignatures } = await import('../infra/sqlite-verified');
  const opened = openVerifiedSignatures(path.join(s.config.stateDir, 'projections.db'), mac.right, crypto.signing.verify);
  if (E.isLeft(opened)) return undefined;
  s.onClose(() => opened.right.close());
  return opened.right;
};

/** What a command that only reads and appends needs. */
export const handlerDeps = async (s: Session, command: string, keystore?: Keystore): Promise<HandlerDeps> => {
  const pause = pauseFromEnv(s.env);
  const heads = await headsOf(s, keystore ?? (await keystoreOf(s)));
  return { store: s.store, ctx: s.ctx(command), digest: sha256Hex, ...(pause ? { pause } : {}), ...(heads ? { heads } : {}) };
};

/** What a command with keys needs: crypto and the keystore are loaded here, not at start-up. */
export const instanceDeps = async (s: Session, command: string, keySize?: KeySize): Promise<InstanceDeps> => {
  const { joseCrypto } = await import('../infra/jose-crypto');
  const keystore = await keystoreOf(s);
  const crypto = s.adapters.crypto?.() ?? joseCrypto();
  const remembered = await verifiedSignaturesOf(s, keystore, crypto);
  return {
    ...(await handlerDeps(s, command, keystore)),
    crypto,
    keystore,
    host: s.host,
    keySize: keySize ?? s.config.keySize,
    ...(remembered ? { remembered } : {}),
  };
};

/** The instance's signer, when its keystore opens and holds a signing key (a removal or an acceptance is signed by who ran it). */
export const instanceSigner = async (s: Session, deps: InstanceDeps): Promise<EventSigner | undefined> =>
  signerOf(deps.crypto, await deps.keystore.load({ installationId: s.config.instance.installationId, serviceIdentity: s.config.instance.serviceIdentity })());

/**
 * The view checkpoints of this instance's state folder, MAC'd under its local-state key when its machine
 * secret is here (a checkpoint that does not verify is rebuilt from the ledger: ADR 0009, defence 7).
 */
export const viewCheckpoints = (s: Session): E.Either<CliError, CheckpointStore> => {
  const mac = localStateMacOf(s);
  return openSqliteCheckpoints(path.join(s.config.stateDir, 'projections.db'), mac === undefined ? {} : { mac });
};

/** Whether the local view has nothing to resume from (a first run on this machine, a view-version bump). */
export const viewIsCold = (s: Session): E.Either<CliError, boolean> => {
  const checkpoints = viewCheckpoints(s);
  if (E.isLeft(checkpoints)) return checkpoints;
  try {
    const cp = checkpoints.right.load(checkpointKey(activationProjection, s.store));
    return E.isLeft(cp) ? cp : E.right(!cp.right || cp.right.version !== activationProjection.version || cp.right.heads === null);
  } finally {
    checkpoints.right.close();
  }
};

/** The activation view, caught up from its local checkpoint (progress on a terminal). */
export const loadView = async (io: Io, s: Session, g: GlobalOptions): Promise<E.Either<CliError, ActivationView>> => {
  const checkpoints = viewCheckpoints(s);
  if (E.isLeft(checkpoints)) return checkpoints;
  const progress = progressReporter(io, !g.json, 'replaying ledger');
  try {
    const r = await catchUp(s.store, activationProjection, checkpoints.right, { digest: sha256Hex, onProgress: progress.update })();
    progress.stop();
    if (E.isLeft(r)) return r;
    if (r.right.rebuilt?.reason === 'ledger-replaced')
      io.stderr(
        `keyledger: the local view no longer matches the ledger (it was replaced or restored from a backup): rebuilt it from the ledger's ${r.right.processed} events\n`,
      );
    return E.right(r.right.state);
  } finally {
    checkpoints.right.close();
  }
};

/**
 * What a secret command needs: the instance's deps, the content store beside the ledger (SQLite: a table in the
 * same file, through its own connection; EventStoreDB: one stream per secret) and the content cipher.
 */
export const secretDeps = async (s: Session, command: string): Promise<E.Either<CliError, SecretDeps>> => {
  if (s.store.endpoint === 'sqlite::memory:') return usage('secrets need a ledger in a file or on EventStoreDB, not in memory');
  const { contentCipher } = await import('../infra/content-cipher');
  let content: ContentStore;
  if (s.store.endpoint.startsWith('sqlite:')) {
    const { openSqliteContent } = await import('../infra/sqlite-content');
    const opened = openSqliteContent(s.store.endpoint.slice('sqlite:'.length));
    if (E.isLeft(opened)) return opened;
    content = opened.right;
  } else content = (await import('../infra/eventstore-content')).eventStoreContent(s.store);
  s.onClose(() => content.close());
  return E.right({ ...(await instanceDeps(s, command)), content, cipher: contentCipher() });
};
