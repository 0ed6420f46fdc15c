//! The document library in JS: `EmbedderLoader` streams the embedder in, `Library` adds documents step by
//! step, searches, selects evidence and saves the index; `citeAnswer` and `followUpQuery` are the answer
//! pipeline's steps that need no model.

use wasm_bindgen::prelude::*;

use super::model::ModelLoader;
use super::types::{from_js, optional, parse_options, AnnStatus, DocumentSummary};
use super::{js_err, to_js};
use crate::rag;
use crate::retrieval::chunker::ChunkSpec;
use crate::retrieval::embedder::Embedder;
use crate::retrieval::format::Format;
use crate::retrieval::index::{Index, SearchOptions};
use crate::retrieval::library::Library as DocumentLibrary;
use crate::retrieval::Passage;

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
    pub fn finish(
        self,
        config_json: &str,
        tokenizer_json: &[u8],
        max_seq_length: usize,
        precision: &str,
    ) -> Result<Library, JsError> {
        Library::new(
            &self.inner.into_bytes("embedder weights")?,
            config_json,
            tokenizer_json,
            max_seq_length,
            precision,
        )
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
    pub fn new(
        safetensors: &[u8],
        config_json: &str,
        tokenizer_json: &[u8],
        max_seq_length: usize,
        precision: &str,
    ) -> Result<Library, JsError> {
        let e =
            Embedder::new(safetensors, config_json, tokenizer_json, max_seq_length, precision.parse().map_err(js_err)?)
                .map_err(js_err)?;
        Ok(Library { inner: DocumentLibrary::new(e, ChunkSpec::default()) })
    }

    /// Sets the chunk size and overlap (embedder tokens) for documents added from now on.
    #[wasm_bindgen(js_name = setChunking)]
    pub fn set_chunking(&mut self, max_tokens: usize, overlap_tokens: usize) {
        self.inner.spec = ChunkSpec { max_tokens, overlap_tokens };
    }

    /// Unit-length embeddings of `texts`.
    #[wasm_bindgen(unchecked_return_type = "number[][]")]
    pub fn embed(&self, #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue) -> Result<JsValue, JsError> {
        to_js(&self.embed_texts(texts)?)
    }

    /// Reads a document (format "text", "markdown" or "html", or from the file name when empty); returns the
    /// bytes of text to chunk. Then call `chunkNext` until it returns the chunk count, `embedNext` until all
    /// are embedded, and `commitDocument`.
    #[wasm_bindgen(js_name = beginDocument)]
    pub fn begin_document(
        &mut self,
        id: &str,
        title: &str,
        text: &str,
        format: &str,
        #[wasm_bindgen(unchecked_param_type = "string[] | undefined")] tags: JsValue,
    ) -> Result<usize, JsError> {
        let tags = optional(tags, "tags")?;
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

    /// The texts of the document's chunks `from..to`, to embed in another worker (see `pushVectors`).
    #[wasm_bindgen(js_name = pendingTexts)]
    pub fn pending_texts(&self, from: usize, to: usize) -> Result<Vec<String>, JsError> {
        Ok(self.inner.pending_texts(from, to).map_err(js_err)?.into_iter().map(String::from).collect())
    }

    /// Takes the next chunks' embeddings made in another worker (one vector after another); returns the
    /// number embedded so far.
    #[wasm_bindgen(js_name = pushVectors)]
    pub fn push_vectors(&mut self, flat: &[f32]) -> Result<usize, JsError> {
        Ok(self.inner.push_vectors(flat).map_err(js_err)?.0)
    }

    /// Unit-length embeddings of `texts`, one vector after another (for `pushVectors` in another worker).
    #[wasm_bindgen(js_name = embedFlat)]
    pub fn embed_flat(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
    ) -> Result<Vec<f32>, JsError> {
        Ok(self.embed_texts(texts)?.concat())
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
    #[wasm_bindgen(js_name = selectEvidence, unchecked_return_type = "Evidence[]")]
    pub fn select_evidence(
        &self,
        question: &str,
        #[wasm_bindgen(unchecked_param_type = "Passage[]")] passages: JsValue,
        k: usize,
        context: Option<String>,
    ) -> Result<JsValue, JsError> {
        let passages: Vec<Passage> = from_js(passages, "passages")?;
        to_js(
            &rag::select_evidence(&self.inner.embedder, question, context.as_deref().unwrap_or(""), &passages, k)
                .map_err(js_err)?,
        )
    }

    /// What `selectEvidence` embeds for these arguments: the question, then each candidate sentence. With
    /// their vectors made in any worker, `rankEvidence` gives what `selectEvidence` gives.
    #[wasm_bindgen(js_name = evidenceTexts)]
    pub fn evidence_texts(
        &self,
        question: &str,
        #[wasm_bindgen(unchecked_param_type = "Passage[]")] passages: JsValue,
    ) -> Result<Vec<String>, JsError> {
        let passages: Vec<Passage> = from_js(passages, "passages")?;
        Ok(rag::evidence_texts(question, &passages))
    }

    /// `selectEvidence` with the embeddings of `evidenceTexts` (one vector after another) made elsewhere.
    #[wasm_bindgen(js_name = rankEvidence, unchecked_return_type = "Evidence[]")]
    pub fn rank_evidence(
        &self,
        question: &str,
        #[wasm_bindgen(unchecked_param_type = "Passage[]")] passages: JsValue,
        k: usize,
        context: Option<String>,
        vectors: &[f32],
    ) -> Result<JsValue, JsError> {
        let passages: Vec<Passage> = from_js(passages, "passages")?;
        let dim = self.inner.embedder.dim();
        if dim == 0 || !vectors.len().is_multiple_of(dim) {
            return Err(js_err(format!("{} floats are not whole vectors of {dim}", vectors.len())));
        }
        let vecs: Vec<Vec<f32>> = vectors.chunks_exact(dim).map(<[f32]>::to_vec).collect();
        let context = context.as_deref().unwrap_or("");
        to_js(&rag::rank_embedded_evidence(question, context, &passages, &vecs, k).map_err(js_err)?)
    }

    /// Removes a document; returns whether it was there.
    pub fn remove(&mut self, id: &str) -> Result<bool, JsError> {
        self.inner.remove(id).map_err(js_err)
    }

    /// The indexed documents.
    #[wasm_bindgen(unchecked_return_type = "DocumentSummary[]")]
    pub fn documents(&self) -> Result<JsValue, JsError> {
        let docs: Vec<DocumentSummary> = self
            .inner
            .index
            .documents()
            .map(|d| DocumentSummary {
                id: d.id.clone(),
                title: d.title.clone(),
                tags: d.tags.clone(),
                chunks: d.chunk_spans().count(),
                bytes: d.text.len(),
                read_only: self.inner.is_read_only(&d.id),
            })
            .collect();
        to_js(&docs)
    }

    /// Passages [{doc_id, title, text, chunk, start, end, score}] for `query`. Options: {k, mode: "bm25"|"dense"|
    /// "hybrid", doc_ids, tags, bm25_weight, dense_weight, rrf_k, candidates, per_document}. With
    /// `per_document: n` the hits are the `k` best documents, each with up to `n` of its best chunks
    /// (consecutive, best first), instead of the `k` best chunks.
    #[wasm_bindgen(unchecked_return_type = "Passage[]")]
    pub fn search(
        &self,
        query: &str,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions | undefined")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        let o: SearchOptions = parse_options(options, "search options")?;
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
    #[wasm_bindgen(js_name = annStatus, unchecked_return_type = "AnnStatus | null")]
    pub fn ann_status(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.index.ann_status().map(|(graph, fresh)| AnnStatus { graph, fresh }))
    }

    /// The user's own documents' index as bytes (the versioned, checksummed format the CLI writes too);
    /// documents of a read-only index are left out.
    #[wasm_bindgen(js_name = saveIndex)]
    pub fn save_index(&self) -> Vec<u8> {
        self.inner.own_index_bytes()
    }

    /// Adds the documents of a prebuilt index file (`hearth index build`) read-only, in place of those of one
    /// attached before; returns how many. On any error nothing changes.
    #[wasm_bindgen(js_name = attachReadOnly)]
    pub fn attach_read_only(&mut self, bytes: &[u8]) -> Result<usize, JsError> {
        let index = Index::from_bytes_for(bytes, self.inner.embedder.dim()).map_err(js_err)?;
        self.inner.attach_read_only(index).map_err(js_err)
    }

    /// Replaces the index with one saved before; on any error the current index stays as it was.
    #[wasm_bindgen(js_name = loadIndex)]
    pub fn load_index(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let index = Index::from_bytes_for(bytes, self.inner.embedder.dim()).map_err(js_err)?;
        self.inner.set_index(index).map_err(js_err)
    }
}

impl Library {
    /// The embeddings of `texts` (a JS string[]), for `embed` and `embedFlat`.
    fn embed_texts(&self, texts: JsValue) -> Result<Vec<Vec<f32>>, JsError> {
        let texts: Vec<String> = from_js(texts, "texts")?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        self.inner.embedder.embed(&refs).map_err(js_err)
    }
}

/// The answer's sentences with the passages (1-based, of those given to `beginRag`) each cites:
/// `[{text, citations}]`. Markers the model wrote are moved out of the text; unmarked sentences are
/// attributed by word overlap.
#[wasm_bindgen(js_name = citeAnswer, unchecked_return_type = "Segment[]")]
pub fn cite_answer(
    answer: &str,
    #[wasm_bindgen(unchecked_param_type = "Passage[]")] passages: JsValue,
) -> Result<JsValue, JsError> {
    let passages: Vec<Passage> = from_js(passages, "passages")?;
    to_js(&rag::cite(answer, &passages))
}

/// How to search for `question` after the conversation `history` ([{question, passages, answer}], oldest
/// first): `{query, context}`. When the question points back at earlier ones ("And who is it named
/// after?"), `context` is those earlier questions and `query` is they and the question; a question that
/// stands alone gives `{query: question, context: ""}`.
#[wasm_bindgen(js_name = followUpQuery, unchecked_return_type = "Resolved")]
pub fn follow_up_query(
    question: &str,
    #[wasm_bindgen(unchecked_param_type = "Turn[] | undefined")] history: JsValue,
) -> Result<JsValue, JsError> {
    let history: Vec<crate::rag::followup::Turn> = optional(history, "history")?;
    to_js(&crate::rag::followup::resolve(question, &history))
}
