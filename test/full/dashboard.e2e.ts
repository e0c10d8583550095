/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core; docs/adr/0019): a disabled instance
 * shows its reason, SSRS code and remedy; the board filtered by a state count's link updates live (server-sent events
 * of that page) when an instance is joined with the operator's button, and the whole board when it starts; the search
 * box finds a machine; the timeline renders; an auditor sees no operator button and can verify the ledger; a machine
 * named `<img src=x onerror=alert(1)>` is text and runs nothing; no request leaves the server.
 * Screenshots go to test-artifacts/ (git-ignored). `.ci/run` installs chromium when it is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { chromium, type Page } from 'playwright-core';
import { tempDir } from '../support/fixtures';
import { issueToken, serve } from '../support/http';
import { activatedDeployment, editConfig, keystoreThumbprint, newNode } from '../support/nodes';

const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror=alert(1)>';
const ARTIFACTS = path.resolve(__dirname, '..', '..', '..', 'test-artifacts');

const signIn = async (page: Page, base: string, token: string): Promise<void> => {
  await page.goto(`${base}/dashboard`);
  t_assertUrl(page.url(), `${base}/login`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(`${base}/dashboard`), page.click('#login-form button[type=submit]')]);
  await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 15_000 });
};

const t_assertUrl = (actual: string, expected: string): void => {
  if (actual !== expected) throw new Error(`expected to be at ${expected}, not ${actual}`);
};

