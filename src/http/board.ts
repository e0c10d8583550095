/**
 * The dashboard's instances board for fleets of any size (docs/adr/0019, addendum): the instances that need attention
 * first, per-state counts, a search and pages of a fixed size — all in the URL (`?state=&q=&page=`), decoded by one io-ts
 * codec — and the rendering of one page, which is all a viewer is sent, on the page and over server-sent events. Pure:
 * a view in, HTML out (every stored text through the escaping `html` tag).
 *
 * The order: disabled, waiting to join, initializing, removed while holding the deployment's current key version, other
 * removed ones, activated ones with a finding of their own, then the other activated ones; within each, by machine,
 * instance and installation ID (`listInstances`'s order). A finding about a whole deployment (a removed member that may
 * hold its key, a deletion not finished) is shown once above the board, not on each member's row. What a view costs to
 * sort and count is paid once per view (a view is never changed: a new one comes with each change), whoever and however
 * many are watching.
 */
import * as E from 'fp-ts/Either';
import * as t from 'io-ts';
import { type Html, html } from '../cli/html';
import type { CliError } from '../cli/errors';
import { membershipOf, notActivatedLine } from '../cli/render';
import { decodeProblems } from '../domain/decode-errors';
import { explainRefusal } from '../domain/refusal';
import { remedyText } from '../domain/remedy';
import type { ActivationView } from '../projections/activation';
import { deploymentWideFindings, type Finding, findingsFor, isDeploymentWide } from '../projections/findings';
import { type InstanceStatus, listInstances } from '../projections/status';
import type { Principal } from './auth';

// ─── The query ────────────────────────────────────────────────────────────

/** The states a listed instance can be in, in the board's order. */
export const BOARD_STATES = ['disabled', 'waiting-to-join', 'initializing', 'removed', 'activated'] as const;
export type BoardState = (typeof BOARD_STATES)[number];

/** Rows on a page: a fixed size, so a page's URL names the same rows for everyone. */
export const PAGE_SIZE = 100;

const MAX_SEARCH = 128;

/** What is searched for: at most 128 characters (empty: everything, as a search form sends it). */
const SearchText = t.brand(t.string, (s): s is t.Branded<string, { readonly SearchText: unique symbol }> => s.length <= MAX_SEARCH, 'SearchText');

