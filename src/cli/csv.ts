/**
 * CSV output (RFC 4180, through csv-stringify): one place for how a table is written, whatever command writes CSV.
 *
 * Spreadsheet formula injection: a cell whose text begins with `=`, `+`, `-`, `@`, a tab or a carriage return (or the
 * full-width `＝ ＋ － ＠` some spreadsheets normalise) is taken by Excel, LibreOffice, Numbers and Google Sheets as a
 * formula (`=HYPERLINK(…)`, DDE payloads). Stored text is written by whoever can write the store, so such a cell is
 * written with a leading `'` (csv-stringify's `escape_formulas`, OWASP's advice; spreadsheets show the text as it
 * is), and a text that begins with `'` gets a second one, so the escape can always be undone. Numbers, negative ones
 * included, and booleans are written as they are. A reader that wants the original text removes the leading `'`
 * (`originalCell`).
 */
import { stringify } from 'csv-stringify/sync';

/** What `escape_formulas` puts a `'` in front of. */
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

export type CsvValue = string | number | boolean | null | undefined;

/**
 * A text that itself begins with `'` gets one more (`''…`): otherwise `'=1` as stored would read back as `=1`. Every
 * written cell that begins with `'` then carries exactly one added `'`, and `originalCell` always undoes it.
 */
const ownQuote = (v: CsvValue): CsvValue => (typeof v === 'string' && v.startsWith("'") ? `'${v}` : v);

/** The text a cell held before it was written (what a reader of our CSV gets back). */
export const originalCell = (cell: string): string =>
  cell.startsWith("'") && (FORMULA_START.test(cell.slice(1)) || cell.startsWith("''")) ? cell.slice(1) : cell;

const OPTIONS = {
  record_delimiter: 'windows',
  escape_formulas: true,
  // RFC 4180: a field holding a line break is quoted, a lone LF or CR included (csv-stringify quotes only the delimiter it writes).
  quoted_match: /[\r\n]/,
  cast: { boolean: (b: boolean) => (b ? 'true' : 'false') },
} as const;

/** Rows as CSV lines (for a table written page by page): CRLF line ends, fields quoted where RFC 4180 needs it; null and undefined empty. */
export const csvLines = (rows: ReadonlyArray<ReadonlyArray<CsvValue>>): string =>
  stringify(
    rows.map((r) => r.map((v) => ownQuote(v) ?? '')),
    OPTIONS,
  );

/** A table as CSV: a header row, then the rows. */
export const csvTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<CsvValue>>): string => csvLines([header, ...rows]);
