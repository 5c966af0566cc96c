// dashboard_browser.js - `keygate dashboard`'s page in a real browser (Debian's chromium driven
// by playwright-core, both pinned by scripts/setup), run by dashboard_itest.sh with what the
// devnet's lifecycle left:
//   node dashboard_browser.js EXPECT.json
// EXPECT: {tools, chromium, live, tampered, screenshots, app, hash_a, hash_b, allowed, denied,
//          app_allowed, app_denied, deny_reason, hostile_advisory, hostile_reason,
//          timelocked, hash_c, hash_d, hash_e, guardian, safe_owned}
// Checks the page as a user sees it: the verdict, the app's owner, notice and timeline (A
// allowed then revoked, B allowed), the decision counts and that each filter changes table,
// counts and chart; hostile strings from the chain and the log shown as text with no element or
// script of theirs; no request leaves the dashboard (offline), no script error. Screenshots of
// each state go to EXPECT.screenshots. Prints "ok N - ..." lines; exits 1 at the first failure.
'use strict';
const fs = require('fs');
const path = require('path');

const want = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { chromium } = require(path.join(want.tools, 'node_modules', 'playwright-core'));

let n = 0;
function ok(msg) { n++; console.log(`ok ${n} - browser: ${msg}`); }
function check(cond, msg) { if (!cond) throw new Error(msg); }

async function open(browser, url, outside, errors) {
  const origin = new URL(url).origin;
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  // offline: anything not served by the dashboard itself is refused and recorded
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (new URL(u).origin !== origin) { outside.push(u); return route.abort(); }
    return route.continue();
  });
  await page.goto(url);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60000 });
  return page;
}

const text = (page, sel) => page.locator(sel).innerText();
const count = async (page, id) => Number(await text(page, id));

async function noInjection(page, what) {
  const r = await page.evaluate(() => ({
    pwned: window.__pwned,
    imgs: document.querySelectorAll('img').length,
    scripts: [...document.scripts].map((s) => s.getAttribute('src')),
    bold: document.querySelectorAll('main b').length
  }));
  check(r.pwned === undefined, `${what}: a script from the data ran (__pwned = ${r.pwned})`);
  check(r.imgs === 0 && r.bold === 0, `${what}: markup from the data became elements (${JSON.stringify(r)})`);
  check(JSON.stringify(r.scripts) === JSON.stringify(['/uPlot.iife.min.js', '/dashboard.js']),
    `${what}: unexpected scripts ${JSON.stringify(r.scripts)}`);
}

