/**
 * The compliance report's timeline: an inline SVG, one row per instance, a mark per key operation (and per start
 * check that changed the instance's state) at its recorded time. Each mark carries a `<title>` saying what it is
 * (a tooltip on screen); its shape and colour say its kind, also in print. Every text is escaped (./html.ts).
 */
import type { Operation } from '../projections/report-events';
import type { ComplianceReport } from '../projections/report-runner';
import { type Html, html } from './html';

const WIDTH = 1000;
const LEFT = 250;
const RIGHT = 20;
const TOP = 34;
const ROW = 24;
/** More marks than this are not drawn (the tables and the JSON have them all). */
export const TIMELINE_MAX_MARKS = 5000;

type Shape = 'key' | 'removed' | 'activated' | 'refused' | 'backup' | 'identity' | 'deletion' | 'other';

const shapeOf = (o: Operation): Shape => {
  if (o.class === 'content-deletion') return 'deletion';
  switch (o.type) {
    case 'SymmetricKeyCreated':
    case 'SymmetricKeyWrapped':
    case 'KeyRestored':
      return 'key';
    case 'InstanceRemoved':
      return 'removed';
    case 'InstanceActivated':
      return 'activated';
    case 'InstanceActivationRefused':
      return 'refused';
    case 'KeyBackedUp':
      return 'backup';
    case 'ServiceIdentityChanged':
    case 'PublicKeyReplaced':
      return 'identity';
    default:
      return 'other';
  }
};

export const LEGEND: ReadonlyArray<{ readonly shape: Shape; readonly text: string }> = [
  { shape: 'key', text: 'key created, wrapped or restored' },
  { shape: 'activated', text: 'activated' },
  { shape: 'refused', text: 'start refused' },
  { shape: 'removed', text: 'removed' },
  { shape: 'identity', text: 'identity / key pair changed' },
  { shape: 'backup', text: 'backed up' },
  { shape: 'deletion', text: 'encrypted content deleted' },
  { shape: 'other', text: 'other key operation' },
];

/** One mark, centred on (x, y). */
export const mark = (shape: Shape, x: number, y: number): Html => {
  const p = (n: number): string => n.toFixed(1);
  switch (shape) {
    case 'key':
      return html`<circle cx="${p(x)}" cy="${p(y)}" r="5.5" fill="#1f6feb"/>`;
    case 'activated':
      return html`<circle cx="${p(x)}" cy="${p(y)}" r="4" fill="#2da44e"/>`;
    case 'refused':
      return html`<circle cx="${p(x)}" cy="${p(y)}" r="4.5" fill="#ffffff" stroke="#cf222e" stroke-width="2.5"/>`;
    case 'removed':
      return html`<path d="M${p(x - 5)} ${p(y - 5)}L${p(x + 5)} ${p(y + 5)}M${p(x + 5)} ${p(y - 5)}L${p(x - 5)} ${p(y + 5)}" stroke="#cf222e" stroke-width="3"/>`;
    case 'identity':
      return html`<path d="M${p(x)} ${p(y - 6)}L${p(x + 6)} ${p(y)}L${p(x)} ${p(y + 6)}L${p(x - 6)} ${p(y)}Z" fill="#bc4c00"/>`;
    case 'backup':
      return html`<rect x="${p(x - 4.5)}" y="${p(y - 4.5)}" width="9" height="9" fill="#8250df"/>`;
    case 'deletion':
      return html`<path d="M${p(x)} ${p(y - 6)}L${p(x + 6)} ${p(y + 5)}L${p(x - 6)} ${p(y + 5)}Z" fill="#000000"/>`;
    case 'other':
      return html`<circle cx="${p(x)}" cy="${p(y)}" r="4" fill="#57606a"/>`;
  }
};

/** A tick's label, as fine as the span needs: days, minutes, or seconds (UTC). */
const day = (ms: number, span: number): string => {
  const iso = new Date(ms).toISOString();
  return span >= 3 * 86_400_000 ? iso.slice(0, 10) : span >= 600_000 ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : `${iso.slice(11, 19)}Z`;
};

