/**
 * Store connection strings, parsed in ONE place — for choosing the adapter (open-store), for recording a
 * store in events (config: kind and location only), for naming an endpoint in errors, and for building the
 * EventStoreDB client (esdb-store builds it from the parsed parts: the client's own parser, which prints
 * the whole string in its warnings and debug log, never sees a password). No adapter is loaded here.
 *
 *   sqlite:PATH                                         the embedded default (a single file)
 *   esdb://[user[:password]@]host[:port][,host[:port]…][/][?key=value&…]
 *   esdb+discover://[user[:password]@]host[:port][,…][?key=value&…]
 *
 * User and password may be written raw (`pa?ss`, `s3cr/et`, `p@ss` all work) or percent-encoded; the user
 * info ends at the one `@` after which the rest is a valid host list and query. When more than one `@` could
 * end it, the string is refused as ambiguous (write `@` as `%40`) rather than guessed. A password left out
 * (`esdb://keyledger@host:2113`) comes from `KEYLEDGER_ESDB_PASSWORD` or the config's `storePasswordFile`.
 *
 * What may be shown of a connection string: its `endpoint` (scheme and normalised hosts) and the problem
 * messages below, which quote nothing of the input but option names of the known list.
 */
import * as E from 'fp-ts/Either';

export type EsdbScheme = 'esdb' | 'esdb+discover';

export interface EsdbHost {
  /** Lower-cased host name or address. */
  readonly address: string;
  /** As written (leading zeros dropped); undefined: the client's default, 2113. */
  readonly port: number | undefined;
}

export type NodePreference = 'leader' | 'follower' | 'random' | 'readonlyreplica';

/** The options of `@eventstore/db-client` 6.2.1's connection strings (`throwOnAppendFailure` is read and ignored: the adapter needs it on). */
export interface EsdbOptions {
  /** Default true: TLS. `tls=false` is a plaintext connection (credentials are then not even sent by the client). */
  readonly tls: boolean;
  readonly tlsVerifyCert?: boolean;
  readonly tlsCAFile?: string;
  readonly userCertFile?: string;
  readonly userKeyFile?: string;
  readonly nodePreference?: NodePreference;
  readonly connectionName?: string;
  readonly defaultDeadline?: number;
  readonly discoveryInterval?: number;
  readonly gossipTimeout?: number;
  readonly maxDiscoverAttempts?: number;
  readonly keepAliveInterval?: number;
  readonly keepAliveTimeout?: number;
}

export interface EsdbConnection {
  readonly scheme: EsdbScheme;
  readonly hosts: ReadonlyArray<EsdbHost>;
  readonly username: string | null;
  /** Percent-decoded; null when the string carries none. Never print it. */
  readonly password: string | null;
  readonly options: EsdbOptions;
  /** `scheme://host[:port],…`: no credentials, no options — what errors name and events record. */
  readonly endpoint: string;
}

/** Why a string is not a usable connection string. The message quotes nothing of the input (no secret can be in it). */
export interface ConnectionProblem {
  readonly _tag: 'BadConnectionString';
  readonly message: string;
}

// ─── the parser ───────────────────────────────────────────────────────────

const SCHEME = /^(esdb(?:\+discover)?):\/\//;
const HOST_NAME = /^[A-Za-z0-9._-]+$/;
const KNOWN_OPTIONS = [
  'tls',
  'tlsVerifyCert',
  'tlsCAFile',
  'userCertFile',
  'userKeyFile',
  'nodePreference',
  'connectionName',
  'defaultDeadline',
  'discoveryInterval',
  'gossipTimeout',
  'maxDiscoverAttempts',
  'keepAliveInterval',
  'keepAliveTimeout',
  'throwOnAppendFailure',
] as const;
type OptionName = (typeof KNOWN_OPTIONS)[number];
/** Keys are matched as the client matches them: case-insensitive, `_` and `-` ignored. */
const flat = (s: string): string => s.trim().toLowerCase().replace(/[_-]/g, '');
const OPTION_BY_FLAT = new Map<string, OptionName>(KNOWN_OPTIONS.map((k) => [flat(k), k]));
const NODE_PREFERENCES: Record<string, NodePreference> = { leader: 'leader', follower: 'follower', random: 'random', readonlyreplica: 'readonlyreplica' };