(async () => {
  fs.mkdirSync(want.screenshots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: want.chromium,
    // root in CI: chromium's sandbox needs user namespaces it may not get there
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: 60000
  });
  const outside = [], errors = [];
  try {
    const page = await open(browser, want.live, outside, errors);
    check(await page.locator('#verify').getAttribute('data-state') === 'ok', 'verdict is not ok');
    check((await text(page, '#verify-status')).startsWith('OK'), 'verdict text');
    await page.screenshot({ path: path.join(want.screenshots, 'live.png'), fullPage: true });
    ok('the page loads on the devnet; the log verifies (green)');

    const appRow = page.locator(`#apps tr[data-app="${want.app}"]`);
    check(await appRow.count() === 1, 'the app is not listed');
    const cells = await appRow.locator('td').allInnerTexts();
    check(cells[2] === 'none' && cells[3] === 'none' && cells[4] === '1' && cells[5] === '0',
      `app row: ${JSON.stringify(cells)}`);
    const tl = page.locator(`div.app[data-app="${want.app}"] table.timeline tbody tr`);
    const kinds = await tl.evaluateAll((rows) => rows.map((r) => [r.dataset.kind, r.dataset.hash]));
    const seq = kinds.filter(([, h]) => h === want.hash_a).map(([k]) => k);
    check(JSON.stringify(seq) === '["allowed","revoked"]', `timeline of A: ${JSON.stringify(seq)}`);
    check(kinds.some(([k, h]) => k === 'allowed' && h === want.hash_b), 'timeline: B not allowed');
    const revoked = await page.locator(`div.app tr.ev-revoked[data-hash="${want.hash_a}"] td`).allInnerTexts();
    check(/^\d{4}-\d\d-\d\d /.test(revoked[0]) && /^\d+$/.test(revoked[3]) && revoked[4].startsWith('0x'),
      `revocation row lacks time, block or transaction: ${JSON.stringify(revoked)}`);
    const allowedNow = await page.locator(`div.app[data-app="${want.app}"] .allowed-now .hash`).allInnerTexts();
    check(JSON.stringify(allowedNow) === JSON.stringify([want.hash_b]), `allowed now: ${allowedNow}`);
    ok(`the app's timeline: A allowed then revoked (block ${revoked[3]}), B allowed and the only one allowed now`);

    const tlRow = page.locator(`#apps tr[data-app="${want.timelocked}"] td`);
    const tcells = await tlRow.allInnerTexts();
    check(tcells[2] === '1 h' && tcells[3].startsWith(want.guardian.slice(0, 10)) && tcells[4] === '2' && tcells[5] === '1',
      `time-locked app row: ${JSON.stringify(tcells)}`);
    const tk = await page.locator(`div.app[data-app="${want.timelocked}"] table.timeline tbody tr`)
      .evaluateAll((rows) => rows.map((r) => [r.dataset.kind, r.dataset.hash, r.cells[2].textContent]));
    const of = (h) => tk.filter(([, x]) => x === h).map(([k]) => k).join(',');
    check(of(want.hash_c) === 'proposed,activated', `timeline of C: ${of(want.hash_c)}`);
    check(of(want.hash_d) === 'proposed,vetoed', `timeline of D: ${of(want.hash_d)}`);
    check(of(want.hash_e) === 'proposed,pending', `timeline of E: ${of(want.hash_e)}`);
    check(tk.some(([k, h, t]) => k === 'vetoed' && h === want.hash_d && t.includes(want.guardian)), 'the veto does not name the guardian');
    check(tk.some(([k, h, t]) => k === 'pending' && h === want.hash_e && /becomes active at \d{4}-/.test(t)), 'E: no activation time');
    check(await page.locator('#kms-checkpoints tbody tr').count() === 1 &&
      /^\d+$/.test((await page.locator('#kms-checkpoints tbody td').first().innerText())), 'checkpoint row');
    check(await page.locator(`#apps tr[data-app="${want.safe_owned}"] .badge`).innerText() === 'contract' &&
      await page.locator(`#apps tr[data-app="${want.app}"] .badge`).count() === 0, 'owner-is-a-contract badge');
    ok('the app owned by a Safe is marked as owned by a contract, the one owned by a key is not');
    ok('the time-locked app: notice 1 h and its guardian; C proposed then active, D vetoed by the guardian, E pending with its time; one checkpoint on chain');

    check(await count(page, '#count-total') === want.allowed + want.denied &&
      await count(page, '#count-allow') === want.allowed && await count(page, '#count-deny') === want.denied,
      `counts ${await text(page, '#counts')} != ${want.allowed} released, ${want.denied} denied`);
    check(await page.locator('#chart canvas').count() >= 1, 'no chart drawn');
    check(Number(await page.locator('#chart').getAttribute('data-points')) === want.allowed + want.denied, 'chart points');
    ok(`decision counts: ${want.allowed} released, ${want.denied} denied; the chart has them all`);

    await page.selectOption('#f-decision', 'deny');
    check(await count(page, '#count-total') === want.denied && await count(page, '#count-allow') === 0, 'decision filter counts');
    const decs = await page.locator('#decisions tbody tr.decision').evaluateAll((r) => r.map((x) => x.dataset.decision));
    check(decs.length === want.denied && decs.every((d) => d === 'deny'), `decision filter rows: ${decs}`);
    check(Number(await page.locator('#chart').getAttribute('data-points')) === want.denied, 'chart not filtered');
    await page.selectOption('#f-decision', '');
    await page.selectOption('#f-app', want.app.slice(2).toLowerCase());
    check(await count(page, '#count-allow') === want.app_allowed && await count(page, '#count-deny') === want.app_denied,
      `app filter: ${await text(page, '#counts')}`);
    await page.selectOption('#f-reason', want.deny_reason);
    const reasons = await page.locator('#decisions tbody td.reason').allInnerTexts();
    check(reasons.length === 1 && reasons[0] === want.deny_reason, `reason filter: ${reasons}`);
    await page.screenshot({ path: path.join(want.screenshots, 'live-filtered.png'), fullPage: true });
    ok(`filters: denied only (${want.denied}), this app (${want.app_allowed} + ${want.app_denied}), reason '${want.deny_reason}' (1)`);

    const policy = await page.locator(`div.app[data-app="${want.app}"] li.policy-event[data-kind="AdvisoryDenySet"]`).allTextContents();
    check(policy.length === 1 && policy[0].includes(`advisory ${want.hostile_advisory} on`),
      `the advisory id is not shown as text: ${JSON.stringify(policy)}`);
    await noInjection(page, 'live page');
    const m = await page.locator('#kms-measurements tbody td:nth-child(3)').allInnerTexts();
    check(m.length === 3 && m.every((x) => x === 'allowed'), `KMS measurements: ${m}`);
    check((await page.locator('#kms-nodes tbody tr').getAttribute('data-state')) === 'ok', 'KMS node not ok');
    ok('an HTML advisory id from the chain is shown as text, no element or script of its own; KMS node ok, its measurements allowed');

    const bad = await open(browser, want.tampered, outside, errors);
    check(await bad.locator('#verify').getAttribute('data-state') === 'failed', 'tampered log: verdict not failed');
    const v = await bad.locator('#violations li').allInnerTexts();
    check(v.length >= 1 && v.some((x) => x.includes('is in no log entry')), `violations: ${v}`);
    await bad.selectOption('#f-decision', 'deny');
    const badReasons = await bad.locator('#decisions tbody td.reason').allInnerTexts();
    check(badReasons.includes(want.hostile_reason), 'the hand-added reason is not shown as text');
    await noInjection(bad, 'tampered page');
    await bad.screenshot({ path: path.join(want.screenshots, 'tampered.png'), fullPage: true });
    ok(`a tampered log fails verification (${v[0]}); its HTML reason is shown as text`);

    check(outside.length === 0, `requests outside the dashboard: ${outside}`);
    check(errors.length === 0, `errors: ${errors.join('; ')}`);
    ok('offline: no request left the dashboard; no script error');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(`not ok - browser: ${e.message}`);
  process.exit(1);
});
