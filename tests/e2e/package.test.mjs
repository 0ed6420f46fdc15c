// The page's wasm packages carry no measurement code: Model.bench and annSearchBench exist only in the
// benchmark build (`make bench` → www/bench/pkg*, cargo feature `bench`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const www = fileURLToPath(new URL('../../www/', import.meta.url));

for (const dir of ['pkg', 'pkg-relaxed']) {
  test(`www/${dir} exports no benchmark entry points`, () => {
    const types = readFileSync(`${www}${dir}/hearth.d.ts`, 'utf8');
    assert.match(types, /class ModelLoader/, 'the package is built');
    assert.doesNotMatch(types, /annSearchBench/);
    assert.doesNotMatch(types, /^\s*bench\(/m);
  });
}
