// The worker: the only place that touches wasm. It hosts the hearth module, one language model (with its
// conversation session) and one document library (embedder + index) in one memory. The page talks to it only
// through the messages described in PROTOCOL.md; requests run one at a time in the order received, except
// `stop` and `cancelIngest`, which act at once.
//
// A trap (a Rust panic, or any WebAssembly.RuntimeError) leaves every wasm object in this worker unusable. The
// worker then answers the request that trapped, and every request after it, with `fatal` (the panic message),
// and touches wasm no more: the page (model-client.js) ends this worker and starts a new one.
//
// A call that never returns (a hostile chat template looping inside minijinja) cannot be seen from in here:
// the page's client has a watchdog that ends a worker silent too long while it has work. So while a request
// is in progress this worker keeps talking: any message resets the watchdog, and when it has sent nothing for
// HEARTBEAT_MS it sends `{type:'alive'}` (only possible between two synchronous calls). Before a synchronous
// call that may legitimately outlast the watchdog (a prefill, building a model) it sends
// `{type:'alive', silentMs}`: the longest that call should take, from its size (PROTOCOL.md, "Crashes").

import { checkSameSite, download, fileChunks } from './download.js';
import { LibraryHost, nextTask } from './library-host.js';
import * as store from './storage.js';
import { loadWasm } from './wasm-package.js';
import { modelSink } from './model-host.js';
import { defaultThreads } from './shard-pool.js';
import { abortedError, errorCode } from './errors.js';

// The package's exports, filled in once the right build (relaxed SIMD or SIMD128) is loaded; every request
// waits for `ready` first, and the message handler is in place at once so no message is missed.
const wasm = {};
const ready = loadWasm().then((m) => Object.assign(wasm, m));
const library = new LibraryHost(wasm, (msg) => post(msg));
let model = null;
let pool = null; // the workers holding the other rows of a split model (shard-pool.js), if any
let generating = false;
let loadAbort = null;
let ingestEpoch = 0; // cancelIngest bumps it: every addDocument received before then is cancelled
let stopEpoch = 0; // stop bumps it: every generation received before then ends at once, even one still queued
let generatingId = null; // the id of the generation in progress
// Requests received and not yet answered: id -> {controller, started, answered}. `cancel` aborts one; a
// request cancelled before its turn is answered at once and skipped when its turn comes.
const requests = new Map();
let queue = Promise.resolve();
let fatal = null; // the message of the trap that poisoned the module: every request is answered with it
let trapped = null; // a trap seen while cleaning up (free() after a failure), which must not hide it

let lastPost = 0; // performance.now() of the last message sent
const post = (msg) => {
  lastPost = performance.now();
  self.postMessage(msg);
};
const errorText = (e) => (e && e.message) || String(e);

// Whether `e` means the module trapped: a WebAssembly.RuntimeError ("unreachable" after a panic, an
// out-of-bounds access, …), a wasm-bindgen borrow left held by a call that never returned, or any failure
// once the panic hook has recorded a panic (a panic always traps in this build).
function isTrap(e) {
  return (
    e instanceof WebAssembly.RuntimeError ||
    /recursive use of an object detected|attempted to take ownership of Rust value while it was borrowed/.test(errorText(e)) ||
    !!lastPanic()
  );
}

// ---- keeping the page's watchdog (model-client.js) informed ------------------------------------------

const HEARTBEAT_MS = 500; // at most this long without a message while a request is in progress (between calls)
let inProgress = 0; // requests received and not yet answered
let heartbeat = null;

function working(delta) {
  inProgress += delta;
  if (inProgress > 0 && !heartbeat) {
    heartbeat = setInterval(() => {
      if (!fatal && performance.now() - lastPost >= HEARTBEAT_MS) post({ type: 'alive' });
    }, HEARTBEAT_MS);
  } else if (inProgress === 0 && heartbeat) {
    clearInterval(heartbeat);
    heartbeat = null;
  }
}

// Tells the page that the synchronous call about to run may take up to `ms`: its watchdog then allows that
// much silence, until the next message. Not worth a message under a second (no watchdog is that short).
const expectSilence = (ms) => ms >= 1000 && post({ type: 'alive', silentMs: Math.ceil(ms) });

// Building a model (or the embedder) from its bytes: parsing, checking, repacking the weights and rendering a
// test chat with its template. A few hundred MB/s here; allowed 20 MB/s (a 1.1 GB file: 55 s).
const BUILD_BYTES_PER_MS = 20_000;

