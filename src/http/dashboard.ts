/**
 * The dashboard (docs/adr/0019): server-rendered pages, no build step — the instances board (state, key version,
 * thumbprint, findings; a not-activated instance with its reason, SSRS code and remedy), a per-instance timeline from
 * `diagnose`, the compliance report, a verify button — kept live over server-sent events from the activation view.
 * The board is paged and filtered in its URL (`?state=&q=&page=`, ./board.ts): a viewer is rendered and pushed its own
 * page only, the instances that need attention first, and nothing when that page did not change. Operator buttons
 * (join, remove) are rendered only for operator tokens; the API checks the role again anyway.
 *
 * A browser cannot send a bearer header on a navigation or an EventSource: the token is given once on /login and kept
 * in an HttpOnly, SameSite=Strict cookie; a request authenticated by that cookie that changes something must come
 * from this origin (auth.ts). Every stored text goes through the escaping `html` tag (src/cli/html.ts); a strict CSP
 * allows only this server's own script and style sheet.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as E from 'fp-ts/Either';
import { type Html, html } from '../cli/html';
import { remedyText } from '../domain/remedy';
import { InstallationId, type InstallationId as Id } from '../domain/ids';
import { sha256Hex } from '../infra/sha256';
import { diagnose } from '../commands/diagnose';
import { diagnoseMessage } from '../cli/render-diagnose';
import type { Authenticator, FailureLimiter, Principal } from './auth';
import { type BoardFilter, decodeBoardQuery, PAGE_SIZE, type RenderedBoard, renderBoard, searchForm } from './board';
import type { ServerContext } from './context';
import { DASHBOARD_CSS, DASHBOARD_JS } from './dashboard-assets';
import { errorBody } from './errors';

export const TOKEN_COOKIE = 'keyledger_token';

/** Only this server's own script and style sheet; no frame, no form posting elsewhere, no base. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The token in the request's cookie (undefined: none). */
export const cookieToken = (request: FastifyRequest): string | undefined => {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
};

const page = (reply: FastifyReply, status: number, body: Html): FastifyReply =>
  reply
    .code(status)
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(`<!doctype html>\n${body.text}`);

const layout = (title: string, main: Html, who?: Principal): Html =>
  html`<html lang="en"><head><meta charset="utf-8"><title>${title} — keyledger</title><link rel="stylesheet" href="/dashboard.css"></head>
<body><header><h1>${title}</h1>${
    who
      ? html`<span>signed in as <strong>${who.name}</strong> (${who.role})</span> <a href="/dashboard">board</a> <button id="logout" type="button">sign out</button>`
      : ''
  }</header>
${main}
<div id="message" role="status"></div>
<script src="/dashboard.js"></script></body></html>`;

// ─── The board ────────────────────────────────────────────────────────────

/** The board page: the search, the counts by state, one page of rows (./board.ts) — the rest is the page's script's. */
const boardPage = (ctx: ServerContext, who: Principal, f: BoardFilter, pageSize: number): Html => {
  const s = ctx.view.state();
  const served = ctx.base().config.instance.installationId;
  const board: RenderedBoard | undefined = s.kind === 'live' ? renderBoard(s.view, f, who.role, served, pageSize) : undefined;
  const rows =
    board?.rows ??
    html`<tr><td colspan="9">${s.kind === 'starting' ? 'the ledger is still being read…' : 'the ledger cannot be read now: see the server log'}</td></tr>`;
  const deployment = ctx.base().config.instance.deploymentId;
  return layout(
    'Instances',
    html`<p><span id="live">connecting…</span> · deployment <strong>${deployment}</strong> ·
<a href="/api/report?format=html&amp;deployment=${deployment}">compliance report</a> ·
<button id="verify" type="button">Verify the ledger</button> <span id="verify-result"></span></p>
${searchForm(f)}
<div id="board-summary">${board?.summary ?? ''}</div>
<table><thead><tr><th>Machine</th><th>Instance</th><th>Installation ID</th><th>State</th><th>Key version</th><th>Thumbprint</th><th>Findings</th><th>Reason and remedy</th><th>${
      who.role === 'operator' ? 'Actions' : ''
    }</th></tr></thead>
<tbody id="board">${rows}</tbody></table>`,
    who,
  );
};

/** A board query that cannot be read: the page says what is wrong (never the value), with the way back to the whole board. */
const badQueryPage = (who: Principal, message: string): Html =>
  layout('Instances', html`<p class="failed" id="query-problem">${message}</p><p><a href="/dashboard">the whole board</a></p>`, who);

// ─── The timeline ─────────────────────────────────────────────────────────

