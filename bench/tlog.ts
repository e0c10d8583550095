/**
 * The verifiable ledger (issue 15, docs/adr/0018-verifiable-ledger.md), each figure a ratio measured in this run:
 *
 *   tlog-append     single-event appends to `keyledger.` streams through the SQLite adapter with the Merkle tree
 *                   index kept in each append's transaction vs the same appends with it off, interleaved: throughput
 *                   ratio.                                                                          target ≥ 0.8x
 *   tlog-proof      one event's inclusion proof (the event read by stream and revision, its leaf found, its stored
 *                   leaf hash compared, the O(log n) proof read and checked against the root) in a ~1,000,000-event
 *                   ledger vs a ~10,000-event one, median of many, interleaved.                     target ≤ 2x
 *   tlog-witness    a member's whole `start` as a witness (the start check, the consistency proof from its last
 *                   co-signed head, an inclusion proof per event it reads, the cosignature) on the 1M ledger vs the
 *                   10k one, median, interleaved.                                                   target ≤ 2x
 *
 * The ledgers are bench/generate.ts's (1,000 deployments × 10 instances × 94 restarts, and 10 × 10 × 94), taken from
 * BENCH_LEDGER_CACHE when there (generating the large one takes minutes) and copied — never modified in place — to
 * BENCH_TLOG_CACHE (default: a temp folder), where their tree index is built once and kept.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as E from 'fp-ts/Either';
import { initInstance, startInstance } from '../src/commands/instance';
import { currentHead, inclusionProof, type TreeDeps } from '../src/commands/tree';
import { startWitness } from '../src/commands/witness';
import { fromBase64Url } from '../src/domain/tlog/bytes';
import { leafHashOfEvent } from '../src/domain/tlog/leaf';
import { storedHashIndex, verifyInclusion } from '../src/domain/tlog/merkle';
import type { DeploymentId, InstallationId, NonEmptyString } from '../src/domain/ids';
import type { InstanceConfig } from '../src/domain/instance/decider';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto } from '../src/infra/jose-crypto';
import { sha256Hex } from '../src/infra/sha256';
import { openSqliteHeads } from '../src/infra/sqlite-heads';
import { SqliteEventStore } from '../src/infra/sqlite-store';
import { sha256Bytes } from '../src/infra/sqlite-tree';
import { generateLedger } from './generate';
import type { BenchResult } from './result';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

// ─── appends with the index vs without ────────────────────────────────────

const appends = async (file: string, n: number, tree: boolean): Promise<number> => {
  const store = new SqliteEventStore(file, { treeIndex: tree });
  const data = { installationId: randomUUID(), text: 'x'.repeat(900) };
  const stream = `keyledger.bench-${randomUUID()}`;
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    const r = await store.append(
      stream,
      [{ id, type: 'Bench', data, metadata: { eventId: id, hash: 'x'.repeat(64), n: i } }],
      i === 0 ? 'no_stream' : BigInt(i - 1),
    )();
    if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  }
  const dt = now() - t0;
  await store.close();
  return dt;
};

export const benchTreeAppend = async (n = Number(process.env['BENCH_APPENDS'] ?? 400)): Promise<BenchResult> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-tlog-append-'));
  try {
    await appends(path.join(dir, 'warm-on.db'), 20, true);
    await appends(path.join(dir, 'warm-off.db'), 20, false);
    let withIndex = 0;
    let without = 0;
    const rounds = 4;
    for (let r = 0; r < rounds; r++) {
      // Each round on a ledger that already holds the earlier rounds' events: the tree is not trivially small.
      const on = path.join(dir, 'on.db');
      const off = path.join(dir, 'off.db');
      if (r % 2 === 0) {
        withIndex += await appends(on, n, true);
        without += await appends(off, n, false);
      } else {
        without += await appends(off, n, false);
        withIndex += await appends(on, n, true);
      }
    }
    const total = n * rounds;
    return {
      name: 'tlog-append: single-event appends with the Merkle tree index kept in their transaction vs without (SQLite, WAL, FULL)',
      ours: `${(total / (withIndex / 1000)).toFixed(0)} appends/s`,
      baseline: `${(total / (without / 1000)).toFixed(0)} appends/s`,
      ratio: without / withIndex,
      target: { op: '>=', value: 0.8 },
      note: `${total} appends each, interleaved rounds; about 3 more rows per event (stored hashes, leaf position, state)`,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

// ─── a large and a small ledger, indexed ──────────────────────────────────

interface Indexed {
  readonly file: string;
  readonly events: number;
}

/** A generated ledger copied to the tree cache (the source is never modified) and its tree index built once. */
const indexedLedger = async (cacheDir: string, deployments: number, perDeployment: number, restarts: number): Promise<Indexed> => {
  const name = `ledger-${deployments}x${perDeployment}x${restarts}.db`;
  const target = path.join(cacheDir, name);
  if (!fs.existsSync(target)) {
    const source = process.env['BENCH_LEDGER_CACHE'] ? path.join(process.env['BENCH_LEDGER_CACHE'], name) : undefined;
    if (source && fs.existsSync(source)) {
      // A consistent copy of the source (its -wal merged) through SQLite's own backup, into a temp name first.
      const db = new Database(source, { readonly: true });
      await db.backup(`${target}.part`);
      db.close();
      fs.renameSync(`${target}.part`, target);
    } else await generateLedger(target, deployments, perDeployment, restarts);
  }
  const store = new SqliteEventStore(target);
  const t0 = now();
  const synced = await store.treeIndex().sync();
  if (E.isLeft(synced)) throw new Error(`bench: tree index: ${JSON.stringify(synced.left)}`);
  if (synced.right.added > 0) process.stderr.write(`  indexed ${synced.right.added} events of ${name} in ${((now() - t0) / 1000).toFixed(1)} s\n`);
  await store.close();
  return { file: target, events: synced.right.size };
};

