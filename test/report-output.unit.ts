/**
 * What a compliance report is read from and written as: the policy file's codec (one clear sentence when invalid),
 * CSV cells (formula injection neutralised, every value round-tripped through csv-parse), and HTML that keeps stored
 * text as text (no markup, no script, no external reference; a CSP that forbids them).
 */
import test from 'ava';
import { parse } from 'csv-parse/sync';
import * as E from 'fp-ts/Either';
import fc from 'fast-check';
import { csvTable, originalCell } from '../src/cli/csv';
import { escapeHtml, html } from '../src/cli/html';
import { reportCsv } from '../src/cli/report-csv';
import { CSP, reportHtml } from '../src/cli/report-html';
import { decodePolicyFile, type Duration, durationMs, policyOf } from '../src/domain/report-policy';
import type { ComplianceReport } from '../src/projections/report-runner';

const runs = Number(process.env['FUZZ_RUNS'] ?? 200);

test('policy file: every member optional; durations in hours, days, weeks; flags win over the file', (t) => {
  const p = decodePolicyFile({ maxKeyAge: '90d', maxBackupAge: '36h', requireBackup: false, trust: 'A'.repeat(43) });
  t.true(E.isRight(p));
  t.deepEqual(decodePolicyFile({}), E.right({}));
  t.is(durationMs('90d' as Duration), 90 * 86_400_000);
  t.is(durationMs('36h' as Duration), 36 * 3_600_000);
  t.is(durationMs('2w' as Duration), 14 * 86_400_000);
  t.deepEqual(policyOf(E.isRight(p) ? p.right : {}, { maxKeyAge: '30d' as Duration }), {
    maxKeyAge: '30d',
    maxBackupAge: '36h',
    requireBackup: false,
    trust: 'A'.repeat(43),
  });
  t.deepEqual(policyOf({}, {}), { maxKeyAge: null, maxBackupAge: null, requireBackup: true, trust: null });
});

test('policy file: an unknown member, a bad duration, a wrong type, not an object — each one sentence naming the member', (t) => {
  t.deepEqual(decodePolicyFile({ maxKeyAgee: '90d' }), E.left('unknown member "maxKeyAgee" (known: maxKeyAge, maxBackupAge, requireBackup, trust)'));
  t.deepEqual(
    decodePolicyFile({ maxKeyAge: '90 days' }),
    E.left('member "maxKeyAge" is "90 days", which is not valid: expected a duration such as "90d" (h: hours, d: days, w: weeks)'),
  );
  t.deepEqual(decodePolicyFile({ requireBackup: 'yes' }), E.left('member "requireBackup" is "yes", which is not valid: expected true or false'));
  t.deepEqual(decodePolicyFile({ trust: 'short' }), E.left('member "trust" is "short", which is not valid: expected a thumbprint (43 base64url characters)'));
  t.deepEqual(decodePolicyFile([1]), E.left('expected a JSON object'));
  for (const bad of ['0d', '-1d', '1.5d', '1y', '9999999d', ' 1d']) t.true(E.isLeft(decodePolicyFile({ maxBackupAge: bad })), bad);
  const long = decodePolicyFile({ [`x${'\u001b'.repeat(500)}`]: 1 });
  t.true(E.isLeft(long) && long.left.length < 500 && !long.left.includes('\u001b'), 'an unknown member is shown escaped and bounded');
});

