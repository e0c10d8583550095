/**
 * CSV output (RFC 4180, through csv-stringify): one place for how a cell is written, whatever command writes CSV.
 *
 * Spreadsheet formula injection: a cell whose text begins with `=`, `+`, `-`, `@`, a tab or a carriage return is
 * taken by Excel, LibreOffice and Google Sheets as a formula (`=HYPERLINK(…)`, `@SUM(…)`, DDE payloads). Stored text is
 * written by whoever can write the store, so such a cell is written with a leading `'` (OWASP's advice; spreadsheets
 * show the text as it is). Numbers and booleans are written as they are. A reader that wants the original text
 * removes one leading `'` from a cell that begins with `'` followed by one of those characters (`originalCell`).
 */
import { stringify } from 'csv-stringify/sync';

const FORMULA_START = /^[=+\-@\t\r]/;

/** A cell's text as written: text that a spreadsheet would run as a formula is prefixed with `'`; null and undefined are empty. */
export const csvCell = (v: string | number | boolean | null | undefined): string | number | boolean => {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') return v;
  return FORMULA_START.test(v) ? `'${v}` : v;
};

/** The text a cell held before `csvCell` (what a reader of our CSV gets back). */
export const originalCell = (cell: string): string => (cell.startsWith("'") && FORMULA_START.test(cell.slice(1)) ? cell.slice(1) : cell);

/** A table as CSV: a header row, then the rows; CRLF line ends, fields quoted where RFC 4180 needs it. */
export const csvTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number | boolean | null | undefined>>): string =>
  stringify([header.map(csvCell), ...rows.map((r) => r.map(csvCell))], {
    record_delimiter: 'windows',
    // RFC 4180: a field holding a line break is quoted, a lone LF or CR included (csv-stringify quotes only the delimiter it writes).
    quoted_match: /[\r\n]/,
    cast: { boolean: (b) => (b ? 'true' : 'false') },
  });