type Parsed<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly message: string };
const ok = <A>(value: A): Parsed<A> => ({ ok: true, value });
const bad = (message: string): Parsed<never> => ({ ok: false, message });

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a raw `%` that is not an escape: taken as written
  }
};

const parseHosts = (list: string): Parsed<EsdbHost[]> => {
  if (list.length === 0) return bad('it names no host (esdb://host:2113)');
  const hosts: EsdbHost[] = [];
  for (const h of list.split(',')) {
    const [name = '', port, ...extra] = h.split(':');
    if (name.length === 0) return bad('a host name is empty (hosts are separated by single commas)');
    if (extra.length > 0 || !HOST_NAME.test(name)) return bad('a host is not a valid host[:port] (letters, digits, ".", "-", "_"; IPv6 is not supported)');
    if (port === undefined) hosts.push({ address: name.toLowerCase(), port: undefined });
    else if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535) return bad('a port is not a number from 1 to 65535');
    else hosts.push({ address: name.toLowerCase(), port: Number(port) });
  }
  return ok(hosts);
};

type MutableOptions = { -readonly [K in keyof EsdbOptions]: EsdbOptions[K] };

const parseOption = (o: MutableOptions, key: OptionName, raw: string): string | undefined => {
  const value = raw.trim();
  switch (key) {
    case 'tls':
    case 'tlsVerifyCert':
    case 'throwOnAppendFailure':
      if (value !== 'true' && value !== 'false') return `option ${key} must be true or false`;
      if (key !== 'throwOnAppendFailure') o[key] = value === 'true';
      return undefined;
    case 'nodePreference': {
      const p = NODE_PREFERENCES[flat(value)];
      if (!p) return 'option nodePreference must be leader, follower, random or readOnlyReplica';
      o.nodePreference = p;
      return undefined;
    }
    case 'tlsCAFile':
    case 'userCertFile':
    case 'userKeyFile':
    case 'connectionName':
      o[key] = decode(value);
      return undefined;
    case 'defaultDeadline':
    case 'discoveryInterval':
    case 'gossipTimeout':
    case 'maxDiscoverAttempts':
    case 'keepAliveInterval':
    case 'keepAliveTimeout': {
      if (!/^-?\d{1,9}$/.test(value)) return `option ${key} must be a whole number`;
      o[key] = Number(value);
      return undefined;
    }
  }
};

const parseQuery = (query: string | undefined): Parsed<EsdbOptions> => {
  const o: MutableOptions = { tls: true };
  if (query === undefined) return ok(o);
  if (query.length === 0) return bad('"?" is followed by no option');
  const seen = new Set<OptionName>();
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) return bad('an option is not key=value (options are separated by "&")');
    const rawKey = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (value.includes('?') || value.includes('=')) return bad('an option value holds "?" or "=" (percent-encode it)');
    const key = OPTION_BY_FLAT.get(flat(rawKey));
    if (!key) return bad(`an option is not one the client knows (${KNOWN_OPTIONS.filter((k) => k !== 'throwOnAppendFailure').join(', ')})`);
    if (seen.has(key)) return bad(`option ${key} is given twice`);
    seen.add(key);
    const problem = parseOption(o, key, value);
    if (problem) return bad(problem);
  }
  if ((o.userCertFile === undefined) !== (o.userKeyFile === undefined)) return bad('options userCertFile and userKeyFile go together');
  return ok(o);
};

/** What follows the user info: hosts, an optional `/`, an optional query. */
const parseRest = (rest: string): Parsed<{ hosts: EsdbHost[]; options: EsdbOptions }> => {
  const q = rest.indexOf('?');
  let list = q < 0 ? rest : rest.slice(0, q);
  if (list.endsWith('/')) list = list.slice(0, -1);
  const hosts = parseHosts(list);
  if (!hosts.ok) return hosts;
  const options = parseQuery(q < 0 ? undefined : rest.slice(q + 1));
  if (!options.ok) return options;
  return ok({ hosts: hosts.value, options: options.value });
};

const endpointOf = (scheme: EsdbScheme, hosts: ReadonlyArray<EsdbHost>): string =>
  `${scheme}://${hosts.map((h) => (h.port === undefined ? h.address : `${h.address}:${h.port}`)).join(',')}`;

