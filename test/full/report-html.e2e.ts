/**
 * The HTML compliance report in a real browser (Debian's chromium, driven by playwright-core): the findings and the
 * timeline are on the page, the page makes no request (no asset, no font, no beacon), and a machine named
 * `<img src=x onerror=alert(1)>` is shown as text and runs nothing. A screenshot is kept in test-artifacts/ (git-ignored).
 * `.ci/run` installs chromium when it is missing; without /usr/bin/chromium this test fails, saying so.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { chromium } from 'playwright-core';
import { tempDir } from '../support/fixtures';
import { activatedDeployment, newNode } from '../support/nodes';

const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror=alert(1)>';
const ARTIFACTS = path.resolve(__dirname, '..', '..', '..', 'test-artifacts');

test('the HTML report in headless Chromium: findings and timeline shown, no request made, a hostile machine name is text and runs nothing', async (t) => {
  t.timeout(180_000);
  t.true(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; .ci/run does it)`);
  const dir = tempDir('kl-report-html');
  const hostile = await newNode(dir, 'EVIL', ['--machine', HOSTILE]);
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  t.is((await hostile.run('init')).code, 1, 'waiting to join');
  t.is((await a!.run('remove', b!.id)).code, 0);
  const file = path.join(dir, 'report.html');
  const r = await a!.run('report', '--max-key-age', '90d', '--out', file);
  t.is(r.code, 6, r.stderr);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const url = `file://${file}`;
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForTimeout(300); // an onerror handler would have fired by now: the image error is immediate

    t.deepEqual(requests, [url], 'the document itself, nothing else');
    t.deepEqual(dialogs, [], 'no script ran');
    t.is(await page.locator('img').count(), 0, 'no img element was made from the machine name');
    t.is(await page.locator('script').count(), 0);

    const findings = page.locator('#findings-table tr.finding');
    t.deepEqual(await findings.evaluateAll((rows) => rows.map((row) => row.getAttribute('data-kind'))), [
      'NoBackupOfCurrentKey',
      'InstanceNotActivated',
      'RemovedMemberHoldsKey',
    ]);
    t.true(await page.locator('#verdict').isVisible());
    t.regex((await page.locator('#verdict').textContent()) ?? '', /Findings: 3 finding\(s\)/);
    // The hostile name, as text: in the findings, in the members table and as a timeline row label.
    t.regex((await page.locator('#findings-table').textContent()) ?? '', /<img src=x onerror=alert\(1\)>/);
    t.true((await page.locator('#members td', { hasText: HOSTILE }).count()) >= 1);
    const timeline = page.locator('svg.timeline');
    t.true(await timeline.isVisible());
    t.true((await timeline.locator('g.mark').count()) >= 10, 'a mark per key operation');
    t.true((await timeline.locator('g.row text', { hasText: '<img src=x' }).count()) === 1, 'the hostile machine has its row, its name as text');
    t.true((await timeline.locator('g.mark[data-type="InstanceRemoved"]').count()) === 1);
    t.regex((await page.locator('#signatures').textContent()) ?? '', /signatures NOT checked/);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'compliance-report.png'), fullPage: true });
    await page.emulateMedia({ media: 'print' });
    await page.screenshot({ path: path.join(ARTIFACTS, 'compliance-report-print.png'), fullPage: true });
    t.true(fs.statSync(path.join(ARTIFACTS, 'compliance-report.png')).size > 10_000);
  } finally {
    await browser.close();
  }
});
