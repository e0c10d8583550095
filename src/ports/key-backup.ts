/**
 * The key backup port (`keyledger backup` / `restore`, rskeymgmt -e / -a): the symmetric key in a
 * password-protected file, a compact JWE with PBES2-HS512+A256KW and A256GCM (docs/adr/0012). The
 * implementation lives in src/infra/key-backup.ts; key material stays in opaque handles.
 */
import type * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import type { SymmetricKeyHandle } from './crypto';

/** What the protected header names: read before the password is used, authenticated once it is. */
export interface BackupHeader {
  readonly deploymentId: string;
  readonly keyVersion: number;
  /** The deployment's genesis signing-key thumbprint when the backup was taken (null: a deployment from before signatures). */
  readonly genesisThumbprint: string | null;
  /** PBES2 iteration count (p2c). */
  readonly iterations: number;
}

/** Why a backup file cannot be used: each one a distinct refusal, found before anything changes. */
export type BackupReadError =
  /** Not a keyledger key backup at all, or cut short: the text is not a five-part compact JWE with our header. */
  | { readonly _tag: 'BackupMalformed'; readonly detail: string }
  /** The iteration count is above the ceiling: refused before deriving anything (a file could otherwise hang restore). */
  | { readonly _tag: 'BackupIterationsTooHigh'; readonly iterations: number; readonly ceiling: number }
  /** The password does not unwrap the file's content key (AES key wrap integrity check). */
  | { readonly _tag: 'BackupPasswordWrong' }
  /** The password unwrapped the content key, but the content or header fails authentication: the file was altered. */
  | { readonly _tag: 'BackupCorrupted'; readonly detail: string };

export interface BackupSealError {
  readonly _tag: 'BackupSealFailed';
  readonly detail: string;
}

export interface KeyBackupCipher {
  /** The key as a compact JWE under the password, `iterations` PBKDF2-SHA512 rounds; the header names where it belongs. */
  seal(key: SymmetricKeyHandle, header: Omit<BackupHeader, 'iterations'>, password: string, iterations: number): TE.TaskEither<BackupSealError, string>;
  /** The header, checked for shape and the iteration ceiling: no password needed, nothing derived. */
  inspect(text: string): E.Either<BackupReadError, BackupHeader>;
  /** The key, after `inspect` passes: the password derives the key-encryption key, the content is authenticated. */
  open(text: string, password: string): TE.TaskEither<BackupReadError, SymmetricKeyHandle>;
  /** SHA-256 of the file's text, base64url: what the ledger records of it. */
  fingerprint(text: string): string;
}
