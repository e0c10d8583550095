/**
 * ADR 0003 and ADR 0002 as specifications: an independent implementation that
 * follows their "Exact encoding" sections must open a keystore, reproduce a
 * key-check value and recompute an event's hash.
 *
 * The project only makes the artifacts (a keystore, a wrapped key, sealed
 * events) and the values compared against. Everything in the "per the ADR"
 * section below uses nothing but node:crypto and the independent `jose`
 * package, and follows the ADRs' words, not the code, so these tests fail when
 * an ADR is wrong. Each test also shows that plausible misreadings of the ADR
 * (another field order, no separators, …) do not work: every sentence matters.
 */
import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import * as E from 'fp-ts/Either';
import * as jose from 'jose';
import { GENESIS, hashEvent, sealEvents } from '../../src/domain/envelope';
import type { CompactJwe, LedgerEvent } from '../../src/domain/events';
import type { InstallationId } from '../../src/domain/ids';
import { fileKeystore, MACHINE_SECRET_ENV } from '../../src/infra/file-keystore';
import { joseCrypto } from '../../src/infra/jose-crypto';
import { sha256Hex } from '../../src/infra/sha256';
import type { GeneratedKeyPair, KeystoreBinding } from '../../src/ports/crypto';
import { aBasis, anInstance, NODE_1 } from '../support/domain-builders';
import { rightOf, tempDir } from '../support/fixtures';

// The machine.secret file is part of what is specified; a secret inherited from the
// environment would hide it. (ava runs each file in its own worker: this env is ours.)
// Tests that set the variable are serial and restore it.
delete process.env[MACHINE_SECRET_ENV];

const ROOT = path.resolve(__dirname, '../../..'); // dist/test/infra → repository root
const adr = (name: string): string => fs.readFileSync(path.join(ROOT, 'docs', 'adr', name), 'utf8');

// ═══ Per the ADR: node:crypto and jose only, nothing from src/ ═══════════════

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const ZERO = Buffer.from([0x00]);

/** ADR 0003 "The machine secret": the env variable if set, else machine.secret beside the keystore, trimmed; base64url; ≥ 32 bytes, all of them used. */
const adrMachineSecret = (keystoreFile: string): Buffer => {
  const fromEnv = process.env['KEYLEDGER_MACHINE_SECRET'];
  const text = fromEnv !== undefined ? fromEnv : fs.readFileSync(path.join(path.dirname(keystoreFile), 'machine.secret'), 'utf8').trim();
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length < 32) throw new Error('machine secret shorter than 32 bytes');
  return bytes;
};

/** ADR 0003 "The info bytes": label ‖ 0x00 ‖ UTF-8(identity, as is) ‖ 0x00 ‖ UTF-8(lower-cased installation ID). */
const adrInfo = (serviceIdentity: string, installationId: string): Buffer =>
  Buffer.concat([utf8('keyledger-keystore/v1'), ZERO, utf8(serviceIdentity), ZERO, utf8(installationId.toLowerCase())]);

/** ADR 0003 "Key derivation": HKDF-SHA256, L = 32. */
const adrKey = (secret: Buffer, salt: Buffer, info: Buffer): Buffer => Buffer.from(hkdfSync('sha256', secret, salt, info, 32));

/** ADR 0003 "The key-check value": base64url(HMAC-SHA256(key, ASCII label)). */
const adrKeyCheck = (key: Uint8Array): string => createHmac('sha256', key).update(Buffer.from('keyledger/key-check/v1', 'ascii')).digest('base64url');

/** ADR 0003 "The keystore file": the members an independent reader relies on. */
interface AdrKeystoreFile {
  format: string;
  version: number;
  installationId: string;
  thumbprint: string;
  keySize: number;
  publicKey: { kty: string; n: string; e: string; alg: string; use: string; kid: string };
  kdf: { alg: string; salt: string };
  privateKey: string;
}

