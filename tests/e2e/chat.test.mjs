// Opens the page, waits for the default model, asks a question and checks the answer streams in,
// with every request going to the page's own origin.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { askAndWait, openApp, screenshot, statusText, useServerAndBrowser, waitReady } from './helpers.mjs';

const env = useServerAndBrowser();

test('loads the default model and answers a question', { timeout: 420_000 }, async () => {
  const { page, requests, errors } = await openApp(env.browser, env.server.url);
  await screenshot(page, 'chat-1-loading');

  const t0 = Date.now();
  await waitReady(page);
  console.log(`# model ready after ${Date.now() - t0} ms`);
  await screenshot(page, 'chat-2-ready');
  assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'the page is cross-origin isolated');
  assert.match(await page.locator('#model-info').textContent(), /llama/);
  // Chromium has relaxed SIMD, so the worker picked the pkg-relaxed build (www/wasm-package.js).
  assert.match(await page.locator('#model-info').textContent(), /relaxed SIMD/);

  const t1 = Date.now();
  const answer = await askAndWait(page, 'What is the capital of France?');
  console.log(`# answered in ${Date.now() - t1} ms: ${JSON.stringify(answer)}`);
  await screenshot(page, 'chat-3-answered');

  assert.equal(await statusText(page), 'Ready');
  assert.match(answer.text, /paris/i);
  assert.match(answer.stats, /\d+(\.\d+)? tokens\/s/);
  assert.ok(answer.generatedTokens > 0);

  const origin = new URL(env.server.url).origin;
  assert.ok(requests.length > 0);
  for (const r of requests) {
    if (r.url.startsWith('data:')) continue; // inline favicon, no network
    assert.equal(new URL(r.url).origin, origin, `request to another origin: ${r.url}`);
  }
  assert.deepEqual(errors, [], 'no console errors');
});

test('keyboard: Shift+Enter adds a line, Enter asks, the chat continues, New chat clears it', { timeout: 300_000 }, async () => {
  const { page } = await openApp(env.browser, env.server.url);
  await waitReady(page);
  await askAndWait(page, 'What is the capital of France?');

  const box = page.getByLabel('Question');
  await box.focus();
  await page.keyboard.type('Thank you.');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('And what is the capital of Italy?');
  assert.equal(await box.inputValue(), 'Thank you.\nAnd what is the capital of Italy?');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('[data-role="assistant"]:not(.pending)').length === 2, null, {
    timeout: 180_000,
  });
  await waitReady(page);
  assert.equal(await box.inputValue(), '', 'the question box is emptied');
  const stats = await page.locator('[data-role="assistant"] .stats').last().textContent();
  console.log(`# second turn: ${stats}`);
  assert.match(stats, /prompt \d+ tokens \([1-9]\d* cached/, 'the first turn is reused from the KV cache');

  await page.getByRole('button', { name: 'New chat' }).click();
  assert.equal(await page.locator('[data-role]').count(), 0);
  await waitReady(page);
});
