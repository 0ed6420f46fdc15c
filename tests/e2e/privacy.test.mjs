// Once the model is loaded, typing and answering a question makes no network request at all: none seen
// by the browser (page or worker) and none received by the server; the question text never leaves. The
// same holds for adding documents (text, Markdown, HTML and PDF) and answering from them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addDocuments, askAndWait, minimalPdf, openApp, textFile, useServerAndBrowser, waitReady } from './helpers.mjs';

const env = useServerAndBrowser();

/**
 * Starts watching for requests three ways: the browser's request events (page and worker, `requests`),
 * the DevTools network domain, and the server's log. `assertNone()` checks that none of them saw one since.
 */
async function watchNetwork(context, page, requests) {
  const seenBefore = requests.length;
  const servedBefore = env.server.log.length;
  const cdp = await context.newCDPSession(page);
  const cdpRequests = [];
  cdp.on('Network.requestWillBeSent', (e) => cdpRequests.push(e.request.url));
  await cdp.send('Network.enable');
  return {
    assertNone() {
      assert.deepEqual(requests.slice(seenBefore), [], 'no request seen by the browser');
      assert.deepEqual(cdpRequests, [], 'no request seen by the DevTools network domain');
      assert.deepEqual(env.server.log.slice(servedBefore), [], 'no request received by the server');
    },
  };
}

const QUESTION = 'My secret word is zebra-4417. What is 2 plus 2?';
const DOC_SECRET = 'kestrel-9081';

test('no request while typing and answering', { timeout: 420_000 }, async () => {
  const { page, context, requests } = await openApp(env.browser, env.server.url);
  await waitReady(page);
  await page.waitForTimeout(500); // let anything the page does after loading settle

  // The recorder sees the worker's requests too (the model is fetched by the worker).
  assert.ok(requests.some((r) => r.url.endsWith('.gguf')), 'the worker fetch of the model was recorded');
  assert.ok(requests.some((r) => r.url.endsWith('hearth_bg.wasm')), 'the worker fetch of the wasm was recorded');

  // Count from here, in the browser (page and worker) and at the server.
  const quiet = await watchNetwork(context, page, requests);

  await page.getByLabel('Question').click();
  await page.keyboard.type(QUESTION, { delay: 5 });
  const answer = await askAndWait(page, QUESTION);
  console.log(`# answer: ${JSON.stringify(answer)}`);
  assert.ok(answer.text.length > 0);
  await page.waitForTimeout(500);

  quiet.assertNone();

  // And over the whole session, the question text appears in no URL or body.
  for (const r of requests) {
    for (const needle of ['zebra-4417', encodeURIComponent('zebra-4417')]) {
      assert.ok(!r.url.includes(needle) && !r.body.includes(needle), `question leaked in ${r.method} ${r.url}`);
    }
  }
  assert.ok(!env.server.log.some((l) => l.includes('zebra')), 'question leaked to the server');
});

test('no request while adding documents (text, Markdown, HTML, PDF) and answering from them', { timeout: 420_000 }, async () => {
  const { page, context, requests } = await openApp(env.browser, env.server.url);
  await waitReady(page);
  await page.waitForTimeout(500);

  const quiet = await watchNetwork(context, page, requests);

  await addDocuments(page, [
    textFile('vault.txt', `Vault notes\n\nThe password of the vault is ${DOC_SECRET}.\n`),
    textFile('vault.md', `# Vault\n\nThe vault is opened on **Tuesdays**.\n`, 'text/markdown'),
    textFile('vault.html', '<p>The vault is in the <em>basement</em>.</p>', 'text/html'),
    minimalPdf('vault.pdf', ['The vault key is kept by the night porter.']),
  ]);
  const answer = await askAndWait(page, 'What is the password of the vault?');
  console.log(`# answer: ${JSON.stringify(answer)}`);
  assert.ok(answer.text.length > 0);
  assert.match(await page.getByRole('list', { name: 'Sources' }).last().textContent(), /kestrel-9081/, 'answered from the document');
  await page.getByRole('button', { name: 'Remove vault.md' }).click();
  await page.waitForFunction(() => !document.querySelector('ul[aria-label="Documents"]').textContent.includes('vault.md'));
  await waitReady(page);
  await page.waitForTimeout(500);

  quiet.assertNone();

  // Over the whole session: only the page's own origin, and the document text in no URL or body.
  const origin = new URL(env.server.url).origin;
  for (const r of requests) {
    if (!r.url.startsWith('data:')) assert.equal(new URL(r.url).origin, origin, `request to another origin: ${r.url}`);
    assert.ok(!r.url.includes(DOC_SECRET) && !r.body.includes(DOC_SECRET), `document text leaked in ${r.method} ${r.url}`);
  }
  assert.ok(!env.server.log.some((l) => l.includes('kestrel')), 'document text leaked to the server');
});