/** Opens a keystore as the ADR says: derive the key, decrypt the compact JWE (dir + A256GCM) with jose. */
const adrOpen = async (
  keystoreFile: string,
  binding: { serviceIdentity: string; installationId: string },
  misreading: Misreading = ADR,
): Promise<{ file: AdrKeystoreFile; header: jose.CompactJWEHeaderParameters; privateJwk: jose.JWK }> => {
  const file = JSON.parse(fs.readFileSync(keystoreFile, 'utf8')) as AdrKeystoreFile;
  const salt = Buffer.from(file.kdf.salt, 'base64url');
  const key = adrKey(misreading.secret(adrMachineSecret(keystoreFile)), salt, misreading.info(binding.serviceIdentity, binding.installationId));
  const { plaintext, protectedHeader } = await jose.compactDecrypt(file.privateKey, key, {
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM'],
  });
  return { file, header: protectedHeader, privateJwk: JSON.parse(Buffer.from(plaintext).toString('utf8')) as jose.JWK };
};

/** ADR 0002 "Canonical JSON": sorted members (UTF-16 code units), no white space, undefined members left out, JSON.stringify strings and numbers. */
const adrCanonical = (v: unknown): string => {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('NaN and ±Infinity are refused');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(adrCanonical).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const names = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort(); // the default sort compares UTF-16 code units
    return `{${names.map((k) => `${JSON.stringify(k)}:${adrCanonical(o[k])}`).join(',')}}`;
  }
  throw new TypeError(`not a JSON value: ${typeof v}`);
};

const ADR_GENESIS = '0'.repeat(64);

/** ADR 0002 "Exact encoding": lowercase hex SHA-256 of the UTF-8 canonical JSON of { stream, revision (decimal string), type, data, metadata without hash }. */
const adrHash = (
  stream: string,
  revision: bigint,
  type: string,
  data: unknown,
  metadata: Record<string, unknown>,
  revisionAs: (r: bigint) => unknown = (r) => r.toString(10),
): string => {
  const { hash: _hash, ...withoutHash } = metadata;
  return createHash('sha256')
    .update(utf8(adrCanonical({ stream, revision: revisionAs(revision), type, data, metadata: withoutHash })))
    .digest('hex');
};

// ─── Misreadings of ADR 0003: each must fail to open the keystore ─────────

interface Misreading {
  readonly name: string;
  readonly info: (serviceIdentity: string, installationId: string) => Buffer;
  readonly secret: (s: Buffer) => Buffer;
}
const ADR: Misreading = { name: 'the ADR', info: adrInfo, secret: (s) => s };
const MISREADINGS: ReadonlyArray<Misreading> = [
  {
    ...ADR,
    name: 'installation ID before service identity',
    info: (i, id) => Buffer.concat([utf8('keyledger-keystore/v1'), ZERO, utf8(id.toLowerCase()), ZERO, utf8(i)]),
  },
  { ...ADR, name: 'no zero-byte separators', info: (i, id) => Buffer.concat([utf8('keyledger-keystore/v1'), utf8(i), utf8(id.toLowerCase())]) },
  { ...ADR, name: 'a trailing zero byte', info: (i, id) => Buffer.concat([adrInfo(i, id), ZERO]) },
  { ...ADR, name: 'installation ID not lower-cased', info: (i, id) => Buffer.concat([utf8('keyledger-keystore/v1'), ZERO, utf8(i), ZERO, utf8(id)]) },
  { ...ADR, name: 'service identity NFC-normalized', info: (i, id) => adrInfo(i.normalize('NFC'), id) },
  { ...ADR, name: 'service identity lower-cased', info: (i, id) => adrInfo(i.toLowerCase(), id) },
  { ...ADR, name: 'machine secret truncated to 32 bytes', secret: (s) => s.subarray(0, 32) },
];

/** Asserts that every misreading that gives other HKDF inputs than the ADR for this binding fails to decrypt. */
const misreadingsFail = async (t: ExecutionContext, keystoreFile: string, binding: { serviceIdentity: string; installationId: string }): Promise<number> => {
  const secret = adrMachineSecret(keystoreFile);
  let tried = 0;
  for (const m of MISREADINGS) {
    const same =
      m.info(binding.serviceIdentity, binding.installationId).equals(adrInfo(binding.serviceIdentity, binding.installationId)) &&
      m.secret(secret).equals(secret);
    if (same) continue; // this binding cannot tell the misreading apart
    tried += 1;
    await t.throwsAsync(adrOpen(keystoreFile, binding, m), undefined, `misreading "${m.name}" must not open the keystore`);
  }
  return tried;
};

// ═══ The project's artifacts ════════════════════════════════════════════════

const crypto = joseCrypto();