test('CSV cells: text a spreadsheet would run as a formula gets a leading quote; numbers, booleans and plain text are as they are', (t) => {
  const formulas = ['=1+1', '+SUM(A1)', '-2+3', '@cmd', '\tx', '\rx', '=HYPERLINK("http://evil","x")', '\uFF1Dcmd'];
  const plain = ['plain', "'quoted", 'a=b', ' =x'];
  const text = csvTable(
    ['a', 'b', 'c', 'd'],
    [...formulas, ...plain].map((v) => [v, -1, true, null]),
  );
  t.true(text.endsWith('\r\n'), 'CRLF line ends (RFC 4180)');
  const rows = parse(text) as string[][];
  t.deepEqual(rows[0], ['a', 'b', 'c', 'd']);
  t.deepEqual(
    rows.slice(1).map((r) => r[0]),
    [...formulas.map((v) => `'${v}`), ...plain.map((v) => (v.startsWith("'") ? `'${v}` : v))],
  );
  t.deepEqual(
    rows.slice(1).map((r) => originalCell(r[0]!)),
    [...formulas, ...plain],
  );
  t.deepEqual(rows[1]!.slice(1), ['-1', 'true', ''], 'a negative number, a boolean, null');
  t.deepEqual(parse(csvTable(['a', 'b'], [['=cmd|" /C calc"!A0', 'x,y "z"\nnext']])), [
    ['a', 'b'],
    [`'=cmd|" /C calc"!A0`, 'x,y "z"\nnext'],
  ]);
});

test("CSV: a text that already begins with ' reads back as it was (the escape is undone only where it was added)", (t) => {
  const cells = ["'=1", "'", "''", "'plain", "'+SUM(A1)", '=1', 'plain'];
  const parsed = parse(
    csvTable(
      ['c'],
      cells.map((c) => [c]),
    ),
  ) as string[][];
  t.deepEqual(
    parsed.slice(1).map((r) => originalCell(r[0]!)),
    cells,
  );
  t.is(parsed[1]![0], "''=1", 'one added quote');
});

test('CSV: any text round-trips through csv-parse and originalCell; no parsed cell begins a formula', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.array(
          fc.array(
            fc.oneof(
              fc.string({ unit: 'binary' }),
              fc.string().map((s) => `'${s}`),
            ),
            { minLength: 1, maxLength: 4 },
          ),
          { minLength: 1, maxLength: 5 },
        ),
        (rows) => {
          const width = Math.max(...rows.map((r) => r.length));
          const padded = rows.map((r) => [...r, ...Array(width - r.length).fill('')]);
          const parsed = parse(csvTable(padded[0]!, padded.slice(1)), { relax_column_count: false }) as string[][];
          return (
            parsed.length === padded.length &&
            parsed.every((r, i) => r.every((cell, j) => !/^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/.test(cell) && originalCell(cell) === padded[i]![j]))
          );
        },
      ),
      { numRuns: runs },
    ),
  );
});

test('html: every interpolated value is escaped, in text and in attributes; built pieces are kept', (t) => {
  const name = '<img src=x onerror=alert(1)>"\'&';
  t.is(
    html`<td title="${name}">${name}</td>`.text,
    '<td title="&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;">&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;</td>',
  );
  t.is(html`<tr>${[html`<td>${'<b>'}</td>`, 'x<']}</tr>`.text, '<tr><td>&lt;b&gt;</td>x&lt;</tr>');
  t.is(html`${'a\u202eb\u001b'}`.text, 'a\\u202eb\\u001b', 'bidi and control characters shown, not obeyed');
  t.is(escapeHtml('&amp;'), '&amp;amp;');
});

const HOSTILE = '<img src=x onerror=alert(1)>';
const SCRIPT = '</script><script>alert(2)</script>';

