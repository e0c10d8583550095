/**
 * The instance's configuration file (the RSReportServer.config analogue),
 * decoded with io-ts. A bad file gets one line naming the field and the
 * problem. Relative paths are resolved against the config file's folder.
 *
 *   {
 *     "installationId": "6f1c2b0e-…",            GUID, this installation
 *     "deployment": "default",                     which deployment it belongs to
 *     "machineName": "RS-NODE-1",
 *     "instanceName": "MSSQLSERVER",
 *     "serviceIdentity": "NT SERVICE\\ReportServer",
 *     "store": "sqlite:./.keyledger/ledger.db",   or esdb://host:2113?tls=false
 *     "keystore": "./.keyledger/keystore/MSSQLSERVER/instance.keystore.json",
 *     "stateDir": "./.keyledger",                  projections, checkpoints, log (optional)
 *     "keySize": 2048,                             2048 | 3072 | 4096 (optional)
 *     "keystoreSecretFile": "/run/keyledger/machine.secret",  the machine secret, if not beside the keystore (optional)
 *     "ledgerAccess": "owner",                     "owner" (0600) | "group" (0660): a SQLite ledger's file modes (optional)
 *     "esdb": { … }                                EventStoreDB settings (optional, see EsdbSettings)
 *   }
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import * as t from 'io-ts';
import { decodeProblems } from '../domain/decode-errors';
import { KeySize } from '../domain/events';
import { DeploymentId, InstallationId, NonEmptyString } from '../domain/ids';
import { nameProblem, shown } from '../domain/text';
import type { InstanceConfig } from '../domain/instance/decider';
import { connectionProblem, describeConnection } from './connection-string';
import { errorMessage } from './error-message';
import type { LedgerAccess } from './file-modes';

const IntIn = (min: number, max: number, name: string) => t.refinement(t.Int, (n) => n >= min && n <= max, name);

/** The `esdb` block: settings of an EventStoreDB store (ignored for SQLite). */
const EsdbBlock = t.exact(
  t.partial({
    passwordFile: NonEmptyString,
    writerRole: NonEmptyString,
    auditorRole: NonEmptyString,
    allowInsecure: t.boolean,
    retry: t.exact(
      t.partial({
        attempts: IntIn(1, 50, 'Attempts'),
        backoffMs: IntIn(0, 60_000, 'Milliseconds'),
        maxBackoffMs: IntIn(0, 600_000, 'Milliseconds'),
        deadlineMs: IntIn(100, 3_600_000, 'Deadline'),
      }),
    ),
  }),
);
const ESDB_FIELDS = ['passwordFile', 'writerRole', 'auditorRole', 'allowInsecure', 'retry'];
const RETRY_FIELDS = ['attempts', 'backoffMs', 'maxBackoffMs', 'deadlineMs'];

export const ConfigFile = t.intersection([
  t.type({
    installationId: InstallationId,
    machineName: NonEmptyString,
    instanceName: NonEmptyString,
    serviceIdentity: NonEmptyString,
    store: t.string,
    keystore: NonEmptyString,
  }),
  t.partial({
    deployment: DeploymentId,
    stateDir: NonEmptyString,
    keySize: KeySize,
    keystoreSecretFile: NonEmptyString,
    ledgerAccess: t.keyof({ owner: null, group: null }),
    esdb: EsdbBlock,
  }),
]);
export type ConfigFile = t.TypeOf<typeof ConfigFile>;
const KNOWN_FIELDS = [
  'installationId',
  'deployment',
  'machineName',
  'instanceName',
  'serviceIdentity',
  'store',
  'keystore',
  'stateDir',
  'keySize',
  'keystoreSecretFile',
  'ledgerAccess',
  'esdb',
];

/** A config's EventStoreDB settings, resolved (defaults applied, paths absolute). */
export interface EsdbSettings {
  /** A file holding the store's password (when the connection string names a user without one); null: none. */
  readonly passwordFile: string | null;
  /** The role (EventStoreDB user group) that may write the ledger's streams: set in each stream's `$acl` on first write. */
  readonly writerRole: string;
  /** The role that may read them (auditors, compliance reviewers). */
  readonly auditorRole: string;
  /** Whether a `tls=false` connection string is accepted (a plaintext connection: credentials are not even sent). */
  readonly allowInsecure: boolean;
  /** The adapter's retry policy: attempts (first included), first back-off doubling up to the max, and how long an append may stay unanswered. */
  readonly retry: { readonly attempts?: number; readonly backoffMs?: number; readonly maxBackoffMs?: number; readonly deadlineMs?: number };
}