let pair: Promise<GeneratedKeyPair> | undefined;
const keyPair = (): Promise<GeneratedKeyPair> => (pair ??= crypto.generateKeyPair(2048)().then(rightOf));

const roots: string[] = [];
test.after.always(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});
const keystorePath = (): string => {
  const root = tempDir('kl-keystore-adr');
  roots.push(root);
  return path.join(root, 'keystore', 'MSSQLSERVER', 'instance.keystore.json');
};

/** A keystore made by the project's fileKeystore, with machine.secret (the default). Made once, shared. */
const IDENTITY = 'NT SERVICE\\ReportServer';
let shared: Promise<{ file: string; binding: KeystoreBinding }> | undefined;
const projectKeystore = (): Promise<{ file: string; binding: KeystoreBinding }> =>
  (shared ??= (async () => {
    const file = keystorePath();
    const binding: KeystoreBinding = { installationId: '8d1ecc46-95ef-4400-ac9f-0033620a74dd' as InstallationId, serviceIdentity: IDENTITY };
    rightOf(await fileKeystore(file).create(binding, await keyPair())());
    return { file, binding };
  })());

// ═══ Tests ═════════════════════════════════════════════════════════════════

test.serial('jose loads as a CommonJS require of an ES module (Node ≥ 20.19)', (t) => {
  t.timeout(10_000);
  t.is(typeof jose.compactDecrypt, 'function');
  t.is(typeof jose.calculateJwkThumbprint, 'function');
});

/** Checks a keystore opened per the ADR against the ADR's file description and the project's key pair. */
const checkOpened = async (t: ExecutionContext, file: string, binding: KeystoreBinding, generated: GeneratedKeyPair): Promise<void> => {
  const { file: ks, header, privateJwk } = await adrOpen(file, binding);

  // The file's members, as the ADR's table says.
  t.deepEqual(Object.keys(ks).sort(), ['format', 'installationId', 'kdf', 'keySize', 'privateKey', 'publicKey', 'thumbprint', 'version']);
  t.is(ks.format, 'keyledger-keystore');
  t.is(ks.version, 1);
  t.is(ks.installationId, binding.installationId);
  t.deepEqual(ks.kdf.alg, 'HKDF-SHA256');
  t.regex(ks.kdf.salt, /^[A-Za-z0-9_-]{22}$/, 'salt: base64url without padding');
  t.is(Buffer.from(ks.kdf.salt, 'base64url').length, 16);
  t.deepEqual(ks.publicKey, { kty: 'RSA', n: generated.publicKey.n, e: 'AQAB', alg: 'RSA-OAEP-256', use: 'enc', kid: generated.thumbprint });

  // The JWE's protected header: exactly alg, enc, kl_inst, kl_tp.
  t.deepEqual(header, { alg: 'dir', enc: 'A256GCM', kl_inst: ks.installationId, kl_tp: ks.thumbprint });
  t.is(ks.privateKey.split('.')[1], '', 'dir: the encrypted-key part is empty');

  // The plaintext: the private RSA JWK, whose public part is the keystore's public key.
  t.deepEqual(Object.keys(privateJwk).sort(), ['alg', 'd', 'dp', 'dq', 'e', 'kid', 'kty', 'n', 'p', 'q', 'qi', 'use']);
  t.like(privateJwk, { kty: 'RSA', kid: ks.thumbprint, use: 'enc', alg: 'RSA-OAEP-256', n: ks.publicKey.n, e: ks.publicKey.e });
  const thumbprint = await jose.calculateJwkThumbprint(privateJwk, 'sha256');
  t.is(thumbprint, ks.thumbprint, 'RFC 7638 thumbprint of the decrypted key = the header thumbprint');
  t.is(thumbprint, generated.thumbprint);
  t.is(thumbprint, await jose.calculateJwkThumbprint(ks.publicKey, 'sha256'));
  t.is(Buffer.from(privateJwk.n!, 'base64url').length * 8, ks.keySize);
  t.is(ks.keySize, 2048);

  // And it is a working private key for the public key (jose round trip).
  const message = randomBytes(32);
  const jwe = await new jose.CompactEncrypt(message)
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })
    .encrypt(await jose.importJWK(ks.publicKey, 'RSA-OAEP-256'));
  const back = await jose.compactDecrypt(jwe, await jose.importJWK(privateJwk, 'RSA-OAEP-256'));
  t.true(Buffer.from(back.plaintext).equals(message));
};

