// Threads: in the cross-origin isolated page the model is split across a pool of workers (2 threads on this
// two-core machine) and answers exactly as with one thread; without isolation the page still works, with one.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { askAndWait, modelInfo, openApp, screenshot, setSettings, statusText, useServerAndBrowser, waitReady } from './helpers.mjs';

const env = useServerAndBrowser();

// Long enough that the prompt spans two prefill batches (PEER_BATCH, 32 tokens, in shard-pool.js).
const QUESTION =
  'I am preparing a short science lesson for a class of ten-year-old children. In two sentences, explain why ' +
  'the sky is blue during the day and why sunsets often look red or orange.';
const promptTokens = (answer) => Number(answer.stats.match(/prompt (\d+) tokens/)?.[1]);
const SETTINGS = { temperature: 0, maxTokens: 24 }; // greedy, short
const requestsFor = (requests, suffix) => requests.filter((r) => new URL(r.url).pathname.endsWith(suffix));
// The package's .wasm is fetched and compiled once, by worker.js; pool workers are given the compiled module.
const wasmFetches = (requests) => requestsFor(requests, '/hearth_bg.wasm').length;

/**
 * Opens `url` (openApp `options`), waits for Ready, asks QUESTION greedily, saves screenshot `name`, closes it.
 * Returns { info, isolated, answer, requests, errors }.
 */
async function greedyAnswer(name, url, options) {
  const { context, page, requests, errors } = await openApp(env.browser, url, options);
  try {
    await waitReady(page);
    await setSettings(page, SETTINGS);
    const answer = await askAndWait(page, QUESTION);
    const info = await modelInfo(page);
    const isolated = await page.evaluate(() => ({ coi: crossOriginIsolated, sab: typeof SharedArrayBuffer !== 'undefined' }));
    await screenshot(page, name);
    console.log(`# ${page.url()}: ${info}\n#   answer: ${JSON.stringify(answer)}`);
    return { info, isolated, answer, requests, errors };
  } finally {
    await context.close();
  }
}

test('2 threads when cross-origin isolated, and the same greedy answer as 1 thread', { timeout: 300_000 }, async () => {
  const two = await greedyAnswer('threads-1-two', env.server.url);
  assert.deepEqual(two.isolated, { coi: true, sab: true }, 'the page is cross-origin isolated, with SharedArrayBuffer');
  assert.match(two.info, / · 2 threads$/);
  // Two pool workers (shard-worker.js): the model's, and the embedder's helper (embed-pool.js).
  assert.equal(requestsFor(two.requests, '/shard-worker.js').length, 2, 'two pool workers were started');
  assert.equal(wasmFetches(two.requests), 1, 'the wasm is fetched once: the pool worker gets the compiled module');
  // The pool worker gets the model's bytes from worker.js: the GGUF is fetched once.
  assert.equal(two.requests.filter((r) => /\.gguf(\?|$)/.test(r.url)).length, 1, 'the model is downloaded once');
  assert.equal(two.requests.filter((r) => /\.safetensors(\?|$)/.test(r.url)).length, 1, 'the embedder is downloaded once');
  assert.ok(two.answer.generatedTokens > 0 && two.answer.text.length > 0);
  assert.ok(promptTokens(two.answer) > 32, `a prompt of ${promptTokens(two.answer)} tokens: more than one prefill batch`);
  assert.deepEqual(two.errors, [], 'no console errors (2 threads)');

  const one = await greedyAnswer('threads-2-one', new URL('/?threads=1', env.server.url).href);
  assert.equal(one.isolated.coi, true);
  assert.match(one.info, / · 1 thread$/);
  assert.deepEqual(requestsFor(one.requests, '/shard-worker.js'), [], 'no pool worker with ?threads=1');
  assert.equal(wasmFetches(one.requests), 1, 'only worker.js loads the wasm');
  assert.deepEqual(one.errors, [], 'no console errors (1 thread)');

  // The split model computes the same logits as the whole one: greedy decoding gives the same tokens.
  assert.equal(two.answer.text, one.answer.text);
  assert.equal(two.answer.generatedTokens, one.answer.generatedTokens);
  assert.equal(two.answer.stopReason, one.answer.stopReason);
});

