// Threads for hearth without a threaded wasm build: a model split by rows across workers (crate/src/llm/split.rs).
//
// The worker running the model (shard 0) owns a pool of `threads - 1` shard workers (shard-worker.js). Each
// streams the same GGUF and keeps its rows of every matrix; shard 0 keeps its own rows and everything else.
// For every matmul, shard 0 posts the input into a SharedArrayBuffer, computes its rows while the pool
// computes theirs, then copies their rows back: all synchronous, through Atomics, so one token costs a few
// hundred hand-offs of a few microseconds. Needs cross-origin isolation (SharedArrayBuffer); without it
// `defaultThreads()` is 1 and no pool is made.
//
// Shared buffer layout: per pool worker a control block of CTRL_INTS Int32 (below), then the input floats
// (common to all), then per pool worker its output floats.

import { compiledFamily, compiledModule } from './wasm-build.js';

export const CTRL_INTS = 32; // 128 bytes: each worker's block on its own cache lines
export const SEQ = 0; // job counter, bumped by shard 0 for each job
export const DONE = 1; // the SEQ value of the last job the worker finished
export const STATUS = 2; // 0 ok, 1 failed (the output holds the message, UTF-8)
export const OUT_LEN = 3; // floats (or message bytes) written
export const JOB_LEN = 4; // words of the job
export const INPUT_LEN = 5; // floats of input
export const JOB = 8; // the job: [kind, tokens, ...matrix ids]
export const JOB_MAX = 16;
/** Tokens per job the buffers are sized for (the session's prefill batch). */
export const PEER_BATCH = 128;
const IN_FLIGHT = 8 << 20; // bytes posted to a pool worker and not yet taken in: the stream waits above this
const SPARE_BYTES = 1 << 20; // the buffers chunks are copied into (as big as download.js's reads), reused
const SPIN = 1 << 20; // Atomics.load polls before sleeping: about a millisecond
const TIMEOUT_MS = 60_000;

/** Threads to use: every core (at most 4) when SharedArrayBuffer is available, else 1. */
export function defaultThreads() {
  if (typeof SharedArrayBuffer === 'undefined' || !globalThis.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 4));
}

/** Waits until `done(c[i])`: spins first (the other side is usually microseconds away), then sleeps; throws
 * after `timeoutMs` (never, if Infinity). */
export function waitUntil(c, i, done, timeoutMs = TIMEOUT_MS) {
  for (let n = 0; n < SPIN; n++) if (done(Atomics.load(c, i))) return;
  const t0 = performance.now();
  for (;;) {
    const cur = Atomics.load(c, i);
    if (done(cur)) return;
    Atomics.wait(c, i, cur, timeoutMs === Infinity ? Infinity : 20);
    if (performance.now() - t0 > timeoutMs) throw new Error('a pool worker stopped answering');
  }
}

export class ShardPool {
  /** Starts `threads - 1` workers for a GGUF of `totalBytes` bytes; stream it with push(), then finish().
   * `lead` (optional): shard 0's share of the rows; pass the same to `new ModelLoader(size, count, lead)`. */
  constructor(threads, totalBytes, lead = undefined) {
    this.count = threads;
    this.lead = lead;
    this.workers = [];
    this.failure = null;
    for (let i = 1; i < threads; i++) {
      const w = compiledFamily.shardWorker(); // a pool worker of the same build family
      // A failure while the model streams in must end the load, not leave push() waiting for ever.
      const fail = (message) => ((this.failure ??= new Error(`pool worker ${i}: ${message}`)), this.resume?.());
      w.onerror = (e) => fail(`failed to start (${e.message ?? 'error'})`);
      w.inFlight = 0;
      w.spare = []; // buffers the worker has handed back, for the next copies
      w.addEventListener('message', (e) => {
        if (e.data?.type === 'error') return fail(e.data.message);
        if (e.data?.type !== 'taken') return;
        w.inFlight -= e.data.bytes;
        if (e.data.buffer) w.spare.push(e.data.buffer);
        if (this.resume && this.workers.every((x) => x.inFlight <= IN_FLIGHT / 2)) this.resume();
      });
      // The compiled wasm goes along: the pool worker neither fetches nor compiles it again.
      w.postMessage({ type: 'init', index: i, count: threads, totalBytes, lead, module: compiledModule });
      this.workers.push(w);
    }
  }

