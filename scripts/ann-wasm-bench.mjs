// The ANN scale benchmark's queries in wasm (Node runs the same wasm SIMD as Chromium): loads the graph
// that `scale_bench --save DIR` wrote, regenerates the vectors in wasm and prints recall@10 and latency.
// Usage: node scripts/ann-wasm-bench.mjs DIR [ef,ef,...]

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [dir, efs = '64,128,256'] = process.argv.slice(2);
if (!dir) throw new Error('usage: node scripts/ann-wasm-bench.mjs DIR [ef,...]');
const pkg = join(root, 'www', 'bench', 'pkg'); // the benchmark build (make bench: scripts/build-wasm.sh bench)
const { default: init, annSearchBench } = await import(join(pkg, 'hearth.js'));
await init({ module_or_path: readFileSync(join(pkg, 'hearth_bg.wasm')) });
const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
const graph = readFileSync(join(dir, 'graph.bin'));
const t = readFileSync(join(dir, 'truth.bin'));
const truth = new Uint32Array(t.buffer, t.byteOffset, t.byteLength / 4);
console.log(`wasm: ${meta.n} vectors, ${meta.queries} queries`);
annSearchBench(graph, truth, meta.clusters, BigInt(meta.seed), 32); // warm-up: lets the JIT tier up first
console.log('   ef  recall@10    p50 ms    p95 ms');
for (const ef of efs.split(',').map(Number)) {
  const r = annSearchBench(graph, truth, meta.clusters, BigInt(meta.seed), ef);
  console.log(`${String(ef).padStart(5)} ${r.recall_at_10.toFixed(4).padStart(10)} ${r.p50_ms.toFixed(3).padStart(9)} ${r.p95_ms.toFixed(3).padStart(9)}`);
  console.log(JSON.stringify({ runtime: 'wasm', ...r }));
}
