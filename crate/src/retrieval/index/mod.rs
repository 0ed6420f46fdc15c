//! The retrieval index: documents, their chunks and metadata, a BM25 lexical index and dense vectors
//! (f32, plus int8 codes for a fast first pass), searched by BM25, by vector, or by both fused with
//! reciprocal rank fusion. Adding, removing and re-adding a document is incremental; a failed add leaves
//! the index as it was (everything is checked and computed before anything changes).
//!
//! Dense search is exact (an int8 scan re-ranked in f32) unless an ANN graph has been built
//! ([`Index::build_ann`], for large collections): then the graph proposes candidates among the chunks it
//! was built over, chunks added since are scanned exactly, removed ones are skipped, and every candidate
//! is re-scored with its f32 vector.

pub mod ann;
pub(crate) mod bm25;
mod persist;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

pub use bm25::Bm25;
use bm25::{key, ChunkKey};

use crate::error::{Error, Result};
use crate::retrieval::chunker::Span;

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Bm25,
    Dense,
    Hybrid,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        match s {
            "bm25" => Ok(Mode::Bm25),
            "dense" => Ok(Mode::Dense),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(Error::Invalid(format!("search mode `{other}` (use bm25, dense or hybrid)"))),
        }
    }
}

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SearchOptions {
    pub k: usize,
    pub mode: Mode,
    /// Only these documents (by id), if given.
    pub doc_ids: Option<Vec<String>>,
    /// Only documents carrying at least one of these tags, if given.
    pub tags: Option<Vec<String>>,
    /// Reciprocal rank fusion: score = Σ weight / (rrf_k + rank).
    pub bm25_weight: f32,
    pub dense_weight: f32,
    /// 10 was best on SciFact's train split (60, the usual choice, gave 0.7214 there vs 0.7296).
    pub rrf_k: f32,
    /// How many candidates each retriever contributes to the fusion.
    pub candidates: usize,
    /// How hybrid search fuses: reciprocal ranks, or a weighted sum of min-max normalised scores.
    pub fusion: Fusion,
    /// Results per document: `k` documents (ranked by their best chunk), each with up to this many of its
    /// best chunks, consecutive and best first. None: the `k` best chunks, whatever their documents.
    pub per_document: Option<usize>,
}

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    Rrf,
    /// `bm25_weight · bm25' + dense_weight · dense'`, each min-max normalised over its candidates.
    Scores,
}

impl std::str::FromStr for Fusion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Fusion> {
        match s {
            "scores" => Ok(Fusion::Scores),
            "rrf" => Ok(Fusion::Rrf),
            other => Err(Error::Invalid(format!("fusion `{other}` (use scores or rrf)"))),
        }
    }
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 10,
            mode: Mode::Hybrid,
            doc_ids: None,
            tags: None,
            bm25_weight: 1.0,
            dense_weight: 1.25,
            rrf_k: 10.0,
            candidates: 100,
            fusion: Fusion::Scores,
            per_document: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    pub doc_id: String,
    /// Chunk number within the document.
    pub chunk: usize,
    pub score: f32,
    /// Byte range of the passage in the document's text.
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
struct Chunk {
    span: Span,
    vector: Vec<f32>,
    /// int8 code of the vector and its scale, for the first pass of dense search.
    code: Vec<i8>,
    scale: f32,
}

#[derive(Debug, Clone)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub text: String,
    chunks: Vec<Chunk>,
}

impl Document {
    pub fn chunk_spans(&self) -> impl Iterator<Item = Span> + '_ {
        self.chunks.iter().map(|c| c.span)
    }

    pub fn chunk_text(&self, i: usize) -> Option<&str> {
        self.chunks.get(i).map(|c| &self.text[c.span.start..c.span.end])
    }

    /// The document as it would be added again: text, spans and vectors (to move it into another index).
    pub fn to_new(&self) -> NewDocument {
        NewDocument {
            id: self.id.clone(),
            title: self.title.clone(),
            tags: self.tags.clone(),
            text: self.text.clone(),
            spans: self.chunks.iter().map(|c| c.span).collect(),
            vectors: self.chunks.iter().map(|c| c.vector.clone()).collect(),
        }
    }
}

/// What a caller hands over to add a document: its text, chunk spans, and one vector per chunk.
pub struct NewDocument {
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub text: String,
    pub spans: Vec<Span>,
    pub vectors: Vec<Vec<f32>>,
}

