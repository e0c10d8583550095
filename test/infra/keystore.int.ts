/**
 * The file keystore: one 0600 JSON file whose private key is encrypted under
 * a key bound to the machine secret, the service identity and the
 * installation ID. Every way it can fail to load is a distinct problem.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import * as E from 'fp-ts/Either';
import type { InstallationId } from '../../src/domain/ids';
import { fileKeystore, MACHINE_SECRET_ENV } from '../../src/infra/file-keystore';
import { joseCrypto, privateJwkOf } from '../../src/infra/jose-crypto';
import type { GeneratedKeyPair, KeystoreBinding, PrivateKeyHandle } from '../../src/ports/crypto';
import { newInstallationId, rightOf, tempDir } from '../support/fixtures';

// These tests are about the machine.secret file; a secret inherited from the
// environment would hide it. (ava runs each file in its own worker: this env is ours.)
delete process.env[MACHINE_SECRET_ENV];

const crypto = joseCrypto();
const IDENTITY = 'NT SERVICE\\ReportServer';

// Key generation is slow: generate three pairs once, share them.
let pairs: Promise<GeneratedKeyPair[]> | undefined;
const keyPairs = (): Promise<GeneratedKeyPair[]> =>
  (pairs ??= Promise.all([1, 2, 3].map(() => crypto.generateKeyPair(2048)())).then((rs) => rs.map((r) => rightOf(r))));

const roots: string[] = [];
test.after.always(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

/** A fresh keystore path in a folder that does not exist yet, and a binding. */
const setup = () => {
  const root = tempDir('kl-keystore');
  roots.push(root);
  const file = path.join(root, 'keystore', 'MSSQLSERVER', 'instance.keystore.json');
  const binding: KeystoreBinding = { installationId: newInstallationId(), serviceIdentity: IDENTITY };
  return { root, file, dir: path.dirname(file), secretFile: path.join(path.dirname(file), 'machine.secret'), binding, keystore: fileKeystore(file) };
};

const modeOf = (p: string): number => fs.statSync(p).mode & 0o777;
const fileJson = (file: string): Record<string, unknown> => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
const writeJson = (file: string, value: unknown): void => fs.writeFileSync(file, JSON.stringify(value, null, 2), { mode: 0o600 });

/** Proves a loaded handle is the generated private key: it unwraps what was wrapped for the public key. */
const sameKey = async (handle: PrivateKeyHandle, pair: GeneratedKeyPair): Promise<boolean> => {
  const key = crypto.createSymmetricKey();
  const jwe = rightOf(await crypto.wrap(key, pair.publicKey)());
  const unwrapped = await crypto.unwrap(jwe, handle)();
  return E.isRight(unwrapped) && crypto.keyCheck(unwrapped.right) === crypto.keyCheck(key);
};

const keystoreError = (file: string, problem: string, detail: string, keystoreInstallationId: InstallationId | null) =>
  E.left({ _tag: 'KeystoreError', path: file, problem, detail, keystoreInstallationId });

// ─── Round trip and file protection ───────────────────────────────────────

test('create then load: the same key pair comes back', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding } = setup();
  t.deepEqual(await keystore.create(binding, pair!)(), E.right(undefined));
  const loaded = rightOf(await keystore.load(binding)());
  t.is(loaded.installationId, binding.installationId);
  t.is(loaded.thumbprint, pair!.thumbprint);
  t.deepEqual(loaded.publicKey, pair!.publicKey);
  t.is(loaded.keySize, 2048);
  t.is(loaded.privateKey.thumbprint, pair!.thumbprint);
  t.true(await sameKey(loaded.privateKey, pair!), 'the loaded private key unwraps what was wrapped for the public key');
});

test('create: the keystore file is 0600, its folder 0700, the machine secret 0600', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file, dir, secretFile } = setup();
  rightOf(await keystore.create(binding, pair!)());
  t.is(modeOf(file).toString(8), '600');
  t.is(modeOf(dir).toString(8), '700');
  t.is(modeOf(secretFile).toString(8), '600');
  t.deepEqual(fs.readdirSync(dir).sort(), ['instance.keystore.json', 'machine.secret'], 'no temp files left behind');
});

test('create: the file holds no private key material (d, p, q, dp, dq, qi in any encoding)', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, pair!)());
  const text = fs.readFileSync(file, 'utf8');
  const jwk = privateJwkOf(pair!.privateKey) as Record<string, string>;
  for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
    const bytes = Buffer.from(jwk[m]!, 'base64url');
    t.true(bytes.length >= 64, `${m} is a real value`);
    for (const encoded of [jwk[m]!, bytes.toString('base64'), bytes.toString('hex'), bytes.toString('base64url').slice(0, 24)])
      t.false(text.includes(encoded), `the file contains ${m}`);
  }
  const json = fileJson(file);
  t.deepEqual(Object.keys(json).sort(), ['format', 'installationId', 'kdf', 'keySize', 'privateKey', 'publicKey', 'thumbprint', 'version']);
  t.deepEqual(Object.keys(json['publicKey'] as object).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
  t.is((json['privateKey'] as string).split('.').length, 5);
});