test.serial('ADR 0003: a keystore made by fileKeystore (machine.secret) opens with the key derived from the ADR alone, decrypted by jose', async (t) => {
  t.timeout(120_000);
  const generated = await keyPair();
  const { file, binding } = await projectKeystore();

  // The machine secret file, as the ADR describes it.
  const secretText = fs.readFileSync(path.join(path.dirname(file), 'machine.secret'), 'utf8');
  t.regex(secretText, /^[A-Za-z0-9_-]{43}$/, '43 base64url characters, no newline');
  t.is(Buffer.from(secretText, 'base64url').length, 32);
  t.is(fs.statSync(path.join(path.dirname(file), 'machine.secret')).mode & 0o777, 0o600);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.is(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);

  await checkOpened(t, file, binding, generated);
  t.true((await misreadingsFail(t, file, binding)) >= 3);
});

test.serial(
  'ADR 0003: with KEYLEDGER_MACHINE_SECRET (48 bytes), an upper-case installation ID and a non-normalized identity, the ADR-derived key still opens it',
  async (t) => {
    t.timeout(120_000);
    const generated = await keyPair();
    const file = keystorePath();
    // Upper-case GUID (lower-cased only in the info); identity in NFD (e + U+0301), UTF-8 as is.
    const binding: KeystoreBinding = {
      installationId: 'C3D4E5F6-A7B8-4C9D-8E0F-1A2B3C4D5E6F' as InstallationId,
      serviceIdentity: 'CORP\\svc-rapports-re\u0301seau',
    };
    process.env['KEYLEDGER_MACHINE_SECRET'] = randomBytes(48).toString('base64url');
    try {
      rightOf(await fileKeystore(file).create(binding, generated)());
      t.false(fs.existsSync(path.join(path.dirname(file), 'machine.secret')), 'with the variable set, no machine.secret is created');
      await checkOpened(t, file, binding, generated);
      // Here every misreading is distinguishable, including lower-casing, NFC and truncation.
      t.is(await misreadingsFail(t, file, binding), MISREADINGS.length);
    } finally {
      delete process.env['KEYLEDGER_MACHINE_SECRET'];
    }
  },
);

test.serial('ADR 0003: the key-check value recomputed from the ADR equals joseCrypto().keyCheck, on a key unwrapped by jose', async (t) => {
  t.timeout(120_000);
  const generated = await keyPair();
  const { file, binding } = await projectKeystore();
  const { privateJwk } = await adrOpen(file, binding);
  const privateKey = await jose.importJWK(privateJwk, 'RSA-OAEP-256');

  const symmetric = crypto.createSymmetricKey();
  const wrapped = rightOf(await crypto.wrap(symmetric, generated.publicKey)());
  const { plaintext, protectedHeader } = await jose.compactDecrypt(wrapped, privateKey, {
    keyManagementAlgorithms: ['RSA-OAEP-256'],
    contentEncryptionAlgorithms: ['A256GCM'],
  });
  t.deepEqual(protectedHeader, { alg: 'RSA-OAEP-256', kid: generated.thumbprint, enc: 'A256GCM' });
  t.is(plaintext.length, 32, 'the plaintext is the 32 raw key bytes');
  const keyCheck = adrKeyCheck(plaintext);
  t.regex(keyCheck, /^[A-Za-z0-9_-]{43}$/);
  t.is(keyCheck, crypto.keyCheck(symmetric) as string);
  // Misreadings: the label with a newline, hex output, the key as base64url text.
  t.not(createHmac('sha256', plaintext).update('keyledger/key-check/v1\n').digest('base64url'), keyCheck);
  t.not(createHmac('sha256', plaintext).update('keyledger/key-check/v1').digest('hex'), crypto.keyCheck(symmetric));
  t.not(createHmac('sha256', Buffer.from(plaintext).toString('base64url')).update('keyledger/key-check/v1').digest('base64url'), keyCheck);

  // The ADR's test vector: key bytes 00 01 … 1f, wrapped by jose, unwrapped by the project.
  const vectorKey = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const vectorJwe = await new jose.CompactEncrypt(vectorKey)
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: generated.thumbprint })
    .encrypt(await jose.importJWK(generated.publicKey, 'RSA-OAEP-256'));
  const loaded = rightOf(await fileKeystore(file).load(binding)());
  const unwrapped = rightOf(await crypto.unwrap(vectorJwe as CompactJwe, loaded.privateKey)());
  const VECTOR = 'elBqHcIBdW8yHzDPJqJA3_LQh92HFqb3CnzQKBii-wg';
  t.is(crypto.keyCheck(unwrapped) as string, VECTOR);
  t.is(adrKeyCheck(vectorKey), VECTOR);
  t.true(adr('0003-keystore-protection.md').includes(VECTOR), 'the ADR states this key-check vector');
});

