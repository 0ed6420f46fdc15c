// Once the model is loaded, typing and answering a question makes no network request at all: none seen
// by the browser (page or worker) and none received by the server; the question text never leaves.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { askAndWait, openApp, useServerAndBrowser, waitReady } from './helpers.mjs';

const env = useServerAndBrowser();

const QUESTION = 'My secret word is zebra-4417. What is 2 plus 2?';

test('no request while typing and answering', { timeout: 420_000 }, async () => {
  const { page, context, requests } = await openApp(env.browser, env.server.url);
  await waitReady(page);
  await page.waitForTimeout(500); // let anything the page does after loading settle

  // The recorder sees the worker's requests too (the model is fetched by the worker).
  assert.ok(requests.some((r) => r.url.endsWith('.gguf')), 'the worker fetch of the model was recorded');
  assert.ok(requests.some((r) => r.url.endsWith('hearth_bg.wasm')), 'the worker fetch of the wasm was recorded');

  // Count from here, in the browser (page and worker) and at the server.
  const seenBefore = requests.length;
  const servedBefore = env.server.log.length;
  const cdp = await context.newCDPSession(page);
  const cdpRequests = [];
  cdp.on('Network.requestWillBeSent', (e) => cdpRequests.push(e.request.url));
  await cdp.send('Network.enable');

  await page.getByLabel('Question').click();
  await page.keyboard.type(QUESTION, { delay: 5 });
  const answer = await askAndWait(page, QUESTION);
  console.log(`# answer: ${JSON.stringify(answer)}`);
  assert.ok(answer.text.length > 0);
  await page.waitForTimeout(500);

  const during = requests.slice(seenBefore);
  assert.deepEqual(during, [], 'no request seen by the browser');
  assert.deepEqual(cdpRequests, [], 'no request seen by the DevTools network domain');
  assert.deepEqual(env.server.log.slice(servedBefore), [], 'no request received by the server');

  // And over the whole session, the question text appears in no URL or body.
  for (const r of requests) {
    for (const needle of ['zebra-4417', encodeURIComponent('zebra-4417')]) {
      assert.ok(!r.url.includes(needle) && !r.body.includes(needle), `question leaked in ${r.method} ${r.url}`);
    }
  }
  assert.ok(!env.server.log.some((l) => l.includes('zebra')), 'question leaked to the server');
});
