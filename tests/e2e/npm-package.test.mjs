// The npm package as a user gets it: `make package`'s tarball installed with npm into a copy of
// examples/plain (not served from www/), then the typed client driven in Chromium: streaming chat, abort of a
// running and of a queued request, stop of a queued one, typed errors, documents and cited answers, an index
// built by the CLI loaded read-only (no document embedded in the browser), and the <hearth-chat> widget on a
// sample intranet portal. Every request stays on the local server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, LOAD_TIMEOUT, askAndWait, minimalPdf, openApp, screenshot, useServerAndBrowser, waitReady, weightRequests } from './helpers.mjs';

const APP = join(ROOT, 'target', 'e2e-app');
const PLAIN = join(APP, 'plain');
const EMBEDDER = join(ROOT, 'models', 'cache', 'minilm-l6-v2');

function prepare() {
  // The tarball, as `make package` makes it (the wasm packages are built by then: make test runs make wasm).
  // Each child bounded: a synchronous one holds the event loop, so the hook's own limit could not end it.
  execFileSync('bash', ['scripts/package.sh'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });
  const tgz = readdirSync(join(ROOT, 'target')).filter((f) => /^hearth-web-.*\.tgz$/.test(f)).sort().pop();
  // Only this test's folders: other tests (vite.test.mjs) keep theirs under target/e2e-app too.
  for (const d of [PLAIN, join(APP, 'handbook')]) rmSync(d, { recursive: true, force: true });
  mkdirSync(APP, { recursive: true });
  cpSync(join(ROOT, 'examples', 'plain'), PLAIN, { recursive: true });
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', join(ROOT, 'target', tgz)], { cwd: PLAIN, stdio: 'inherit', timeout: 300_000 });
  // The site's prebuilt index of its handbook (Markdown, HTML and a PDF), by the CLI: the page embeds with
  // the same q8 weights. The handbook's README is not a document of it.
  const handbook = join(APP, 'handbook');
  cpSync(join(PLAIN, 'handbook'), handbook, { recursive: true });
  rmSync(join(handbook, 'README.md'));
  const pdf = minimalPdf('travel-policy.pdf', ['Travel policy', 'The meal allowance is 42 euros per day.', 'Book trains rather than flights under 500 km.']);
  writeFileSync(join(handbook, pdf.name), pdf.buffer);
  const hearth = join(ROOT, 'target', 'release', 'hearth');
  if (!existsSync(hearth)) execFileSync('cargo', ['build', '--release'], { cwd: ROOT, stdio: 'inherit', timeout: 1_200_000 });
  execFileSync(hearth, ['index', 'build', '--input', handbook, '--out', join(PLAIN, 'site.hix'), '--embedder', EMBEDDER, '--precision', 'q8'], { stdio: 'inherit', timeout: 300_000 });
}

const env = useServerAndBrowser(null, { mounts: { '/app': APP }, prepare });

async function openPlain() {
  const app = await openApp(env.browser, `${env.server.url}/app/plain/`);
  await app.page.waitForFunction(() => document.getElementById('status')?.textContent === 'Ready', null, { timeout: LOAD_TIMEOUT, polling: 100 });
  return app;
}

const offSite = (requests) => requests.filter((r) => !r.url.startsWith(env.server.url) && !r.url.startsWith('data:'));