test('the dashboard in headless Chromium: reasons and remedies, live updates on a join, the timeline, roles, hostile names as text', async (t) => {
  t.timeout(240_000);
  t.true(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; .ci/run does it)`);
  const dir = tempDir('kl-dashboard');
  const [a, c] = await activatedDeployment(dir, ['A', 'C']);
  const b = await newNode(dir, 'B');
  const evil = await newNode(dir, 'EVIL', ['--machine', HOSTILE]);
  t.is((await b.run('init')).code, 1);
  t.is((await evil.run('init')).code, 1);
  editConfig(c!, { serviceIdentity: 'svc-elsewhere' });
  t.is((await c!.run('start')).code, 1, 'C disabled: its service identity changed without change-identity');
  const served = await serve(a!, { start: false });
  t.teardown(() => served.close());
  const base = served.server.url;
  const operator = await issueToken(a!, 'operator', 'ops@contoso');
  const auditor = await issueToken(a!, 'auditor', 'auditor@contoso');
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const dialogs: string[] = [];
  const elsewhere: string[] = [];
  const watch = (page: Page): void => {
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) elsewhere.push(r.url());
    });
  };

  // ── The operator ──
  const op = await (await browser.newContext()).newPage();
  watch(op);
  const board = await op.goto(`${base}/dashboard`);
  t.is(board?.status(), 200, 'the sign-in page');
  t.regex(board?.headers()['content-security-policy'] ?? '', /default-src 'none'; script-src 'self'/);
  await signIn(op, base, operator);

  const row = (id: string) => op.locator(`#board tr[data-installation="${id}"]`);
  t.is(await row(c!.id).getAttribute('data-state'), 'disabled');
  const reason = (await row(c!.id).locator('td').nth(7).textContent()) ?? '';
  t.regex(reason, /rsKeyStateNotValid/);
  t.regex(reason, /ServiceIdentityChanged/);
  t.regex(reason, /Remedy: .*keyledger change-identity svc-elsewhere/);
  t.is(await row(b.id).getAttribute('data-state'), 'waiting-to-join');
  t.is(await row(evil.id).locator('td').first().textContent(), HOSTILE, 'the hostile machine name, as text');
  t.is(await op.locator('img').count(), 0, 'no img element was made from it');
  t.true((await op.locator('.op-action').count()) > 0, 'the operator has buttons');
  await op.screenshot({ path: path.join(ARTIFACTS, 'dashboard-operator.png'), fullPage: true });

  // The count of those waiting to join is a link: the board of that state alone, followed live with that query.
  const waitingCount = op.locator('nav.counts a[data-state="waiting-to-join"]');
  t.is(await waitingCount.getAttribute('data-count'), '2');
  await Promise.all([op.waitForURL(`${base}/dashboard?state=waiting-to-join`), waitingCount.click()]);
  await op.locator('#live', { hasText: 'live' }).waitFor({ timeout: 15_000 });
  const shown = async (): Promise<string[]> =>
    (await op.locator('#board tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-installation') ?? ''))).sort();
  t.deepEqual(await shown(), [b.id, evil.id].sort());

  // Joined with the operator's button (the thumbprint confirmed out of band, typed in): it leaves this filter live.
  await row(b.id).locator('input.thumbprint').fill(keystoreThumbprint(b.file));
  await row(b.id).locator('button[data-action="join"]').click();
  await row(b.id).waitFor({ state: 'detached', timeout: 15_000 });
  t.deepEqual(await shown(), [evil.id]);
  t.is(await waitingCount.getAttribute('data-count'), '1');
  t.regex((await op.locator('#message').textContent()) ?? '', /joined /);
  await op.screenshot({ path: path.join(ARTIFACTS, 'dashboard-filtered.png'), fullPage: true });

  // The whole board again, followed live.
  await op.goto(`${base}/dashboard`);
  await op.locator('#live', { hasText: 'live' }).waitFor({ timeout: 15_000 });
  await op.locator(`#board tr[data-installation="${b.id}"][data-state="initializing"]`).waitFor({ timeout: 15_000 });
  t.is((await b.run('start')).code, 0);
  await op.locator(`#board tr[data-installation="${b.id}"][data-state="activated"]`).waitFor({ timeout: 15_000 });
  await op.screenshot({ path: path.join(ARTIFACTS, 'dashboard-after-join.png'), fullPage: true });

  // The timeline, from diagnose.
  await Promise.all([op.waitForURL(`${base}/dashboard/instances/${b.id}`), row(b.id).locator('a').click()]);
  t.is(await op.locator('#steps tbody tr[data-mark="done"]').count(), 5);
  for (const type of ['ConfigRead', 'KeyPairIssued', 'PublicKeyStored', 'SymmetricKeyWrapped', 'InstanceActivated'])
    t.true((await op.locator(`#timeline tbody tr[data-type="${type}"]`).count()) >= 1, type);
  t.regex((await op.locator('#timeline tbody tr[data-type="SymmetricKeyWrapped"]').textContent()) ?? '', /ops@contoso/);
  await op.screenshot({ path: path.join(ARTIFACTS, 'dashboard-timeline.png'), fullPage: true });
  // The search box: a GET of the board, the hostile name found as text.
  await op.goto(`${base}/dashboard`);
  await op.fill('#board-search input[name="q"]', 'ONERROR');
  await Promise.all([op.waitForURL(`${base}/dashboard?q=ONERROR`), op.click('#board-search button[type=submit]')]);
  t.deepEqual(await shown(), [evil.id]);
  t.is(await op.locator('#board tr td').first().textContent(), HOSTILE);
  t.regex((await op.locator('.pager').textContent()) ?? '', /rows 1–1 of 1 matching “ONERROR”/);
  t.is(await op.locator('img').count(), 0);
  await op.goto(`${base}/dashboard/instances/${evil.id}`);
  t.regex((await op.locator('h1').textContent()) ?? '', /<img src=x onerror=alert\(1\)>/);
  t.is(await op.locator('img').count(), 0);

  // ── The auditor ──
  const au = await (await browser.newContext()).newPage();
  watch(au);
  await signIn(au, base, auditor);
  t.is(await au.locator('.op-action').count(), 0, 'no operator button for an auditor');
  t.is(await au.locator('button[data-action]').count(), 0);
  await au.click('#verify');
  await au.locator('#verify-result', { hasText: 'ledger intact' }).waitFor({ timeout: 30_000 });
  await au.screenshot({ path: path.join(ARTIFACTS, 'dashboard-auditor.png'), fullPage: true });
  // The API refuses the auditor an operator action even if a page tried it.
  const refused = await au.evaluate(async () => {
    const r = await fetch('/api/remove', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"installationId":"00000000-0000-4000-8000-000000000000"}',
    });
    return r.status;
  });
  t.is(refused, 403);

  t.deepEqual(dialogs, [], 'no script ran from stored text');
  t.deepEqual(elsewhere, [], 'no request left the server');
});
