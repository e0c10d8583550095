/**
 * `keyledger recreate` (docs/adr/0014) over N secrets (default 10,000) against a raw baseline in the same run:
 * node:crypto AES-256-GCM decrypt + encrypt of the same payloads (under a fresh key, fresh IVs, the same AAD) and
 * batched raw SQLite writes of the new ciphertexts (insert the new row, delete the old, 1,000 per transaction,
 * WAL, synchronous=FULL). Ours re-encrypts through the content cipher, checks each SecretPut's signature, signs
 * and appends one SecretPut per secret (hash-chained) and wraps the new key for the member: the ratio says what
 * all that costs.
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

const quiet = {
  stdout: () => undefined,
  stderr: (s: string) => void process.stderr.write(s),
  env: { ...process.env, KEYLEDGER_ACTOR: 'bench@test' },
  isTTY: false,
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

export const benchRecreate = async (n = Number(process.env['BENCH_SECRETS'] ?? 10_000)): Promise<BenchResult> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-recreate-'));
  try {
    const configFile = path.join(dir, 'keyledger.config.json');
    if ((await runCli(['-c', configFile, 'config', 'new', '--machine', 'BENCH'], quiet)) !== 0) throw new Error('bench: config new');
    if ((await runCli(['-c', configFile, 'init'], quiet)) !== 0) throw new Error('bench: init');
    const { key } = await populate(configFile, n);
    const ledger = new Database(path.join(dir, '.keyledger', 'ledger.db'), { readonly: true });
    const rows = ledger.prepare('SELECT name, fingerprint, jwe FROM keyledger_content').all() as Array<{ name: string; fingerprint: string; jwe: string }>;
    ledger.close();

    const rawMs = rawRecreate(rows, key, path.join(dir, 'raw.db'));
    const t0 = now();
    if ((await runCli(['-c', configFile, 'recreate'], quiet)) !== 0) throw new Error('bench: recreate');
    const oursMs = now() - t0;
    return {
      name: `recreate over ${n} secrets (re-encrypt, record, retire) vs raw AES-256-GCM decrypt + encrypt + batched SQLite writes`,
      ours: `${oursMs.toFixed(0)} ms`,
      baseline: `${rawMs.toFixed(0)} ms`,
      ratio: rawMs / oursMs,
      target: { op: '>=', value: 0.25 },
      note: 'one run each, in the same process; ours includes the CLI session, the key proof, a signature check per SecretPut read and a signed, hash-chained SecretPut per secret',
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