// A prefill runs in one synchronous call (beginChat/beginRag/beginCompletion), the whole prompt at once. The
// prompt has at most `n` tokens: its UTF-8 bytes plus the template's own, at most the context window. A token
// at position p costs about a + b·p (the weights, then attention over the p before it; on the 2-core test
// machine the two are equal around p = 700 for SmolLM2), so the prefill costs at most n · a · (1 + n / 512),
// with `a` taken as 3× the slowest measured with this model (brought back to position 0 the same way), or
// before any measurement 0.3 ms per MB of weights (the test machine: 0.05 to 0.1). There, a first prefill of
// 1,877 tokens took 33 s and was allowed 300 s; once measured, 190 s.
const PREFILL_SAFETY = 3;
const PREFILL_MS_PER_TOKEN_PER_MB = 0.3;
const ATTENTION_POSITIONS = 512; // positions after which attention costs as much as the weights (at most)
const TEMPLATE_TOKENS = 256; // the template's own text (system prompt, role markers), plus per message below
const TEMPLATE_TOKENS_PER_MESSAGE = 16;
let prefillMsPerToken = 0; // `a` from the slowest prefill seen with the model in use (0: none measured yet)
const utf8Bytes = (s) => (s ? new TextEncoder().encode(String(s)).length : 0);

function expectPrefill(textBytes, messages = 1) {
  const n = Math.min(model.contextSize(), textBytes + TEMPLATE_TOKENS + TEMPLATE_TOKENS_PER_MESSAGE * messages);
  const a = prefillMsPerToken
    ? PREFILL_SAFETY * prefillMsPerToken
    : (PREFILL_MS_PER_TOKEN_PER_MB * (model.memoryBytes() + (pool?.weightBytes ?? 0))) / 1e6;
  expectSilence(n * a * (1 + n / ATTENTION_POSITIONS));
}

function measurePrefill(stats) {
  const n = stats.prompt_tokens - stats.cached_tokens;
  if (n < 16) return; // too few to say
  const meanPosition = stats.cached_tokens + n / 2;
  prefillMsPerToken = Math.max(prefillMsPerToken, stats.prefill_ms / n / (1 + meanPosition / ATTENTION_POSITIONS));
}

function lastPanic() {
  try {
    return wasm.lastPanic?.() || null;
  } catch {
    return null; // the module is too broken to say: the error's own message is used
  }
}

// Frees a wasm object whose failure must not hide the error being handled, nor leave state half-set; a trap
// it meets is still remembered.
function freeQuietly(obj) {
  try {
    obj?.free();
  } catch (e) {
    if (isTrap(e)) trapped ??= e;
  }
}

// From now on the module is not touched: the model and the pool are dropped (not freed: their memory is
// poisoned, and the page ends this worker anyway), every request is answered with `fatal`.
function becomeFatal(e) {
  fatal ??= lastPanic() || errorText(trapped ?? e);
  try {
    pool?.terminate();
  } catch {
    // the pool workers end with this worker
  }
  try {
    library.close?.(); // no more background reloads of other tabs' saves
  } catch {
    // nothing to stop
  }
  model = null;
  pool = null;
  generating = false;
  return fatal;
}

self.onmessage = ({ data: msg }) => {
  if (fatal) {
    if (msg.id !== undefined) post({ type: 'fatal', id: msg.id, message: fatal });
    return;
  }
  switch (msg.type) {
    case 'stop':
      stopEpoch++;
      if (generating) stopGeneration();
      return;
    case 'cancel':
      return cancel(msg.id);
    case 'cancelIngest':
      ingestEpoch++;
      return;
    case 'load':
      loadAbort?.abort(); // a new load supersedes one still streaming
      break;
  }
  const controller = new AbortController();
  if (msg.type === 'load') loadAbort = controller;
  const entry = { controller, started: false, answered: false };
  if (msg.id !== undefined) requests.set(msg.id, entry);
  const epoch = ingestEpoch;
  const stopAt = stopEpoch;
  const ctx = {
    signal: controller.signal,
    cancelled: () => epoch !== ingestEpoch || controller.signal.aborted,
    stopped: () => stopAt !== stopEpoch,
  };
  working(+1);
  queue = queue
    .then(() => {
      if (entry.answered) return; // cancelled before its turn: already answered
      entry.started = true;
      // A panic met outside a request (e.g. reloading another tab's save) poisons the module just the same.
      if (fatal || trapped || lastPanic()) throw trapped ?? new Error(fatal ?? lastPanic());
      if (controller.signal.aborted) throw abortedError(`request ${msg.type}`);
      return handle(msg, ctx);
    })
    .catch((e) => {
      if (fatal || trapped || isTrap(e)) post({ type: 'fatal', id: msg.id, message: becomeFatal(e) });
      else if (controller.signal.aborted) post({ type: 'error', id: msg.id, message: errorText(e), code: 'aborted' });
      else post({ type: 'error', id: msg.id, message: errorText(e), code: errorCode(e) });
    })
    .finally(() => {
      requests.delete(msg.id);
      working(-1);
    });
};

