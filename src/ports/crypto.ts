/**
 * Crypto and keystore ports. Implementations live in `src/infra/` (node-jose);
 * nothing else imports node-jose.
 *
 * Key material is held in opaque handles: they cannot be JSON-serialized or
 * printed (both yield a redaction marker), so a handle that slips into a log
 * line, an error or an event leaks nothing.
 */
import type * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import type { Base64Url, CompactJwe, KeySize, PublicJwk, SigningJwk } from '../domain/events';
import type { InstallationId, Thumbprint } from '../domain/ids';
import type { StoredEvent } from '../domain/envelope';
import type { Verify } from '../domain/signatures';

/** An RSA private key in memory. Opaque: only the crypto adapter can use it. */
export interface PrivateKeyHandle {
  readonly kind: 'PrivateKey';
  readonly thumbprint: Thumbprint;
}

/** A symmetric key in memory. Opaque: only the crypto adapter can use it. */
export interface SymmetricKeyHandle {
  readonly kind: 'SymmetricKey';
}

export interface GeneratedKeyPair {
  readonly publicKey: PublicJwk;
  readonly thumbprint: Thumbprint;
  readonly keySize: KeySize;
  readonly privateKey: PrivateKeyHandle;
}

export interface CryptoError {
  readonly _tag: 'CryptoError';
  readonly operation: 'generate' | 'thumbprint' | 'wrap' | 'unwrap' | 'key-check';
  readonly message: string;
}

/**
 * Where a wrapped copy belongs: written into the JWE's protected header (authenticated as the AAD of its
 * encryption) and checked on unwrap, so a copy moved to another deployment, recipient or key version is refused.
 */
export interface CopyBinding {
  readonly deploymentId: string;
  readonly installationId: string;
  readonly keyVersion: number;
}

export interface Crypto {
  generateKeyPair(size: KeySize): TE.TaskEither<CryptoError, GeneratedKeyPair>;
  thumbprint(publicKey: PublicJwk): TE.TaskEither<CryptoError, Thumbprint>;
  /** A fresh 256-bit symmetric key (A256GCM). */
  createSymmetricKey(): SymmetricKeyHandle;
  /** HMAC-SHA256 of a fixed label under the key, base64url: identifies a key version without revealing it. */
  keyCheck(key: SymmetricKeyHandle): Base64Url;
  /** The key wrapped for a recipient's public key: compact JWE, RSA-OAEP-256 + A256GCM. */
  wrap(key: SymmetricKeyHandle, recipient: PublicJwk, binding?: CopyBinding): TE.TaskEither<CryptoError, CompactJwe>;
  /** Ed25519 signing keys and signatures (src/infra/signing.ts). */
  readonly signing: Signatures;
  /** Refuses a copy whose header binds it elsewhere than `expected` (copies written without a binding are accepted). */
  unwrap(jwe: CompactJwe, privateKey: PrivateKeyHandle, expected?: CopyBinding): TE.TaskEither<CryptoError, SymmetricKeyHandle>;
}

// ─── Signing keys (Ed25519, node:crypto) ─────────────────────────────────

/** An Ed25519 private key in memory. Opaque: only the signing adapter can use it. */
export interface SigningKeyHandle {
  readonly kind: 'SigningKey';
  readonly thumbprint: Thumbprint;
}

export interface SigningKeyPair {
  readonly publicKey: SigningJwk;
  /** RFC 7638 thumbprint of the public JWK. */
  readonly thumbprint: Thumbprint;
  readonly handle: SigningKeyHandle;
}

/** Ed25519 signatures over UTF-8 text, base64url. Verification never throws: a malformed key or signature is `false`. */
export interface Signatures {
  generate(): SigningKeyPair;
  thumbprint(publicKey: SigningJwk): Thumbprint;
  sign(key: SigningKeyHandle, message: string): string;
  verify(publicKey: SigningJwk, message: string, signature: string): boolean;
  /**
   * Many signatures checked on node's thread pool (on every core, while the caller works), each as `verify` checks it, in
   * the order given. One that claims `own`'s public key is first made again with `own` and compared: Ed25519 signing is
   * deterministic (RFC 8032 §5.1.6), so a match is a valid signature by that key — for a third of a verification's cost;
   * one that differs (another signer's nonces, or a forgery) is then verified.
   */
  checkMany(checks: ReadonlyArray<SignatureCheck>, own?: SigningKeyPair): Promise<ReadonlyArray<boolean>>;
}

