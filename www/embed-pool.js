// More cores for adding documents, without a threaded wasm build: `threads - 1` helper workers (pool workers of
// the same build, shard-worker.js) each hold a whole copy of the embedder, streamed to them as the library's
// worker downloads it. A document's passages are handed out in order (PassageFeed, below): each helper keeps
// two queued, the library embeds the next one nobody has, and takes the vectors in order (Library.pushVectors).
// The helpers are an optimisation only: if one fails, the pool is closed and the library embeds the rest itself.

import { compiledFamily, compiledModule } from './wasm-build.js';

const READY_TIMEOUT_MS = 30_000; // building the embedder from its weights (well under a second here)
// One request: a passage, well under a second; a stalled helper holds up cancelling a document this long.
const EMBED_TIMEOUT_MS = 15_000;

export class EmbedPool {
  #workers = [];
  #waiting = []; // per worker: the callbacks of its requests, answered in order
  #failure = null;

  /** Starts `helpers` workers for an embedder of `totalBytes` bytes (model.safetensors). */
  constructor(helpers, totalBytes) {
    try {
      this.#start(helpers, totalBytes);
    } catch (e) {
      this.#fail(e); // ends those already started
      throw e;
    }
  }

  #start(helpers, totalBytes) {
    for (let i = 0; i < helpers; i++) {
      const w = compiledFamily.shardWorker();
      const waiting = [];
      const fail = (message) => this.#fail(new Error(`an embedding helper failed: ${message}`));
      w.onmessage = ({ data }) => {
        if (data.type === 'error') return fail(data.message);
        waiting.shift()?.resolve(data);
      };
      w.onerror = (e) => (e.preventDefault?.(), fail(e.message || 'it could not start'));
      w.postMessage({ type: 'embedderInit', totalBytes, module: compiledModule });
      this.#workers.push(w);
      this.#waiting.push(waiting);
    }
  }

  get size() {
    return this.#workers.length;
  }

  get failure() {
    return this.#failure;
  }

  /** Sends each helper a copy of the next bytes of the weights (the helper's queue holds them until its wasm is
   * ready: at most the file's size, which the helper holds anyway). */
  push(chunk) {
    if (this.#failure) return;
    for (const w of this.#workers) {
      const bytes = chunk.slice();
      w.postMessage({ type: 'embedderChunk', bytes }, [bytes.buffer]);
    }
  }

  /** Builds the helpers' embedders from the other two files; resolves when all are ready. */
  async finish({ config, tokenizer, maxSeqLength, precision }) {
    const msg = { type: 'embedderFinish', config, tokenizer, maxSeqLength, precision };
    await Promise.all(this.#workers.map((_, i) => this.#request(i, msg, READY_TIMEOUT_MS)));
  }

  /** Unit-length embeddings of `texts` made by helper `i`: a Float32Array, vector after vector. */
  async embed(i, texts) {
    return (await this.#request(i, { type: 'embed', texts }, EMBED_TIMEOUT_MS)).flat;
  }

  close() {
    this.#fail(new Error('the embedding helpers were closed'));
  }

  // A request to helper `i`; a helper silent for `timeoutMs` fails the pool (a hung helper must not hang the
  // library: it goes on alone).
  #request(i, msg, timeoutMs) {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`an embedding helper did not answer in ${timeoutMs / 1000} s`)), timeoutMs);
      const done = (f) => (v) => (clearTimeout(timer), f(v));
      this.#waiting[i].push({ resolve: done(resolve), reject: done(reject) });
      this.#workers[i].postMessage(msg);
    });
  }

  // Ends every helper and fails what they were asked.
  #fail(error) {
    if (this.#failure) return;
    this.#failure = error;
    for (const w of this.#workers) w.terminate();
    for (const waiting of this.#waiting) for (const p of waiting.splice(0)) p.reject(error);
  }
}

// Requests each helper has queued: with two, it starts its next passage the moment it answers one, without
// waiting for this worker, which reads the answers only between passages of its own.
const HELPER_DEPTH = 2;

/**
 * One document's passages embedded on this worker and the pool's helpers at once. Passages are handed out in
 * order: each helper keeps HELPER_DEPTH queued, this worker embeds the next one nobody has, and vectors go into
 * the library (`pushVectors`) as soon as every one before them is in. So nobody waits for anybody until the
 * last passages. (One passage each at a time, in lockstep, went at the longer one's pace plus a round trip:
 * two workers embedded 1.6× as fast as one.)
 */
export class PassageFeed {
  #lib;
  #pool;
  #n;
  #done; // passages in the library
  #next; // the first passage not handed out yet
  #ready = new Map(); // passage → its vector (Float32Array), or the promise of a helper's answer
  #queued; // per helper: requests not answered yet
  #dim = 0; // floats in a vector, from this worker's first
  #failure = null;

  /** For a library whose pending document has `n` passages, `done` of them embedded already. */
  constructor(lib, pool, n, done) {
    this.#lib = lib;
    this.#pool = pool;
    this.#n = n;
    this.#done = this.#next = done;
    this.#queued = new Array(pool.size).fill(0);
  }

  get pool() {
    return this.#pool;
  }

  /** Tops up the helpers, embeds one passage here (or, with none left to hand out, waits for the next
   * helper's answer), pushes what is in order; returns how many passages the library has. Throws if a helper
   * failed or sent a bad vector: then the pool is done for and the caller embeds the rest alone. */
  async step() {
    this.#handOut();
    if (this.#next < this.#n) {
      const j = this.#next++;
      const flat = this.#lib.embedFlat(this.#lib.pendingTexts(j, j + 1));
      this.#dim = flat.length; // known before any helper's answer is read: those come in between steps
      this.#ready.set(j, flat);
    } else {
      await this.#ready.get(this.#done);
    }
    for (let v; (v = this.#ready.get(this.#done)) instanceof Float32Array; ) {
      this.#ready.delete(this.#done);
      this.#done = this.#lib.pushVectors(v); // checked whole: a bad vector throws, keeping those before it
    }
    if (this.#failure) throw this.#failure; // after keeping what came in order before the failure
    return this.#done;
  }

  // Fills the helpers' queues, always leaving one passage for this worker when any are left (so a short
  // document is not all waiting on the helpers).
  #handOut() {
    for (let i = 0; i < this.#queued.length; i++) {
      while (this.#queued[i] < HELPER_DEPTH && this.#next + 1 < this.#n) {
        const j = this.#next++;
        this.#queued[i]++;
        const answer = this.#pool.embed(i, this.#lib.pendingTexts(j, j + 1)).then(
          (flat) => {
            this.#queued[i]--;
            // One vector for one passage, or the count in the library would slip: anything else fails the feed.
            if (flat instanceof Float32Array && flat.length === this.#dim) this.#ready.set(j, flat);
            else this.#failure ??= new Error(`an embedding helper answered a passage with ${flat?.length ?? 'no'} floats, not ${this.#dim}`);
          },
          (e) => (this.#failure ??= e),
        );
        this.#ready.set(j, answer);
      }
    }
  }
}
