/**
 * `npm run bench`: every figure is a ratio against a raw baseline measured in
 * the same run, interleaved round by round, because these machines are noisy.
 *
 *   init            one instance's whole init (5 steps, keystore, SQLite) vs the
 *                   raw crypto it needs with node:crypto: RSA key generation +
 *                   wrap (RSA-OAEP-256 + AES-256-GCM) + unwrap.        target ≤ 1.3x
 *   append          single-event appends through the port (SQLite adapter) vs raw
 *                   better-sqlite3 single-row transactions, both WAL +
 *                   synchronous=FULL: throughput ratio.                  target ≥ 0.6x
 *   join            one join (the sponsor's joinInstance on an open SQLite store,
 *                   the newcomer already waiting, signatures checked) vs the raw
 *                   crypto it needs with node:crypto: unwrap the sponsor's copy
 *                   (RSA-OAEP-256 + AES-256-GCM), wrap it for the newcomer's public
 *                   key, one Ed25519 sign (the appended event) and the Ed25519
 *                   verifies a join needs (the newcomer's proof of possession; for
 *                   the trust walk, every signed event of the deployment stream and
 *                   every registration's proof of possession), counted from the
 *                   ledger before each round.                           target ≤ 4x
 *   join-scale      joining the 50th instance (deployment grown to 49 members)
 *                   vs joining the 2nd, several joins around each size,
 *                   interleaved.                                         target ≤ 1.5x
 *   diagnose-audit  one instance's `diagnose` and `audit` (the CLI, no config, --store) in the
 *                   catch-up bench's large ledger vs a 10k-event one: target ≤ 2x each, peak
 *                   RSS < 300 MB; `audit --all` streamed over the large ledger (bench/diagnose-audit.ts).
 *   tlog-append, tlog-proof, tlog-witness   the verifiable ledger (bench/tlog.ts): appends with the tree index vs
 *                   without (target ≥ 0.8x), an inclusion proof and a witness's start in a 1M-event ledger vs a
 *                   10k one (targets ≤ 2x).
 *   recreate        `keyledger recreate` over BENCH_SECRETS (10,000) secrets vs raw
 *                   node:crypto AES-256-GCM decrypt + encrypt and batched raw
 *                   SQLite writes of the same payloads (bench/recreate.ts): by the
 *                   member that put them (target ≥ 0.25x) and by another member
 *                   (reported), BENCH_RECREATE_ROUNDS (3) rounds each, medians.
 *   report          `report` for one deployment of the catch-up bench's ledger vs raw
 *                   better-sqlite3 read + 2x JSON.parse of that deployment's events
 *                   (bench/report.ts); peak RSS of its process.         target ≥ 0.3x, < 300 MB
 *   serve-ping, serve-append   `keyledger serve` under load (bench/serve.ts): GET /reportserver vs a bare fastify
 *                   route (target ≥ 0.5x); 32 concurrent appending requests with SQLite group commit vs one
 *                   transaction per command (target ≥ 1.5x), p99 latencies printed.
 *   board           the dashboard's board after a change, over synthetic views of 5,000 instances (bench/board.ts):
 *                   one viewer's page vs the whole board (reported, with bytes), and 5,000 vs 1,000 (target ≤ 7.5x).
 *
 * Options (env): BENCH_INIT_ROUNDS (default 24), BENCH_APPENDS (default 400),
 * BENCH_JOIN_ROUNDS (default 16), BENCH_JOIN_SCALE_ROUNDS (default 8),
 * BENCH_JOIN_SCALE_MEMBERS (default 49: members before the measured joins),
 * BENCH_SECRETS (default 10,000), BENCH_RECREATE_ROUNDS (default 3).
 * `node dist/bench/run.js join join-scale` runs only those.
 */
