#!/usr/bin/env node
// End-to-end test of the Safeguard console against a running
// `safeguard serve`, in the system's Chromium (no browser download).
//
// Environment:
//   SG_BASE_URL        the server, e.g. http://localhost:8080 (required)
//   SG_USER            a senior_moderator's username (required)
//   SG_PASSWORD        their password (required)
//   SG_CASE_ID         an open case with one evidence item (required)
//   SG_SCREENSHOT_DIR  where the screenshots go (default: a temp folder)
//   CHROMIUM           the browser (default /usr/bin/chromium)
//   SG_E2E_TIMEOUT_MS  per-step wait (default 15000)
//
// Prints one line per step and, when every step passed, a last JSON line
// {"ok":true,...}. Exits non-zero on the first failure.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`console.e2e: ${name} is required (see the top of ${path.basename(import.meta.url)})`);
    process.exit(2);
  }
  return v;
}

const base = need('SG_BASE_URL').replace(/\/+$/, '');
const user = need('SG_USER');
const password = need('SG_PASSWORD');
const caseId = need('SG_CASE_ID');
// Optional: a case already confirmed and reported, which the Reports page must list as sent.
const reportCaseId = process.env.SG_REPORT_CASE_ID || '';
const shotDir = process.env.SG_SCREENSHOT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'sg-console-e2e-'));
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const timeout = Number(process.env.SG_E2E_TIMEOUT_MS || 15000);
fs.mkdirSync(shotDir, { recursive: true });

const screenshots = [];
const consoleErrors = [];
const unblurRequests = [];
let stepNo = 0;
let page;

async function shot(name) {
  const file = path.join(shotDir, name);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
}

