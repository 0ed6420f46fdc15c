// Page side of the worker protocol (PROTOCOL.md): turns requests into promises and routes the worker's
// progress, token, sources and warning messages to callbacks. No UI here.
//
// A trap in the wasm module poisons every wasm object in its worker; the worker then answers `fatal`. The
// client ends that worker (its pool workers end with it), rejects the request that trapped (and every one
// the worker may have begun) with the panic message (`error.code === 'worker_crashed'`), starts a new
// worker and restores what the page had: the last model loaded (a URL comes back from the browser cache, a
// File is read again) and the embedder with the saved index. Requests made meanwhile wait for that, and
// requests the dead worker had not begun are sent again to the new one.
//
// A call that never returns (a hostile chat template can loop inside one call for minutes) neither answers nor
// traps. So a watchdog treats a worker that has work and sends nothing for `watchdogMs` as crashed, the same
// way: while a request is in progress the worker sends a message at least every half second between its
// synchronous calls (`alive` when it has nothing else to say), and announces the calls that may legitimately
// take longer (`{type:'alive', silentMs}`: a long prefill, a big model's build, a big document's chunking).

import { abortedError, errorCode } from './errors.js';

const MAX_RESTORE_ROUNDS = 3; // restore attempts after crashes in a row while restoring (each drops what crashed)
const DEFAULT_WATCHDOG_MS = 60_000; // silence (with requests in progress) after which the worker counts as hung
// A watchdog timer firing this much later than due means this page's own thread was held up (busy, throttled in
// the background, a laptop asleep): the worker's messages may be waiting behind it, so they get that long
// before the worker is judged.
const LATE_MS = 1000;

const GENERATIONS = new Set(['chat', 'complete', 'rag']);
const cancelledIngest = (p) => Object.assign(new Error(`adding ${p.msg.name ?? p.msg.file?.name} was cancelled`), { code: 'aborted' });
const NOTHING_GENERATED = { prompt_tokens: 0, cached_tokens: 0, generated_tokens: 0, prefill_ms: 0, decode_ms: 0, prefill_tokens_per_s: 0, decode_tokens_per_s: 0 };

const seconds = (ms) => `${ms < 10_000 ? Math.round(ms / 100) / 10 : Math.round(ms / 1000)} s`;

export class ModelClient {
  #worker = null;
  #alive = false; // the current worker has sent a message: it started (an error before that is not a crash)
  #broken = null; // the worker script itself could not start: every request fails with this
  #pending = new Map(); // id -> { msg, resolve, reject, on: {progress, token, sources}, result, seq, internal }
  #outbox = []; // requests made while the worker is being restored, sent once it is
  #nextId = 1;
  #seq = 0; // order in which requests were posted to the current worker (the order it runs them)
  #generation = 0; // bumped for every new worker
  #restoring = false;
  #lastLoad = null; // the `load` message of the model in use (nCtx updated by reset)
  #lastEmbedder = null; // the `loadEmbedder` message of the embedder in use
  #lastIndex = null; // the `loadIndex` message of the read-only index attached
  #watchdogMs; // 0: no watchdog
  #watchdog = null; // its timer, set while requests posted to the current worker are unanswered
  #due = 0; // when that timer should fire (performance.now())
  #heardAt = 0; // last message from the current worker (or the post that started the watch)
  #silenceMs = 0; // silence allowed after #heardAt: #watchdogMs, or what the worker announced (`silentMs`)
  #late = false; // the timer fired late once since #heardAt: the next time it fires, it is not excused again

  /** Called with the text of every `warning` the worker sends (storage short, cache damaged, …). */
  onWarning = null;
  /**
   * Called when the worker crashed (a trap, or silent for `watchdogMs` with work to do): `{message}` (the panic
   * message, or "the engine stopped responding for …"); a new one is being restored.
   */
  onRestart = null;
  /**
   * Called when the new worker is restored: `{message, model, modelError, embedder, embedderError}`. `model`
   * is the reloaded model's info (as `load` resolves; null if there was none or it failed: `modelError`),
   * `embedder` what `loadEmbedder` resolves to (with the saved index's `documents`), or null likewise.
   */
  onRecovered = null;

  /**
   * `watchdogMs`: how long the worker may send nothing while it has a request in progress before it counts as
   * hung and is restarted like a crashed one (default 60 s; 0 or Infinity: never).
   */
  /**
   * `worker`: a function returning a new module Worker running www/worker.js (for bundlers or hosts that
   * must start it themselves, e.g. from another URL); by default the worker.js next to this file.
   */
  constructor({ watchdogMs = DEFAULT_WATCHDOG_MS, worker } = {}) {
    this.#watchdogMs = watchdogMs > 0 && Number.isFinite(watchdogMs) ? watchdogMs : 0;
    // Written out in full so that bundlers (Vite, webpack) see the worker and bundle it.
    this.#newWorker = worker ?? (() => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
    this.#start();
  }

