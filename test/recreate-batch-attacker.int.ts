/**
 * The trust decisions of a re-creation's batches (docs/adr/0014), tested as whoever can write the store but holds no
 * member's keystore would attack them:
 *
 * - a reader trusts every secret a SecretsReencrypted records on that one event's signature: a forged one (unsigned,
 *   or carrying a real batch's signature) and a signed one edited and re-hashed are refused for every secret in it;
 * - a re-creation reads each secret as a reader does, with the signatures verified together off the main thread: a
 *   forged SecretPut (an earlier value put back) is refused there too — nothing is re-encrypted from it, so the new
 *   version never launders it into a signed record — and the printed remedy (put the value again) finishes the job.
 */
import test from 'ava';
import Database from 'better-sqlite3';
import { type EventMetadata, hashEvent, sealEvents } from '../src/domain/envelope';
import type { LedgerEvent } from '../src/domain/events';
import { contentStream, type DeploymentId } from '../src/domain/ids';
import { sha256Hex } from '../src/infra/sha256';
import { cliWith } from './support/cli-inproc';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { eventsOf } from './support/ledger-reader';
import { activatedDeployment, ledgerFile, type TestNode } from './support/nodes';
import { rewriteAndRehash } from './support/tamper';

const CONTENT = contentStream('default' as DeploymentId);

const put = (n: TestNode, name: string, value: string) => cliWith({ stdin: value }, '-c', n.file, 'secret', 'put', name);
const get = (n: TestNode, name: string) => cliWith({}, '-c', n.file, 'secret', 'get', name, '--reveal');

interface Row {
  readonly name: string;
  readonly fingerprint: string;
  readonly jwe: string;
}
const rowOf = (dir: string, name: string): Row => {
  const db = new Database(ledgerFile(dir), { readonly: true });
  try {
    return db.prepare('SELECT name, fingerprint, jwe FROM keyledger_content WHERE name = ?').get(name) as Row;
  } finally {
    db.close();
  }
};
/** The attacker puts a ciphertext row back (one it copied earlier). */
const putBack = (dir: string, r: Row): void => {
  const db = new Database(ledgerFile(dir));
  try {
    db.prepare('INSERT OR REPLACE INTO keyledger_content (deployment, name, fingerprint, jwe) VALUES (?, ?, ?, ?)').run(
      'default',
      r.name,
      r.fingerprint,
      r.jwe,
    );
  } finally {
    db.close();
  }
};

/** An event appended to the content stream as a writer of the store could: hashed into the chain, with any `sig` it likes (none, or one copied). */
const forgeOntoContent = async (dir: string, event: LedgerEvent, sig?: unknown): Promise<number> => {
  const store = openTestStore(ledgerFile(dir));
  try {
    const last = (await eventsOf(store, CONTENT)).at(-1)!;
    const [sealed] = rightOf(sealEvents(CONTENT, { revision: last.revision, hash: last.metadata.hash }, [event], aContext('forged'), sha256Hex));
    const { hash: _hash, ...unsigned } = sealed!.metadata as EventMetadata;
    const metadata = sig === undefined ? unsigned : { ...unsigned, sig };
    const hash = hashEvent(sha256Hex, CONTENT, last.revision + 1n, event.type, event.data, metadata as never);
    rightOf(await store.append(CONTENT, [{ ...sealed!, metadata: { ...metadata, hash } }], last.revision)());
    return Number(last.revision + 1n);
  } finally {
    await store.close();
  }
};

const contentEvents = async (dir: string) => {
  const store = openTestStore(ledgerFile(dir));
  try {
    return await eventsOf(store, CONTENT);
  } finally {
    await store.close();
  }
};

