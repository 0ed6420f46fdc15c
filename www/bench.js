// bench.html?model=/models/<id>/<file>&prompt=200&gen=128&runs=3 — prints the figures as JSON.
const params = new URLSearchParams(location.search);
const out = document.getElementById('results');
const status = document.getElementById('bench-status');
const url = params.get('model') || '/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf';
const job = {
  url,
  promptTokens: Number(params.get('prompt') || 200),
  genTokens: Number(params.get('gen') || 128),
  runs: Number(params.get('runs') || 3),
};
status.textContent = `Running ${job.runs} runs of ${job.promptTokens} + ${job.genTokens} tokens on ${url}…`;
const worker = new Worker('bench-worker.js', { type: 'module' });
worker.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'progress') {
    status.textContent = `Run ${m.done} of ${m.runs} done…`;
  } else {
    out.textContent = JSON.stringify(m, null, 1);
    status.textContent = m.type === 'done' ? 'Done' : `Error: ${m.message}`;
    document.body.dataset.done = m.type;
    worker.terminate();
  }
};
worker.postMessage(job);
