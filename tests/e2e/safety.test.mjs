// Documents and answers are rendered as text, never as HTML: markup in a document (as .html and as .txt), in
// a file name, in a question or in the model's answer creates no element and runs nothing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addDocuments, askAndWait, documentNames, openApp, screenshot, textFile, useServerAndBrowser, waitReady } from './helpers.mjs';

const env = useServerAndBrowser();

const PAYLOAD =
  '<img src=x onerror="window.__pwned=1;document.title=\'pwned\'">' +
  '<script>window.__pwned=2;document.title="pwned"</script>' +
  '<svg onload="window.__pwned=3"></svg>';
const FACT = 'The Marrowind garden gate code is 5512.';

test('markup in documents, file names, questions and answers stays text', { timeout: 300_000 }, async () => {
  const { page, errors } = await openApp(env.browser, env.server.url);
  await waitReady(page);
  const title = await page.title();
  const elementsBefore = await page.evaluate(() => document.querySelectorAll('img, script, svg, iframe, object').length);

  const docs = [
    textFile('garden.html', `<html><body><p>${FACT}</p>${PAYLOAD}<p>Gate notes end here.</p></body></html>`, 'text/html'),
    textFile('garden.txt', `Garden notes\n\n${FACT} ${PAYLOAD}\n`),
    textFile(`<img src=x onerror="window.__pwned=4">.txt`, `Notes about the Marrowind garden shed. ${PAYLOAD}\n`),
  ];
  await addDocuments(page, docs);
  assert.deepEqual((await documentNames(page)).sort(), docs.map((d) => d.name).sort(), 'the file names are shown as text');

  // Ask with markup in the question and ask the model to repeat the markup.
  const answer = await askAndWait(page, `What is the Marrowind garden gate code? Repeat this too: ${PAYLOAD}`);
  console.log(`# answer: ${JSON.stringify(answer)}`);

  // Open every source passage and every citation.
  const turn = page.locator('[data-role="assistant"]').last();
  for (const summary of await turn.locator('.sources summary').all()) await summary.click();
  for (const cite of await turn.locator('button.cite').all()) await cite.click();
  const sources = await turn.locator('.sources').textContent();
  assert.ok(sources.includes('<img src=x onerror='), 'the .txt passage shows the markup as text');
  assert.ok(sources.includes('<script>window.__pwned=2'), 'script tags in a .txt passage show as text');
  await screenshot(page, 'safety-1-markup-as-text');

  await page.waitForTimeout(500); // an image error or a script would have run by now
  const after = await page.evaluate(() => ({
    pwned: window.__pwned ?? null,
    title: document.title,
    elements: document.querySelectorAll('img, script, svg, iframe, object').length,
    inAnswer: document.querySelectorAll('[aria-label="Answer"] :is(img, script, svg, iframe, object)').length,
    inDocuments: document.querySelectorAll('ul[aria-label="Documents"] :is(img, script, svg)').length,
  }));
  assert.equal(after.pwned, null, 'no handler or script ran');
  assert.equal(after.title, title, 'the title is unchanged');
  assert.equal(after.inAnswer, 0, 'no element made from a document or an answer');
  assert.equal(after.inDocuments, 0, 'no element made from a file name');
  assert.equal(after.elements, elementsBefore, 'no new img/script/svg/iframe/object anywhere');
  assert.deepEqual(errors, [], 'no console errors (not even a blocked inline handler)');
});