test('a SecretsReencrypted forged by a store writer (unsigned, then with a real batch’s signature) to roll a secret back: refused on every member', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-recreate-batch-attack');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  t.is((await put(a!, 'ds/sales', 'first')).code, 0);
  t.is((await put(a!, 'ds/hr', 'hr-value')).code, 0);
  t.is((await a!.run('recreate')).code, 0);
  // The attacker keeps the re-encrypted ciphertext of the first value; then the operator puts a new value.
  const reencrypted = rowOf(dir, 'ds/sales');
  t.is((await put(a!, 'ds/sales', 'second')).code, 0);
  const current = rowOf(dir, 'ds/sales');
  const batch = (await contentEvents(dir)).find((e) => e.event.type === 'SecretsReencrypted')!;

  // The first value's ciphertext put back, and a batch event naming it appended to the chain.
  putBack(dir, reencrypted);
  const forged: LedgerEvent = {
    type: 'SecretsReencrypted',
    data: {
      deploymentId: 'default' as DeploymentId,
      keyVersion: 2,
      previousKeyVersion: 1,
      reencryptedBy: a!.id,
      secrets: [{ fingerprint: reencrypted.fingerprint, name: 'ds/sales', previousFingerprint: current.fingerprint }],
    },
  } as LedgerEvent;
  const unsignedAt = await forgeOntoContent(dir, forged);
  for (const m of [a!, b!]) {
    const r = await get(m, 'ds/sales');
    t.is(r.code, 4, `${m.name}: ${r.stderr}`);
    t.regex(r.stderr, new RegExp(`not signed — the content store or ledger was altered at ${unsignedAt}`));
    t.is(r.stdout, '', 'never the earlier value');
  }
  const copiedAt = await forgeOntoContent(dir, forged, batch.metadata.sig);
  for (const m of [a!, b!]) {
    const r = await get(m, 'ds/sales');
    t.is(r.code, 4, `${m.name}: ${r.stderr}`);
    t.regex(r.stderr, new RegExp(`signature of the event that recorded its value does not verify — .* at ${copiedAt}`));
    t.is(r.stdout, '');
  }
  // The other secret of the real batch still reads; verify --signatures names both forgeries.
  t.is((await get(b!, 'ds/hr')).stdout, 'hr-value');
  const v = await b!.run('verify', '--signatures');
  t.is(v.code, 4, v.stdout);
  t.regex(v.stdout, new RegExp(`keyledger\\.content-default@${unsignedAt}`));
  t.regex(v.stdout, new RegExp(`keyledger\\.content-default@${copiedAt}`));
});

test('a signed SecretsReencrypted edited and re-hashed (one entry changed): every secret it recorded is refused, not only the edited one', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-recreate-batch-attack');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  for (const n of ['one', 'two', 'three']) t.is((await put(a!, n, `value of ${n}`)).code, 0);
  t.is((await a!.run('recreate')).code, 0);
  const batch = (await contentEvents(dir)).find((e) => e.event.type === 'SecretsReencrypted')!;
  // Only `previousFingerprint` of one entry changes: every ciphertext still matches its fingerprint and opens.
  rewriteAndRehash(ledgerFile(dir), CONTENT, Number(batch.revision), (d) => {
    const secrets = d['secrets'] as Array<Record<string, string>>;
    return { ...d, secrets: secrets.map((s, i) => (i === 0 ? { ...s, previousFingerprint: 'A'.repeat(43) } : s)) };
  });
  // B never read the content stream (no head of it to compare): the batch's one signature is what refuses it.
  for (const n of ['one', 'two', 'three']) {
    const r = await get(b!, n);
    t.is(r.code, 4, `${n}: ${r.stderr}`);
    t.regex(r.stderr, /signature of the event that recorded its value does not verify/);
    t.is(r.stdout, '');
  }
});

test('re-creation refuses a value whose SecretPut a store writer forged (an earlier value put back): nothing re-encrypted from it; the remedy finishes', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-recreate-batch-attack');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  for (let i = 0; i < 6; i++) t.is((await put(a!, `s${i}`, `value ${i}`)).code, 0);
  const earlier = rowOf(dir, 's3');
  t.is((await put(a!, 's3', 'the current value')).code, 0);
  const current = rowOf(dir, 's3');
  const signed = (await contentEvents(dir)).at(-1)!;
  // The earlier ciphertext put back, and a SecretPut naming it appended, carrying the real last put's signature.
  putBack(dir, earlier);
  const forgedAt = await forgeOntoContent(
    dir,
    {
      type: 'SecretPut',
      data: { deploymentId: 'default', name: 's3', keyVersion: 1, fingerprint: earlier.fingerprint, previousFingerprint: current.fingerprint, putBy: a!.id },
    } as LedgerEvent,
    signed.metadata.sig,
  );

  const r = await a!.run('recreate');
  t.is(r.code, 4, r.stderr);
  t.regex(r.stderr, new RegExp(`secret "s3" was not decrypted: the signature .* does not verify — .* altered at ${forgedAt}.*or put the value again`));
  // Nothing of the batch was recorded or written: no SecretsReencrypted, no ciphertext under version 2.
  t.false((await contentEvents(dir)).some((e) => e.event.type === 'SecretsReencrypted'));
  const db = new Database(ledgerFile(dir), { readonly: true });
  const headers = (db.prepare('SELECT jwe FROM keyledger_content').all() as Array<{ jwe: string }>).map((x) => x.jwe.split('.')[0]);
  db.close();
  t.false(
    headers.some((h) =>
      Buffer.from(h ?? '', 'base64url')
        .toString('utf8')
        .includes('"kl_ver":2'),
    ),
  );

  // The remedy it printed: put the value again (under the new version), then run recreate again — which finishes.
  t.is((await put(a!, 's3', 'the current value')).code, 0);
  const again = await a!.run('--json', 'recreate');
  t.is(again.code, 0, again.stderr);
  t.like(again.json(), { keyVersion: 2, created: false, reencrypted: 5 });
  for (const m of [a!, b!]) for (let i = 0; i < 6; i++) t.is((await get(m, `s${i}`)).stdout, i === 3 ? 'the current value' : `value ${i}`);
});
