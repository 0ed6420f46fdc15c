// Benchmark worker: loads a model the way the page's worker does (streamed into wasm) and times
// prefill and decode with Model.bench. Used by bench.html and `make bench`.
import init, { ModelLoader } from './pkg/hearth.js';

self.onmessage = async (e) => {
  const { url, promptTokens, genTokens, runs } = e.data;
  try {
    await init();
    const t0 = performance.now();
    const res = await fetch(url);
    if (!res.ok) throw new Error(`cannot download ${url}: HTTP ${res.status}`);
    const loader = new ModelLoader(Number(res.headers.get('Content-Length')) || 0);
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      loader.push(value);
    }
    const model = loader.finish(promptTokens + genTokens + 16);
    const loadMs = performance.now() - t0;
    const results = [];
    for (let i = 0; i < runs; i++) {
      results.push(model.bench(promptTokens, genTokens));
      self.postMessage({ type: 'progress', done: i + 1, runs });
    }
    self.postMessage({ type: 'done', info: model.info(), load_ms: loadMs, runs: results });
  } catch (err) {
    self.postMessage({ type: 'error', message: String(err && err.message ? err.message : err) });
  }
};
