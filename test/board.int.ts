/**
 * The dashboard's instances board for large fleets (docs/adr/0019, addendum), through the server in process
 * (app.inject, and a real connection for the server-sent events): the instances that need attention first, the counts
 * by state, filter, search and pages in the URL, a bad query a 400 that says what is wrong, stored and typed text escaped
 * in the new places, and a viewer's events carrying its own page only — nothing when that page did not change.
 * The page size is 2 here, so six instances make three pages (the server's default is 100).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import test from 'ava';
import fc from 'fast-check';
import { tempDir } from './support/fixtures';
import { issueToken, type Served, serve } from './support/http';
import { activatedDeployment, editConfig, newNode, type TestNode } from './support/nodes';

const HOSTILE = '<img src=x onerror=alert(1)>';

interface World {
  readonly a: TestNode;
  readonly b: TestNode;
  readonly c: TestNode;
  readonly d: TestNode;
  readonly e: TestNode;
  readonly evil: TestNode;
  readonly dir: string;
  readonly served: Served;
  readonly cookie: string;
  readonly identityOfC: string;
}

/** A served and D activated; C disabled (its service identity changed); B and EVIL (a hostile machine name) waiting to join; E removed. */
const world = (async (): Promise<World> => {
  const dir = tempDir('kl-board');
  const [a, c, d, e] = (await activatedDeployment(dir, ['A', 'C', 'D', 'E'])) as [TestNode, TestNode, TestNode, TestNode];
  const b = await newNode(dir, 'B');
  const evil = await newNode(dir, 'EVIL', ['--machine', HOSTILE]);
  if ((await b.run('init')).code !== 1 || (await evil.run('init')).code !== 1) throw new Error('setup: B and EVIL should wait to join');
  if ((await a.run('remove', e.id)).code !== 0) throw new Error('setup: remove E');
  const identityOfC = (JSON.parse(fs.readFileSync(c.file, 'utf8')) as { serviceIdentity: string }).serviceIdentity;
  editConfig(c, { serviceIdentity: 'svc-elsewhere' });
  if ((await c.run('start')).code !== 1) throw new Error('setup: C should be disabled');
  const auditor = await issueToken(a, 'auditor', 'auditor@contoso');
  const served = await serve(a, { boardPageSize: 2 });
  return { a, b, c, d, e, evil, dir, served, cookie: `keyledger_token=${encodeURIComponent(auditor)}`, identityOfC };
})();

test.after.always(async () => (await world).served.close());

const get = async (url: string) => {
  const w = await world;
  return w.served.server.app.inject({ method: 'GET', url, headers: { cookie: w.cookie } });
};

const idsIn = (rows: string): string[] => [...rows.matchAll(/<tr data-installation="([^"]+)"/g)].map((m) => m[1] as string);
const statesIn = (rows: string): string[] => [...rows.matchAll(/<tr data-installation="[^"]+" data-state="([^"]+)"/g)].map((m) => m[1] as string);
const countOf = (body: string, state: string): number => Number(new RegExp(`data-state="${state}" data-count="(\\d+)"`).exec(body)?.[1] ?? -1);
const pagerOf = (body: string): string => /<p class="pager"[^>]*>([\s\S]*?)<\/p>/.exec(body)?.[1] ?? '';

test.serial('the board: not-activated instances first, counts by state, three pages of two, previous and next links', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const pages = await Promise.all([1, 2, 3].map((n) => get(`/dashboard?page=${n}`)));
  for (const p of pages) t.is(p.statusCode, 200, p.body);
  const rows = pages.map((p) => idsIn(p.body));
  t.deepEqual(
    rows.map((r) => r.length),
    [2, 2, 2],
  );
  t.deepEqual(
    pages.flatMap((p) => statesIn(p.body)),
    ['disabled', 'waiting-to-join', 'waiting-to-join', 'removed', 'activated', 'activated'],
  );
  t.deepEqual(rows.flat().sort(), [w.a.id, w.b.id, w.c.id, w.d.id, w.e.id, w.evil.id].sort(), 'every instance once');
  t.deepEqual(rows[0]?.[0], w.c.id, 'the disabled one first');
  t.deepEqual(rows[2], [w.a.id, w.d.id], 'the activated ones last, by machine name');
  const first = pages[0]?.body ?? '';
  t.deepEqual(
    ['all', 'disabled', 'waiting-to-join', 'initializing', 'removed', 'activated'].map((s) => countOf(first, s)),
    [6, 1, 2, 0, 1, 2],
  );
  t.true(first.includes('href="/dashboard?state=waiting-to-join" class="count state-waiting-to-join"'), 'a count is a link that filters by its state');
  t.regex(pagerOf(first), /^rows 1–2 of 6 · page 1 of 3 /);
  t.regex(first, new RegExp(`<li data-kind="RemovedMemberHoldsKey"><span class="finding">RemovedMemberHoldsKey</span> removed member ${w.e.id} `));
  t.false(rows.length > 0 && /<td><span class="finding"[^>]*>RemovedMemberHoldsKey/.test(first), 'once above the board, not on each row');
  t.false(first.includes('rel="prev"'));
  t.true(first.includes('<a rel="next" href="/dashboard?page=2">'));
  t.regex(pagerOf(pages[1]?.body ?? ''), /^rows 3–4 of 6 .*<a rel="prev" href="\/dashboard">.*<a rel="next" href="\/dashboard\?page=3">/);
  t.regex(pagerOf(pages[2]?.body ?? ''), /^rows 5–6 of 6 /);
  t.false((pages[2]?.body ?? '').includes('rel="next"'));
  const past = await get('/dashboard?page=9');
  t.is(past.statusCode, 200, 'a bookmark past the end is not a bad query');
  t.deepEqual(idsIn(past.body), []);
  t.regex(past.body, /page 9 is past the last page \(3\)/);
  t.true(past.body.includes('<a href="/dashboard?page=3">the last page</a>'));
});

