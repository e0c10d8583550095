/**
 * `keyledger recreate` (docs/adr/0014) over N secrets (default 10,000) against a raw baseline in the same run:
 * node:crypto AES-256-GCM decrypt + encrypt of the same payloads (under a fresh key, fresh IVs, the same AAD) and
 * batched raw SQLite writes of the new ciphertexts (insert the new row, delete the old, 1,000 per transaction,
 * WAL, synchronous=FULL). Ours loads and hash-checks the content stream, checks the signature of each SecretPut a
 * secret is read from (off the main thread), re-encrypts through the content cipher, records one signed
 * SecretsReencrypted per 1,000 secrets, wraps the new key for the members and retires the old version: the ratio says
 * what all that costs.
 *
 * Two figures: the member that put the secrets re-creates (its own signatures are checked by signing again, a third of
 * a verification: the target's figure), and another member re-creates (every signature verified: reported). Each is
 * BENCH_RECREATE_ROUNDS rounds (default 3) on a fresh ledger, ours and raw alternating which goes first; medians.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { runCli } from '../src/cli/main';
import type { BenchResult } from './result';
import { populate } from './secrets';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const quiet = {
  stdout: () => undefined,
  stderr: (s: string) => void process.stderr.write(s),
  env: { ...process.env, KEYLEDGER_ACTOR: 'bench@test' },
  isTTY: false,
};

const cli = async (...args: string[]): Promise<void> => {
  if ((await runCli(args, quiet)) !== 0) throw new Error(`bench: keyledger ${args.slice(2).join(' ')}`);
};

/** The raw re-creation; returns its time in ms (the old rows are written before the clock starts). */
const rawRecreate = (rows: ReadonlyArray<{ name: string; fingerprint: string; jwe: string }>, key: Buffer, dbFile: string): number => {
  const db = new Database(dbFile);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS content (name TEXT NOT NULL, fingerprint TEXT NOT NULL, jwe TEXT NOT NULL, PRIMARY KEY (name, fingerprint))');
  const insert = db.prepare('INSERT INTO content (name, fingerprint, jwe) VALUES (?, ?, ?)');
  const remove = db.prepare('DELETE FROM content WHERE name = ? AND fingerprint = ?');
  const seed = db.transaction(() => {
    for (const r of rows) insert.run(r.name, r.fingerprint, r.jwe);
  });
  seed();
  const t0 = now();
  const next = randomBytes(32);
  const out: Array<{ name: string; old: string; fingerprint: string; jwe: string }> = [];
  for (const r of rows) {
    const [h = '', , iv = '', ct = '', tag = ''] = r.jwe.split('.');
    const aad = Buffer.from(h, 'ascii');
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    d.setAAD(aad);
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    const value = Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]);
    const iv2 = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', next, iv2);
    c.setAAD(aad);
    const ct2 = Buffer.concat([c.update(value), c.final()]);
    const jwe = `${h}..${iv2.toString('base64url')}.${ct2.toString('base64url')}.${c.getAuthTag().toString('base64url')}`;
    out.push({ name: r.name, old: r.fingerprint, fingerprint: createHash('sha256').update(jwe).digest('base64url'), jwe });
  }
  const write = db.transaction((batch: typeof out) => {
    for (const r of batch) {
      insert.run(r.name, r.fingerprint, r.jwe);
      remove.run(r.name, r.old);
    }
  });
  for (let i = 0; i < out.length; i += 1000) write(out.slice(i, i + 1000));
  const ms = now() - t0;
  db.close();
  return ms;
};

/** The signing-key thumbprint in a config's keystore header (what a join confirms out of band). */
const signingThumbprintOf = (configFile: string): string => {
  const cfg = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { keystore: string };
  return (JSON.parse(fs.readFileSync(path.resolve(path.dirname(configFile), cfg.keystore), 'utf8')) as { signingThumbprint: string }).signingThumbprint;
};

/** CPU time of this process's main thread in ms, where the system says (Linux: /proc); undefined elsewhere. */
const mainThreadCpu = (): number | undefined => {
  try {
    const fields = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 per second on Linux)
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
};