test('installed from the tarball: it holds the client, the worker, both wasm builds and the widget, and no weights', () => {
  const pkg = join(PLAIN, 'node_modules', 'hearth-web');
  for (const f of ['client.js', 'client.d.ts', 'widget.js', 'worker.js', 'pkg/hearth_bg.wasm', 'pkg-relaxed/hearth_bg.wasm', 'vendor/pdfjs/pdf.min.mjs', 'package.json']) {
    assert.ok(existsSync(join(pkg, f)), `${f} is in the package`);
  }
  const files = execFileSync('find', [pkg, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(files.filter((f) => /\.(gguf|safetensors|hix)$/.test(f)).length, 0, 'no model weights or indexes');
  assert.ok(!files.some((f) => /app\.js$|index\.html$|bench/.test(f)), 'nothing of the demo page or the benchmark');
});

test('typed client: streamed chat completion with usage, a non-streaming one, and typed errors', { timeout: 300_000 }, async () => {
  const { context, page, requests } = await openPlain();
  try {
    const r = await page.evaluate(async () => {
      const { ai, HearthError } = window.hearth;
      const chunks = [];
      // With a system message: without one SmolLM2's template adds its own, and then the greedy answer (of
      // llama.cpp's batched prefill too) is not Paris.
      const messages = [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'What is the capital of France?' }];
      const stream = await ai.chat.completions.create({ messages, stream: true, max_tokens: 24 });
      for await (const c of stream) chunks.push(c);
      const whole = await ai.chat.completions.create({ messages, max_tokens: 24 });
      const errors = {};
      for (const [name, call] of [
        ['unknown', () => ai.chat.completions.create({ messages: [], maxTokens: 3 })],
        ['badModel', () => ai.load(new Blob([new Uint8Array(64)]))],
        ['notFound', () => ai.load('/models/nothing-here.gguf')],
      ]) {
        try {
          await call();
          errors[name] = 'resolved';
        } catch (e) {
          errors[name] = { hearth: e instanceof HearthError, code: e.code, message: e.message };
        }
      }
      // reset() on an engine with no model settles (it used to hang): a fresh ModelClient of the package.
      const { ModelClient } = await import('./node_modules/hearth-web/model-client.js');
      const bare = new ModelClient();
      const reset = await Promise.race([
        bare.reset().then(() => 'resolved', (e) => e.code),
        new Promise((r) => setTimeout(() => r('no answer in 30 s'), 30_000)),
      ]);
      bare.dispose();
      errors.reset = reset;
      // The model loaded before is still in use after the failed loads.
      const after = await ai.chat.completions.create({ messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8 });
      return { chunks, whole, errors, after: after.choices[0].message.content, model: ai.model };
    });
    const text = r.chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    console.log(`# streamed ${r.chunks.length} chunks: ${JSON.stringify(text)}; last: ${JSON.stringify(r.chunks.at(-1))}`);
    assert.match(text, /Paris/);
    assert.equal(r.chunks[0].object, 'chat.completion.chunk');
    assert.equal(r.chunks[0].choices[0].delta.role, 'assistant');
    const last = r.chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'stop');
    assert.ok(last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0, JSON.stringify(last.usage));
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
    assert.equal(r.whole.object, 'chat.completion');
    assert.equal(r.whole.choices[0].message.content, text, 'greedy: the same answer streamed or not');
    assert.deepEqual(r.errors.unknown && { hearth: r.errors.unknown.hearth, code: r.errors.unknown.code }, { hearth: true, code: 'unknown_option' });
    assert.match(r.errors.unknown.message, /maxTokens/);
    assert.equal(r.errors.badModel.code, 'bad_gguf', JSON.stringify(r.errors.badModel));
    assert.equal(r.errors.notFound.code, 'network', JSON.stringify(r.errors.notFound));
    assert.equal(r.errors.reset, 'no_model', 'reset() with no model settles, with an error');
    assert.ok(r.after.length > 0 && r.model.architecture === 'llama');
    assert.deepEqual(offSite(requests), []);
  } finally {
    await context.close();
  }
});

