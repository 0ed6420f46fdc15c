// Benchmark worker for hearth: loads a model through the page worker's own model host (model-host.js: the
// same wasm build family, relaxed SIMD where the browser has it, else SIMD128; the GGUF streamed into wasm;
// with `threads` > 1 the rows split across a pool of workers, as in the page) and times prefill and decode
// with Model.bench. Used by bench/index.html (through engines.js) and `make bench`.
// Messages: {id, type: 'load', url, nCtx, threads} → {id, load_ms, info, build, threads}; {id, type: 'run', promptTokens,
// genTokens} → {id, run}; {id, type: 'tokenize', text} → {id, ids}. Failures reply {id, error}.
import { loadWasm } from './wasm-package.js';
import { byteChunks } from '../download.js';
import { modelSink } from '../model-host.js';

let model = null;

async function load(url, nCtx, threads = 1, lead = undefined) {
  const t0 = performance.now(); // like wllama's load: compiling the wasm counts
  const wasm = await loadWasm(); // the benchmark build: Model.bench is not in the page's package
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot download ${url}: HTTP ${res.status}`);
  const host = modelSink(wasm, { threads, lead });
  const sink = host.open(Number(res.headers.get('Content-Length')) || 0);
  for await (const value of byteChunks(res.body)) await sink.push(value);
  ({ model } = await host.finish(nCtx));
  const n = model.shardCount();
  const build = wasm.relaxedSimdEnabled() ? 'wasm relaxed SIMD' : wasm.simdEnabled() ? 'wasm SIMD128' : 'wasm';
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
