/**
 * The board's pure functions (src/http/board.ts) over a synthetic view of a big fleet — 5,000 instances, no ledger:
 * the order (what needs attention first), the counts, the search, the pages and what one page costs to send (its rows,
 * not the fleet's); the query codec and the URLs it reads back; and the per-deployment counts status.ts now keeps
 * (the board of a fleet was quadratic in them).
 */
import test from 'ava';
import fc from 'fast-check';
import * as E from 'fp-ts/Either';
import { ALL, BOARD_STATES, type BoardFilter, type BoardState, boardHref, boardPage, decodeBoardQuery, renderBoard } from '../src/http/board';
import { otherHolders } from '../src/projections/status';
import { type FleetMember, type FleetState, fleetId, fleetView } from './support/fleet-view';

const FLEET = 5000;

/** Every 50th disabled, 70th waiting, 90th removed (every other one of those still holding the key), 110th initializing; the rest activated. */
const stateOf = (n: number): FleetState =>
  n % 50 === 7
    ? 'disabled'
    : n % 70 === 3
      ? 'waiting-to-join'
      : n % 90 === 1
        ? n % 180 === 1
          ? 'removed-holding'
          : 'removed'
        : n % 110 === 5
          ? 'initializing'
          : 'activated';

const members: ReadonlyArray<FleetMember> = Array.from({ length: FLEET }, (_, n) => ({ state: stateOf(n), machineName: `RS-${String(n).padStart(4, '0')}` }));
const view = fleetView(members);
const expected = (s: BoardState): number => members.filter((m) => (m.state === 'removed-holding' ? 'removed' : m.state) === s).length;

const idsIn = (rows: string): string[] => [...rows.matchAll(/<tr data-installation="([^"]+)"/g)].map((m) => m[1] as string);

test('5,000 instances: the not-activated ones first (removed ones holding the current key before the other removed), in machine order within each', (t) => {
  const all = boardPage(view, ALL, FLEET).entries;
  t.is(all.length, FLEET);
  const order = all.map((e) => BOARD_STATES.indexOf(e.state));
  t.true(
    order.every((o, i) => i === 0 || (order[i - 1] as number) <= o),
    'states in the board order',
  );
  t.deepEqual([...new Set(all.map((e) => e.state))], [...BOARD_STATES]);
  const removed = all.filter((e) => e.state === 'removed').map((e) => members[Number.parseInt(e.status.view.installationId.slice(-12), 16)]?.state);
  const firstPlain = removed.indexOf('removed');
  t.true(firstPlain > 0 && removed.slice(0, firstPlain).every((s) => s === 'removed-holding') && removed.slice(firstPlain).every((s) => s === 'removed'));
  const disabled = all.filter((e) => e.state === 'disabled').map((e) => e.status.view.machineName ?? '');
  t.deepEqual(disabled, [...disabled].sort(), 'by machine name within a state');
});

test('an activated instance with a finding of its own comes before the other activated ones, with its finding on its row', (t) => {
  const v = fleetView([{ state: 'activated' }, { state: 'activated', presentedFrom: ['RS-1', 'RS-CLONE'] }, { state: 'activated' }]);
  t.deepEqual(
    boardPage(v, ALL).entries.map((e) => e.status.view.installationId),
    [fleetId(1), fleetId(0), fleetId(2)],
  );
  const rows = renderBoard(v, ALL, 'auditor', fleetId(0)).rows.text;
  t.regex(rows, new RegExp(`data-installation="${fleetId(1)}"[\\s\\S]*?<span class="finding"[^>]*>InstallationClaimedByTwoMachines</span>`));
});

test('5,000 instances: a page is 100 rows, with the counts of the whole fleet and rows a–b of N', (t) => {
  const first = renderBoard(view, ALL, 'auditor', fleetId(0));
  const rows = idsIn(first.rows.text);
  t.is(rows.length, 100, 'one page, not the fleet');
  t.is(rows[0], boardPage(view, ALL).entries[0]?.status.view.installationId);
  for (const s of BOARD_STATES) t.regex(first.summary.text, new RegExp(`data-state="${s}" data-count="${expected(s)}"`), s);
  t.regex(first.summary.text, /data-state="all" data-count="5000"/);
  t.regex(first.summary.text, /rows 1–100 of 5,000 · page 1 of 50 /);
  t.true(first.rows.text.length < 150_000, `a page's rows are bounded by the page size (${first.rows.text.length} characters)`);
  const holding = members.filter((m) => m.state === 'removed-holding').length;
  t.false(first.rows.text.includes('RemovedMemberHoldsKey'), "a deployment's findings are not repeated on every member's row");
  t.is([...first.summary.text.matchAll(/<li data-kind="RemovedMemberHoldsKey">/g)].length, 10, 'but shown above the board, ten of them');
  t.true(first.summary.text.includes(`and ${holding - 10} more like these (keyledger list shows every one)`));
  const last = renderBoard(view, { ...ALL, page: 50 }, 'auditor', fleetId(0));
  t.is(idsIn(last.rows.text).length, 100);
  t.regex(last.summary.text, /rows 4,901–5,000 of 5,000 · page 50 of 50 /);
  const pages = Array.from({ length: 50 }, (_, i) => boardPage(view, { ...ALL, page: i + 1 }).entries.map((e) => e.status.view.installationId));
  t.is(new Set(pages.flat()).size, FLEET, 'the 50 pages hold every instance once');
  t.deepEqual(idsIn(renderBoard(view, { ...ALL, page: 51 }, 'auditor', fleetId(0)).rows.text), []);
});