pub struct Index {
    dim: usize,
    /// Document slots; a removed document leaves `None` (slots are reused).
    docs: Vec<Option<Document>>,
    by_id: HashMap<String, u32>,
    bm25: Bm25,
    ann: Option<AnnState>,
}

/// An ANN graph over the chunks that existed when it was built.
struct AnnState {
    graph: ann::Ann,
    /// The chunk each graph node stands for, or [`DEAD`] once that chunk's document is removed.
    keys: Vec<ChunkKey>,
    /// Chunks added since the build, searched exactly.
    fresh: Vec<ChunkKey>,
}

/// The key of a graph node whose chunk is gone (no document has this slot).
const DEAD: ChunkKey = u64::MAX;

/// Below this many chunks the CLI keeps dense search exact (a scan is fast enough and exact).
pub const ANN_MIN_CHUNKS: usize = 50_000;

impl Index {
    pub fn new(dim: usize) -> Index {
        Index { dim, docs: Vec::new(), by_id: HashMap::new(), bm25: Bm25::default(), ann: None }
    }

    /// Builds an ANN graph over every chunk; dense search uses it from now on (see the module docs). The
    /// PQ code size is `params.m` bytes, or the largest divisor of the dimension below it.
    pub fn build_ann(&mut self, mut params: ann::AnnParams) -> Result<()> {
        params.m = (1..=params.m.min(self.dim)).rev().find(|m| self.dim.is_multiple_of(*m)).unwrap_or(1);
        let keys: Vec<ChunkKey> = self.chunk_keys().collect();
        let vectors: Vec<&[f32]> = keys.iter().map(|&k| self.vector(k)).collect();
        let graph = ann::Ann::build(self.dim, keys.len(), |i| vectors[i], params)?;
        self.ann = Some(AnnState { graph, keys, fresh: Vec::new() });
        Ok(())
    }

    /// Drops the ANN graph: dense search is exact again.
    pub fn drop_ann(&mut self) {
        self.ann = None;
    }

    /// (chunks in the graph, chunks added since) if an ANN graph is in use.
    pub fn ann_status(&self) -> Option<(usize, usize)> {
        self.ann.as_ref().map(|a| (a.keys.len(), a.fresh.len()))
    }

