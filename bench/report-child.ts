/**
 * `report` for one deployment of a generated ledger, in a process of its own (its peak memory is its own), against
 * the raw baseline in the same process, rounds interleaved: better-sqlite3 reading that deployment's events (its
 * deployment stream, then each member's instance stream and its content stream, by the stream index) with two
 * `JSON.parse` per row — and, for the report with a trust anchor, the same rows plus as many node:crypto Ed25519
 * verifies as the events carry signatures and proofs of possession. Prints JSON.
 * Usage: node dist/bench/report-child.js <ledger file> <deployment> <rounds>
 */
import Database from 'better-sqlite3';
import { createPublicKey, type KeyObject, verify as ed25519Verify } from 'node:crypto';
import * as E from 'fp-ts/Either';
import type { DeploymentId } from '../src/domain/ids';
import { contentStream, deploymentStream } from '../src/domain/ids';
import { sha256Hex } from '../src/infra/sha256';
import { signatures } from '../src/infra/signing';
import { openSqliteStore } from '../src/infra/sqlite-store';
import type { ReportPolicy } from '../src/domain/report-policy';
import { buildReport } from '../src/projections/report-runner';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Raw {
  readonly ms: number;
  readonly events: number;
  /** The Ed25519 checks those events call for: one per signature, one per proof of possession. */
  readonly signatures: Array<{ key: KeyObject; text: Buffer; sig: Buffer }>;
  readonly genesis: string;
}

/** Read + parse the deployment's events; with `verify`, also the Ed25519 verifies they carry. */
const raw = (file: string, deployment: string, verify: boolean): Raw => {
  const t0 = now();
  const db = new Database(file, { readonly: true });
  const q = db.prepare('SELECT data, metadata FROM events WHERE stream_name = ? ORDER BY stream_revision');
  let events = 0;
  const ids = new Set<string>();
  const sigs: Raw['signatures'] = [];
  let genesis = '';
  const keys = new Map<string, KeyObject>();
  const row = (r: { data: string; metadata: string }): Record<string, unknown> => {
    const data = JSON.parse(r.data) as Record<string, unknown>;
    const metadata = JSON.parse(r.metadata) as { sig?: { key: string; value: string } };
    events++;
    if (verify) {
      const jwk = data['signingKey'] as { x: string } | undefined;
      if (jwk && typeof data['signingThumbprint'] === 'string') {
        const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
        keys.set(data['signingThumbprint'], key);
        sigs.push({ key, text: Buffer.from(r.data), sig: Buffer.from(String(data['signingKeyProof']), 'base64url') }); // a proof covers a short text
      }
      const k = metadata.sig ? keys.get(metadata.sig.key) : undefined;
      if (metadata.sig && k) sigs.push({ key: k, text: Buffer.from(r.data + r.metadata), sig: Buffer.from(metadata.sig.value, 'base64url') });
    }
    return data;
  };
  for (const r of q.iterate(deploymentStream(deployment as DeploymentId)) as Iterable<{ data: string; metadata: string }>) {
    const data = row(r);
    if (genesis === '' && typeof data['signingThumbprint'] === 'string') genesis = data['signingThumbprint'];
    if (typeof data['installationId'] === 'string') ids.add(data['installationId'].toLowerCase());
  }
  for (const id of ids) for (const r of q.iterate(`keyledger.instance-${id}`) as Iterable<{ data: string; metadata: string }>) row(r);
  for (const r of q.iterate(contentStream(deployment as DeploymentId)) as Iterable<{ data: string; metadata: string }>) row(r);
  db.close();
  // The verifies themselves, over the stored text (about what a signature covers: an Ed25519 verify's cost hardly depends on the length).
  for (const s of sigs) ed25519Verify(null, s.text, s.key, s.sig);
  return { ms: now() - t0, events, signatures: sigs, genesis };
};

const ours = async (file: string, deployment: string, trust: string | null): Promise<{ ms: number; events: number; verified: number; findings: number }> => {
  const t0 = now();
  const store = openSqliteStore(file);
  if (E.isLeft(store)) throw new Error('bench: cannot open the ledger');
  const policy: ReportPolicy = { maxKeyAge: null, maxBackupAge: null, requireBackup: false, trust: trust as ReportPolicy['trust'] };
  const r = await buildReport(store.right, {
    deploymentId: deployment as DeploymentId,
    period: { from: null, to: new Date().toISOString() },
    policy,
    digest: sha256Hex,
    ...(trust !== null ? { signatures: { verify: signatures.verify, thumbprint: signatures.thumbprint } } : {}),
    generatedAt: new Date().toISOString(),
  })();
  await store.right.close();
  const ms = now() - t0;
  if (E.isLeft(r)) throw new Error(`bench: report failed: ${r.left._tag}`);
  const s = r.right.integrity.signatures;
  if (r.right.verdict === 'tampered') throw new Error(`bench: the generated deployment reads as tampered: ${JSON.stringify(r.right.findings[0])}`);
  return { ms, events: r.right.integrity.events, verified: s.status === 'not-anchored' ? 0 : s.verified, findings: r.right.findings.length };
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const main = async (): Promise<void> => {
  const [file, deployment, roundsArg = '9'] = process.argv.slice(2);
  if (!file || !deployment) throw new Error('usage: report-child <ledger> <deployment> [rounds]');
  const rounds = Number(roundsArg);
  const probe = raw(file, deployment, true);
  const trust = probe.genesis;
  // Warm up both sides (module loading, JIT), then interleave.
  await ours(file, deployment, null);
  await ours(file, deployment, trust);
  const t = { raw: [] as number[], rawSig: [] as number[], ours: [] as number[], oursSig: [] as number[] };
  let last = { events: 0, verified: 0, findings: 0 };
  for (let i = 0; i < rounds; i++) {
    t.raw.push(raw(file, deployment, false).ms);
    t.ours.push((await ours(file, deployment, null)).ms);
    t.rawSig.push(raw(file, deployment, true).ms);
    const o = await ours(file, deployment, trust);
    t.oursSig.push(o.ms);
    last = o;
  }
  process.stdout.write(
    `${JSON.stringify({
      events: probe.events,
      reportEvents: last.events,
      signatures: probe.signatures.length,
      verified: last.verified,
      findings: last.findings,
      raw: median(t.raw),
      ours: median(t.ours),
      rawSig: median(t.rawSig),
      oursSig: median(t.oursSig),
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    })}\n`,
  );
};

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
