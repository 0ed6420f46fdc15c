// A GGUF streamed into wasm memory and built into a model, the one way the page's worker and the benchmark's
// worker load one (so the benchmark measures the page's own path): the bytes go into a ModelLoader and, with
// `threads` > 1 (when the size is known up front and SharedArrayBuffer exists), are split by rows across a
// pool of workers (shard-pool.js) as they stream by; `finish` builds the model and attaches the pool.

import { ShardPool } from './shard-pool.js';

/**
 * `wasm`: the package's exports. `threads`: workers to split across (1: none). `lead`: shard 0's share of the
 * rows (ShardPool's default when undefined). `free(obj)`: how to free a wasm object on failure (the page's
 * worker remembers a trap met doing so).
 */
export function modelSink(wasm, { threads = 1, lead = undefined, free = (o) => o?.free() } = {}) {
  let loader = null;
  let pool = null;
  return {
    /** The sink for a file of `total` bytes: {push(chunk) (a promise while the pool is behind), abort()}. */
    open(total) {
      const n = total > 0 && typeof SharedArrayBuffer !== 'undefined' ? Math.max(1, threads | 0) : 1;
      pool = n > 1 ? new ShardPool(n, total, lead) : null;
      loader = new wasm.ModelLoader(total, n, pool?.lead);
      return {
        push: (chunk) => (loader.push(chunk), pool?.push(chunk)),
        abort: () => {
          const [l, p] = [loader, pool];
          loader = null;
          pool = null;
          p?.terminate();
          free(l);
        },
      };
    },
    /** Bytes received so far. */
    loaded: () => loader?.loaded() ?? 0,
    /**
     * Builds the model with a context window of `nCtx` tokens (consuming the loader, even when it throws)
     * and attaches the pool, whose `weightBytes` it sets. On failure the pool ends and the error is thrown.
     * Resolves to {model, pool}.
     */
    async finish(nCtx) {
      let model = null;
      try {
        const l = loader;
        loader = null; // consumed by finish, even when it throws
        model = l.finish(nCtx || undefined);
        if (pool) {
          pool.weightBytes = (await pool.finish()).reduce((a, b) => a + b, 0);
          pool.attach(model);
        }
      } catch (e) {
        pool?.terminate();
        free(model);
        throw e;
      }
      return { model, pool };
    },
  };
}
