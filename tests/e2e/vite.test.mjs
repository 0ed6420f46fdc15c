// The npm package in a Vite + TypeScript app (examples/vite): `make package`'s tarball installed with npm into a
// copy of the sample, type-checked with `tsc --noEmit` (the sample's code and src/api-check.ts, which exercises
// every type of client.d.ts and widget.d.ts), built with `vite build`, and the production build (dist/) driven
// in Chromium: a streamed chat completion (in the page and through the client), an abort through an
// AbortSignal, and a cited answer over a document added as text and one added as a PDF (pdf.js bundled by Vite
// into lazy chunks of the worker). Every request stays on the local server.
//
// Needs the npm registry for vite and typescript (the first run downloads them; npm's cache serves later ones).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, LOAD_TIMEOUT, minimalPdf, openApp, screenshot, useServerAndBrowser } from './helpers.mjs';

const APP = join(ROOT, 'target', 'e2e-app');
const VITE = join(APP, 'vite');
const DIST = join(VITE, 'dist');
const checks = {}; // what prepare() ran: {tsc, tscNode, build} → {status, output}

// Runs a command in the app's folder, printing it and its output; returns {status, output}.
function run(cmd, args) {
  console.log(`# vite app: ${cmd} ${args.join(' ')}`);
  // Bounded: a synchronous child holds the event loop, so the test's own timeout could not end it.
  const r = spawnSync(cmd, args, { cwd: VITE, encoding: 'utf8', timeout: 300_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  for (const line of output.trimEnd().split('\n')) if (line) console.log(`#   ${line}`);
  if (r.error) throw r.error;
  return { status: r.status, output };
}

function prepare() {
  // The tarball, as `make package` makes it (the wasm packages are built by then: make test runs make wasm).
  execFileSync('bash', ['scripts/package.sh'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });
  const tgz = readdirSync(join(ROOT, 'target')).filter((f) => /^hearth-web-.*\.tgz$/.test(f)).sort().pop();
  rmSync(VITE, { recursive: true, force: true });
  mkdirSync(APP, { recursive: true });
  cpSync(join(ROOT, 'examples', 'vite'), VITE, { recursive: true, filter: (src) => !/[/\\](node_modules|dist)$/.test(src) });
  // One install: the app's devDependencies (vite, typescript) from the registry, and hearth-web from the
  // tarball (not published: the app's "hearth-web": "^0.1.0" is what a user installs). --no-save keeps the
  // copied package.json as committed.
  const install = run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=warn', join(ROOT, 'target', tgz)]);
  assert.equal(install.status, 0, 'npm install');
  run('npx', ['--no-install', 'vite', '--version']);
  checks.tsc = run('npx', ['--no-install', 'tsc', '--noEmit']);
  checks.tscNode = run('npx', ['--no-install', 'tsc', '--noEmit', '-p', 'tsconfig.node.json']);
  checks.build = run('npx', ['--no-install', 'vite', 'build']);
  assert.equal(checks.build.status, 0, 'vite build');
}

const env = useServerAndBrowser(null, { mounts: { '/vite': DIST }, prepare });

async function openBuilt() {
  const app = await openApp(env.browser, `${env.server.url}/vite/`);
  await app.page.waitForFunction(() => document.getElementById('status')?.textContent === 'Ready', null, { timeout: LOAD_TIMEOUT, polling: 100 });
  return app;
}

const offSite = (requests) => requests.filter((r) => !r.url.startsWith(env.server.url) && !r.url.startsWith('data:'));

test('tsc --noEmit passes on the app and on the types of the whole package; vite build bundles the worker, both wasm builds, the pool worker and pdf.js', () => {
  assert.equal(checks.tsc.status, 0, `tsc --noEmit:\n${checks.tsc.output}`);
  assert.equal(checks.tscNode.status, 0, `tsc --noEmit -p tsconfig.node.json:\n${checks.tscNode.output}`);
  const files = execFileSync('find', [DIST, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
  const sizes = files.map((f) => `${relative(DIST, f)} ${Math.round(statSync(f).size / 1024)} KiB`);
  console.log(`# dist: ${sizes.join(', ')}`);
  const assets = files.map((f) => relative(DIST, f));
  assert.ok(assets.includes('index.html'));
  assert.equal(assets.filter((f) => /^assets\/hearth_bg-.*\.wasm$/.test(f)).length, 2, 'both wasm builds (SIMD128 and relaxed SIMD), once each');
  for (const name of [/^assets\/worker-.*\.js$/, /^assets\/shard-worker-.*\.js$/, /^assets\/pdf\.min-.*\.js$/, /^assets\/pdf\.worker\.min-.*\.js$/]) {
    assert.ok(assets.some((f) => name.test(f)), `${name} is in dist/`);
  }
  assert.ok(!assets.some((f) => /\.(gguf|safetensors|hix)$/.test(f)), 'no model weights');
  assert.doesNotMatch(checks.build.output, /doesn't exist at build time|cannot be analyzed/, 'Vite followed every URL and import');
});

test('the built app streams a chat completion into the page and through the client; an AbortSignal ends one', { timeout: 300_000 }, async () => {
  const { context, page, requests, errors } = await openBuilt();
  try {
    // The page's own form (src/main.ts: with a system message).
    await page.getByRole('button', { name: 'Ask' }).click();
    await page.waitForFunction(() => /Paris/.test(document.getElementById('answer')?.textContent ?? ''), null, { timeout: 180_000, polling: 100 });
    const shown = await page.locator('#answer').textContent();
    const r = await page.evaluate(async () => {
      const { ai, HearthError } = window.hearth;
      const messages = [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'What is the capital of France?' }];
      const chunks = [];
      for await (const c of await ai.chat.completions.create({ messages, stream: true, max_tokens: 24 })) chunks.push(c);
      // Aborted after a few streamed tokens.
      const controller = new AbortController();
      let seen = 0;
      let aborted = null;
      try {
        const long = { messages: [{ role: 'user', content: 'Write a long story about a lighthouse keeper.' }], max_tokens: 400, ignore_eos: true };
        for await (const c of await ai.chat.completions.create({ ...long, stream: true, signal: controller.signal })) {
          if (c.choices[0].delta.content) seen++;
          if (seen === 5) controller.abort();
        }
      } catch (e) {
        aborted = { hearth: e instanceof HearthError, code: e.code };
      }
      const after = await ai.chat.completions.create({ messages, max_tokens: 16 });
      return { chunks, seen, aborted, after: after.choices[0].message.content, model: ai.model, cores: navigator.hardwareConcurrency, isolated: crossOriginIsolated };
    });
    const text = r.chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    console.log(`# page: ${JSON.stringify(shown)}; client streamed ${r.chunks.length} chunks: ${JSON.stringify(text)}; model ${r.model.name}, ${r.model.threads} threads, relaxed SIMD ${r.model.relaxed_simd}`);
    console.log(`# abort after ${r.seen} tokens: ${JSON.stringify(r.aborted)}; then: ${JSON.stringify(r.after)}`);
    assert.match(shown, /Paris/);
    assert.match(text, /Paris/);
    assert.equal(r.chunks[0].choices[0].delta.role, 'assistant');
    const last = r.chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'stop');
    assert.ok(last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0, JSON.stringify(last.usage));
    assert.deepEqual(r.aborted, { hearth: true, code: 'aborted' });
    assert.ok(r.seen >= 5 && r.seen < 50, `${r.seen} tokens before the abort took effect`);
    assert.match(r.after, /Paris/, 'the engine answers normally after the abort');
    // Cross-origin isolated (serve.py's COOP/COEP): the bundled pool worker shares the model.
    assert.ok(r.isolated);
    if (r.cores >= 2) {
      assert.ok(r.model.threads >= 2, `${r.model.threads} threads on ${r.cores} cores`);
      assert.ok(requests.some((q) => /\/assets\/shard-worker-[^/]*\.js$/.test(q.url)), 'the pool worker came from the build');
    }
    assert.ok(requests.some((q) => /\/assets\/hearth_bg-[^/]*\.wasm$/.test(q.url)), 'the wasm came from the build');
    assert.deepEqual(offSite(requests), []);
    assert.deepEqual(errors, []);
    await screenshot(page, 'vite-app');
  } finally {
    await context.close();
  }
});

test('the built app answers from documents with citations: one added as text, one as a PDF (pdf.js from the build)', { timeout: 300_000 }, async () => {
  const { context, page, requests, errors } = await openBuilt();
  const pdf = minimalPdf('travel-policy.pdf', ['Travel policy', 'The meal allowance is 42 euros per day.', 'Book trains rather than flights under 500 km.']);
  try {
    const r = await page.evaluate(
      async ({ pdfBytes }) => {
        const { ai } = window.hearth;
        const doc = await ai.documents.add('Quillfeather archive\n\nThe door code of the Quillfeather archive is 7341. The archive is open on Tuesdays.\n', { title: 'quillfeather.txt' });
        const mine = await ai.ask('What is the door code of the Quillfeather archive?');
        const file = new File([new Uint8Array(pdfBytes)], 'travel-policy.pdf', { type: 'application/pdf' });
        const pdfDoc = await ai.documents.add(file);
        const policy = await ai.ask('What is the meal allowance per day?', { docs: ['travel-policy.pdf'] });
        return { doc, mine, pdfDoc, policy };
      },
      { pdfBytes: [...pdf.buffer] },
    );
    console.log(`# text document answer: ${JSON.stringify(r.mine.answer)} citations ${JSON.stringify(r.mine.citations.map((c) => [c.n, c.doc_id, c.text]))}`);
    console.log(`# PDF answer: ${JSON.stringify(r.policy.answer)} citations ${JSON.stringify(r.policy.citations.map((c) => [c.n, c.doc_id, c.text]))}`);
    assert.equal(r.doc.id, 'quillfeather.txt');
    assert.match(r.mine.evidence[0].text, /7341/);
    assert.match(r.mine.answer, /7341/);
    assert.ok(r.mine.citations.length > 0 && r.mine.citations.every((c) => c.doc_id === 'quillfeather.txt'), JSON.stringify(r.mine.citations));
    assert.equal(r.pdfDoc.id, 'travel-policy.pdf');
    assert.ok(r.pdfDoc.chunks > 0);
    assert.equal(r.policy.evidence[0].doc_id, 'travel-policy.pdf');
    assert.match(r.policy.evidence[0].text, /42 euros/);
    assert.ok(r.policy.citations.length > 0, JSON.stringify(r.policy));
    assert.ok(requests.some((q) => /\/assets\/pdf\.min-[^/]*\.js$/.test(q.url)), 'pdf.js came from the build');
    assert.ok(!requests.some((q) => /vendor\/pdfjs/.test(q.url)), 'nothing asked for the unbundled pdf.js');
    assert.deepEqual(offSite(requests), []);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
