/**
 * Every request body, query and path of the JSON API, defined once as an io-ts codec (docs/adr/0019): the handler
 * decodes with it (an unknown member, a missing one, a wrong type: 400 naming the member, the value never echoed), and
 * the OpenAPI document (./openapi.ts) is derived from the same codecs by `schemaOf`.
 */
import * as E from 'fp-ts/Either';
import * as t from 'io-ts';
import { decodeProblems } from '../domain/decode-errors';
import { DeploymentId, InstallationId, Thumbprint } from '../domain/ids';
import { Duration } from '../domain/report-policy';

/** A query flag: `true` or `false`, as a query string carries it. */
export const Flag = t.keyof({ true: null, false: null }, 'Flag');

/** Text a person typed: 1–128 characters (checked for control characters by the handler, as the CLI does). */
export const Name = t.brand(t.string, (s): s is t.Branded<string, { readonly Name: unique symbol }> => s.length >= 1 && s.length <= 128, 'Name');

/** A secret's value: UTF-8 text, 1 character to 64 KiB (the handler counts its bytes). */
export const SecretText = t.brand(
  t.string,
  (s): s is t.Branded<string, { readonly SecretText: unique symbol }> => s.length >= 1 && s.length <= 64 * 1024,
  'SecretText',
);

/** A backup password: 1–1024 characters (`backup` wants 12 at least, as the CLI). */
export const Password = t.brand(t.string, (s): s is t.Branded<string, { readonly Password: unique symbol }> => s.length >= 1 && s.length <= 1024, 'Password');

/** A backup file's text (a compact JWE), at most 64 KiB. */
export const BackupText = t.brand(
  t.string,
  (s): s is t.Branded<string, { readonly BackupText: unique symbol }> => s.length >= 1 && s.length <= 64 * 1024,
  'BackupText',
);

/** An ISO date (2026-01-31) or date-time (2026-01-31T18:00:00Z), checked further by the handler as the CLI checks it. */
export const Instant = t.brand(
  t.string,
  (s): s is t.Branded<string, { readonly Instant: unique symbol }> => /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(s),
  'Instant',
);

/** `--at` of diagnose: an ISO time or a position (`12/12`, `12`). */
export const AtPoint = t.brand(t.string, (s): s is t.Branded<string, { readonly AtPoint: unique symbol }> => s.length >= 1 && s.length <= 64, 'AtPoint');

// ─── Paths ────────────────────────────────────────────────────────────────

export const InstanceParams = t.exact(t.type({ installationId: InstallationId }), 'InstanceParams');
export const SecretParams = t.exact(t.type({ '*': Name }), 'SecretParams');

// ─── Queries ──────────────────────────────────────────────────────────────

export const NoQuery = t.exact(t.type({}), 'NoQuery');
export const DiagnoseQuery = t.exact(t.partial({ at: AtPoint }), 'DiagnoseQuery');
export const AuditQuery = t.exact(
  t.partial({
    installationId: InstallationId,
    deployment: DeploymentId,
    all: Flag,
    since: Instant,
    until: Instant,
    type: t.string,
    actor: Name,
    correlationId: Name,
  }),
  'AuditQuery',
);
export const ReportQuery = t.exact(
  t.partial({
    deployment: DeploymentId,
    from: Instant,
    to: Instant,
    maxKeyAge: Duration,
    maxBackupAge: Duration,
    requireBackup: Flag,
    trust: Thumbprint,
    format: t.keyof({ json: null, html: null, csv: null }),
  }),
  'ReportQuery',
);

// ─── Bodies ───────────────────────────────────────────────────────────────

export const NoBody = t.exact(t.type({}), 'NoBody');
export const VerifyBody = t.exact(t.partial({ signatures: t.boolean, deep: t.boolean, expectGenesis: Thumbprint }), 'VerifyBody');
/** A join needs the newcomer's thumbprint, confirmed out of band (as `keyledger status` prints it on the newcomer), as the CLI does. */
export const JoinBody = t.exact(
  t.intersection([t.type({ installationId: InstallationId, expectThumbprint: Thumbprint }), t.partial({ rewrap: t.boolean })]),
  'JoinBody',
);
export const RemoveBody = t.exact(
  t.intersection([t.type({ installationId: InstallationId }), t.partial({ force: t.boolean, rotate: t.boolean })]),
  'RemoveBody',
);
export const ChangeIdentityBody = t.exact(t.type({ serviceIdentity: Name }), 'ChangeIdentityBody');
export const BackupBody = t.exact(t.type({ password: Password }), 'BackupBody');
export const RestoreBody = t.exact(t.type({ backup: BackupText, password: Password }), 'RestoreBody');
/** Without `confirm`, a dry run (what would be destroyed); with the deployment's ID typed out, the deletion. */
export const DeleteContentBody = t.exact(t.partial({ confirm: t.string }), 'DeleteContentBody');
export const SecretPutBody = t.exact(t.type({ value: SecretText }), 'SecretPutBody');

// ─── Decoding ─────────────────────────────────────────────────────────────

/** The members a codec defines (through exact, partial and intersections); undefined for a codec that is not an object. */
export const membersOf = (codec: t.Mixed): Readonly<Record<string, t.Mixed>> | undefined => {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return codec.props as Record<string, t.Mixed>;
  if (codec instanceof t.ExactType) return membersOf(codec.type);
  if (codec instanceof t.IntersectionType) {
    const all: Record<string, t.Mixed> = {};
    for (const c of codec.types as t.Mixed[]) Object.assign(all, membersOf(c) ?? {});
    return all;
  }
  return undefined;
};