const timelinePage = async (ctx: ServerContext, who: Principal, id: Id): Promise<Html> => {
  const signing = (await import('../infra/signing')).signatures;
  const r = await diagnose(
    { store: ctx.base().store, digest: sha256Hex, signatures: { verify: signing.verify, thumbprint: signing.thumbprint } },
    { installationId: id },
  );
  if (E.isLeft(r)) return layout('Timeline', html`<p class="failed">${r.left._tag}: the history of ${id} cannot be read now.</p>`, who);
  const d = r.right.diagnosis;
  const view = d.status.state === 'not-initialized' ? null : d.status.view;
  return layout(
    `Timeline of ${view ? `${view.instanceName ?? '?'} on ${view.machineName ?? '?'}` : id}`,
    html`<p class="mono">${id} · deployment ${d.deploymentId ?? '?'} · ${d.events} events of its two streams</p>
<p id="diagnosis" class="state state-${d.status.state}">${diagnoseMessage(r.right)}</p>
<h2>Initialization</h2>
<table id="steps"><thead><tr><th>Step</th><th>Name</th><th>State</th><th>When</th><th>Note</th></tr></thead><tbody>
${d.steps.map(
  (s) =>
    html`<tr data-mark="${s.mark}"><td>${s.step}/5</td><td>${s.name}</td><td class="${s.mark === 'failed' ? 'failed' : ''}">${s.mark}</td>
<td>${s.at?.occurredAt ?? ''}</td><td>${s.note ?? ''}</td></tr>`,
)}
</tbody></table>
<h2>Key events</h2>
<table id="timeline"><thead><tr><th>When</th><th></th><th>Event</th><th>What happened</th><th>By</th><th>Command</th><th>Correlation ID</th>
<th>Where</th></tr></thead><tbody>
${d.timeline.map(
  (t) =>
    html`<tr data-type="${t.type}"><td>${t.at.occurredAt}</td>
<td class="${t.mark === 'failed' ? 'failed' : ''}">${t.mark === 'failed' ? 'FAILED' : t.step === null ? '' : `step ${t.step}/5`}</td>
<td>${t.type}</td><td>${t.summary}</td><td>${t.at.actor}</td><td>${t.at.command}</td>
<td class="mono">${t.at.correlationId}</td><td class="mono">${t.at.stream}@${t.at.revision}</td></tr>`,
)}
</tbody></table>
${d.remedy ? html`<h2>Remedy</h2><p>${remedyText(d.remedy)}</p>` : ''}
${d.findings.map((f) => html`<h2>Finding ${f.kind}</h2><p>${f.summary}</p><p>Remedy: ${remedyText(f.remedy)}</p>`)}`,
    who,
  );
};

// ─── Routes ───────────────────────────────────────────────────────────────

const READERS = ['operator', 'auditor'] as const;

export interface DashboardOptions {
  readonly authenticator: Authenticator;
  readonly limiter: FailureLimiter;
  /** The cookie only over HTTPS when the server speaks it. */
  readonly secure: boolean;
  /** Rows on a page of the board (PAGE_SIZE; smaller in tests, to page a small ledger). */
  readonly pageSize?: number;
}

/** Server-sent events of the board: at most this often (a burst of changes is one push). */
const PUSH_EVERY_MS = 250;

/** A viewer of the board over server-sent events: its page, its role, and what it was last sent. */
interface Viewer {
  readonly res: ServerResponse;
  readonly role: Principal['role'];
  readonly filter: BoardFilter;
  last: string | undefined;
}

/** The `data` of a board event, made once per rendered page (viewers of the same page share it). */
const eventData = new WeakMap<RenderedBoard, string>();
const dataOf = (r: RenderedBoard): string => {
  const found = eventData.get(r);
  if (found !== undefined) return found;
  const data = JSON.stringify({ summary: r.summary.text, rows: r.rows.text });
  eventData.set(r, data);
  return data;
};

