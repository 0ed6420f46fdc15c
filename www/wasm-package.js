// Which build of the wasm package this browser gets: `pkg-relaxed` (relaxed SIMD: one-instruction int8 dot
// products) where a relaxed-SIMD module validates, else `pkg` (SIMD128, every current browser).

// A function doing i8x16.relaxed_swizzle (the probe wasm-feature-detect uses for relaxed SIMD).
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11]);

export const relaxedSimdSupported = () => WebAssembly.validate(RELAXED_PROBE);

/** Imports and initialises the right package; resolves to its module namespace. */
export async function loadWasm() {
  const m = await import(relaxedSimdSupported() ? './pkg-relaxed/hearth.js' : './pkg/hearth.js');
  await m.default();
  return m;
}