import Database from 'better-sqlite3';
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomUUID,
  type KeyObject,
  sign as ed25519Sign,
  verify as ed25519Verify,
} from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import { deploymentAggregate, type InstanceDeps, initInstance, startInstance } from '../src/commands/instance';
import { loadAggregate } from '../src/commands/handler';
import { sha256Hex } from '../src/infra/sha256';
import type { BenchResult } from './result';
import { benchCatchUp } from './catchup';
import { benchDiagnoseAudit } from './diagnose-audit';
import { benchStartup } from './startup';
import { joinInstance } from '../src/commands/membership';
import { currentCopyOf } from '../src/domain/deployment/decider';
import type { StoredEvent } from '../src/domain/envelope';
import type { SigningJwk } from '../src/domain/events';
import { EventSignature, eventSigningText, proofOfPossessionText, type Verify } from '../src/domain/signatures';
import { type DeploymentId, deploymentStream, type InstallationId, type NonEmptyString } from '../src/domain/ids';
import type { InstanceConfig } from '../src/domain/instance/decider';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto, privateJwkOf } from '../src/infra/jose-crypto';
import { privateSigningJwkOf } from '../src/infra/signing';
import { SqliteEventStore } from '../src/infra/sqlite-store';
import { openVerifiedSignatures } from '../src/infra/sqlite-verified';
import type { Crypto, Keystore, RememberedSignatures } from '../src/ports/crypto';
import type { EventStore } from '../src/ports/event-store';
import { benchEsdb } from './esdb';
import { formatEsdbProfile, profileEsdbReadAll } from './esdb-profile';
import { benchRecreate } from './recreate';
import { benchServeAppend, benchServePing } from './serve';
import { benchBoard } from './board';
import { benchReport } from './report';
import { benchSecrets } from './secrets';
import { benchTreeAppend, benchTreeProof, benchWitnessStart } from './tlog';

export type { BenchResult } from './result';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const tmp = (label: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `kl-bench-${label}-`));
const ms = (x: number): string => `${x.toFixed(1)} ms`;

// ─── init vs raw crypto ───────────────────────────────────────────────────

const rawInitCrypto = async (): Promise<void> => {
  const { publicKey, privateKey } = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, (err, pub, priv) =>
      err ? reject(err) : resolve({ publicKey: pub, privateKey: priv }),
    ),
  );
  const symmetric = randomBytes(32);
  // wrap: a content key under RSA-OAEP-256, the symmetric key under AES-256-GCM
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  const ciphertext = Buffer.concat([gcm.update(symmetric), gcm.final()]);
  const tag = gcm.getAuthTag();
  // unwrap
  const cek2 = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encryptedKey);
  const dec = createDecipheriv('aes-256-gcm', cek2, iv);
  dec.setAuthTag(tag);
  const out = Buffer.concat([dec.update(ciphertext), dec.final()]);
  if (!out.equals(symmetric)) throw new Error('raw baseline round trip failed');
};

/** One init on an open ledger, in a deployment of its own (so it creates a key, as a first instance does). */
const oneInit = async (store: SqliteEventStore, dir: string, i: number): Promise<void> => {
  const installationId = randomUUID() as InstallationId;
  const config: InstanceConfig = {
    installationId,
    deploymentId: `bench-${i + 1}` as DeploymentId,
    machineName: 'BENCH' as NonEmptyString,
    instanceName: 'MSSQLSERVER' as NonEmptyString,
    serviceIdentity: 'bench' as NonEmptyString,
    store: { kind: 'sqlite', location: dir },
    keystorePath: path.join(dir, `ks-${i}`, 'instance.keystore.json'),
  };
  const r = await initInstance(
    {
      store,
      crypto: joseCrypto(),
      keystore: fileKeystore(config.keystorePath),
      ctx: { actor: 'bench', command: 'init', correlationId: installationId, causationId: installationId, now: () => new Date(), newId: randomUUID },
      digest: sha256Hex,
      host: 'bench',
    },
    config,
  );
  if (E.isLeft(r) || r.right.state !== 'activated') throw new Error(`init failed: ${JSON.stringify(E.isLeft(r) ? r.left : r.right)}`);
};

export const benchInit = async (rounds = Number(process.env['BENCH_INIT_ROUNDS'] ?? 24)): Promise<BenchResult> => {
  const dir = tmp('init');
  const store = new SqliteEventStore(path.join(dir, 'ledger.db')); // the ledger exists before any init
  await oneInit(store, dir, -1); // warm up: module loading, JIT
  await rawInitCrypto();
  let ours = 0;
  let raw = 0;
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so drift on the machine hits both alike.
    const order = i % 2 === 0 ? ['ours', 'raw'] : ['raw', 'ours'];
    for (const which of order) {
      const t0 = now();
      if (which === 'ours') await oneInit(store, dir, i);
      else await rawInitCrypto();
      const dt = now() - t0;
      if (which === 'ours') ours += dt;
      else raw += dt;
    }
  }
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    name: 'init (5 steps) vs raw keygen+wrap+unwrap',
    ours: `${ms(ours / rounds)} / init`,
    baseline: `${ms(raw / rounds)} / round`,
    ratio: ours / raw,
    target: { op: '<=', value: 1.3 },
    note: `${rounds} interleaved rounds; RSA-2048 key generation time varies a lot per key`,
  };
};

