/**
 * What a ledger stream's metadata on the server lets others do to it (issue 17, production features): delete it,
 * truncate it (`$tb`, `$maxCount`, `$maxAge`), change its rights (and then do either), or write it. The ACL keys
 * fall back one by one to the server's defaults (`$userStreamAcl`: every user may do everything, unless `$settings`
 * says otherwise), so a key left out is as open as no ACL at all. `$admins` may always do everything: not an exposure.
 * One line per exposure, for `verify` to warn with; none for a stream created as keyledger creates them.
 */
import type { StreamMetadata } from '@eventstore/db-client';

const DELETED = Number.MAX_SAFE_INTEGER;

/** The roles a key names, or undefined when left out (the default applies). */
const rolesOf = (v: unknown): ReadonlyArray<string> | undefined =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;

const who = (roles: ReadonlyArray<string> | undefined): string | undefined => {
  if (roles === undefined) return "every user (the key is left out: the server's default applies)";
  const others = roles.filter((r) => r !== '$admins');
  if (others.length === 0) return undefined;
  return others.includes('$all') ? 'every user ($all)' : others.join(', ');
};

export const exposuresOf = (metadata: StreamMetadata | undefined): string[] => {
  if (metadata === undefined)
    return [
      "it has no metadata, so the server's default rights apply: any user may delete it, truncate it or change its rights " +
        '(keyledger sets them when it creates a ledger stream; this one was created otherwise)',
    ];
  const out: string[] = [];
  if (typeof metadata.maxAge === 'number') out.push(`$maxAge ${metadata.maxAge} s is set: its events older than that no longer read`);
  if (typeof metadata.maxCount === 'number') out.push(`$maxCount ${metadata.maxCount} is set: all but its last ${metadata.maxCount} events no longer read`);
  if (typeof metadata.truncateBefore === 'number' && metadata.truncateBefore > 0 && metadata.truncateBefore < DELETED)
    out.push(`$tb ${metadata.truncateBefore} is set: its events before revision ${metadata.truncateBefore} no longer read`);
  const acl = metadata.acl as Record<string, unknown> | string | undefined;
  if (acl === undefined || typeof acl !== 'object') {
    out.push("it has no ACL ($acl), so the server's default rights apply: any user may delete it, truncate it or change its rights");
    return out;
  }
  const deleters = who(rolesOf(acl['deleteRoles']));
  if (deleters) out.push(`it may be deleted by ${deleters} ($d)`);
  const permitters = who(rolesOf(acl['metaWriteRoles']));
  if (permitters) out.push(`its rights may be changed by ${permitters} ($mw), who can then delete or truncate it`);
  const writers = rolesOf(acl['writeRoles']);
  if (writers === undefined || writers.includes('$all')) out.push(`it may be written by ${who(writers)} ($w)`);
  return out;
};
