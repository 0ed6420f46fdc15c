//! The language model in JS: `ModelLoader` streams a GGUF in (whole, or shard 0 of a split model) and
//! `Model` runs one conversation session over it (chat, answers from passages, completion), a piece at a time.

use wasm_bindgen::prelude::*;

use super::types::{from_js, parse_options, RagStart};
use super::{js_err, to_js};
use crate::llm::chat_template::Message;
use crate::llm::model;
use crate::llm::session::Session;
use crate::llm::split::{ShardLoader, ShardSpec};
use crate::rag::{self, RagOptions};
use crate::retrieval::Passage;

/// Receives a GGUF file in chunks (from a fetch stream or a File) straight into wasm memory.
///
/// With `shards` > 1 (a worker pool, see `www/shard-pool.js`) it keeps only shard 0's part of every matrix
/// as the bytes stream by; the other parts go to `MatrixShardLoader`s in the pool's workers.
#[wasm_bindgen]
pub struct ModelLoader {
    buf: Vec<u8>,
    expected: usize,
    shard: Option<ShardLoader>,
}

#[wasm_bindgen]
impl ModelLoader {
    /// `total_bytes` (0 if unknown) reserves memory up front and bounds what `push` accepts.
    #[wasm_bindgen(constructor)]
    pub fn new(total_bytes: f64, shards: Option<usize>, lead_share: Option<f64>) -> Result<ModelLoader, JsError> {
        let expected = total_bytes.max(0.0) as usize;
        let count = shards.unwrap_or(1);
        if count > 1 {
            if expected == 0 {
                return Err(js_err("a model split across workers needs its size up front"));
            }
            let mut spec = ShardSpec::new(0, count).map_err(js_err)?;
            if let Some(lead) = lead_share {
                spec = spec.with_lead(lead).map_err(js_err)?;
            }
            return Ok(ModelLoader { buf: Vec::new(), expected, shard: Some(ShardLoader::new(expected, spec)) });
        }
        let mut buf = Vec::new();
        buf.try_reserve_exact(expected)
            .map_err(|_| js_err(format!("cannot allocate {expected} bytes for the model")))?;
        Ok(ModelLoader { buf, expected, shard: None })
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        if let Some(l) = &mut self.shard {
            return l.push(chunk).map_err(js_err);
        }
        if self.expected > 0 && self.buf.len() + chunk.len() > self.expected {
            return Err(js_err(format!("received more than the announced {} bytes", self.expected)));
        }
        self.buf.try_reserve(chunk.len()).map_err(|_| js_err("out of memory while receiving the model"))?;
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes received so far.
    pub fn loaded(&self) -> f64 {
        match &self.shard {
            Some(l) => l.received() as f64,
            None => self.buf.len() as f64,
        }
    }

    /// Parses and checks the file and builds the model (context window `n_ctx` tokens, default 2048). A
    /// split model runs once `attachPeers` has connected it to the pool.
    pub fn finish(self, n_ctx: Option<usize>) -> Result<Model, JsError> {
        if let Some(l) = self.shard {
            let (g, layout, data) = l.finish().map_err(js_err)?;
            let inner = model::Model::from_parts(&g, &layout, data, self.expected).map_err(js_err)?;
            return Ok(Model::with(inner, n_ctx));
        }
        Model::build(self.into_bytes("model")?, n_ctx)
    }
}

impl ModelLoader {
    /// The received bytes, if all the announced ones came.
    pub(super) fn into_bytes(self, what: &str) -> Result<Vec<u8>, JsError> {
        if self.expected > 0 && self.buf.len() != self.expected {
            return Err(js_err(format!("{what} truncated: received {} of {} bytes", self.buf.len(), self.expected)));
        }
        Ok(self.buf)
    }
}

/// A loaded model with one conversation session.
#[wasm_bindgen]
pub struct Model {
    pub(super) inner: model::Model,
    session: Session,
}

#[wasm_bindgen]
impl Model {
    fn build(bytes: Vec<u8>, n_ctx: Option<usize>) -> Result<Model, JsError> {
        Ok(Model::with(model::Model::load(bytes).map_err(js_err)?, n_ctx))
    }

    fn with(inner: model::Model, n_ctx: Option<usize>) -> Model {
        let session = Session::new(&inner, n_ctx.unwrap_or(2048));
        Model { inner, session }
    }

    /// How many workers share the model's matrices (1 unless loaded with `new ModelLoader(size, shards)`).
    #[wasm_bindgen(js_name = shardCount)]
    pub fn shard_count(&self) -> usize {
        self.inner.transformer.shard_count()
    }

    /// Floats of the input buffer and of each peer's output buffer that batches of `batch` tokens need:
    /// what the pool's SharedArrayBuffer should hold (`[input, output]`).
    #[wasm_bindgen(js_name = peerBuffers)]
    pub fn peer_buffers(&self, batch: usize) -> Vec<f64> {
        let (i, o) = self.inner.transformer.peer_buffers(batch);
        vec![i as f64, o as f64]
    }

