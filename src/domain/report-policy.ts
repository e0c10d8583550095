/**
 * The policy a compliance report is checked against (`keyledger report`, docs/adr/0017-compliance-report.md): given by
 * flags or a policy file (JSON), decoded here with io-ts. Unknown members are refused by name (a misspelt
 * `maxKeyAgee` must not silently check nothing). Pure.
 */
import * as E from 'fp-ts/Either';
import * as t from 'io-ts';
import { decodeProblems } from './decode-errors';
import { Thumbprint } from './ids';
import { shown } from './text';

const DURATION = /^([1-9]\d{0,5})([hdw])$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

export interface DurationBrand {
  readonly Duration: unique symbol;
}
/** A period as a reviewer writes it: a whole number of hours, days or weeks (`36h`, `90d`, `12w`). */
export const Duration = t.brand(t.string, (s): s is t.Branded<string, DurationBrand> => DURATION.test(s), 'Duration');
export type Duration = t.TypeOf<typeof Duration>;

/** The duration in milliseconds. */
export const durationMs = (d: Duration): number => {
  const m = DURATION.exec(d);
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : Number.NaN;
};

const PolicyMembers = {
  /** The current key version may be at most this old at the end of the period (else `KeyTooOld`). */
  maxKeyAge: Duration,
  /** The newest backup of the current key version may be at most this old at the end of the period (else `BackupTooOld`). */
  maxBackupAge: Duration,
  /** Whether the current key version must have been backed up since it was created (else `NoBackupOfCurrentKey`); default true. */
  requireBackup: t.boolean,
  /** The genesis signing-key thumbprint the reviewer confirmed out of band: the trust anchor signatures are checked against. */
  trust: Thumbprint,
};

/** A policy file: every member optional, no other member allowed. */
export const PolicyFile = t.exact(t.partial(PolicyMembers), 'PolicyFile');
export type PolicyFile = t.TypeOf<typeof PolicyFile>;

/** The policy a report applies: the file's members, each overridden by its flag. */
export interface ReportPolicy {
  readonly maxKeyAge: Duration | null;
  readonly maxBackupAge: Duration | null;
  readonly requireBackup: boolean;
  readonly trust: Thumbprint | null;
}

const KNOWN = Object.keys(PolicyMembers);
const EXPECTED: Readonly<Record<string, string>> = {
  Duration: 'a duration such as "90d" (h: hours, d: days, w: weeks)',
  boolean: 'true or false',
  Thumbprint: 'a thumbprint (43 base64url characters)',
};

/** Why a policy file's JSON is not a policy (one sentence, naming the member; never more than a bounded bit of the value), or the policy. */
export const decodePolicyFile = (json: unknown): E.Either<string, PolicyFile> => {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return E.left('expected a JSON object');
  const unknown = Object.keys(json).find((k) => !KNOWN.includes(k));
  if (unknown !== undefined) return E.left(`unknown member "${shown(unknown, 64)}" (known: ${KNOWN.join(', ')})`);
  const decoded = PolicyFile.decode(json);
  if (E.isRight(decoded)) return decoded;
  const first = decodeProblems(decoded.left)[0];
  const expected = first ? (first.declared ?? first.innermost) : 'a policy';
  return E.left(
    `member "${first?.path ?? '?'}" is ${shown(JSON.stringify(first?.value) ?? String(first?.value), 64)}, which is not valid: expected ${EXPECTED[expected] ?? expected}`,
  );
};

/** The policy: each flag given wins over the file's member; `requireBackup` defaults to true. */
export const policyOf = (file: PolicyFile, flags: Partial<Omit<ReportPolicy, 'requireBackup'>> & { readonly requireBackup?: boolean }): ReportPolicy => ({
  maxKeyAge: flags.maxKeyAge ?? file.maxKeyAge ?? null,
  maxBackupAge: flags.maxBackupAge ?? file.maxBackupAge ?? null,
  requireBackup: flags.requireBackup ?? file.requireBackup ?? true,
  trust: flags.trust ?? file.trust ?? null,
});