/** A page number as a query carries it: 1 to 999999, digits only. */
const PageNumber = new t.Type<number, string, unknown>(
  'PageNumber',
  (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 1 && u <= 999_999,
  (u, c) => (typeof u === 'string' && /^[1-9][0-9]{0,5}$/.test(u) ? t.success(Number(u)) : t.failure(u, c)),
  String,
);

/** `?state=<state>&q=<text>&page=<n>` of /dashboard and /dashboard/events. */
export const BoardQuery = t.exact(
  t.partial({
    state: t.keyof(Object.fromEntries(BOARD_STATES.map((s) => [s, null])) as Record<BoardState, null>, 'BoardState'),
    q: SearchText,
    page: PageNumber,
  }),
  'BoardQuery',
);

const EXPECTED: Readonly<Record<keyof t.TypeOf<typeof BoardQuery>, string>> = {
  state: `one of ${BOARD_STATES.join(', ')}`,
  q: `a part of a machine name, instance name or installation ID, at most ${MAX_SEARCH} characters`,
  page: 'a page number: 1 to 999999, digits only',
};

/** A decoded board query: no state (every state), the search as typed, trimmed ('': everything), the page from 1. */
export interface BoardFilter {
  readonly state: BoardState | null;
  readonly q: string;
  readonly page: number;
}

export const ALL: BoardFilter = { state: null, q: '', page: 1 };

export type BadBoardQuery = Extract<CliError, { readonly _tag: 'UsageError' }>;

const bad = (message: string): E.Either<BadBoardQuery, never> => E.left({ _tag: 'UsageError', message });

/**
 * The query of a board request as a filter, or a usage error saying which member is wrong and what it must be — never
 * the value (echoed, it would be the one thing on the page not from this server). Members it does not take, a member
 * given twice (an array): refused.
 */
export const decodeBoardQuery = (query: unknown): E.Either<BadBoardQuery, BoardFilter> => {
  const v = query === undefined || query === null ? {} : query;
  if (typeof v !== 'object' || Array.isArray(v)) return bad('the board query must be name=value pairs');
  const unknown = Object.keys(v).filter((k) => !Object.hasOwn(EXPECTED, k));
  if (unknown.length > 0)
    return bad(
      `the board query has ${unknown.length === 1 ? 'a member' : 'members'} it does not take (${unknown
        .slice(0, 3)
        .map((k) => JSON.stringify(k.slice(0, 40)))
        .join(', ')}); it takes: state, q, page`,
    );
  const decoded = BoardQuery.decode(v);
  if (E.isLeft(decoded)) {
    const member = (decodeProblems(decoded.left)[0]?.path.split('.')[0] ?? '') as keyof typeof EXPECTED;
    return bad(`query member "${member}" is not valid: expected ${EXPECTED[member] ?? 'state, q or page'}`);
  }
  const d = decoded.right;
  return E.right({ state: d.state ?? null, q: (d.q ?? '').trim(), page: d.page ?? 1 });
};

/** The board's URL for a filter (the page left out when it is the first). */
export const boardHref = (f: BoardFilter): string => {
  const p = [...(f.state ? [`state=${f.state}`] : []), ...(f.q ? [`q=${encodeURIComponent(f.q)}`] : []), ...(f.page > 1 ? [`page=${f.page}`] : [])];
  return p.length > 0 ? `/dashboard?${p.join('&')}` : '/dashboard';
};

// ─── The model: every instance, in the board's order ──────────────────────

type Listed = Exclude<InstanceStatus, { readonly state: 'not-initialized' }>;

export interface BoardEntry {
  readonly status: Listed;
  readonly state: BoardState;
  /** Its place in the board's order (0 first). */
  readonly rank: number;
  /** Machine name, instance name and installation ID in lower case: what a search looks in. */
  readonly searched: ReadonlyArray<string>;
}

/** An instance's findings about its own keys; those about its deployment as a whole are shown once, above the board. */
const ownFindings = (v: ActivationView, id: string): ReadonlyArray<Finding> => findingsFor(v, id).filter((f) => !isDeploymentWide(f));

const hasOwnFinding = (v: ActivationView, id: string): boolean => ownFindings(v, id).length > 0;

/** Removed while holding a copy of the deployment's current key version: that key must be re-created. */
const removedHolding = (v: ActivationView, s: Listed): boolean => {
  const d = s.view.deploymentId === null ? undefined : v.deployments[s.view.deploymentId];
  const removal = d?.removed[s.view.installationId.toLowerCase()];
  return d !== undefined && d.currentKeyVersion !== null && removal?.revokedKeyVersion === d.currentKeyVersion;
};

const rankOf = (v: ActivationView, s: Listed): number => {
  switch (s.state) {
    case 'disabled':
      return 0;
    case 'waiting-to-join':
      return 1;
    case 'initializing':
      return 2;
    case 'removed':
      return removedHolding(v, s) ? 3 : 4;
    case 'activated':
      return hasOwnFinding(v, s.view.installationId) ? 5 : 6;
  }
};

interface Counted {
  readonly entries: ReadonlyArray<BoardEntry>;
  readonly counts: Readonly<Record<BoardState, number>>;
}

interface Model {
  readonly all: ReadonlyArray<BoardEntry>;
  /** Per search, then per state: what a viewer's filter selects, computed once per view. */
  readonly selections: Map<string, Counted>;
  /** Rendered pages, per role, filter and page size. */
  readonly rendered: Map<string, RenderedBoard>;
}

/** A view's entries, selections and rendered pages: each view is never changed, so what is computed for it holds. */
const models = new WeakMap<ActivationView, Model>();

/** Bound on the selections and pages kept per view (each view lives until the next change). */
const KEPT = 256;

const modelOf = (v: ActivationView): Model => {
  const found = models.get(v);
  if (found) return found;
  const all = listInstances(v)
    .filter((s): s is Listed => s.state !== 'not-initialized')
    .map((status, order) => ({
      entry: {
        status,
        state: status.state,
        rank: rankOf(v, status),
        searched: [status.view.machineName ?? '', status.view.instanceName ?? '', status.view.installationId].map((x) => x.toLowerCase()),
      },
      order,
    }))
    .sort((a, b) => a.entry.rank - b.entry.rank || a.order - b.order)
    .map((x) => x.entry);
  const model: Model = { all, selections: new Map(), rendered: new Map() };
  models.set(v, model);
  return model;
};

const remember = <V>(m: Map<string, V>, key: string, value: V): V => {
  if (m.size >= KEPT) m.clear();
  m.set(key, value);
  return value;
};

const countsOf = (entries: ReadonlyArray<BoardEntry>): Record<BoardState, number> => {
  const counts = Object.fromEntries(BOARD_STATES.map((s) => [s, 0])) as Record<BoardState, number>;
  for (const e of entries) counts[e.state]++;
  return counts;
};

/** The entries a search selects (case-insensitive) and their counts by state (every entry when the search is empty). */
const searched = (m: Model, search: string): Counted => {
  const q = search.toLowerCase();
  const key = `q\u0000${q}`;
  const found = m.selections.get(key);
  if (found) return found;
  const entries = q === '' ? m.all : m.all.filter((e) => e.searched.some((f) => f.includes(q)));
  return remember(m.selections, key, { entries, counts: countsOf(entries) });
};

const selected = (m: Model, f: BoardFilter): ReadonlyArray<BoardEntry> => {
  const s = searched(m, f.q);
  if (f.state === null) return s.entries;
  const key = `s\u0000${f.state}\u0000${f.q.toLowerCase()}`;
  const found = m.selections.get(key);
  if (found) return found.entries;
  const state = f.state;
  return remember(m.selections, key, { entries: s.entries.filter((e) => e.state === state), counts: s.counts }).entries;
};

// ─── One page ─────────────────────────────────────────────────────────────

export interface BoardPage {
  readonly filter: BoardFilter;
  readonly pageSize: number;
  /** Instances the search selects, by state (every instance when there is no search). */
  readonly counts: Readonly<Record<BoardState, number>>;
  /** Instances the search selects, in every state. */
  readonly searched: number;
  /** Instances the search and the state select: what the pages divide. */
  readonly matched: number;
  /** The last page (1 when nothing matches). */
  readonly pages: number;
  /** The page's rows, 1-based, as "rows from–to of matched" (0–0 when the page has none). */
  readonly from: number;
  readonly to: number;
  readonly entries: ReadonlyArray<BoardEntry>;
}

/** The rows of one page of the board and what the page says about them. */
export const boardPage = (v: ActivationView, f: BoardFilter, pageSize = PAGE_SIZE): BoardPage => {
  const m = modelOf(v);
  const s = searched(m, f.q);
  const rows = selected(m, f);
  const start = (f.page - 1) * pageSize;
  const entries = rows.slice(start, start + pageSize);
  return {
    filter: f,
    pageSize,
    counts: s.counts,
    searched: s.entries.length,
    matched: rows.length,
    pages: Math.max(1, Math.ceil(rows.length / pageSize)),
    from: entries.length > 0 ? start + 1 : 0,
    to: start + entries.length,
    entries,
  };
};

// ─── Rendering ────────────────────────────────────────────────────────────

/** Why it is not activated: the SSRS code, the reason and the remedy, as `status` says it. */
const reasonCell = (st: Listed): Html => {
  if (st.state === 'activated') return html``;
  const code = st.state === 'disabled' ? explainRefusal(st.reason).code : 'RSReportServerNotActivated';
  return html`<div class="reason"><code>${code}</code>${st.state === 'disabled' ? html` <strong>${st.reason._tag}</strong>` : ''}<br>${notActivatedLine(st) ?? ''}</div>`;
};

const actionsCell = (st: Listed, role: Principal['role'], served: string): Html => {
  if (role !== 'operator') return html``;
  const id = st.view.installationId;
  const join =
    st.state === 'waiting-to-join'
      ? html`<input class="thumbprint op-action" data-thumbprint-for="${id}" placeholder="its thumbprint, confirmed out of band" aria-label="thumbprint of ${id}">
<button type="button" class="op-action" data-action="join" data-id="${id}">Join</button>`
      : '';
  const remove =
    st.state !== 'removed' && id !== served ? html`<button type="button" class="op-action" data-action="remove" data-id="${id}">Remove</button>` : '';
  return html`${join} ${remove}`;
};

const COLUMNS = 9;

const row = (v: ActivationView, st: Listed, role: Principal['role'], served: string): Html => {
  const view = st.view;
  const id = view.installationId;
  const m = membershipOf(st, v);
  return html`<tr data-installation="${id}" data-state="${st.state}">
<td>${view.machineName ?? ''}</td><td>${view.instanceName ?? ''}</td>
<td class="mono"><a href="/dashboard/instances/${id}">${id}</a>${id === served ? html` <em>(this server)</em>` : ''}</td>
<td class="state state-${st.state}">${m.membership}</td>
<td>${m.heldKeyVersion ?? ''}</td>
<td class="mono">${view.signingThumbprint ?? view.thumbprint ?? ''}</td>
<td>${ownFindings(v, id).map((f) => html`<span class="finding" title="${f.summary} Remedy: ${remedyText(f.remedy)}">${f.kind}</span>`)}</td>
<td>${reasonCell(st)}</td>
<td>${actionsCell(st, role, served)}</td></tr>`;
};

const LABELS: Readonly<Record<BoardState, string>> = {
  disabled: 'disabled',
  'waiting-to-join': 'waiting to join',
  initializing: 'initializing',
  removed: 'removed',
  activated: 'activated',
};

const number = (n: number): string => n.toLocaleString('en-US');

/** Deployment-wide warnings shown above the board at most (each is a sentence and a remedy). */
const WARNINGS_SHOWN = 10;

/** The page's rows, or one row saying why there are none. */
const rowsOf = (v: ActivationView, p: BoardPage, role: Principal['role'], served: string): Html => {
  if (p.entries.length > 0) return html`${p.entries.map((e) => row(v, e.status, role, served))}`;
  const none =
    Object.keys(v.instances).length === 0
      ? 'no instances recorded yet (run keyledger init)'
      : p.matched === 0
        ? 'no instance matches this filter'
        : `page ${number(p.filter.page)} is past the last page (${number(p.pages)})`;
  return html`<tr class="none"><td colspan="${COLUMNS}">${none}</td></tr>`;
};

/** What concerns a whole deployment (a removed member that may hold its key, a deletion not finished): once, not on every row. */
const warningsOf = (v: ActivationView): Html => {
  const found = deploymentWideFindings(v);
  if (found.length === 0) return html``;
  const more = found.length - WARNINGS_SHOWN;
  return html`<ul class="warnings">${found
    .slice(0, WARNINGS_SHOWN)
    .map((f) => html`<li data-kind="${f.kind}"><span class="finding">${f.kind}</span> ${f.summary}. Remedy: ${remedyText(f.remedy)}</li>`)}${
    more > 0 ? html`<li>and ${number(more)} more like these (keyledger list shows every one)</li>` : ''
  }</ul>`;
};

/** The counts by state (each a link that filters by it, keeping the search), the rows shown, and the links to the pages around. */
const summaryOf = (v: ActivationView, p: BoardPage): Html => {
  const f = p.filter;
  const link = (state: BoardState | null, label: string, count: number): Html =>
    html`<a href="${boardHref({ state, q: f.q, page: 1 })}" class="count${state ? ` state-${state}` : ''}${state === f.state ? ' current' : ''}" data-state="${
      state ?? 'all'
    }" data-count="${count}"${state === f.state ? html` aria-current="page"` : ''}>${label} <strong>${number(count)}</strong></a>`;
  const counts = html`<nav class="counts" aria-label="instances by state">${link(null, 'all', p.searched)}${BOARD_STATES.map((s) =>
    link(s, LABELS[s], p.counts[s]),
  )}</nav>`;
  const what = html`${f.state ? html` ${LABELS[f.state]}` : ''}${f.q ? html` matching “${f.q}”` : ''}`;
  const prev = f.page > 1 ? html`<a rel="prev" href="${boardHref({ ...f, page: Math.min(f.page - 1, p.pages) })}">← previous</a>` : '';
  const next = f.page < p.pages ? html`<a rel="next" href="${boardHref({ ...f, page: f.page + 1 })}">next →</a>` : '';
  const last = f.page > p.pages ? html`<a href="${boardHref({ ...f, page: p.pages })}">the last page</a>` : '';
  return html`${warningsOf(v)}${counts}
<p class="pager" data-from="${p.from}" data-to="${p.to}" data-of="${p.matched}">${
    p.entries.length > 0 ? `rows ${number(p.from)}–${number(p.to)} of ${number(p.matched)}` : `no rows of ${number(p.matched)}`
  }${what} · page ${number(f.page)} of ${number(p.pages)} ${prev} ${next} ${last}</p>`;
};

/** One page of the board as HTML: the summary (counts, rows a–b of N, the pages around) and the table's rows. */
export interface RenderedBoard {
  readonly summary: Html;
  readonly rows: Html;
}

/**
 * One page of the board, rendered for a role (operator buttons only for operators). Computed once per view, filter,
 * page and role, whoever asks: a hundred viewers of the same page cost one rendering per change of the view.
 */
export const renderBoard = (v: ActivationView, f: BoardFilter, role: Principal['role'], served: string, pageSize = PAGE_SIZE): RenderedBoard => {
  const m = modelOf(v);
  const key = `${role}\u0000${served}\u0000${pageSize}\u0000${f.state ?? ''}\u0000${f.page}\u0000${f.q}`;
  const found = m.rendered.get(key);
  if (found) return found;
  const p = boardPage(v, f, pageSize);
  return remember(m.rendered, key, { summary: summaryOf(v, p), rows: rowsOf(v, p, role, served) });
};

/** The search form: a GET of /dashboard, the state kept, the page back to the first. */
export const searchForm = (f: BoardFilter): Html => {
  const state = f.state ? html`<input type="hidden" name="state" value="${f.state}">` : '';
  const clear = f.state || f.q ? html` <a href="/dashboard">clear the filter</a>` : '';
  return html`<form id="board-search" method="get" action="/dashboard" role="search">${state}<input type="search" name="q" value="${f.q}" maxlength="${MAX_SEARCH}"
placeholder="machine, instance or installation ID" aria-label="search the instances"> <button type="submit">Search</button>${clear}</form>`;
};
