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

use wasm_bindgen::prelude::*;

use crate::chat::Message;
use crate::engine;
use crate::session::{GenerateParams, Session};

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_err)
}

fn params(options: JsValue) -> Result<GenerateParams, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(GenerateParams::default());
    }
    serde_wasm_bindgen::from_value(options).map_err(|e| js_err(format!("invalid generation options: {e}")))
}

/// Receives a GGUF file in chunks (from a fetch stream or a File) straight into wasm memory.
#[wasm_bindgen]
pub struct ModelLoader {
    buf: Vec<u8>,
    expected: usize,
}

#[wasm_bindgen]
impl ModelLoader {
    /// `total_bytes` (0 if unknown) reserves memory up front and bounds what `push` accepts.
    #[wasm_bindgen(constructor)]
    pub fn new(total_bytes: f64) -> Result<ModelLoader, JsError> {
        let expected = total_bytes.max(0.0) as usize;
        let mut buf = Vec::new();
        buf.try_reserve_exact(expected).map_err(|_| js_err(format!("cannot allocate {expected} bytes for the model")))?;
        Ok(ModelLoader { buf, expected })
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        if self.expected > 0 && self.buf.len() + chunk.len() > self.expected {
            return Err(js_err(format!("received more than the announced {} bytes", self.expected)));
        }
        self.buf.try_reserve(chunk.len()).map_err(|_| js_err("out of memory while receiving the model"))?;
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes received so far.
    pub fn loaded(&self) -> f64 {
        self.buf.len() as f64
    }

    /// Parses and checks the file and builds the model (context window `n_ctx` tokens, default 2048).
    pub fn finish(self, n_ctx: Option<usize>) -> Result<Model, JsError> {
        if self.expected > 0 && self.buf.len() != self.expected {
            return Err(js_err(format!("model truncated: received {} of {} bytes", self.buf.len(), self.expected)));
        }
        Model::build(self.buf, n_ctx)
    }
}

/// A loaded model with one conversation session.
#[wasm_bindgen]
pub struct Model {
    inner: engine::Model,
    session: Session,
}

#[wasm_bindgen]
impl Model {
    fn build(bytes: Vec<u8>, n_ctx: Option<usize>) -> Result<Model, JsError> {
        let inner = engine::Model::load(bytes).map_err(js_err)?;
        let session = Session::new(&inner, n_ctx.unwrap_or(2048));
        Ok(Model { inner, session })
    }

    /// Loads a model from a complete GGUF file.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: Vec<u8>, n_ctx: Option<usize>) -> Result<Model, JsError> {
        Model::build(bytes, n_ctx)
    }

    /// Name, architecture, sizes, tensor types and chat template origin.
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.info)
    }

    #[wasm_bindgen(js_name = contextSize)]
    pub fn context_size(&self) -> usize {
        self.session.context_size()
    }

    /// Starts a new conversation with a context window of `n_ctx` tokens.
    #[wasm_bindgen(js_name = setContextSize)]
    pub fn set_context_size(&mut self, n_ctx: usize) {
        self.session = Session::new(&self.inner, n_ctx);
    }

    /// Token ids of `text` (no BOS); `special` lets special-token text become special tokens.
    pub fn tokenize(&self, text: &str, special: bool) -> Vec<u32> {
        self.inner.tokenizer.encode(text, special)
    }

    pub fn detokenize(&self, ids: &[u32]) -> String {
        self.inner.tokenizer.decode(ids)
    }

    /// Renders `messages` ([{role, content}]) with the model's chat template and prefills them.
    #[wasm_bindgen(js_name = beginChat)]
    pub fn begin_chat(&mut self, messages: JsValue, options: JsValue) -> Result<(), JsError> {
        let messages: Vec<Message> = serde_wasm_bindgen::from_value(messages).map_err(|e| js_err(format!("invalid messages: {e}")))?;
        let prompt = self.inner.chat_tokens(&messages).map_err(js_err)?;
        self.session.begin(&self.inner, &prompt, params(options)?).map_err(js_err)
    }

    /// Prefills a raw completion prompt.
    #[wasm_bindgen(js_name = beginCompletion)]
    pub fn begin_completion(&mut self, prompt: &str, options: JsValue) -> Result<(), JsError> {
        let tokens = self.inner.prompt_tokens(prompt);
        self.session.begin(&self.inner, &tokens, params(options)?).map_err(js_err)
    }

    /// Generates one token: the text it adds (may be empty), or `undefined` when generation has ended.
    #[wasm_bindgen(js_name = nextPiece)]
    pub fn next_piece(&mut self) -> Result<Option<String>, JsError> {
        self.session.next_piece(&self.inner).map_err(js_err)
    }

    /// Ends the generation in progress (between tokens).
    pub fn stop(&mut self) {
        self.session.cancel();
    }

    /// prompt_tokens, cached_tokens, generated_tokens, prefill/decode ms and tokens/s, stop_reason.
    pub fn stats(&self) -> Result<JsValue, JsError> {
        to_js(self.session.stats())
    }

    /// Whole chat in one call, streaming each piece to `on_piece(text)`; returning `false` stops.
    /// Resolves to `{ text, tokens, stats }`.
    pub fn chat(&mut self, messages: JsValue, options: JsValue, on_piece: Option<js_sys::Function>) -> Result<JsValue, JsError> {
        let messages: Vec<Message> = serde_wasm_bindgen::from_value(messages).map_err(|e| js_err(format!("invalid messages: {e}")))?;
        let prompt = self.inner.chat_tokens(&messages).map_err(js_err)?;
        let out = self
            .session
            .generate(&self.inner, &prompt, params(options)?, |piece| match &on_piece {
                Some(f) => f.call1(&JsValue::NULL, &JsValue::from_str(piece)).map(|v| v.as_bool() != Some(false)).unwrap_or(false),
                None => true,
            })
            .map_err(js_err)?;
        to_js(&out)
    }

    /// One benchmark run (fresh session): a fixed prompt of `prompt_tokens`, then `gen_tokens` greedy
    /// tokens. Returns prompt/generated tokens, ms and tokens/s of both phases.
    pub fn bench(&self, prompt_tokens: usize, gen_tokens: usize) -> Result<JsValue, JsError> {
        to_js(&crate::bench::run(&self.inner, prompt_tokens, gen_tokens).map_err(js_err)?)
    }

    /// Forgets the conversation (the next prompt is prefilled from scratch).
    pub fn reset(&mut self) {
        self.session.reset();
    }

    /// Bytes held by the weights and by the KV cache.
    #[wasm_bindgen(js_name = memoryBytes)]
    pub fn memory_bytes(&self) -> f64 {
        (self.inner.transformer.weight_bytes() + self.session.cache_bytes()) as f64
    }
}

/// Whether this build uses WASM SIMD128 kernels.
#[wasm_bindgen(js_name = simdEnabled)]
pub fn simd_enabled() -> bool {
    cfg!(target_feature = "simd128")
}