/** Which members are required (those of `t.type`). */
const requiredOf = (codec: t.Mixed): ReadonlyArray<string> => {
  if (codec instanceof t.InterfaceType) return Object.keys(codec.props as object);
  if (codec instanceof t.ExactType) return requiredOf(codec.type);
  if (codec instanceof t.IntersectionType) return (codec.types as t.Mixed[]).flatMap(requiredOf);
  return [];
};

/**
 * The value as the codec's type, or one line saying what is wrong — the member and what it must be; never the value
 * (a password or a secret's value must not come back in an error). Members the codec does not define are refused.
 */
export const decodeInput = <C extends t.Mixed>(codec: C, value: unknown, where: 'body' | 'query' | 'path'): E.Either<string, t.TypeOf<C>> => {
  const v = value === undefined || value === null ? {} : value;
  if (typeof v !== 'object' || Array.isArray(v)) return E.left(`the ${where} must be a JSON object`);
  const members = membersOf(codec) ?? {};
  const unknown = Object.keys(v).filter((k) => !Object.hasOwn(members, k));
  if (unknown.length > 0)
    return E.left(
      `the ${where} has ${unknown.length === 1 ? 'a member' : 'members'} this request does not take (${unknown
        .slice(0, 3)
        .map((k) => JSON.stringify(k.slice(0, 40)))
        .join(', ')}); it takes: ${Object.keys(members).join(', ') || 'none'}`,
    );
  const decoded = codec.decode(v);
  if (E.isRight(decoded)) return decoded;
  const p = decodeProblems(decoded.left)[0];
  const member = p?.path.split('.')[0] ?? '';
  const expected = member ? describeCodec(members[member]) : 'an object';
  return E.left(
    member
      ? `${where} member "${member}" ${p?.missing ? 'is missing' : 'is not valid'}: expected ${expected}`
      : `the ${where} is not valid: expected ${expected}`,
  );
};

// ─── JSON Schema (for the OpenAPI document) ───────────────────────────────

/** What a branded string is, for a person and for the schema (the brand's predicate is code, not a pattern). */
const BRANDS: Readonly<Record<string, Record<string, unknown>>> = {
  InstallationId: { type: 'string', format: 'uuid', description: 'an installation ID (a GUID)' },
  Thumbprint: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$', description: 'an RFC 7638 SHA-256 thumbprint, base64url (43 characters)' },
  DeploymentId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', description: 'a deployment ID' },
  Duration: { type: 'string', pattern: '^[1-9][0-9]*[hdw]$', description: 'a duration: hours, days or weeks (36h, 90d, 12w)' },
  Name: { type: 'string', minLength: 1, maxLength: 128, description: '1–128 printable characters' },
  SecretText: { type: 'string', minLength: 1, maxLength: 65536, description: 'UTF-8 text, at most 64 KiB' },
  Password: { type: 'string', minLength: 1, maxLength: 1024, description: 'a backup password (at least 12 characters for a new backup)' },
  BackupText: { type: 'string', minLength: 1, maxLength: 65536, description: "a key backup file's text (a compact JWE, as keyledger backup writes it)" },
  Instant: {
    type: 'string',
    pattern: '^\\d{4}-\\d{2}-\\d{2}(T[0-9:.]+(Z|[+-]\\d{2}:\\d{2}))?$',
    description: 'an ISO date or date-time (UTC when a date alone)',
  },
  AtPoint: { type: 'string', minLength: 1, maxLength: 64, description: 'an ISO time, or a position diagnose prints (12/12)' },
};

/** A JSON Schema (OpenAPI 3.1 dialect) for a codec of the kinds this API uses. Throws on any other kind: a programmer error. */
export const schemaOf = (codec: t.Mixed): Record<string, unknown> => {
  const brand = BRANDS[codec.name];
  if (brand) return brand;
  if (codec instanceof t.ExactType) return { ...schemaOf(codec.type), additionalProperties: false };
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType || codec instanceof t.IntersectionType) {
    const members = membersOf(codec) ?? {};
    const required = requiredOf(codec);
    return {
      type: 'object',
      properties: Object.fromEntries(Object.entries(members).map(([k, c]) => [k, schemaOf(c)])),
      ...(required.length > 0 ? { required } : {}),
    };
  }
  if (codec instanceof t.StringType) return { type: 'string' };
  if (codec instanceof t.BooleanType) return { type: 'boolean' };
  if (codec instanceof t.NumberType) return { type: 'number' };
  if (codec instanceof t.KeyofType) return { type: 'string', enum: Object.keys(codec.keys as object) };
  if (codec instanceof t.LiteralType) return { const: codec.value };
  throw new Error(`programmer error: no JSON Schema for the codec ${codec.name}`);
};

const describeCodec = (codec: t.Mixed | undefined): string => {
  if (codec === undefined) return 'nothing';
  const s = schemaOf(codec);
  if (typeof s['description'] === 'string') return s['description'];
  if (Array.isArray(s['enum'])) return `one of ${(s['enum'] as string[]).join(', ')}`;
  return `a ${String(s['type'])}`;
};
