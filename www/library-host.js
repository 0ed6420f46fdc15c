// Worker side of the documents: the embedder + index (the wasm Library), adding documents step by step with
// progress and cancel, and the index saved to the browser (OPFS) after every change that completed.
//
// Several tabs share one saved index (storage.js: generations hearth/index-<gen>.hix). Every change is a
// read-modify-write under the Web Lock `hearth-index`: if another tab saved a newer generation since this one
// loaded, it is loaded first (so that tab's documents are kept), then the change is applied and saved as a
// new generation. Embedding a document happens outside the lock; only reload + commit + save are inside (the
// document being added survives loadIndex: it is the Library's pending document, not part of the index).
// After a save, the other tabs hear of it on the BroadcastChannel `hearth-index` and reload at once, so an
// idle tab searches and lists the new documents too.

import { bufferSink, checkSameSite, download } from './download.js';
import { EmbedPool, PassageFeed } from './embed-pool.js';
import { formatOf } from './formats.js';
import { pdfText, preload as preloadPdf } from './pdf-text.js';
import * as store from './storage.js';

const NONE = -1; // no generation: nothing saved, or nothing loaded

const MAX_TEXT_BYTES = 20 * 2 ** 20;
const CHUNK_STEP_BYTES = 128 * 2 ** 10;
const MAX_PDF_BYTES = 200 * 2 ** 20;

export class LibraryHost {
  #wasm;
  #post;
  #lib = null;
  #info = null;
  #gen = NONE; // the generation loaded in (or saved from) this Library
  #seen = NONE; // the newest generation number on disk when this tab last looked (under the lock)
  #channel = null;
  #pool = null; // helper workers embedding some of each document's passages (embed-pool.js), once ready

