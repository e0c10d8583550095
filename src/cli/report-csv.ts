/**
 * A compliance report as one CSV table (docs/adr/0017-compliance-report.md): a row per finding, key operation,
 * membership change, member, and integrity fact, told apart by the `section` column; cells through ./csv.ts
 * (RFC 4180, formula injection neutralised).
 */
import { remedyText } from '../domain/remedy';
import type { ComplianceReport } from '../projections/report-runner';
import { csvTable } from './csv';
import { checkpointLine, signatureLine } from './report-text';

export const REPORT_CSV_COLUMNS = [
  'section',
  'kind',
  'time',
  'installation_id',
  'machine',
  'instance',
  'actor',
  'key_version',
  'thumbprints',
  'summary',
  'stream',
  'revision',
  'correlation_id',
] as const;

type Row = Array<string | number | boolean | null>;

const pairs = (r: Readonly<Record<string, string | number | boolean | ReadonlyArray<string>>>): string =>
  Object.entries(r)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join('; ');

export const reportCsv = (r: ComplianceReport): string => {
  const rows: Row[] = [];
  rows.push([
    'report',
    r.verdict,
    r.generatedAt,
    null,
    null,
    null,
    null,
    null,
    null,
    `deployment ${r.deploymentId}, period ${r.period.from ?? 'start'} to ${r.period.to}: ${r.findings.length} finding(s); ${signatureLine(r)}`,
    null,
    null,
    null,
  ]);
  for (const f of r.findings) {
    const first = f.events[0];
    rows.push([
      'finding',
      f.kind,
      first?.occurredAt ?? null,
      f.installationId,
      null,
      null,
      first?.actor ?? null,
      typeof f.evidence['keyVersion'] === 'number' ? f.evidence['keyVersion'] : null,
      null,
      `${f.summary}${f.remedy ? `. Remedy: ${remedyText(f.remedy)}` : ''} [${pairs(f.evidence)}]`,
      first?.stream ?? (typeof f.evidence['stream'] === 'string' ? f.evidence['stream'] : null),
      first?.revision ?? (typeof f.evidence['revision'] === 'string' ? f.evidence['revision'] : null),
      null,
    ]);
  }
  for (const o of r.operations)
    rows.push([
      'operation',
      o.type,
      o.at.occurredAt,
      o.installationId,
      o.machineName,
      o.instanceName,
      o.at.actor,
      o.keyVersion,
      pairs(o.thumbprints),
      `${o.label}${Object.keys(o.details).length > 0 ? ` (${pairs(o.details)})` : ''}${o.signedBy ? `; signed by ${o.signedBy}` : ''}`,
      o.at.stream,
      o.at.revision,
      o.at.correlationId,
    ]);
  for (const c of r.membership.changes)
    rows.push([
      'membership',
      c.change,
      c.at.occurredAt,
      c.installationId,
      c.machineName,
      c.instanceName,
      c.at.actor,
      typeof c.details['keyVersion'] === 'number' ? c.details['keyVersion'] : null,
      null,
      pairs(c.details),
      c.at.stream,
      c.at.revision,
      c.at.correlationId,
    ]);
  for (const m of r.membership.members)
    rows.push([
      'member',
      m.state,
      r.period.to,
      m.installationId,
      m.machineName,
      m.instanceName,
      null,
      m.keyVersion,
      pairs({ ...(m.thumbprint ? { thumbprint: m.thumbprint } : {}), ...(m.signingThumbprint ? { signingThumbprint: m.signingThumbprint } : {}) }),
      m.serviceIdentity === null ? null : `service identity ${m.serviceIdentity}`,
      null,
      null,
      null,
    ]);
  rows.push(['integrity', 'signatures', null, null, null, null, null, null, null, signatureLine(r), null, null, null]);
  if (r.checkpoint !== undefined) rows.push(['integrity', 'checkpoint', null, null, null, null, null, null, null, checkpointLine(r), null, null, null]);
  for (const p of r.integrity.hashProblems)
    rows.push(['integrity', 'hash-problem', null, null, null, null, null, null, null, `${p.eventType}: ${p.problem}`, p.stream, p.revision, null]);
  for (const [stream, h] of Object.entries(r.integrity.heads))
    rows.push(['integrity', 'head', null, null, null, null, null, null, null, h.hash, stream, h.revision, null]);
  return csvTable(REPORT_CSV_COLUMNS, rows);
};
