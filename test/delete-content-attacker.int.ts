/**
 * Deleting encrypted content against someone who can write the store but holds no member's keystore (ADR 0009,
 * docs/adr/0015): a deletion they record — unsigned, or signed by an installation they registered themselves — is
 * reported by `verify --signatures` and acted on by no member (start and init refuse, no new key is created); a
 * destroyed version re-added (its creation, its copies, a SecretPut under it with its old ciphertext) becomes current
 * nowhere and decrypts nothing; a destruction of secrets they record is tampering, not "no such secret"; a rewritten
 * deletion is found. And a member's own private key, with the ledger and the content store in hand after a deletion,
 * opens no ciphertext: the copies of the destroyed version left in the ledger protect nothing.
 */
import test from 'ava';
import { createDecipheriv } from 'node:crypto';
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { signerOf } from '../src/commands/signing';
import { type EventSigner, sealEvents } from '../src/domain/envelope';
import type { LedgerEvent } from '../src/domain/events';
import { type DeploymentId, deploymentStream, type KeyVersion } from '../src/domain/ids';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto, privateJwkOf } from '../src/infra/jose-crypto';
import { sha256Hex } from '../src/infra/sha256';
import { appendToDeployment } from './support/backups';
import { cliWith } from './support/cli-inproc';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { eventsOf } from './support/ledger-reader';
import { activatedDeployment, deploymentEvents, joinArgs, ledgerFile, newNode, type TestNode } from './support/nodes';
import { unwrapWithNodeCrypto } from './support/secrets';
import { rewriteAndRehash } from './support/tamper';

const DSTREAM = deploymentStream('default' as DeploymentId);
const CSTREAM = 'keyledger.content-default';

const identityOf = (n: TestNode): string => (JSON.parse(fs.readFileSync(n.file, 'utf8')) as { serviceIdentity: string }).serviceIdentity;
const keysOf = async (n: TestNode) => rightOf(await fileKeystore(n.keystore).load({ installationId: n.id, serviceIdentity: identityOf(n) })());

/** Events appended to the content stream as a writer of the store could (hash chain valid; signed only with a signer). */
const appendToContent = async (dir: string, events: ReadonlyArray<LedgerEvent>, signer?: EventSigner): Promise<void> => {
  const store = openTestStore(ledgerFile(dir));
  const last = (await eventsOf(store, CSTREAM)).at(-1)!;
  rightOf(
    await store.append(
      CSTREAM,
      rightOf(sealEvents(CSTREAM, { revision: last.revision, hash: last.metadata.hash }, events, aContext('hand-sealed'), sha256Hex, signer)),
      last.revision,
    )(),
  );
  await store.close();
};

/** What a deletion of version 1 by `by` records, forged. */
const forgedDeletion = (by: TestNode): LedgerEvent => ({
  type: 'EncryptedContentDeleted',
  data: {
    deploymentId: 'default' as DeploymentId,
    deletedBy: by.id,
    keys: [{ keyVersion: 1 as KeyVersion, keyCheck: 'x'.repeat(43) as never }],
    copies: [],
    secrets: 0 as never,
    contentRevisions: [],
  },
});

const withSecret = async (): Promise<{ dir: string; a: TestNode; b: TestNode }> => {
  const dir = tempDir('kl-delete-attack');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  t0((await cliWith({ stdin: 'the value' }, '-c', a!.file, 'secret', 'put', 's1')).code);
  return { dir, a: a!, b: b! };
};
const t0 = (code: number): void => {
  if (code !== 0) throw new Error(`setup step exited ${code}`);
};

for (const how of ['unsigned', 'signed by an installation the attacker registered'] as const)
  test(`a deletion ${how} is reported and acted on by no member: no new key, start refuses with the honest reason`, async (t) => {
    t.timeout(60_000);
    const { dir, a } = await withSecret();
    let signer: EventSigner | undefined;
    let by = a;
    if (how !== 'unsigned') {
      // The attacker runs keyledger itself for an installation of its own: registered (signed by its own key), never certified.
      const x = await newNode(dir, 'X');
      t.is((await x.run('init')).code, 1);
      signer = signerOf(joseCrypto(), await keysOf(x));
      by = x;
    }
    await appendToDeployment(dir, [forgedDeletion(by)], signer);
    const before = (await deploymentEvents(dir)).length;

    const v = await a.run('--json', 'verify', '--signatures');
    t.is(v.code, 4);
    t.true(
      JSON.stringify(v.json()).includes(how === 'unsigned' ? '"problem":"unsigned"' : '"problem":"signer-not-certified"'),
      'verify --signatures reports the deletion',
    );
    for (const command of ['start', 'init']) {
      const r = await a.run('--json', command);
      t.is(r.code, 1, `${command}: ${r.stderr}`);
      t.like(r.json(), {
        state: 'disabled',
        reason: { _tag: 'UntrustedKeyEvent', problem: 'deletion-not-signed-by-a-member' },
        remedy: { kind: 'NotYetPossible' },
      });
    }
    const after = await deploymentEvents(dir);
    t.is(after.filter((e) => e.event.type === 'SymmetricKeyCreated').length, 1, 'no new key was created on the forged word');
    t.is(after.length, before);
  });

