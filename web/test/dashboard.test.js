'use strict';
// The dashboard in a real headless Chromium (puppeteer-core driving the system's
// chromium-headless-shell) against the real server example in demo mode: a user's page
// shows a module going online within 1 s of the emit, the admin page shows the activity
// entry and server performance, and another user's page never shows the first user's
// modules (checked after a sentinel module of that user's own has appeared).
// The admin page's charts gain points as admin:server:stats arrives, the fleet table lists
// every demo module and its search narrows it, and axe-core finds no serious or
// critical accessibility violation. A second test raises a real alert (five of one user's
// modules offline together) and watches it listed as raised then cleared, filters the
// activity feed by kind (batches arriving later included), and filters and sorts the
// fleet table. Screenshots are written to SCREENSHOT_DIR (default a
// new temporary folder) and their paths printed.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const helpers = require('../../tests/clients/node/helpers.js');

const REPO = path.resolve(__dirname, '..', '..');
const SHOTS = process.env.SCREENSHOT_DIR || fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'mcrt-dashboard-'));
const CANDIDATES = [
  process.env.CHROMIUM_BIN,
  '/usr/bin/chromium-headless-shell',
  '/usr/lib/chromium/chromium-headless-shell',
  '/usr/bin/chromium',
];

function chromium() {
  const found = CANDIDATES.find((candidate) => candidate && fs.existsSync(candidate));
  if (!found) {
    throw new Error(`no Chromium found (tried ${CANDIDATES.filter(Boolean).join(', ')}); ` +
      'install chromium-headless-shell or set CHROMIUM_BIN');
  }
  return found;
}

let server;
let browser;
const pageErrors = [];

before(async () => {
  server = await helpers.startServer({ args: ['--demo', '--stats-interval-ms', '300'] });
  browser = await puppeteer.launch({
    executablePath: chromium(),
    headless: 'shell',
    // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  fs.mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function login(key) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('pageerror', (error) => pageErrors.push(`${key}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`${key}: ${message.text()}`);
  });
  await page.goto(`${server.url}/`, { waitUntil: 'load' });
  await page.waitForSelector(`button[data-login="${key}"]`, { timeout: helpers.TIMEOUT_MS });
  await page.click(`button[data-login="${key}"]`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: helpers.TIMEOUT_MS });
  return page;
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
}

