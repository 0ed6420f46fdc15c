// Documents and answers from them: add a document, ask a question only it answers, get the fact with a
// citation that reveals the passage and names the document; reload: the index is still there and the models
// come from the browser cache (no weights downloaded again). Also PDF text, samples, remove, cancel, a
// damaged saved index and an oversized document. All tests share one browser context (one OPFS).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addDocuments,
  askAndWait,
  documentNames,
  minimalPdf,
  openApp,
  screenshot,
  statusText,
  textFile,
  useServerAndBrowser,
  waitReady,
  weightRequests,
} from './helpers.mjs';

let app;
useServerAndBrowser(async ({ browser, server }) => {
  app = await openApp(browser, server.url);
});

const FACT_DOC = textFile(
  'larkspur-office.txt',
  'Larkspur office notes\n\nThe wifi password of the Larkspur office is heliotrope-42. The office opens at 8 am on weekdays.\n',
);
const QUESTION = 'What is the wifi password of the Larkspur office?';

const alertText = (page) => page.getByRole('alert').textContent();

/** Clicks each citation button of the last answer; returns [{label, passage}] (the revealed passage's text). */
async function citations(page) {
  const turn = page.getByRole('region', { name: 'Answer' }).locator('[data-role="assistant"]').last();
  const buttons = turn.locator('button.cite');
  const out = [];
  for (let i = 0; i < (await buttons.count()); i++) {
    const b = buttons.nth(i);
    if ((await b.getAttribute('aria-expanded')) !== 'true') await b.click();
    const revealed = turn.getByRole('region', { name: 'Cited passage' });
    out.push({ label: await b.getAttribute('aria-label'), passage: await revealed.textContent() });
  }
  return out;
}

test('answers from an added document with a citation; the index and models survive a reload', { timeout: 300_000 }, async () => {
  const { page, requests, errors } = app;
  const t0 = Date.now();
  await waitReady(page);
  console.log(`# ready (model + embedder downloaded) after ${Date.now() - t0} ms`);
  assert.equal(weightRequests(requests).length, 2, 'the GGUF and the safetensors were downloaded once');
  assert.deepEqual(await documentNames(page), []);

  const t1 = Date.now();
  await addDocuments(page, [FACT_DOC]);
  console.log(`# indexed ${FACT_DOC.name} in ${Date.now() - t1} ms`);
  assert.deepEqual(await documentNames(page), [FACT_DOC.name]);
  await screenshot(page, 'documents-1-indexed');

  const t2 = Date.now();
  const answer = await askAndWait(page, QUESTION);
  console.log(`# answered in ${Date.now() - t2} ms: ${JSON.stringify(answer)}`);
  assert.match(answer.text, /heliotrope-42/i, 'the answer states the fact from the document');
  assert.match(answer.stats, /\d+(\.\d+)? tokens\/s/);
  const sources = await page.getByRole('list', { name: 'Sources' }).last().textContent();
  assert.match(sources, /larkspur-office\.txt/, 'the sources list names the document');

  const cited = await citations(page);
  console.log(`# citations: ${JSON.stringify(cited)}`);
  assert.ok(cited.length > 0, 'the answer has at least one citation button');
  const toDoc = cited.find((c) => /larkspur-office\.txt/.test(c.label));
  assert.ok(toDoc, 'a citation names the document');
  assert.match(toDoc.passage, /larkspur-office\.txt/, 'the revealed passage names its document');
  assert.match(toDoc.passage, /heliotrope-42/, 'the revealed passage is the one with the fact');
  // Evidence first: the cited evidence is the sentence that answers, highlighted in its passage.
  const marked = page.locator('[aria-label="Cited passage"] mark').last();
  assert.equal(await marked.textContent(), 'The wifi password of the Larkspur office is heliotrope-42.');
  assert.match(toDoc.passage, /opens at 8 am/, 'the rest of the passage is shown around the highlighted sentence');
  await screenshot(page, 'documents-2-cited-answer');

  // A question the document does not answer: said so, instead of a guess, with the closest sentence shown.
  const unanswerable = await askAndWait(page, 'Who won the football world cup in 1966?');
  console.log(`# unanswerable: ${JSON.stringify(unanswerable)}`);
  assert.equal(unanswerable.text, 'I could not find this in your documents.');
  assert.equal(unanswerable.stopReason, 'not_found');

  // Reload: the index comes back from OPFS, the model and the embedder from the cache.
  const before = requests.length;
  const t3 = Date.now();
  await page.reload();
  await waitReady(page);
  console.log(`# ready again after reload in ${Date.now() - t3} ms`);
  const after = requests.slice(before);
  assert.deepEqual(weightRequests(after), [], 'no GGUF or safetensors download on reload');
  assert.ok(after.some((r) => r.url.endsWith('hearth_bg.wasm')), 'the reload itself was recorded');
  assert.deepEqual(await documentNames(page), [FACT_DOC.name], 'the Documents list survived the reload');
  assert.match(await page.locator('#phase').textContent(), /from the browser cache/);
  assert.match(await page.locator('#embedder-info').textContent(), /from the browser cache/);
  assert.match(await page.locator('#embedder-info').textContent(), /1 saved document restored/);
  await screenshot(page, 'documents-3-after-reload');

  const again = await askAndWait(page, QUESTION);
  assert.match(again.text, /heliotrope-42/i, 'the restored index answers too');
  assert.deepEqual(errors, [], 'no console errors');
});

