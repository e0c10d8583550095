/**
 * Who is calling, and may they: the double's authentication (HTTP Basic in the `authorization` header, which the
 * client sends only over TLS) and authorization, after the server's legacy ACL policy
 * (`LegacyStreamPermissionAssertion`): `$admins` may do anything; otherwise the stream's `$acl` (from its `$$`
 * metadata) names the roles per action — key by key, falling back to the defaults (`SystemSettings.Default`: every
 * user stream `$all`, every `$`-stream `$admins`) — and a role matches the user's name or one of its groups;
 * `$all` matches anyone signed in. Reads and writes of `$$<stream>` are that stream's metadata read / write;
 * writing or deleting `$all` is always refused. Anonymous callers are refused (`AllowAnonymousStreamAccess`
 * defaults to false). Over plaintext (`--insecure` on a server) there is no authentication and no authorization.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Store } from './log';

export interface DoubleUser {
  readonly password: string;
  readonly groups: ReadonlyArray<string>;
}

export type Principal =
  | { readonly kind: 'insecure' }
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'unauthenticated' }
  | { readonly kind: 'user'; readonly name: string; readonly groups: ReadonlyArray<string> };

export type Action = 'read' | 'write' | 'delete';

const ACL_KEY = { read: '$r', write: '$w', delete: '$d', metadataRead: '$mr', metadataWrite: '$mw' } as const;

export const principalOf = (metadata: grpc.Metadata, secure: boolean, users: Readonly<Record<string, DoubleUser>>): Principal => {
  if (!secure) return { kind: 'insecure' };
  const header = metadata.get('authorization')[0];
  if (typeof header !== 'string' || !header.startsWith('Basic ')) return { kind: 'anonymous' };
  const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const name = decoded.slice(0, colon);
  const user = colon > 0 ? users[name] : undefined;
  return user && user.password === decoded.slice(colon + 1) ? { kind: 'user', name, groups: user.groups } : { kind: 'unauthenticated' };
};

/** Whether the principal may do `action` on `stream` (a `$$` metastream: the metadata read / write of its stream). */
export const allowed = (store: Store, p: Principal, action: Action, stream: string): boolean => {
  if (p.kind === 'insecure') return true;
  if (p.kind !== 'user') return false;
  if (stream === '$all' && action !== 'read') return false;
  if (p.groups.includes('$admins')) return true;
  const meta = stream.startsWith('$$');
  if (meta && action === 'delete') return false;
  const original = meta ? stream.slice(2) : stream;
  const key = meta ? (action === 'read' ? ACL_KEY.metadataRead : ACL_KEY.metadataWrite) : ACL_KEY[action];
  const roles = store.metadata(original).acl?.[key] ?? (original.startsWith('$') ? ['$admins'] : ['$all']);
  return roles.includes('$all') || roles.includes(p.name) || roles.some((r) => p.groups.includes(r));
};
