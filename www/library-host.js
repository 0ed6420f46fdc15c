// Worker side of the documents: the embedder + index (the wasm Library), adding documents step by step with
// progress and cancel, and the index saved to the browser (OPFS) after every change that completed.

import { bufferSink, download } from './download.js';
import { formatOf } from './formats.js';
import { pdfText, preload as preloadPdf } from './pdf-text.js';
import * as store from './storage.js';

export class LibraryHost {
  #wasm;
  #post;
  #lib = null;
  #info = null;

  // A download sink that pushes the embedder's weights into a wasm EmbedderLoader.
  #weightsSink = (total) => {
    let loader = new this.#wasm.EmbedderLoader(total);
    return {
      push: (chunk) => loader.push(chunk),
      abort: () => (loader?.free(), (loader = null)),
      result: () => loader,
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
  async load({ id, files, precision = 'q8', maxSeqLength = 256, cache = true }, signal) {
    if (this.#lib) return { ...this.#info, documents: this.documents() };
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
      const sink = part === 'model' ? this.#weightsSink : bufferSink;
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
    // finish() consumes the loader, even when it throws.
    this.#lib = bytes.model.finish(new TextDecoder().decode(bytes.config), bytes.tokenizer, maxSeqLength, precision);
    const initMs = performance.now() - t0;
    const restored = await this.#restore();
    let pdf = true;
    try {
      await preloadPdf();
    } catch (e) {
      pdf = false;
      this.#post({ type: 'warning', id, message: `PDF support is unavailable (${e.message}); run scripts/vendor.sh.` });
    }
    this.#info = { precision, source: sources.has('network') ? 'network' : 'cache', init_ms: Math.round(initMs), pdf };
    return { ...this.#info, documents: this.documents(), indexError: restored.error ?? null };
  }

  // Loads the index saved in OPFS, if any. A file that fails to load is moved aside (kept, never overwritten)
  // and the index starts empty.
  async #restore() {
    let bytes;
    try {
      bytes = await store.readIndex();
    } catch (e) {
      return { error: `The saved document index could not be read (${e.message}).` };
    }
    if (!bytes) return {};
    try {
      this.#lib.loadIndex(bytes);
      return {};
    } catch (e) {
      const aside = await store.setIndexAside().catch(() => null);
      return {
        error:
          `The saved document index could not be loaded (${e.message}). ` +
          (aside ? `It was kept as ${aside} in the browser's storage; ` : '') +
          'the index starts empty.',
      };
    }
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
    const progress = (phase, loaded, total) => this.#post({ type: 'progress', id, what: 'document', name, phase, loaded, total });
    progress('read', 0, 0);
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
    const n = this.#lib.beginDocument(name, name, body, kind === 'pdf' ? 'text' : kind, tags);
    try {
      for (let done = 0; done < n; ) {
        progress('embed', done, n);
        await nextTask();
        if (cancelled()) throw new Error(`adding ${name} was cancelled`);
        done = this.#lib.embedNext(1);
      }
      progress('embed', n, n);
      this.#lib.commitDocument();
    } catch (e) {
      this.#lib.cancelDocument();
      throw e;
    }
    const warning = await this.#save();
    const documents = this.documents();
    return { document: documents.find((d) => d.id === name), documents, warning };
  }

  /** Removes a document and saves the index. Resolves to {removed, documents, warning?}. */
  async remove(docId) {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    const removed = this.#lib.remove(docId);
    const warning = removed ? await this.#save() : undefined;
    return { removed, documents: this.documents(), warning };
  }

  search(query, options = {}) {
    if (!this.#lib) throw new Error('the embedder is not loaded yet');
    return [...this.#lib.search(query, options)];
  }

  /** The `k` best passages for `question`, as beginRag wants them: {doc_id, title, text, chunk, start, end, score}. */
  passages(question, k) {
    const titles = new Map(this.documents().map((d) => [d.id, d.title]));
    return this.search(question, { k, mode: 'hybrid' }).map((h) => ({
      doc_id: h.doc_id,
      title: h.title ?? titles.get(h.doc_id) ?? h.doc_id,
      text: h.text,
      chunk: h.chunk,
      start: h.start,
      end: h.end,
      score: h.score,
    }));
  }

  // Writes the whole index (atomic replace). Returns a warning when it could not be saved.
  async #save() {
    try {
      await store.writeIndex(this.#lib.saveIndex());
      return undefined;
    } catch (e) {
      return `The index could not be saved in this browser (${e.name === 'QuotaExceededError' ? 'storage is full' : e.message}); the change is lost on reload.`;
    }
  }
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
