/**
 * The compliance report's findings and verdict (docs/adr/0017-compliance-report.md), from its read model
 * (./report-model.ts), a policy, and the integrity of the trail as read. Each finding is typed data with the evidence
 * and, where keyledger can act on it, the typed remedy (names only commands that exist). Pure.
 */
import type { IntegrityProblem } from '../commands/verify';
import { durationMs, type ReportPolicy } from '../domain/report-policy';
import { explainRefusal } from '../domain/refusal';
import { backUpTheKey, type Remedy, recreateTheKey } from '../domain/remedy';
import { describeSignatureProblem, type SignatureProblem } from '../domain/signature-audit';
import type { EventRef } from './activation';
import { allFindings, type FindingKind } from './findings';
import type { Operation } from './report-events';
import type { ReportModel } from './report-model';
import { instanceStatus } from './status';

export type ReportFindingKind =
  | 'KeyTooOld'
  | 'NoBackupOfCurrentKey'
  | 'BackupTooOld'
  | 'ContentDeleted'
  | 'InstanceDisabled'
  | 'InstanceNotActivated'
  /** The mismatch findings `status` shows (RemovedMemberHoldsKey among them), as of the end of the period. */
  | FindingKind
  | 'HashChainBroken'
  | 'SignatureNotVerified'
  | 'TrustAnchorMismatch';

export type FindingCategory = 'key' | 'backup' | 'content' | 'instance' | 'mismatch' | 'integrity';

export interface ReportFinding {
  readonly kind: ReportFindingKind;
  readonly category: FindingCategory;
  readonly installationId: string | null;
  readonly summary: string;
  /** What to do, where keyledger can do it (null: a record to know of, nothing to undo). */
  readonly remedy: Remedy | null;
  readonly evidence: Readonly<Record<string, string | number | boolean | ReadonlyArray<string>>>;
  /** The events that show it, oldest first. */
  readonly events: ReadonlyArray<EventRef>;
}

/** How signatures were checked: against the reviewer's anchor, or not at all. */
export type SignatureCheck =
  | { readonly status: 'not-anchored' }
  | {
      /** `verified`: every signature checked verifies back to the anchor; `problems`: some do not; `anchor-mismatch`: the root of trust is not the anchor. */
      readonly status: 'verified' | 'problems' | 'anchor-mismatch';
      /** The genesis thumbprint the reviewer gave (`--trust`). */
      readonly anchor: string;
      /** The deployment's root of trust as the ledger's signatures show it (null: none verifies). */
      readonly ledgerGenesis: { readonly installationId: string; readonly thumbprint: string; readonly revision: string; readonly declared: boolean } | null;
      readonly checked: number;
      readonly signed: number;
      /** With status `anchor-mismatch`, 0: nothing is verified against a root of trust that is not the anchor. */
      readonly verified: number;
      readonly unsignedKeyEvents: number;
      readonly unsignedInstanceEvents: number;
      readonly problems: ReadonlyArray<SignatureProblem>;
    };

export interface IntegritySection {
  /** Records read (every revision of every stream read, after the period too). */
  readonly events: number;
  /** Each stream read, with its newest revision and hash: keep them to detect a later truncation. */
  readonly heads: Readonly<Record<string, { readonly revision: string; readonly hash: string }>>;
  /** Decoding, contiguous revisions, hash links (verify's checks). */
  readonly hashProblems: ReadonlyArray<IntegrityProblem>;
  readonly signatures: SignatureCheck;
}

/** Exit status of a report: clean, findings (policy, membership, mismatch), or the trail itself altered. */
export type ReportVerdict = 'clean' | 'findings' | 'tampered';

const RESTORE =
  'the trail was altered after it was recorded: restore the store from a backup taken before the first problem ' +
  '(keyledger verify --signatures names each one), and find out who could write it';

const restoreRemedy = (where: string): Remedy => ({ _tag: 'NotYetPossible', sentence: `${RESTORE}; first problem here: ${where}` });

const ageDays = (fromIso: string, toMs: number): number => Math.round(((toMs - Date.parse(fromIso)) / 86_400_000) * 10) / 10;