function stopGeneration() {
  try {
    model.stop();
  } catch (e) {
    if (isTrap(e)) trapped ??= e; // the generation in progress meets it and ends with `fatal`
  }
}

// `cancel` (a request's AbortSignal in the client): a queued request is answered `aborted` now and skipped
// when its turn comes; a running one is stopped where it can be (between tokens, chunks or download chunks)
// and then answered `aborted`.
function cancel(id) {
  const entry = requests.get(id);
  if (!entry || entry.controller.signal.aborted) return;
  entry.controller.abort();
  if (!entry.started) {
    entry.answered = true;
    post({ type: 'error', id, message: errorText(abortedError('the request')), code: 'aborted' });
  } else if (generating && generatingId === id) stopGeneration();
}

async function handle(msg, { signal, cancelled, stopped }) {
  await ready;
  const { id } = msg;
  switch (msg.type) {
    case 'testTrap': // test-only: panics in Rust, which traps the module (PROTOCOL.md)
      if (!wasm.testTrap) throw new Error('testTrap: this build of the wasm package does not have it');
      wasm.testTrap(String(msg.message ?? 'test'));
      throw new Error('testTrap: the module did not trap');
    case 'testHang': {
      // test-only: blocks this thread for `ms`, as a call that never returns would (the page's watchdog)
      const t0 = performance.now();
      const end = t0 + Math.max(0, Number(msg.ms) || 0);
      while (performance.now() < end) {
        // busy: nothing can be sent meanwhile
      }
      return post({ type: 'hangEnded', id, ms: Math.round(performance.now() - t0) });
    }
    case 'load':
      return load(msg, signal);
    case 'chat':
      return generate(id, { signal, stopped }, () => {
        const messages = Array.isArray(msg.messages) ? msg.messages : [];
        expectPrefill(messages.reduce((n, m) => n + utf8Bytes(m?.content), 0), messages.length);
        model.beginChat(msg.messages, msg.options ?? {});
      });
    case 'complete':
      return generate(id, { signal, stopped }, () => {
        expectPrefill(utf8Bytes(msg.prompt));
        model.beginCompletion(msg.prompt, msg.options ?? {});
      });
    case 'rag':
      return rag(msg, { signal, stopped });
    case 'reset':
      // Every request gets an answer: one left unanswered would look hung to the page's watchdog.
      if (!model) throw new Error('no model is loaded');
      if (msg.nCtx) model.setContextSize(msg.nCtx);
      else model.reset();
      return post({ type: 'reset', id, contextSize: model.contextSize() });
    case 'loadEmbedder':
      return post({ type: 'embedderLoaded', id, ...(await library.load(msg, signal)) });
    case 'addDocument': {
      const name = msg.name ?? msg.file?.name;
      if (!name) throw new Error('addDocument: a name (or a File) is needed');
      return post({ type: 'documentAdded', id, ...(await library.add({ ...msg, name }, cancelled)) });
    }
    case 'removeDocument':
      return post({ type: 'documents', id, ...(await library.remove(msg.docId)) });
    case 'listDocuments':
      return post({ type: 'documents', id, documents: library.documents() });
    case 'search':
      return post({ type: 'hits', id, hits: library.search(msg.query, msg.options ?? {}) });
    case 'embed':
      return post({ type: 'vectors', id, vectors: library.embed(msg.texts) });
    case 'loadIndex':
      return post({ type: 'indexLoaded', id, ...(await library.loadIndex(msg, signal)) });
    case 'exportIndex': {
      const bytes = library.exportIndex();
      return self.postMessage({ type: 'indexExported', id, bytes }, [bytes.buffer]);
    }
    case 'cacheInfo':
      return post({ type: 'cache', id, ...(await cacheInfo()) });
    case 'clearCache':
      await store.cacheClear();
      return post({ type: 'cache', id, ...(await cacheInfo()) });
    default:
      throw new Error(`unknown message type ${msg.type}`);
  }
}