test('the dashboard shows live modules to their owner only and activity to admins', async () => {
  const ada = await login('ada');
  const bob = await login('bob');
  const admin = await login('admin');
  assert.equal(await admin.$eval('body', (b) => b.dataset.role), 'admin');

  const adaModule = helpers.uid('MC-BROWSER-ADA');
  await server.api('module_added', { id: adaModule, userId: '1', name: 'Browser station', type: 'Station' });
  const row = `tr[data-module-id="${adaModule}"]`;
  await ada.waitForSelector(row, { timeout: helpers.TIMEOUT_MS });

  const start = Date.now();
  await server.api('module_online', { moduleId: adaModule, userId: '1' });
  await ada.waitForSelector(`${row}[data-online="true"]`, { timeout: 1000 });
  const elapsed = Date.now() - start;
  console.log(`module online shown on the owner's page ${elapsed} ms after the emit`);
  assert.ok(elapsed < 1000, `${elapsed} ms`);

  await server.api('telemetry_update', { moduleId: adaModule, telemetry: { speed: 4.5, laps: 12 } });
  await ada.waitForFunction(
    (selector) => document.querySelector(`${selector} .telemetry`)?.textContent.includes('laps 12'),
    { timeout: helpers.TIMEOUT_MS },
    row,
  );

  await admin.waitForSelector(
    `#activity li.entry[data-kind="module_online"][data-module-id="${adaModule}"]`,
    { timeout: helpers.TIMEOUT_MS },
  );
  await admin.waitForSelector('#server-stats dt', { timeout: helpers.TIMEOUT_MS });

  // Sentinel: one of Bob's own modules reaches his page, so everything sent to his
  // connection before it has arrived too; Ada's module must not be there.
  const bobModule = helpers.uid('MC-BROWSER-BOB');
  await server.api('module_added', { id: bobModule, userId: '2', name: 'Sentinel', type: 'Lift' });
  await server.api('module_online', { moduleId: bobModule, userId: '2' });
  await bob.waitForSelector(`tr[data-module-id="${bobModule}"][data-online="true"]`, { timeout: helpers.TIMEOUT_MS });
  assert.equal(await bob.$(row), null, "Bob's page shows Ada's module");
  assert.equal(await bob.$('#admin-view:not([hidden])'), null, "Bob's page shows the admin view");
  const bobModules = await bob.$$eval('#modules tbody tr', (rows) => rows.map((r) => r.dataset.moduleId));
  assert.ok(bobModules.every((id) => !id.startsWith('MC-BROWSER-ADA')), bobModules.join(','));

  // The admin's fleet table lists every demo module (the first snapshot page holds
  // them all), whoever owns it, and Ada's new one; no telemetry is shown as JSON.
  const demo = ['MC-0001-STN', 'MC-0002-LFT', 'MC-0003-SWT', 'MC-0101-STN', adaModule];
  for (const id of demo) await admin.waitForSelector(`tr[data-module-id="${id}"]`, { timeout: helpers.TIMEOUT_MS });
  await admin.waitForSelector('#modules[data-complete="true"]', { timeout: helpers.TIMEOUT_MS });
  const telemetry = await admin.$$eval('#modules .telemetry', (cells) => cells.map((c) => c.textContent));
  assert.ok(telemetry.every((cell) => !cell.includes('{') && !cell.includes('"')), telemetry.join(' | '));
  // The search narrows the table to Bob's station; clearing it shows everything again.
  await admin.type('#fleet-search', 'Gare de Bob');
  await admin.waitForFunction(() => [...document.querySelectorAll('#modules tbody tr')]
    .filter((r) => !r.hidden).map((r) => r.dataset.moduleId).join() === 'MC-0101-STN', { timeout: helpers.TIMEOUT_MS });
  await admin.$eval('#fleet-search', (input) => { input.value = ''; input.dispatchEvent(new Event('input')); });
  // Going offline turns the row on the admin's page too.
  await server.api('module_offline', { moduleId: adaModule, userId: '1' });
  await admin.waitForSelector(`tr[data-module-id="${adaModule}"][data-online="false"]`, { timeout: helpers.TIMEOUT_MS });
  await ada.waitForSelector(`${row}[data-online="false"]`, { timeout: helpers.TIMEOUT_MS });

  // Charts: uPlot drew them, and they gain points as server stats arrive (every 300 ms).
  const points = () => admin.$eval('figure[data-chart="events"]', (f) => Number(f.dataset.points));
  await admin.waitForSelector('figure[data-chart="events"] canvas', { timeout: helpers.TIMEOUT_MS });
  const before = await points();
  await admin.waitForFunction((n) => Number(document.querySelector('figure[data-chart="events"]').dataset.points) > n,
    { timeout: helpers.TIMEOUT_MS }, before);
  for (const name of ['unchanged', 'latency', 'roles', 'pages', 'memory', 'cpu']) {
    assert.ok(await admin.$(`figure[data-chart="${name}"]`), `chart ${name}`);
  }
  // A sparkline per module with telemetry.
  assert.ok(await ada.$(`${row} .telemetry svg.spark`), 'sparkline in the telemetry cell');

  // The audit viewer pages newest first; a filter narrows it; a user's socket is refused.
  await admin.click('#audit-form button[type="submit"]');
  await admin.waitForFunction(() => document.querySelectorAll('#audit tbody tr').length === 20, { timeout: helpers.TIMEOUT_MS });
  await admin.click('#audit-older');
  await admin.waitForSelector('#audit[data-pages="2"]', { timeout: helpers.TIMEOUT_MS });
  const auditIds = await admin.$$eval('#audit tbody tr', (rows) => rows.map((r) => Number(r.dataset.auditId)));
  assert.ok(auditIds.length > 20 && auditIds.every((id, i) => i === 0 || id < auditIds[i - 1]), auditIds.join(','));
  await admin.type('#audit-module', adaModule);
  await admin.click('#audit-form button[type="submit"]');
  await admin.waitForFunction((id) => {
    const modules = [...document.querySelectorAll('#audit tbody tr td:nth-child(6)')].map((c) => c.textContent);
    return modules.length > 0 && modules.every((m) => m === id);
  }, { timeout: helpers.TIMEOUT_MS }, adaModule);
  assert.ok(!(await admin.$eval('#audit', (t) => t.textContent)).includes('demo-'), 'no session id in the audit view');
  const refused = await bob.evaluate(() => socket.timeout(5000).emitWithAck('client:audit', {}));
  assert.equal(refused.code, 'forbidden');
  // Bob's connection still works and got nothing from it: his own sentinel module arrives.
  const bobLater = helpers.uid('MC-BROWSER-BOB');
  await server.api('module_added', { id: bobLater, userId: '2', name: 'Later', type: 'Lift' });
  await bob.waitForSelector(`tr[data-module-id="${bobLater}"]`, { timeout: helpers.TIMEOUT_MS });

  for (const [name, page] of [['ada', ada], ['admin', admin]]) {
    await page.addScriptTag({ path: require.resolve('axe-core') });
    const serious = await page.evaluate(async () => (await window.axe.run()).violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`));
    assert.deepEqual(serious, [], `axe-core on ${name}'s page`);
  }

  await shot(ada, 'user-ada');
  await shot(bob, 'user-bob');
  await shot(admin, 'admin');
  assert.deepEqual(pageErrors, []);
});

test('alerts show their state, and the activity feed and fleet table filter and sort', async () => {
  const admin = await login('admin');
  const owner = helpers.uid('browser-owner');
  const ids = [1, 2, 3, 4, 5].map((n) => `${helpers.uid('MC-BROWSER-OFF')}-${n}`);
  for (const id of ids) {
    await server.api('module_added', { id, userId: owner, name: `Off ${id}`, type: 'Station', online: true });
  }
  for (const id of ids) await admin.waitForSelector(`tr[data-module-id="${id}"][data-online="true"]`, { timeout: helpers.TIMEOUT_MS });

  // Five of one user's modules offline within 10 s raise modules_offline_together once;
  // it is listed as raised, then as cleared once the window has passed (10 s).
  for (const id of ids) await server.api('module_offline', { moduleId: id, userId: owner });
  const alert = `#alerts li[data-alert-id="modules_offline_together:${owner}"]`;
  await admin.waitForSelector(`${alert}[data-state="raised"]`, { timeout: helpers.TIMEOUT_MS });
  const raised = await admin.$eval(alert, (li) => ({ level: li.className, text: li.textContent }));
  assert.equal(raised.level, 'warning');
  assert.match(raised.text, /^\d{1,2}:\d{2}:\d{2}.*\[warning\] 5 modules of user .* — raised$/, raised.text);

  // The activity filter shows only the chosen kind, also for batches that arrive later.
  await admin.waitForSelector(`#activity li.entry[data-kind="module_offline"][data-module-id="${ids[4]}"]`, { timeout: helpers.TIMEOUT_MS });
  await admin.select('#activity-kind', 'module_offline');
  const later = `${helpers.uid('MC-BROWSER-LATE')}`;
  await server.api('module_added', { id: later, userId: owner, name: 'Late', type: 'Lift' });
  await admin.waitForSelector(`#activity li.entry[data-kind="module_added"][data-module-id="${later}"]`, { timeout: helpers.TIMEOUT_MS });
  const shown = () => admin.$$eval('#activity li.entry', (lines) => lines
    .map((l) => ({ kind: l.dataset.kind, hidden: l.hidden })));
  let entries = await shown();
  assert.ok(entries.some((e) => !e.hidden), 'some module_offline entries are shown');
  assert.deepEqual(entries.filter((e) => !e.hidden && e.kind !== 'module_offline'), []);
  assert.ok(entries.some((e) => e.hidden && e.kind === 'module_added'), 'the later module_added entry is hidden');
  await admin.select('#activity-kind', 'all');
  entries = await shown();
  assert.deepEqual(entries.filter((e) => e.hidden), []);

  // The fleet's status filter, then sorting by module id both ways.
  const visible = () => admin.$$eval('#modules tbody tr', (rows) => rows
    .filter((r) => !r.hidden).map((r) => ({ id: r.dataset.moduleId, online: r.dataset.online })));
  await admin.select('#fleet-state', 'offline');
  let rows = await visible();
  for (const id of ids) assert.ok(rows.some((r) => r.id === id), `${id} listed as offline`);
  assert.deepEqual(rows.filter((r) => r.online !== 'false'), []);
  await admin.select('#fleet-state', 'online');
  rows = await visible();
  assert.ok(rows.length > 0, 'demo modules are online');
  assert.deepEqual(rows.filter((r) => r.online !== 'true'), []);
  await admin.select('#fleet-state', 'all');
  const order = () => admin.$$eval('#modules tbody tr', (rows) => rows.map((r) => r.dataset.moduleId));
  const byId = (a, b) => a.localeCompare(b, 'en', { numeric: true });
  await admin.click('#modules th[data-sort="id"]');
  const ascending = await order();
  assert.deepEqual(ascending, [...ascending].sort(byId));
  await admin.click('#modules th[data-sort="id"]');
  const descending = await order();
  assert.deepEqual(descending, [...ascending].reverse());
  assert.equal(await admin.$eval('#modules th[data-sort="id"]', (th) => th.getAttribute('aria-sort')), 'descending');

  await admin.waitForSelector(`${alert}[data-state="cleared"]`, { timeout: 15000 });
  assert.match(await admin.$eval(alert, (li) => li.textContent), / — cleared \d{1,2}:\d{2}:\d{2}/);
  assert.equal((await admin.$$('#alerts li[data-alert-id^="modules_offline_together:"]')).length, 1, 'raised once');
  assert.deepEqual(pageErrors, []);
});