const policyFindings = (m: ReportModel, policy: ReportPolicy): ReportFinding[] => {
  const out: ReportFinding[] = [];
  const toMs = Date.parse(m.period.to);
  const d = m.view.deployments[m.deploymentId];
  const current = d?.currentKeyVersion ?? null;
  const life = current === null ? undefined : m.keyVersions.find((k) => k.keyVersion === current);
  if (current !== null && life) {
    const age = toMs - Date.parse(life.created.occurredAt);
    if (policy.maxKeyAge !== null && age > durationMs(policy.maxKeyAge))
      out.push({
        kind: 'KeyTooOld',
        category: 'key',
        installationId: null,
        summary: `key version ${current} was created ${ageDays(life.created.occurredAt, toMs)} days before the end of the period, more than the policy's ${policy.maxKeyAge}`,
        remedy: recreateTheKey(`key version ${current} is older than the policy allows (${policy.maxKeyAge})`),
        evidence: { keyVersion: current, createdAt: life.created.occurredAt, ageDays: ageDays(life.created.occurredAt, toMs), maxKeyAge: policy.maxKeyAge },
        events: [life.created],
      });
    if ((policy.requireBackup || policy.maxBackupAge !== null) && life.lastBackup === null)
      out.push({
        kind: 'NoBackupOfCurrentKey',
        category: 'backup',
        installationId: null,
        summary: `key version ${current} (created ${life.created.occurredAt}) has no backup: if every member lost its copy, the key and every secret under it would be lost`,
        remedy: backUpTheKey(`key version ${current} was never backed up`),
        evidence: { keyVersion: current, createdAt: life.created.occurredAt },
        events: [life.created],
      });
    else if (policy.maxBackupAge !== null && life.lastBackup !== null && toMs - Date.parse(life.lastBackup.occurredAt) > durationMs(policy.maxBackupAge))
      out.push({
        kind: 'BackupTooOld',
        category: 'backup',
        installationId: null,
        summary:
          `the newest backup of key version ${current} was taken ${ageDays(life.lastBackup.occurredAt, toMs)} days before the end of the period, ` +
          `more than the policy's ${policy.maxBackupAge}`,
        remedy: backUpTheKey(`the newest backup of key version ${current} is older than the policy allows (${policy.maxBackupAge})`),
        evidence: {
          keyVersion: current,
          backedUpAt: life.lastBackup.occurredAt,
          ageDays: ageDays(life.lastBackup.occurredAt, toMs),
          maxBackupAge: policy.maxBackupAge,
        },
        events: [life.lastBackup],
      });
  }
  return out;
};

const contentDeletion = (o: Operation): ReportFinding => ({
  kind: 'ContentDeleted',
  category: 'content',
  installationId: o.installationId,
  summary: `encrypted content was deleted (${o.type}) at ${o.at.occurredAt} by ${o.at.actor}${o.signedBy ? `, signed by installation ${o.signedBy}` : ''}`,
  remedy: null,
  evidence: { type: o.type, ...(o.keyVersion !== null ? { keyVersion: o.keyVersion } : {}), ...o.details },
  events: [o.at],
});

/** Members of the deployment at the end of the period that are disabled, or not activated. */
const instanceFindings = (m: ReportModel): ReportFinding[] => {
  const d = m.view.deployments[m.deploymentId];
  const ids = new Set([
    ...Object.keys(d?.registered ?? {}),
    ...Object.values(m.view.instances)
      .filter((i) => i.deploymentId === m.deploymentId)
      .map((i) => i.installationId.toLowerCase()),
  ]);
  const out: ReportFinding[] = [];
  for (const id of [...ids].sort()) {
    if (d?.removed[id] && !d.registered[id]) continue; // left the deployment: a membership change, not a finding
    const s = instanceStatus(m.view, id);
    const where = s.state === 'not-initialized' ? '' : ` (${s.view.machineName ?? '?'}\\${s.view.instanceName ?? '?'})`;
    if (s.state === 'disabled') {
      const x = explainRefusal(s.reason);
      out.push({
        kind: 'InstanceDisabled',
        category: 'instance',
        installationId: id,
        summary: `instance ${id}${where} is disabled since ${s.since.occurredAt}: ${x.code}: ${x.summary}`,
        remedy: s.remedy,
        evidence: { installationId: id, reason: s.reason._tag, code: x.code, since: s.since.occurredAt },
        events: [s.since],
      });
    } else if (s.state !== 'activated' && s.state !== 'removed')
      out.push({
        kind: 'InstanceNotActivated',
        category: 'instance',
        installationId: id,
        summary: `instance ${id}${where} is not activated at the end of the period (${s.state}${
          s.state === 'not-initialized' ? '' : `, ${s.completedSteps} of 5 initialization steps recorded`
        })`,
        remedy: s.remedy,
        evidence: { installationId: id, state: s.state, ...(s.state === 'not-initialized' ? {} : { completedSteps: s.completedSteps }) },
        events: s.state === 'not-initialized' ? [] : [s.view.keyPairIssued ?? s.view.configRead].filter((r): r is EventRef => r !== null),
      });
  }
  return out;
};

