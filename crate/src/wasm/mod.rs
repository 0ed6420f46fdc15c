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

mod pool;

use wasm_bindgen::prelude::*;

use crate::llm::chat_template::Message;
use crate::retrieval::chunker::ChunkSpec;
use crate::retrieval::format::Format;
use crate::retrieval::embedder::{Embedder, Precision};
use crate::llm::model;
use crate::retrieval::index::{Index, SearchOptions};
use crate::rag::{self, RagOptions};
use crate::retrieval::Passage;
use crate::retrieval::library::Library as DocumentLibrary;
use crate::llm::session::{GenerateParams, Session};
use crate::llm::split::{ShardLoader, ShardSpec};

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
        buf.try_reserve_exact(expected).map_err(|_| js_err(format!("cannot allocate {expected} bytes for the model")))?;
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
    fn into_bytes(self, what: &str) -> Result<Vec<u8>, JsError> {
        if self.expected > 0 && self.buf.len() != self.expected {
            return Err(js_err(format!("{what} truncated: received {} of {} bytes", self.buf.len(), self.expected)));
        }
        Ok(self.buf)
    }
}

/// A loaded model with one conversation session.
#[wasm_bindgen]
pub struct Model {
    inner: model::Model,
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
    pub fn attach_peers(&mut self, start: js_sys::Function, finish: js_sys::Function, input_floats: usize, output_floats: usize) -> Result<(), JsError> {
        let peers = crate::wasm::pool::JsPeers::new(start, finish, (input_floats, output_floats));
        self.inner.transformer.attach_peers(Box::new(peers)).map_err(js_err)
    }

    /// Prompt tokens of JS `messages` ([{role, content}]) in the model's chat template.
    fn chat_prompt(&self, messages: JsValue) -> Result<Vec<u32>, JsError> {
        let messages: Vec<Message> = serde_wasm_bindgen::from_value(messages).map_err(|e| js_err(format!("invalid messages: {e}")))?;
        self.inner.chat_tokens(&messages).map_err(js_err)
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
        let prompt = self.chat_prompt(messages)?;
        self.session.begin(&self.inner, &prompt, params(options)?).map_err(js_err)
    }

