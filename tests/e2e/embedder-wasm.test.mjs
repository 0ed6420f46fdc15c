// The wasm build's embedder (the one the page runs) against sentence-transformers, on the committed
// fixture: the browser path (SIMD128 GEMM, Q8 weights dequantised per tile) must keep the parity the native
// tests check. Runs the package in Node, which has the same wasm SIMD as Chromium.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.mjs';

const pkg = join(ROOT, 'www', 'pkg');
const dir = join(ROOT, 'models', 'cache', 'minilm-l6-v2');
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

for (const [precision, minCos] of [['f32', 0.999], ['q8', 0.995]]) {
  test(`wasm ${precision} embeddings match sentence-transformers (cosine >= ${minCos})`, { timeout: 300_000 }, async () => {
    const { default: init, Library } = await import(join(pkg, 'hearth.js'));
    await init({ module_or_path: readFileSync(join(pkg, 'hearth_bg.wasm')) });
    const lib = new Library(readFileSync(join(dir, 'model.safetensors')), readFileSync(join(dir, 'config.json'), 'utf8'), readFileSync(join(dir, 'tokenizer.json')), 256, precision);
    const cases = fixture.cases;
    assert.ok(cases.length >= 50);
    const t0 = performance.now();
    const got = lib.embed(cases.map((c) => c.text));
    const ms = performance.now() - t0;
    let worst = 1;
    cases.forEach((c, i) => (worst = Math.min(worst, cos(got[i], c.embedding))));
    console.log(`# ${precision}: worst cosine ${worst.toFixed(5)}; ${cases.length} texts in ${ms.toFixed(0)} ms`);
    assert.ok(worst >= minCos, `worst cosine ${worst}`);
    lib.free();
  });
}