export const DEFAULT_ESDB: EsdbSettings = {
  passwordFile: null,
  writerRole: 'keyledger-writers',
  auditorRole: 'keyledger-auditors',
  allowInsecure: false,
  retry: {},
};

export interface LoadedConfig {
  readonly file: string;
  readonly instance: InstanceConfig;
  /** The connection string as written (may hold credentials: never record or print it). */
  readonly storeConnection: string;
  readonly stateDir: string;
  readonly keySize: KeySize;
  /** Where the machine secret lives, when not beside the keystore (`null`: `machine.secret` in the keystore's folder). */
  readonly keystoreSecretFile: string | null;
  /** A SQLite ledger's file modes: `owner` 0600 in a 0700 folder, `group` 0660 in a 2770 folder. */
  readonly ledgerAccess: LedgerAccess;
  readonly esdb: EsdbSettings;
}

export interface ConfigError {
  readonly _tag: 'ConfigError';
  readonly file: string;
  readonly message: string;
}

const HINTS: Record<string, string> = {
  InstallationId: 'a GUID such as 6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b',
  DeploymentId: 'letters, digits, ".", "_" or "-", starting with a letter or digit',
  NonEmpty: 'a non-empty string',
  '(2048 | 3072 | 4096)': '2048, 3072 or 4096',
  '"owner" | "group"': '"owner" (the ledger 0600, the default) or "group" (0660, shared by one OS group)',
  Attempts: 'a whole number from 1 to 50',
  Milliseconds: 'a whole number of milliseconds (0 to 600000)',
  Deadline: 'a whole number of milliseconds (100 to 3600000)',
  boolean: 'true or false',
  string: 'a string',
};

const editDistance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
};

const closest = (name: string, known: ReadonlyArray<string> = KNOWN_FIELDS): string | undefined => {
  const scored = known.map((k) => ({ k, d: editDistance(k.toLowerCase(), name.toLowerCase()) })).sort((x, y) => x.d - y.d);
  return scored[0] && scored[0].d <= 2 ? scored[0].k : undefined;
};

const describeErrors = (errors: t.Errors): string => {
  const first = decodeProblems(errors)[0];
  if (!first) return 'invalid';
  const expected = first.declared ?? first.innermost;
  const got = first.missing ? 'is missing' : `is ${shown(JSON.stringify(first.value) ?? String(first.value), 80)}, which is not valid`;
  return `field "${first.path}" ${got}: expected ${HINTS[expected] ?? expected}`;
};