test.serial('ADR 0003: a keystore written by jose from the ADR (and its HKDF test vector) is opened by fileKeystore', async (t) => {
  t.timeout(120_000);
  const file = keystorePath();
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // The ADR's vector inputs.
  const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const salt = Buffer.from(Array.from({ length: 16 }, (_, i) => 0xf0 + i));
  const identity = 'NT SERVICE\\ReportServer';
  const presented = '8D1ECC46-95EF-4400-AC9F-0033620A74DD';
  const text = adr('0003-keystore-protection.md');
  t.true(text.includes(secret.toString('base64url')) && text.includes(salt.toString('base64url')));
  const info = adrInfo(identity, presented);
  t.is(info.length, 82);
  t.true(text.replace(/\s+/g, '').includes(info.toString('hex')), 'the ADR states these info bytes');
  const key = adrKey(secret, salt, info);
  t.is(key.toString('hex'), '7025084d2694142a3876803b5ea04aa4697c928a33c266cff996b42f7d1933c6');
  t.true(text.includes(key.toString('hex')), 'the ADR states this derived key');

  // A key pair of jose's own, written as the ADR describes.
  const { privateKey } = await jose.generateKeyPair('RSA-OAEP-256', { modulusLength: 2048, extractable: true });
  const { kty, n, e, d, p, q, dp, dq, qi } = await jose.exportJWK(privateKey);
  const thumbprint = await jose.calculateJwkThumbprint({ kty: kty!, n: n!, e: e! }, 'sha256');
  const privateJwk = { kty, kid: thumbprint, use: 'enc', alg: 'RSA-OAEP-256', e, n, d, p, q, dp, dq, qi };
  const jwe = await new jose.CompactEncrypt(utf8(JSON.stringify(privateJwk)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kl_inst: presented, kl_tp: thumbprint })
    .encrypt(key);
  fs.writeFileSync(path.join(path.dirname(file), 'machine.secret'), secret.toString('base64url'), { mode: 0o600 });
  const content: AdrKeystoreFile = {
    format: 'keyledger-keystore',
    version: 1,
    installationId: presented,
    thumbprint,
    keySize: 2048,
    publicKey: { kty: 'RSA', n: n!, e: e!, alg: 'RSA-OAEP-256', use: 'enc', kid: thumbprint },
    kdf: { alg: 'HKDF-SHA256', salt: salt.toString('base64url') },
    privateKey: jwe,
  };
  fs.writeFileSync(file, JSON.stringify(content), { mode: 0o600 });

  // The project opens it, presented with the lower-case ID the config would give.
  const binding: KeystoreBinding = { installationId: presented.toLowerCase() as InstallationId, serviceIdentity: identity };
  const loaded = rightOf(await fileKeystore(file).load(binding)());
  t.is(loaded.thumbprint as string, thumbprint);
  t.is(loaded.publicKey.n as string, n!);
  t.is(loaded.keySize, 2048);
  // Under another identity it does not open (the binding is in the info).
  const other = await fileKeystore(file).load({ ...binding, serviceIdentity: 'svc-reports' })();
  t.true(E.isLeft(other) && other.left.problem === 'locked');
});

// ─── ADR 0002 ─────────────────────────────────────────────────────────────