const bounded = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

/** The timeline of a report's operations (those with a time inside the period), one row per instance. */
export const timelineSvg = (r: ComplianceReport): Html => {
  const ops = r.operations.slice(0, TIMELINE_MAX_MARKS);
  const times = ops.map((o) => Date.parse(o.at.occurredAt)).filter((t) => Number.isFinite(t));
  const end = Date.parse(r.period.to);
  let start = r.period.from !== null ? Date.parse(r.period.from) : times.length > 0 ? Math.min(...times) : end - 86_400_000;
  if (!(start < end)) start = end - 3_600_000;
  const span = end - start;
  // Rows: the members (in the members table's order), then anything else operations name, then the deployment itself.
  const rows: Array<{ id: string | null; label: string }> = r.membership.members.map((m) => ({
    id: m.installationId,
    label: `${m.machineName ?? '?'}\\${m.instanceName ?? '?'} (${m.installationId.slice(0, 8)})`,
  }));
  const known = new Set(rows.map((x) => x.id));
  for (const o of ops)
    if (!known.has(o.installationId)) {
      known.add(o.installationId);
      rows.push({
        id: o.installationId,
        label: o.installationId === null ? 'deployment' : `${o.machineName ?? '?'}\\${o.instanceName ?? '?'} (${o.installationId.slice(0, 8)})`,
      });
    }
  const rowOf = new Map(rows.map((x, i) => [x.id, i]));
  const height = TOP + Math.max(1, rows.length) * ROW + 10;
  const xOf = (t: number): number => LEFT + ((Math.min(Math.max(t, start), end) - start) / span) * (WIDTH - LEFT - RIGHT);
  const ticks = [0, 1, 2, 3, 4].map((k) => start + (span * k) / 4);
  return html`<svg class="timeline" role="img" aria-label="Timeline of key operations per instance" xmlns="http://www.w3.org/2000/svg"
 viewBox="0 0 ${WIDTH} ${height}" width="100%" font-family="sans-serif" font-size="11">
<title>Key operations per instance, ${day(start, span)} to ${day(end, span)}</title>
${ticks.map(
  (t, k) =>
    html`<line x1="${xOf(t).toFixed(1)}" y1="${TOP - 8}" x2="${xOf(t).toFixed(1)}" y2="${height - 6}" stroke="#d0d7de" stroke-dasharray="3 3"/>
<text x="${xOf(t).toFixed(1)}" y="${TOP - 14}" text-anchor="${k === 0 ? 'start' : k === 4 ? 'end' : 'middle'}" fill="#57606a">${day(t, span)}</text>`,
)}
${rows.map((row, i) => {
  const y = TOP + i * ROW + ROW / 2;
  return html`<g class="row"><text x="${LEFT - 8}" y="${y + 4}" text-anchor="end" fill="#24292f">${bounded(row.label, 40)}</text>
<line x1="${LEFT}" y1="${y}" x2="${WIDTH - RIGHT}" y2="${y}" stroke="#eaeef2"/></g>`;
})}
${rows.length === 0 || ops.length === 0 ? html`<text x="${LEFT}" y="${TOP + ROW / 2 + 4}" fill="#57606a">no key operation in the period</text>` : null}
${ops.map((o) => {
  const y = TOP + (rowOf.get(o.installationId) ?? 0) * ROW + ROW / 2;
  const tip = `${o.at.occurredAt} ${o.label}${o.keyVersion !== null ? `, key version ${o.keyVersion}` : ''} by ${o.at.actor} (${o.at.stream}@${o.at.revision})`;
  return html`<g class="mark" data-type="${o.type}"><title>${tip}</title>${mark(shapeOf(o), xOf(Date.parse(o.at.occurredAt)), y)}</g>`;
})}
</svg>`;
};