async function cacheInfo() {
  const [entries, { usage, quota }] = await Promise.all([store.cacheList(), store.estimate()]);
  return { entries, usage, quota };
}

// A GGUF from a File (streamed, not cached) or a URL (from the browser cache when there, else downloaded and
// cached, sha256-checked), chunk by chunk into wasm memory; then the model is built. With `threads` > 1
// (default: every core when cross-origin isolated) the model is split by rows across a pool of workers.
async function load({ id, url, parts, file, nCtx, sha256, size, cache = true, threads = defaultThreads() }, signal) {
  // `parts` (a file split in parts, in order) replaces `url`; each must be on this site.
  for (const u of file ? [] : Array.isArray(parts) ? parts : [url]) {
    checkSameSite(u, 'models', 'download the file and choose it, or copy it to this site');
  }
  // More workers than cores only adds hand-offs: at most one per core (and at least one).
  threads = Math.max(1, Math.min(threads | 0, navigator.hardwareConcurrency || 1));
  // Splitting needs the size up front and SharedArrayBuffer; otherwise one thread (model-host.js).
  const host = modelSink(wasm, { threads, free: freeQuietly });
  const openSink = (total) => host.open(total);
  let source = 'file';
  if (file) {
    await streamFile(file, openSink(file.size), (loaded, total) =>
      post({ type: 'progress', id, phase: 'download', loaded, total, source: 'file' }), signal);
  } else {
    const src = parts ? { parts } : { url, label: url.split('/').pop() };
    const got = await download({ ...src, sha256, size }, openSink, {
      wasm,
      signal,
      useCache: cache,
      onBytes: (loaded, total, src) => post({ type: 'progress', id, phase: 'download', loaded, total, source: src }),
      onWarning: (message) => post({ type: 'warning', id, message }),
    });
    source = got.source;
  }
  post({ type: 'progress', id, phase: 'init', loaded: 0, total: 0, source });
  expectSilence(host.loaded() / BUILD_BYTES_PER_MS);
  const { model: next, pool: nextPool } = await host.finish(nCtx);
  // The previous model stayed usable until the new one was built: now the new one is in place first, then
  // the old one and its pool are let go (a failure there cannot leave the worker between the two).
  const [oldModel, oldPool] = [model, pool];
  model = next;
  pool = nextPool;
  prefillMsPerToken = 0; // measured again with this model
  try {
    oldPool?.terminate();
  } finally {
    freeQuietly(oldModel);
  }
  if (trapped) throw trapped;
  post({
    type: 'loaded',
    id,
    source,
    info: {
      ...model.info(),
      context_size: model.contextSize(),
      memory_bytes: model.memoryBytes() + (pool?.weightBytes ?? 0),
      simd: wasm.simdEnabled(),
      relaxed_simd: wasm.relaxedSimdEnabled(),
      threads: model.shardCount(),
    },
  });
}

async function streamFile(file, sink, onBytes, signal) {
  let loaded = 0;
  let last = 0;
  onBytes(0, file.size);
  try {
    for await (const value of fileChunks(file)) {
      if (signal.aborted) throw new Error('loading cancelled');
      await sink.push(value);
      loaded += value.byteLength;
      if (performance.now() - last > 50) {
        last = performance.now();
        onBytes(loaded, file.size);
      }
    }
    onBytes(loaded, file.size);
  } catch (e) {
    sink.abort();
    throw e;
  }
}