  // A download sink that pushes the embedder's weights into a wasm EmbedderLoader and to `helpers` new helper
  // workers (an EmbedPool, if they could be started). Its result is {loader, pool}.
  #weightsSink(total, helpers) {
    let loader = new this.#wasm.EmbedderLoader(total);
    let pool = null;
    try {
      if (helpers > 0) pool = new EmbedPool(helpers, total);
    } catch (e) {
      this.#post({ type: 'warning', message: `Documents are embedded on one thread: ${e.message}.` });
    }
    return {
      push: (chunk) => (loader.push(chunk), pool?.push(chunk)),
      abort: () => (loader?.free(), (loader = null), pool?.close()),
      result: () => ({ loader, pool }),
      get bytes() {
        return loader ? loader.loaded() : 0;
      },
    };
  };

  constructor(wasm, post) {
    this.#wasm = wasm;
    this.#post = post;
  }

  get loaded() {
    return !!this.#lib;
  }

  get isEmpty() {
    return !this.#lib || this.documents().length === 0;
  }

  documents() {
    return this.#lib ? [...this.#lib.documents()] : [];
  }

  /**
   * Loads the embedder from its three files (each from the cache or the network), restores the saved index
   * and readies pdf.js. Resolves to the `embedderLoaded` reply's fields.
   */
  async load({ id, files, precision = 'q8', maxSeqLength = 256, cache = true, threads = embedThreads() }, signal) {
    if (this.#lib) {
      const { error } = await this.refresh().catch((e) => ({ error: e.message }));
      return { ...this.#info, documents: this.documents(), indexError: error ?? null };
    }
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`loadEmbedder: threads must be a whole number ≥ 1, not ${threads}`);
    threads = Math.min(threads, MAX_EMBED_THREADS);
    const parts = [
      ['config', 'config.json'],
      ['tokenizer', 'tokenizer.json'],
      ['model', 'model.safetensors'],
    ];
    for (const [part] of parts) if (!files?.[part]?.url) throw new Error(`loadEmbedder: files.${part}.url is missing`);
    const total = parts.reduce((n, [part]) => n + (files[part].size || 0), 0);
    let base = 0;
    const bytes = {};
    const sources = new Set();
    for (const [part, name] of parts) {
      // The weights stream straight into wasm memory; the two small JSON files are buffered here.
      const sink = part === 'model' ? (total) => this.#weightsSink(total, threads - 1) : bufferSink;
      const got = await download({ ...files[part], label: `the embedder's ${files[part].url.split('/').pop() || name}` }, sink, {
        wasm: this.#wasm,
        signal,
        useCache: cache,
        onBytes: (loaded, _t, source) =>
          this.#post({ type: 'progress', id, what: 'embedder', phase: 'download', loaded: base + loaded, total, source }),
        onWarning: (message) => this.#post({ type: 'warning', id, message }),
      });
      bytes[part] = got.sink.result();
      base += got.bytes;
      sources.add(got.source);
    }
    this.#post({ type: 'progress', id, what: 'embedder', phase: 'init', loaded: base, total });
    const t0 = performance.now();
    const config = new TextDecoder().decode(bytes.config);
    // The helpers build their copies while this worker builds its own. One that fails only costs speed.
    const { loader, pool } = bytes.model;
    let failed = false; // this worker's own build: then the helpers' fate is not news
    const poolReady = pool?.finish({ config, tokenizer: bytes.tokenizer, maxSeqLength, precision }).then(
      () => pool,
      (e) => {
        pool.close();
        if (!failed) this.#post({ type: 'warning', id, message: `Documents are embedded on one thread: ${e.message}.` });
        return null;
      },
    );
    // finish() consumes the loader, even when it throws.
    try {
      this.#lib = loader.finish(config, bytes.tokenizer, maxSeqLength, precision);
    } catch (e) {
      failed = true;
      pool?.close();
      throw e;
    }
    this.#pool = (await poolReady) ?? null;
    const initMs = performance.now() - t0;
    const restored = await this.#restore();
    this.#listen();
    let pdf = true;
    try {
      await preloadPdf();
    } catch (e) {
      pdf = false;
      this.#post({ type: 'warning', id, message: `PDF support is unavailable (${e.message}); run scripts/vendor.sh.` });
    }
    this.#info = { precision, source: sources.has('network') ? 'network' : 'cache', init_ms: Math.round(initMs), pdf, threads: 1 + (this.#pool?.size ?? 0) };
    return { ...this.#info, documents: this.documents(), indexError: restored.error ?? null };
  }

  // Loads the newest saved generation that loads. One that fails (unreadable, or Library.loadIndex throws: a
  // damaged file fails its checksum) is moved aside (kept, never overwritten) and the one before it is tried;
  // with none left the index starts empty. Resolves to {error?}: why a saved generation was not loaded.
  async #restore() {
    try {
      return await store.withIndexLock(() => this.#syncLocked(true));
    } catch (e) {
      return { error: `The saved document index could not be read (${e.message}).` };
    }
  }

  /**
   * Reloads the saved index if another tab saved a newer generation since this one looked (a directory
   * listing when nothing changed). The worker may call it before listing or searching; a save made by
   * another tab also triggers it (BroadcastChannel). Resolves to {error?} as #restore.
   */
  async refresh() {
    if (!this.#lib) return {};
    if (((await store.indexGenerations()).files[0]?.gen ?? NONE) === this.#seen) return {};
    return store.withIndexLock(() => this.#syncLocked());
  }

  // With the lock held: compares the newest generation on disk with the one this tab last saw, and loads the
  // newest one that loads if they differ (`force`: even if they do not).
  async #syncLocked(force = false) {
    const { files } = await store.indexGenerations();
    if (!force && (files[0]?.gen ?? NONE) === this.#seen) return {};
    const failed = [];
    let loaded = NONE;
    for (const { gen, name } of files) {
      if (gen === this.#gen) {
        loaded = gen; // already in memory (with any change whose save failed)
        break;
      }
      let bytes;
      try {
        bytes = await store.readIndexFile(name);
      } catch (e) {
        failed.push({ gen, name, reason: `it could not be read: ${e.message}` });
        continue;
      }
      // Missing: removed meanwhile (only without Web Locks). Empty: a save cut off before its file was written
      // (the tab closed while saving); it holds nothing, and goes with the older generations at a later save.
      if (!bytes || bytes.length === 0) continue;
      try {
        this.#lib.loadIndex(bytes);
        loaded = gen;
        break;
      } catch (e) {
        failed.push({ gen, name, reason: e.message });
      }
    }
    for (const f of failed) f.aside = await store.setIndexAside(f.name, f.gen).catch(() => null);
    // The newest generation still on disk (one that could not be moved aside counts: it is not tried again).
    const seen = files.find((f) => !failed.some((x) => x.name === f.name && x.aside))?.gen ?? NONE;
    // Nothing loaded: a fresh Library stays empty; one in use keeps its documents (the best copy there is),
    // and its next save writes them as a new generation.
    this.#gen = loaded;
    this.#seen = seen;
    if (!failed.length) return {};
    const reasons = failed.map((f) => f.reason).join('; ');
    const kept = failed.filter((f) => f.aside).map((f) => f.aside);
    return {
      error:
        `The saved document index could not be loaded (${reasons}). ` +
        (kept.length ? `It was kept as ${kept.join(', ')} in the browser's storage; ` : '') +
        (loaded !== NONE
          ? 'the previous save was loaded instead.'
          : force
            ? 'the index starts empty.'
            : "this tab's documents are kept and saved with its next change."),
    };
  }

  // Another tab's save: reload (outside the worker's request queue; the Library is only touched synchronously
  // and under the lock, and a document being added is kept). A problem found doing so is shown as a warning.
  #listen() {
    if (this.#channel || typeof BroadcastChannel === 'undefined') return;
    this.#channel = new BroadcastChannel('hearth-index');
    this.#channel.onmessage = ({ data }) => {
      if (!this.#lib || data?.gen === this.#seen) return;
      this.refresh().then(
        ({ error }) => error && this.#post({ type: 'warning', message: error }),
        () => {},
      );
    };
  }

  /** Stops listening to other tabs' saves (when this worker's Library is dropped). */
  close() {
    this.#channel?.close();
    this.#channel = null;
    this.#pool?.close();
    this.#pool = null;
  }

  /**
   * Adds one document: reads it (PDF text through pdf.js), chunks it, embeds it one chunk per task (progress,
   * and `cancelled()` checked in between) and commits it; then saves the index. A document with the same id
   * (file name) is replaced. Resolves to {document, documents, warning?}.
   */
  async add({ id, name, file, text, format, tags = [] }, cancelled) {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    const kind = format || formatOf(name);
    if (!kind) throw new Error(`${name}: unsupported file type (use .txt, .md, .html or .pdf)`);
    const progress = (phase, loaded, total, extra = {}) => this.#post({ type: 'progress', id, what: 'document', name, phase, loaded, total, ...extra });
    progress('read', 0, 0);
    // Refused from its size, before reading it into memory: text over the library's limit (20 MB, as Rust's
    // MAX_DOCUMENT_BYTES), a PDF over 200 MB.
    const limit = kind === 'pdf' ? MAX_PDF_BYTES : MAX_TEXT_BYTES;
    const bytes = file?.size ?? 0;
    if (bytes > limit) {
      throw new Error(`${name} is ${(bytes / 2 ** 20).toFixed(1)} MB; the limit is ${limit / 2 ** 20} MB${kind === 'pdf' ? ' for a PDF' : ''}`);
    }
    let body;
    if (kind === 'pdf') {
      const data = new Uint8Array(await (file ?? new Blob([text])).arrayBuffer());
      body = await pdfText(data, (n, total) => progress('read', n, total));
      if (!body.trim()) throw new Error(`${name}: no text found in this PDF (scanned pages would need OCR)`);
    } else {
      body = text ?? (await file.text());
      if (!body.trim()) throw new Error(`${name}: the document is empty`);
    }
    if (cancelled()) throw new Error(`adding ${name} was cancelled`);
    const textBytes = this.#lib.beginDocument(name, name, body, kind === 'pdf' ? 'text' : kind, tags);
    try {
      // Chunking measures the text in tokens: in steps of CHUNK_STEP_BYTES (under half a second each, even
      // for text without whitespace), so progress shows and Cancel works on a 20 MB document.
      let n;
      while ((n = this.#lib.chunkNext(CHUNK_STEP_BYTES)) === undefined) {
        progress('chunk', this.#lib.chunkedBytes(), textBytes);
        await nextTask();
        if (cancelled()) throw new Error(`adding ${name} was cancelled`);
      }
      const t0 = performance.now();
      const rate = (done) => ({
        passages_per_s: Math.round((done * 10_000) / Math.max(1, performance.now() - t0)) / 10,
        threads: 1 + (this.#pool?.size ?? 0), // the workers embedding now
      });
      let feed = this.#pool ? new PassageFeed(this.#lib, this.#pool, n, 0) : null;
      for (let done = 0; done < n; ) {
        progress('embed', done, n, done ? rate(done) : {});
        await nextTask();
        if (cancelled()) throw new Error(`adding ${name} was cancelled`);
        done = await this.#embedStep(feed, id);
        if (feed?.pool !== this.#pool) feed = null; // a helper failed and closed the pool
      }
      progress('embed', n, n, rate(n));
    } catch (e) {
      this.#lib.cancelDocument();
      throw e;
    }
    // Only reload + commit + save hold the lock: the embedding above does not. The embedded document waits
    // (as the Library's pending document, which loadIndex leaves alone) until this tab has the lock.
    let warning;
    try {
      warning = await this.#change(() => {
        if (cancelled()) throw new Error(`adding ${name} was cancelled`);
        this.#lib.commitDocument();
      });
    } catch (e) {
      this.#lib.cancelDocument();
      throw e;
    }
    const documents = this.documents();
    return { document: documents.find((d) => d.id === name), documents, warning };
  }

  // Embeds the pending document's next passage here, with the helpers embedding others meanwhile (`feed`, if
  // there is a pool); returns how many are embedded. A helper that fails closes the pool: the passages it had
  // are embedded here from then on.
  async #embedStep(feed, id) {
    if (!feed) return this.#lib.embedNext(1);
    try {
      return await feed.step();
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) throw e; // a trap: the worker is done for (worker.js)
      this.#dropPool(feed.pool, e, id);
      return this.#lib.embedNext(1); // the next passage here (and the count, whatever was pushed)
    }
  }

  /** Unit-length embeddings of `texts` (an array of strings). */
  embed(texts) {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    if (!Array.isArray(texts)) throw new Error('embed: texts must be an array of strings');
    return [...this.#lib.embed(texts)];
  }

  /**
   * Loads an index file (`hearth index build`, or `exportIndex`) from `url` or `bytes`. `readOnly` (default):
   * its documents are searched next to the user's, never saved here nor removed (a site's prebuilt index;
   * loading one again replaces the one before). `readOnly: false`: it replaces the user's own documents and
   * is saved like them (restoring an export). Resolves to {documents, attached}.
   */
  async loadIndex({ id, url, bytes, sha256, readOnly = true }, signal) {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    if (url) {
      checkSameSite(url, 'indexes', 'download the file and load its bytes');
      const got = await download({ url, sha256, label: url.split('/').pop() }, bufferSink, {
        wasm: this.#wasm,
        signal,
        useCache: false, // the HTTP cache keeps it; the model cache is for model files
        onBytes: (loaded, total, source) => this.#post({ type: 'progress', id, what: 'index', phase: 'download', loaded, total, source }),
      });
      bytes = got.sink.result();
    }
    if (!(bytes instanceof Uint8Array)) throw new Error('loadIndex: a url or the bytes (Uint8Array) of an index file is needed');
    let attached = 0;
    let warning;
    if (readOnly) attached = this.#lib.attachReadOnly(bytes);
    else warning = await this.#change(() => this.#lib.loadIndex(bytes));
    return { attached, documents: this.documents(), readOnly, warning };
  }

  /** The user's own documents as an index file (read-only ones left out). */
  exportIndex() {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    return this.#lib.saveIndex();
  }

  /** Removes a document and saves the index. Resolves to {removed, documents, warning?}. */
  async remove(docId) {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    let removed = false;
    const warning = await this.#change(() => (removed = this.#lib.remove(docId)));
    return { removed, documents: this.documents(), warning };
  }

  search(query, options = {}) {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    return [...this.#lib.search(query, options)];
  }

  /**
   * The best `k` sentences of `passages` for answering `question`, as wasm Library.selectEvidence picks them
   * but embedded on the helpers too; `context`: for a follow-up, the earlier questions it leans on.
   */
  async evidence(question, passages, k, context = '') {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    const pool = this.#pool;
    if (!pool) return [...this.#lib.selectEvidence(question, passages, k, context)];
    // The question and the candidate sentences are embedded here and on the helpers at once, a share each;
    // the ranking is the same as selectEvidence's, since a text embeds the same alone or batched.
    const texts = this.#lib.evidenceTexts(question, passages);
    const per = Math.ceil(texts.length / (pool.size + 1));
    const jobs = [];
    try {
      for (let i = 0; i < pool.size && (i + 1) * per < texts.length; i++) jobs.push(pool.embed(i, texts.slice((i + 1) * per, (i + 2) * per)));
      const mine = this.#lib.embedFlat(texts.slice(0, per));
      const flats = [mine, ...(await Promise.all(jobs))];
      const all = new Float32Array(flats.reduce((n, f) => n + f.length, 0));
      flats.reduce((at, f) => (all.set(f, at), at + f.length), 0);
      return [...this.#lib.rankEvidence(question, passages, k, context, all)];
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) throw e; // a trap: the worker is done for (worker.js)
      jobs.forEach((j) => j.catch(() => {}));
      this.#dropPool(pool, e);
      return [...this.#lib.selectEvidence(question, passages, k, context)];
    }
  }

  // Ends the helper pool after a helper failed (`e`): documents and evidence are embedded here from now on.
  #dropPool(pool, e, id) {
    if (this.#pool === pool) this.#pool = null;
    pool.close();
    this.#post({ type: 'warning', id, message: `Documents and evidence are embedded on one thread from now on: ${e.message}.` });
  }

  /**
   * The `k` best passages for `question`, as beginRag wants them: {doc_id, title, text, chunk, start, end,
   * score}; `scope` ({doc_ids, tags}, each optional) limits them to those documents or tags.
   */
  passages(question, k, scope = {}) {
    const limits = { doc_ids: scope?.doc_ids ?? undefined, tags: scope?.tags ?? undefined };
    return this.search(question, { k, mode: 'hybrid', ...limits });
  }

  // One read-modify-write of the saved index, holding the lock: reload if another tab saved since, then
  // `apply()` (which returns false when nothing changed), then save as a new generation. Resolves to a warning
  // (or undefined): a saved index that could not be reloaded, or a save that failed. If `apply` throws, nothing
  // is saved and the error is thrown.
  async #change(apply) {
    return store.withIndexLock(async () => {
      let synced = {};
      try {
        synced = await this.#syncLocked();
      } catch (e) {
        synced = { error: `Other tabs' changes to the saved document index could not be checked (${e.message}).` };
      }
      if (apply() === false) return synced.error;
      const failed = await this.#saveLocked();
      return [synced.error, failed].filter(Boolean).join(' ') || undefined;
    });
  }

  // With the lock held: writes the whole index as the next generation, keeps the one it was made from (the
  // previous generation) and deletes older ones, and tells the other tabs. Returns a warning when it could not
  // be saved.
  async #saveLocked() {
    let saved;
    try {
      const { highest } = await store.indexGenerations();
      saved = await store.writeIndexGeneration(Math.max(highest, this.#seen, this.#gen) + 1, this.#lib.saveIndex());
    } catch (e) {
      return `The index could not be saved in this browser (${e.name === 'QuotaExceededError' ? 'storage is full' : e.message}); the change is lost on reload.`;
    }
    const previous = this.#gen;
    this.#gen = this.#seen = saved.gen;
    if (previous !== NONE) await store.pruneIndex(previous).catch(() => {});
    this.#channel?.postMessage({ gen: saved.gen });
    return undefined;
  }
}

/** Most workers embedding documents: each helper holds its own copy of the embedder (its file's size + 24 MB). */
const MAX_EMBED_THREADS = 4;

/** Default workers for embedding documents: 2 where there are 2 cores or more (each helper costs about 70 MB
 * with the f16 file, 115 MB with the f32 one; more can be asked for). Helpers need no shared memory, so unlike
 * a model's threads (shard-pool.js defaultThreads) this does not depend on cross-origin isolation. */
export function embedThreads() {
  return Math.max(1, Math.min(globalThis.navigator?.hardwareConcurrency || 1, 2));
}

// Lets queued messages (a cancel) run between two steps. A MessageChannel task is not clamped like setTimeout.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
export const nextTask = () =>
  new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(0);
  });