    fn chunk_keys(&self) -> impl Iterator<Item = ChunkKey> + '_ {
        self.docs.iter().enumerate().flat_map(|(slot, d)| {
            d.iter().flat_map(move |d| (0..d.chunks.len()).map(move |i| key(slot as u32, i as u32)))
        })
    }

    fn vector(&self, k: ChunkKey) -> &[f32] {
        let (d, i) = self.chunk(k);
        &d.chunks[i].vector
    }

    /// The chunk behind `k` if it is live.
    fn live(&self, k: ChunkKey) -> Option<&Chunk> {
        self.docs.get((k >> 32) as usize)?.as_ref()?.chunks.get((k & 0xFFFF_FFFF) as usize)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn chunk_count(&self) -> usize {
        self.docs.iter().flatten().map(|d| d.chunks.len()).sum()
    }

    pub fn document(&self, id: &str) -> Option<&Document> {
        self.by_id.get(id).and_then(|&s| self.docs[s as usize].as_ref())
    }

    pub fn documents(&self) -> impl Iterator<Item = &Document> {
        self.docs.iter().flatten()
    }

    /// Adds a document, replacing one with the same id. Nothing changes if the input is invalid.
    pub fn add(&mut self, d: NewDocument) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(format!("document `{}`: {m}", d.id)));
        if d.id.is_empty() {
            return Err(Error::Invalid("a document needs a non-empty id".into()));
        }
        if d.spans.len() != d.vectors.len() {
            return bad(format!("{} chunks but {} vectors", d.spans.len(), d.vectors.len()));
        }
        for (i, (s, v)) in d.spans.iter().zip(&d.vectors).enumerate() {
            if s.start > s.end
                || s.end > d.text.len()
                || !d.text.is_char_boundary(s.start)
                || !d.text.is_char_boundary(s.end)
            {
                return bad(format!("chunk {i} span {}..{} is not inside the text", s.start, s.end));
            }
            if v.len() != self.dim {
                return bad(format!("chunk {i} vector has {} dimensions, the index {}", v.len(), self.dim));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return bad(format!("chunk {i} vector is not finite"));
            }
        }
        // Everything derived is computed first: the index changes only once nothing can fail.
        let counts: Vec<_> = d.spans.iter().map(|s| self.bm25.term_counts(&d.text[s.start..s.end])).collect();
        let chunks: Vec<Chunk> = d
            .spans
            .iter()
            .zip(d.vectors)
            .map(|(&span, vector)| {
                let (code, scale) = int8_code(&vector);
                Chunk { span, vector, code, scale }
            })
            .collect();
        self.remove(&d.id);
        let slot = match self.docs.iter().position(|s| s.is_none()) {
            Some(s) => s,
            None => {
                self.docs.push(None);
                self.docs.len() - 1
            }
        } as u32;
        for (i, (c, n)) in counts.into_iter().enumerate() {
            self.bm25.insert(key(slot, i as u32), c, n);
        }
        if let Some(a) = &mut self.ann {
            a.fresh.extend((0..chunks.len()).map(|i| key(slot, i as u32)));
        }
        self.by_id.insert(d.id.clone(), slot);
        self.docs[slot as usize] = Some(Document { id: d.id, title: d.title, tags: d.tags, text: d.text, chunks });
        Ok(())
    }

    /// Removes a document; returns whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.by_id.remove(id) else { return false };
        self.docs[slot as usize] = None;
        self.bm25.remove_doc(slot);
        if let Some(a) = &mut self.ann {
            a.fresh.retain(|&k| (k >> 32) as u32 != slot);
            // Its graph nodes stay (the graph needs them to route) but stand for nothing now, so a
            // document that reuses the slot is searched exactly, as fresh.
            for k in a.keys.iter_mut().filter(|k| (**k >> 32) as u32 == slot) {
                *k = DEAD;
            }
        }
        true
    }

    fn chunk(&self, k: ChunkKey) -> (&Document, usize) {
        let d = self.docs[(k >> 32) as usize].as_ref().expect("live chunk key");
        (d, (k & 0xFFFF_FFFF) as usize)
    }

    fn filter(&self, o: &SearchOptions) -> impl Fn(ChunkKey) -> bool + '_ {
        let ids: Option<HashSet<u32>> =
            o.doc_ids.as_ref().map(|ids| ids.iter().filter_map(|i| self.by_id.get(i).copied()).collect());
        let tags: Option<HashSet<String>> = o.tags.as_ref().map(|t| t.iter().cloned().collect());
        move |k: ChunkKey| {
            let slot = (k >> 32) as u32;
            if let Some(ids) = &ids {
                if !ids.contains(&slot) {
                    return false;
                }
            }
            if let Some(tags) = &tags {
                match &self.docs[slot as usize] {
                    Some(d) if d.tags.iter().any(|t| tags.contains(t)) => {}
                    _ => return false,
                }
            }
            true
        }
    }

    fn bm25_ranked(&self, query: &str, keep: &dyn Fn(ChunkKey) -> bool, n: usize) -> Vec<(ChunkKey, f32)> {
        top_n(self.bm25.scores(query, keep).into_iter().collect(), n)
    }

    /// Dense candidates: from the ANN graph if there is one, else an int8 pass over every chunk; then
    /// exact f32 scores for the best of them.
    fn dense_ranked(&self, q: &[f32], keep: &dyn Fn(ChunkKey) -> bool, n: usize) -> Vec<(ChunkKey, f32)> {
        if let Some(a) = &self.ann {
            let pool = (n * 4).max(64);
            let zero = vec![0f32; self.dim];
            let from_graph =
                a.graph.search(q, pool, pool.max(128), |i| self.live(a.keys[i]).map_or(&zero[..], |c| &c.vector[..]));
            let mut seen = HashSet::new();
            let mut found: Vec<(ChunkKey, f32)> = Vec::new();
            for (i, score) in from_graph {
                let k = a.keys[i];
                if self.live(k).is_some() && keep(k) && seen.insert(k) {
                    found.push((k, score));
                }
            }
            for &k in &a.fresh {
                if keep(k) && seen.insert(k) {
                    found.push((k, crate::kernels::quant::dot_f32(self.vector(k), q)));
                }
            }
            // A selective filter can leave the graph's neighbourhood nearly empty: then scan exactly.
            if found.len() >= n.min(self.chunk_count()) {
                return top_n(found, n);
            }
        }
        let (qcode, qscale) = int8_code(q);
        let mut first: Vec<(ChunkKey, f32)> = Vec::with_capacity(self.chunk_count());
        for (slot, d) in self.docs.iter().enumerate() {
            let Some(d) = d else { continue };
            for (i, c) in d.chunks.iter().enumerate() {
                let k = key(slot as u32, i as u32);
                if keep(k) {
                    let dot: i32 = c.code.iter().zip(&qcode).map(|(&a, &b)| a as i32 * b as i32).sum();
                    first.push((k, dot as f32 * c.scale * qscale));
                }
            }
        }
        // Re-rank generously: int8 codes keep the order of all but near-ties.
        let pool = top_n(first, (n * 4).max(64));
        let exact = pool
            .into_iter()
            .map(|(k, _)| {
                let (d, i) = self.chunk(k);
                (k, crate::kernels::quant::dot_f32(&d.chunks[i].vector, q))
            })
            .collect();
        top_n(exact, n)
    }

    /// Searches with `query` (text, for BM25) and `query_vec` (its embedding, for dense search).
    pub fn search(&self, query: &str, query_vec: Option<&[f32]>, o: &SearchOptions) -> Result<Vec<Hit>> {
        let keep = self.filter(o);
        if o.mode != Mode::Bm25 {
            match query_vec {
                None => {
                    return Err(Error::Invalid(
                        format!("{:?} search needs the query's embedding", o.mode).to_lowercase(),
                    ))
                }
                Some(v) if v.len() != self.dim => {
                    return Err(Error::Invalid(format!(
                        "query vector has {} dimensions, the index {}",
                        v.len(),
                        self.dim
                    )))
                }
                _ => {}
            }
        }
        // Per document, enough chunks to find `k` documents even when the best ones have many good chunks.
        let want = match o.per_document {
            Some(_) => o.k.saturating_mul(PER_DOCUMENT_DEPTH).max(o.candidates),
            None => o.k,
        };
        let n = o.candidates.max(want);
        let ranked = match o.mode {
            Mode::Bm25 => self.bm25_ranked(query, &keep, want),
            Mode::Dense => self.dense_ranked(query_vec.unwrap(), &keep, want),
            Mode::Hybrid => {
                let mut fused: HashMap<ChunkKey, f32> = HashMap::new();
                for (w, list) in [
                    (o.bm25_weight, self.bm25_ranked(query, &keep, n)),
                    (o.dense_weight, self.dense_ranked(query_vec.unwrap(), &keep, n)),
                ] {
                    let (lo, hi) =
                        list.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| (lo.min(x.1), hi.max(x.1)));
                    for (rank, (k, score)) in list.into_iter().enumerate() {
                        *fused.entry(k).or_insert(0.0) += match o.fusion {
                            Fusion::Rrf => w / (o.rrf_k + rank as f32 + 1.0),
                            Fusion::Scores => w * if hi > lo { (score - lo) / (hi - lo) } else { 1.0 },
                        };
                    }
                }
                top_n(fused.into_iter().collect(), want)
            }
        };
        let ranked = match o.per_document {
            Some(per) => by_document(ranked, o.k, per.max(1)),
            None => ranked,
        };
        Ok(ranked
            .into_iter()
            .map(|(k, score)| {
                let (d, i) = self.chunk(k);
                let s = d.chunks[i].span;
                Hit { doc_id: d.id.clone(), chunk: i, score, start: s.start, end: s.end }
            })
            .collect())
    }
}