    /// Prefills a question with retrieved `passages` ([{doc_id, title, text, chunk, start, end}], best
    /// first) numbered [1]..[used] in the model's chat template; passages that do not fit the context
    /// (leaving room for `max_tokens`) are dropped from the end. Options: generation options plus
    /// `system` and `history` (the conversation so far, [{question, passages, answer}], oldest first: its
    /// turns come before the question, the oldest dropped first when short of room). Returns `{used, prompt_tokens}`; then stream with `nextPiece` as after `beginChat`.
    #[wasm_bindgen(js_name = beginRag)]
    pub fn begin_rag(&mut self, question: &str, passages: JsValue, options: JsValue) -> Result<JsValue, JsError> {
        let passages: Vec<Passage> = serde_wasm_bindgen::from_value(passages).map_err(|e| js_err(format!("invalid passages: {e}")))?;
        let o: RagOptions = if options.is_undefined() || options.is_null() {
            RagOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| js_err(format!("invalid generation options: {e}")))?
        };
        let (prompt, used) = rag::prompt_tokens(&self.inner, question, &passages, &o, self.session.context_size()).map_err(js_err)?;
        self.session.begin(&self.inner, &prompt, o.generate).map_err(js_err)?;
        to_js(&serde_json::json!({"used": used, "prompt_tokens": prompt.len()}))
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
        let prompt = self.chat_prompt(messages)?;
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
    /// tokens. Returns prompt/generated tokens, ms and tokens/s of both phases. Only in the benchmark build
    /// (`--features bench`, `make bench`): the page's package does not carry measurement code.
    #[cfg(feature = "bench")]
    pub fn bench(&self, prompt_tokens: usize, gen_tokens: usize) -> Result<JsValue, JsError> {
        to_js(&crate::eval::bench::run(&self.inner, prompt_tokens, gen_tokens).map_err(js_err)?)
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

/// Receives the embedder's `model.safetensors` in chunks straight into wasm memory (like [`ModelLoader`]),
/// so the page never holds the 90 MB file in JS memory as well.
#[wasm_bindgen]
pub struct EmbedderLoader {
    inner: ModelLoader,
}

#[wasm_bindgen]
impl EmbedderLoader {
    #[wasm_bindgen(constructor)]
    pub fn new(total_bytes: f64) -> Result<EmbedderLoader, JsError> {
        Ok(EmbedderLoader { inner: ModelLoader::new(total_bytes, None, None)? })
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        self.inner.push(chunk)
    }

    pub fn loaded(&self) -> f64 {
        self.inner.loaded()
    }

    /// Builds the library from the received safetensors and the other two files (see `new Library`).
    pub fn finish(self, config_json: &str, tokenizer_json: &[u8], max_seq_length: usize, precision: &str) -> Result<Library, JsError> {
        Library::new(&self.inner.into_bytes("embedder weights")?, config_json, tokenizer_json, max_seq_length, precision)
    }
}

/// A private document library: embedder + index. Documents are added step by step (so the worker can show
/// progress and stop), searched by BM25, vector or hybrid, and saved to / loaded from bytes.
#[wasm_bindgen]
pub struct Library {
    inner: DocumentLibrary,
}

#[wasm_bindgen]
impl Library {
    /// From the sentence-transformers files of the embedder. `precision`: "f32" or "q8".
    #[wasm_bindgen(constructor)]
    pub fn new(safetensors: &[u8], config_json: &str, tokenizer_json: &[u8], max_seq_length: usize, precision: &str) -> Result<Library, JsError> {
        let p = match precision {
            "f32" => Precision::F32,
            "q8" => Precision::Q8,
            other => return Err(js_err(format!("precision `{other}` (use f32 or q8)"))),
        };
        let e = Embedder::new(safetensors, config_json, tokenizer_json, max_seq_length, p).map_err(js_err)?;
        Ok(Library { inner: DocumentLibrary::new(e, ChunkSpec::default()) })
    }

    /// Sets the chunk size and overlap (embedder tokens) for documents added from now on.
    #[wasm_bindgen(js_name = setChunking)]
    pub fn set_chunking(&mut self, max_tokens: usize, overlap_tokens: usize) {
        self.inner.spec = ChunkSpec { max_tokens, overlap_tokens };
    }

    /// Unit-length embeddings of `texts` (string[]) as number[][].
    pub fn embed(&self, texts: JsValue) -> Result<JsValue, JsError> {
        let texts: Vec<String> = serde_wasm_bindgen::from_value(texts).map_err(|e| js_err(format!("texts: {e}")))?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        to_js(&self.inner.embedder.embed(&refs).map_err(js_err)?)
    }

    /// Reads a document (format "text", "markdown" or "html", or from the file name when empty); returns the
    /// bytes of text to chunk. Then call `chunkNext` until it returns the chunk count, `embedNext` until all
    /// are embedded, and `commitDocument`.
    #[wasm_bindgen(js_name = beginDocument)]
    pub fn begin_document(&mut self, id: &str, title: &str, text: &str, format: &str, tags: JsValue) -> Result<usize, JsError> {
        let tags: Vec<String> = if tags.is_undefined() || tags.is_null() { vec![] } else { serde_wasm_bindgen::from_value(tags).map_err(|e| js_err(format!("tags: {e}")))? };
        let format = if format.is_empty() { Format::from_name(id) } else { format.parse().map_err(js_err)? };
        self.inner.begin_document(id, title, text, format, tags).map_err(js_err)
    }

    /// Chunks about `budget_bytes` more of the document's text (a bounded step, so the caller can report
    /// progress and stop in between); returns the chunk count once all is chunked, else undefined.
    #[wasm_bindgen(js_name = chunkNext)]
    pub fn chunk_next(&mut self, budget_bytes: usize) -> Result<Option<usize>, JsError> {
        self.inner.chunk_pending(budget_bytes).map_err(js_err)
    }

    /// Bytes of the document's text chunked so far.
    #[wasm_bindgen(js_name = chunkedBytes)]
    pub fn chunked_bytes(&self) -> usize {
        self.inner.chunk_progress().0
    }

    /// Embeds up to `max_chunks` more chunks; returns the number embedded so far.
    #[wasm_bindgen(js_name = embedNext)]
    pub fn embed_next(&mut self, max_chunks: usize) -> Result<usize, JsError> {
        Ok(self.inner.embed_pending(max_chunks).map_err(js_err)?.0)
    }

    /// Adds the embedded document to the index (replacing one with the same id).
    #[wasm_bindgen(js_name = commitDocument)]
    pub fn commit_document(&mut self) -> Result<(), JsError> {
        self.inner.commit_document().map_err(js_err)
    }

    #[wasm_bindgen(js_name = cancelDocument)]
    pub fn cancel_document(&mut self) {
        self.inner.cancel_document();
    }

    /// The best `k` sentences of `passages` ([{doc_id, title, text, chunk, start, end, score}], as search hits
    /// give them) for answering `question`, scored lexically and with the embedder: [{doc_id, title, text,
    /// passage, start, end, score, before, after}], best first (`passage` is 1-based in `passages`;
    /// `before`/`after` are the passage's text around the sentence). `context`: for a follow-up, the earlier
    /// questions it leans on (`followUpQuery(…).context`), which say which passage it is about.
    #[wasm_bindgen(js_name = selectEvidence)]
    pub fn select_evidence(&self, question: &str, passages: JsValue, k: usize, context: Option<String>) -> Result<JsValue, JsError> {
        let passages: Vec<Passage> = serde_wasm_bindgen::from_value(passages).map_err(|e| js_err(format!("invalid passages: {e}")))?;
        to_js(&rag::select_evidence(&self.inner.embedder, question, context.as_deref().unwrap_or(""), &passages, k).map_err(js_err)?)
    }

    /// Removes a document; returns whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        self.inner.index.remove(id)
    }

    /// [{id, title, tags, chunks, bytes}] of the indexed documents.
    pub fn documents(&self) -> Result<JsValue, JsError> {
        let docs: Vec<serde_json::Value> = self
            .inner
            .index
            .documents()
            .map(|d| serde_json::json!({"id": d.id, "title": d.title, "tags": d.tags, "chunks": d.chunk_spans().count(), "bytes": d.text.len()}))
            .collect();
        to_js(&docs)
    }

    /// Passages [{doc_id, title, text, chunk, start, end, score}] for `query`. Options: {k, mode: "bm25"|"dense"|
    /// "hybrid", doc_ids, tags, bm25_weight, dense_weight, rrf_k, candidates, per_document}. With
    /// `per_document: n` the hits are the `k` best documents, each with up to `n` of its best chunks
    /// (consecutive, best first), instead of the `k` best chunks.
    pub fn search(&self, query: &str, options: JsValue) -> Result<JsValue, JsError> {
        let o: SearchOptions = if options.is_undefined() || options.is_null() {
            SearchOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| js_err(format!("invalid search options: {e}")))?
        };
        to_js(&self.inner.search_passages(query, &o).map_err(js_err)?)
    }

