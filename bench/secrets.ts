/**
 * `secret get` through the library API (openDeployment → decrypt) of N secrets (default 10,000) against raw
 * node:crypto AES-256-GCM decrypts of the same payloads (IV, ciphertext, tag, AAD already decoded, the key
 * already a Buffer), in the same run. Steady state: one untimed pass first (it checks each SecretPut's signature
 * once), then the median of several timed passes. A breakdown (content-store read, fingerprint, JWE open) and
 * node-jose's decrypt of the same JWEs are reported beside it: docs/adr/0011-encrypted-content.md.
 */
import { createDecipheriv } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import jose from 'node-jose';
import { handleCommand } from '../src/commands/handler';
import { type Proven, proverFor, type SecretDeps, type SecretsLoaded, secretAggregates } from '../src/commands/secrets';
import { runCli } from '../src/cli/main';
import { decideContent, evolveContent } from '../src/domain/content/decider';
import type { ContentEvent, SecretName } from '../src/domain/events';
import { loadConfig } from '../src/infra/config';
import { contentCipher } from '../src/infra/content-cipher';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto, symmetricKeyObjectOf } from '../src/infra/jose-crypto';
import { openStore } from '../src/infra/open-store';
import { sha256Hex } from '../src/infra/sha256';
import { openSqliteContent } from '../src/infra/sqlite-content';
import { openDeployment } from '../src/library';
import type { BenchResult } from './result';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const must = <L, A>(r: E.Either<L, A>, what: string): A => {
  if (E.isLeft(r)) throw new Error(`bench: ${what}: ${JSON.stringify(r.left)}`);
  return r.right;
};

const quiet = {
  stdout: () => undefined,
  stderr: (s: string) => void process.stderr.write(s),
  env: { ...process.env, KEYLEDGER_ACTOR: 'bench@test' },
  isTTY: false,
};

/** N secrets put by the deployment's first member, in appends of BATCH events (each SecretPut signed, each ciphertext in the content table). */
export const populate = async (configFile: string, n: number): Promise<{ names: string[]; key: Buffer }> => {
  const config = must(loadConfig(configFile), 'config').instance;
  const store = must(await openStore(`sqlite:${path.join(path.dirname(configFile), '.keyledger', 'ledger.db')}`, undefined, { mayCreate: false }), 'store');
  const content = must(openSqliteContent(store.endpoint.slice('sqlite:'.length)), 'content');
  const cipher = contentCipher();
  const deps: SecretDeps = {
    store,
    ctx: { actor: 'bench@test', command: 'bench', correlationId: 'bench', causationId: 'bench', now: () => new Date(), newId: () => crypto.randomUUID() },
    digest: sha256Hex,
    crypto: joseCrypto(),
    keystore: fileKeystore(config.keystorePath),
    host: 'bench',
    content,
    cipher,
  };
  const prove = proverFor(deps, config);
  const names = Array.from({ length: n }, (_, i) => `reportserver/datasource/ds-${String(i).padStart(5, '0')}`);
  let proven: Proven | undefined;
  const BATCH = 500;
  let from: SecretsLoaded | undefined;
  for (let i = 0; i < n; i += BATCH) {
    from = must(
      await handleCommand(
        deps,
        secretAggregates(config),
        async (l) => {
          const p = await prove(l);
          if (E.isLeft(p)) return p;
          proven = p.right;
          let state = l.content.state;
          const events: ContentEvent[] = [];
          for (const name of names.slice(i, i + BATCH)) {
            const value = Buffer.from(`Data Source=sql-${name};Initial Catalog=ReportServer;User ID=rs_reader;Password=${crypto.randomUUID()}`);
            const jwe = cipher.seal(p.right.key, value, { deploymentId: config.deploymentId, name, keyVersion: p.right.keyVersion });
            const fingerprint = cipher.fingerprint(jwe);
            must(await content.write(config.deploymentId, name, fingerprint, jwe)(), 'write');
            const ev = must(
              decideContent(
                {
                  type: 'PutSecret',
                  deploymentId: config.deploymentId,
                  name: name as SecretName,
                  keyVersion: p.right.keyVersion,
                  fingerprint,
                  by: config.installationId,
                },
                state,
              ),
              'decide',
            );
            events.push(...ev);
            state = evolveContent(state, ev[0]!);
          }
          return E.right({ append: { to: 'content' as const, events, signer: p.right.signer }, result: undefined });
        },
        from,
      ),
      'append',
    ).loaded;
  }
  if (!proven) throw new Error('bench: nothing proven');
  const key = symmetricKeyObjectOf(proven.key).export();
  content.close();
  await store.close();
  return { names, key };
};

