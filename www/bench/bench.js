// bench/?engine=hearth|wllama&threads=1&model=/models/<id>/<file>&prompt=200&gen=128&runs=3
// Loads the model in one engine, runs one short untimed warm-up, then `runs` timed runs, and prints the
// figures as JSON. With `&driver`, it does nothing by itself: tests/bench/browser.mjs calls window.bench
// (load, warmup, run, promptIds) so that it can wait for an idle CPU before each timed step.
import { hearthEngine, wllamaEngine } from './engines.js';

const params = new URLSearchParams(location.search);
const out = document.getElementById('results');
const status = document.getElementById('bench-status');
const url = params.get('model') || '/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf';
const engineName = params.get('engine') || 'hearth';
const threads = Number(params.get('threads') || 1);
const promptTokens = Number(params.get('prompt') || 200);
const genTokens = Number(params.get('gen') || 128);
const runs = Number(params.get('runs') || 3);
const nCtx = promptTokens + genTokens + 16;

async function start() {
  const engine = engineName === 'wllama' ? await wllamaEngine(threads) : hearthEngine(threads, params.get('lead') ? Number(params.get('lead')) : undefined);
  const bench = {
    engine: engineName,
    crossOriginIsolated: self.crossOriginIsolated,
    load: () => engine.load(url, nCtx),
    warmup: () => engine.run(32, 8),
    run: (p = promptTokens, g = genTokens) => engine.run(p, g),
    promptIds: (n = promptTokens) => engine.promptIds(n),
    close: () => engine.close(),
  };
  window.bench = bench;
  if (params.has('driver')) {
    document.body.dataset.ready = '1';
    status.textContent = `Ready (${engineName}), waiting for the driver`;
    return;
  }
  status.textContent = `Loading ${url} in ${engineName}…`;
  const loaded = await bench.load();
  await bench.warmup();
  const results = [];
  for (let i = 0; i < runs; i++) {
    status.textContent = `${engineName}: run ${i + 1} of ${runs} (${promptTokens} + ${genTokens} tokens)…`;
    results.push(await bench.run());
  }
  out.textContent = JSON.stringify({ type: 'done', engine: engineName, threads, ...loaded, runs: results }, null, 1);
  status.textContent = 'Done';
  document.body.dataset.done = 'done';
  bench.close();
}

start().catch((err) => {
  out.textContent = JSON.stringify({ type: 'error', message: String(err && err.message ? err.message : err) });
  status.textContent = `Error: ${err && err.message ? err.message : err}`;
  document.body.dataset.done = 'error';
});
