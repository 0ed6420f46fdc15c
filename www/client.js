// The typed client of the hearth-web package: one object for models, chat, documents and answers, shaped like
// the OpenAI client where that is the convention (chat.completions.create, streaming chunks, usage), so WebLLM
// and wllama users feel at home. It wraps model-client.js (the worker protocol, crash recovery, watchdog);
// everything runs in a module worker, nothing leaves the browser. Types: client.d.ts.

import { ModelClient } from './model-client.js';
import { errorCode } from './errors.js';

/** Every error the client raises: `code` is stable (PROTOCOL.md "Error codes"), `message` is for people. */
export class HearthError extends Error {
  constructor(message, code = 'error', options = undefined) {
    super(message, options);
    this.name = 'HearthError';
    this.code = code;
  }

  static from(e) {
    if (e instanceof HearthError) return e;
    return new HearthError(e?.message ?? String(e), errorCode(e), { cause: e });
  }
}

// Options are checked by name: a misspelled one is an error, not silently ignored.
function checkOptions(what, options, known) {
  if (options == null) return {};
  if (typeof options !== 'object') throw new HearthError(`${what}: options must be an object`, 'invalid_argument');
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new HearthError(`${what}: unknown option \`${key}\` (known: ${known.join(', ')})`, 'unknown_option');
  }
  return options;
}

// Generation options passed to the worker as they are (snake_case, as PROTOCOL.md); the worker checks values.
const GENERATION = ['max_tokens', 'temperature', 'top_k', 'top_p', 'min_p', 'repeat_penalty', 'repeat_last_n', 'seed', 'stop', 'ignore_eos', 'stop_repetition'];
const pick = (o, keys) => Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
const wrap = (promise) => promise.catch((e) => Promise.reject(HearthError.from(e)));

// hearth's stop reasons as OpenAI's finish_reason ('abort' as WebLLM for a stop()).
const FINISH = { eos: 'stop', stop_string: 'stop', repetition: 'stop', not_found: 'stop', max_tokens: 'length', context_full: 'length', cancelled: 'abort' };
const usageOf = (stats) => ({
  prompt_tokens: stats.prompt_tokens,
  completion_tokens: stats.generated_tokens,
  total_tokens: stats.prompt_tokens + stats.generated_tokens,
  extra: { cached_tokens: stats.cached_tokens, prefill_tokens_per_s: stats.prefill_tokens_per_s, decode_tokens_per_s: stats.decode_tokens_per_s, stop_reason: stats.stop_reason, prefill_ms: stats.prefill_ms, ...pick(stats, ['search_ms', 'evidence_ms']) },
});

// An async iterator fed by callbacks: push() items, end(), or fail(error); for await … of it yields them.
function feed() {
  const items = [];
  let wake = null;
  let done = false;
  let error = null;
  const notify = () => (wake?.(), (wake = null));
  return {
    push: (item) => (items.push(item), notify()),
    end: () => ((done = true), notify()),
    fail: (e) => ((error = HearthError.from(e)), (done = true), notify()),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (items.length) yield items.shift();
        else if (error) throw error;
        else if (done) return;
        else await new Promise((r) => (wake = r));
      }
    },
  };
}

/**
 * Starts the engine (a module worker). `baseUrl`: where relative model, embedder and index URLs resolve
 * (default: the page's URL). `embedder`: the embedding model's folder (with config.json, tokenizer.json,
 * model.safetensors) or its three URLs; default `<baseUrl>models/minilm-l6-v2/`. `worker`: a function
 * returning a new module Worker running the package's worker.js (when a bundler or host must start it).
 */
export async function createHearth(options = {}) {
  checkOptions('createHearth', options, ['baseUrl', 'embedder', 'worker', 'watchdogMs']);
  return new Hearth(options);
}

let completionIds = 0;

export class Hearth {
  #client;
  #base;
  #embedderSpec;
  #embedder = null; // the loadEmbedder promise, once documents are first used
  #model = null; // info of the loaded model

