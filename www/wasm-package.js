// The page's wasm package: both builds (SIMD128 in pkg/, relaxed SIMD in pkg-relaxed/), imported statically;
// wasm-build.js picks the one this browser runs.
import * as simd from './pkg/hearth.js';
import * as relaxed from './pkg-relaxed/hearth.js';
import { initBuild } from './wasm-build.js';

export { compiledModule, relaxedSimdSupported } from './wasm-build.js';

const PAGE = {
  simd: { glue: simd, wasmUrl: new URL('./pkg/hearth_bg.wasm', import.meta.url) },
  relaxed: { glue: relaxed, wasmUrl: new URL('./pkg-relaxed/hearth_bg.wasm', import.meta.url) },
  shardWorker: () => new Worker(new URL('./shard-worker.js', import.meta.url), { type: 'module' }),
};

/** Initialises the right build (with `module` when given: one compiled by another worker); resolves to its
 * module namespace. */
export const loadWasm = (module = null) => initBuild(PAGE, module);
