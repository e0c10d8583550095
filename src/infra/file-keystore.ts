/**
 * The instance's local keystore: one JSON file, mode 0600, holding the
 * private key as a compact JWE (dir + A256GCM) under a key derived with
 * HKDF-SHA256 from
 *   - the machine secret (32 random bytes in `machine.secret` beside the
 *     keystore or in the file `secretFile` names, mode 0600, or
 *     KEYLEDGER_MACHINE_SECRET, which wins), and
 *   - the service identity and installation ID (HKDF info).
 * So the file alone is useless, and under another service identity the
 * keystore cannot be opened — the analogue of SSRS keys protected by the
 * service account's profile (rsKeyStateNotValid). See docs/adr/0003.
 *
 * Like ssh, a keystore or machine secret with any permission bit for group or
 * others, or in a folder group or others can write, is refused (`unreadable`,
 * with the chmod that fixes it); only the file's own folder is checked.
 *
 * The header (installation ID, thumbprint, public key) is plain, and bound to
 * the ciphertext as JWE protected-header fields, so it cannot be edited.
 *
 * Keys are imported once per process: a load whose file bytes, binding and
 * machine secret are exactly those of an earlier successful load in this
 * process returns that load's key pair (same handles) instead of decrypting
 * and importing again. The file's and the secret's modes are checked, and
 * both are read, on every load.
 */
import { createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import * as t from 'io-ts';
import jose from 'node-jose';
import { KeySize, PublicJwk, SigningJwk } from '../domain/events';
import { InstallationId, Thumbprint } from '../domain/ids';
import type { GeneratedKeyPair, GenesisPin, Keystore, KeystoreBinding, KeystoreError, KeystoreExists, SigningKeyPair, StoredKeyPair } from '../ports/crypto';
import { privateSigningJwkOf, signingKeyFromJwk } from './signing';
import { decryptWith, privateJwkOf, privateKeyFromJwk, recipient } from './jose-crypto';
import { errorMessage } from './error-message';
import { ensureDir, openFolder, PRIVATE_DIR, unprotectedSecret } from './file-modes';
import { fsyncDir, localStateMacFrom, readMachineSecret as readSecret, type SecretProblem, secretFileOf, writeExclusive } from './machine-secret';

const FORMAT = 'keyledger-keystore';
const HKDF_INFO = 'keyledger-keystore/v1';
export { MACHINE_SECRET_ENV } from './machine-secret';

const KeystoreFile = t.type({
  format: t.literal(FORMAT),
  version: t.literal(1),
  installationId: InstallationId,
  thumbprint: Thumbprint,
  keySize: KeySize,
  publicKey: PublicJwk,
  kdf: t.type({ alg: t.literal('HKDF-SHA256'), salt: t.string }),
  privateKey: t.string,
});
/** Added with signatures (issue 9): the signing key's public half, as a label (the truth is inside the ciphertext). */
const KeystoreSigningHeader = t.partial({ signingKey: SigningJwk, signingThumbprint: Thumbprint });
type KeystoreFile = t.TypeOf<typeof KeystoreFile> & t.TypeOf<typeof KeystoreSigningHeader>;

/**
 * The encrypted payload: before signatures, the RSA private JWK itself; since, an object holding it, the
 * Ed25519 private JWK and the pinned genesis of each deployment (so neither can be edited or removed
 * without the machine secret).
 */
interface Payload {
  readonly rsa: object;
  readonly signing?: Record<string, unknown>;
  readonly genesis?: ReadonlyArray<GenesisPin>;
}
const payloadOf = (plain: unknown): Payload => (typeof plain === 'object' && plain !== null && 'rsa' in plain ? (plain as Payload) : { rsa: plain as object });

/** A successful load: the exact inputs it was decrypted from, and its key pair. */
interface LoadedKeystore {
  readonly raw: string;
  readonly serviceIdentity: string;
  readonly installationId: string;
  /** SHA-256 of the machine secret (not the secret itself). */
  readonly secretDigest: Buffer;
  readonly pair: StoredKeyPair;
}
/** By keystore path; a handful per process (the keystore, a staged one during an identity change). */
const loadedKeystores = new Map<string, LoadedKeystore>();
const MAX_LOADED_KEYSTORES = 16;
const digestOf = (secret: Buffer): Buffer => createHash('sha256').update(secret).digest();

const sameLoad = (hit: LoadedKeystore | undefined, raw: string, binding: KeystoreBinding, secretDigest: Buffer): hit is LoadedKeystore =>
  hit !== undefined &&
  hit.raw === raw &&
  hit.serviceIdentity === binding.serviceIdentity &&
  hit.installationId === binding.installationId.toLowerCase() &&
  timingSafeEqual(hit.secretDigest, secretDigest);

export interface FileKeystoreOptions {
  /** The machine secret's file, instead of `machine.secret` beside the keystore (config `keystoreSecretFile`). The env variable still wins. */
  readonly secretFile?: string;
}

export const fileKeystore = (keystorePath: string, options: FileKeystoreOptions = {}): Keystore => {
  const file = path.resolve(keystorePath);
  const dir = path.dirname(file);
  const secretFile = secretFileOf(file, options.secretFile);

  const problem = (p: KeystoreError['problem'], detail: string, keystoreInstallationId: InstallationId | null = null): KeystoreError => ({
    _tag: 'KeystoreError',
    path: file,
    problem: p,
    detail,
    keystoreInstallationId,
  });

  const readMachineSecret = (createIfMissing: boolean): E.Either<KeystoreError, Buffer> =>
    E.mapLeft((p: SecretProblem) => problem(p.problem, p.detail))(readSecret(secretFile, createIfMissing));

  const protectionKey = async (secret: Buffer, salt: Buffer, binding: KeystoreBinding): Promise<jose.JWK.Key> => {
    const info = Buffer.from(`${HKDF_INFO}\0${binding.serviceIdentity}\0${binding.installationId.toLowerCase()}`, 'utf8');
    const k = Buffer.from(hkdfSync('sha256', secret, salt, info, 32));
    return jose.JWK.asKey({ kty: 'oct', k: k.toString('base64url'), alg: 'A256GCM' });
  };

  /** The file, parsed and checked to be a keystore of this installation; and the machine secret (both modes checked). */
  const read = (binding: KeystoreBinding): E.Either<KeystoreError, { raw: string; ks: KeystoreFile; secret: Buffer }> => {
    let raw: string;
    try {
      const unprotected = unprotectedSecret(file, 'it'); // ENOENT: missing
      if (unprotected !== null) return E.left(problem('unreadable', unprotected));
      raw = fs.readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return E.left(code === 'ENOENT' ? problem('missing', 'no keystore file') : problem('unreadable', errorMessage(e)));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return E.left(problem('corrupt', 'the file is not JSON'));
    }
    const header = KeystoreFile.decode(parsed);
    const signingHeader = KeystoreSigningHeader.decode(parsed);
    if (E.isLeft(header) || E.isLeft(signingHeader)) return E.left(problem('corrupt', 'the file is not a keyledger keystore'));
    const ks: KeystoreFile = { ...header.right, ...signingHeader.right };
    if (ks.installationId.toLowerCase() !== binding.installationId.toLowerCase())
      return E.left(problem('locked', `the keystore was issued to installation ${ks.installationId}`, ks.installationId));
    const secret = readMachineSecret(false);
    if (E.isLeft(secret)) return E.left({ ...secret.left, keystoreInstallationId: ks.installationId });
    return E.right({ raw, ks, secret: secret.right });
  };

  /** The file, read and checked; and the key that decrypts it. */
  const open = async (
    binding: KeystoreBinding,
    checked?: { ks: KeystoreFile; secret: Buffer },
  ): Promise<E.Either<KeystoreError, { ks: KeystoreFile; key: jose.JWK.Key; payload: Payload; header: Record<string, unknown> }>> => {
    const r = checked ? E.right(checked) : read(binding);
    if (E.isLeft(r)) return r;
    const { ks, secret } = r.right;
    try {
      const key = await protectionKey(secret, Buffer.from(ks.kdf.salt, 'base64url'), binding);
      const result = await decryptWith(key, ks.privateKey, ['dir', 'A256GCM']);
      const h = result.header as Record<string, unknown>;
      if (h['kl_inst'] !== ks.installationId || h['kl_tp'] !== ks.thumbprint || h['kl_sig'] !== ks.signingThumbprint)
        return E.left(problem('corrupt', 'the keystore header was edited', ks.installationId));
      return E.right({ ks, key, header: h, payload: payloadOf(JSON.parse(Buffer.from(result.plaintext).toString('utf8'))) });
    } catch {
      return E.left(
        problem('locked', `it cannot be decrypted under service identity "${binding.serviceIdentity}" with this machine's secret`, ks.installationId),
      );
    }
  };

  const load =
    (binding: KeystoreBinding): TE.TaskEither<KeystoreError, StoredKeyPair> =>
    async () => {
      const checked = read(binding);
      if (E.isLeft(checked)) return checked;
      const secretDigest = digestOf(checked.right.secret);
      const hit = loadedKeystores.get(file);
      if (sameLoad(hit, checked.right.raw, binding, secretDigest)) return E.right(hit.pair);
      const pair = await decryptAndImport(binding, checked.right);
      if (E.isRight(pair)) {
        loadedKeystores.delete(file);
        if (loadedKeystores.size >= MAX_LOADED_KEYSTORES) loadedKeystores.delete(loadedKeystores.keys().next().value as string);
        loadedKeystores.set(file, {
          raw: checked.right.raw,
          serviceIdentity: binding.serviceIdentity,
          installationId: binding.installationId.toLowerCase(),
          secretDigest,
          pair: pair.right,
        });
      }
      return pair;
    };

  /** Decrypts the private keys and checks them against the plain header. */
  const decryptAndImport = async (binding: KeystoreBinding, checked: { ks: KeystoreFile; secret: Buffer }): Promise<E.Either<KeystoreError, StoredKeyPair>> => {
    const opened = await open(binding, checked);
    if (E.isLeft(opened)) return opened;
    const { ks, payload } = opened.right;
    try {
      const imported = await privateKeyFromJwk(payload.rsa);
      if (imported.thumbprint !== ks.thumbprint) return E.left(problem('corrupt', 'the private key does not match the recorded thumbprint', ks.installationId));
      // The plain header is only a label: the public key and size returned are derived from the decrypted private key.
      const keySize = KeySize.decode(Buffer.from(imported.publicKey.n, 'base64url').length * 8);
      if (E.isLeft(keySize) || ks.publicKey.n !== imported.publicKey.n || ks.publicKey.e !== imported.publicKey.e || ks.keySize !== keySize.right)
        return E.left(problem('corrupt', 'the public key in the keystore header was edited', ks.installationId));
      const signing = payload.signing ? signingKeyFromJwk(payload.signing) : undefined;
      if (signing?.thumbprint !== ks.signingThumbprint || (signing && signing.publicKey.x !== ks.signingKey?.x))
        return E.left(problem('corrupt', 'the signing key in the keystore header was edited', ks.installationId));
      return E.right({
        installationId: ks.installationId,
        publicKey: imported.publicKey,
        thumbprint: imported.thumbprint,
        keySize: keySize.right,
        privateKey: imported.handle,
        ...(signing ? { signing } : {}),
        ...(payload.genesis ? { genesis: payload.genesis } : {}),
      });
    } catch {
      return E.left(problem('corrupt', 'the private keys inside are not valid keys', ks.installationId));
    }
  };

  /** The ciphertext and header of a keystore holding `payload` under `key`. */
  const seal = async (
    key: jose.JWK.Key,
    binding: KeystoreBinding,
    thumbprint: string,
    signing: SigningKeyPair | undefined,
    payload: Payload,
  ): Promise<{ privateKey: string; signingHeader: t.TypeOf<typeof KeystoreSigningHeader> }> => {
    const fields = { alg: 'dir', kl_inst: binding.installationId, kl_tp: thumbprint, ...(signing ? { kl_sig: signing.thumbprint } : {}) };
    // The IV from the OS CSPRNG: node-jose's own would come from node-forge's JavaScript PRNG (`dir`: no CEK to draw).
    const privateKey = await jose.JWE.createEncrypt({ format: 'compact', contentAlg: 'A256GCM', iv: randomBytes(12), fields }, recipient(key))
      // Without a signing key or a pin, the plaintext is the RSA JWK alone, as before signatures (ADR 0003).
      .update(Buffer.from(JSON.stringify(payload.signing || payload.genesis ? payload : payload.rsa), 'utf8'))
      .final();
    return { privateKey, signingHeader: signing ? { signingKey: signing.publicKey, signingThumbprint: signing.thumbprint } : {} };
  };

  const create =
    (binding: KeystoreBinding, keyPair: GeneratedKeyPair, signing?: SigningKeyPair): TE.TaskEither<KeystoreError | KeystoreExists, void> =>
    async () => {
      let open: string | null;
      try {
        ensureDir(dir, PRIVATE_DIR);
        open = openFolder(dir, 'it');
      } catch (e) {
        return E.left(problem('unreadable', `cannot create ${dir}: ${errorMessage(e)}`));
      }
      if (open !== null) return E.left(problem('unreadable', open));
      if (fs.existsSync(file)) return E.left({ _tag: 'KeystoreExists', path: file });
      const secret = readMachineSecret(true);
      if (E.isLeft(secret)) return secret;
      const salt = randomBytes(16);
      try {
        const key = await protectionKey(secret.right, salt, binding);
        const payload: Payload = { rsa: privateJwkOf(keyPair.privateKey), ...(signing ? { signing: privateSigningJwkOf(signing.handle) } : {}) };
        const sealed = await seal(key, binding, keyPair.thumbprint, signing, payload);
        const content: KeystoreFile = {
          format: FORMAT,
          version: 1,
          installationId: binding.installationId,
          thumbprint: keyPair.thumbprint,
          keySize: keyPair.keySize,
          publicKey: keyPair.publicKey,
          ...sealed.signingHeader,
          kdf: { alg: 'HKDF-SHA256', salt: salt.toString('base64url') },
          privateKey: sealed.privateKey,
        };
        const written = writeExclusive(file, `${JSON.stringify(content, null, 2)}\n`);
        fsyncDir(dir); // the machine secret (if new) and the keystore, durable before anyone records the key pair
        return written === 'written' ? E.right(undefined) : E.left({ _tag: 'KeystoreExists', path: file });
      } catch (e) {
        return E.left(problem('unreadable', `cannot write the keystore: ${errorMessage(e)}`));
      }
    };

  const update =
    (binding: KeystoreBinding, change: { readonly signing?: SigningKeyPair; readonly genesis?: GenesisPin }): TE.TaskEither<KeystoreError, StoredKeyPair> =>
    async () => {
      const opened = await open(binding);
      if (E.isLeft(opened)) return opened;
      const { ks, key, payload } = opened.right;
      const genesis = change.genesis
        ? [...(payload.genesis ?? []).filter((g) => g.deploymentId !== change.genesis?.deploymentId), change.genesis]
        : payload.genesis;
      try {
        // A signing key already held is kept as it is (decrypted once, above); the final load checks what was written.
        const signing = payload.signing ? signingKeyFromJwk(payload.signing) : change.signing;
        const next: Payload = {
          rsa: payload.rsa,
          ...(signing ? { signing: payload.signing ?? privateSigningJwkOf(signing.handle) } : {}),
          ...(genesis ? { genesis } : {}),
        };
        const sealed = await seal(key, binding, ks.thumbprint, signing, next);
        const content: KeystoreFile = { ...ks, ...sealed.signingHeader, privateKey: sealed.privateKey };
        const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
        const fd = fs.openSync(tmp, 'wx', 0o600);
        try {
          fs.writeSync(fd, `${JSON.stringify(content, null, 2)}\n`);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, file);
        fsyncDir(dir);
      } catch (e) {
        return E.left(problem('unreadable', `cannot rewrite the keystore: ${errorMessage(e)}`));
      }
      return load(binding)();
    };

  const stagingPath = `${file}.next`;

  const promoteStaging = (): TE.TaskEither<KeystoreError, 'promoted' | 'nothing-staged'> => async () => {
    try {
      if (!fs.existsSync(stagingPath)) return E.right('nothing-staged');
      fs.renameSync(stagingPath, file);
      fsyncDir(dir);
      return E.right('promoted');
    } catch (e) {
      return E.left(problem('unreadable', `cannot replace the keystore with ${stagingPath}: ${errorMessage(e)}`));
    }
  };

  let mac: ((text: string) => string) | undefined; // derived once: pins and heads ask for it on every proof
  const localStateMac = (): E.Either<KeystoreError, (text: string) => string> => {
    if (mac) return E.right(mac);
    return E.map((secret: Buffer) => {
      mac = localStateMacFrom(secret);
      return mac;
    })(readMachineSecret(false));
  };

  // ─── Pins: the key check of every key version this installation held, beside its keystore, MAC'd ─────
  const pinsFile = path.join(dir, 'pins.json');
  const pinMac = (mac: (t: string) => string, installationId: string, key: string, keyCheck: string): string =>
    mac(`keyledger-pin/v1\0${installationId.toLowerCase()}\0${key}\0${keyCheck}`);
  const readPins = (): E.Either<KeystoreError, Record<string, { keyCheck: string; mac: string }>> => {
    try {
      if (!fs.existsSync(pinsFile)) return E.right({});
      const open = unprotectedSecret(pinsFile, 'the pins file');
      if (open !== null) return E.left(problem('unreadable', open));
      const parsed = JSON.parse(fs.readFileSync(pinsFile, 'utf8')) as { pins?: unknown };
      return E.right((typeof parsed.pins === 'object' && parsed.pins !== null ? parsed.pins : {}) as Record<string, { keyCheck: string; mac: string }>);
    } catch (e) {
      return E.left(problem('corrupt', `the pins file ${pinsFile} cannot be read: ${errorMessage(e)}`));
    }
  };
  const pinKey = (deploymentId: string, keyVersion: number): string => `${deploymentId}#${keyVersion}`;
  const installationOf = (): string | undefined => {
    try {
      return (JSON.parse(fs.readFileSync(file, 'utf8')) as { installationId?: string }).installationId;
    } catch {
      return undefined;
    }
  };
  const pinnedKeyCheck = (deploymentId: string, keyVersion: number): E.Either<KeystoreError, string | undefined> => {
    const pins = readPins();
    if (E.isLeft(pins)) return pins;
    const pin = pins.right[pinKey(deploymentId, keyVersion)];
    if (!pin) return E.right(undefined);
    const mac = localStateMac();
    if (E.isLeft(mac)) return mac;
    if (pinMac(mac.right, installationOf() ?? '', pinKey(deploymentId, keyVersion), pin.keyCheck) !== pin.mac)
      return E.left(problem('corrupt', `the pin of ${deploymentId} key version ${keyVersion} in ${pinsFile} was edited`));
    return E.right(pin.keyCheck);
  };
  const pinKeyCheck = (deploymentId: string, keyVersion: number, keyCheck: string): E.Either<KeystoreError, void> => {
    const pins = readPins();
    if (E.isLeft(pins)) return pins;
    const key = pinKey(deploymentId, keyVersion);
    if (pins.right[key]) return E.right(undefined);
    const mac = localStateMac();
    if (E.isLeft(mac)) return mac;
    const next = { version: 1, pins: { ...pins.right, [key]: { keyCheck, mac: pinMac(mac.right, installationOf() ?? '', key, keyCheck) } } };
    try {
      const tmp = `${pinsFile}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
      fs.renameSync(tmp, pinsFile);
      fsyncDir(dir);
      return E.right(undefined);
    } catch (e) {
      return E.left(problem('unreadable', `cannot write the pins file ${pinsFile}: ${errorMessage(e)}`));
    }
  };

  return { path: file, load, create, update, staging: () => fileKeystore(stagingPath, options), promoteStaging, localStateMac, pinnedKeyCheck, pinKeyCheck };
};