    /// Builds an ANN graph over every chunk, for large collections; dense search uses it from then on
    /// (documents added later are searched exactly until the next build). An index built by the CLI
    /// with `--ann` brings its graph along.
    #[wasm_bindgen(js_name = buildAnn)]
    pub fn build_ann(&mut self) -> Result<(), JsError> {
        self.inner.index.build_ann(crate::retrieval::index::ann::AnnParams::default()).map_err(js_err)
    }

    /// `{graph, fresh}` chunk counts if dense search goes through an ANN graph, else `null`.
    #[wasm_bindgen(js_name = annStatus)]
    pub fn ann_status(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.index.ann_status().map(|(graph, fresh)| serde_json::json!({"graph": graph, "fresh": fresh})))
    }

    /// The index as bytes (the versioned, checksummed format the CLI writes too).
    #[wasm_bindgen(js_name = saveIndex)]
    pub fn save_index(&self) -> Vec<u8> {
        self.inner.index.to_bytes()
    }

    /// Replaces the index with one saved before; on any error the current index stays as it was.
    #[wasm_bindgen(js_name = loadIndex)]
    pub fn load_index(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let index = Index::from_bytes_for(bytes, self.inner.embedder.dim()).map_err(js_err)?;
        self.inner.set_index(index).map_err(js_err)
    }
}

