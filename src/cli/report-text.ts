/**
 * The sentences every format of a compliance report shares (what the signatures and the hash chain show), and the
 * short summary printed on a terminal after a report is written to a file. Text from the store is made printable.
 */
import { shown } from '../domain/text';
import type { ComplianceReport } from '../projections/report-runner';

/** What the signature check showed, plainly: never a claim of verification without the reviewer's anchor. */
export const signatureLine = (r: ComplianceReport): string => {
  const s = r.integrity.signatures;
  switch (s.status) {
    case 'not-anchored':
      return 'signatures NOT checked: no trust anchor given, so nothing here says the events were signed by the members they name (run with --trust <genesis thumbprint>)';
    case 'anchor-mismatch':
      return (
        `signatures NOT verified: the deployment's root of trust is ${s.ledgerGenesis?.thumbprint ?? 'none'}, not the anchor given (${s.anchor}); ` +
        `${s.problems.length} problem(s)`
      );
    case 'problems':
      return `signatures checked against the anchor ${s.anchor}: ${s.problems.length} event(s) whose signature does not verify; ${s.verified} of ${s.signed} signed events verify`;
    case 'verified':
      return (
        `signatures verified against the anchor ${s.anchor}: ${s.verified} of ${s.signed} signed events verify back to it ` +
        `(${s.unsignedInstanceEvents} unsigned instance events such as ConfigRead, not errors)`
      );
  }
};

/** The latest checkpoint members signed (ADR 0018), and how far that count can be trusted. */
export const checkpointLine = (r: ComplianceReport): string => {
  const c = r.checkpoint;
  if (c === undefined) return 'checkpoints: not looked up';
  if (c.checkpoint === null)
    return 'no checkpoint signed by a member is kept with the ledger yet (keyledger checkpoint writes one; members co-sign one on each start)';
  return (
    `latest checkpoint: tree size ${c.checkpoint.size}, root ${c.checkpoint.root}, signed or co-signed by ${c.cosigners} current member(s)` +
    (c.anchored
      ? ' (their keys certified back to the anchor given)'
      : ' (members as the ledger names them: not anchored, run with --trust <genesis thumbprint>)')
  );
};

export const hashLine = (r: ComplianceReport): string =>
  r.integrity.hashProblems.length === 0
    ? `hash chain intact: ${r.integrity.events} events in ${Object.keys(r.integrity.heads).length} streams, every hash and link verified`
    : `hash chain BROKEN: ${r.integrity.hashProblems.length} problem(s) in ${r.integrity.events} events`;

export const verdictText = (r: ComplianceReport): string =>
  r.verdict === 'clean'
    ? 'no findings'
    : r.verdict === 'tampered'
      ? `${r.findings.length} finding(s), among them the integrity of the trail: altered after it was recorded, or not signed back to the anchor given`
      : `${r.findings.length} finding(s)`;

/** After `--out FILE`: where it went, the verdict, and each finding's kind and summary (one line each). */
export const reportSummaryText = (r: ComplianceReport, out: string, format: string): string => {
  const lines = [
    `report for deployment ${r.deploymentId}, ${r.period.from ?? 'start'} to ${r.period.to}, written to ${out} (${format}): ${verdictText(r)}`,
    hashLine(r),
    signatureLine(r),
    ...(r.checkpoint !== undefined ? [checkpointLine(r)] : []),
    ...r.findings.slice(0, 20).map((f) => `finding ${f.kind}: ${f.summary}`),
    ...(r.findings.length > 20 ? [`… and ${r.findings.length - 20} more in the report`] : []),
  ];
  return `${lines.map((l) => shown(l, 1000)).join('\n')}\n`;
};