/** One signature to check: by the key, over the text (UTF-8), base64url. */
export interface SignatureCheck {
  readonly publicKey: SigningJwk;
  readonly message: string;
  readonly signature: string;
}

/** Signatures this instance verified before, remembered under its local-state MAC (src/infra/sqlite-verified.ts): a trust walk then verifies only what is new. */
export interface RememberedSignatures {
  readonly verify: Verify;
  /** An event's signature: answered from memory by the event's (checked) hash, else verified over `text()` and remembered. */
  readonly verifyEvent: (publicKey: SigningJwk, e: StoredEvent, signature: string, text: () => string) => boolean;
}

/** The deployment genesis an instance trusts: pinned inside its encrypted keystore. */
export interface GenesisPin {
  readonly deploymentId: string;
  /** The genesis signing key's thumbprint. */
  readonly thumbprint: Thumbprint;
}

// ─── Keystore ─────────────────────────────────────────────────────────────

/** Whose keystore it is: the secret protecting it is bound to the service identity. */
export interface KeystoreBinding {
  readonly installationId: InstallationId;
  readonly serviceIdentity: string;
}

export interface StoredKeyPair {
  readonly installationId: InstallationId;
  readonly publicKey: PublicJwk;
  readonly thumbprint: Thumbprint;
  readonly keySize: KeySize;
  readonly privateKey: PrivateKeyHandle;
  /** The instance's signing key (absent in a keystore written before signatures: `keyledger trust` adds one). */
  readonly signing?: SigningKeyPair;
  /** The genesis this instance pinned, per deployment. */
  readonly genesis?: ReadonlyArray<GenesisPin>;
}

export interface KeystoreError {
  readonly _tag: 'KeystoreError';
  readonly path: string;
  /** missing: no file; unreadable: I/O or permissions; locked: cannot be decrypted under this identity; corrupt: not a keystore. */
  readonly problem: 'missing' | 'unreadable' | 'locked' | 'corrupt';
  readonly detail: string;
  /** The installation the file's (unencrypted) header names, when it could be read. */
  readonly keystoreInstallationId: InstallationId | null;
}

export interface KeystoreExists {
  readonly _tag: 'KeystoreExists';
  readonly path: string;
}

export interface Keystore {
  readonly path: string;
  load(binding: KeystoreBinding): TE.TaskEither<KeystoreError, StoredKeyPair>;
  /** Writes a new keystore atomically; refuses (KeystoreExists) if one is already there. Mode 0600. */
  create(binding: KeystoreBinding, keyPair: GeneratedKeyPair, signing?: SigningKeyPair): TE.TaskEither<KeystoreError | KeystoreExists, void>;
  /**
   * Rewrites the keystore atomically with a signing key added (only when it has none) and/or a genesis pinned
   * for a deployment (replacing that deployment's pin). The RSA key pair is unchanged.
   */
  update(binding: KeystoreBinding, change: { readonly signing?: SigningKeyPair; readonly genesis?: GenesisPin }): TE.TaskEither<KeystoreError, StoredKeyPair>;
  /** A second keystore beside this one, for a key pair that will replace it (identity change). */
  staging(): Keystore;
  /** Atomically replaces this keystore with the staged one (the old private key is gone). */
  promoteStaging(): TE.TaskEither<KeystoreError, 'promoted' | 'nothing-staged'>;
  /**
   * A MAC (HMAC-SHA256, hex) keyed from this instance's machine secret, for local state that must not be
   * forged by whoever can write the state folder (remembered stream heads). Left when the secret is not there.
   */
  localStateMac(): E.Either<KeystoreError, (text: string) => string>;
  /** The key check of a deployment's key version as this instance held it (its pin), if it held that version. */
  pinnedKeyCheck(deploymentId: string, keyVersion: number): E.Either<KeystoreError, string | undefined>;
  /** Pins the key check of a key version this instance proved it holds; a pin is never changed. */
  pinKeyCheck(deploymentId: string, keyVersion: number, keyCheck: string): E.Either<KeystoreError, void>;
}
