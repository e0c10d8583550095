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
 *
 * Options (env): BENCH_INIT_ROUNDS (default 24), BENCH_APPENDS (default 400).
 */
import Database from 'better-sqlite3';
import { constants, createCipheriv, createDecipheriv, generateKeyPair, privateDecrypt, publicEncrypt, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { initInstance } from '../src/commands/instance';
import type { DeploymentId, InstallationId, NonEmptyString } from '../src/domain/ids';
import type { InstanceConfig } from '../src/domain/instance/decider';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto } from '../src/infra/jose-crypto';
import { SqliteEventStore } from '../src/infra/sqlite-store';
import { benchEsdb } from './esdb';

export interface BenchResult {
  readonly name: string;
  readonly ours: string;
  readonly baseline: string;
  readonly ratio: number;
  readonly target?: { readonly op: '<=' | '>='; readonly value: number };
  readonly note?: string;
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const tmp = (label: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `kl-bench-${label}-`));
const ms = (x: number): string => `${x.toFixed(1)} ms`;

// ─── init vs raw crypto ───────────────────────────────────────────────────

const rawInitCrypto = async (): Promise<void> => {
  const { publicKey, privateKey } = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, (err, pub, priv) => (err ? reject(err) : resolve({ publicKey: pub, privateKey: priv }))),
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

// ─── Report ───────────────────────────────────────────────────────────────

export const printResults = (results: ReadonlyArray<BenchResult>): boolean => {
  let ok = true;
  process.stdout.write('\nkeyledger benchmarks (ratios against baselines measured in this same run)\n\n');
  for (const r of results) {
    const verdict = r.target ? ((r.target.op === '<=' ? r.ratio <= r.target.value : r.ratio >= r.target.value) ? 'meets' : 'MISSES') : 'reported';
    if (verdict === 'MISSES') ok = false;
    process.stdout.write(`${r.name}\n${r.ours ? `  ours ${r.ours}   baseline ${r.baseline}\n` : ''}  ratio ${r.ratio.toFixed(2)}x${r.target ? `   target ${r.target.op} ${r.target.value}x: ${verdict}` : ''}\n${r.note ? `  (${r.note})\n` : ''}\n`);
  }
  return ok;
};

const main = async (): Promise<void> => {
  const only = process.argv.slice(2);
  const benches: Record<string, () => Promise<BenchResult | ReadonlyArray<BenchResult>>> = {
    init: () => benchInit(),
    append: () => benchAppend(),
    esdb: async () =>
      (await benchEsdb()).map((r): BenchResult => ({ name: `EventStoreDB adapter + double vs SQLite: ${r.name}`, ours: '', baseline: '', ratio: r.ratio, note: r.detail })),
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