  /** Sends the next piece of the file to every pool worker (each gets its own copy, in a buffer the worker
   * hands back when it has taken the bytes in: a whole file's worth of copies is not left to the garbage
   * collector). Returns a promise when the workers are behind (their queued copies would otherwise pile up
   * in memory): await it. */
  push(chunk) {
    if (this.failure) throw this.failure;
    for (const w of this.workers) {
      const i = w.spare.findIndex((b) => b.byteLength >= chunk.byteLength);
      const buf = i >= 0 ? w.spare.splice(i, 1)[0] : new ArrayBuffer(Math.max(chunk.byteLength, SPARE_BYTES));
      const copy = new Uint8Array(buf, 0, chunk.byteLength);
      copy.set(chunk);
      w.inFlight += buf.byteLength;
      w.postMessage({ type: 'chunk', bytes: copy }, [buf]);
    }
    if (this.workers.some((w) => w.inFlight > IN_FLIGHT)) {
      return new Promise((resolve, reject) => {
        this.resume = () => ((this.resume = null), this.failure ? reject(this.failure) : resolve());
      });
    }
  }

  /** Resolves when every pool worker has built its shard (to the bytes each holds). */
  async finish() {
    const replies = await Promise.all(
      this.workers.map((w, h) =>
        reply(w, { type: 'finish' }, 'ready').catch((e) => {
          throw this.failure ?? new Error(`pool worker ${h + 1}: ${e.message}`);
        }),
      ),
    );
    return replies.map((r) => r.weightBytes);
  }

  /** Connects `model` (loaded with `new ModelLoader(size, pool.count)`) to the pool and starts serving. */
  attach(model) {
    const [inF, outF] = model.peerBuffers(PEER_BATCH);
    const nh = this.workers.length;
    const ctrlBytes = nh * CTRL_INTS * 4;
    const sab = new SharedArrayBuffer(ctrlBytes + (inF + nh * outF) * 4);
    this.ctrl = this.workers.map((_, h) => new Int32Array(sab, h * CTRL_INTS * 4, CTRL_INTS));
    this.input = new Float32Array(sab, ctrlBytes, inF);
    this.outs = this.workers.map((_, h) => new Float32Array(sab, ctrlBytes + (inF + h * outF) * 4, outF));
    this.seq = this.workers.map(() => 0);
    this.workers.forEach((w, h) => w.postMessage({ type: 'serve', sab, slot: h, workers: nh, inputFloats: inF, outputFloats: outF }));
    model.attachPeers((job, input) => this.start(job, input), (out) => this.collect(out), inF, outF);
  }

  // Called from wasm (shard 0's matmul): post a job to every pool worker.
  start(job, input) {
    if (this.failure) throw this.failure;
    if (job.length > JOB_MAX) throw new Error(`job of ${job.length} words`);
    this.input.set(input);
    for (let h = 0; h < this.ctrl.length; h++) {
      const c = this.ctrl[h];
      c.set(job, JOB);
      c[JOB_LEN] = job.length;
      c[INPUT_LEN] = input.length;
      this.seq[h] = Atomics.add(c, SEQ, 1) + 1; // publishes the writes above
      Atomics.notify(c, SEQ);
    }
  }

  // Called from wasm: wait for every pool worker and copy their outputs, in order, into `out`.
  collect(out) {
    let at = 0;
    for (let h = 0; h < this.ctrl.length; h++) {
      const c = this.ctrl[h];
      const seq = this.seq[h];
      waitUntil(c, DONE, (v) => v === seq);
      const n = c[OUT_LEN];
      if (c[STATUS] !== 0) {
        const bytes = new Uint8Array(this.outs[h].buffer, this.outs[h].byteOffset, n).slice();
        throw new Error(`pool worker ${h + 1}: ${new TextDecoder().decode(bytes)}`);
      }
      if (at + n > out.length) throw new Error(`pool worker ${h + 1} returned more than expected`);
      out.set(this.outs[h].subarray(0, n), at);
      at += n;
    }
    if (at !== out.length) throw new Error(`pool workers returned ${at} floats, ${out.length} expected`);
  }

  terminate() {
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}

// Posts `msg` to `w` and resolves with its next reply of type `type` (rejects on an error reply).
function reply(w, msg, type) {
  return new Promise((resolve, reject) => {
    const done = (e) => {
      if (e.data?.type !== type && e.data?.type !== 'error') return;
      w.removeEventListener('message', done);
      if (e.data.type === 'error') reject(new Error(e.data.message));
      else resolve(e.data);
    };
    w.addEventListener('message', done);
    w.postMessage(msg);
  });
}
