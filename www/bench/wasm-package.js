// The benchmark's wasm package (`make bench`: cargo feature `bench`, with Model.bench and annSearchBench),
// both builds imported statically like the page's (../wasm-package.js).
import * as simd from './pkg/hearth.js';
import * as relaxed from './pkg-relaxed/hearth.js';
import { initBuild } from '../wasm-build.js';

const BENCH = {
  simd: { glue: simd, wasmUrl: new URL('./pkg/hearth_bg.wasm', import.meta.url) },
  relaxed: { glue: relaxed, wasmUrl: new URL('./pkg-relaxed/hearth_bg.wasm', import.meta.url) },
  shardWorker: () => new Worker(new URL('./shard-worker.js', import.meta.url), { type: 'module' }),
};

export const loadWasm = (module = null) => initBuild(BENCH, module);
