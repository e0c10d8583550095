/**
 * A compliance report as one self-contained HTML file (docs/adr/0017-compliance-report.md): no script, no external
 * asset, no request — a Content-Security-Policy that forbids everything but its own inline style says so to the
 * browser too; an inline SVG timeline; print CSS so it reads on paper. Every stored text is escaped (./html.ts).
 */
import { remedyText } from '../domain/remedy';
import type { ReportFinding } from '../projections/report-findings';
import type { ComplianceReport } from '../projections/report-runner';
import { constantHtml, type Html, html } from './html';
import { checkpointLine, hashLine, signatureLine, verdictText } from './report-text';
import { LEGEND, mark, TIMELINE_MAX_MARKS, timelineSvg } from './report-timeline';

/** Rows shown per table (the JSON and CSV formats have them all). */
export const HTML_MAX_ROWS = 5000;

export const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'";

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #24292f; margin: 2rem auto; max-width: 78rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.meta { color: #57606a; margin: 0 0 1rem; }
.verdict { padding: .7rem 1rem; border-radius: 6px; font-weight: 600; margin: .8rem 0; border: 1px solid; }
.verdict.clean { background: #dafbe1; border-color: #2da44e; } .verdict.findings { background: #fff8c5; border-color: #bf8700; }
.verdict.tampered { background: #ffebe9; border-color: #cf222e; }
.warn { color: #9a6700; font-weight: 600; } .bad { color: #cf222e; font-weight: 600; } .good { color: #1a7f37; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: 12.5px; }
th, td { border: 1px solid #d0d7de; padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 11.5px; word-break: break-all; }
.small { font-size: 11.5px; color: #57606a; }
.legend { display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; font-size: 12px; margin: .3rem 0 1rem; }
.legend svg { vertical-align: middle; }
svg.timeline { border: 1px solid #d0d7de; border-radius: 6px; background: #fff; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  tr, .verdict, svg.timeline { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;

const cut = <T>(rows: ReadonlyArray<T>): { shown: ReadonlyArray<T>; more: Html | null } =>
  rows.length <= HTML_MAX_ROWS
    ? { shown: rows, more: null }
    : { shown: rows.slice(0, HTML_MAX_ROWS), more: html`<p class="small">… and ${rows.length - HTML_MAX_ROWS} more rows: see --format json or csv.</p>` };

const head = (...names: ReadonlyArray<string>): Html => html`<thead><tr>${names.map((n) => html`<th>${n}</th>`)}</tr></thead>`;

const kv = (r: Readonly<Record<string, string | number | boolean | ReadonlyArray<string>>>): Html =>
  html`${Object.entries(r).map(([k, v]) => html`<div><span class="small">${k}</span> <code>${Array.isArray(v) ? v.join(', ') : String(v)}</code></div>`)}`;

const eventCell = (e: { stream: string; revision: string; occurredAt: string; actor: string }): Html =>
  html`<div><code>${e.stream}@${e.revision}</code> <span class="small">${e.occurredAt}, by ${e.actor}</span></div>`;

const findingRow = (f: ReportFinding): Html =>
  html`<tr class="finding" data-kind="${f.kind}"><td><strong>${f.kind}</strong><div class="small">${f.category}</div></td><td>${f.summary}</td><td>${
    f.remedy ? remedyText(f.remedy) : html`<span class="small">none: a record to know of</span>`
  }</td><td>${kv(f.evidence)}</td><td>${f.events.map(eventCell)}</td></tr>`;

const verdictBox = (r: ComplianceReport): Html =>
  html`<div class="verdict ${r.verdict}" id="verdict">${
    r.verdict === 'clean' ? 'No findings.' : r.verdict === 'tampered' ? 'Integrity check failed:' : 'Findings:'
  } ${verdictText(r)}</div>`;

const signatureClass = (r: ComplianceReport): string =>
  r.integrity.signatures.status === 'verified' ? 'good' : r.integrity.signatures.status === 'not-anchored' ? 'warn' : 'bad';

const policyTable = (r: ComplianceReport): Html =>
  html`<table class="policy"><tr><th>maximum key age</th><td>${r.policy.maxKeyAge ?? 'not checked'}</td><th>backup of the current key required</th><td>${
    r.policy.requireBackup ? 'yes' : 'no'
  }</td><th>maximum backup age</th><td>${r.policy.maxBackupAge ?? 'not checked'}</td><th>trust anchor (genesis)</th><td><code>${
    r.policy.trust ?? 'none given'
  }</code></td></tr></table>`;

const operationsTable = (r: ComplianceReport): Html => {
  const { shown, more } = cut(r.operations);
  return html`<table id="operations-table">${head('time', 'operation', 'instance', 'actor', 'key version', 'thumbprints', 'details', 'event')}<tbody>${shown.map(
    (o) =>
      html`<tr><td class="mono">${o.at.occurredAt}</td><td>${o.label}<div class="small">${o.type}</div></td><td>${
        o.installationId === null ? '' : html`${o.machineName ?? '?'}\\${o.instanceName ?? '?'}<div><code>${o.installationId}</code></div>`
      }</td><td>${o.at.actor}${o.signedBy ? html`<div class="small">signed by <code>${o.signedBy}</code></div>` : null}</td><td>${o.keyVersion ?? ''}</td><td>${kv(
        o.thumbprints,
      )}</td><td>${kv(o.details)}</td>
<td><code>${o.at.stream}@${o.at.revision}</code><div class="small">${o.at.command}, correlation <code>${o.at.correlationId}</code></div></td></tr>`,
  )}</tbody></table>${more}`;
};

const membershipSection = (r: ComplianceReport): Html => {
  const m = r.membership;
  return html`<p>${m.atStart} member(s) registered when the period starts, ${m.atEnd} at its end.</p>
<h3>Changes in the period</h3>
${
  m.changes.length === 0
    ? html`<p class="small">none</p>`
    : html`<table id="membership-changes">${head('time', 'change', 'instance', 'details', 'by', 'event')}<tbody>${cut(m.changes).shown.map(
        (c) =>
          html`<tr><td class="mono">${c.at.occurredAt}</td><td>${c.change}</td>
<td>${c.machineName ?? '?'}\\${c.instanceName ?? '?'}<div><code>${c.installationId}</code></div></td><td>${kv(
            c.details,
          )}</td><td>${c.at.actor}</td><td><code>${c.at.stream}@${c.at.revision}</code></td></tr>`,
      )}</tbody></table>`
}
<h3>Members at the end of the period</h3>
<table id="members">${head('instance', 'installation ID', 'state', 'key version held', 'service identity', 'thumbprints')}<tbody>${cut(m.members).shown.map(
    (x) =>
      html`<tr><td>${x.machineName ?? '?'}\\${x.instanceName ?? '?'}</td><td><code>${x.installationId}</code></td><td>${x.state}</td><td>${x.keyVersion ?? ''}</td><td>${
        x.serviceIdentity ?? ''
      }</td><td>${kv({ ...(x.thumbprint ? { key: x.thumbprint } : {}), ...(x.signingThumbprint ? { signing: x.signingThumbprint } : {}) })}</td></tr>`,
  )}</tbody></table>`;
};

const keyVersionsTable = (r: ComplianceReport): Html =>
  html`<table id="key-versions">${head('key version', 'created', 'by', 'retired', 'backups', 'newest backup')}<tbody>${r.keyVersions.map(
    (k) =>
      html`<tr><td>${k.keyVersion}</td><td class="mono">${k.created.occurredAt}</td><td><code>${k.createdBy ?? ''}</code></td><td class="mono">${
        k.retired?.occurredAt ?? ''
      }</td><td>${k.backups}</td><td class="mono">${k.lastBackup?.occurredAt ?? 'never'}</td></tr>`,
  )}</tbody></table>`;

const integritySection = (r: ComplianceReport): Html => {
  const s = r.integrity.signatures;
  return html`<p class="${r.integrity.hashProblems.length === 0 ? 'good' : 'bad'}">${hashLine(r)}.</p>
<p class="${signatureClass(r)}" id="signatures">${signatureLine(r)}.</p>
${r.checkpoint === undefined ? null : html`<p class="${r.checkpoint.checkpoint && r.checkpoint.anchored ? 'good' : 'warn'}" id="checkpoint">${checkpointLine(r)}.</p>`}
${
  s.status === 'not-anchored'
    ? html`<p class="small">Signatures are checked only against a root of trust you confirmed with the deployment's operators out of band
(<code>keyledger report --trust &lt;genesis thumbprint&gt;</code>), never against what the ledger says about itself.</p>`
    : html`<p class="small">The ledger's root of trust: <code>${s.ledgerGenesis?.thumbprint ?? 'none'}</code>${
        s.ledgerGenesis
          ? html` (installation <code>${s.ledgerGenesis.installationId}</code>, ${s.ledgerGenesis.declared ? 'declared' : 'creator of the first key'})`
          : null
      }; ${s.checked} events checked, ${s.signed} signed, ${s.unsignedKeyEvents} unsigned key events.</p>`
}
<h3>Stream heads</h3>
<p class="small">Keep these: a later report (or <code>keyledger verify --json</code>) whose chains do not extend them shows a truncated or rewritten stream.</p>
<table id="heads"><thead><tr><th>stream</th><th>revision</th><th>hash</th></tr></thead><tbody>${Object.entries(r.integrity.heads).map(
    ([stream, h]) => html`<tr><td><code>${stream}</code></td><td>${h.revision}</td><td><code>${h.hash}</code></td></tr>`,
  )}</tbody></table>`;
};

const legend = (): Html =>
  html`<div class="legend">${LEGEND.map(
    (l) => html`<span><svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">${mark(l.shape, 8, 8)}</svg> ${l.text}</span>`,
  )}</div>`;

export const reportHtml = (r: ComplianceReport): string => {
  const findings = cut(r.findings);
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keyledger compliance report: deployment ${r.deploymentId}</title>
<style>${constantHtml(STYLE)}</style>
</head>
<body>
<header>
<h1>Compliance report: deployment <code>${r.deploymentId}</code></h1>
<p class="meta">Period ${r.period.from ?? 'from the first event'} to ${r.period.to} · generated ${r.generatedAt} · keyledger report, format version ${r.version}</p>
${verdictBox(r)}
<ul>
<li class="${r.integrity.hashProblems.length === 0 ? 'good' : 'bad'}">${hashLine(r)}</li>
<li class="${signatureClass(r)}">${signatureLine(r)}</li>
<li>${r.operations.length} key operation(s) in the period, ${r.counts.inPeriod} event(s) recorded in it;
${r.counts.afterPeriod} recorded after it (checked for integrity, not counted)</li>
</ul>
<h3>Policy</h3>
${policyTable(r)}
</header>
<section id="findings"><h2>Findings (${r.findings.length})</h2>
${
  r.findings.length === 0
    ? html`<p class="good">No findings against this policy.</p>`
    : html`<table id="findings-table">${head('finding', 'what', 'remedy', 'evidence', 'events')}
<tbody>${findings.shown.map(findingRow)}</tbody></table>${findings.more}`
}
</section>
<section id="timeline"><h2>Timeline of key operations</h2>
${legend()}
${timelineSvg(r)}
${r.operations.length > TIMELINE_MAX_MARKS ? html`<p class="small">The first ${TIMELINE_MAX_MARKS} operations are drawn; the table lists them all.</p>` : null}
</section>
<section id="operations"><h2>Key operations (${r.operations.length})</h2>
<p class="small">Every key operation recorded in the period, and each start check that changed what an instance is (repeated activations are counted, not listed).</p>
${operationsTable(r)}
</section>
<section id="membership"><h2>Membership</h2>
${membershipSection(r)}
</section>
<section id="key-versions-section"><h2>Key versions</h2>
${keyVersionsTable(r)}
</section>
<section id="integrity"><h2>Integrity of the trail</h2>
${integritySection(r)}
</section>
<footer class="small"><p>Generated by <code>keyledger report</code>. The trail is checked as <code>keyledger verify</code> checks it:
decoding, contiguous revisions, every hash and link; signatures only against the trust anchor given.</p></footer>
</body>
</html>
`;
  return page.text;
};