interface Round {
  readonly ours: number;
  readonly raw: number;
  /** Ours: CPU of the whole process (every thread), and of the main thread where known, in ms. */
  readonly cpu: number;
  readonly main: number | undefined;
}

/** One round on a fresh ledger: A puts the secrets; `by` re-creates (A itself, or B, joined and activated). */
const oneRound = async (n: number, by: 'A' | 'B', rawFirst: boolean): Promise<Round> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-recreate-'));
  try {
    const a = path.join(dir, 'A.json');
    const b = path.join(dir, 'B.json');
    await cli('-c', a, 'config', 'new', '--machine', 'BENCH-A', '--instance', 'A');
    await cli('-c', a, 'init');
    if (by === 'B') {
      await cli('-c', b, 'config', 'new', '--machine', 'BENCH-B', '--instance', 'B');
      if ((await runCli(['-c', b, 'init'], quiet)) !== 1) throw new Error('bench: B should wait to join');
      const id = (JSON.parse(fs.readFileSync(b, 'utf8')) as { installationId: string }).installationId;
      await cli('-c', a, 'join', id, '--expect-thumbprint', signingThumbprintOf(b));
      await cli('-c', b, 'start');
    }
    const { key } = await populate(a, n);
    const ledger = new Database(path.join(dir, '.keyledger', 'ledger.db'), { readonly: true });
    const rows = ledger.prepare('SELECT name, fingerprint, jwe FROM keyledger_content').all() as Array<{ name: string; fingerprint: string; jwe: string }>;
    ledger.close();
    const ours = async (): Promise<Omit<Round, 'raw'>> => {
      const cpu0 = process.cpuUsage();
      const main0 = mainThreadCpu();
      const t0 = now();
      await cli('-c', by === 'A' ? a : b, 'recreate');
      const ms = now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const main1 = mainThreadCpu();
      return { ours: ms, cpu: (cpu.user + cpu.system) / 1000, main: main0 === undefined || main1 === undefined ? undefined : main1 - main0 };
    };
    const raw = rawFirst ? rawRecreate(rows, key, path.join(dir, 'raw.db')) : undefined;
    const o = await ours();
    return { ...o, raw: raw ?? rawRecreate(rows, key, path.join(dir, 'raw.db')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

export const benchRecreate = async (
  n = Number(process.env['BENCH_SECRETS'] ?? 10_000),
  rounds = Number(process.env['BENCH_RECREATE_ROUNDS'] ?? 3),
): Promise<ReadonlyArray<BenchResult>> => {
  const out: BenchResult[] = [];
  for (const by of ['A', 'B'] as const) {
    const rs: Round[] = [];
    for (let i = 0; i < rounds; i++) rs.push(await oneRound(n, by, i % 2 === 0));
    const ours = median(rs.map((r) => r.ours));
    const raw = median(rs.map((r) => r.raw));
    const mains = rs.map((r) => r.main).filter((x): x is number => x !== undefined);
    const main = mains.length === rs.length ? median(mains) : undefined;
    const each = rs.map((r) => `${(r.raw / r.ours).toFixed(2)}x (${r.ours.toFixed(0)}/${r.raw.toFixed(0)} ms)`).join(', ');
    out.push({
      name:
        by === 'A'
          ? `recreate over ${n} secrets by the member that put them (re-encrypt, record, retire) vs raw AES-256-GCM decrypt + encrypt + batched SQLite writes`
          : `recreate over ${n} secrets by another member (every SecretPut signature verified) vs the same raw baseline`,
      ours: `${ours.toFixed(0)} ms`,
      baseline: `${raw.toFixed(0)} ms`,
      ratio: raw / ours,
      ...(by === 'A' ? { target: { op: '>=' as const, value: 0.25 } } : {}),
      note:
        `medians of ${rounds} rounds, each on a fresh ledger (ratio, ours/raw): ${each}; ours used ${median(rs.map((r) => r.cpu)).toFixed(0)} ms of CPU ` +
        `(all threads${main === undefined ? '' : `; the main thread ${main.toFixed(0)} ms`}: the signatures are checked on node's thread pool); ` +
        'ours includes the CLI session, loading and hash-checking the content stream, and the key proof',
    });
  }
  return out;
};