// ─── appends vs raw better-sqlite3 ────────────────────────────────────────

const rawAppends = (file: string, n: number): number => {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT, data TEXT)');
  const insert = db.prepare('INSERT INTO t (stream, data) VALUES (?, ?)');
  const tx = db.transaction((s: string, d: string) => insert.run(s, d));
  const payload = JSON.stringify({ n: 1, text: 'x'.repeat(200) });
  const t0 = now();
  for (let i = 0; i < n; i++) tx.immediate('bench-stream', payload);
  const dt = now() - t0;
  db.close();
  return dt;
};

const portAppends = async (file: string, n: number): Promise<number> => {
  const store = new SqliteEventStore(file);
  const data = { n: 1, text: 'x'.repeat(200) };
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const r = await store.append('bench-stream', [{ id: randomUUID(), type: 'Bench', data, metadata: {} }], i === 0 ? 'no_stream' : BigInt(i - 1))();
    if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  }
  const dt = now() - t0;
  await store.close();
  return dt;
};

export const benchAppend = async (n = Number(process.env['BENCH_APPENDS'] ?? 400)): Promise<BenchResult> => {
  const dir = tmp('append');
  rawAppends(path.join(dir, 'warm-raw.db'), 20);
  await portAppends(path.join(dir, 'warm-port.db'), 20);
  let ours = 0;
  let raw = 0;
  const rounds = 4;
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      raw += rawAppends(path.join(dir, `raw-${r}.db`), n);
      ours += await portAppends(path.join(dir, `port-${r}.db`), n);
    } else {
      ours += await portAppends(path.join(dir, `port-${r}.db`), n);
      raw += rawAppends(path.join(dir, `raw-${r}.db`), n);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const total = n * rounds;
  const oursRate = total / (ours / 1000);
  const rawRate = total / (raw / 1000);
  return {
    name: 'single-event appends: port vs raw better-sqlite3 (WAL, FULL)',
    ours: `${oursRate.toFixed(0)} appends/s`,
    baseline: `${rawRate.toFixed(0)} rows/s`,
    ratio: oursRate / rawRate,
    target: { op: '>=', value: 0.6 },
    note: `${total} appends each, expected revision checked in every transaction`,
  };
};

// ─── join vs raw crypto ───────────────────────────────────────────────────

/** Where a join's time goes, summed over the joins measured (ms). */
interface JoinTimings {
  keystore: number;
  read: number;
  reads: number;
  eventsRead: number;
  thumbprint: number;
  verify: number;
  verifies: number;
  sign: number;
  unwrap: number;
  wrap: number;
  append: number;
  total: number;
  joins: number;
}

const noTimings = (): JoinTimings => ({
  keystore: 0,
  read: 0,
  reads: 0,
  eventsRead: 0,
  thumbprint: 0,
  verify: 0,
  verifies: 0,
  sign: 0,
  unwrap: 0,
  wrap: 0,
  append: 0,
  total: 0,
  joins: 0,
});

const timedSync = <A>(add: (dt: number) => void, f: () => A): A => {
  const t0 = now();
  try {
    return f();
  } finally {
    add(now() - t0);
  }
};

const timed =
  <L, A>(add: (dt: number, a: E.Either<L, A>) => void, te: TE.TaskEither<L, A>): TE.TaskEither<L, A> =>
  async () => {
    const t0 = now();
    const r = await te();
    add(now() - t0, r);
    return r;
  };

/** The ports, with a stopwatch on each call (a few µs per call). */
const timedStore = (store: EventStore, t: JoinTimings): EventStore => ({
  endpoint: store.endpoint,
  append: (stream, events, expected) => timed((dt) => (t.append += dt), store.append(stream, events, expected)),
  readStream: (stream, options) =>
    timed(
      (dt, r) => {
        t.read += dt;
        t.reads++;
        if (E.isRight(r)) t.eventsRead += r.right.length;
      },
      store.readStream(stream, options),
    ),
  readAll: (options) => store.readAll(options),
  subscribeToAll: (options) => store.subscribeToAll(options),
  close: () => store.close(),
});

