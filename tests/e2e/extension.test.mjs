// The Chrome MV3 extension (make extension → extension/dist): Chromium loads it unpacked (headless), a local
// page is opened, the side panel (opened as a tab: headless Chromium has no toolbar to click) asks a question
// about it, and the answer cites the page's sentence; a citation finds it in the page. Nothing leaves the
// extension and the local test server: every other request would go to a trap proxy, which must see none.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, ANSWER_TIMEOUT, CHROMIUM_ARGS, screenshot, startEgressTrap, startServer } from './helpers.mjs';

const DIST = join(ROOT, 'extension', 'dist');
let server, trap, context, profile, extensionId;

before(async () => {
  // The package, then the extension around it (the wasm packages are built by then: make test runs make wasm).
  // Bounded: a synchronous child holds the event loop, so the hook's own limit could not end it.
  execFileSync('bash', ['scripts/package.sh'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });
  execFileSync('bash', ['scripts/build-extension.sh'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });
  // The page a user reads: an office's notes on a local site.
  const site = join(ROOT, 'target', 'e2e-ext-site');
  mkdirSync(site, { recursive: true });
  writeFileSync(
    join(site, 'office.html'),
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Larkspur office</title></head><body>' +
      '<h1>Larkspur office</h1><p>The Larkspur office is on the second floor of the old mill.</p>' +
      '<p>The wifi password of the Larkspur office is heliotrope-42. The office opens at 8 am on weekdays.</p>' +
      '<p>Bicycles can be left in the yard behind the building.</p></body></html>',
  );
  server = await startServer({ mounts: { '/site': site } });
  trap = await startEgressTrap();
  profile = mkdtempSync(join(tmpdir(), 'hearth-ext-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: false, // extensions need the new headless mode, asked for in args
    args: [
      ...CHROMIUM_ARGS.filter((a) => a !== '--headless'),
      '--headless=new',
      // Chromium's own background services (sign-in, network time, the extension and component updaters) are
      // pointed at a closed local port: they are the browser's, not the extension's, and would reach the trap.
      '--disable-default-apps',
      '--disable-client-side-phishing-detection',
      '--disable-domain-reliability',
      '--no-pings',
      '--disable-features=OptimizationHints,Translate,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater,NetworkTimeServiceQuerying',
      '--apps-gallery-update-url=http://127.0.0.1:9',
      '--component-updater=url-source=http://127.0.0.1:9',
      '--extensions-update-frequency=604800',
      '--google-base-url=http://127.0.0.1:9',
      '--gaia-url=http://127.0.0.1:9',
      `--disable-extensions-except=${DIST}`,
      `--load-extension=${DIST}`,
      // Everything but loopback (the test server) goes to the trap.
      `--proxy-server=http://127.0.0.1:${trap.port}`,
    ],
  });
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 30_000 }));
  extensionId = new URL(worker.url()).host;
}, { timeout: 600_000 });

after(async () => {
  await context?.close();
  await server?.stop();
  await trap?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
}, { timeout: 60_000 });

test('ask this page: the side panel answers from the open page with a citation, and nothing leaves the machine', { timeout: 300_000 }, async () => {
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  await page.goto(`${server.url}/site/office.html`);
  const served = server.log.length;
  const panel = await context.newPage();
  const errors = [];
  panel.on('pageerror', (e) => errors.push(String(e)));
  panel.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await panel.goto(`chrome-extension://${extensionId}/sidepanel.html`);
  await page.bringToFront(); // the page is the one most recently used: the panel asks about it
  await panel.getByLabel('Question').fill('What is the wifi password of the Larkspur office?');
  await panel.getByRole('button', { name: 'Ask' }).click();
  await panel.waitForFunction(() => /^(Answered|Not found|Error)/.test(document.getElementById('status').textContent), null, { timeout: ANSWER_TIMEOUT, polling: 200 });
  const status = await panel.getByRole('status').textContent();
  const answer = await panel.getByRole('log', { name: 'Answer' }).textContent();
  const evidence = await panel.getByRole('list', { name: 'Evidence' }).locator('mark').allTextContents();
  const engine = await panel.locator('#engine').textContent();
  console.log(`# side panel crossOriginIsolated: ${await panel.evaluate(() => crossOriginIsolated)}`);
  console.log(`# status: ${status}\n# answer: ${JSON.stringify(answer)}\n# evidence: ${JSON.stringify(evidence)}\n# engine: ${engine}`);
  await screenshot(panel, 'extension-side-panel');
  assert.equal(status, 'Answered', answer);
  // The offscreen document is cross-origin isolated and knows the bundled model's size: it splits it.
  if (cpus().length > 1) assert.match(engine, / · [2-4] threads$/);
  assert.match(evidence[0] ?? '', /wifi password of the Larkspur office is heliotrope-42/, "the first evidence is the page's sentence");
  assert.match(answer, /heliotrope-42/);
  // A citation finds its sentence in the page (selected and scrolled to).
  const cite = panel.getByRole('button', { name: /^Show source \d+ in the page$/ }).first();
  assert.ok(await cite.count(), 'the answer cites the page');
  await cite.click();
  await page.waitForFunction(() => getSelection().toString().length > 0, null, { timeout: 10_000 });
  const selected = await page.evaluate(() => getSelection().toString());
  assert.ok(evidence.some((e) => e.includes(selected) || selected.includes(e.slice(0, 20))), `selected in the page: ${selected}`);
  // Privacy: the local server served the page only (nothing more after it was read); the extension's own
  // files and bundled weights came from chrome-extension://; the trap saw no request.
  assert.deepEqual(server.log.slice(served), [], 'the test server was asked for nothing more');
  const elsewhere = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('chrome-extension://') && !u.startsWith('data:'));
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(trap.seen, [], 'no request tried any other host');
  assert.deepEqual(errors, []);
});
