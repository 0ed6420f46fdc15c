// Benchmark worker for hearth: loads a model the way the page's worker does (the same wasm build: relaxed SIMD
// where the browser has it, else SIMD128; the GGUF streamed into wasm) and times prefill and decode with
// Model.bench. Used by bench.html (through bench-engines.js) and `make bench`.
// With `threads` > 1 the model is split across a pool of workers (shard-pool.js), as in the page.
// Messages: {id, type: 'load', url, nCtx, threads} → {id, load_ms, info, build, threads}; {id, type: 'run', promptTokens,
// genTokens} → {id, run}; {id, type: 'tokenize', text} → {id, ids}. Failures reply {id, error}.
import { loadWasm } from './wasm-package.js';
import { ShardPool } from './shard-pool.js';
import { byteChunks } from './download.js';

let model = null;
let pool = null;

async function load(url, nCtx, threads = 1, lead = undefined) {
  const t0 = performance.now(); // like wllama's load: compiling the wasm counts
  const { ModelLoader, simdEnabled, relaxedSimdEnabled } = await loadWasm(null, 'bench-'); // the benchmark build: Model.bench is not in the page's package
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot download ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('Content-Length')) || 0;
  const split = threads > 1 && total > 0 && typeof SharedArrayBuffer !== 'undefined';
  pool = split ? new ShardPool(threads, total, lead) : null;
  const loader = new ModelLoader(total, pool?.count, pool?.lead);
  for await (const value of byteChunks(res.body)) {
    loader.push(value);
    await pool?.push(value);
  }
  model = loader.finish(nCtx);
  if (pool) {
    await pool.finish();
    pool.attach(model);
  }
  const n = pool?.count ?? 1;
  const build = relaxedSimdEnabled() ? 'wasm relaxed SIMD' : simdEnabled() ? 'wasm SIMD128' : 'wasm';
  return { load_ms: performance.now() - t0, info: model.info(), build: `${build}, ${n} thread${n > 1 ? 's (row-split workers)' : ''}`, threads: n };
}

self.onmessage = async (e) => {
  const { id, type } = e.data;
  try {
    if (type === 'load') {
      self.postMessage({ id, ...(await load(e.data.url, e.data.nCtx, e.data.threads, e.data.lead)) });
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