async function step(name, fn) {
  stepNo += 1;
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    const err = new Error(`step ${stepNo} (${name}) failed: ${e && e.message ? e.message : e}`);
    err.cause = e;
    throw err;
  }
  console.log(`ok ${stepNo} - ${name} (${Date.now() - t0} ms)`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60000,
  args: [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, baseURL: base });
  context.setDefaultTimeout(timeout);
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (r.url().includes('reason=')) unblurRequests.push(r.url());
  });

  const username = page.getByLabel('Username');
  const passwordField = page.getByLabel('Password');
  const signInButton = page.getByRole('button', { name: 'Sign in' });

  // a) sign-in: a wrong password is refused with a message, the right one works.
  await step('sign-in page, wrong password refused, sign in', async () => {
    const res = await page.goto(`${base}/console/`, { waitUntil: 'domcontentloaded' });
    assert.ok(res && res.ok(), `GET /console/ answered ${res && res.status()}`);
    await username.waitFor({ state: 'visible' });
    await passwordField.waitFor({ state: 'visible' });
    await username.fill(user);
    await passwordField.fill(`${password}-wrong`);
    await signInButton.click();
    const error = page.getByTestId('signin-error');
    await error.waitFor({ state: 'visible' });
    const text = (await error.textContent())?.trim() ?? '';
    assert.ok(text.length > 0, 'the sign-in error message is empty');
    assert.equal(await page.getByTestId('current-user').count(), 0, 'signed in with a wrong password');
    await username.fill(user);
    await passwordField.fill(password);
    await signInButton.click();
    await page.getByTestId('current-user').waitFor({ state: 'visible' });
    const shown = (await page.getByTestId('current-user').textContent()) ?? '';
    assert.ok(shown.includes(user), `header shows "${shown}", not the user ${user}`);
    const role = await page.getByTestId('current-role').getAttribute('data-role');
    assert.ok(
      role === 'senior_moderator' || role === 'admin',
      `SG_USER should be a senior_moderator (or admin), the session says ${role}`,
    );
  });

  // b) the queue lists the case.
  const row = page.locator(`[data-testid="queue-row"][data-case-id="${caseId}"]`);
  await step(`queue lists case ${caseId}`, async () => {
    await page.waitForURL(/#\/queue/);
    try {
      await row.waitFor({ state: 'visible' });
    } catch (e) {
      const c = await page.evaluate(async (id) => {
        const res = await fetch(`/v1/cases/${id}`, { credentials: 'same-origin' });
        return { status: res.status, body: await res.text() };
      }, caseId);
      const state = c.status === 200 ? JSON.parse(c.body).state : `GET answered ${c.status} ${c.body}`;
      throw new Error(`case ${caseId} is not in the queue (its state: ${state}); SG_CASE_ID must be an open case`, { cause: e });
    }
    const badge = row.getByTestId('deadline-badge');
    assert.match((await badge.textContent()) ?? '', /^(Overdue|Due in .+)$/, 'deadline badge text');
    await shot('queue.png');
  });

  // c) open it with the keyboard; the preview is the blurred one; unblur with u.
  let itemId = '';
  const img = page.getByTestId('evidence-img').first();
  await step('open the case with j/k and Enter; blurred preview; unblur with u', async () => {
    const ids = await page.locator('[data-testid="queue-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-case-id')));
    const index = ids.indexOf(String(caseId));
    assert.ok(index >= 0, `case ${caseId} not among the rows ${ids.join(',')}`);
    await page.evaluate(() => (document.activeElement instanceof HTMLElement ? document.activeElement.blur() : undefined));
    if (index > 0) {
      for (let i = 0; i < index; i++) await page.keyboard.press('j');
    } else {
      // Move away and back, so the keys are exercised.
      if (ids.length > 1) await page.keyboard.press('j');
      await page.keyboard.press('k');
    }
    assert.equal(await row.getAttribute('data-selected'), 'true', 'j/k did not select the case row');
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`#/case/${caseId}$`));
    await page.getByRole('heading', { level: 1, name: `Case #${caseId}` }).waitFor();
    await page.getByTestId('history-entry').first().waitFor();

    const item = page.getByTestId('evidence-item').first();
    await item.waitFor({ state: 'visible' });
    itemId = (await item.getAttribute('data-item-id')) ?? '';
    assert.ok(itemId, 'the evidence item has no id');
    await img.waitFor({ state: 'visible' });
    const src = (await img.getAttribute('src')) ?? '';
    const preview = `/v1/cases/${caseId}/evidence/${encodeURIComponent(itemId)}/preview`;
    assert.ok(src.endsWith(preview), `preview src is "${src}", expected it to end with ${preview}`);
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout });
    assert.equal(unblurRequests.length, 0, `clear content was fetched before Unblur: ${unblurRequests.join(' ')}`);
    assert.match((await page.getByTestId('unblur-notice').textContent()) ?? '', /audit log/);
    await shot('case-blurred.png');

    await page.keyboard.press('u');
    await page.waitForFunction((el) => (el.getAttribute('src') || '').startsWith('blob:'), await img.elementHandle(), { timeout });
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout });
    assert.equal(await item.getAttribute('data-state'), 'clear');
    assert.equal(unblurRequests.length, 1, `expected one clear-content request, saw ${unblurRequests.length}`);
    assert.ok(unblurRequests[0].includes('reason=unblur'), `the clear-content request has no reason=unblur: ${unblurRequests[0]}`);
    await shot('case-unblurred.png');

    // Blur again (u toggles): back to the preview, the blob URL released.
    await page.keyboard.press('u');
    await page.waitForFunction((el) => !(el.getAttribute('src') || '').startsWith('blob:'), await img.elementHandle(), { timeout });
    assert.equal(unblurRequests.length, 1, 'blurring again fetched the content again');
  });

  // d) remove with a note: r, confirm with Enter.
  await step('remove the case with a note (r, Enter)', async () => {
    const note = page.getByLabel('Note');
    await note.fill('e2e remove');
    await note.press('Escape'); // leaves the field, so the shortcuts work
    await page.keyboard.press('r');
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.match((await dialog.textContent()) ?? '', /e2e remove/, 'the confirmation does not show the note');
    await page.keyboard.press('Enter');
    const entry = page.locator('[data-testid="history-entry"][data-action="remove"]');
    await entry.waitFor({ state: 'visible' });
    const actor = (await entry.last().getAttribute('data-actor')) ?? '';
    assert.ok(actor.includes(user), `the remove entry's actor is "${actor}", not ${user}`);
    assert.match((await entry.last().textContent()) ?? '', /e2e remove/, 'the history entry lacks the note');
    assert.match((await page.getByTestId('action-status').textContent()) ?? '', /removed/i);
    assert.equal(await page.getByTestId('case-state').getAttribute('data-state'), 'closed');
    assert.ok(await page.getByTestId('action-remove').isDisabled(), 'actions still enabled on a closed case');
    await shot('case-after.png');
  });

  // e) the server agrees; a POST without the CSRF header is refused.
  await step('the API shows the new state; a POST without X-CSRF-Token gets 403', async () => {
    const r = await page.evaluate(async (id) => {
      const res = await fetch(`/v1/cases/${id}`, { credentials: 'same-origin' });
      return { status: res.status, body: await res.json() };
    }, caseId);
    assert.equal(r.status, 200, `GET /v1/cases/${caseId} answered ${r.status}`);
    assert.equal(r.body.state, 'closed', `state is ${r.body.state}`);
    assert.equal(r.body.outcome, 'remove', `outcome is ${r.body.outcome}`);
    const last = r.body.history[r.body.history.length - 1];
    assert.equal(last.action, 'remove');
    assert.equal(last.note, 'e2e remove');
    assert.ok(String(last.actor).includes(user), `history actor ${last.actor}`);

    const probe = await page.evaluate(async (id) => {
      const res = await fetch(`/v1/cases/${id}/actions`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ action: 'escalate', note: 'e2e csrf probe' }),
      });
      let body = null;
      try {
        body = await res.json();
      } catch {}
      return { status: res.status, body };
    }, caseId);
    assert.equal(probe.status, 403, `a POST without the CSRF header answered ${probe.status} ${JSON.stringify(probe.body)}`);
    assert.ok(probe.body && probe.body.error && probe.body.error.message, `the 403 has no {"error":{"message"}}: ${JSON.stringify(probe.body)}`);
  });

  // f) the dashboard draws its charts.
  await step('dashboard renders SVG charts', async () => {
    await page.getByTestId('nav-dashboard').click();
    await page.waitForURL(/#\/dashboard/);
    await page.getByTestId('open-cases').waitFor({ state: 'visible' });
    const svg = page.locator('[data-testid="dashboard"] svg');
    await svg.first().waitFor({ state: 'visible' });
    assert.ok((await svg.count()) >= 2, 'expected the volume and time-to-action charts');
    await page.getByRole('button', { name: '7 days' }).click();
    await page.waitForURL(/days=7/);
    await page.locator('[data-testid="period"] button[data-days="7"][aria-pressed="true"]').waitFor();
    await page.getByTestId('open-cases').waitFor({ state: 'visible' });
    await page.locator('[data-testid="dashboard"] svg').first().waitFor({ state: 'visible' });
    await shot('dashboard.png');
  });

  // f2) the report ledger lists the report made for the confirmed case.
  await step('reports page lists the report, sent', async () => {
    await page.getByTestId('nav-reports').click();
    await page.waitForURL(/#\/reports/);
    await page.getByTestId('reports').waitFor({ state: 'visible' });
    if (reportCaseId) {
      const row = page.locator('[data-testid="report-row"]', { has: page.locator(`a[href="#/case/${reportCaseId}"]`) });
      await row.first().waitFor({ state: 'visible' });
      const state = await row.first().locator('[data-state]').getAttribute('data-state');
      assert.equal(state, 'sent', `report of case ${reportCaseId} is ${state}, expected sent`);
    }
    await shot('reports.png');
  });

  // g) sign out.
  await step('sign out returns to the sign-in form', async () => {
    await page.getByTestId('sign-out').click();
    await username.waitFor({ state: 'visible' });
    const status = await page.evaluate(async () => (await fetch('/v1/session', { credentials: 'same-origin' })).status);
    assert.equal(status, 401, `GET /v1/session after sign-out answered ${status}`);
  });

  const unexpected = consoleErrors.filter((m) => !/status of 40[13]/.test(m));
  if (unexpected.length) console.log(`note: browser console errors: ${JSON.stringify(unexpected)}`);
  console.log(
    JSON.stringify({
      ok: true,
      base_url: base,
      user,
      case_id: Number(caseId),
      evidence_item: itemId,
      unblur_requests: unblurRequests.length,
      screenshots,
      steps: stepNo,
    }),
  );
} catch (e) {
  failed = true;
  const message = String(e.message).replace(/\u001b\[[0-9;]*m/g, '');
  console.error(`not ok - ${message}`);
  const where = String((e.cause && e.cause.stack) || '')
    .split('\n')
    .filter((l) => l.trim().startsWith('at ') && l.includes('console.e2e'))
    .slice(0, 2);
  if (where.length) console.error(where.join('\n'));
  if (consoleErrors.length) console.error(`browser console errors: ${JSON.stringify(consoleErrors)}`);
  if (page) {
    try {
      const file = path.join(shotDir, 'failure.png');
      await page.screenshot({ path: file, fullPage: true });
      console.error(`screenshot of the failure: ${file} (url ${page.url()})`);
    } catch {}
  }
  console.log(JSON.stringify({ ok: false, error: message, screenshots }));
} finally {
  await browser.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