/** A report whose every stored text is hostile. */
const hostileReport = (): ComplianceReport => {
  const at = {
    stream: `keyledger.instance-${SCRIPT}`,
    revision: '0',
    position: '1/1',
    occurredAt: '2026-11-28T12:00:00.000Z',
    actor: HOSTILE,
    command: SCRIPT,
    correlationId: HOSTILE,
  };
  return {
    report: 'keyledger-compliance-report',
    version: 1,
    deploymentId: 'default',
    period: { from: null, to: '2026-11-29T00:00:00.000Z' },
    generatedAt: '2026-11-29T00:00:00.000Z',
    policy: { maxKeyAge: null, maxBackupAge: null, requireBackup: true, trust: null },
    verdict: 'findings',
    findings: [
      {
        kind: 'InstanceDisabled',
        category: 'instance',
        installationId: HOSTILE,
        summary: `instance on ${HOSTILE} is disabled`,
        remedy: { _tag: 'NotYetPossible', sentence: SCRIPT },
        evidence: { machine: HOSTILE, list: [SCRIPT] },
        events: [at],
      },
    ],
    operations: [
      {
        at,
        type: 'ConfigRead',
        class: 'key-operation',
        label: 'configuration read',
        installationId: HOSTILE,
        machineName: HOSTILE,
        instanceName: SCRIPT,
        signedBy: HOSTILE,
        keyVersion: 1,
        thumbprints: { thumbprint: HOSTILE },
        details: { serviceIdentity: SCRIPT },
      },
    ],
    membership: {
      atStart: 0,
      atEnd: 1,
      changes: [{ at, change: 'registered', installationId: HOSTILE, machineName: HOSTILE, instanceName: SCRIPT, details: {} }],
      members: [
        {
          installationId: HOSTILE,
          machineName: HOSTILE,
          instanceName: SCRIPT,
          serviceIdentity: HOSTILE,
          state: 'disabled',
          keyVersion: 1,
          thumbprint: HOSTILE,
          signingThumbprint: null,
        },
      ],
    },
    keyVersions: [{ keyVersion: 1, created: at, createdBy: HOSTILE, retired: null, backups: 0, lastBackup: null }],
    counts: { beforePeriod: 0, inPeriod: 1, afterPeriod: 0, byType: { ConfigRead: 1 } },
    integrity: { events: 1, heads: { [SCRIPT]: { revision: '0', hash: HOSTILE } }, hashProblems: [], signatures: { status: 'not-anchored' } },
  };
};

test('the HTML report: stored text shown as text everywhere (tables, timeline titles, labels), no script, no external reference, a CSP', (t) => {
  const page = reportHtml(hostileReport());
  t.false(page.includes('<img'), 'no img element');
  t.false(/<script/i.test(page), 'no script element');
  t.false(page.includes('</script>'));
  t.true(page.includes('&lt;img src=x onerror=alert(1)&gt;'), 'the machine name shown, escaped');
  t.true(page.includes(`<meta http-equiv="Content-Security-Policy" content="${CSP.replace(/'/g, '&#39;')}">`));
  // The only URL is the SVG namespace (a name, never fetched); no src, href or url(...) anywhere.
  t.deepEqual(page.match(/https?:\/\/[^"\s<]*/g), ['http://www.w3.org/2000/svg']);
  t.false(/<[^>]*\s(src|href)\s*=/i.test(page), 'no src or href attribute on any element');
  t.false(/url\(/i.test(page));
  t.regex(page, /<svg class="timeline"/);
  t.regex(page, /<title>[^<]*&lt;img src=x onerror=alert\(1\)&gt;[^<]*<\/title>/, 'the timeline mark says who, escaped');
  t.regex(page, /@media print/);
});

test('the CSV report: one table, parsed back by csv-parse; the hostile values are there, neutralised where a spreadsheet would run them', (t) => {
  const r = hostileReport();
  const rows = parse(reportCsv({ ...r, operations: [{ ...r.operations[0]!, machineName: '=HYPERLINK("http://evil")' }] }), { columns: true }) as Array<
    Record<string, string>
  >;
  t.deepEqual(
    rows.map((x) => x['section']),
    ['report', 'finding', 'operation', 'membership', 'member', 'integrity', 'integrity'],
  );
  const op = rows.find((x) => x['section'] === 'operation')!;
  t.is(op['machine'], `'=HYPERLINK("http://evil")`);
  t.is(originalCell(op['machine']!), '=HYPERLINK("http://evil")');
  t.is(op['instance'], SCRIPT);
  t.is(op['key_version'], '1');
});