  constructor({ baseUrl, embedder, worker, watchdogMs } = {}) {
    this.#base = new URL(baseUrl ?? './', globalThis.document?.baseURI ?? globalThis.location?.href);
    this.#embedderSpec = embedder ?? 'models/minilm-l6-v2/';
    const newWorker = typeof worker === 'function' ? worker : worker ? () => new Worker(worker, { type: 'module' }) : undefined;
    this.#client = new ModelClient({ watchdogMs, worker: newWorker });
    this.chat = {
      completions: {
        create: (params) => this.#createCompletion(params),
      },
    };
    this.documents = {
      add: (source, opts) => this.#addDocument(source, opts),
      remove: (id) => this.#withEmbedder(() => this.#client.removeDocument(id)).then((r) => r.removed),
      list: () => this.#withEmbedder(() => this.#client.listDocuments()).then((r) => r.documents),
    };
    this.index = {
      load: (source, opts) => this.#loadIndex(source, opts),
      export: () => this.#withEmbedder(() => this.#client.exportIndex()),
    };
    this.cache = {
      list: () => wrap(this.#client.cacheInfo()),
      clear: () => wrap(this.#client.clearCache()),
    };
  }

  /** The loaded model's info (null before load). */
  get model() {
    return this.#model;
  }

  #url(u) {
    return new URL(u, this.#base).href;
  }

  /**
   * Loads a GGUF: a URL (relative to baseUrl), a File/Blob, or {url | parts, sha256?, size?}. Resolves to the
   * model's info.
   */
  async load(model, options = {}) {
    const o = checkOptions('load', options, ['onProgress', 'signal', 'nCtx', 'threads', 'sha256', 'size', 'cache']);
    let source = model;
    const extra = pick(o, ['onProgress', 'signal', 'nCtx', 'threads', 'sha256', 'size', 'cache']);
    if (model && typeof model === 'object' && !(model instanceof Blob) && !(model instanceof URL)) {
      checkOptions('load: model', model, ['url', 'parts', 'sha256', 'size']);
      if (model.parts) extra.parts = model.parts.map((p) => this.#url(p));
      source = model.url ? this.#url(model.url) : null;
      Object.assign(extra, pick(model, ['sha256', 'size']));
    } else if (!(model instanceof Blob)) source = this.#url(model);
    this.#model = await wrap(this.#client.load(source, extra));
    return this.#model;
  }

  async #createCompletion(params) {
    const p = checkOptions('chat.completions.create', params, ['messages', 'stream', 'signal', 'model', ...GENERATION]);
    if (!Array.isArray(p.messages)) throw new HearthError('chat.completions.create: messages must be an array', 'invalid_argument');
    const options = { temperature: 0, ...pick(p, GENERATION) };
    const id = `chatcmpl-${++completionIds}`;
    const created = Math.floor(Date.now() / 1000);
    const model = this.#model?.name ?? 'hearth';
    if (!p.stream) {
      const r = await wrap(this.#client.chat(p.messages, options, null, { signal: p.signal }));
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: FINISH[r.stats.stop_reason] ?? 'stop' }],
        usage: usageOf(r.stats),
      };
    }
    const out = feed();
    const chunk = (delta, finish = null, usage) => ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) });
    out.push(chunk({ role: 'assistant', content: '' }));
    this.#client
      .chat(p.messages, options, (text) => out.push(chunk({ content: text })), { signal: p.signal })
      .then((r) => {
        out.push(chunk({}, FINISH[r.stats.stop_reason] ?? 'stop', usageOf(r.stats)));
        out.end();
      }, out.fail);
    return out;
  }

  /** Ends the generation in progress (and any asked for that has not begun); they end with finish_reason 'abort'. */
  stop() {
    this.#client.stop();
  }

  // ---- documents ------------------------------------------------------------------------------------

  #embedderFiles() {
    const spec = this.#embedderSpec;
    if (typeof spec === 'string' || spec instanceof URL) {
      const dir = new URL(spec, this.#base);
      if (!dir.pathname.endsWith('/')) dir.pathname += '/';
      return { model: { url: new URL('model.safetensors', dir).href }, config: { url: new URL('config.json', dir).href }, tokenizer: { url: new URL('tokenizer.json', dir).href } };
    }
    checkOptions('createHearth: embedder', spec, ['model', 'config', 'tokenizer']);
    const file = (f) => (typeof f === 'string' || f instanceof URL ? { url: this.#url(f) } : { ...f, url: this.#url(f.url) });
    return { model: file(spec.model), config: file(spec.config), tokenizer: file(spec.tokenizer) };
  }

  /** Loads the embedder now (otherwise the first documents, ask, embed or index call does). `threads`: workers
   * embedding a document's passages (default 2 where there are 2 cores or more; at most 4; each extra one holds its
   * own copy of the embedder: about its file's size plus 24 MB of memory). */
  async loadEmbedder(options = {}) {
    const { onProgress, signal, threads } = checkOptions('loadEmbedder', options, ['onProgress', 'signal', 'threads']);
    if (!this.#embedder) {
      this.#embedder = wrap(this.#client.loadEmbedder(this.#embedderFiles(), { onProgress, signal, threads }));
      this.#embedder.catch(() => (this.#embedder = null)); // tried again next time
    }
    return this.#embedder;
  }

  async #withEmbedder(call) {
    await this.loadEmbedder();
    return wrap(call());
  }

  /**
   * Indexes a File/Blob or a string. `title` names it (default: the file's name; needed for a string). Resolves
   * to the document's summary {id, title, tags, chunks, bytes, read_only}.
   */
  async #addDocument(source, options = {}) {
    const o = checkOptions('documents.add', options, ['title', 'tags', 'format', 'onProgress', 'signal']);
    let msg;
    if (typeof source === 'string') {
      if (!o.title) throw new HearthError('documents.add: a title is needed for text', 'invalid_argument');
      msg = { name: o.title, text: source };
    } else if (source instanceof Blob) {
      const name = o.title ?? source.name;
      if (!name) throw new HearthError('documents.add: a title is needed for a Blob without a name', 'invalid_argument');
      msg = source instanceof File && name === source.name ? source : { name, file: source };
    } else throw new HearthError('documents.add: a File, Blob or string is needed', 'invalid_argument');
    const r = await this.#withEmbedder(() => this.#client.addDocument(msg, pick(o, ['format', 'tags', 'onProgress', 'signal'])));
    return r.document;
  }

  /** Unit-length embeddings (number[][]) of `texts`. */
  embed(texts, { signal } = {}) {
    return this.#withEmbedder(() => this.#client.embed(typeof texts === 'string' ? [texts] : texts, { signal }));
  }

  async #loadIndex(source, options = {}) {
    const o = checkOptions('index.load', options, ['readOnly', 'sha256', 'signal']);
    const src = source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source) : this.#url(source);
    const r = await this.#withEmbedder(() => this.#client.loadIndex(src, o));
    return r.documents;
  }

  // ---- answers --------------------------------------------------------------------------------------

  /**
   * Answers `question` from the documents with cited evidence. `k` passages are searched (default 4), in
   * `docs` (ids) or `tags` only if given; `history` (earlier results of ask) makes it a follow-up. With
   * `stream: true` returns an async iterable of {type:'delta', delta} then one {type:'answer', …result};
   * otherwise resolves to the result {question, answer, citations, evidence, passages, segments, abstained,
   * usage}.
   */
  ask(question, options = {}) {
    const o = checkOptions('ask', options, ['k', 'docs', 'tags', 'history', 'stream', 'signal', 'evidence', 'min_evidence', 'system', 'min_score_ratio', ...GENERATION]);
    const scope = o.docs || o.tags ? pick({ doc_ids: o.docs, tags: o.tags }, ['doc_ids', 'tags']) : undefined;
    const history = (o.history ?? []).map((t) => ({ question: t.question, answer: t.answer, passages: t.evidence ?? t.passages ?? [] }));
    const gen = { temperature: 0, ...pick(o, ['evidence', 'min_evidence', 'system', 'min_score_ratio', ...GENERATION]) };
    const run = (onToken) =>
      this.#withEmbedder(() => this.#client.rag(question, gen, o.k ?? 4, { onToken, history, scope, signal: o.signal })).then((r) => answerOf(question, r));
    if (!o.stream) return run(null);
    const out = feed();
    run((delta) => out.push({ type: 'delta', delta })).then((result) => {
      out.push({ type: 'answer', ...result });
      out.end();
    }, out.fail);
    return out;
  }

  /** Ends the worker: every request in progress or waiting rejects with code 'disposed'. */
  dispose() {
    this.#client.dispose();
  }
}

// The worker's rag reply as the client's answer: the evidence sentences (in citation order), the citations
// the answer makes (each evidence sentence once, in the order first cited), and the passages they come from.
function answerOf(question, r) {
  const evidence = (r.passages ?? []).map((p, i) => ({ n: i + 1, ...p }));
  const cited = [];
  for (const s of r.segments ?? []) for (const n of s.citations) if (!cited.includes(n) && evidence[n - 1]) cited.push(n);
  const passages = [];
  for (const e of evidence) {
    if (passages.some((p) => p.doc_id === e.doc_id && p.chunk === e.chunk)) continue;
    passages.push({ doc_id: e.doc_id, title: e.title, chunk: e.chunk, text: `${e.before ?? ''}${e.text}${e.after ?? ''}` });
  }
  return {
    question,
    answer: r.text,
    citations: cited.map((n) => evidence[n - 1]),
    evidence,
    passages,
    segments: r.segments ?? [],
    abstained: !!r.abstained,
    query: r.query,
    usage: usageOf(r.stats),
  };
}
