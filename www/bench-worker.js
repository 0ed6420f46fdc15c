// Benchmark worker for hearth: loads a model the way the page's worker does (the same wasm build: relaxed SIMD
// where the browser has it, else SIMD128; the GGUF streamed into wasm) and times prefill and decode with
// Model.bench. Used by bench.html (through bench-engines.js) and `make bench`.
// Messages: {id, type: 'load', url, nCtx} → {id, load_ms, info, build}; {id, type: 'run', promptTokens,
// genTokens} → {id, run}; {id, type: 'tokenize', text} → {id, ids}. Failures reply {id, error}.
import { loadWasm } from './wasm-package.js';

let model = null;

async function load(url, nCtx) {
  const t0 = performance.now(); // like wllama's load: compiling the wasm counts
  const { ModelLoader, simdEnabled, relaxedSimdEnabled } = await loadWasm();
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot download ${url}: HTTP ${res.status}`);
  const loader = new ModelLoader(Number(res.headers.get('Content-Length')) || 0);
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    loader.push(value);
  }
  model = loader.finish(nCtx);
  const build = relaxedSimdEnabled() ? 'wasm relaxed SIMD' : simdEnabled() ? 'wasm SIMD128' : 'wasm';
  return { load_ms: performance.now() - t0, info: model.info(), build: `${build}, 1 thread` };
}

self.onmessage = async (e) => {
  const { id, type } = e.data;
  try {
    if (type === 'load') {
      self.postMessage({ id, ...(await load(e.data.url, e.data.nCtx)) });
    } else if (type === 'run') {
      self.postMessage({ id, run: model.bench(e.data.promptTokens, e.data.genTokens) });
    } else if (type === 'tokenize') {
      self.postMessage({ id, ids: Array.from(model.tokenize(e.data.text, false)) });
    } else {
      throw new Error(`unknown message ${type}`);
    }
  } catch (err) {
    self.postMessage({ id, error: String(err && err.message ? err.message : err) });
  }
};