export const registerDashboard = (app: FastifyInstance, ctx: ServerContext, o: DashboardOptions): void => {
  const served = ctx.base().config.instance.installationId;
  const pageSize = o.pageSize ?? PAGE_SIZE;
  app.get('/dashboard.css', { config: { access: 'public' } }, (_r, reply) => reply.type('text/css; charset=utf-8').send(DASHBOARD_CSS));
  app.get('/dashboard.js', { config: { access: 'public' } }, (_r, reply) => reply.type('text/javascript; charset=utf-8').send(DASHBOARD_JS));
  app.get('/', { config: { access: 'public' } }, (_r, reply) => reply.redirect('/dashboard'));
  app.get('/login', { config: { access: 'public' } }, (_r, reply) =>
    page(
      reply,
      200,
      layout(
        'Sign in',
        html`<form id="login-form"><label>Token <input id="token" type="password" autocomplete="off" required></label> <button type="submit">Sign in</button></form>
<p>An operator or auditor token (keyledger token create --role operator|auditor --name NAME). It is kept in a cookie this page cannot read.</p>`,
      ),
    ),
  );
  app.post('/login', { config: { access: 'public' } }, (request, reply) => {
    const now = Date.now();
    const wait = o.limiter.blocked(request.ip, now);
    if (wait !== undefined)
      return reply
        .code(429)
        .header('retry-after', String(wait))
        .send({ error: 'TooManyFailedAuthentications', message: `try again in ${wait} s` });
    const token = (request.body as { token?: unknown } | null)?.token;
    const who = typeof token === 'string' ? o.authenticator.authenticate(token) : E.left('missing' as const);
    if (E.isLeft(who) || (who.right.role !== 'operator' && who.right.role !== 'auditor')) {
      if (E.isLeft(who) && who.left !== 'missing') o.limiter.fail(request.ip, now);
      request.log.warn({ refused: 'DashboardLogin', client: request.ip }, 'request refused');
      return reply.code(401).send({ error: 'Unauthenticated', message: 'not an operator or auditor token of this server' });
    }
    return reply
      .header(
        'set-cookie',
        `${TOKEN_COOKIE}=${encodeURIComponent(token as string)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800${o.secure ? '; Secure' : ''}`,
      )
      .code(204)
      .send();
  });
  app.post('/logout', { config: { access: 'public' } }, (_r, reply) =>
    reply
      .header('set-cookie', `${TOKEN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${o.secure ? '; Secure' : ''}`)
      .code(204)
      .send(),
  );
  // A browser without its cookie is sent to sign in rather than shown a JSON 401.
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode === 401 && request.method === 'GET' && request.routeOptions.url?.startsWith('/dashboard')) {
      reply.code(303).header('location', '/login').type('text/plain; charset=utf-8');
      return 'sign in: /login\n';
    }
    return payload;
  });
  app.get('/dashboard', { config: { access: READERS } }, (request, reply) => {
    const who = request.principal as Principal;
    const f = decodeBoardQuery(request.query);
    if (E.isLeft(f)) return page(reply, 400, badQueryPage(who, f.left.message));
    return page(reply, 200, boardPage(ctx, who, f.right, pageSize));
  });
  app.get(
    '/dashboard/instances/:installationId',
    { config: { access: READERS } },
    async (request: FastifyRequest<{ Params: { installationId: string } }>, reply) => {
      const id = request.params.installationId.toLowerCase();
      if (!InstallationId.is(id))
        return page(reply, 400, layout('Timeline', html`<p class="failed">not an installation ID</p>`, request.principal as Principal));
      return page(reply, 200, await timelinePage(ctx, request.principal as Principal, id));
    },
  );

  // Server-sent events: each viewer's own page of the board (its query: state, search, page), rendered for its role, after
  // a change of the view — one tick for all viewers at most every 250 ms — and only when that page is not what it was last sent.
  const viewers = new Set<Viewer>();
  let timer: NodeJS.Timeout | undefined;
  const push = (viewer: Viewer): void => {
    const s = ctx.view.state();
    if (s.kind !== 'live') return;
    const data = dataOf(renderBoard(s.view, viewer.filter, viewer.role, served, pageSize));
    if (data === viewer.last) return;
    viewer.last = data;
    viewer.res.write(`event: board\ndata: ${data}\n\n`);
  };
  const tick = (): void => {
    timer = undefined;
    for (const viewer of viewers) push(viewer);
  };
  const stopListening = ctx.view.onChange(() => {
    if (viewers.size > 0) timer ??= setTimeout(tick, PUSH_EVERY_MS);
  });
  app.addHook('preClose', async () => {
    stopListening();
    if (timer) clearTimeout(timer);
    for (const viewer of viewers) viewer.res.end();
    viewers.clear();
  });
  app.get('/dashboard/events', { config: { access: READERS } }, (request, reply) => {
    const who = request.principal as Principal;
    const f = decodeBoardQuery(request.query);
    if (E.isLeft(f)) return reply.code(400).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(errorBody(f.left));
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    const viewer: Viewer = { res, role: who.role, filter: f.right, last: undefined };
    viewers.add(viewer);
    push(viewer);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    keepAlive.unref();
    res.on('close', () => {
      clearInterval(keepAlive);
      viewers.delete(viewer);
    });
  });
};