  #newWorker;

  /** Ends the worker (and its pool): every request in progress or waiting rejects with `disposed`. */
  dispose() {
    const worker = this.#worker;
    this.#worker = null;
    this.#unwatch();
    worker?.terminate();
    this.#broken = Object.assign(new Error('this hearth instance was disposed'), { code: 'disposed' });
    for (const p of this.#pending.values()) p.reject(this.#broken);
    this.#pending.clear();
    this.#outbox = [];
  }

  /** Whether a crashed worker is being replaced (requests made now wait for it). */
  get restoring() {
    return this.#restoring;
  }

  /**
   * Loads a model from a URL (string) or a File/Blob. A URL comes from the browser cache when it is there
   * (else it is downloaded and cached); `sha256` (from the manifest) is checked. `onProgress({phase, loaded,
   * total, source})`. `threads`: workers sharing the model (default: the worker's, every core up to 4 when
   * cross-origin isolated, else 1). Resolves to its info, plus `source` ('network' | 'cache' | 'file').
   */
  load(source, { nCtx, onProgress, sha256, size, cache, threads, parts, signal } = {}) {
    const msg = parts
      ? { type: 'load', parts, sha256, size, cache }
      : typeof source === 'string'
        ? { type: 'load', url: source, sha256, size, cache }
        : { type: 'load', file: source };
    if (nCtx) msg.nCtx = nCtx;
    if (threads) msg.threads = threads;
    return this.#request(msg, { progress: onProgress, signal }, (m) => {
      this.#lastLoad = msg; // restored after a crash
      return { ...m.info, source: m.source };
    });
  }

  /** Generates a reply to `messages`; `onToken(text)` gets each piece. Resolves to {text, stats}. */
  chat(messages, options, onToken, { signal } = {}) {
    return this.#request({ type: 'chat', messages, options }, { token: onToken, signal });
  }

  /** Continues the raw text `prompt` (for base models, no chat template). Resolves to {text, stats}. */
  complete(prompt, options, onToken, { signal } = {}) {
    return this.#request({ type: 'complete', prompt, options }, { token: onToken, signal });
  }

  /**
   * Answers `question` from the `k` best passages of the indexed documents. `onSources(passages)` gets the
   * passages that fit the prompt before the first token. Resolves to {text, stats, segments, passages,
   * query}. `history` (the conversation so far, [{question, answer, passages}], oldest first) makes it a
   * follow-up: searched with the earlier question it points back at, asked after the earlier turns.
   * `scope` ({doc_ids, tags}) limits the passages to those documents or tags.
   */
  rag(question, options, k, { onToken, onSources, history, scope, signal } = {}) {
    const msg = { type: 'rag', question, options, k };
    if (history?.length) msg.history = history;
    if (scope) msg.scope = scope;
    return this.#request(msg, { token: onToken, sources: onSources, signal });
  }

  /**
   * Ends the generation in progress and every one asked for before this call that has not begun; their
   * promises still resolve, with stop_reason 'cancelled' (those not begun with nothing generated).
   */
  stop() {
    // Generations waiting for a restored worker end here; the worker ends those it has.
    this.#outbox = this.#outbox.filter((p) => {
      if (!GENERATIONS.has(p.msg.type)) return true;
      this.#pending.delete(p.msg.id);
      p.resolve({ text: '', stats: { ...NOTHING_GENERATED, stop_reason: 'cancelled' }, ...(p.msg.type === 'rag' ? { segments: [], passages: [] } : {}) });
      return false;
    });
    this.#worker?.postMessage({ type: 'stop' });
  }

  /** Forgets the conversation; with `nCtx`, also resizes the context window. Resolves to {contextSize}. */
  reset(nCtx) {
    return this.#request(nCtx ? { type: 'reset', nCtx } : { type: 'reset' }, {}, (m) => {
      if (nCtx && this.#lastLoad) this.#lastLoad = { ...this.#lastLoad, nCtx }; // a restored model keeps the size
      const { type, id, ...rest } = m;
      return rest;
    });
  }

  /**
   * Loads the embedder (`files`: {model, config, tokenizer}, each {url, sha256?, size?}) and restores the saved
   * index. `threads`: workers embedding a document's passages (default 2 where there are 2 cores or more). Resolves to
   * {precision, source, init_ms, pdf, threads, documents, indexError}.
   */
  loadEmbedder(files, { precision = 'q8', maxSeqLength = 256, threads, onProgress, signal } = {}) {
    const msg = { type: 'loadEmbedder', files, precision, maxSeqLength, ...(threads === undefined ? {} : { threads }) };
    return this.#request(msg, { progress: onProgress, signal }, (m) => {
      this.#lastEmbedder = msg; // restored after a crash, with the index saved by then
      const { type, id, ...rest } = m;
      return rest;
    });
  }

  /** Indexes a File (or {name, text}). `onProgress({phase, loaded, total, name})`. Resolves to {document, documents, warning}. */
  addDocument(source, { format, tags, onProgress, signal } = {}) {
    const msg = source instanceof Blob ? { type: 'addDocument', file: source, name: source.name } : { type: 'addDocument', ...source };
    return this.#request({ ...msg, format, tags }, { progress: onProgress, signal });
  }

  /** Resolves to {documents}. */
  listDocuments() {
    return this.#request({ type: 'listDocuments' });
  }

  /** Unit-length embeddings of `texts` (an array of strings): resolves to number[][]. */
  embed(texts, { signal } = {}) {
    return this.#request({ type: 'embed', texts }, { signal }, (m) => m.vectors);
  }

  /**
   * Loads a prebuilt index (from `hearth index build`): `source` a URL or its bytes. Its documents are
   * searched next to the user's own, read-only: never saved to this browser, never removed. Resolves to
   * {attached, documents, readOnly, warning}.
   */
  loadIndex(source, { readOnly = true, sha256, signal } = {}) {
    const msg = typeof source === 'string' ? { type: 'loadIndex', url: source, sha256, readOnly } : { type: 'loadIndex', bytes: source, readOnly };
    return this.#request(msg, { signal }, (m) => {
      if (readOnly) this.#lastIndex = msg; // attached again after a crash (an import is in the saved index)
      const { type, id, ...rest } = m;
      return rest;
    });
  }

  /** The user's own documents' index as bytes (the file format `hearth index` reads). Resolves to Uint8Array. */
  exportIndex() {
    return this.#request({ type: 'exportIndex' }, {}, (m) => m.bytes);
  }

  /** Ends the document being added and every one queued; each of their promises rejects. */
  cancelIngest() {
    // Documents still waiting for a restored worker end here; those sent are cancelled by the worker, and
    // are not sent again if it crashes first.
    for (const p of this.#pending.values()) if (p.msg.type === 'addDocument') p.cancelled = true;
    this.#outbox = this.#outbox.filter((p) => {
      if (p.msg.type !== 'addDocument') return true;
      this.#pending.delete(p.msg.id);
      p.reject(cancelledIngest(p));
      return false;
    });
    this.#worker?.postMessage({ type: 'cancelIngest' });
  }

  /** Resolves to {removed, documents, warning}. */
  removeDocument(docId) {
    return this.#request({ type: 'removeDocument', docId });
  }

  /** Resolves to the hits [{doc_id, chunk, score, start, end, text}]. */
  search(query, options) {
    return this.#request({ type: 'search', query, options }, {}, (m) => m.hits);
  }

  /** Resolves to {entries: [{url, sha256, size, savedAt}], usage, quota}. */
  cacheInfo() {
    return this.#request({ type: 'cacheInfo' });
  }

  /** Removes every cached model file. Resolves like cacheInfo(). */
  clearCache() {
    return this.#request({ type: 'clearCache' });
  }

  /**
   * Test-only: makes the wasm module panic (PROTOCOL.md `testTrap`). Rejects with the panic message
   * (`code: 'worker_crashed'`); the worker is then restarted and restored as after any crash.
   */
  testTrap(message = 'test') {
    return this.#request({ type: 'testTrap', message });
  }

  /**
   * Test-only: blocks the worker's thread for `ms` (PROTOCOL.md `testHang`), as a call that never returns
   * would. Resolves to {ms} if the watchdog lets it end; else rejects as a crash (`code: 'worker_crashed'`,
   * "the engine stopped responding …") and the worker is restarted and restored.
   */
  testHang(ms) {
    return this.#request({ type: 'testHang', ms });
  }

  // ---- the worker and its restarts ------------------------------------------------------------------

  #start() {
    const worker = this.#newWorker();
    this.#worker = worker;
    this.#alive = false;
    this.#seq = 0;
    this.#generation++;
    worker.onmessage = ({ data: msg }) => {
      if (worker !== this.#worker) return; // a message the ended worker had already sent
      this.#alive = true;
      this.#heard(msg);
      this.#receive(msg);
    };
    worker.onerror = (e) => {
      e.preventDefault?.();
      if (worker !== this.#worker) return;
      if (this.#alive) return this.#crash(e.message || 'the model worker failed', null);
      // The worker script itself failed (e.g. the wasm package is missing): fail everything, now and later.
      this.#unwatch();
      this.#broken = Object.assign(new Error(e.message || 'the model worker failed to start'), { code: 'worker_failed' });
      for (const p of this.#pending.values()) p.reject(this.#broken);
      this.#pending.clear();
      this.#outbox = [];
    };
  }

  #request(msg, on = {}, result, { internal = false } = {}) {
    if (this.#broken) return Promise.reject(this.#broken);
    const { signal } = on;
    if (signal?.aborted) return Promise.reject(abortedError(`the ${msg.type} request`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const p = { msg: { ...msg, id }, resolve, reject, on, result, seq: null, internal };
      if (signal) {
        // Aborted while waiting here: it ends now; sent: the worker ends it (queued: at once; running: at its
        // next step) and answers `error` with code `aborted`.
        const onAbort = () => {
          const waiting = this.#outbox.indexOf(p);
          if (waiting >= 0) {
            this.#outbox.splice(waiting, 1);
            this.#pending.delete(id);
            reject(abortedError(`the ${msg.type} request`));
          } else if (this.#pending.has(id)) this.#worker?.postMessage({ type: 'cancel', id });
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const settle = (f) => (v) => (signal.removeEventListener('abort', onAbort), f(v));
        p.resolve = settle(resolve);
        p.reject = settle(reject);
      }
      this.#pending.set(id, p);
      // While a crashed worker is restored, the page's requests wait; the restore's own go first.
      if (this.#restoring && !internal) this.#outbox.push(p);
      else this.#post(p);
    });
  }

  #post(p) {
    p.seq = this.#seq++;
    this.#worker.postMessage(p.msg);
    this.#watch();
  }

  #receive(msg) {
    if (msg.type === 'alive') return; // only for the watchdog (#heard)
    if (msg.type === 'warning') return this.onWarning?.(msg.message);
    if (msg.type === 'fatal') return this.#crash(msg.message, msg.id);
    const p = this.#pending.get(msg.id);
    if (!p) return;
    switch (msg.type) {
      case 'progress':
        return p.on.progress?.({ phase: msg.phase, loaded: msg.loaded, total: msg.total, source: msg.source, name: msg.name, ...(msg.phase === 'embed' && msg.passages_per_s !== undefined ? { passages_per_s: msg.passages_per_s, threads: msg.threads } : {}) });
      case 'token':
        return p.on.token?.(msg.text);
      case 'sources':
        return p.on.sources?.(msg.passages);
      case 'error':
        this.#pending.delete(msg.id);
        this.#watch();
        return p.reject(Object.assign(new Error(msg.message), { code: msg.code ?? errorCode(msg.message) }));
      default: {
        // the one reply that ends the request: loaded, done, reset, embedderLoaded, documentAdded, documents,
        // hits, cache, hangEnded
        this.#pending.delete(msg.id);
        this.#watch();
        const { type, id, ...rest } = msg;
        return p.resolve(p.result ? p.result(msg) : rest);
      }
    }
  }

  // The worker trapped (`fatal` for request `crashedId`) or failed after it started (`crashedId` null: which
  // request it was running is unknown). It runs requests one at a time in the order posted, so those posted
  // after the one that trapped had not begun: they are sent again to the new worker. The others reject.
  #crash(message, crashedId) {
    const worker = this.#worker;
    this.#worker = null;
    this.#unwatch();
    worker.terminate(); // ends its pool workers too: they are its own (nested) workers
    const crashed = crashedId == null ? undefined : this.#pending.get(crashedId);
    const limit = crashed ? crashed.seq : -1; // seq of the request that trapped; with no id, none is safe
    const resend = [];
    for (const [id, p] of this.#pending) {
      if (p.seq === null) continue; // still in the outbox
      if (limit >= 0 && p.seq > limit && !p.internal) {
        if (p.cancelled || p.on.signal?.aborted) {
          // Cancelled (cancelIngest, or its AbortSignal) before the crash: it ends here, not in the new worker.
          this.#pending.delete(id);
          p.reject(p.cancelled ? cancelledIngest(p) : abortedError(`the ${p.msg.type} request`));
        } else {
          p.seq = null;
          resend.push(p);
        }
        continue;
      }
      this.#pending.delete(id);
      p.reject(Object.assign(new Error(message), { code: 'worker_crashed' }));
    }
    // Sent again in their original order, before the requests made since.
    resend.sort((a, b) => a.msg.id - b.msg.id);
    this.#outbox = [...resend, ...this.#outbox];
    this.#start();
    if (this.#restoring) return; // the restore in progress notices the new worker and starts again
    this.#restoring = true;
    try {
      this.onRestart?.({ message });
    } finally {
      this.#restore(message);
    }
  }

  // ---- the watchdog ----------------------------------------------------------------------------------
  // While requests posted to the current worker are unanswered, the worker must not stay silent longer than
  // #silenceMs; if it does, a call inside it never returned (the worker runs one request at a time, in order,
  // so it is the oldest unanswered one's), and it is ended as if it had trapped in that request.

  // The oldest request posted to the current worker and not yet answered (the one it is running), if any.
  #running() {
    let oldest = null;
    for (const p of this.#pending.values()) if (p.seq !== null && (!oldest || p.seq < oldest.seq)) oldest = p;
    return oldest;
  }

  // Starts watching when the worker has work (the silence counts from now), stops when it has none.
  #watch() {
    if (!this.#watchdogMs || !this.#worker) return;
    if (!this.#running()) return this.#unwatch();
    if (this.#watchdog) return; // already watching: the clock runs from the last message
    this.#heardAt = performance.now();
    this.#silenceMs = this.#watchdogMs;
    this.#late = false;
    this.#arm(this.#watchdogMs);
  }

  #unwatch() {
    clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }

  #arm(ms) {
    clearTimeout(this.#watchdog);
    this.#due = performance.now() + ms;
    this.#watchdog = setTimeout(() => this.#bark(), ms);
  }

  // Every message from the worker (progress, token, alive, …): the silence starts again. `alive` may announce a
  // longer one (a synchronous call about to run); anything else returns to the usual allowance.
  #heard(msg) {
    this.#heardAt = performance.now();
    this.#silenceMs = Math.max(this.#watchdogMs, msg?.type === 'alive' && msg.silentMs > 0 ? msg.silentMs : 0);
    this.#late = false;
  }

  #bark() {
    this.#watchdog = null;
    const running = this.#running();
    if (!running || !this.#worker) return;
    const now = performance.now();
    const silent = now - this.#heardAt;
    if (silent < this.#silenceMs) return this.#arm(this.#silenceMs - silent); // heard from it since
    if (!this.#late && now - this.#due > LATE_MS) {
      // This page was held up, not necessarily the worker: let the messages it may have queued arrive first.
      this.#late = true;
      return this.#arm(LATE_MS);
    }
    this.#crash(
      `the engine stopped responding for ${seconds(this.#silenceMs)} (a model's chat template or a document may be too costly)`,
      running.msg.id,
    );
  }

  // Loads the model and the embedder (with the saved index) again in the new worker, then sends the requests
  // that waited. A crash meanwhile starts yet another worker: what was being restored then is dropped (it
  // would crash again) and the rest is restored once more.
  async #restore(message) {
    // Errors stay from round to round: what failed is not tried again.
    const out = { message, model: null, modelError: null, embedder: null, embedderError: null };
    for (let round = 1; ; round++) {
      const generation = this.#generation;
      out.model = out.embedder = null;
      if (this.#lastLoad) {
        try {
          const m = await this.#request(this.#lastLoad, {}, null, { internal: true });
          out.model = { ...m.info, source: m.source };
        } catch (e) {
          this.#lastLoad = null; // no model in the worker now
          out.modelError = e;
        }
      }
      if (this.#lastEmbedder && generation === this.#generation) {
        try {
          out.embedder = await this.#request(this.#lastEmbedder, {}, null, { internal: true });
        } catch (e) {
          this.#lastEmbedder = null;
          out.embedderError = e;
        }
      }
      if (this.#lastIndex && out.embedder && generation === this.#generation) {
        try {
          const attached = await this.#request(this.#lastIndex, {}, null, { internal: true });
          out.embedder = { ...out.embedder, documents: attached.documents };
        } catch (e) {
          this.#lastIndex = null;
          out.embedderError = e;
        }
      }
      if (generation === this.#generation || round >= MAX_RESTORE_ROUNDS) break;
    }
    this.#restoring = false;
    const waiting = this.#outbox;
    this.#outbox = [];
    for (const p of waiting) this.#post(p);
    this.onRecovered?.(out);
  }
}