test('PDF, Markdown and HTML documents; keyboard: cite, remove', { timeout: 300_000 }, async () => {
  const { page } = app;
  await waitReady(page);
  const pdf = minimalPdf('quillfeather-archive.pdf', [
    'Quillfeather archive',
    'The door code of the Quillfeather archive is 7319.',
    'The archive keeps letters (1820-1850) from the harbour office.',
  ]);
  const md = textFile('orchard.md', '# Orchard\n\nThe **Bellmoor orchard** grows forty-one kinds of pear.\n', 'text/markdown');
  const html = textFile('ferry.html', '<html><body><h1>Ferry</h1><p>The ferry to Tarn Island leaves at <b>6:15</b> every morning.</p></body></html>', 'text/html');
  await addDocuments(page, [pdf, md, html]);
  assert.deepEqual((await documentNames(page)).sort(), ['ferry.html', 'larkspur-office.txt', 'orchard.md', 'quillfeather-archive.pdf']);

  // Documents dropped on the page are indexed too.
  const dataTransfer = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['# Dropped\n\nThe canal lock opens at noon.\n'], 'dropped-notes.md', { type: 'text/markdown' }));
    return dt;
  });
  await page.dispatchEvent('body', 'dragenter', { dataTransfer });
  await page.dispatchEvent('body', 'drop', { dataTransfer });
  await page.waitForFunction(() => document.querySelector('ul[aria-label="Documents"]').textContent.includes('dropped-notes.md'), null, { timeout: 60_000 });
  await waitReady(page);
  await page.getByRole('button', { name: 'Remove dropped-notes.md' }).click();
  await page.waitForFunction(() => !document.querySelector('ul[aria-label="Documents"]').textContent.includes('dropped-notes.md'));
  await waitReady(page);

  const answer = await askAndWait(page, 'What is the door code of the Quillfeather archive?');
  console.log(`# PDF answer: ${JSON.stringify(answer)}`);
  const sources = await page.getByRole('list', { name: 'Sources' }).last().textContent();
  assert.match(sources, /quillfeather-archive\.pdf/, 'the PDF passage was retrieved');
  assert.match(sources, /door code of the Quillfeather archive is 7319/, 'the PDF text was extracted');
  assert.match(sources, /letters \(1820-1850\)/, 'PDF string escapes decoded');
  assert.match(answer.text, /7319/);

  // Keyboard only: Tab from the question box reaches the answer's first citation; Enter reveals it.
  const turn = page.locator('[data-role="assistant"]').last();
  if ((await turn.locator('button.cite').count()) > 0) {
    await turn.locator('button.cite').first().focus();
    await page.keyboard.press('Enter');
    assert.equal(await turn.locator('button.cite').first().getAttribute('aria-expanded'), 'true');
    assert.equal(await turn.getByRole('region', { name: 'Cited passage' }).isVisible(), true);
  }

  // Remove with the keyboard; focus moves on to the next Remove button.
  await page.getByRole('button', { name: 'Remove orchard.md' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => !document.querySelector('ul[aria-label="Documents"]').textContent.includes('orchard.md'));
  await waitReady(page);
  assert.ok(!(await documentNames(page)).includes('orchard.md'));
  assert.match(await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? ''), /^Remove /);
  await screenshot(page, 'documents-4-formats');
});