const treeCache = (): { dir: string; temporary: boolean } => {
  const configured = process.env['BENCH_TLOG_CACHE'];
  if (configured) {
    fs.mkdirSync(configured, { recursive: true });
    return { dir: configured, temporary: false };
  }
  return { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-tlog-')), temporary: true };
};

// ─── an inclusion proof, 1M vs 10k ────────────────────────────────────────

const randomEvents = (file: string, n: number): Array<{ stream: string; revision: bigint }> => {
  const db = new Database(file, { readonly: true });
  const max = Number(db.prepare('SELECT max(global_position) FROM events').pluck().get());
  const at = db.prepare("SELECT stream_name, stream_revision FROM events WHERE global_position >= ? AND stream_name LIKE 'keyledger.%' LIMIT 1");
  const out: Array<{ stream: string; revision: bigint }> = [];
  while (out.length < n) {
    const r = at.get(1 + Math.floor(Math.random() * max)) as { stream_name: string; stream_revision: number } | undefined;
    if (r) out.push({ stream: r.stream_name, revision: BigInt(r.stream_revision) });
  }
  db.close();
  return out;
};

/** One proof, as `prove` makes it before writing: the event read, its leaf found and compared, the proof read and checked. */
const oneProof = async (deps: TreeDeps, head: { size: number; root: Uint8Array }, e: { stream: string; revision: bigint }): Promise<void> => {
  const read = await deps.store.readStream(e.stream, { fromRevision: e.revision, maxCount: 1 })();
  const r = E.isRight(read) ? read.right[0] : undefined;
  if (!r) throw new Error('bench: event not found');
  const leaf = deps.tree.leafAt(r.position);
  if (E.isLeft(leaf) || leaf.right === undefined) throw new Error('bench: not in the index');
  const hash = leafHashOfEvent(deps.sha256, r);
  const stored = deps.tree.readHashes([storedHashIndex(0, leaf.right)]);
  if (E.isLeft(stored)) throw new Error('bench: stored leaf');
  const proof = inclusionProof(deps, head.size, leaf.right);
  if (E.isLeft(proof) || !verifyInclusion(deps.sha256, proof.right, head.size, head.root, leaf.right, hash)) throw new Error('bench: proof fails');
};

export const benchTreeProof = async (proofs = Number(process.env['BENCH_TLOG_PROOFS'] ?? 2000)): Promise<BenchResult> => {
  const cache = treeCache();
  try {
    const large = await indexedLedger(cache.dir, 1000, 10, 94);
    const small = await indexedLedger(cache.dir, 10, 10, 94);
    const open = async (l: Indexed) => {
      const store = new SqliteEventStore(l.file);
      const deps: TreeDeps = { store, tree: store.treeIndex(), sha256: sha256Bytes };
      const head = await currentHead(deps);
      if (E.isLeft(head)) throw new Error('bench: head');
      return { deps, head: head.right, events: randomEvents(l.file, proofs) };
    };
    const a = await open(large);
    const b = await open(small);
    // Two passes over the same random events: the first reads their pages from disk (a 1.4 GB file does not start in
    // the page cache; a 14 MB one soon is), the second is the proof's own cost, which is what grows with the tree.
    const pass = async (): Promise<{ ta: number[]; tb: number[] }> => {
      const ta: number[] = [];
      const tb: number[] = [];
      for (let i = 0; i < proofs; i++) {
        const order = i % 2 === 0 ? [a, b] : [b, a];
        for (const x of order) {
          const t0 = now();
          await oneProof(x.deps, x.head, x.events[i]!);
          (x === a ? ta : tb).push(now() - t0);
        }
      }
      return { ta, tb };
    };
    const cold = await pass();
    const warm = await pass();
    await a.deps.store.close();
    await b.deps.store.close();
    const us = (x: number): string => `${(x * 1000).toFixed(0)} µs`;
    return {
      name: `tlog-proof: one event's inclusion proof in a ${large.events}-event ledger vs a ${small.events}-event one`,
      ours: us(median(warm.ta)),
      baseline: us(median(warm.tb)),
      ratio: median(warm.ta) / median(warm.tb),
      target: { op: '<=', value: 2 },
      note:
        `median of ${proofs} random events each, interleaved, their pages in the page cache (a second pass); the first pass, reading them ` +
        `from disk: ${us(median(cold.ta))} vs ${us(median(cold.tb))} (${(median(cold.ta) / median(cold.tb)).toFixed(2)}x); the proof reads O(log n) stored hashes`,
    };
  } finally {
    if (cache.temporary) fs.rmSync(cache.dir, { recursive: true, force: true });
  }
};

// ─── a witness's start, 1M vs 10k ─────────────────────────────────────────

/** A real member (RSA and Ed25519 keys, a keystore, its local state) initialized in a deployment of its own in `file`. */
const witnessMember = async (file: string, dir: string, label: string) => {
  const installationId = randomUUID() as InstallationId;
  const config: InstanceConfig = {
    installationId,
    deploymentId: `bench-witness-${label}-${installationId.slice(0, 8)}` as DeploymentId,
    machineName: 'BENCH' as NonEmptyString,
    instanceName: 'MSSQLSERVER' as NonEmptyString,
    serviceIdentity: 'bench' as NonEmptyString,
    store: { kind: 'sqlite', location: file },
    keystorePath: path.join(dir, label, 'instance.keystore.json'),
  };
  const store = new SqliteEventStore(file);
  const keystore = fileKeystore(config.keystorePath);
  const crypto = joseCrypto();
  const ctx = (command: string) => ({
    actor: 'bench',
    command,
    correlationId: randomUUID(),
    causationId: randomUUID(),
    now: () => new Date(),
    newId: randomUUID,
  });
  const base = { store, crypto, keystore, digest: sha256Hex, host: 'bench' };
  const init = await initInstance({ ...base, ctx: ctx('init') }, config);
  if (E.isLeft(init) || init.right.state !== 'activated') throw new Error(`bench: init failed: ${JSON.stringify(E.isLeft(init) ? init.left : init.right)}`);
  const mac = keystore.localStateMac();
  if (E.isLeft(mac)) throw new Error('bench: no machine secret');
  const heads = openSqliteHeads(path.join(dir, label, 'state.db'), installationId, store.endpoint, mac.right);
  if (E.isLeft(heads)) throw new Error('bench: local state');
  const held = await keystore.load({ installationId, serviceIdentity: config.serviceIdentity })();
  if (E.isLeft(held) || !held.right.signing) throw new Error('bench: keystore');
  const signing = held.right.signing;
  const signer = {
    installationId,
    publicKey: fromBase64Url(signing.publicKey.x)!,
    sign: (text: string) => fromBase64Url(crypto.signing.sign(signing.handle, text))!,
  };
  const start = async (): Promise<void> => {
    const c = ctx('start');
    const witness = startWitness({ store, tree: store.treeIndex(), sha256: sha256Bytes, heads: heads.right, signer, ctx: c });
    const r = await startInstance({ ...base, ctx: c, heads: heads.right, witness }, config);
    if (E.isLeft(r) || r.right.state !== 'activated') throw new Error(`bench: start failed: ${JSON.stringify(E.isLeft(r) ? r.left : r.right)}`);
  };
  return {
    start,
    close: async () => {
      heads.right.close();
      await store.close();
    },
  };
};

export const benchWitnessStart = async (rounds = Number(process.env['BENCH_TLOG_STARTS'] ?? 15)): Promise<BenchResult> => {
  const cache = treeCache();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-witness-'));
  try {
    const large = await indexedLedger(cache.dir, 1000, 10, 94);
    const small = await indexedLedger(cache.dir, 10, 10, 94);
    const a = await witnessMember(large.file, dir, 'large');
    const b = await witnessMember(small.file, dir, 'small');
    await a.start(); // the first start co-signs from nothing remembered: warm-up
    await b.start();
    const ta: number[] = [];
    const tb: number[] = [];
    for (let i = 0; i < rounds; i++)
      for (const [m, times] of i % 2 === 0
        ? ([
            [a, ta],
            [b, tb],
          ] as const)
        : ([
            [b, tb],
            [a, ta],
          ] as const)) {
        const t0 = now();
        await m.start();
        times.push(now() - t0);
      }
    await a.close();
    await b.close();
    return {
      name: `tlog-witness: a member's start as a witness in a ${large.events}-event ledger vs a ${small.events}-event one`,
      ours: `${median(ta).toFixed(1)} ms`,
      baseline: `${median(tb).toFixed(1)} ms`,
      ratio: median(ta) / median(tb),
      target: { op: '<=', value: 2 },
      note: `median of ${rounds} interleaved starts each: the start check (RSA unwrap included), a consistency proof, an inclusion proof per event read, the cosignature`,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    if (cache.temporary) fs.rmSync(cache.dir, { recursive: true, force: true });
  }
};
