//! Numbers only: the quantised block formats and their dot products (portable, AVX2, SIMD128), matrix ×
//! activations, the f32 GEMM, attention over a KV cache and the elementwise maths. Nothing here knows what
//! a model or a document is.

pub mod attention;
pub mod fastmath;
pub mod gemm_int;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod gemm_simd128;
pub mod matmul;
pub mod quant;
