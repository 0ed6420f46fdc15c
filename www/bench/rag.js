// The documents benchmark's page (driven by tests/bench/rag.mjs): the real client and worker (../client.js), so
// the figures are what the page does. window.rag:
//  - ingest({threads, name, text}) → {chunks, ms, passages_per_s, embed_passages_per_s}: loads the embedder
//    with `threads` workers (untimed), then adds one document, timed from the call to its answer (read, chunk,
//    embed, commit and save in the browser); embed_passages_per_s is the worker's own figure for the embed phase;
//  - loadModel({url, threads}) → the model's info;
//  - ask({question, k}) → {ttft_ms, ms, prompt_tokens, cached_tokens, abstained, answer}: time from the call to
//    the first streamed token of a cited answer over k passages.
import { createHearth } from '../client.js';

const status = document.getElementById('bench-status');
const ai = await createHearth({ baseUrl: new URL('/', location.href).href });

window.rag = {
  async ingest({ threads, name, text }) {
    status.textContent = `Loading the embedder (${threads} thread${threads > 1 ? 's' : ''})…`;
    await ai.loadEmbedder({ threads });
    status.textContent = `Adding ${name}…`;
    let last = null;
    const t0 = performance.now();
    const doc = await ai.documents.add(text, { title: name, onProgress: (p) => p.phase === 'embed' && (last = p) });
    const ms = performance.now() - t0;
    status.textContent = `Added ${name}: ${doc.chunks} passages in ${(ms / 1000).toFixed(1)} s`;
    return { chunks: doc.chunks, ms, passages_per_s: (doc.chunks * 1000) / ms, embed_passages_per_s: last?.passages_per_s ?? null };
  },
  async loadModel({ url, threads }) {
    status.textContent = `Loading ${url}…`;
    return ai.load(url, { threads });
  },
  async ask({ question, k }) {
    status.textContent = `Asking: ${question}`;
    const t0 = performance.now();
    let first = null;
    let answer = null;
    for await (const chunk of ai.ask(question, { k, stream: true, max_tokens: 48 })) {
      if (chunk.type === 'delta' && first === null) first = performance.now();
      if (chunk.type === 'answer') answer = chunk;
    }
    const end = performance.now();
    return {
      ttft_ms: (first ?? end) - t0,
      ms: end - t0,
      prompt_tokens: answer.usage?.prompt_tokens ?? 0,
      cached_tokens: answer.usage?.extra?.cached_tokens ?? 0,
      search_ms: answer.usage?.extra?.search_ms,
      evidence_ms: answer.usage?.extra?.evidence_ms,
      prefill_ms: answer.usage?.extra?.prefill_ms,
      passages: answer.passages?.length ?? 0,
      abstained: !!answer.abstained,
      streamed: first !== null,
      answer: answer.answer,
    };
  },
};
document.body.dataset.ready = '1';
status.textContent = 'Ready, waiting for the driver';
