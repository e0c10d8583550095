/**
 * How a command reaches an EventStoreDB store, from its connection string, the config's `esdb` block and the
 * environment: the password (kept out of the string and the command line: `KEYLEDGER_ESDB_PASSWORD`, or the
 * config's `esdb.passwordFile`), the connection name the server shows (the instance), the retry policy, and
 * the warnings an operator should see. Nothing here is printed with a secret in it.
 */
import * as fs from 'node:fs';
import * as E from 'fp-ts/Either';
import { parseEsdb } from './connection-string';
import { DEFAULT_ESDB, type EsdbSettings } from './config';
import type { EsdbStoreOptions } from './esdb-store';
import { unprotectedSecret } from './file-modes';

export const ESDB_PASSWORD_ENV = 'KEYLEDGER_ESDB_PASSWORD';
/** `1`: accept `tls=false` (as `--allow-insecure-store` does), for test runs. */
export const ESDB_ALLOW_INSECURE_ENV = 'KEYLEDGER_ESDB_ALLOW_INSECURE';

export interface StoreAccess {
  /** For an EventStoreDB store (undefined for SQLite). */
  readonly esdb?: EsdbStoreOptions;
  /** One line each, for stderr. */
  readonly warnings: ReadonlyArray<string>;
}

export interface AccessContext {
  /** The config's settings (absent: a read-only session without a config). */
  readonly settings?: EsdbSettings;
  /** Shown by the server as the connection's name (e.g. `keyledger MSSQLSERVER@RS-NODE-1`). */
  readonly connectionName?: string;
  readonly env: NodeJS.ProcessEnv;
  /** The string came from the command line (`--store`), where the process list shows it. */
  readonly fromCommandLine: boolean;
  /** `--allow-insecure-store` was given. */
  readonly allowInsecure?: boolean;
}

/** The password file's content (one trailing line end dropped), refused like ssh refuses an open key. */
const readPasswordFile = (file: string): E.Either<string, string> => {
  try {
    const open = unprotectedSecret(file, `the store password file ${file}`);
    if (open !== null) return E.left(open);
    const text = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    return text.length > 0 ? E.right(text) : E.left(`the store password file ${file} is empty`);
  } catch (e) {
    return E.left(`the store password file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
};

/** Left: why the store cannot be reached as configured (one line, no secret in it). */
export const storeAccess = (connection: string, ctx: AccessContext): E.Either<string, StoreAccess> => {
  const parsed = parseEsdb(connection);
  if (E.isLeft(parsed)) return E.right({ warnings: [] }); // SQLite, or refused with its own message by openStore
  const c = parsed.right;
  const warnings: string[] = [];
  if (!c.options.tls) {
    const allowed = ctx.allowInsecure === true || ctx.settings?.allowInsecure === true || ctx.env[ESDB_ALLOW_INSECURE_ENV] === '1';
    if (!allowed)
      return E.left(
        `the store connection ${c.endpoint} has tls=false — nothing encrypted, no credentials sent, no rights checked — and is refused: use TLS ` +
          '(drop tls=false; tlsCAFile=… for a private CA), or pass --allow-insecure-store for a test server',
      );
    warnings.push(
      `the connection to ${c.endpoint} is not encrypted (tls=false): for a test server only — credentials are not sent, and the server checks no rights`,
    );
  }
  let password: string | undefined;
  if (c.password !== null && ctx.fromCommandLine)
    warnings.push(
      'the store password given with --store is visible in the process list: name only the user in the string and put the password in ' +
        `${ESDB_PASSWORD_ENV} or the config's esdb.passwordFile`,
    );
  if (c.username !== null && c.password === null) {
    const fromEnv = ctx.env[ESDB_PASSWORD_ENV];
    if (fromEnv !== undefined && fromEnv.length > 0) password = fromEnv;
    else if (ctx.settings?.passwordFile) {
      const read = readPasswordFile(ctx.settings.passwordFile);
      if (E.isLeft(read)) return read;
      password = read.right;
    } else
      return E.left(
        `the store connection names a user but no password: set ${ESDB_PASSWORD_ENV}, or the config's esdb.passwordFile (a file only its owner can read)`,
      );
  }
  const retry = ctx.settings?.retry ?? {};
  const roles = ctx.settings ?? DEFAULT_ESDB;
  const esdb: EsdbStoreOptions = {
    streamAcl: { writerRole: roles.writerRole, auditorRole: roles.auditorRole },
    client: {
      ...(ctx.connectionName !== undefined ? { connectionName: ctx.connectionName } : {}),
      ...(password !== undefined ? { password } : {}),
    },
    ...(retry.attempts !== undefined || retry.backoffMs !== undefined || retry.maxBackoffMs !== undefined
      ? {
          retry: {
            ...(retry.attempts !== undefined ? { attempts: retry.attempts } : {}),
            ...(retry.backoffMs !== undefined ? { baseDelayMs: retry.backoffMs } : {}),
            ...(retry.maxBackoffMs !== undefined ? { maxDelayMs: retry.maxBackoffMs } : {}),
          },
        }
      : {}),
    ...(retry.deadlineMs !== undefined ? { appendTimeoutMs: retry.deadlineMs } : {}),
  };
  return E.right({ esdb, warnings });
};