export const benchSecrets = async (n = Number(process.env['BENCH_SECRETS'] ?? 10_000), passes = 5): Promise<BenchResult> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kl-bench-secrets-'));
  try {
    const configFile = path.join(dir, 'keyledger.config.json');
    if ((await runCli(['-c', configFile, 'config', 'new', '--machine', 'BENCH'], quiet)) !== 0) throw new Error('bench: config new');
    if ((await runCli(['-c', configFile, 'init'], quiet)) !== 0) throw new Error('bench: init');
    const tPopulate = now();
    const { names, key } = await populate(configFile, n);
    const populateMs = now() - tPopulate;

    const tOpen = now();
    const d = must(await openDeployment({ config: configFile, actor: 'bench@test' }), 'openDeployment');
    const openMs = now() - tOpen;

    // The payloads, as the raw baseline gets them: decoded once, outside the timing.
    const db = new (await import('better-sqlite3')).default(path.join(dir, '.keyledger', 'ledger.db'), { readonly: true });
    const jwes = new Map((db.prepare('SELECT name, jwe FROM keyledger_content').all() as Array<{ name: string; jwe: string }>).map((r) => [r.name, r.jwe]));
    db.close();
    const raw = names.map((name) => {
      const [h = '', , iv = '', ct = '', tag = ''] = (jwes.get(name) ?? '').split('.');
      return { aad: Buffer.from(h, 'ascii'), iv: Buffer.from(iv, 'base64url'), ct: Buffer.from(ct, 'base64url'), tag: Buffer.from(tag, 'base64url') };
    });
    const rawPass = (): number => {
      const t0 = now();
      let bytes = 0;
      for (const p of raw) {
        const gcm = createDecipheriv('aes-256-gcm', key, p.iv, { authTagLength: 16 });
        gcm.setAAD(p.aad);
        gcm.setAuthTag(p.tag);
        bytes += Buffer.concat([gcm.update(p.ct), gcm.final()]).length;
      }
      if (bytes === 0) throw new Error('bench: nothing decrypted');
      return now() - t0;
    };
    const oursPass = async (): Promise<number> => {
      const t0 = now();
      for (const name of names) {
        const v = await d.decrypt(name);
        if (E.isLeft(v)) throw new Error(`bench: decrypt ${name}: ${JSON.stringify(v.left)}`);
      }
      return now() - t0;
    };
    const tCold = now();
    await oursPass(); // first pass: each SecretPut's signature checked once
    const coldMs = now() - tCold;
    rawPass();
    const ours: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < passes; i++) {
      base.push(rawPass());
      ours.push(await oursPass());
    }
    const oursMs = median(ours);
    const baseMs = median(base);

    // Breakdown of one decrypt (same payloads): the content-store read, the fingerprint, the JWE open.
    const content = must(openSqliteContent(path.join(dir, '.keyledger', 'ledger.db')), 'content');
    const cipher = contentCipher();
    const sample = names.slice(0, Math.min(names.length, 5000));
    const fp = new Map(sample.map((nm) => [nm, cipher.fingerprint(jwes.get(nm) ?? '')]));
    let t0 = now();
    for (const nm of sample) await content.read('default', nm, fp.get(nm)!)();
    const readUs = ((now() - t0) * 1000) / sample.length;
    t0 = now();
    for (const nm of sample) cipher.fingerprint(jwes.get(nm) ?? '');
    const fingerprintUs = ((now() - t0) * 1000) / sample.length;
    content.close();

    // node-jose on the same JWEs (key imported once): what the content cipher does not use.
    const joseKey = await jose.JWK.asKey({ kty: 'oct', k: key.toString('base64url'), alg: 'A256GCM' });
    const joseSample = names.slice(0, Math.min(names.length, 1000));
    t0 = now();
    for (const nm of joseSample) await jose.JWE.createDecrypt(joseKey).decrypt(jwes.get(nm) ?? '');
    const joseUs = ((now() - t0) * 1000) / joseSample.length;
    must(await d.close(), 'close');

    const per = (ms: number): string => `${((ms * 1000) / n).toFixed(2)} µs`;
    return {
      name: `secret get: ${n.toLocaleString('en')} decrypts through openDeployment().decrypt vs raw node:crypto AES-256-GCM of the same payloads (throughput ratio)`,
      ours: `${oursMs.toFixed(1)} ms (${per(oursMs)} each)`,
      baseline: `${baseMs.toFixed(1)} ms (${per(baseMs)} each)`,
      ratio: baseMs / oursMs,
      target: { op: '>=', value: 0.25 },
      note:
        `median of ${passes} passes after a first pass of ${coldMs.toFixed(0)} ms (each SecretPut's signature checked once); ` +
        `per decrypt: content-store read ${readUs.toFixed(2)} µs, fingerprint ${fingerprintUs.toFixed(2)} µs; ` +
        `node-jose decrypt of the same JWEs ${joseUs.toFixed(1)} µs each (${(joseUs / ((baseMs * 1000) / n)).toFixed(0)}x raw); ` +
        `setup: ${n} puts ${populateMs.toFixed(0)} ms, openDeployment ${openMs.toFixed(0)} ms`,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
