// The wasm builds' embedder against sentence-transformers, on the committed fixture, in Chromium: both
// packages the page may load must keep the parity the native tests check. www/pkg (SIMD128: the f32 GEMM,
// Q8 weights dequantised per tile) and www/pkg-relaxed (what Chromium loads: at q8 the linear layers are
// packed to 7 bits for the integer GEMM). Not in Node: Node 20's pre-standard relaxed SIMD computes other
// dot products than Chromium's.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, launchBrowser, startServer } from './helpers.mjs';

const fixture = JSON.parse(readFileSync(join(ROOT, 'tests', 'reference', 'embedding_fixture.json'), 'utf8'));

const cos = (a, b) => {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
};

let server, browser, page;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.newPage();
  // Any page of the server's origin can import the packages and fetch the embedder.
  await page.goto(`${server.url}/models/minilm-l6-v2/config.json`);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

for (const [build, precision, minCos] of [['pkg', 'f32', 0.999], ['pkg', 'q8', 0.995], ['pkg-relaxed', 'f32', 0.999], ['pkg-relaxed', 'q8', 0.995]]) {
  test(`wasm ${build} ${precision} embeddings match sentence-transformers (cosine >= ${minCos})`, { timeout: 300_000 }, async () => {
    const texts = fixture.cases.map((c) => c.text);
    assert.ok(texts.length >= 50);
    const { got, one, ms, relaxed } = await page.evaluate(async ({ build, precision, texts }) => {
      const { default: init, Library } = await import(`/${build}/hearth.js`);
      await init();
      const bytes = async (n) => new Uint8Array(await (await fetch(`/models/minilm-l6-v2/${n}`)).arrayBuffer());
      const config = await (await fetch('/models/minilm-l6-v2/config.json')).text();
      const lib = new Library(await bytes('model.safetensors'), config, await bytes('tokenizer.json'), 256, precision);
      const t0 = performance.now();
      const got = lib.embed(texts).map((v) => Array.from(v));
      const ms = performance.now() - t0;
      // One at a time must give the same vectors as batched.
      const one = texts.slice(0, 4).map((t) => Array.from(lib.embed([t])[0]));
      lib.free();
      // The relaxed package only loads where relaxed SIMD validates (it must, here).
      const relaxed = WebAssembly.validate(new Uint8Array(await (await fetch('/pkg-relaxed/hearth_bg.wasm')).arrayBuffer()));
      return { got, one, ms, relaxed };
    }, { build, precision, texts });
    assert.ok(relaxed, 'this Chromium does not validate the relaxed-SIMD package');
    let worst = 1;
    fixture.cases.forEach((c, i) => (worst = Math.min(worst, cos(got[i], c.embedding))));
    console.log(`# ${build} ${precision}: worst cosine ${worst.toFixed(5)}; ${texts.length} texts in ${ms.toFixed(0)} ms`);
    assert.ok(worst >= minCos, `worst cosine ${worst}`);
    one.forEach((v, i) => assert.deepEqual(v, got[i], `batching changed ${texts[i]}`));
  });
}