test.serial('ADR 0002: each hash sealEvents wrote is recomputed from the ADR with node:crypto only', (t) => {
  t.timeout(30_000);
  t.is(GENESIS, ADR_GENESIS, 'GENESIS is 64 "0" characters');
  const node = anInstance(NODE_1);
  // Strings that need escaping, non-ASCII, nested objects, numbers (2048, 1, -1), null.
  const refusedEvent: LedgerEvent = {
    type: 'InstanceActivationRefused',
    data: {
      ...node.refused({ _tag: 'ServiceIdentityChanged', recordedIdentity: 'NT SERVICE\\ReportServer', presentedIdentity: 'svc-rapports-ré\t"x"\u0001/\u2028' })
        .data,
      basis: aBasis(NODE_1, null, -1),
    },
  };
  const events: LedgerEvent[] = [node.configRead, node.keyPairIssued, refusedEvent, node.activated()];
  let n = 0;
  const ctx = {
    actor: 'opérateur@rs-node-1',
    command: 'init',
    correlationId: 'CHG-1042',
    causationId: 'CHG-1042',
    now: () => new Date(Date.parse('2026-11-28T18:18:55Z') + 1000 * n),
    newId: () => `evt-${++n}`,
  };
  const stream = `keyledger.instance-${NODE_1.toLowerCase()}`;

  const check = (first: bigint, prev: string, sealed: ReadonlyArray<{ type: string; data: unknown; metadata: unknown }>): void => {
    let prevHash = prev;
    sealed.forEach((e, i) => {
      const revision = first + BigInt(i);
      const metadata = e.metadata as Record<string, unknown>;
      t.deepEqual(
        Object.keys(metadata).sort(),
        ['actor', 'causationId', 'command', 'correlationId', 'eventId', 'occurredAt', 'prevHash', 'schemaVersion', 'hash'].sort(),
      );
      t.is(metadata['prevHash'], prevHash, `revision ${revision} links to the previous hash`);
      t.regex(metadata['hash'] as string, /^[0-9a-f]{64}$/);
      t.is(adrHash(stream, revision, e.type, e.data, metadata), metadata['hash'] as string, `revision ${revision}: hash recomputed from ADR 0002`);
      // Misreadings: the revision as a JSON number, the hash member left in, upper-case hex.
      t.not(
        adrHash(stream, revision, e.type, e.data, metadata, (r) => Number(r)),
        metadata['hash'],
      );
      t.not(
        createHash('sha256')
          .update(adrCanonical({ stream, revision: revision.toString(), type: e.type, data: e.data, metadata }))
          .digest('hex'),
        metadata['hash'],
      );
      prevHash = metadata['hash'] as string;
    });
  };

  // A new stream: revision 0 links to GENESIS.
  const fromStart = rightOf(sealEvents(stream, { revision: 'no_stream', hash: ADR_GENESIS }, events, ctx, sha256Hex));
  check(0n, ADR_GENESIS, fromStart);
  // After revision 9: revisions "10" and "11" (decimal strings, not "a" or 10).
  const head = (fromStart[3]!.metadata as Record<string, unknown>)['hash'] as string;
  const later = rightOf(sealEvents(stream, { revision: 9n, hash: head }, [node.activated(), refusedEvent], ctx, sha256Hex));
  check(10n, head, later);
});

test.serial("ADR 0002: the ADR's example text and hash are what the project computes", (t) => {
  t.timeout(30_000);
  const stream = 'keyledger.instance-8d1ecc46-95ef-4400-ac9f-0033620a74dd';
  const data = {
    installationId: '8d1ecc46-95ef-4400-ac9f-0033620a74dd',
    deploymentId: 'default',
    keyVersion: 1,
    thumbprint: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
  };
  const metadata = {
    eventId: '5b0e6a3c-3d1f-4c2a-9e8b-7f6a5d4c3b2a',
    occurredAt: '2026-11-28T18:18:55.000Z',
    actor: 'ops@rs-node-2',
    command: 'start',
    correlationId: 'CHG-1042',
    causationId: 'CHG-1042',
    schemaVersion: 1,
    prevHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  };
  const text = adr('0002-hash-chain.md');
  t.true(text.includes(adrCanonical({ stream, revision: '4', type: 'InstanceActivated', data, metadata })), 'the ADR shows this canonical text');
  const hash = adrHash(stream, 4n, 'InstanceActivated', data, metadata);
  t.is(hash, 'c8003f2dab81174d6299f7f93185e0f0e1cedb669f418bc5dbcae7f6c5d81119');
  t.true(text.includes(hash), 'the ADR states this hash');
  t.is(hashEvent(sha256Hex, stream, 4n, 'InstanceActivated', data, metadata as Parameters<typeof hashEvent>[5]), hash);
});
