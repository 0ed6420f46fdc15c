// What a pool worker (shard-worker.js; see shard-pool.js) does: holds one shard's rows of every matrix of a split model and answers
// shard 0's jobs through the shared buffer.
// Messages, answered in order: {type: 'init', index, count, totalBytes, lead, module}; {type: 'chunk', bytes} → {type:
// 'taken', bytes, buffer} (bytes's buffer handed back, for the next chunk);
// {type: 'finish'} → {type: 'ready', weightBytes}; {type: 'serve', sab, slot, workers, inputFloats,
// outputFloats} → serves until terminated. A failure before serving replies {type: 'error', message}.
//
// The same worker can instead hold a whole copy of the embedder, to embed some of a document's passages while
// the library's worker embeds others (embed-pool.js): {type: 'embedderInit', totalBytes, module};
// {type: 'embedderChunk', bytes}; {type: 'embedderFinish', config, tokenizer, maxSeqLength, precision} →
// {type: 'embedderReady'}; {type: 'embed', texts} → {type: 'vectors', flat} (a Float32Array, vector after vector).
import { CTRL_INTS, SEQ, DONE, STATUS, OUT_LEN, JOB_LEN, INPUT_LEN, JOB, waitUntil } from './shard-pool.js';

let loader = null;
let shard = null;
let embedder = null; // an EmbedderLoader, then the Library whose embedder this worker runs
let failed = null;
let queue = Promise.resolve();

let loadWasm = null;

/** Serves this worker's messages with `load` (a build family's loadWasm: the page's or the benchmark's). */
export function serveShards(load) {
  loadWasm = load;
  self.onmessage = (e) => {
    // One message at a time: chunks arrive while the wasm package is still loading.
    queue = queue.then(() => handle(e.data)).catch((err) => {
      failed ??= err;
      self.postMessage({ type: 'error', message: String(err?.message ?? err) });
    });
  };
}

async function handle(msg) {
  if (failed) throw failed;
  switch (msg.type) {
    case 'init': {
      const wasm = await loadWasm(msg.module); // compiled once, by the model's worker
      loader = new wasm.MatrixShardLoader(msg.totalBytes, msg.index, msg.count, msg.lead);
      return;
    }
    case 'chunk': {
      loader.push(msg.bytes);
      const buffer = msg.bytes.buffer; // back to the pool for its next copy
      return self.postMessage({ type: 'taken', bytes: buffer.byteLength, buffer }, [buffer]);
    }
    case 'finish':
      shard = loader.finish(); // consumes the loader
      loader = null;
      return self.postMessage({ type: 'ready', weightBytes: shard.weightBytes() });
    case 'serve':
      return serve(msg);
    case 'embedderInit': {
      const wasm = await loadWasm(msg.module);
      embedder = new wasm.EmbedderLoader(msg.totalBytes);
      return;
    }
    case 'embedderChunk':
      return embedder.push(msg.bytes);
    case 'embedderFinish':
      embedder = embedder.finish(msg.config, msg.tokenizer, msg.maxSeqLength, msg.precision); // consumes the loader
      return self.postMessage({ type: 'embedderReady' });
    case 'embed': {
      const flat = embedder.embedFlat(msg.texts);
      return self.postMessage({ type: 'vectors', flat }, [flat.buffer]);
    }
    default:
      throw new Error(`unknown message ${msg.type}`);
  }
}

// Blocks this worker for good: wait for a job, run it, publish the result.
function serve({ sab, slot, workers, inputFloats, outputFloats }) {
  const ctrlBytes = workers * CTRL_INTS * 4;
  const c = new Int32Array(sab, slot * CTRL_INTS * 4, CTRL_INTS);
  const input = new Float32Array(sab, ctrlBytes, inputFloats);
  const out = new Float32Array(sab, ctrlBytes + (inputFloats + slot * outputFloats) * 4, outputFloats);
  let seen = Atomics.load(c, SEQ);
  for (;;) {
    waitUntil(c, SEQ, (v) => v !== seen, Infinity); // no deadline: idle between generations
    seen = Atomics.load(c, SEQ);
    try {
      const job = c.slice(JOB, JOB + c[JOB_LEN]);
      const result = shard.run(new Uint32Array(job.buffer), input.subarray(0, c[INPUT_LEN]));
      if (result.length > out.length) throw new Error(`output of ${result.length} floats exceeds the buffer`);
      out.set(result);
      c[OUT_LEN] = result.length;
      c[STATUS] = 0;
    } catch (err) {
      const text = new TextEncoder().encode(String(err?.message ?? err)).subarray(0, out.byteLength);
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(text);
      c[OUT_LEN] = text.length;
      c[STATUS] = 1;
    }
    Atomics.store(c, DONE, seen);
    Atomics.notify(c, DONE);
  }
}