test('create twice: KeystoreExists, and the first file is unchanged', async (t) => {
  t.timeout(120_000);
  const [first, second] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, first!)());
  const before = fs.readFileSync(file);
  t.deepEqual(await keystore.create(binding, second!)(), E.left({ _tag: 'KeystoreExists', path: file }));
  t.deepEqual(fs.readFileSync(file), before);
  t.is(rightOf(await keystore.load(binding)()).thumbprint, first!.thumbprint);
});

test('concurrent create from two keystore objects on one path: exactly one wins, the loaded key is the winner', async (t) => {
  t.timeout(120_000);
  const [a, b] = await keyPairs();
  const { file, binding } = setup();
  const results = await Promise.all([fileKeystore(file).create(binding, a!)(), fileKeystore(file).create(binding, b!)()]);
  const winners = results.flatMap((r, i) => (E.isRight(r) ? [i] : []));
  t.is(winners.length, 1, JSON.stringify(results));
  const winner = winners[0] === 0 ? a! : b!;
  t.deepEqual(results[winners[0] === 0 ? 1 : 0], E.left({ _tag: 'KeystoreExists', path: file }));
  const loaded = rightOf(await fileKeystore(file).load(binding)());
  t.is(loaded.thumbprint, winner.thumbprint);
  t.true(await sameKey(loaded.privateKey, winner));
});

// ─── Load problems ────────────────────────────────────────────────────────

test('load: no file → missing', async (t) => {
  t.timeout(30_000);
  const { keystore, binding, file } = setup();
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'missing', 'no keystore file', null));
});

test('load under another service identity → locked, naming the file installation', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, pair!)());
  t.deepEqual(
    await keystore.load({ ...binding, serviceIdentity: 'CONTOSO\\svc-reports' })(),
    keystoreError(file, 'locked', `it cannot be decrypted under service identity "CONTOSO\\svc-reports" with this machine's secret`, binding.installationId),
  );
});

test('load for another installation → locked, naming the installation the file was issued to', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, pair!)());
  t.deepEqual(
    await keystore.load({ ...binding, installationId: newInstallationId() })(),
    keystoreError(file, 'locked', `the keystore was issued to installation ${binding.installationId}`, binding.installationId),
  );
});

test('load: the installation ID matches case-insensitively', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding } = setup();
  rightOf(await keystore.create(binding, pair!)());
  t.is(rightOf(await keystore.load({ ...binding, installationId: binding.installationId.toUpperCase() as InstallationId })()).thumbprint, pair!.thumbprint);
});

test('load: a file that is not JSON → corrupt', async (t) => {
  t.timeout(30_000);
  const { keystore, binding, file, dir } = setup();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, '{"format":"keyledger-keystore",', { mode: 0o600 });
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'corrupt', 'the file is not JSON', null));
});

test('load: JSON that is not a keystore → corrupt', async (t) => {
  t.timeout(30_000);
  const { keystore, binding, file, dir } = setup();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeJson(file, { format: 'something-else', installationId: binding.installationId });
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'corrupt', 'the file is not a keyledger keystore', null));
});

test('load: the header thumbprint edited → corrupt (the header is bound to the ciphertext)', async (t) => {
  t.timeout(120_000);
  const [pair, other] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, pair!)());
  writeJson(file, { ...fileJson(file), thumbprint: other!.thumbprint });
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'corrupt', 'the keystore header was edited', binding.installationId));
});

test('load: the header installation ID edited → not loadable as either installation (locked)', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, pair!)());
  const forged = newInstallationId();
  writeJson(file, { ...fileJson(file), installationId: forged });
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'locked', `the keystore was issued to installation ${forged}`, forged));
  t.deepEqual(
    await keystore.load({ ...binding, installationId: forged })(),
    keystoreError(file, 'locked', `it cannot be decrypted under service identity "${IDENTITY}" with this machine's secret`, forged),
  );
});

test('load: the header public key swapped for another → not loadable as that key', async (t) => {
  t.timeout(120_000);
  const [pair, other] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, pair!)());
  writeJson(file, { ...fileJson(file), publicKey: other!.publicKey });
  const r = await keystore.load(binding)();
  // Either refused, or the real public key comes back: never the swapped-in one.
  if (E.isRight(r)) t.deepEqual(r.right.publicKey, pair!.publicKey, 'load returned a public key that does not belong to the private key');
  else t.deepEqual(r, keystoreError(file, 'corrupt', r.left.detail, binding.installationId));
});

test('load: mode 0644 → unreadable, telling the operator to chmod 600', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, pair!)());
  fs.chmodSync(file, 0o644);
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'unreadable', `it has permissions 644, too open (run: chmod 600 ${file})`, null));
});

test('load: machine.secret removed → locked', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file, secretFile } = setup();
  rightOf(await keystore.create(binding, pair!)());
  fs.rmSync(secretFile);
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'locked', `the machine secret ${secretFile} is missing`, binding.installationId));
});