test.serial('filter by state and search machine, instance or installation ID (any case), kept in every link', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const waiting = await get('/dashboard?state=waiting-to-join');
  t.deepEqual(idsIn(waiting.body).sort(), [w.b.id, w.evil.id].sort());
  t.regex(pagerOf(waiting.body), /^rows 1–2 of 2 waiting to join · page 1 of 1/);
  t.is(countOf(waiting.body, 'activated'), 2, 'the counts stay those of every state');
  t.true(waiting.body.includes('data-state="waiting-to-join" data-count="2" aria-current="page"'));
  t.true(waiting.body.includes('<input type="hidden" name="state" value="waiting-to-join">'), 'a search keeps the state');
  t.deepEqual(idsIn((await get('/dashboard?q=rs-c')).body), [w.c.id], 'machine name, lower case');
  t.deepEqual(idsIn((await get(`/dashboard?q=${w.d.id.slice(-12).toUpperCase()}`)).body), [w.d.id], 'installation ID, upper case');
  const byInstance = await get('/dashboard?q=EvI');
  t.deepEqual(idsIn(byInstance.body), [w.evil.id], 'instance name');
  t.is(countOf(byInstance.body, 'all'), 1, 'the counts are those of what the search selects');
  const paged = await get('/dashboard?q=rs-&page=2');
  t.deepEqual(idsIn(paged.body), [w.e.id, w.a.id], 'RS-A … RS-E without EVIL: C, B | E, A | D');
  t.true(paged.body.includes('<a rel="prev" href="/dashboard?q=rs-">'), 'the search kept in the page links');
  t.true(paged.body.includes('href="/dashboard?state=removed&amp;q=rs-"'), 'and in the count links (escaped in the attribute)');
  const none = await get('/dashboard?state=initializing&q=rs-');
  t.deepEqual(idsIn(none.body), []);
  t.regex(none.body, /no instance matches this filter/);
  t.true((await get('/dashboard?q=')).body.includes('rows 1–2 of 6'), 'an empty search box is every instance');
});

test.serial('a bad board query: a 400 page or answer that says what is wrong, never the value, never a stack trace', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const cases: ReadonlyArray<[string, RegExp]> = [
    ['page=0', /query member "page" is not valid: expected a page number/],
    ['page=two', /query member "page" is not valid/],
    ['page=1&page=2', /query member "page" is not valid/],
    [
      'state=%3Cscript%3Ealert(1)%3C%2Fscript%3E',
      /query member "state" is not valid: expected one of disabled, waiting-to-join, initializing, removed, activated/,
    ],
    [`q=${'x'.repeat(129)}`, /query member "q" is not valid: expected .* at most 128 characters/],
    ['sort=machine', /the board query has a member it does not take \("sort"\); it takes: state, q, page/],
  ];
  for (const [query, message] of cases) {
    const page = await get(`/dashboard?${query}`);
    t.is(page.statusCode, 400, query);
    t.is(page.headers['content-type'], 'text/html; charset=utf-8');
    t.regex(page.body.replaceAll('&quot;', '"'), message, query);
    t.false(page.body.includes('alert(1)'), 'the value is not echoed');
    t.false(/\n\s+at |node:internal|\.js:\d+/.test(page.body), 'no stack trace');
    const events = await get(`/dashboard/events?${query}`);
    t.is(events.statusCode, 400, query);
    t.is(events.json<{ error: string }>().error, 'UsageError');
    t.regex(events.json<{ message: string }>().message, message);
  }
  // Any query at all: a page (200) or a typed 400, never a failure of the server.
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(fc.constantFrom('state', 'q', 'page', 'x'), fc.oneof(fc.string(), fc.constantFrom('1', '2', 'removed', 'activated', '%', '%ZZ'))),
      async (query) => {
        const r = await w.served.server.app.inject({ method: 'GET', url: '/dashboard', query, headers: { cookie: w.cookie } });
        if (r.statusCode !== 200 && r.statusCode !== 400) throw new Error(`${r.statusCode}: ${r.body}`);
        if (/\n\s+at |node:internal|\.js:\d+/.test(r.body)) throw new Error(`a stack trace: ${r.body}`);
      },
    ),
    { numRuns: 150 },
  );
});

