/**
 * The bearer tokens of `keyledger serve` (docs/adr/0019-http-service.md): kept only as SHA-256 hashes, in a local
 * file beside the server's config (`<config>.tokens.json`, 0600 in a folder keyledger creates 0700) — never in the
 * ledger, which whoever can write the store could edit to grant itself a role. The token itself is printed once,
 * by `keyledger token create`, and is 32 random bytes: a hash of it is as good as a password hash here, and
 * looking a presented token up by its hash leaks nothing an attacker can use.
 *
 * A file with a permission bit for group or others, or in a folder they can write, is refused like a keystore.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import * as t from 'io-ts';
import { decodeProblems } from '../domain/decode-errors';
import { DeploymentId } from '../domain/ids';
import { errorMessage } from './error-message';
import { unprotectedSecret, writePrivateFile } from './file-modes';

/** operator: key operations; auditor: read-only (trail, diagnose, report, verify); service: status and secrets of its own deployment. */
export const Role = t.keyof({ operator: null, auditor: null, service: null });
export type Role = t.TypeOf<typeof Role>;
export const ROLES: ReadonlyArray<Role> = ['operator', 'auditor', 'service'];

const TokenRecord = t.exact(
  t.intersection([t.type({ id: t.string, name: t.string, role: Role, sha256: t.string, createdAt: t.string }), t.partial({ deployment: DeploymentId })]),
);
export type TokenRecord = t.TypeOf<typeof TokenRecord>;

const TokenFileContent = t.exact(t.type({ version: t.literal(1), tokens: t.array(TokenRecord) }));

export interface TokenFileError {
  readonly _tag: 'TokenFileError';
  readonly file: string;
  readonly message: string;
}

const problem = (file: string, message: string): E.Either<TokenFileError, never> => E.left({ _tag: 'TokenFileError', file, message });

/** Where the tokens of a server run with this config are kept: beside it (`node1.json` → `node1.tokens.json`). */
export const tokenFileOf = (configFile: string): string => {
  const resolved = path.resolve(configFile);
  return path.join(path.dirname(resolved), `${path.basename(resolved).replace(/\.json$/i, '')}.tokens.json`);
};

/** The SHA-256 (hex) of a presented token: what the file keeps and a request is looked up by. */
export const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** A new token: `klt_` and 32 random bytes, base64url. */
export const newToken = (): string => `klt_${randomBytes(32).toString('base64url')}`;

export const newTokenId = (): string => randomBytes(6).toString('hex');

/** The tokens in the file (none when it does not exist yet). */
export const readTokens = (file: string): E.Either<TokenFileError, ReadonlyArray<TokenRecord>> => {
  let raw: string;
  try {
    const open = unprotectedSecret(file, 'the token file');
    if (open !== null) return problem(file, open);
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return E.right([]);
    return problem(file, `it cannot be read (${errorMessage(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return problem(file, 'it is not JSON');
  }
  const decoded = TokenFileContent.decode(json);
  if (E.isLeft(decoded))
    return problem(
      file,
      `it is not a token file (${decodeProblems(decoded.left)
        .slice(0, 2)
        .map((p) => `${p.path || 'the file'}: expected ${p.declared ?? p.innermost}`)
        .join('; ')})`,
    );
  return E.right(decoded.right.tokens);
};

/** Replaces the file's tokens (written whole, 0600, atomically). */
export const writeTokens = (file: string, tokens: ReadonlyArray<TokenRecord>): E.Either<TokenFileError, void> => {
  try {
    writePrivateFile(file, `${JSON.stringify({ version: 1, tokens }, null, 2)}\n`);
    return E.right(undefined);
  } catch (e) {
    return problem(file, `it cannot be written (${errorMessage(e)})`);
  }
};

/** The file's modification time (0: no file), so a running server reads it again only when it changed. */
export const tokenFileStamp = (file: string): number => {
  try {
    const st = fs.statSync(file);
    return st.mtimeMs * 1000 + st.size + st.ino;
  } catch {
    return 0;
  }
};