/// Chunks searched per document wanted, when results are per document.
const PER_DOCUMENT_DEPTH: usize = 8;

/// The best `k` documents of chunks `ranked` (best first), each with up to `per` of its chunks, grouped.
fn by_document(ranked: Vec<(ChunkKey, f32)>, k: usize, per: usize) -> Vec<(ChunkKey, f32)> {
    let mut order: Vec<u32> = Vec::new();
    let mut groups: HashMap<u32, Vec<(ChunkKey, f32)>> = HashMap::new();
    for (key, score) in ranked {
        let doc = (key >> 32) as u32;
        let g = groups.entry(doc).or_default();
        if g.is_empty() {
            if order.len() == k {
                continue;
            }
            order.push(doc);
        }
        if g.len() < per {
            g.push((key, score));
        }
    }
    order.into_iter().flat_map(|d| groups.remove(&d).unwrap_or_default()).collect()
}

/// The `n` best by score (ties broken by key, so results are deterministic).
fn top_n(mut v: Vec<(ChunkKey, f32)>, n: usize) -> Vec<(ChunkKey, f32)> {
    let cmp = |a: &(ChunkKey, f32), b: &(ChunkKey, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if v.len() > n && n > 0 {
        v.select_nth_unstable_by(n - 1, cmp);
        v.truncate(n);
    }
    v.sort_by(cmp);
    v.truncate(n);
    v
}

fn int8_code(v: &[f32]) -> (Vec<i8>, f32) {
    let amax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

#[cfg(test)]
mod tests;