test('without cross-origin isolation the page falls back to 1 thread and answers', { timeout: 420_000 }, async () => {
  // Every response as the server sends it, minus COOP and COEP: a host without those headers. Model weights
  // go through untouched (those headers mean nothing on them, and they are too large to buffer here).
  const stripped = [];
  const withoutIsolationHeaders = async (context) => {
    await context.route('**/*', async (route) => {
      if (/\.(gguf|safetensors)(\?|$)/.test(route.request().url())) return route.fallback();
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers['cross-origin-opener-policy'];
      delete headers['cross-origin-embedder-policy'];
      stripped.push(new URL(route.request().url()).pathname);
      await route.fulfill({ response, headers });
    });
  };
  const r = await greedyAnswer('threads-3-not-isolated', env.server.url, { prepare: withoutIsolationHeaders });
  console.log(`# responses without COOP/COEP: ${stripped.length} (${[...new Set(stripped)].slice(0, 12).join(' ')} …)`);
  assert.ok(stripped.includes('/'), 'the page itself was served without COOP/COEP');
  assert.deepEqual(r.isolated, { coi: false, sab: false }, 'not cross-origin isolated, no SharedArrayBuffer');
  assert.match(r.info, / · 1 thread \(the page is not cross-origin isolated: see docs\/DEPLOY\.md\)$/, 'the page says why');
  assert.equal(wasmFetches(r.requests), 1, 'only worker.js loads the wasm');
  assert.ok(r.answer.generatedTokens > 0 && r.answer.text.length > 0, 'an answer arrived');
  assert.deepEqual(r.errors, [], 'no console errors');
});

test('a pool worker that fails while the model loads gives a clear error, not a hang', { timeout: 300_000 }, async () => {
  // The first two requests for the package's JS glue are worker.js's (both builds' glue are imported
  // statically, www/wasm-package.js); the third is the pool worker's (started once the model's size is
  // known): that one fails, so the pool worker cannot start while the GGUF streams in.
  // (Playwright does not see the request for shard-worker.js itself, a worker started by a worker, but it does
  // see that worker's imports; routing also turns the HTTP cache off, so the import is requested again.)
  const glueUrls = [];
  const failPoolWasm = async (context) => {
    await context.route('**/hearth.js', (route) => {
      glueUrls.push(new URL(route.request().url()).pathname);
      return glueUrls.length === 3 ? route.abort('failed') : route.fallback();
    });
    // Every text the status takes, from the start: it must never read "Ready" (a model missing half its rows).
    await context.addInitScript(() => {
      const seen = (window.__statuses = []);
      new MutationObserver(() => {
        const text = document.querySelector('[role="status"]')?.textContent;
        if (text !== undefined && seen[seen.length - 1] !== text) seen.push(text);
      }).observe(document, { childList: true, subtree: true, characterData: true });
    });
  };
  const t0 = Date.now();
  const { context, page, requests, errors } = await openApp(env.browser, env.server.url, { prepare: failPoolWasm });
  try {
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'cross-origin isolated: 2 threads are attempted');
    // Within 30 s the page says why the model did not load, naming the pool worker.
    await page.waitForFunction(() => /pool worker/i.test(document.querySelector('[role="alert"]')?.textContent ?? ''), null, {
      timeout: 30_000,
      polling: 100,
    });
    const alertAfter = Date.now() - t0;
    const alert = await page.getByRole('alert').textContent();
    // Then the load is over: the page settles (the embedder still loads) with no model rather than a half one.
    await page.waitForFunction(() => document.querySelector('[role="status"]')?.dataset.state !== 'busy', null, {
      timeout: 120_000,
      polling: 100,
    });
    const status = await statusText(page);
    const statuses = await page.evaluate(() => window.__statuses);
    await screenshot(page, 'threads-4-pool-worker-fails');
    console.log(`# alert after ${alertAfter} ms: ${alert}\n# statuses: ${JSON.stringify(statuses)}`);
    console.log(`# glue requests routed: ${JSON.stringify(glueUrls)}; console errors: ${JSON.stringify(errors)}`);

    assert.ok(glueUrls.length >= 2, 'the pool worker requested the wasm package (and it failed)');
    assert.match(alert, /^Could not load smollm2\S*: pool worker 1: /i, 'the load error names the pool worker');
    assert.equal(status, 'No model loaded');
    assert.equal(await modelInfo(page), '', 'no model is described');
    assert.ok(!statuses.some((s) => s.startsWith('Ready')), `never Ready: ${JSON.stringify(statuses)}`);
    assert.equal(await page.getByRole('button', { name: 'Ask' }).isEnabled(), false, 'nothing to ask');
    assert.equal(requests.filter((r) => /\.gguf(\?|$)/.test(r.url)).length, 1, 'the model was requested once (no retry)');
  } finally {
    await context.close();
  }
});

