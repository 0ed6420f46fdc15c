// Picks and starts one build of a wasm package family: `relaxed` (relaxed SIMD: one-instruction int8 dot
// products) where a relaxed-SIMD module validates, else `simd` (SIMD128, every current browser). A family
// (wasm-package.js: the page's; bench/wasm-package.js: the benchmark's) imports both builds' glue statically,
// so bundlers and extension service workers, which forbid computed import(), can follow them.

// A function doing i8x16.relaxed_swizzle (the probe wasm-feature-detect uses for relaxed SIMD).
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11]);

export const relaxedSimdSupported = () => WebAssembly.validate(RELAXED_PROBE);

/** The compiled WebAssembly.Module of the build initBuild() started: pool workers are given it, so the code
 * is compiled (and held) once for all the workers. */
export let compiledModule = null;
/** The family initBuild() started: its `shardWorker()` starts a pool worker of the same family. */
export let compiledFamily = null;

/**
 * `family`: {simd: {glue, wasmUrl}, relaxed: {glue, wasmUrl}, shardWorker()}. With `module` (compiled by
 * another worker with this same family) it is used as is; else the chosen build's .wasm is fetched and
 * compiled. Resolves to the glue's module namespace, initialised.
 */
export async function initBuild(family, module = null) {
  const build = relaxedSimdSupported() ? family.relaxed : family.simd;
  if (!module) {
    const res = await fetch(build.wasmUrl);
    if (!res.ok) throw new Error(`cannot load the wasm package (${build.wasmUrl}): HTTP ${res.status}`);
    module = await WebAssembly.compile(await res.arrayBuffer());
  }
  await build.glue.default({ module_or_path: module });
  compiledModule = module;
  compiledFamily = family;
  return build.glue;
}
