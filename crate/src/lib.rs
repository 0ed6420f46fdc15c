//! hearth: private, in-browser small language models. A GGUF runtime (llama, gemma3, qwen2) with WASM SIMD
//! kernels, compiled natively for the CLI and tests and to wasm for the browser.
//!
//! Data flows one way: bytes → [`gguf`] → [`engine::Model`] (transformer + tokenizer + chat template) →
//! [`session::Session`] (KV cache, sampling) → tokens and text.

pub mod attention;
pub mod bench;
pub mod chat;
pub mod chunker;
pub mod clock;
pub mod config;
pub mod embedder;
pub mod engine;
pub mod error;
pub mod eval;
pub mod eval_rag;
pub mod fastmath;
pub mod followup;
pub mod gguf;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod gemm_simd128;
pub mod index;
pub mod ingest;
pub mod kv_cache;
pub mod matmul;
pub mod model;
pub mod perplexity;
pub mod quant;
pub mod rag;
pub mod retriever;
pub mod sampler;
pub mod session;
pub mod shard;
pub mod tokenizer;
#[doc(hidden)]
pub mod testutil;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
#[cfg(target_arch = "wasm32")]
pub mod wasm_peers;

pub use chat::Message;
pub use engine::{Model, ModelInfo};
pub use error::{Error, Result};
pub use sampler::SamplerParams;
pub use session::{GenerateParams, Session, Stats, StopReason};