test('5,000 instances: a state and a search select, and the counts are those of the search', (t) => {
  const disabled = boardPage(view, { ...ALL, state: 'disabled' });
  t.is(disabled.matched, expected('disabled'));
  t.true(disabled.entries.every((e) => e.state === 'disabled'));
  const search = boardPage(view, { state: null, q: 'rs-012', page: 1 });
  t.deepEqual(
    search.entries.map((e) => e.status.view.machineName).sort(),
    Array.from({ length: 10 }, (_, i) => `RS-012${i}`),
  );
  t.is(search.searched, 10);
  t.is(
    Object.values(search.counts).reduce((a, b) => a + b, 0),
    10,
  );
  const byId = boardPage(view, { state: null, q: fleetId(4321).slice(-6).toUpperCase(), page: 1 });
  t.true(byId.entries.some((e) => e.status.view.installationId === fleetId(4321)));
  t.true(byId.entries.every((e) => e.status.view.installationId.includes(fleetId(4321).slice(-6))));
  t.is(boardPage(view, { state: 'waiting-to-join', q: 'no such machine', page: 1 }).matched, 0);
});

test('a page is rendered once per view, filter and role, whoever asks; operator buttons only for operators', (t) => {
  const f: BoardFilter = { state: 'waiting-to-join', q: '', page: 1 };
  t.is(renderBoard(view, f, 'auditor', fleetId(0)), renderBoard(view, f, 'auditor', fleetId(0)));
  t.false(renderBoard(view, f, 'auditor', fleetId(0)).rows.text.includes('data-action='));
  t.true(renderBoard(view, f, 'operator', fleetId(0)).rows.text.includes('data-action="join"'));
  // A new view (the next change): rendered afresh from it.
  const next = fleetView(members.map((m, n) => (n === 3 ? { ...m, state: 'activated' } : m)));
  t.not(renderBoard(next, f, 'auditor', fleetId(0)), renderBoard(view, f, 'auditor', fleetId(0)));
  t.false(renderBoard(next, f, 'auditor', fleetId(0)).rows.text.includes(fleetId(3)));
});

test('hostile machine and instance names are text on the board, and a search finds them', (t) => {
  const hostile = '<script>alert(1)</script>';
  const v = fleetView([
    { state: 'disabled', machineName: hostile, instanceName: '"><img src=x onerror=alert(2)>' },
    { state: 'activated', machineName: 'RS-1' },
  ]);
  const r = renderBoard(v, { state: null, q: '<SCRIPT>', page: 1 }, 'operator', fleetId(1));
  t.deepEqual(idsIn(r.rows.text), [fleetId(0)]);
  t.false(r.rows.text.includes('<script>') || r.rows.text.includes('<img'));
  t.true(r.rows.text.includes('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>&quot;&gt;&lt;img src=x onerror=alert(2)&gt;</td>'));
  t.false(r.summary.text.includes('<SCRIPT>'));
  t.true(r.summary.text.includes('matching “&lt;SCRIPT&gt;”'));
  t.true(r.summary.text.includes('href="/dashboard?state=disabled&amp;q=%3CSCRIPT%3E"'));
});

test('the query: what boardHref writes decodes back to the same filter; anything else is a usage error that never holds the value', (t) => {
  const filter = fc.record({
    state: fc.constantFrom(null, ...BOARD_STATES),
    q: fc.string({ maxLength: 128 }).map((s) => s.trim()),
    page: fc.integer({ min: 1, max: 999_999 }),
  });
  fc.assert(
    fc.property(filter, (f) => {
      const query = Object.fromEntries(new URL(boardHref(f), 'http://localhost').searchParams);
      const back = decodeBoardQuery(query);
      return E.isRight(back) && back.right.state === f.state && back.right.q === f.q && back.right.page === f.page;
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom('state', 'q', 'page', 'other'), fc.oneof(fc.string(), fc.array(fc.string()), fc.integer())), (query) => {
      const r = decodeBoardQuery(query);
      if (E.isRight(r)) return typeof query['other'] === 'undefined';
      t.is(r.left._tag, 'UsageError');
      for (const v of Object.values(query)) if (typeof v === 'string' && v.length >= 4 && !/^[\w -]+$/.test(v)) t.false(r.left.message.includes(v));
      return true;
    }),
    { numRuns: 300 },
  );
  t.deepEqual(decodeBoardQuery({}), E.right(ALL));
  t.deepEqual(decodeBoardQuery({ q: '  RS-7  ', page: '3' }), E.right({ state: null, q: 'RS-7', page: 3 }));
  t.true(E.isLeft(decodeBoardQuery({ page: '0' })));
  t.true(E.isLeft(decodeBoardQuery({ page: '1000000' })));
  t.true(E.isLeft(decodeBoardQuery({ page: '01' })));
  t.true(E.isLeft(decodeBoardQuery({ state: 'not-initialized' })));
});

test("who could sponsor a join: each member's count of the others holding the current key, as counting every copy says", (t) => {
  const d = view.deployments['default'];
  if (!d) return t.fail('no deployment');
  const naive = (id: string): number =>
    Object.entries(d.copies).filter(([who, c]) => who !== id && c.keyVersion === d.currentKeyVersion && d.registered[who] !== undefined).length;
  for (const n of [0, 3, 7, 91, 181, 4999]) t.is(otherHolders(d, fleetId(n)), naive(fleetId(n)), stateOf(n));
  t.is(otherHolders(d, fleetId(7).toUpperCase()), naive(fleetId(7)), 'any case');
  t.is(otherHolders(d, ''), naive(''));
});
