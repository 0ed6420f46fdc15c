// Failures are shown and leave the page usable; Stop ends a long generation.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { askAndWait, lastAnswer, openApp, screenshot, statusText, useServerAndBrowser, waitReady } from './helpers.mjs';

let app, tmp;
const env = useServerAndBrowser(async ({ browser, server }) => {
  app = await openApp(browser, server.url);
  await waitReady(app.page);
  tmp = mkdtempSync(join(tmpdir(), 'hearth-e2e-'));
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const alertText = (page) => page.getByRole('alert').textContent();

async function waitAlert(page, pattern) {
  await page.waitForFunction(
    (src) => new RegExp(src, 'i').test(document.querySelector('[role="alert"]')?.textContent ?? ''),
    pattern.source,
    { timeout: 60_000, polling: 100 },
  );
}

test('a bad model file shows a GGUF error and the page stays usable', { timeout: 300_000 }, async () => {
  const { page } = app;
  const bad = join(tmp, 'bad.gguf');
  writeFileSync(bad, randomBytes(64 * 1024));
  await page.getByLabel('Model file').setInputFiles(bad);
  await waitAlert(page, /GGUF/);
  await waitReady(page);
  await screenshot(page, 'errors-1-bad-file');
  const message = await alertText(page);
  console.log(`# alert: ${message}`);
  assert.match(message, /bad\.gguf/);
  assert.match(message, /not a GGUF file/);

  // The model loaded before is still there and answers.
  const answer = await askAndWait(page, 'What is the capital of France?');
  assert.match(answer.text, /paris/i);
  assert.equal(await alertText(page), '', 'the error is cleared by the next action');
});

test('a bad file dropped on the page shows a GGUF error', { timeout: 120_000 }, async () => {
  const { page } = app;
  const dataTransfer = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(1024).fill(7)], 'dropped.gguf'));
    return dt;
  });
  await page.dispatchEvent('body', 'dragenter', { dataTransfer });
  await page.dispatchEvent('body', 'drop', { dataTransfer });
  await waitAlert(page, /dropped\.gguf.*GGUF/);
  await waitReady(page);
});

test('a missing model URL shows the HTTP error', { timeout: 120_000 }, async () => {
  const { page } = app;
  await page.getByLabel('Model URL').fill('/models/nowhere/missing.gguf');
  await page.getByRole('button', { name: 'Load', exact: true }).click();
  await waitAlert(page, /404/);
  await waitReady(page);
  assert.match(await alertText(page), /missing\.gguf/);
});

test("a model URL on another site says only this site's models can be loaded; nothing is requested", { timeout: 120_000 }, async () => {
  const { page, requests } = app;
  const before = requests.length;
  await page.getByLabel('Model URL').fill('https://models.example.invalid/other/model.gguf');
  await page.getByRole('button', { name: 'Load', exact: true }).click();
  await waitAlert(page, /only this site's models/);
  await waitReady(page);
  assert.match(await alertText(page), /models\.example\.invalid/);
  assert.ok(!requests.slice(before).some((r) => /example\.invalid/.test(r.url)), 'the other site was not asked');
});

test('Stop ends a long generation', { timeout: 300_000 }, async () => {
  const { page } = app;
  await page.getByText('Settings').click();
  await page.getByLabel('Max tokens').fill('200');
  await page.getByLabel('Question').fill('Write a long story about a dragon who learns to bake bread.');
  await page.getByRole('button', { name: 'Ask' }).click();

  const stop = page.getByRole('button', { name: 'Stop' });
  await page.waitForFunction(
    () => (document.querySelector('[data-role="assistant"].pending .text')?.textContent.length ?? 0) > 20,
    null,
    { timeout: 120_000, polling: 50 },
  );
  assert.equal(await statusText(page), 'Generating…');
  assert.equal(await stop.isEnabled(), true);
  await screenshot(page, 'errors-2-generating');
  await stop.click();

  await waitReady(page, 60_000);
  await screenshot(page, 'errors-3-stopped');
  const answer = await lastAnswer(page);
  console.log(`# stopped answer: ${JSON.stringify(answer)}`);
  assert.equal(answer.stopReason, 'cancelled');
  assert.ok(answer.generatedTokens > 0 && answer.generatedTokens < 200, `${answer.generatedTokens} tokens`);
  assert.ok(answer.text.length > 20);
  assert.equal(await stop.isEnabled(), false);
  assert.equal(await page.getByRole('button', { name: 'Ask' }).isEnabled(), true);
});

test('too little browser storage: a clear message, and the models load without caching', { timeout: 300_000 }, async () => {
  const { browser, server } = env;
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(server.url).origin, quotaSize: 20e6 });
  await page.goto(server.url);
  await waitReady(page);
  const warning = await page.locator('#storage-warning').textContent();
  console.log(`# warning: ${warning}`);
  // Chromium's quota override limits writes but not what navigator.storage.estimate() reports, so here the
  // write fails part way (QuotaExceededError) rather than the up-front estimate check: both say so.
  assert.match(warning, /SmolLM2-135M-Instruct\.Q4_1\.gguf \(browser storage is full\)|Not enough browser storage to cache SmolLM2/);
  assert.match(warning, /model\.f16\.safetensors \(browser storage is full\)|Not enough browser storage to cache the embedder's model\.f16\.safetensors/);
  assert.match(warning, /loaded without caching/);
  assert.match(await page.locator('#cache-info').textContent(), /^(No model cached|[12] model files? cached \(0\.\d MB\))/);
  await screenshot(page, 'errors-4-storage-short');
  const answer = await askAndWait(page, 'What is the capital of France?');
  assert.match(answer.text, /paris/i);
  await context.close();
});