const timedCrypto = (crypto: Crypto, t: JoinTimings): Crypto => ({
  ...crypto,
  thumbprint: (publicKey) => timed((dt) => (t.thumbprint += dt), crypto.thumbprint(publicKey)),
  signing: {
    ...crypto.signing,
    verify: (publicKey, message, signature) =>
      timedSync(
        (dt) => {
          t.verify += dt;
          t.verifies++;
        },
        () => crypto.signing.verify(publicKey, message, signature),
      ),
    sign: (key, message) =>
      timedSync(
        (dt) => (t.sign += dt),
        () => crypto.signing.sign(key, message),
      ),
  },
  unwrap: (jwe, key, expected) => timed((dt) => (t.unwrap += dt), crypto.unwrap(jwe, key, expected)),
  wrap: (key, recipient, binding) => timed((dt) => (t.wrap += dt), crypto.wrap(key, recipient, binding)),
});

const timedKeystore = (keystore: Keystore, t: JoinTimings): Keystore => ({
  ...keystore,
  load: (binding) => timed((dt) => (t.keystore += dt), keystore.load(binding)),
});

interface BenchMember {
  readonly config: InstanceConfig;
  readonly deps: (command: string, t?: JoinTimings) => InstanceDeps;
}

/**
 * `remember`: verified signatures are remembered in the member's local state, as the CLI does (join-scale
 * measures what an operator's join costs in a grown deployment); without it every join verifies the whole
 * stream (the join bench compares that with the same verifies done raw).
 */
const benchMember = (store: EventStore, dir: string, deploymentId: string, label: string, remember = false): BenchMember => {
  const installationId = randomUUID() as InstallationId;
  const config: InstanceConfig = {
    installationId,
    deploymentId: deploymentId as DeploymentId,
    machineName: `BENCH-${label}` as NonEmptyString,
    instanceName: 'MSSQLSERVER' as NonEmptyString,
    serviceIdentity: 'bench' as NonEmptyString,
    store: { kind: 'sqlite', location: dir },
    keystorePath: path.join(dir, 'ks', `${deploymentId}-${label}`, 'instance.keystore.json'),
  };
  const keystore = fileKeystore(config.keystorePath);
  const crypto = joseCrypto();
  let verifyNow: Verify = crypto.signing.verify;
  let remembered: RememberedSignatures | undefined;
  const rememberedVerify = (): RememberedSignatures | undefined => {
    if (!remember) return undefined;
    if (remembered) return remembered;
    const mac = keystore.localStateMac();
    if (E.isLeft(mac)) return undefined; // before init wrote the machine secret
    const opened = openVerifiedSignatures(path.join(path.dirname(config.keystorePath), 'state.db'), mac.right, (k, text, sig) => verifyNow(k, text, sig));
    if (E.isLeft(opened)) throw new Error(`bench: ${opened.left}`);
    remembered = opened.right;
    return remembered;
  };
  return {
    config,
    deps: (command, t) => {
      const c = t ? timedCrypto(crypto, t) : crypto;
      verifyNow = c.signing.verify;
      const memory = rememberedVerify();
      return {
        ...(memory ? { remembered: memory } : {}),
        digest: sha256Hex,
        host: 'bench',
        store: t ? timedStore(store, t) : store,
        crypto: c,
        keystore: t ? timedKeystore(keystore, t) : keystore,
        ctx: { actor: 'bench', command, correlationId: randomUUID(), causationId: randomUUID(), now: () => new Date(), newId: randomUUID },
        keySize: 2048,
      };
    },
  };
};

/**
 * Many members, fast: initInstance called directly (no CLI process), 2048-bit
 * keys. The first member of a deployment creates its key; the others stop at
 * "waiting to join". Key generation is nearly all of it.
 */
const initMember = async (
  store: EventStore,
  dir: string,
  deploymentId: string,
  label: string,
  expect: 'activated' | 'waiting-to-join',
  remember = false,
): Promise<BenchMember> => {
  const m = benchMember(store, dir, deploymentId, label, remember);
  const r = await initInstance(m.deps('init'), m.config);
  if (E.isLeft(r) || r.right.state !== expect)
    throw new Error(`bench init ${label}: expected ${expect}, got ${JSON.stringify(E.isLeft(r) ? r.left : r.right.state)}`);
  return m;
};

/** What the operator confirms at a join: the newcomer's signing-key thumbprint (its keystore's plain header, as its `status` prints it). */
const thumbprintOfKeystore = async (m: BenchMember): Promise<string> =>
  (JSON.parse(await fs.promises.readFile(m.config.keystorePath, 'utf8')) as { signingThumbprint: string }).signingThumbprint;