export const parseConfig = (file: string, raw: string): E.Either<ConfigError, LoadedConfig> => {
  const fail = (message: string): E.Either<ConfigError, never> => E.left({ _tag: 'ConfigError', file, message });
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    return fail(`not valid JSON (${errorMessage(e)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('expected a JSON object');
  const unknown = Object.keys(json).find((k) => !KNOWN_FIELDS.includes(k));
  if (unknown !== undefined) {
    const hint = closest(unknown);
    return fail(`unknown field "${shown(unknown, 64)}"${hint ? ` (did you mean "${hint}"?)` : ''}`);
  }
  const nestedUnknown = unknownNested(json as Record<string, unknown>);
  if (nestedUnknown !== undefined) return fail(nestedUnknown);
  // Names are recorded and shown to every later reader: printable, bounded, and never echoed back.
  for (const field of ['machineName', 'instanceName', 'serviceIdentity'] as const) {
    const v = (json as Record<string, unknown>)[field];
    const problem = typeof v === 'string' ? nameProblem(v) : undefined;
    if (problem !== undefined) return fail(`field "${field}" ${problem}: give 1–128 printable characters`);
  }
  const decoded = ConfigFile.decode(json);
  if (E.isLeft(decoded)) return fail(describeErrors(decoded.left));
  const c = decoded.right;
  const store = describeConnection(c.store);
  // Never echoed: a connection string may hold a password, in any of its parts.
  if (!store) return fail(`field "store" is not a usable connection string: ${connectionProblem(c.store) ?? 'it is not valid'}`);
  const base = path.dirname(path.resolve(file));
  const keystorePath = path.resolve(base, c.keystore);
  const storeConnection = store.kind === 'sqlite' && store.location !== ':memory:' ? `sqlite:${path.resolve(base, store.location)}` : c.store;
  return E.right({
    file: path.resolve(file),
    instance: {
      installationId: c.installationId.toLowerCase() as InstallationId,
      deploymentId: c.deployment ?? ('default' as DeploymentId),
      machineName: c.machineName,
      instanceName: c.instanceName,
      serviceIdentity: c.serviceIdentity,
      store: store.kind === 'sqlite' ? { kind: 'sqlite', location: path.resolve(base, store.location) } : store,
      keystorePath,
    },
    storeConnection,
    stateDir: path.resolve(base, c.stateDir ?? '.keyledger'),
    keySize: c.keySize ?? 2048,
    keystoreSecretFile: c.keystoreSecretFile === undefined ? null : path.resolve(base, c.keystoreSecretFile),
    ledgerAccess: c.ledgerAccess ?? 'owner',
    esdb: {
      passwordFile: c.esdb?.passwordFile === undefined ? null : path.resolve(base, c.esdb.passwordFile),
      writerRole: c.esdb?.writerRole ?? DEFAULT_ESDB.writerRole,
      auditorRole: c.esdb?.auditorRole ?? DEFAULT_ESDB.auditorRole,
      allowInsecure: c.esdb?.allowInsecure ?? false,
      retry: c.esdb?.retry ?? {},
    },
  });
};

/** A misspelt field inside the `esdb` block (io-ts' exact types would drop it silently). */
const unknownNested = (json: Record<string, unknown>): string | undefined => {
  const block = json['esdb'];
  if (typeof block !== 'object' || block === null || Array.isArray(block)) return undefined;
  const check = (prefix: string, obj: Record<string, unknown>, known: ReadonlyArray<string>): string | undefined => {
    const k = Object.keys(obj).find((x) => !known.includes(x));
    if (k === undefined) return undefined;
    const hint = closest(k, known);
    return `unknown field "${prefix}.${shown(k, 64)}"${hint ? ` (did you mean "${prefix}.${hint}"?)` : ''}`;
  };
  const retry = (block as Record<string, unknown>)['retry'];
  return (
    check('esdb', block as Record<string, unknown>, ESDB_FIELDS) ??
    (typeof retry === 'object' && retry !== null && !Array.isArray(retry) ? check('esdb.retry', retry as Record<string, unknown>, RETRY_FIELDS) : undefined)
  );
};

export const loadConfig = (file: string): E.Either<ConfigError, LoadedConfig> => {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return E.left({
      _tag: 'ConfigError',
      file: path.resolve(file),
      message: code === 'ENOENT' ? 'no such file (create one with: keyledger config new)' : `cannot be read (${code ?? String(e)})`,
    });
  }
  return parseConfig(file, raw);
};

export interface NewConfigOptions {
  readonly instanceName?: string;
  readonly machineName?: string;
  readonly serviceIdentity?: string;
  readonly store?: string;
  readonly deployment?: string;
  readonly keySize?: number;
  /** Write `esdb.allowInsecure: true` (a `tls=false` store, on request). */
  readonly allowInsecureStore?: boolean;
}

/** A fresh configuration: new installation ID, this machine's name, the current user as identity. */
export const newConfig = (options: NewConfigOptions = {}): Record<string, unknown> => {
  const installationId = randomUUID();
  const instanceName = options.instanceName ?? 'MSSQLSERVER';
  const safe = instanceName.replace(/[^A-Za-z0-9._-]/g, '_');
  return {
    installationId,
    deployment: options.deployment ?? 'default',
    machineName: options.machineName ?? os.hostname(),
    instanceName,
    serviceIdentity: options.serviceIdentity ?? os.userInfo().username,
    store: options.store ?? 'sqlite:./.keyledger/ledger.db',
    keystore: `./.keyledger/keystore/${safe}-${installationId.slice(0, 8)}/instance.keystore.json`,
    ...(options.keySize !== undefined ? { keySize: options.keySize } : {}),
    ...(options.allowInsecureStore ? { esdb: { allowInsecure: true } } : {}),
  };
};

/**
 * Gives the instance of a config file a new installation ID and a keystore path
 * of its own (init --new-installation-id: the remedy when its key pair is lost or
 * another machine presents its ID). Every other field is kept; written atomically.
 */
export const renewInstallationId = (file: string): E.Either<ConfigError, { readonly previous: string; readonly installationId: string }> => {
  const loaded = loadConfig(file);
  if (E.isLeft(loaded)) return loaded;
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  const installationId = randomUUID();
  const safe = loaded.right.instance.instanceName.replace(/[^A-Za-z0-9._-]/g, '_');
  const stateDir = typeof raw['stateDir'] === 'string' ? raw['stateDir'] : './.keyledger';
  const next = { ...raw, installationId, keystore: `${stateDir.replace(/\/$/, '')}/keystore/${safe}-${installationId.slice(0, 8)}/instance.keystore.json` };
  const tmp = `${loaded.right.file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, loaded.right.file);
  } catch (e) {
    return E.left({ _tag: 'ConfigError', file: loaded.right.file, message: `cannot be rewritten (${(e as NodeJS.ErrnoException).code ?? String(e)})` });
  }
  return E.right({ previous: loaded.right.instance.installationId, installationId });
};
