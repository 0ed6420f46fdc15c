//! hearth: private, in-browser small language models with retrieval. A GGUF runtime (llama, gemma3, qwen2)
//! on our own WASM SIMD kernels, plus a document index, compiled natively for the CLI and tests and to wasm
//! for the browser.
//!
//! Two data flows, each one way, each step in one place:
//! - **bytes → tokens**: [`gguf`] parses the file → [`llm::Model`] (config, [`llm::transformer`], tokenizer,
//!   chat template) → [`llm::Session`] (KV cache, sampler) → tokens and text.
//! - **documents → answers**: [`retrieval::Library`] (formats → chunks → embeddings → [`retrieval::index`])
//!   → hits → [`rag`] (evidence → prompt → answer with citations).
//!
//! Below both: [`kernels`] (numbers only: quant types, dot products, matmul, attention) and [`rng`]. Beside
//! them, not product: [`eval`] (perplexity, BEIR, answer quality, benchmarks). At the edges: `wasm` (the
//! bindings, wasm32 only) and `bin/hearth` (the CLI).

pub mod clock;
pub mod error;
pub mod eval;
pub mod gguf;
pub mod kernels;
pub mod llm;
pub mod rag;
pub mod retrieval;
pub mod rng;
#[doc(hidden)]
pub mod testutil;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
pub use llm::chat_template::Message;
pub use llm::model::{Model, ModelInfo};
pub use llm::sampler::SamplerParams;
pub use llm::session::{GenerateParams, Session, Stats, StopReason};
