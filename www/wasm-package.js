// Which build of the wasm package this browser gets: `pkg-relaxed` (relaxed SIMD: one-instruction int8 dot
// products) where a relaxed-SIMD module validates, else `pkg` (SIMD128, every current browser).

// A function doing i8x16.relaxed_swizzle (the probe wasm-feature-detect uses for relaxed SIMD).
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11]);

export const relaxedSimdSupported = () => WebAssembly.validate(RELAXED_PROBE);

/** The compiled WebAssembly.Module of the package loadWasm() set up: pool workers are given it, so the
 * code is compiled (and held) once for all the workers. */
export let compiledModule = null;
/** The package family loadWasm() set up: '' (the page's) or 'bench/' (the benchmark build, with its extra
 * exports); pool workers must load the same family as the module they are given. */
export let compiledPrefix = '';

/** Imports and initialises the right package (with `module` when given: one compiled by another worker
 * with this same function); resolves to its module namespace. */
export async function loadWasm(module = null, prefix = '') {
  const dir = relaxedSimdSupported() ? `./${prefix}pkg-relaxed/` : `./${prefix}pkg/`;
  const m = await import(`${dir}hearth.js`);
  if (!module) {
    const res = await fetch(new URL(`${dir}hearth_bg.wasm`, import.meta.url));
    if (!res.ok) throw new Error(`cannot load the wasm package: HTTP ${res.status}`);
    module = await WebAssembly.compile(await res.arrayBuffer());
  }
  await m.default({ module_or_path: module });
  compiledModule = module;
  compiledPrefix = prefix;
  return m;
}
