//! JS bindings (wasm-bindgen). Thin by design: convert types and errors, call the plain Rust API.
//!
//! ```js
//! import init, { ModelLoader } from './pkg/hearth.js';
//! await init();
//! const loader = new ModelLoader(totalBytes);      // stream the GGUF in: no second copy in JS
//! for await (const chunk of stream) loader.push(chunk);
//! const model = loader.finish();
//! model.beginChat([{ role: 'user', content: 'Hi' }], { max_tokens: 64, temperature: 0 });
//! let piece; while ((piece = model.nextPiece()) !== undefined) show(piece);
//! console.log(model.stats());
//! ```

#[cfg(feature = "bench")]
mod bench;
mod library;
mod model;
mod pool;
mod types;

pub use library::{cite_answer, follow_up_query, EmbedderLoader, Library};
pub use model::{Model, ModelLoader};

use wasm_bindgen::prelude::*;

use crate::rag;

thread_local! {
    /// The message of the last panic: a panic traps the module, and the worker reports this text (instead of
    /// "unreachable") before it is restarted.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
        console_error_panic_hook::hook(info);
    }));
}

/// The message of the panic that trapped this module, if one did ("panicked at src/…: …").
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}

/// Panics on purpose, for the tests of the page's recovery from a trapped module (PROTOCOL.md `testTrap`).
#[wasm_bindgen(js_name = testTrap)]
pub fn test_trap(message: &str) {
    panic!("test trap: {message}");
}

pub(crate) fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

pub(crate) fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_err)
}

/// Incremental SHA-256, so a download can be verified while it streams (no second copy in JS memory).
#[wasm_bindgen]
pub struct Sha256 {
    inner: sha2::Sha256,
}

#[wasm_bindgen]
impl Sha256 {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256 {
        Sha256 { inner: sha2::Digest::new() }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.inner, bytes);
    }

    /// The digest as lower-case hex; the hasher starts over afterwards.
    pub fn hex(&mut self) -> String {
        sha2::Digest::finalize_reset(&mut self.inner).iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}

/// The defaults of answers from documents, shared with the CLI (`hearth ask`): `{evidence, min_evidence,
/// max_tokens, not_found}` (evidence sentences in the prompt, the best-evidence score under which the answer
/// is `not_found`, the answer's token limit).
#[wasm_bindgen(js_name = ragDefaults, unchecked_return_type = "RagDefaults")]
pub fn rag_defaults() -> Result<JsValue, JsError> {
    to_js(&types::RagDefaults {
        evidence: rag::DEFAULT_EVIDENCE,
        min_evidence: rag::DEFAULT_MIN_EVIDENCE,
        max_tokens: rag::DEFAULT_RAG_MAX_TOKENS,
        not_found: rag::NOT_FOUND.into(),
    })
}

/// Whether this build uses WASM SIMD128 kernels.
#[wasm_bindgen(js_name = simdEnabled)]
pub fn simd_enabled() -> bool {
    cfg!(target_feature = "simd128")
}

/// Whether this build also uses relaxed SIMD (the `pkg-relaxed` package).
#[wasm_bindgen(js_name = relaxedSimdEnabled)]
pub fn relaxed_simd_enabled() -> bool {
    cfg!(target_feature = "relaxed-simd")
}
