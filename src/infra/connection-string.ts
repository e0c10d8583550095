/**
 * Store connection strings, parsed in one place — for choosing the adapter
 * (open-store), for recording a store in events (config: kind and location
 * only) and for naming an endpoint in errors (esdb-store). No adapter is
 * loaded here.
 *   sqlite:PATH                      the embedded default (a single file)
 *   esdb://[user:pass@]host:port[,host:port…][/][?options]
 *   esdb+discover://[user:pass@]host:port[,…][?options]
 */

export interface EsdbParts {
  readonly scheme: 'esdb' | 'esdb+discover';
  /** Everything before the last `@` of the authority (`user:password`), or null. */
  readonly userInfo: string | null;
  /** The authority without user info and a trailing `/`, as written (a path after it stays, and makes it invalid). */
  readonly authority: string;
}

const ESDB_SCHEME = /^(esdb(?:\+discover)?):\/\//i;
const HOST_NAME = /^[A-Za-z0-9._-]+$/;

/** Splits an `esdb://` / `esdb+discover://` string (scheme matched case-insensitively), or undefined. */
export const splitEsdb = (connectionString: string): EsdbParts | undefined => {
  const cs = connectionString.trim();
  const m = ESDB_SCHEME.exec(cs);
  if (!m) return undefined;
  let authority = cs.slice(m[0].length).split('?')[0] ?? '';
  const at = authority.lastIndexOf('@');
  const userInfo = at >= 0 ? authority.slice(0, at) : null;
  if (at >= 0) authority = authority.slice(at + 1);
  if (authority.endsWith('/')) authority = authority.slice(0, -1);
  return { scheme: m[1]!.toLowerCase() as EsdbParts['scheme'], userInfo, authority };
};

/**
 * The hosts of an authority, normalised (`host` or `host:port`, host lower-cased, port without
 * leading zeros), or undefined if any is malformed. Several hosts are gossip seeds.
 */
const normalisedHosts = (authority: string): string[] | undefined => {
  if (authority.length === 0) return undefined;
  const hosts: string[] = [];
  for (const h of authority.split(',')) {
    const [name = '', port, ...extra] = h.split(':');
    if (extra.length > 0 || !HOST_NAME.test(name)) return undefined;
    if (port === undefined) {
      hosts.push(name.toLowerCase());
      continue;
    }
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535) return undefined;
    hosts.push(`${name.toLowerCase()}:${Number(port)}`);
  }
  return hosts;
};

/** What a connection string says, without secrets: safe to record in events and print. Schemes are lower case. */
export const describeConnection = (connectionString: string): { kind: 'sqlite' | 'esdb'; location: string } | undefined => {
  if (connectionString.startsWith('sqlite:')) return { kind: 'sqlite', location: connectionString.slice('sqlite:'.length) };
  if (!/^esdb(\+discover)?:\/\//.test(connectionString)) return undefined;
  const parts = splitEsdb(connectionString);
  const hosts = parts && normalisedHosts(parts.authority);
  return parts && hosts ? { kind: 'esdb', location: `${parts.scheme}://${hosts.join(',')}` } : undefined;
};

/** `esdb://host:port` (or `esdb+discover://h1:p1,h2:p2`) to name in errors: no credentials, no options. */
export const esdbEndpoint = (connectionString: string): string => {
  const parts = splitEsdb(connectionString);
  if (!parts) return 'esdb://<unrecognised>';
  return `${parts.scheme}://${normalisedHosts(parts.authority)?.join(',') ?? parts.authority.split('/')[0]}`;
};

/** The secrets a connection string carries (the whole string, and the password of its user info, raw and decoded). */
export const secretsOf = (connectionString: string): string[] => {
  const cs = connectionString.trim();
  const parts = splitEsdb(cs);
  if (!parts) return [cs];
  if (parts.userInfo === null) return [];
  const colon = parts.userInfo.indexOf(':');
  const password = colon >= 0 ? parts.userInfo.slice(colon + 1) : '';
  const out = new Set<string>([cs]);
  if (password.length > 0) {
    out.add(password);
    try {
      out.add(decodeURIComponent(password));
    } catch {
      /* not percent-encoded */
    }
  }
  return [...out];
};
