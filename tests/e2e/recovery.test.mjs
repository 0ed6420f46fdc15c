// A trap in the wasm module (a Rust panic) kills its worker but not the page: the panic message is shown,
// the client (model-client.js) starts a new worker and restores the model (from the browser cache), the
// embedder and the saved index, and questions are answered again, all without a reload. The trap is injected
// with the test-only `testTrap` request, through the client the page exposes as `window.__hearthClient`
// when its URL has `?test`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addDocuments,
  askAndWait,
  documentNames,
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
  app = await openApp(browser, `${server.url}/?test`);
});

const FACT_DOC = textFile(
  'larkspur-office.txt',
  'Larkspur office notes\n\nThe wifi password of the Larkspur office is heliotrope-42. The office opens at 8 am on weekdays.\n',
);
const QUESTION = 'What is the wifi password of the Larkspur office?';

const alertText = (page) => page.getByRole('alert').textContent();

async function waitAlert(page, pattern, timeout = 60_000) {
  await page.waitForFunction(
    (src) => new RegExp(src, 'is').test(document.querySelector('[role="alert"]')?.textContent ?? ''),
    pattern.source,
    { timeout, polling: 50 },
  );
}

/** The page's workers (the model's worker.js and its pool's shard-worker.js), by file name. */
const workerNames = (page) => page.workers().map((w) => new URL(w.url()).pathname.split('/').pop()).sort();

test('a trap shows the panic message; the engine restarts with the model, the embedder and the index, no reload', { timeout: 600_000 }, async () => {
  const { page, requests } = app;
  await waitReady(page);
  await page.evaluate(() => (window.__sameDocument = true)); // gone if the page reloads
  await addDocuments(page, [FACT_DOC]);
  assert.deepEqual(await documentNames(page), [FACT_DOC.name]);
  const workersBefore = workerNames(page);
  console.log(`# workers before: ${workersBefore.join(', ')}`);

  const before = requests.length;
  const t0 = Date.now();
  // The pending request rejects with the panic message, marked as a crash.
  const trap = await page.evaluate(() =>
    window.__hearthClient.testTrap('boom').then(
      () => null,
      (e) => ({ message: e.message, code: e.code }),
    ),
  );
  console.log(`# testTrap rejected with: ${JSON.stringify(trap)}`);
  assert.ok(trap, 'testTrap rejects');
  assert.match(trap.message, /test trap: boom/);
  assert.match(trap.message, /panicked at/, 'the message is the panic hook\'s, not "unreachable"');
  assert.equal(trap.code, 'worker_crashed');

  // The alert says so at once, with the panic message; the page returns to Ready once restored.
  await waitAlert(page, /crashed.*test trap: boom/);
  console.log(`# alert while restoring: ${await alertText(page)} (status: ${await statusText(page)})`);
  await waitReady(page);
  console.log(`# ready again ${Date.now() - t0} ms after the trap`);
  await screenshot(page, 'recovery-1-restarted');
  const message = await alertText(page);
  console.log(`# alert: ${message}`);
  assert.match(message, /The engine crashed and was restarted: .*test trap: boom/s);

  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  const after = requests.slice(before);
  assert.ok(after.some((r) => r.url.endsWith('/worker.js')), 'a new worker was started');
  assert.deepEqual(weightRequests(after), [], 'the model and the embedder came back from the browser cache');
  assert.deepEqual(await documentNames(page), [FACT_DOC.name], 'the Documents list still shows the document');

  // The crashed worker and its pool are gone: as many workers as before, not more.
  await page.waitForTimeout(500);
  const workersAfter = workerNames(page);
  console.log(`# workers after: ${workersAfter.join(', ')}`);
  assert.deepEqual(workersAfter, workersBefore);

  // A question about the document is answered from the restored index, with a citation.
  const answer = await askAndWait(page, QUESTION);
  console.log(`# answer: ${JSON.stringify(answer)}`);
  assert.match(answer.text, /heliotrope-42/i);
  assert.equal(await alertText(page), '', 'asking cleared the crash notice');
  const sources = await page.getByRole('list', { name: 'Sources' }).last().textContent();
  assert.match(sources, /larkspur-office\.txt/, 'the sources list names the document');
  const turn = page.getByRole('region', { name: 'Answer' }).locator('[data-role="assistant"]').last();
  const labels = await turn.locator('button.cite').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label')));
  console.log(`# citations: ${JSON.stringify(labels)}`);
  assert.ok(labels.some((l) => /larkspur-office\.txt/.test(l)), 'a citation names the document');
  await screenshot(page, 'recovery-2-answered');
});

test('requests queued behind the trap and made during the restart wait and are answered', { timeout: 600_000 }, async () => {
  const { page } = app;
  await waitReady(page);
  const r = await page.evaluate(async () => {
    const client = window.__hearthClient;
    const messages = [{ role: 'user', content: 'What is the capital of France?' }];
    const options = { max_tokens: 32, temperature: 0 };
    const trap = client.testTrap('again').then(
      () => 'resolved',
      (e) => e.message,
    );
    // Sent to the worker right behind the trap: it never began there, so it is sent again to the new worker.
    const queued = client.chat(messages, options);
    const trapped = await trap;
    const restoring = client.restoring;
    // Made while the new worker is being restored: waits for it.
    const during = client.chat(messages, options);
    const [a, b] = await Promise.all([queued, during]);
    return { trapped, restoring, a: a.text, b: b.text };
  });
  console.log(`# ${JSON.stringify(r)}`);
  assert.match(r.trapped, /test trap: again/);
  assert.equal(r.restoring, true, 'the client was restoring when the trap was reported');
  assert.match(r.a, /paris/i, 'the request queued behind the trap was answered');
  assert.match(r.b, /paris/i, 'the request made during the restart was answered');

  await waitReady(page);
  assert.match(await alertText(page), /was restarted: .*test trap: again/s);
  assert.deepEqual(await documentNames(page), [FACT_DOC.name]);
  const answer = await askAndWait(page, QUESTION);
  assert.match(answer.text, /heliotrope-42/i, 'the page answers from the document again');
});
