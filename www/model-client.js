// Page side of the worker protocol (PROTOCOL.md): turns requests into promises and routes the worker's
// progress, token, sources and warning messages to callbacks. No UI here.

export class ModelClient {
  #worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }); // next to this file
  #pending = new Map(); // id -> { resolve, reject, on: {progress, token, sources} }
  #nextId = 1;
  /** Called with the text of every `warning` the worker sends (storage short, cache damaged, …). */
  onWarning = null;

  constructor() {
    this.#worker.onmessage = ({ data: msg }) => this.#receive(msg);
    this.#worker.onerror = (e) => {
      // The worker script itself failed (e.g. the wasm package is missing): fail everything in flight.
      e.preventDefault?.();
      const error = new Error(e.message || 'the model worker failed to start');
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    };
  }

  /**
   * Loads a model from a URL (string) or a File/Blob. A URL comes from the browser cache when it is there
   * (else it is downloaded and cached); `sha256` (from the manifest) is checked. `onProgress({phase, loaded,
   * total, source})`. `threads`: workers sharing the model (default: the worker's, every core up to 4 when
   * cross-origin isolated, else 1). Resolves to its info, plus `source` ('network' | 'cache' | 'file').
   */
  load(source, { nCtx, onProgress, sha256, size, cache, threads } = {}) {
    const msg = typeof source === 'string' ? { type: 'load', url: source, sha256, size, cache } : { type: 'load', file: source };
    if (nCtx) msg.nCtx = nCtx;
    if (threads) msg.threads = threads;
    return this.#request(msg, { progress: onProgress }, (m) => ({ ...m.info, source: m.source }));
  }

  /** Generates a reply to `messages`; `onToken(text)` gets each piece. Resolves to {text, stats}. */
  chat(messages, options, onToken) {
    return this.#request({ type: 'chat', messages, options }, { token: onToken });
  }

  /** Continues the raw text `prompt` (for base models, no chat template). Resolves to {text, stats}. */
  complete(prompt, options, onToken) {
    return this.#request({ type: 'complete', prompt, options }, { token: onToken });
  }

  /**
   * Answers `question` from the `k` best passages of the indexed documents. `onSources(passages)` gets the
   * passages that fit the prompt before the first token. Resolves to {text, stats, segments, passages}.
   */
  rag(question, options, k, { onToken, onSources } = {}) {
    return this.#request({ type: 'rag', question, options, k }, { token: onToken, sources: onSources });
  }

  /** Ends the generation in progress; its promise still resolves, with stop_reason 'cancelled'. */
  stop() {
    this.#worker.postMessage({ type: 'stop' });
  }

  /** Forgets the conversation; with `nCtx`, also resizes the context window. Resolves to {contextSize}. */
  reset(nCtx) {
    return this.#request(nCtx ? { type: 'reset', nCtx } : { type: 'reset' });
  }

  /**
   * Loads the embedder (`files`: {model, config, tokenizer}, each {url, sha256?, size?}) and restores the saved
   * index. Resolves to {precision, source, init_ms, pdf, documents, indexError}.
   */
  loadEmbedder(files, { precision = 'q8', maxSeqLength = 256, onProgress } = {}) {
    return this.#request({ type: 'loadEmbedder', files, precision, maxSeqLength }, { progress: onProgress });
  }

  /** Indexes a File (or {name, text}). `onProgress({phase, loaded, total, name})`. Resolves to {document, documents, warning}. */
  addDocument(source, { format, tags, onProgress } = {}) {
    const msg = source instanceof Blob ? { type: 'addDocument', file: source, name: source.name } : { type: 'addDocument', ...source };
    return this.#request({ ...msg, format, tags }, { progress: onProgress });
  }

  /** Ends the document being added and every one queued; each of their promises rejects. */
  cancelIngest() {
    this.#worker.postMessage({ type: 'cancelIngest' });
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

  #request(msg, on = {}, result) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, on, result });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  #receive(msg) {
    if (msg.type === 'warning') return this.onWarning?.(msg.message);
    const p = this.#pending.get(msg.id);
    if (!p) return;
    switch (msg.type) {
      case 'progress':
        return p.on.progress?.({ phase: msg.phase, loaded: msg.loaded, total: msg.total, source: msg.source, name: msg.name });
      case 'token':
        return p.on.token?.(msg.text);
      case 'sources':
        return p.on.sources?.(msg.passages);
      case 'error':
        this.#pending.delete(msg.id);
        return p.reject(new Error(msg.message));
      default: {
        // the one reply that ends the request: loaded, done, reset, embedderLoaded, documentAdded, documents, hits, cache
        this.#pending.delete(msg.id);
        const { type, id, ...rest } = msg;
        return p.resolve(p.result ? p.result(msg) : rest);
      }
    }
  }
}