test('load: machine.secret replaced by another → locked', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file, secretFile } = setup();
  rightOf(await keystore.create(binding, pair!)());
  fs.writeFileSync(secretFile, randomBytes(32).toString('base64url'), { mode: 0o600 });
  t.deepEqual(
    await keystore.load(binding)(),
    keystoreError(file, 'locked', `it cannot be decrypted under service identity "${IDENTITY}" with this machine's secret`, binding.installationId),
  );
});

test('a copied keystore file without its machine secret is useless elsewhere', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const { keystore, binding, file } = setup();
  rightOf(await keystore.create(binding, pair!)());
  const elsewhere = setup();
  fs.mkdirSync(elsewhere.dir, { recursive: true, mode: 0o700 });
  fs.copyFileSync(file, elsewhere.file);
  t.deepEqual(
    await fileKeystore(elsewhere.file).load(binding)(),
    keystoreError(elsewhere.file, 'locked', `the machine secret ${elsewhere.secretFile} is missing`, binding.installationId),
  );
});

test('keys are imported once per process: the same file, binding and secret load the same handles; any change is checked again', async (t) => {
  t.timeout(120_000);
  const [pair, other] = await keyPairs();
  const { keystore, binding, file, secretFile } = setup();
  rightOf(await keystore.create(binding, pair!)());
  const first = rightOf(await keystore.load(binding)());
  t.is(rightOf(await keystore.load(binding)()).privateKey, first.privateKey, 'not decrypted and imported again');
  t.is(rightOf(await fileKeystore(file).load(binding)()).privateKey, first.privateKey, 'another keystore object on the same file');

  // The modes are checked on every load.
  fs.chmodSync(file, 0o644);
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'unreadable', `it has permissions 644, too open (run: chmod 600 ${file})`, null));
  fs.chmodSync(file, 0o600);
  t.is(rightOf(await keystore.load(binding)()).privateKey, first.privateKey);

  // Another identity, another secret, an edited header: refused as on a first load.
  const locked = keystoreError(
    file,
    'locked',
    `it cannot be decrypted under service identity "CONTOSO\\svc" with this machine's secret`,
    binding.installationId,
  );
  t.deepEqual(await keystore.load({ ...binding, serviceIdentity: 'CONTOSO\\svc' })(), locked);
  const secret = fs.readFileSync(secretFile, 'utf8');
  fs.writeFileSync(secretFile, randomBytes(32).toString('base64url'), { mode: 0o600 });
  t.deepEqual(
    await keystore.load(binding)(),
    keystoreError(file, 'locked', `it cannot be decrypted under service identity "${IDENTITY}" with this machine's secret`, binding.installationId),
  );
  fs.writeFileSync(secretFile, secret, { mode: 0o600 });
  const original = fileJson(file);
  writeJson(file, { ...original, thumbprint: other!.thumbprint });
  t.deepEqual(await keystore.load(binding)(), keystoreError(file, 'corrupt', 'the keystore header was edited', binding.installationId));
  writeJson(file, original);
  t.true(await sameKey(rightOf(await keystore.load(binding)()).privateKey, pair!));
});

// ─── KEYLEDGER_MACHINE_SECRET (process env: serial, restored) ─────────────

test.serial('KEYLEDGER_MACHINE_SECRET replaces the machine.secret file', async (t) => {
  t.timeout(120_000);
  const [pair] = await keyPairs();
  const saved = process.env[MACHINE_SECRET_ENV];
  try {
    const { keystore, binding, file, dir } = setup();
    process.env[MACHINE_SECRET_ENV] = randomBytes(32).toString('base64url');
    rightOf(await keystore.create(binding, pair!)());
    t.deepEqual(fs.readdirSync(dir), ['instance.keystore.json'], 'no machine.secret written');
    t.is(rightOf(await keystore.load(binding)()).thumbprint, pair!.thumbprint);

    process.env[MACHINE_SECRET_ENV] = randomBytes(32).toString('base64url');
    t.deepEqual(
      await keystore.load(binding)(),
      keystoreError(file, 'locked', `it cannot be decrypted under service identity "${IDENTITY}" with this machine's secret`, binding.installationId),
    );

    process.env[MACHINE_SECRET_ENV] = randomBytes(16).toString('base64url');
    t.deepEqual(
      await keystore.load(binding)(),
      keystoreError(file, 'locked', `${MACHINE_SECRET_ENV} must be at least 32 bytes, base64url`, binding.installationId),
    );

    delete process.env[MACHINE_SECRET_ENV];
    t.deepEqual(
      await keystore.load(binding)(),
      keystoreError(file, 'locked', `the machine secret ${path.join(dir, 'machine.secret')} is missing`, binding.installationId),
    );
  } finally {
    if (saved === undefined) delete process.env[MACHINE_SECRET_ENV];
    else process.env[MACHINE_SECRET_ENV] = saved;
  }
});
