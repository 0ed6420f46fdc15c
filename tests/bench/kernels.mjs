// The matmul kernels against their bound in headless Chromium (part of `make bench`): for each weight type
// of our models, decode over a 64 MB matrix against a plain read of the same bytes, and a 128-token prefill
// batch in multiply-adds per second, then attention over the KV cache with SmolLM2's and Gemma 3's heads
// (crate/src/eval/kernels.rs; `hearth bench --kernels` natively). Both
// wasm builds: the relaxed-SIMD one Chromium runs and the SIMD128 one Firefox runs.
//
//   node tests/bench/kernels.mjs > kernels.jsonl     (MB=64 REPS=5 in the environment)
//
// Prints one JSON line per build and type, then per build and head layout.
import { startServer, launchBrowser } from '../e2e/helpers.mjs';

const MB = Number(process.env.MB || 64);
const REPS = Number(process.env.REPS || 5);

const server = await startServer();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  // Any page of the server's origin can import the benchmark packages.
  await page.goto(`${server.url}/bench/index.html?driver=`);
  for (const build of (process.env.BUILDS || 'pkg-relaxed pkg').split(' ')) {
    const runs = await page.evaluate(async ({ build, mb, reps }) => {
      const { default: init, kernelBench, attentionBench } = await import(`/bench/${build}/hearth.js`);
      await init();
      return [kernelBench(mb, reps), attentionBench(reps)];
    }, { build, mb: MB, reps: REPS });
    for (const r of runs[0]) {
      console.error(`kernels: ${build} ${r.ty}: decode ${r.decode_gb_per_s.toFixed(2)} GB/s = ${r.of_read_bound.toFixed(2)} of reading the bytes (${r.read_gb_per_s.toFixed(2)} GB/s); prefill ${r.prefill_gmac_per_s.toFixed(1)} GMAC/s`);
      console.log(JSON.stringify({ build, ...r }));
    }
    for (const r of runs[1]) {
      console.error(`kernels: ${build} attention ${r.heads}×${r.hd}/${r.kv_heads} over ${r.positions}: decode ${r.decode_gmac_per_s.toFixed(2)} GMAC/s (${r.decode_ms.toFixed(3)} ms a layer); prefill ${r.prefill_gmac_per_s.toFixed(2)} GMAC/s`);
      console.log(JSON.stringify({ build, ...r }));
    }
  }
} finally {
  await browser.close();
  await server.stop();
}