    /// Connects a split model to its pool: `start(job, input)` posts a job to every peer (`job` a
    /// Uint32Array `[kind, tokens, ...matrix ids]`, `input` a Float32Array view to copy at once) and
    /// `finish(out)` waits for them and fills the Float32Array view `out` with their outputs in shard order.
    /// Buffers hold `input_floats` and `output_floats` (per peer).
    #[wasm_bindgen(js_name = attachPeers)]
    pub fn attach_peers(
        &mut self,
        start: js_sys::Function,
        finish: js_sys::Function,
        input_floats: usize,
        output_floats: usize,
    ) -> Result<(), JsError> {
        let peers = crate::wasm::pool::JsPeers::new(start, finish, (input_floats, output_floats));
        self.inner.transformer.attach_peers(Box::new(peers)).map_err(js_err)
    }

    /// Prompt tokens of JS `messages` ([{role, content}]) in the model's chat template.
    fn chat_prompt(&self, messages: JsValue) -> Result<Vec<u32>, JsError> {
        let messages: Vec<Message> = from_js(messages, "messages")?;
        self.inner.chat_tokens(&messages).map_err(js_err)
    }

    /// Loads a model from a complete GGUF file.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: Vec<u8>, n_ctx: Option<usize>) -> Result<Model, JsError> {
        Model::build(bytes, n_ctx)
    }

    /// Name, architecture, sizes, tensor types and chat template origin.
    #[wasm_bindgen(unchecked_return_type = "ModelInfo")]
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
    pub fn begin_chat(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Message[]")] messages: JsValue,
        #[wasm_bindgen(unchecked_param_type = "GenerateParams | undefined")] options: JsValue,
    ) -> Result<(), JsError> {
        let prompt = self.chat_prompt(messages)?;
        self.session.begin(&self.inner, &prompt, parse_options(options, "generation options")?).map_err(js_err)
    }

    /// Prefills a question with retrieved `passages` ([{doc_id, title, text, chunk, start, end}], best
    /// first) numbered [1]..[used] in the model's chat template; passages that do not fit the context
    /// (leaving room for `max_tokens`) are dropped from the end. Options: generation options plus
    /// `system` and `history` (the conversation so far, [{question, passages, answer}], oldest first: its
    /// turns come before the question, the oldest dropped first when short of room). Returns `{used, prompt_tokens}`; then stream with `nextPiece` as after `beginChat`.
    #[wasm_bindgen(js_name = beginRag, unchecked_return_type = "RagStart")]
    pub fn begin_rag(
        &mut self,
        question: &str,
        #[wasm_bindgen(unchecked_param_type = "Passage[]")] passages: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RagOptions | undefined")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        let passages: Vec<Passage> = from_js(passages, "passages")?;
        let o: RagOptions = parse_options(options, "answer options")?;
        let (prompt, used) =
            rag::prompt_tokens(&self.inner, question, &passages, &o, self.session.context_size()).map_err(js_err)?;
        self.session.begin(&self.inner, &prompt, o.generate).map_err(js_err)?;
        to_js(&RagStart { used, prompt_tokens: prompt.len() })
    }

    /// Prefills a raw completion prompt.
    #[wasm_bindgen(js_name = beginCompletion)]
    pub fn begin_completion(
        &mut self,
        prompt: &str,
        #[wasm_bindgen(unchecked_param_type = "GenerateParams | undefined")] options: JsValue,
    ) -> Result<(), JsError> {
        let tokens = self.inner.prompt_tokens(prompt);
        self.session.begin(&self.inner, &tokens, parse_options(options, "generation options")?).map_err(js_err)
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
    #[wasm_bindgen(unchecked_return_type = "Stats")]
    pub fn stats(&self) -> Result<JsValue, JsError> {
        to_js(self.session.stats())
    }

    /// Whole chat in one call, streaming each piece to `on_piece(text)`; returning `false` stops.
    /// Resolves to `{ text, tokens, stats }`.
    #[wasm_bindgen(unchecked_return_type = "Generated")]
    pub fn chat(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Message[]")] messages: JsValue,
        #[wasm_bindgen(unchecked_param_type = "GenerateParams | undefined")] options: JsValue,
        #[wasm_bindgen(unchecked_param_type = "((piece: string) => boolean | void) | undefined")] on_piece: Option<
            js_sys::Function,
        >,
    ) -> Result<JsValue, JsError> {
        let prompt = self.chat_prompt(messages)?;
        let out = self
            .session
            .generate(&self.inner, &prompt, parse_options(options, "generation options")?, |piece| match &on_piece {
                Some(f) => f
                    .call1(&JsValue::NULL, &JsValue::from_str(piece))
                    .map(|v| v.as_bool() != Some(false))
                    .unwrap_or(false),
                None => true,
            })
            .map_err(js_err)?;
        to_js(&out)
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