test('a destroyed version re-added after a deletion (its creation, a copy, a SecretPut with its old ciphertext) becomes current nowhere', async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await withSecret();
  const v1 = (await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyCreated' || e.event.type === 'SymmetricKeyWrapped');
  const oldPut = (await eventsOf(openTestStore(ledgerFile(dir)), CSTREAM)).find((e) => e.event.type === 'SecretPut')!;
  const db = new Database(ledgerFile(dir), { readonly: true });
  const oldRow = db.prepare('SELECT name, fingerprint, jwe FROM keyledger_content').get() as { name: string; fingerprint: string; jwe: string };
  db.close();
  t.is((await a.run('delete-content', '--confirm', 'default')).code, 0);
  t.is((await a.run('init')).code, 0, 'A initializes afresh: version 2');

  // The attacker copies the old creation and B's old copy back into the stream (chain re-linked; unsigned: a signature covers its place).
  await appendToDeployment(
    dir,
    v1.map((e) => e.event),
    undefined,
  );
  const bStart = await b.run('--json', 'start');
  t.is(bStart.code, 1);
  t.not(bStart.json<{ state: string }>().state, 'activated');
  t.is((await a.run('--json', 'status')).json<{ keyVersion: number }>().keyVersion, 2, 'A: still version 2');
  t.true(JSON.stringify((await a.run('--json', 'verify', '--signatures')).json()).includes('key-version-destroyed'));

  // And a SecretPut under version 1, its old ciphertext put back in the content store.
  const w = new Database(ledgerFile(dir));
  w.prepare('INSERT INTO keyledger_content (deployment, name, fingerprint, jwe) VALUES (?, ?, ?, ?)').run(
    'default',
    oldRow.name,
    oldRow.fingerprint,
    oldRow.jwe,
  );
  w.close();
  await appendToContent(dir, [oldPut.event]);
  const got = await cliWith({}, '-c', a.file, 'secret', 'get', 's1', '--reveal');
  t.is(got.code, 4, got.stderr);
  t.is(got.stdout, '');
});

test('secrets destroyed by an event no member signed: a reader says tampered, not "no such secret"', async (t) => {
  t.timeout(60_000);
  const { dir, a } = await withSecret();
  const put = (await eventsOf(openTestStore(ledgerFile(dir)), CSTREAM)).find((e) => e.event.type === 'SecretPut')!;
  const data = put.event.type === 'SecretPut' ? put.event.data : undefined;
  await appendToContent(dir, [
    {
      type: 'SecretsDestroyed',
      data: {
        deploymentId: 'default' as DeploymentId,
        deletedBy: a.id,
        keyVersions: [1 as KeyVersion],
        secrets: [{ name: data!.name, keyVersion: data!.keyVersion, fingerprint: data!.fingerprint }],
      },
    },
  ]);
  const got = await cliWith({}, '-c', a.file, 'secret', 'get', 's1', '--reveal');
  t.is(got.code, 4, got.stderr);
  t.regex(got.stderr, /not signed/);
});

test('the deletion rewritten in the store (its chain re-hashed) is found: the member that relied on it stops, verify names it', async (t) => {
  t.timeout(60_000);
  const { dir, a } = await withSecret();
  t.is((await a.run('delete-content', '--confirm', 'default')).code, 0);
  const at = (await deploymentEvents(dir)).findIndex((e) => e.event.type === 'EncryptedContentDeleted');
  rewriteAndRehash(ledgerFile(dir), DSTREAM, at, (d) => ({ ...d, secrets: 0 }));
  const r = await a.run('init');
  t.is(r.code, 4, r.stderr);
  t.regex(r.stderr, /rolled back/);
  const v = await a.run('--json', 'verify', '--signatures');
  t.is(v.code, 4);
  t.true(JSON.stringify(v.json()).includes('"eventType":"EncryptedContentDeleted"'));
});

test('after a deletion, a member’s private key with the whole ledger and content store in hand opens no ciphertext', async (t) => {
  t.timeout(60_000);
  const { dir, a, b } = await withSecret();
  const jwk = privateJwkOf((await keysOf(b)).privateKey);
  const unwrapped = async (): Promise<Buffer[]> => {
    const out: Buffer[] = [];
    for (const e of await deploymentEvents(dir)) {
      const ev = e.event;
      if (ev.type !== 'SymmetricKeyCreated' && ev.type !== 'SymmetricKeyWrapped') continue;
      try {
        out.push(unwrapWithNodeCrypto(ev.data.copy.jwe, jwk));
      } catch {
        // not wrapped for B's key
      }
    }
    return out;
  };
  const ciphertexts = (): string[] => {
    const db = new Database(ledgerFile(dir), { readonly: true });
    try {
      return (db.prepare('SELECT jwe FROM keyledger_content').all() as Array<{ jwe: string }>).map((r) => r.jwe);
    } finally {
      db.close();
    }
  };
  const opens = (key: Buffer, jwe: string): boolean => {
    const [h = '', , iv = '', ct = '', tag = ''] = jwe.split('.');
    try {
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
      d.setAAD(Buffer.from(h, 'ascii'));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]);
      return true;
    } catch {
      return false;
    }
  };
  // The control: before, B's key recovers the deployment key, which opens the secret.
  const v1Keys = await unwrapped();
  t.true(v1Keys.length > 0);
  t.true(ciphertexts().every((c) => v1Keys.some((k) => opens(k, c))));
  t.is((await a.run('delete-content', '--confirm', 'default')).code, 0);
  t.deepEqual(ciphertexts(), [], 'no ciphertext left');
  // Re-initialized and re-joined: B's copy of version 1 is still in the ledger (immutable), and opens none of the new ciphertexts.
  t.is((await a.run('init')).code, 0);
  t.is((await b.run('init')).code, 1);
  t.is((await a.run(...joinArgs(b))).code, 0);
  t.is((await cliWith({ stdin: 'another value' }, '-c', a.file, 'secret', 'put', 's2')).code, 0);
  t.true((await unwrapped()).length > v1Keys.length, 'B now also unwraps its copy of version 2');
  for (const c of ciphertexts())
    t.false(
      v1Keys.some((k) => opens(k, c)),
      'no ciphertext in the store opens with the destroyed version',
    );
});
