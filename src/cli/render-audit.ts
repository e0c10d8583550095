/**
 * The audit trail as a person reads it (a table: fixed columns, so it streams; stored text escaped and bounded),
 * as JSON lines (one object per event) and as RFC 4180 CSV through csv-stringify, with spreadsheet formula
 * injection neutralised: a cell beginning with =, +, -, @, a tab or a carriage return (or their full-width forms)
 * gets a leading ' so a spreadsheet shows it as text instead of running it.
 */
import { csvLines } from './csv';
import { shown } from '../domain/text';
import { AUDIT_COLUMNS, type AuditRecord } from '../projections/trail';

// ─── Table ────────────────────────────────────────────────────────────────

const COLUMNS: ReadonlyArray<{ readonly title: string; readonly width: number; readonly of: (r: AuditRecord) => string }> = [
  { title: 'TIME', width: 24, of: (r) => r.occurredAt },
  { title: 'POSITION', width: 9, of: (r) => r.position },
  { title: 'TYPE', width: 25, of: (r) => r.type },
  { title: 'ACTOR', width: 20, of: (r) => r.actor },
  { title: 'CORRELATION', width: 36, of: (r) => r.correlationId },
  { title: 'INSTALLATION', width: 36, of: (r) => r.installationId ?? '' },
  { title: 'KEY', width: 3, of: (r) => (r.keyVersion === null ? '' : String(r.keyVersion)) },
];

/** A cell of at most `width` characters: escaped first, cut with … when longer. */
const cell = (s: string, width: number): string => {
  const safe = shown(s, 1000);
  const fitted = safe.length > width ? `${safe.slice(0, width - 1)}…` : safe;
  return fitted + ' '.repeat(width - fitted.length);
};

export const tableHeader = (): string => `${COLUMNS.map((c) => cell(c.title, c.width)).join('  ')}  SUMMARY\n`;

export const tableRow = (r: AuditRecord): string => `${COLUMNS.map((c) => cell(c.of(r), c.width)).join('  ')}  ${shown(r.summary, 400)}\n`;

// ─── JSON lines ───────────────────────────────────────────────────────────

export const jsonLine = (r: AuditRecord): string => `${JSON.stringify(r)}\n`;

// ─── CSV ──────────────────────────────────────────────────────────────────

const csvValue = (r: AuditRecord, column: (typeof AUDIT_COLUMNS)[number]): string | number | null => {
  const value = r[column];
  return Array.isArray(value) ? value.join(' ') : (value as string | number | null);
};

/** Records as CSV (RFC 4180: CRLF line ends, quotes doubled, fields with separators quoted), the header first when asked. */
export const csvRows = (records: ReadonlyArray<AuditRecord>, header: boolean): string =>
  csvLines([...(header ? [AUDIT_COLUMNS] : []), ...records.map((r) => AUDIT_COLUMNS.map((c) => csvValue(r, c)))]);