/** Parses an `esdb://` / `esdb+discover://` string (lower-case scheme), or says why not — without quoting it. */
export const parseEsdb = (connectionString: string): E.Either<ConnectionProblem, EsdbConnection> => {
  const fail = (message: string): E.Either<ConnectionProblem, never> => E.left({ _tag: 'BadConnectionString', message });
  const cs = connectionString.trim().replace(/\/+$/, '');
  const m = SCHEME.exec(cs);
  if (!m) return fail('it is not an EventStoreDB connection string (esdb://host:2113 or esdb+discover://host:2113)');
  const scheme = m[1] as EsdbScheme;
  const body = cs.slice(m[0].length);
  // Where the user info may end: nowhere (-1), or at any "@". Exactly one reading must be valid.
  // Indices are of code points throughout.
  const points = [...body];
  const ends = [-1, ...points.flatMap((ch, i) => (ch === '@' ? [i] : []))];
  const readings = ends.map((at) => ({ at, rest: parseRest(points.slice(at + 1).join('')) }));
  const valid = readings.filter((r) => r.rest.ok);
  if (valid.length > 1)
    return fail(
      'it is ambiguous: more than one "@" could end the user name and password (percent-encode an "@" inside the password or an option value as %40)',
    );
  const chosen = valid[0];
  if (!chosen?.rest.ok) {
    // Report the reading after the last "@": nothing of the user info is in it.
    const last = readings[readings.length - 1]!;
    return fail(last.rest.ok ? 'it is not valid' : last.rest.message);
  }
  let username: string | null = null;
  let password: string | null = null;
  if (chosen.at >= 0) {
    const info = points.slice(0, chosen.at).join('');
    const colon = info.indexOf(':');
    username = decode(colon < 0 ? info : info.slice(0, colon));
    const pw = colon < 0 ? '' : info.slice(colon + 1);
    password = pw.length > 0 ? decode(pw) : null;
    if (username.length === 0) return fail('the user name before "@" is empty');
  }
  const { hosts, options } = chosen.rest.value;
  return E.right({ scheme, hosts, username, password, options, endpoint: endpointOf(scheme, hosts) });
};

// ─── what may be shown ───────────────────────────────────────────────────

/** What a connection string says, without secrets: safe to record in events and print. */
export const describeConnection = (connectionString: string): { kind: 'sqlite' | 'esdb'; location: string } | undefined => {
  if (connectionString.startsWith('sqlite:')) return { kind: 'sqlite', location: connectionString.slice('sqlite:'.length) };
  const parsed = parseEsdb(connectionString);
  return parsed._tag === 'Right' ? { kind: 'esdb', location: parsed.right.endpoint } : undefined;
};

/** Why a store connection string is refused: one line that quotes nothing of it. */
export const connectionProblem = (connectionString: string): string | undefined => {
  if (connectionString.startsWith('sqlite:')) return connectionString.length > 'sqlite:'.length ? undefined : 'sqlite: needs a file path';
  if (!SCHEME.test(connectionString.trim())) return 'expected sqlite:PATH, esdb://host:2113 or esdb+discover://host:2113';
  const parsed = parseEsdb(connectionString);
  return parsed._tag === 'Left' ? parsed.left.message : undefined;
};

/** `esdb://host:port` (or `esdb+discover://h1:p1,h2:p2`) to name in errors: no credentials, no options. */
export const esdbEndpoint = (connectionString: string): string => {
  const parsed = parseEsdb(connectionString);
  return parsed._tag === 'Right' ? parsed.right.endpoint : `${SCHEME.exec(connectionString.trim())?.[1] ?? 'esdb'}://<invalid connection string>`;
};

/** The secrets a connection string carries — the whole string, and its password raw and decoded — to scrub from any text. */
export const secretsOf = (connectionString: string, extraPassword?: string): string[] => {
  const cs = connectionString.trim();
  const out = new Set<string>([cs]);
  if (extraPassword) out.add(extraPassword);
  const parsed = parseEsdb(cs);
  if (parsed._tag === 'Left') return [...out];
  if (parsed.right.password) {
    out.add(parsed.right.password);
    out.add(encodeURIComponent(parsed.right.password));
  }
  return [...out].filter((s) => s.length > 0);
};
