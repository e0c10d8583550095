/**
 * The encrypted content of a deployment, outside the ledger (issue 12): the content store (ciphertexts, each
 * a compact JWE, by deployment, secret name and fingerprint) and the content cipher (JWE dir + A256GCM under
 * the deployment's symmetric key). Implementations: src/infra/sqlite-content.ts, src/infra/content-cipher.ts.
 *
 * Nothing read from the content store is trusted: a ciphertext is used only when its fingerprint is the one a
 * member's signed SecretPut recorded, and its protected header binds it to the deployment, the secret's name
 * and the key version (docs/adr/0011-encrypted-content.md).
 */
import type * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import type { Fingerprint } from '../domain/events';
import type { SymmetricKeyHandle } from './crypto';

export interface ContentStoreError {
  readonly _tag: 'ContentStoreError';
  readonly location: string;
  readonly message: string;
}

export interface ContentRow {
  readonly name: string;
  readonly fingerprint: Fingerprint;
}

export interface ContentStore {
  /** Where the content lives (for messages): never credentials. */
  readonly location: string;
  /** Stores a ciphertext (again, harmlessly, if it is already there). */
  write(deploymentId: string, name: string, fingerprint: Fingerprint, jwe: string): TE.TaskEither<ContentStoreError, void>;
  /** The ciphertext stored under that fingerprint (undefined: none). */
  read(deploymentId: string, name: string, fingerprint: Fingerprint): TE.TaskEither<ContentStoreError, string | undefined>;
  /** Removes a ciphertext a recorded event superseded (nothing if it is not there). */
  remove(deploymentId: string, name: string, fingerprint: Fingerprint): TE.TaskEither<ContentStoreError, void>;
  /** Many ciphertexts at once, in the order asked (undefined: not there); optional (a re-creation's batch). */
  readMany?(deploymentId: string, rows: ReadonlyArray<ContentRow>): TE.TaskEither<ContentStoreError, ReadonlyArray<string | undefined>>;
  /** Many writes (or removals) at once, in one transaction where the store has them (a re-creation's batch); optional. */
  writeMany?(deploymentId: string, rows: ReadonlyArray<ContentRow & { readonly jwe: string }>): TE.TaskEither<ContentStoreError, void>;
  removeMany?(deploymentId: string, rows: ReadonlyArray<ContentRow>): TE.TaskEither<ContentStoreError, void>;
  /**
   * Deleting the encrypted content (docs/adr/0015): every ciphertext stored for these secrets, superseded ones included
   * (what their SecretsDestroyed recorded), removed for good — from the store itself, not just marked.
   */
  destroy(deploymentId: string, names: ReadonlyArray<string>): TE.TaskEither<ContentStoreError, void>;
  /** Every ciphertext of the deployment still stored (ones no event names: a write a crash cut short): how many secrets' worth were found. */
  destroyAll(deploymentId: string): TE.TaskEither<ContentStoreError, number>;
  close(): void;
}

/** Where a secret's ciphertext belongs: written into its protected header, checked on decrypt. */
export interface SecretBinding {
  readonly deploymentId: string;
  readonly name: string;
  readonly keyVersion: number;
}

/** Why a ciphertext was refused. */
export type OpenProblem =
  /** Not a compact JWE with alg dir and enc A256GCM (or zip/crit present, or an IV or tag of the wrong size). */
  | { readonly _tag: 'Malformed' }
  /** It does not decrypt under this key: the ciphertext, IV, tag or header was altered, or another key encrypted it. */
  | { readonly _tag: 'DoesNotDecrypt' }
  /** It decrypts, but its (authenticated) header binds it to another deployment, secret or key version. */
  | { readonly _tag: 'BoundElsewhere'; readonly found: { readonly deploymentId: string; readonly name: string; readonly keyVersion: string } };

export interface SecretCipher {
  /** A compact JWE (alg dir, enc A256GCM; the binding in the protected header, authenticated as the AAD), fresh IV from the OS CSPRNG. */
  seal(key: SymmetricKeyHandle, value: Uint8Array, binding: SecretBinding): string;
  open(key: SymmetricKeyHandle, jwe: string, expected: SecretBinding): E.Either<OpenProblem, Buffer>;
  /** SHA-256 of the JWE text, base64url: what the ledger records. */
  fingerprint(jwe: string): Fingerprint;
}