test.serial('hostile text in the new places: the search echoed in the box, the summary and the links, and a machine name found by it', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const typed = '"><img src=x onerror=alert(1)>';
  const page = await get(`/dashboard?q=${encodeURIComponent(typed)}`);
  t.is(page.statusCode, 200);
  t.false(page.body.includes('<img'), 'no element made of it');
  t.true(page.body.includes('value="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"'), 'the search box holds it as text');
  t.true(page.body.includes('matching “&quot;&gt;&lt;img src=x onerror=alert(1)&gt;”'));
  t.true(page.body.includes('href="/dashboard?state=disabled&amp;q=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"'), 'URL-encoded in the links');
  const found = await get('/dashboard?q=onerror');
  t.deepEqual(idsIn(found.body), [w.evil.id]);
  t.false(found.body.includes('<img'));
  t.true(found.body.includes('<td>&lt;img src=x onerror=alert(1)&gt;</td>'), HOSTILE);
});

/** A client of /dashboard/events over a real connection: the board events it was sent, in order. */
const subscribe = (url: string, cookie: string) => {
  const events: Array<{ readonly summary: string; readonly rows: string }> = [];
  let wake: () => void = () => undefined;
  const request = http.get(url, { headers: { cookie, accept: 'text/event-stream' } }, (res) => {
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (/^event: board$/m.test(frame) && data) events.push(JSON.parse(data) as { summary: string; rows: string });
      }
      wake();
    });
  });
  request.on('error', () => undefined);
  return {
    events,
    /** Resolves once `n` events came; fails after `ms`. */
    until: (n: number, what: string, ms = 15_000): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what} (${events.length} events)`)), ms);
        const check = (): void => {
          if (events.length < n) return;
          clearTimeout(timer);
          wake = () => undefined;
          resolve();
        };
        wake = check;
        check();
      }),
    close: () => request.destroy(),
  };
};

test.serial('server-sent events: a viewer of page 2 is sent page 2 of its search, and nothing while that page does not change', async (t) => {
  t.timeout(90_000);
  const w = await world;
  const base = w.served.server.url;
  const query = 'q=rs-&page=2';
  const pageTwo = subscribe(`${base}/dashboard/events?${query}`, w.cookie);
  const everything = subscribe(`${base}/dashboard/events`, w.cookie);
  t.teardown(() => {
    pageTwo.close();
    everything.close();
  });
  await pageTwo.until(1, 'the first push of page 2');
  await everything.until(1, 'the first push of the whole board');
  const first = pageTwo.events[0];
  t.deepEqual(idsIn(first?.rows ?? ''), [w.e.id, w.a.id], 'page 2 of the search: E, A');
  t.deepEqual(idsIn(first?.rows ?? ''), idsIn((await get(`/dashboard?${query}`)).body), 'what the page itself shows');
  t.regex(first?.summary ?? '', /rows 3–4 of 5 matching “rs-”/);
  t.deepEqual(idsIn(everything.events[0]?.rows ?? ''), [w.c.id, w.evil.id], 'the other viewer: page 1 of everything');

  // A newcomer outside the search (machine WEB-F): the whole board's counts change, page 2 of "rs-" does not. Both
  // viewers are looked at in the same push; once the whole board's viewer has its push, page 2's had its chance.
  const f = await newNode(w.dir, 'F', ['--machine', 'WEB-F']);
  t.is((await f.run('init')).code, 1, 'F waits to join');
  await everything.until(2, 'the whole board after F');
  t.is(countOf(everything.events[1]?.summary ?? '', 'waiting-to-join'), 3);
  t.is(pageTwo.events.length, 1, 'nothing sent to page 2: its rows and counts did not change');

  // C back under its own identity starts activated: page 2 of "rs-" becomes A, C.
  editConfig(w.c, { serviceIdentity: w.identityOfC });
  t.is((await w.c.run('start')).code, 0);
  await pageTwo.until(2, 'page 2 after C activated');
  t.deepEqual(idsIn(pageTwo.events[1]?.rows ?? ''), [w.a.id, w.c.id]);
  t.deepEqual(statesIn(pageTwo.events[1]?.rows ?? ''), ['activated', 'activated']);
  t.regex(pageTwo.events[1]?.summary ?? '', /rows 3–4 of 5 matching “rs-”/);
  t.false(
    pageTwo.events.some((e) => e.rows.includes(f.id)),
    'F is not in a search for rs-',
  );
});
