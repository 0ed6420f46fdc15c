//! Bytes → tokens: a language model loaded from GGUF and the conversation state that runs it.
//!
//! [`Model`] (model.rs) holds the [`config::Config`], the [`transformer::Transformer`] (the forward pass
//! only), the tokenizer and the chat template; [`split`] cuts its matrices by rows across workers;
//! [`Session`] owns the [`kv_cache`] and the [`sampler`] of one conversation.

pub mod chat_template;
pub mod config;
pub mod kv_cache;
pub mod model;
pub mod sampler;
pub mod session;
pub mod split;
pub mod tokenizer;
pub mod transformer;

pub use model::{Model, ModelInfo};
pub use session::Session;
