// The two engines of the side-by-side benchmark behind one interface, so that bench/index.html times them the same
// way: load(url, nCtx) → {load_ms, ...}; promptIds(n) → the benchmark prompt's token ids; run(promptTokens,
// genTokens) → {prompt_tokens, generated_tokens, prefill_ms, decode_ms, prefill_tokens_per_s,
// decode_tokens_per_s}.
//
// What is timed, for both: load = compiling the engine's wasm + downloading the GGUF from this origin +
// building the model (no cache of any kind); prefill = one forward pass over the whole prompt (up to its last
// token's logits); decode = `genTokens` steps of greedy sampling + a one-token forward pass, end-of-text
// ignored. hearth's figures come from Model.bench (timed inside wasm); wllama's from performance.now() around
// its own API calls (the same calls its createCompletion makes), so they include its worker round trips.

/** The benchmark's text: crate/src/eval/bench.rs's TEXT (repeated until long enough), the same for both engines. */
export const TEXT =
  "When in the Course of human events, it becomes necessary for one people to dissolve the political bands which have connected them with another, and to assume among the powers of the earth, the separate and equal station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of mankind requires that they should declare the causes which impel them to the separation. ";

/** BOS (when the model adds one) + the tokens of TEXT repeated, cut to exactly n: what bench.rs prefills. */
async function buildPrompt(tokenize, bos, n) {
  let text = '';
  let ids = [];
  while (ids.length < n) {
    text += TEXT;
    ids = (bos === null ? [] : [bos]).concat(await tokenize(text));
  }
  return ids.slice(0, n);
}

const perS = (n, ms) => (ms > 0 ? (n * 1000) / ms : 0);

/** hearth in its own module worker (bench/worker.js); with `threads` > 1 the model is split across that many
 * workers (www/shard-pool.js), as the page does when cross-origin isolated. */
export function hearthEngine(threads = 1, lead = undefined) {
  const worker = new Worker('worker.js', { type: 'module' });
  const pending = new Map();
  let next = 1;
  worker.onmessage = (e) => {
    const p = pending.get(e.data.id);
    pending.delete(e.data.id);
    if (e.data.error) p.reject(new Error(e.data.error));
    else p.resolve(e.data);
  };
  const call = (msg) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...msg });
    });
  return {
    name: 'hearth',
    threadsUsed: threads,
    async load(url, nCtx) {
      const r = await call({ type: 'load', url, nCtx, threads, lead });
      this.threadsUsed = r.threads;
      return { load_ms: r.load_ms, build: r.build, model: r.info.name };
    },
    // Text tokens only: hearth's info does not say whether the model adds a BOS (bench.rs adds it when it does).
    async promptIds(n) {
      return buildPrompt(async (t) => (await call({ type: 'tokenize', text: t })).ids, null, n);
    },
    async run(promptTokens, genTokens) {
      return (await call({ type: 'run', promptTokens, genTokens })).run;
    },
    close() {
      worker.terminate();
    },
  };
}

/** wllama 2.3.7 (www/vendor/wllama, copied from npm by scripts/vendor.sh): its single-thread build for one
 * thread, its multi-thread build (SharedArrayBuffer: this page is cross-origin isolated) for more. */
export async function wllamaEngine(threads) {
  const { Wllama } = await import('../vendor/wllama/index.js');
  const base = new URL('../vendor/wllama/', location.href).href;
  const silent = { debug() {}, log() {}, warn: console.warn, error: console.error };
  const w = new Wllama(
    { 'single-thread/wllama.wasm': `${base}single-thread/wllama.wasm`, 'multi-thread/wllama.wasm': `${base}multi-thread/wllama.wasm` },
    { suppressNativeLog: true, logger: silent },
  );
  const prompts = new Map();
  const prompt = async (n) => {
    if (!prompts.has(n)) prompts.set(n, await buildPrompt((t) => w.tokenize(t, false), w.mustAddBosToken() ? w.getBOS() : null, n));
    return prompts.get(n);
  };
  return {
    name: 'wllama',
    threadsUsed: threads,
    async load(url, nCtx) {
      const t0 = performance.now();
      const res = await fetch(url);
      if (!res.ok) throw new Error(`cannot download ${url}: HTTP ${res.status}`);
      const blob = await res.blob();
      await w.loadModel([blob], { n_ctx: nCtx, n_threads: threads });
      const load_ms = performance.now() - t0;
      this.threadsUsed = w.getNumThreads();
      const build = `${w.isMultithread() ? 'multi' : 'single'}-thread build, ${w.getNumThreads()} thread${w.getNumThreads() > 1 ? 's' : ''}`;
      return { load_ms, build, add_bos: w.mustAddBosToken(), bos: w.getBOS() };
    },
    promptIds: prompt,
    async run(promptTokens, genTokens) {
      const ids = await prompt(promptTokens);
      await w.kvClear();
      await w.samplingInit({ temp: 0 }); // greedy
      await w.samplingAccept(ids);
      const t0 = performance.now();
      await w.decode(ids, {});
      const prefill_ms = performance.now() - t0;
      const generated = [];
      const t1 = performance.now();
      for (let i = 0; i < genTokens; i++) {
        const { token } = await w.samplingSample();
        generated.push(token);
        await w.samplingAccept([token]);
        await w.decode([token], {});
      }
      const decode_ms = performance.now() - t1;
      return {
        prompt_tokens: ids.length,
        generated_tokens: generated.length,
        prefill_ms,
        decode_ms,
        prefill_tokens_per_s: perS(ids.length, prefill_ms),
        decode_tokens_per_s: perS(generated.length, decode_ms),
        first_tokens: generated.slice(0, 16),
      };
    },
    close() {
      w.exit();
    },
  };
}