const integrityFindings = (integrity: IntegritySection): ReportFinding[] => {
  const out: ReportFinding[] = integrity.hashProblems.map((p) => ({
    kind: 'HashChainBroken',
    category: 'integrity',
    installationId: null,
    summary: `${p.stream}@${p.revision} (${p.eventType}): ${p.problem}`,
    remedy: restoreRemedy(`${p.stream}@${p.revision}`),
    evidence: { stream: p.stream, revision: p.revision, eventType: p.eventType, problem: p.problem },
    events: [],
  }));
  const sig = integrity.signatures;
  if (sig.status === 'not-anchored') return out;
  if (sig.status === 'anchor-mismatch')
    out.push({
      kind: 'TrustAnchorMismatch',
      category: 'integrity',
      installationId: sig.ledgerGenesis?.installationId ?? null,
      summary:
        `the deployment's root of trust is ${sig.ledgerGenesis?.thumbprint ?? 'none (no key creation or genesis declaration verifies)'}, ` +
        `not the anchor you gave (${sig.anchor}): no signature is verified against your anchor`,
      remedy: {
        _tag: 'NotYetPossible',
        sentence:
          "confirm the genesis thumbprint with the deployment's operators out of band; if it is the one you gave, the ledger's root of trust was " +
          `replaced: ${RESTORE}`,
      },
      evidence: { anchor: sig.anchor, ledgerGenesis: sig.ledgerGenesis?.thumbprint ?? 'none' },
      events: [],
    });
  for (const p of sig.problems)
    if (p.problem !== 'genesis-not-expected')
      out.push({
        kind: 'SignatureNotVerified',
        category: 'integrity',
        installationId: p.signedBy,
        summary: `${p.stream}@${p.revision} (${p.eventType}): ${p.problem}: ${describeSignatureProblem(p)}`,
        remedy: restoreRemedy(`${p.stream}@${p.revision}`),
        evidence: { stream: p.stream, revision: p.revision, eventType: p.eventType, problem: p.problem, scope: p.scope, signingKey: p.signingKey ?? 'none' },
        events: [],
      });
  return out;
};

/** Every finding of a report: policy (key age, backups), content deletions, instances, mismatches, then integrity. */
export const reportFindings = (m: ReportModel, policy: ReportPolicy, integrity: IntegritySection): ReadonlyArray<ReportFinding> => [
  ...policyFindings(m, policy),
  ...m.operations.filter((o) => o.class === 'content-deletion').map(contentDeletion),
  ...instanceFindings(m),
  ...allFindings(m.view).map(
    (f): ReportFinding => ({
      kind: f.kind,
      category: f.kind === 'RemovedMemberHoldsKey' ? 'key' : 'mismatch',
      installationId: f.installationId,
      summary: f.summary,
      remedy: f.remedy,
      evidence: f.evidence,
      events: f.events,
    }),
  ),
  ...integrityFindings(integrity),
];

export const verdictOf = (findings: ReadonlyArray<ReportFinding>): ReportVerdict =>
  findings.some((f) => f.category === 'integrity') ? 'tampered' : findings.length > 0 ? 'findings' : 'clean';
