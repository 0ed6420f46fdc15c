// A trap in the wasm module (a Rust panic) kills its worker but not the page: the panic message is shown,
// the client (model-client.js) starts a new worker and restores the model (from the browser cache), the
// embedder and the saved index, and questions are answered again, all without a reload. The trap is injected
// with the test-only `testTrap` request, through the client the page exposes as `window.__hearthClient`
// when its URL has `?test`. A hang (a call that never returns, as a hostile chat template can make) is caught
// by the client's watchdog and handled the same way: simulated with `testHang`, under a 3 s watchdog
// (`?watchdog=3000`) in a page of its own.

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
const env = useServerAndBrowser(async ({ browser, server }) => {
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

test('a trap shows the panic message; the engine restarts with the model, the embedder and the index, no reload', { timeout: 300_000 }, async () => {
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

  // The crashed worker and its pools (the model's, the embedder's) are gone: as many workers as before, not
  // more. Ending a worker with nested workers can take a moment to show, so it is given 5 s.
  let workersAfter = workerNames(page);
  for (let waited = 0; waited < 5_000 && workersAfter.join() !== workersBefore.join(); waited += 250) {
    await page.waitForTimeout(250);
    workersAfter = workerNames(page);
  }
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

test('requests queued behind the trap and made during the restart wait and are answered', { timeout: 300_000 }, async () => {
  const { page } = app;
  await waitReady(page);
  const r = await page.evaluate(async () => {
    const client = window.__hearthClient;
    // With a system message: without one SmolLM2's template adds its own, and then the greedy answer (of
    // llama.cpp's batched prefill too) is not Paris.
    const messages = [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'What is the capital of France?' }];
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

test('a worker silent too long is restarted like a crashed one; normal work does not trip the watchdog', { timeout: 420_000 }, async () => {
  // Its own page and context (its own browser storage), with a 3 s watchdog: the worker may never be silent
  // longer while it has work, from the first download to the restores.
  const WATCHDOG_MS = 3000;
  const { page, requests, context } = await openApp(env.browser, `${env.server.url}/?test&watchdog=${WATCHDOG_MS}`);
  const workerStarts = () => requests.filter((r) => r.url.endsWith('/worker.js')).length;
  const FRANCE = 'What is the capital of France?';
  try {
    await waitReady(page);
    // Downloading, building and initialising the model and the embedder, then a whole answer: every silence
    // of the worker stays under 3 s (progress, tokens, `alive`).
    const first = await askAndWait(page, FRANCE);
    console.log(`# answer under a ${WATCHDOG_MS} ms watchdog: ${JSON.stringify(first)}`);
    assert.match(first.text, /paris/i);
    assert.equal(await alertText(page), '');
    assert.equal(workerStarts(), 1, 'the worker was never restarted');

    // A hang shorter than the watchdog ends normally.
    const short = await page.evaluate(() => window.__hearthClient.testHang(1000));
    assert.ok(short.ms >= 1000, `testHang(1000) resolves: ${JSON.stringify(short)}`);
    assert.equal(workerStarts(), 1);

    // A 20 s hang: the watchdog ends the worker after 3 s of silence. The request behind it is sent again.
    const r = await page.evaluate(async () => {
      const client = window.__hearthClient;
      const t0 = performance.now();
      const hang = client.testHang(20_000).then(
        (v) => ({ resolved: v }),
        (e) => ({ message: e.message, code: e.code, ms: performance.now() - t0 }),
      );
      const queued = client.chat([{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'What is the capital of France?' }], { max_tokens: 32, temperature: 0 });
      const hung = await hang;
      return { hung, restoring: client.restoring, queued: (await queued).text };
    });
    console.log(`# ${JSON.stringify(r)}`);
    assert.equal(r.hung.code, 'worker_crashed', 'testHang rejects as a crash');
    assert.match(r.hung.message, /stopped responding/);
    assert.ok(r.hung.ms < 10_000, `rejected after ${Math.round(r.hung.ms)} ms`);
    assert.ok(r.hung.ms >= WATCHDOG_MS - 100, `not before the watchdog's ${WATCHDOG_MS} ms: ${Math.round(r.hung.ms)} ms`);
    assert.equal(r.restoring, true, 'the client was restoring when the hang was reported');
    assert.match(r.queued, /paris/i, 'the request queued behind the hang was answered by the new worker');

    await waitReady(page);
    const message = await alertText(page);
    console.log(`# alert: ${message}`);
    assert.match(message, /The engine crashed and was restarted: the engine stopped responding for 3 s/);
    assert.doesNotMatch(message, /could not be loaded again/, 'the model and the embedder were restored');
    assert.equal(workerStarts(), 2, 'one new worker; restoring it (the model built again) did not trip the watchdog');
    const weights = weightRequests(requests).map((r) => r.url.split('/').pop());
    assert.equal(weights.length, 2, `the model and the embedder were downloaded once, then read from the cache: ${weights}`);
    await screenshot(page, 'recovery-3-hang-restarted');

    const answer = await askAndWait(page, FRANCE);
    console.log(`# answer after the restart: ${JSON.stringify(answer)}`);
    assert.match(answer.text, /paris/i);
    assert.equal(workerStarts(), 2);

    // A hang while restoring (as a model whose template hangs at load would make): after a trap, the restore's
    // `load` is swapped for a 20 s testHang on its way to the worker. The watchdog ends that worker too; the
    // model is dropped (it would hang again) and the embedder restored in a third worker.
    const r2 = await page.evaluate(async () => {
      const client = window.__hearthClient;
      const post = Worker.prototype.postMessage;
      const t0 = performance.now();
      const log = []; // what went to the workers, and when: shown if the restore does not end
      let swapped = 0;
      Worker.prototype.postMessage = function (msg, ...rest) {
        log.push(`${Math.round(performance.now() - t0)} ms: ${msg?.type}${msg?.id ? ` #${msg.id}` : ''}`);
        if (!swapped && msg?.type === 'load') {
          swapped = msg.id;
          msg = { type: 'testHang', id: msg.id, ms: 20_000 };
        }
        return post.call(this, msg, ...rest);
      };
      const recovered = new Promise((resolve) => {
        const onRecovered = client.onRecovered;
        client.onRecovered = (o) => {
          client.onRecovered = onRecovered;
          onRecovered?.(o);
          resolve({ model: o.model, modelError: o.modelError?.message ?? null, modelErrorCode: o.modelError?.code, embedder: !!o.embedder });
        };
      });
      // Bounded, so that a restore that never ends fails here, saying what was sent, instead of at the test's timeout.
      const within = (p, what) =>
        Promise.race([p, new Promise((resolve) => setTimeout(() => resolve({ timedOut: what, restoring: client.restoring, log }), 120_000))]);
      try {
        const trapped = await within(client.testTrap('restore').catch((e) => e.message), 'testTrap');
        if (trapped?.timedOut) return trapped;
        return { trapped, swapped, ...(await within(recovered, 'onRecovered')) };
      } finally {
        Worker.prototype.postMessage = post;
      }
    });
    console.log(`# hang while restoring: ${JSON.stringify(r2)}`);
    assert.equal(r2.timedOut, undefined, `the trap and the restore end within 2 minutes: ${JSON.stringify(r2)}`);
    assert.ok(r2.swapped, 'the restore sent a load');
    assert.match(r2.trapped, /test trap: restore/);
    assert.equal(r2.model, null, 'the model that hung was dropped');
    assert.match(r2.modelError, /stopped responding for 3 s/);
    assert.equal(r2.modelErrorCode, 'worker_crashed');
    assert.equal(r2.embedder, true, 'the embedder was restored all the same');
    assert.equal(workerStarts(), 4, 'one worker for the trap, one more for the hang');
    await waitAlert(page, /could not be loaded again/, 30_000);
    const notice = await alertText(page);
    console.log(`# alert: ${notice}`);
    assert.match(notice, /was restarted: .*test trap: restore.*the model could not be loaded again \(the engine stopped responding for 3 s/s);
  } finally {
    await context.close();
  }
});
