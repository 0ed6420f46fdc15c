// The documents benchmark: adding a fixed corpus in Chromium at 1 and 2 threads, and the page's time to the
// first token of a cited answer over 4 passages at 2 threads, through the page's own client and worker
// (www/bench/rag.html). Each run is a fresh browser.
//
//   node tests/bench/rag.mjs <model id> > rag.jsonl
//   (RUNS=3 THREADS="1 2" DOCS=100 in the environment; progress on stderr)
//
// The corpus and questions: tests/bench/corpus.mjs (the first question is a warm-up, untimed; then one timed ask
// per run, each another question, so no prompt is reused from the one before). Prints one
// JSON line per thread count: {kind:'ingest', threads, runs:[…]}, and one {kind:'rag', threads:2, runs:[…]}.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startServer, launchBrowser } from '../e2e/helpers.mjs';
import { corpus } from './corpus.mjs';
import { waitIdle } from './procfs.mjs';

const env = (k, d) => process.env[k] || d;
const RUNS = Number(env('RUNS', 3));
const THREADS = env('THREADS', '1 2').split(/[\s,]+/).filter(Boolean).map(Number);
const DOCS = Number(env('DOCS', 100));
const RAG_THREADS = 2;
const K = 4;
const log = (...a) => console.error('bench:', ...a);

const id = process.argv[2];
if (!id) throw new Error('usage: node tests/bench/rag.mjs <model id>');
const manifest = JSON.parse(readFileSync(join(ROOT, 'models', 'manifest.json'), 'utf8'));
const entry = manifest.models.find((m) => m.id === id);
if (!entry) throw new Error(`${id} is not in the manifest`);
const modelUrl = `models/${id}/${entry.files[0].name}`;

async function session(server, threads, withRag, { text, questions }) {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/bench/rag.html`);
    await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 60_000 });
    const call = async (fn, arg) => {
      try {
        return await page.evaluate(fn, arg);
      } catch (e) {
        throw new Error(`${threads}t: ${e.message}${errors.length ? ` (${errors.join('; ')})` : ''}`);
      }
    };
    await waitIdle({ threshold: 0.1, log });
    const ingest = await call((a) => window.rag.ingest(a), { threads, name: `scifact-${DOCS}.md`, text });
    log(`ingest ${threads}t: ${ingest.chunks} passages in ${(ingest.ms / 1000).toFixed(1)} s: ${ingest.passages_per_s.toFixed(1)} passages/s (embedding alone ${ingest.embed_passages_per_s})`);
    if (!withRag) return { ingest };
    await call((a) => window.rag.loadModel(a), { url: modelUrl, threads });
    await call((a) => window.rag.ask(a), { question: questions[0], k: K }); // warm-up: the system prompt is cached from here on
    await waitIdle({ threshold: 0.1, log });
    const ask = await call((a) => window.rag.ask(a), { question: questions[1 + (withRag - 1) % (questions.length - 1)], k: K });
    log(`ask ${threads}t: first token after ${ask.ttft_ms.toFixed(0)} ms (${ask.prompt_tokens} prompt tokens, ${ask.cached_tokens} cached, ${ask.passages} passages; search ${ask.search_ms} ms, evidence ${ask.evidence_ms} ms, prefill ${ask.prefill_ms?.toFixed(0)} ms${ask.abstained ? ', abstained' : ''})`);
    return { ingest, ask };
  } finally {
    await browser.close();
  }
}

const data = corpus(DOCS);
log(`documents benchmark: ${data.docs} SciFact abstracts as one document, ${data.questions.length} questions`);
const server = await startServer();
try {
  const ingest = new Map(THREADS.map((t) => [t, []]));
  const rag = [];
  for (let i = 0; i < RUNS; i++) {
    for (const threads of THREADS) {
      const r = await session(server, threads, threads === RAG_THREADS ? i + 1 : 0, data);
      ingest.get(threads).push(r.ingest);
      if (r.ask) rag.push(r.ask);
    }
  }
  for (const [threads, runs] of ingest) console.log(JSON.stringify({ kind: 'ingest', model: id, docs: data.docs, threads, runs }));
  if (rag.length) console.log(JSON.stringify({ kind: 'rag', model: id, threads: RAG_THREADS, k: K, runs: rag }));
} finally {
  await server.stop();
}