test('AbortSignal ends a running request and a queued one; stop() ends a queued generation before it begins', { timeout: 300_000 }, async () => {
  const { context, page } = await openPlain();
  try {
    const r = await page.evaluate(async () => {
      const { ai } = window.hearth;
      const long = { messages: [{ role: 'user', content: 'Write a long story about a lighthouse keeper.' }], max_tokens: 400, ignore_eos: true };
      const outcome = (p) => p.then((v) => ({ ok: v }), (e) => ({ code: e.code, message: e.message }));
      // Running: aborted after a few tokens.
      const running = new AbortController();
      const seen = [];
      const streamed = (async () => {
        for await (const c of await ai.chat.completions.create({ ...long, stream: true, signal: running.signal })) {
          seen.push(c.choices[0].delta.content ?? '');
          if (seen.length === 5) running.abort();
        }
      })();
      const runningOutcome = await outcome(streamed);
      // Queued: B waits behind A; aborting B ends it at once while A goes on; then A is aborted too.
      const a = new AbortController();
      const b = new AbortController();
      const t0 = performance.now();
      const pa = outcome(ai.chat.completions.create({ ...long, signal: a.signal }));
      const pb = outcome(ai.chat.completions.create({ ...long, signal: b.signal }));
      b.abort();
      const bOutcome = await pb;
      const bMs = performance.now() - t0;
      a.abort();
      const aOutcome = await pa;
      // stop(): the running generation and the queued one both end; the queued one never starts.
      const pc = ai.chat.completions.create({ ...long, max_tokens: 200 });
      const pd = ai.chat.completions.create({ ...long, max_tokens: 200 });
      await new Promise((r) => setTimeout(r, 300));
      ai.stop();
      const [c, d] = await Promise.all([pc, pd]);
      // An already aborted signal rejects without asking the worker.
      let pre;
      try {
        await ai.chat.completions.create({ ...long, signal: AbortSignal.abort() });
      } catch (e) {
        pre = e.code;
      }
      // (With a system message: without one SmolLM2-135M is on a knife's edge for this question, and a prefill
      // split differently by the cached prefix can tip it.)
      const after = await ai.chat.completions.create({ messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'What is the capital of France?' }], max_tokens: 16 });
      return { seen: seen.length, runningOutcome, bOutcome, bMs, aOutcome, c: { finish: c.choices[0].finish_reason, usage: c.usage }, d: { finish: d.choices[0].finish_reason, usage: d.usage, text: d.choices[0].message.content }, pre, after: after.choices[0].message.content };
    });
    console.log(`# abort: ${JSON.stringify(r)}`);
    assert.equal(r.runningOutcome.code, 'aborted');
    assert.ok(r.seen >= 5 && r.seen < 50, `${r.seen} chunks before the abort took effect`);
    assert.equal(r.bOutcome.code, 'aborted');
    assert.ok(r.bMs < 5000, `the queued request ended at once (${Math.round(r.bMs)} ms), not after the running one`);
    assert.equal(r.aOutcome.code, 'aborted');
    assert.equal(r.c.finish, 'abort');
    assert.ok(r.c.usage.completion_tokens < 200);
    assert.deepEqual([r.d.finish, r.d.usage.prompt_tokens, r.d.text], ['abort', 0, ''], 'the queued generation never began');
    assert.equal(r.pre, 'aborted');
    assert.match(r.after, /Paris/, 'the engine answers normally afterwards');
  } finally {
    await context.close();
  }
});