// A document of many passages (about 20 of the page's 200-token chunks), each sentence different.
const LONG_DOC = Array.from({ length: 160 }, (_, i) => `Item ${i}: the lighthouse keeper logged ${i * 7 % 13} ships and ${i % 5} storms on day ${i}.`).join(' ');

/** In a fresh context of the app's origin, the client with `threads` embedding workers adds LONG_DOC; returns
 * {threads, chunks, digest of the exported index, progress of the embed phase}. */
async function embedWith(threads, prepare) {
  const context = await env.browser.newContext();
  // An empty page of the app's origin, cross-origin isolated like it, to run the client in.
  await context.route('**/blank.html', (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>blank</title>', headers: { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } }),
  );
  await prepare?.(context);
  try {
    const page = await context.newPage();
    await page.goto(`${env.server.url}/blank.html`);
    const r = await page.evaluate(
      async ({ threads, text }) => {
        const { createHearth } = await import('/client.js');
        const ai = await createHearth({ baseUrl: `${location.origin}/` });
        const loaded = await ai.loadEmbedder({ threads });
        const progress = [];
        const doc = await ai.documents.add(text, { title: 'log.md', onProgress: (p) => p.phase === 'embed' && progress.push(p) });
        const bytes = await ai.index.export();
        const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        return { threads: loaded.threads, chunks: doc.chunks, digest: [...hash].map((b) => b.toString(16).padStart(2, '0')).join(''), progress };
      },
      { threads, text: LONG_DOC },
    );
    return r;
  } finally {
    await context.close();
  }
}

test('documents embed on 2 workers into the same index as on 1; a helper that cannot start leaves 1', { timeout: 300_000 }, async () => {
  const one = await embedWith(1);
  const two = await embedWith(2);
  console.log(`# 1 worker: ${one.chunks} passages, last progress ${JSON.stringify(one.progress.at(-1))}`);
  console.log(`# 2 workers: ${two.chunks} passages, last progress ${JSON.stringify(two.progress.at(-1))}`);
  assert.ok(one.chunks >= 8, `${one.chunks} passages: enough to share`);
  assert.equal(one.threads, 1);
  assert.equal(two.threads, 2, 'the helper started');
  assert.ok(one.progress.every((p) => p.threads === undefined || p.threads === 1));
  assert.ok(two.progress.some((p) => p.threads === 2), 'passages were embedded on 2 workers');
  assert.ok(two.progress.at(-1).passages_per_s > 0, 'the progress says how fast');
  assert.equal(two.digest, one.digest, 'the same index, byte for byte');

  // The helper's wasm glue fails to load (the first two glue requests are worker.js's: both builds' glue):
  // the helper cannot start, and the library embeds alone, into the same index.
  let seen = 0;
  const failHelper = (context) => context.route('**/hearth.js', (route) => (++seen === 3 ? route.abort('failed') : route.fallback()));
  const failed = await embedWith(2, failHelper);
  console.log(`# helper failed: threads ${failed.threads}, glue requests ${seen}`);
  assert.ok(seen >= 3, 'the helper asked for the glue');
  assert.equal(failed.threads, 1, 'one worker when the helper cannot start');
  assert.ok(failed.progress.every((p) => p.threads === undefined || p.threads === 1));
  assert.equal(failed.digest, one.digest, 'the same index again');
});
