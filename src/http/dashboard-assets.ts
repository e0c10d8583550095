/**
 * The dashboard's script and style sheet: constants of this code base, served from the server itself (a strict CSP
 * allows no inline script or style and nothing from elsewhere). No build step. The script posts to the JSON API with
 * the session cookie, follows its own page of the board (the page's query) over server-sent events, and puts only
 * server-rendered, escaped HTML or `textContent` into the page. Filtering and paging are links and a GET form.
 */

export const DASHBOARD_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }
header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 1.3rem; margin: 0; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code, .mono { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
.state { font-weight: 600; }
.state-activated { color: #1a7f37; }
.state-disabled, .state-removed { color: #cf222e; }
.state-waiting-to-join, .state-initializing, .state-not-initialized { color: #9a6700; }
.reason { max-width: 42rem; }
.finding { display: inline-block; background: #fff8c5; border: 1px solid #d4a72c; border-radius: 3px; padding: 0 .3rem; margin: 0 .2rem .2rem 0; }
.failed { color: #cf222e; font-weight: 600; }
#live { font-size: 12px; color: #57606a; }
#message { margin-top: .5rem; white-space: pre-wrap; }
button { cursor: pointer; }
input.thumbprint { width: 22rem; font-family: ui-monospace, monospace; }
#board-search { margin-top: .75rem; }
#board-search input[type=search] { width: 24rem; }
nav.counts { display: flex; gap: .5rem; flex-wrap: wrap; margin-top: .75rem; }
nav.counts a { border: 1px solid #d0d7de; border-radius: 3px; padding: .15rem .5rem; text-decoration: none; }
nav.counts a.current { background: #ddf4ff; border-color: #54aeff; }
nav.counts a[data-count="0"] { opacity: .55; }
.pager { margin: .5rem 0 0; color: #57606a; }
.pager a { margin-left: .5rem; }
ul.warnings { margin: .75rem 0 0; padding-left: 1.2rem; }
`;

export const DASHBOARD_JS = `
'use strict';
(function () {
  const message = (text, failed) => {
    const m = document.getElementById('message');
    if (!m) return;
    m.textContent = text;
    m.className = failed ? 'failed' : '';
  };
  const call = async (method, url, body) => {
    const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}), credentials: 'same-origin' });
    let json = null;
    try { json = await res.json(); } catch (e) { json = null; }
    return { ok: res.ok, status: res.status, json };
  };

  const login = document.getElementById('login-form');
  if (login) {
    login.addEventListener('submit', async (e) => {
      e.preventDefault();
      const token = document.getElementById('token').value.trim();
      const r = await call('POST', '/login', { token });
      if (r.ok) window.location.assign('/dashboard');
      else message((r.json && r.json.message) || 'not signed in', true);
    });
  }

  const logout = document.getElementById('logout');
  if (logout) logout.addEventListener('click', async () => { await call('POST', '/logout', {}); window.location.assign('/login'); });

  const verify = document.getElementById('verify');
  if (verify) {
    verify.addEventListener('click', async () => {
      message('verifying the ledger…', false);
      const r = await call('POST', '/api/verify', { signatures: true });
      if (!r.ok) return message((r.json && r.json.message) || ('verify failed: ' + r.status), true);
      const j = r.json;
      const problems = j.problems.length + (j.signatures ? j.signatures.problems.length : 0) + j.storage.length;
      const out = document.getElementById('verify-result');
      out.textContent = j.intact
        ? 'ledger intact: ' + j.events + ' events in ' + j.streams + ' streams, every hash and signature verified'
        : problems + ' problem(s) in ' + j.events + ' events: run keyledger verify --signatures for each one';
      out.className = j.intact ? 'state-activated' : 'failed';
      message('', false);
    });
  }

  const board = document.getElementById('board');
  if (board) {
    board.addEventListener('click', async (e) => {
      const button = e.target.closest('button[data-action]');
      if (!button) return;
      const id = button.getAttribute('data-id');
      if (button.getAttribute('data-action') === 'join') {
        const input = board.querySelector('input[data-thumbprint-for="' + id + '"]');
        const expectThumbprint = input ? input.value.trim() : '';
        const r = await call('POST', '/api/join', { installationId: id, expectThumbprint });
        message(r.ok ? 'joined ' + id + ': the key is wrapped for it; it activates on its next start' : (r.json && r.json.message) || ('join failed: ' + r.status), !r.ok);
      } else if (button.getAttribute('data-action') === 'remove') {
        if (!window.confirm('Remove ' + id + ' from the scale-out? Its copy of the key is revoked.')) return;
        const r = await call('POST', '/api/remove', { installationId: id });
        message(r.ok ? 'removed ' + id : (r.json && r.json.message) || ('remove failed: ' + r.status), !r.ok);
      }
    });
    const live = document.getElementById('live');
    const summary = document.getElementById('board-summary');
    // This page's query (state, search, page): the server pushes this page only, and only when it changed.
    const events = new EventSource('/dashboard/events' + window.location.search);
    events.addEventListener('open', () => { if (live) live.textContent = 'live'; });
    events.addEventListener('board', (e) => {
      const data = JSON.parse(e.data);
      // Server-rendered and escaped there: every stored text in it is text.
      board.innerHTML = data.rows;
      if (summary) summary.innerHTML = data.summary;
      if (live) live.textContent = 'live · this page updated ' + new Date().toLocaleTimeString();
    });
    events.addEventListener('error', () => { if (live) live.textContent = 'reconnecting…'; });
  }
})();
`;