test('documents and cited answers; an index built by the CLI loads read-only and answers without embedding any document here', { timeout: 300_000 }, async () => {
  const { context, page, requests } = await openPlain();
  try {
    const r = await page.evaluate(async () => {
      const { ai } = window.hearth;
      const doc = await ai.documents.add('Quillfeather archive\n\nThe door code of the Quillfeather archive is 7341. The archive is open on Tuesdays.\n', { title: 'quillfeather.txt' });
      const mine = await ai.ask('What is the door code of the Quillfeather archive?');
      const attached = await ai.index.load('/app/plain/site.hix'); // baseUrl is '/'
      const deltas = [];
      let site = null;
      for await (const c of ai.ask('What is the meal allowance per day?', { stream: true })) {
        if (c.type === 'delta') deltas.push(c.delta);
        else site = c;
      }
      let removeError = null;
      try {
        await ai.documents.remove('travel-policy.pdf');
      } catch (e) {
        removeError = e.code;
      }
      const exported = await ai.index.export();
      const vectors = await ai.embed(['meal allowance', 'door code']);
      const list = await ai.documents.list();
      return { doc, mine, attached, deltas: deltas.join(''), site, removeError, exportedBytes: exported.byteLength, vectors: vectors.map((v) => v.length), list };
    });
    console.log(`# own document answer: ${JSON.stringify(r.mine.answer)} citations ${JSON.stringify(r.mine.citations.map((c) => [c.n, c.doc_id, c.text]))}`);
    console.log(`# site index answer: ${JSON.stringify(r.site.answer)} citations ${JSON.stringify(r.site.citations.map((c) => [c.n, c.doc_id]))}`);
    assert.equal(r.doc.id, 'quillfeather.txt');
    assert.equal(r.mine.evidence[0].doc_id, 'quillfeather.txt');
    assert.match(r.mine.evidence[0].text, /7341/);
    assert.match(r.mine.answer, /7341/);
    assert.ok(r.mine.citations.length > 0 && r.mine.citations.every((c) => c.doc_id === 'quillfeather.txt'), JSON.stringify(r.mine.citations));
    assert.deepEqual(r.attached.filter((d) => d.read_only).map((d) => d.id).sort(), ['it-help.html', 'larkspur-office.md', 'travel-policy.pdf']);
    assert.equal(r.site.type, 'answer');
    assert.equal(r.site.answer, r.deltas, 'the deltas make the answer');
    assert.equal(r.site.evidence[0].doc_id, 'travel-policy.pdf', 'the PDF, read by the CLI, answers');
    assert.match(r.site.evidence[0].text, /42 euros/);
    assert.equal(r.removeError, 'invalid_argument', 'a read-only document cannot be removed');
    assert.ok(r.exportedBytes > 0 && r.exportedBytes < 64 * 1024, `the export holds the user's document only (${r.exportedBytes} bytes)`);
    assert.deepEqual(r.vectors, [384, 384]);
    assert.equal(r.list.length, 4);
    // The index came over the network once; the documents it holds were never fetched or embedded here.
    assert.equal(requests.filter((q) => q.url.endsWith('/site.hix')).length, 1);
    assert.equal(requests.filter((q) => /handbook\//.test(q.url)).length, 0);
    assert.deepEqual(offSite(requests), []);
  } finally {
    await context.close();
  }
});

test('<hearth-chat> on an intranet portal page: a cited answer from the site index, styled through its parts', { timeout: 300_000 }, async () => {
  const { context, page, requests, errors } = await openApp(env.browser, `${env.server.url}/app/plain/portal.html`);
  try {
    const widget = page.locator('hearth-chat');
    await page.waitForFunction(() => document.querySelector('hearth-chat')?.shadowRoot?.querySelector('[role=status]')?.textContent === 'Ready', null, { timeout: LOAD_TIMEOUT, polling: 100 });
    const answered = page.evaluate(() => new Promise((resolve) => document.addEventListener('hearth-answer', (e) => resolve(e.detail), { once: true })));
    await widget.getByLabel('Question').fill('What is the wifi password of the Larkspur office?');
    await widget.getByRole('button', { name: 'Ask' }).click();
    const result = await answered;
    console.log(`# widget answer: ${JSON.stringify(result.answer)}; cited ${JSON.stringify(result.citations.map((c) => c.doc_id))}`);
    assert.ok(result.citations.length > 0, 'the answer cites evidence');
    assert.equal(result.citations[0].doc_id, 'larkspur-office.md');
    assert.match(result.answer, /heliotrope-42/);
    const cite = widget.getByRole('button', { name: /^Source \d+: / }).first();
    await cite.click();
    const mark = widget.locator('[part=evidence]:not([hidden]) mark');
    assert.match(await mark.first().textContent(), /heliotrope-42/);
    const askColor = await widget.getByRole('button', { name: 'Ask' }).evaluate((b) => getComputedStyle(b).backgroundColor);
    assert.equal(askColor, 'rgb(34, 51, 68)', 'the page styles the widget through ::part(ask)');
    await screenshot(page, 'npm-package-widget');
    assert.deepEqual(offSite(requests), []);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('the demo page attaches the CLI-built index given by ?index= and answers from it without embedding any document', { timeout: 300_000 }, async () => {
  const { context, page, requests, errors } = await openApp(env.browser, `${env.server.url}/?index=/app/plain/site.hix`);
  try {
    await waitReady(page);
    const listed = page.getByRole('list', { name: 'Documents', exact: true }).locator('li');
    await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Documents"] li').length === 3, null, { timeout: 60_000 });
    const items = await listed.allTextContents();
    console.log(`# documents: ${JSON.stringify(items)}`);
    assert.ok(items.every((t) => /from this site/.test(t)), 'each is marked as the site\'s');
    assert.equal(await listed.getByRole('button', { name: /^Remove/ }).count(), 0, 'read-only: no Remove');
    assert.match(await page.locator('#embedder-info').textContent(), /3 documents from this site's index/);
    const answer = await askAndWait(page, 'What is the wifi password of the Larkspur office?');
    console.log(`# answer: ${JSON.stringify(answer.text)}`);
    assert.match(answer.text, /heliotrope-42/);
    const mark = page.locator('[aria-label="Cited passage"] mark');
    const buttons = page.locator('[data-role="assistant"]').last().getByRole('button', { name: /larkspur-office\.md/ });
    assert.ok((await buttons.count()) > 0, 'a citation names the site document');
    await buttons.first().click();
    assert.match(await mark.last().textContent(), /heliotrope-42/);
    // The index file came once; no handbook document was fetched, and only the two models' weights.
    assert.equal(requests.filter((q) => new URL(q.url).pathname === '/app/plain/site.hix').length, 1); // (the page's own URL names it too)
    assert.equal(requests.filter((q) => /handbook\//.test(q.url)).length, 0);
    assert.equal(weightRequests(requests).length <= 2, true);
    assert.deepEqual(offSite(requests), []);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
