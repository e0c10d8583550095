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
import { nameProblem } from '../domain/text';
import { MAX_REVISION } from '../commands/prove';

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

/** A signed checkpoint's text (a C2SP signed note, as `keyledger checkpoint` writes it), at most 64 KiB. */
export const CheckpointNote = t.brand(
  t.string,
  (s): s is t.Branded<string, { readonly CheckpointNote: unique symbol }> => s.length >= 1 && s.length <= 64 * 1024,
  'CheckpointNote',
);

/** A verifier key (`<name>+<key ID>+<base64 key>`, as `keyledger checkpoint --vkey` prints it), checked further by `verify`. */
export const VerifierKey = t.brand(
  t.string,
  (s): s is t.Branded<string, { readonly VerifierKey: unique symbol }> => s.length >= 1 && s.length <= 512,
  'VerifierKey',
);

/** One to 16 verifier keys. */
export const VerifierKeys = t.brand(
  t.array(VerifierKey),
  (ks): ks is t.Branded<Array<t.TypeOf<typeof VerifierKey>>, { readonly VerifierKeys: unique symbol }> => ks.length >= 1 && ks.length <= 16,
  'VerifierKeys',
);

/** A ledger stream's name (`keyledger.deployment-default`): 1–256 printable characters. */
export const StreamName = t.brand(
  t.string,
  (s): s is t.Branded<string, { readonly StreamName: unique symbol }> => nameProblem(s, 256) === undefined && s.trim() === s,
  'StreamName',
);

/** A stream revision as a query carries it: a decimal integer from 0 to 2^63 − 1. */
export const Revision = t.brand(
  t.string,
  (s): s is t.Branded<string, { readonly Revision: unique symbol }> => /^(0|[1-9][0-9]{0,18})$/.test(s) && BigInt(s) <= MAX_REVISION,
  'Revision',
);

// ─── Members, and exactly one form ────────────────────────────────────────

/** The members a codec defines (through exact, partial, intersections, and the forms of a union); undefined for a codec that is not an object. */
export const membersOf = (codec: t.Mixed): Readonly<Record<string, t.Mixed>> | undefined => {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return codec.props as Record<string, t.Mixed>;
  if (codec instanceof t.ExactType) return membersOf(codec.type);
  if (codec instanceof t.IntersectionType || codec instanceof t.UnionType) {
    const all: Record<string, t.Mixed> = {};
    for (const c of codec.types as t.Mixed[]) Object.assign(all, membersOf(c) ?? {});
    return all;
  }
  return undefined;
};

/** Each form of a union of object codecs with the members only it defines (what tells it from the others). */
const formsOf = (codec: t.UnionType<t.Mixed[]>): ReadonlyArray<{ readonly form: t.Mixed; readonly own: ReadonlyArray<string> }> => {
  const forms = codec.types.map((form) => ({ form, members: Object.keys(membersOf(form) ?? {}) }));
  return forms.map(({ form, members }) => ({ form, own: members.filter((m) => !forms.every((f) => f.members.includes(m))) }));
};

/** `installationId`, or `machineName` and `instanceName`. */
const formsText = (forms: ReturnType<typeof formsOf>): string => forms.map((f) => f.own.join(' and ')).join(', or ');

/**
 * An object codec that refuses (where `t.exact` strips) a member it does not define: the forms of a union (`t.union`
 * of closed forms), so that a value carrying members of two forms matches neither and is refused, as its JSON Schema
 * (`oneOf` of objects without additional properties) says.
 */
export const closed = <C extends t.HasProps>(codec: C, name: string): t.ExactC<C> => {
  const exact = t.exact(codec, name);
  const members = new Set(Object.keys(membersOf(codec) ?? {}));
  return new t.ExactType<C, t.TypeOf<C>, t.OutputOf<C>, unknown>(
    name,
    (u): u is t.TypeOf<C> => exact.is(u) && Object.keys(u as object).every((k) => members.has(k)),
    (u, c) => {
      const extra = typeof u === 'object' && u !== null ? Object.keys(u).find((k) => !members.has(k)) : undefined;
      return extra === undefined ? exact.validate(u, c) : t.failure(u, t.appendContext(c, extra, t.never, undefined), `${name} does not take ${extra}`);
    },
    exact.encode,
    codec,
  ) as t.ExactC<C>;
};

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
export const ProveQuery = t.exact(t.type({ stream: StreamName, revision: Revision }), 'ProveQuery');

// ─── Bodies ───────────────────────────────────────────────────────────────

export const NoBody = t.exact(t.type({}), 'NoBody');
/** With `checkpoint` (a signed note's text), the proof that the ledger extends it, its signatures checked (implies `signatures`); `keys` count too. */
export const VerifyBody = t.exact(
  t.partial({ signatures: t.boolean, deep: t.boolean, expectGenesis: Thumbprint, checkpoint: CheckpointNote, keys: VerifierKeys }),
  'VerifyBody',
);
/**
 * A join names the newcomer by its installation ID, or by machine and instance name (exactly one of the two), and
 * needs its thumbprint, confirmed out of band (as `keyledger status` prints it on the newcomer), as the CLI does.
 */
export const JoinBody = t.union(
  [
    closed(t.intersection([t.type({ installationId: InstallationId, expectThumbprint: Thumbprint }), t.partial({ rewrap: t.boolean })]), 'JoinById'),
    closed(t.intersection([t.type({ machineName: Name, instanceName: Name, expectThumbprint: Thumbprint }), t.partial({ rewrap: t.boolean })]), 'JoinByName'),
  ],
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
  if (codec instanceof t.UnionType) {
    // Which form the value chose by the members only that form has: none, several, or one (then that form's own problem).
    const forms = formsOf(codec);
    const chosen = forms.filter((f) => f.own.some((m) => Object.hasOwn(v, m)));
    if (chosen.length === 1 && chosen[0]) return decodeInput(chosen[0].form, v, where);
    const given = chosen.flatMap((f) => f.own.filter((m) => Object.hasOwn(v, m)));
    return E.left(
      chosen.length === 0
        ? `the ${where} must give ${formsText(forms)}`
        : `the ${where} must give ${formsText(forms)}, not members of several of these forms (it has ${given.join(', ')})`,
    );
  }
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
  CheckpointNote: {
    type: 'string',
    minLength: 1,
    maxLength: 65536,
    description: "a signed checkpoint's text (a C2SP signed note, as keyledger checkpoint writes it)",
  },
  VerifierKey: {
    type: 'string',
    minLength: 1,
    maxLength: 512,
    description: 'a verifier key, <name>+<key ID>+<base64 key>, as keyledger checkpoint --vkey prints it',
  },
  VerifierKeys: {
    type: 'array',
    items: { type: 'string', minLength: 1, maxLength: 512 },
    minItems: 1,
    maxItems: 16,
    description: '1–16 verifier keys, <name>+<key ID>+<base64 key>, as keyledger checkpoint --vkey prints them',
  },
  StreamName: { type: 'string', minLength: 1, maxLength: 256, description: "a ledger stream's name (keyledger.deployment-default), printable characters" },
  Revision: { type: 'string', pattern: '^(0|[1-9][0-9]{0,18})$', description: 'a stream revision: a decimal integer from 0 to 2^63 − 1' },
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
  // Exactly one of the forms: each form is closed (no member of another), so JSON Schema's oneOf says what the codec does.
  if (codec instanceof t.UnionType) return { oneOf: (codec.types as t.Mixed[]).map(schemaOf) };
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