test('Add sample documents, then Cancel stops an ingest and keeps the index as it was', { timeout: 300_000 }, async () => {
  const { page } = app;
  await waitReady(page);
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Add sample documents' }).click();
  await page.waitForFunction(() => document.querySelector('ul[aria-label="Documents"]').textContent.includes('harbour-lighthouse.html'), null, { timeout: 180_000 });
  await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Documents"] li').length >= 6, null, { timeout: 180_000 });
  await waitReady(page);
  console.log(`# samples indexed in ${Date.now() - t0} ms`);
  const names = await documentNames(page);
  for (const n of ['hearth-guide.md', 'tea-kettle-care.txt', 'harbour-lighthouse.html']) assert.ok(names.includes(n), n);

  // A long document (many passages): cancel while it is being embedded.
  const long = Array.from({ length: 200 }, (_, i) => `Paragraph ${i}: the grey heron number ${i} fishes in the reed bed at dawn and flies off at noon.`).join('\n\n');
  await page.getByLabel('Add documents').setInputFiles([textFile('herons.txt', long)]);
  await page.waitForFunction(() => /^Indexing herons\.txt: \d+\/\d+ chunks$/.test(document.querySelector('[role="status"]').textContent), null, {
    timeout: 60_000,
    polling: 50,
  });
  await screenshot(page, 'documents-5-indexing');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await waitReady(page, 60_000);
  assert.deepEqual(await documentNames(page), names, 'the cancelled document is not in the index');

  // A large document without whitespace (8 MB of base64: about 30 s to split in the page): it is split
  // into passages in steps, with progress, and Cancel acts while it is being split.
  const b64 = Buffer.from(Array.from({ length: 6_000_000 }, (_, i) => (i * 7919) % 251)).toString('base64');
  await page.getByLabel('Add documents').setInputFiles([textFile('blob.txt', b64)]);
  await page.waitForFunction(() => /^Splitting blob\.txt into passages/.test(document.querySelector('[role="status"]').textContent), null, {
    timeout: 60_000,
    polling: 50,
  });
  await page.waitForFunction(() => /splitting into passages, [1-9]\d*%/.test(document.body.textContent), null, { timeout: 60_000, polling: 50 });
  const tc = Date.now();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await waitReady(page, 60_000);
  console.log(`# cancelled while splitting an 8 MB document: Ready after ${Date.now() - tc} ms`);
  assert.deepEqual(await documentNames(page), names, 'the cancelled document is not in the index');

  // And the saved index is the one from before too.
  await page.reload();
  await waitReady(page);
  assert.deepEqual((await documentNames(page)).sort(), [...names].sort());

  // The tab closed (here: reloaded) in the middle of an ingest: what was saved before is intact.
  await page.getByLabel('Add documents').setInputFiles([textFile('herons.txt', long)]);
  await page.waitForFunction(() => /^Indexing herons\.txt: [1-9]\d*\/\d+ chunks$/.test(document.querySelector('[role="status"]').textContent), null, {
    timeout: 60_000,
    polling: 50,
  });
  await page.reload();
  await waitReady(page);
  assert.equal(await page.getByRole('alert').textContent(), '', 'the saved index loads without error');
  assert.deepEqual((await documentNames(page)).sort(), [...names].sort());
});

test('a document over 20 MB is refused with a clear message; the index is unchanged', { timeout: 300_000 }, async () => {
  const { page } = app;
  await waitReady(page);
  const names = await documentNames(page);
  await page.getByLabel('Add documents').setInputFiles([textFile('huge.txt', 'word '.repeat(4_300_000))]);
  await page.waitForFunction(() => /huge\.txt/.test(document.querySelector('[role="alert"]').textContent), null, { timeout: 120_000 });
  await waitReady(page);
  const message = await alertText(page);
  console.log(`# alert: ${message}`);
  assert.match(message, /20 MB|too (large|big)/i);
  assert.deepEqual(await documentNames(page), names);
});

test('a damaged saved index is reported and kept aside; the page still works', { timeout: 300_000 }, async () => {
  const { page } = app;
  await waitReady(page);
  // Every saved generation (the newest and the previous one: tabs.test.mjs has the newest alone damaged).
  const damaged = await page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('hearth');
    const names = [];
    for await (const name of dir.keys()) if (/^index-\d+\.hix$/.test(name)) names.push(name);
    for (const name of names) {
      const w = await (await dir.getFileHandle(name)).createWritable({ keepExistingData: true });
      await w.write({ type: 'write', position: 40, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) });
      await w.close();
    }
    return names;
  });
  assert.equal(damaged.length, 2, `the newest and the previous generation are saved: ${damaged}`);
  await page.reload();
  await waitReady(page);
  const message = await alertText(page);
  console.log(`# alert: ${message}`);
  assert.match(message, /saved document index could not be loaded/);
  assert.match(message, /index-damaged-/);
  assert.deepEqual(await documentNames(page), []);
  const files = await page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('hearth');
    const names = [];
    for await (const name of dir.keys()) names.push(name);
    return names;
  });
  assert.ok(files.some((n) => /^index-damaged-.*\.hix$/.test(n)), `kept aside: ${files}`);
  await screenshot(page, 'documents-6-damaged-index');

  // Adding a document starts a new index (the damaged file stays where it is).
  await addDocuments(page, [FACT_DOC]);
  assert.deepEqual(await documentNames(page), [FACT_DOC.name]);
  assert.equal(await statusText(page), 'Ready');
});

test('Clear cached models: the models in use stay, the next visit downloads them again', { timeout: 300_000 }, async () => {
  const { page, requests } = app;
  await waitReady(page);
  assert.match(await page.locator('#cache-info').textContent(), /4 model files cached/);
  await page.getByRole('button', { name: 'Clear cached models' }).click();
  await page.waitForFunction(() => /No model cached/.test(document.querySelector('#cache-info').textContent));
  assert.equal(await page.getByRole('button', { name: 'Clear cached models' }).isDisabled(), true);
  assert.equal(await statusText(page), 'Ready', 'the loaded models are still in use');

  const before = requests.length;
  await page.reload();
  await waitReady(page);
  assert.equal(weightRequests(requests.slice(before)).length, 2, 'the GGUF and the safetensors are downloaded again');
  assert.match(await page.locator('#cache-info').textContent(), /4 model files cached/);
  assert.deepEqual(await documentNames(page), [FACT_DOC.name], 'clearing the cache kept the documents');
});