/** One measured join; throws unless it wrapped the key for the newcomer. */
const oneJoin = async (sponsor: BenchMember, newcomer: BenchMember, t?: JoinTimings): Promise<number> => {
  // The operator confirmed the newcomer's thumbprint (read from its own keystore, outside the timing).
  const expectThumbprint = await thumbprintOfKeystore(newcomer);
  const t0 = now();
  const r = await joinInstance(sponsor.deps('join', t), sponsor.config, newcomer.config.installationId, { expectThumbprint });
  const dt = now() - t0;
  if (E.isLeft(r) || r.right.alreadyJoined) throw new Error(`bench join failed: ${JSON.stringify(E.isLeft(r) ? r.left : r.right)}`);
  if (t) {
    t.total += dt;
    t.joins++;
  }
  return dt;
};

/** A JWE-like compact wrap with node:crypto: RSA-OAEP-256 for a fresh content key, AES-256-GCM for the key (header as AAD). */
const RAW_HEADER = Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })).toString('base64url');
const rawWrap = (symmetric: Buffer, recipient: KeyObject): string => {
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  const encryptedKey = publicEncrypt({ key: recipient, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  gcm.setAAD(Buffer.from(RAW_HEADER, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(symmetric), gcm.final()]);
  return [
    RAW_HEADER,
    encryptedKey.toString('base64url'),
    iv.toString('base64url'),
    ciphertext.toString('base64url'),
    gcm.getAuthTag().toString('base64url'),
  ].join('.');
};
const rawUnwrap = (jwe: string, key: KeyObject): Buffer => {
  const [header, encryptedKey, iv, ciphertext, tag] = jwe.split('.') as [string, string, string, string, string];
  const cek = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(encryptedKey, 'base64url'));
  const gcm = createDecipheriv('aes-256-gcm', cek, Buffer.from(iv, 'base64url'));
  gcm.setAAD(Buffer.from(header, 'ascii'));
  gcm.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([gcm.update(Buffer.from(ciphertext, 'base64url')), gcm.final()]);
};

/** One Ed25519 verification as a join's trust walk or proof check does it: a public key, the signed bytes, the signature. */
interface RawVerify {
  readonly key: KeyObject;
  readonly message: Buffer;
  readonly signature: Buffer;
}

/** What a join needs in crypto, raw: unwrap the sponsor's copy, wrap for the newcomer, one sign, its verifies. */
interface RawJoin {
  readonly copy: string;
  readonly sponsorKey: KeyObject;
  readonly newcomerKey: KeyObject;
  readonly signingKey: KeyObject;
  /** A text like the one the appended event's signature covers (the stream's last event's, one revision on). */
  readonly toSign: Buffer;
  readonly verifies: ReadonlyArray<RawVerify>;
}

/** Keys imported once per process, as a raw program would (outside the timing). */
const ed25519Keys = new Map<string, KeyObject>();
const ed25519Key = (jwk: SigningJwk): KeyObject => {
  let k = ed25519Keys.get(jwk.x);
  if (!k) {
    k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
    ed25519Keys.set(jwk.x, k);
  }
  return k;
};

/**
 * The Ed25519 verifies a join makes on this deployment stream, read from the ledger: every signed event's
 * signature (by its signer's registered key) and every signing-key registration's proof of possession
 * (the trust walk, src/domain/trust.ts), then the newcomer's proof of possession (the join's own check).
 */
const verifiesOf = (events: ReadonlyArray<StoredEvent>, newcomer: InstallationId): RawVerify[] => {
  const keys = new Map<string, SigningJwk>(); // by installation ID (lower case)
  const out: RawVerify[] = [];
  let newcomerProof: RawVerify | undefined;
  for (const e of events) {
    const sig = EventSignature.decode(e.metadata.sig);
    // A key replacement is signed by the previous key; a registration by the key it registers.
    const previous = E.isRight(sig) ? keys.get(sig.right.by.toLowerCase()) : undefined;
    const d = e.event.data as Partial<{
      installationId: string;
      thumbprint: string;
      signingKey: SigningJwk;
      signingThumbprint: string;
      signingKeyProof: string;
    }>;
    if (d.installationId && d.thumbprint && d.signingKey && d.signingThumbprint && d.signingKeyProof) {
      const proof = {
        key: ed25519Key(d.signingKey),
        message: Buffer.from(proofOfPossessionText(d.installationId, d.thumbprint, d.signingThumbprint), 'utf8'),
        signature: Buffer.from(d.signingKeyProof, 'base64url'),
      };
      out.push(proof);
      keys.set(d.installationId.toLowerCase(), d.signingKey);
      if (d.installationId.toLowerCase() === newcomer.toLowerCase()) newcomerProof = proof;
    }
    if (E.isLeft(sig)) continue;
    const signer = e.event.type === 'PublicKeyReplaced' ? previous : keys.get(sig.right.by.toLowerCase());
    if (!signer) throw new Error(`bench: ${e.event.type} at ${e.revision} is signed by an unregistered key`);
    out.push({
      key: ed25519Key(signer),
      message: Buffer.from(eventSigningText(e.stream, e.revision, e.event.type, e.event.data, e.metadata), 'utf8'),
      signature: Buffer.from(sig.right.value, 'base64url'),
    });
  }
  if (!newcomerProof) throw new Error('bench: the newcomer registered no signing key');
  out.push(newcomerProof);
  return out;
};

const rawJoinCrypto = (raw: RawJoin): number => {
  const t0 = now();
  const symmetric = rawUnwrap(raw.copy, raw.sponsorKey);
  if (symmetric.length !== 32) throw new Error('raw baseline: unexpected key length');
  rawWrap(symmetric, raw.newcomerKey);
  for (const v of raw.verifies) if (!ed25519Verify(null, v.message, v.key, v.signature)) throw new Error('raw baseline: a signature does not verify');
  ed25519Sign(null, raw.toSign, raw.signingKey);
  return now() - t0;
};

/** The sponsor's real private keys, as node:crypto objects (imported once). */
const rawKeys = async (sponsor: BenchMember): Promise<{ sponsorKey: KeyObject; signingKey: KeyObject }> => {
  const held = await fileKeystore(sponsor.config.keystorePath).load({
    installationId: sponsor.config.installationId,
    serviceIdentity: sponsor.config.serviceIdentity,
  })();
  if (E.isLeft(held)) throw new Error(`bench: cannot load the sponsor keystore: ${JSON.stringify(held.left)}`);
  if (!held.right.signing) throw new Error('bench: the sponsor has no signing key');
  return {
    sponsorKey: createPrivateKey({ key: privateJwkOf(held.right.privateKey) as never, format: 'jwk' }),
    signingKey: createPrivateKey({ key: privateSigningJwkOf(held.right.signing.handle) as never, format: 'jwk' }),
  };
};

/** The raw join's inputs from the ledger as it is now: the sponsor's real copy (the JWE), the newcomer's key, the verifies. */
const rawInputs = async (
  store: EventStore,
  sponsor: BenchMember,
  newcomer: BenchMember,
  keys: { sponsorKey: KeyObject; signingKey: KeyObject },
): Promise<RawJoin> => {
  const dep = await loadAggregate(store, deploymentAggregate(sponsor.config.deploymentId), sha256Hex)();
  if (E.isLeft(dep)) throw new Error(`bench: cannot load the deployment: ${JSON.stringify(dep.left)}`);
  const copy = currentCopyOf(dep.right.state, sponsor.config.installationId);
  const newcomerJwk = dep.right.state.registered[newcomer.config.installationId]?.publicKey;
  if (!copy || !newcomerJwk) throw new Error('bench: no sponsor copy or newcomer key in the deployment');
  const last = dep.right.events[dep.right.events.length - 1]!;
  return {
    copy: copy.copy.jwe,
    ...keys,
    newcomerKey: createPublicKey({ key: newcomerJwk as never, format: 'jwk' }),
    toSign: Buffer.from(eventSigningText(last.stream, last.revision + 1n, last.event.type, last.event.data, last.metadata), 'utf8'),
    verifies: verifiesOf(dep.right.events, newcomer.config.installationId),
  };
};

const perJoin = (t: JoinTimings): string => {
  const n = Math.max(1, t.joins);
  const rest = t.total - t.keystore - t.read - t.thumbprint - t.verify - t.sign - t.unwrap - t.wrap - t.append;
  return (
    `per join ${ms(t.total / n)}: keystore load ${ms(t.keystore / n)}, ${(t.reads / n).toFixed(0)} stream reads (${(t.eventsRead / n).toFixed(0)} events) ${ms(t.read / n)}, ` +
    `RSA thumbprint ${ms(t.thumbprint / n)}, ${(t.verifies / n).toFixed(1)} Ed25519 verifies ${ms(t.verify / n)}, sign ${ms(t.sign / n)}, ` +
    `decode+hash-verify+evolve+trust walk+decide+seal ${ms(rest / n)}, unwrap ${ms(t.unwrap / n)}, wrap ${ms(t.wrap / n)}, append+fsync ${ms(t.append / n)}`
  );
};

export const benchJoin = async (rounds = Number(process.env['BENCH_JOIN_ROUNDS'] ?? 16)): Promise<BenchResult> => {
  const dir = tmp('join');
  const store = new SqliteEventStore(path.join(dir, 'ledger.db'));
  try {
    const sponsor = await initMember(store, dir, 'bench-join', 'sponsor', 'activated');
    const newcomers: BenchMember[] = [];
    for (let i = 0; i <= rounds; i++) newcomers.push(await initMember(store, dir, 'bench-join', `n${i}`, 'waiting-to-join'));
    const keys = await rawKeys(sponsor);
    // Warm up: module loading, JIT.
    const warm = await rawInputs(store, sponsor, newcomers[0]!, keys);
    await oneJoin(sponsor, newcomers[0]!);
    for (let i = 0; i < 3; i++) rawJoinCrypto(warm);
    const t = noTimings();
    let rawTotal = 0;
    let rawVerifies = 0;
    for (let i = 1; i <= rounds; i++) {
      // The ledger as this round's join reads it (each join appends one signed wrap).
      const raw = await rawInputs(store, sponsor, newcomers[i]!, keys);
      rawVerifies += raw.verifies.length;
      // Alternate which goes first, so drift on the machine hits both alike.
      if (i % 2 === 0) {
        await oneJoin(sponsor, newcomers[i]!, t);
        rawTotal += rawJoinCrypto(raw);
      } else {
        rawTotal += rawJoinCrypto(raw);
        await oneJoin(sponsor, newcomers[i]!, t);
      }
    }
    if (rawVerifies !== t.verifies)
      throw new Error(`bench: the raw baseline made ${rawVerifies} verifies, the joins ${t.verifies}: count them in verifiesOf as a join now makes them`);
    return {
      name: 'join (sponsor joinInstance, SQLite, signatures checked) vs raw unwrap+wrap+Ed25519 sign+verifies (node:crypto)',
      ours: `${ms(t.total / rounds)} / join`,
      baseline: `${ms(rawTotal / rounds)} / round`,
      ratio: t.total / rawTotal,
      target: { op: '<=', value: 4 },
      note: `${rounds} interleaved rounds, RSA-2048, ${(rawVerifies / rounds).toFixed(1)} verifies per round on both sides; ${perJoin(t)}`,
    };
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

// ─── join-scale: the 50th member vs the 2nd ───────────────────────────────

export const benchJoinScale = async (
  rounds = Number(process.env['BENCH_JOIN_SCALE_ROUNDS'] ?? 8),
  members = Number(process.env['BENCH_JOIN_SCALE_MEMBERS'] ?? 49),
): Promise<BenchResult> => {
  const dir = tmp('join-scale');
  const store = new SqliteEventStore(path.join(dir, 'ledger.db'));
  try {
    // Two deployments in one ledger: "small" has one member, "big" is grown to `members` activated members.
    const small = await initMember(store, dir, 'bench-small', 'sponsor', 'activated', true);
    const big = await initMember(store, dir, 'bench-big', 'sponsor', 'activated', true);
    const t0 = now();
    for (let i = 1; i < members; i++) {
      const m = await initMember(store, dir, 'bench-big', `m${i}`, 'waiting-to-join', true);
      await oneJoin(big, m);
      const s = await startInstance(m.deps('start'), m.config);
      if (E.isLeft(s) || s.right.state !== 'activated') throw new Error(`bench: member ${i} did not activate`);
    }
    const growMs = now() - t0;
    const waitingSmall: BenchMember[] = [];
    const waitingBig: BenchMember[] = [];
    for (let i = 0; i < rounds; i++) {
      waitingSmall.push(await initMember(store, dir, 'bench-small', `w${i}`, 'waiting-to-join'));
      waitingBig.push(await initMember(store, dir, 'bench-big', `w${i}`, 'waiting-to-join'));
    }
    // Warm up (module loading, JIT) on a third deployment, so the measured joins are exactly the
    // small deployment's 2nd, 3rd, … member and the big one's (members+1)th, … — interleaved.
    const warm = await initMember(store, dir, 'bench-warm', 'sponsor', 'activated', true);
    await oneJoin(warm, await initMember(store, dir, 'bench-warm', 'w', 'waiting-to-join'));
    const ts = noTimings();
    const tb = noTimings();
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        await oneJoin(small, waitingSmall[i]!, ts);
        await oneJoin(big, waitingBig[i]!, tb);
      } else {
        await oneJoin(big, waitingBig[i]!, tb);
        await oneJoin(small, waitingSmall[i]!, ts);
      }
    }
    const events = async (d: string): Promise<number> => {
      const r = await store.readStream(deploymentStream(d as DeploymentId))();
      return E.isRight(r) ? r.right.length : -1;
    };
    return {
      name: `join-scale: joining member #${members + 1}–#${members + rounds} vs #2–#${rounds + 1} of a deployment`,
      ours: `${ms(tb.total / rounds)} / join (#${members + 1}…)`,
      baseline: `${ms(ts.total / rounds)} / join (#2…)`,
      ratio: tb.total / ts.total,
      target: { op: '<=', value: 1.5 },
      note:
        `${rounds} interleaved joins each; deployment streams end at ${await events('bench-big')} vs ${await events('bench-small')} events; ` +
        `growing to ${members} members took ${(growMs / 1000).toFixed(1)} s. big: ${perJoin(tb)}. small: ${perJoin(ts)}`,
    };
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

// ─── Report ───────────────────────────────────────────────────────────────

export const printResults = (results: ReadonlyArray<BenchResult>): boolean => {
  let ok = true;
  process.stdout.write('\nkeyledger benchmarks (ratios against baselines measured in this same run)\n\n');
  for (const r of results) {
    const verdict = r.target ? ((r.target.op === '<=' ? r.ratio <= r.target.value : r.ratio >= r.target.value) ? 'meets' : 'MISSES') : 'reported';
    if (verdict === 'MISSES') ok = false;
    process.stdout.write(
      `${r.name}\n${r.ours ? `  ours ${r.ours}   baseline ${r.baseline}\n` : ''}` +
        `  ratio ${r.ratio.toFixed(2)}x${r.target ? `   target ${r.target.op} ${r.target.value}x: ${verdict}` : ''}\n` +
        `${r.note ? `  (${r.note})\n` : ''}\n`,
    );
  }
  return ok;
};

const main = async (): Promise<void> => {
  const only = process.argv.slice(2);
  const benches: Record<string, () => Promise<BenchResult | ReadonlyArray<BenchResult>>> = {
    init: () => benchInit(),
    append: () => benchAppend(),
    join: () => benchJoin(),
    'join-scale': () => benchJoinScale(),
    startup: () => benchStartup(),
    catchup: () => benchCatchUp(),
    'diagnose-audit': () => benchDiagnoseAudit(),
    secrets: () => benchSecrets(),
    recreate: () => benchRecreate(),
    report: () => benchReport(),
    'serve-ping': () => benchServePing(),
    'serve-append': () => benchServeAppend(),
    board: () => benchBoard(),
    'tlog-append': () => benchTreeAppend(),
    'tlog-proof': () => benchTreeProof(),
    'tlog-witness': () => benchWitnessStart(),
    esdb: async () =>
      (await benchEsdb()).map(
        (r): BenchResult => ({ name: `EventStoreDB adapter + double vs SQLite: ${r.name}`, ours: '', baseline: '', ratio: r.ratio, note: r.detail }),
      ),
    'esdb-profile': async () => {
      const p = await profileEsdbReadAll();
      return {
        name: `EventStoreDB readAll of ${p.n} events, where the time goes (adapter · double · client · wire)`,
        ours: `${p.adapterMs.toFixed(1)} ms`,
        baseline: `${p.sqliteMs.toFixed(1)} ms (SQLite)`,
        ratio: p.adapterMs / p.sqliteMs,
        note: formatEsdbProfile(p)
          .split('\n')
          .slice(1)
          .map((l) => l.trim())
          .join('; '),
      };
    },
  };
  const results: BenchResult[] = [];
  for (const [name, run] of Object.entries(benches)) {
    if (only.length > 0 && !only.includes(name)) continue;
    process.stderr.write(`running ${name}…\n`);
    const r = await run();
    results.push(...(Array.isArray(r) ? r : [r as BenchResult]));
  }
  printResults(results);
};

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