// Retrieval-augmented answer, evidence first: the best passages for the question, then their sentences that
// best answer it (library.evidence, as `hearth ask` does). Too weak evidence is answered "not in your
// documents" with the closest sentences, without asking the model. Otherwise the evidence sentences are
// numbered inside the chat template within the context budget (model.beginRag), streamed like a chat; then
// the answer split into cited segments. Options `evidence` and `min_evidence` override ragDefaults().
async function rag({ id, question, options = {}, k = 4, history = [], scope = {} }, run) {
  if (!model) throw new Error('no model is loaded');
  if (run.stopped()) return cancelledBeforeStart(id, { segments: [], passages: [], query: question });
  const defaults = wasm.ragDefaults();
  const { evidence: nEvidence = defaults.evidence, min_evidence: minEvidence = defaults.min_evidence, ...generation } = options ?? {};
  options = generation;
  // The earlier turns as the prompt renders them (one copy, without the text shown around each sentence).
  const turns = (Array.isArray(history) ? history : []).map(promptTurn);
  // A follow-up ("And who is it named after?") is searched with the earlier question it points back at.
  const { query, context } = wasm.followUpQuery(question, turns);
  const t0 = performance.now();
  const passagesFound = library.isEmpty ? [] : library.passages(query, k, scope);
  const t1 = performance.now();
  const evidence = passagesFound.length && nEvidence > 0 ? await library.evidence(question, passagesFound, nEvidence, context) : [];
  // Where an answer's first token waits (with stats.prefill_ms): searching, then picking the evidence.
  const timings = { search_ms: Math.round(t1 - t0), evidence_ms: Math.round(performance.now() - t1) };
  const found = nEvidence > 0 && passagesFound.length ? evidence.map(evidencePassage) : passagesFound;
  if (passagesFound.length && nEvidence > 0 && !(evidence[0]?.score >= minEvidence)) {
    const text = defaults.not_found;
    post({ type: 'sources', id, passages: found, prompt_tokens: 0, abstained: true, query });
    post({ type: 'token', id, text });
    const stats = { prompt_tokens: 0, cached_tokens: 0, generated_tokens: 0, prefill_ms: 0, decode_ms: 0, prefill_tokens_per_s: 0, decode_tokens_per_s: 0, stop_reason: 'not_found', ...timings };
    post({ type: 'done', id, text, stats, segments: [{ text, citations: [] }], passages: found, abstained: true, query });
    return;
  }
  let passages = [];
  await generate(
    id,
    run,
    () => {
      const earlier = turns.reduce((n, t) => n + utf8Bytes(t.question) + utf8Bytes(t.answer) + t.passages.reduce((m, p) => m + utf8Bytes(p?.text), 0), 0);
      const bytes = utf8Bytes(question) + utf8Bytes(options?.system) + earlier + found.reduce((n, p) => n + utf8Bytes(p.text) + utf8Bytes(p.title), 0);
      expectPrefill(bytes, 2);
      const { used, prompt_tokens } = model.beginRag(question, found, { ...options, history: turns });
      passages = found.slice(0, used);
      post({ type: 'sources', id, passages, prompt_tokens, query });
    },
    (text) => ({ segments: [...wasm.citeAnswer(text, passages)], passages, query }),
    timings,
  );
}

// An earlier turn as the prompt renders it: its question, the passages its prompt numbered, its answer.
const promptTurn = (t) => ({ question: String(t?.question ?? ''), answer: String(t?.answer ?? ''), passages: (t?.passages ?? []).map(({ doc_id, title, text, chunk, start, end, score }) => ({ doc_id, title, text, chunk, start, end, score })) });

// An evidence sentence in the shape of a passage (what beginRag numbers and citeAnswer points at), with the
// passage text around it (`before`/`after`) so the page can show it highlighted in place.
const evidencePassage = (e) => ({ doc_id: e.doc_id, title: e.title, text: e.text, chunk: e.chunk, start: e.start, end: e.end, score: e.score, before: e.before, after: e.after });

// Prefills (begin), then streams one token per task until the end, the token limit, a stop or a cancel
// (`run.signal`: then it ends with `aborted`). A `stop` received while it was still queued (`run.stopped()`)
// ends it before the prefill, as `cancelled`.
async function generate(id, run, begin, extra, timings = {}) {
  if (!model) throw new Error('no model is loaded');
  if (run.stopped()) return cancelledBeforeStart(id, extra?.('') ?? {});
  generating = true;
  generatingId = id;
  try {
    begin();
    let text = '';
    for (;;) {
      await nextTask();
      if (run.signal.aborted || run.stopped()) stopGeneration(); // stop/cancel that arrived during the prefill
      const piece = model.nextPiece();
      if (piece === undefined) break;
      if (piece) {
        text += piece;
        post({ type: 'token', id, text: piece });
      }
    }
    const stats = { ...model.stats(), ...timings };
    measurePrefill(stats);
    if (run.signal.aborted) throw abortedError('the generation');
    post({ type: 'done', id, text, stats, ...extra?.(text) });
  } finally {
    generating = false;
    generatingId = null;
  }
}

// A generation a `stop` reached before it began: `done`, nothing generated, `stop_reason: 'cancelled'`.
function cancelledBeforeStart(id, extra) {
  const stats = { prompt_tokens: 0, cached_tokens: 0, generated_tokens: 0, prefill_ms: 0, decode_ms: 0, prefill_tokens_per_s: 0, decode_tokens_per_s: 0, stop_reason: 'cancelled' };
  post({ type: 'done', id, text: '', stats, ...extra });
}