/// The answer's sentences with the passages (1-based, of those given to `beginRag`) each cites:
/// `[{text, citations}]`. Markers the model wrote are moved out of the text; unmarked sentences are
/// attributed by word overlap.
#[wasm_bindgen(js_name = citeAnswer)]
pub fn cite_answer(answer: &str, passages: JsValue) -> Result<JsValue, JsError> {
    let passages: Vec<Passage> = serde_wasm_bindgen::from_value(passages).map_err(|e| js_err(format!("invalid passages: {e}")))?;
    to_js(&rag::cite(answer, &passages))
}

/// How to search for `question` after the conversation `history` ([{question, passages, answer}], oldest
/// first): `{query, context}`. When the question points back at earlier ones ("And who is it named
/// after?"), `context` is those earlier questions and `query` is they and the question; a question that
/// stands alone gives `{query: question, context: ""}`.
#[wasm_bindgen(js_name = followUpQuery)]
pub fn follow_up_query(question: &str, history: JsValue) -> Result<JsValue, JsError> {
    let history: Vec<crate::rag::followup::Turn> = if history.is_undefined() || history.is_null() {
        vec![]
    } else {
        serde_wasm_bindgen::from_value(history).map_err(|e| js_err(format!("invalid history: {e}")))?
    };
    to_js(&crate::rag::followup::resolve(question, &history))
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

/// The ANN scale benchmark's query measurement in wasm: loads a graph saved by `scale_bench --save`,
/// regenerates its vectors and queries from `(clusters, seed)`, and returns `{recall_at_10, p50_ms, p95_ms,
/// bytes_per_vector}` at beam width `ef` against `truth` (10 exact neighbour ids per query).
#[cfg(feature = "bench")]
#[wasm_bindgen(js_name = annSearchBench)]
pub fn ann_search_bench(graph: &[u8], truth: &[u32], clusters: usize, seed: u64, ef: usize) -> Result<JsValue, JsError> {
    use crate::eval::synthetic::{search_bench, Synthetic};
    let ann = crate::retrieval::index::ann::Ann::from_bytes(graph).map_err(js_err)?;
    let nq = truth.len() / 10;
    let synth = Synthetic::new(clusters, seed);
    let data = synth.draw_range(0, ann.len());
    let queries = synth.draw_range(ann.len(), nq);
    let (recall, p50, p95) = search_bench(&ann, &data, &queries, truth, ef);
    to_js(&serde_json::json!({"n": ann.len(), "queries": nq, "ef": ef, "recall_at_10": recall, "p50_ms": p50, "p95_ms": p95, "bytes_per_vector": ann.bytes() as f64 / ann.len().max(1) as f64}))
}

/// The defaults of answers from documents, shared with the CLI (`hearth ask`): `{evidence, min_evidence,
/// max_tokens, not_found}` (evidence sentences in the prompt, the best-evidence score under which the answer
/// is `not_found`, the answer's token limit).
#[wasm_bindgen(js_name = ragDefaults)]
pub fn rag_defaults() -> Result<JsValue, JsError> {
    to_js(&serde_json::json!({"evidence": rag::DEFAULT_EVIDENCE, "min_evidence": rag::DEFAULT_MIN_EVIDENCE, "max_tokens": rag::DEFAULT_RAG_MAX_TOKENS, "not_found": rag::NOT_FOUND}))
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
