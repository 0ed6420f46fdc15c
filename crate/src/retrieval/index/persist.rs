//! The saved index: a versioned little-endian binary file with a CRC-32 over its payload. It holds the
//! documents, chunk spans and f32 vectors; the BM25 postings and int8 codes are rebuilt on load (they are
//! derived, and rebuilding keeps the file small and the format simple). The same bytes load natively and
//! in the browser.
//!
//! ```text
//! "HEARTHIX" | version u32 | dim u32 | payload length u64 | crc32 u32 | payload
//! payload: n_docs u32, then per document: id, title (u32 length + UTF-8), n_tags u32 + tags,
//!          text (u64 length + UTF-8), n_chunks u32, per chunk: start u64, end u64, dim × f32
//!          version 2 adds: has_ann u8, and if 1: n_nodes u32, per node: document number u32 (in file
//!          order; u32::MAX if removed), chunk u32; then the graph's own bytes (u64 length + ann.rs format)
//! ```
//!
//! Version 1 files (no ANN section) still load.

use super::bm25::key;
use super::{ann::Ann, AnnState, Index, NewDocument, DEAD};
use crate::error::{Error, Result};
use crate::retrieval::chunker::Span;

const MAGIC: &[u8; 8] = b"HEARTHIX";
pub const VERSION: u32 = 2;
const HEADER: usize = 28;

/// How many times its text a document's chunks may span in all (the chunker's overlap makes it about 1.2).
const MAX_SPAN_OVERLAP: usize = 8;

impl Index {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = Vec::new();
        let docs: Vec<_> = self.documents().collect();
        p.extend((docs.len() as u32).to_le_bytes());
        for d in docs {
            put_str32(&mut p, &d.id);
            put_str32(&mut p, &d.title);
            p.extend((d.tags.len() as u32).to_le_bytes());
            for t in &d.tags {
                put_str32(&mut p, t);
            }
            p.extend((d.text.len() as u64).to_le_bytes());
            p.extend(d.text.as_bytes());
            p.extend((d.chunks.len() as u32).to_le_bytes());
            for c in &d.chunks {
                p.extend((c.span.start as u64).to_le_bytes());
                p.extend((c.span.end as u64).to_le_bytes());
                for x in &c.vector {
                    p.extend(x.to_le_bytes());
                }
            }
        }
        match &self.ann {
            None => p.push(0),
            Some(a) => {
                p.push(1);
                // Slots are renumbered on load (documents in file order), so nodes are saved by document number.
                let mut number = vec![u32::MAX; self.docs.len()];
                for (n, slot) in self.docs.iter().enumerate().filter(|(_, d)| d.is_some()).map(|(s, _)| s).enumerate() {
                    number[slot] = n as u32;
                }
                p.extend((a.keys.len() as u32).to_le_bytes());
                for &k in &a.keys {
                    let live = self.live(k).is_some();
                    p.extend((if live { number[(k >> 32) as usize] } else { u32::MAX }).to_le_bytes());
                    p.extend(((k & 0xFFFF_FFFF) as u32).to_le_bytes());
                }
                let g = a.graph.to_bytes();
                p.extend((g.len() as u64).to_le_bytes());
                p.extend(g);
            }
        }
        let mut out = Vec::with_capacity(HEADER + p.len());
        out.extend(MAGIC);
        out.extend(VERSION.to_le_bytes());
        out.extend((self.dim as u32).to_le_bytes());
        out.extend((p.len() as u64).to_le_bytes());
        out.extend(crc32fast::hash(&p).to_le_bytes());
        out.extend(p);
        out
    }

    /// Loads a saved index whose vectors must have `dim` dimensions (the embedder's), checked from the header
    /// before anything is parsed: an index made with another embedder is refused at once.
    pub fn from_bytes_for(b: &[u8], dim: usize) -> Result<Index> {
        if b.len() >= HEADER && &b[..8] == MAGIC {
            let saved = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
            if saved != dim {
                return Err(Error::Invalid(format!(
                    "index file: it holds {saved}-d vectors but the embedder makes {dim}-d"
                )));
            }
        }
        Index::from_bytes(b)
    }

    /// Loads a saved index; a damaged, truncated or foreign file is an error saying what is wrong.
    pub fn from_bytes(b: &[u8]) -> Result<Index> {
        let damaged = |m: String| Error::Invalid(format!("index file: {m}"));
        if b.len() < HEADER {
            return Err(damaged(format!("{} bytes is too short for the {HEADER}-byte header (truncated?)", b.len())));
        }
        if &b[..8] != MAGIC {
            return Err(damaged("not a hearth index (bad magic)".into()));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().unwrap());
        if !(1..=VERSION).contains(&version) {
            return Err(damaged(format!(
                "version {version} is not supported (this build reads versions 1 to {VERSION})"
            )));
        }
        let dim = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
        if dim == 0 || dim > 65536 {
            return Err(damaged(format!("vector dimension {dim} is out of range")));
        }
        let len = u64::from_le_bytes(b[16..24].try_into().unwrap());
        let payload = &b[HEADER..];
        if payload.len() as u64 != len {
            return Err(damaged(format!(
                "payload is {} bytes but the header says {len} (truncated or padded)",
                payload.len()
            )));
        }
        let want = u32::from_le_bytes(b[24..28].try_into().unwrap());
        let got = crc32fast::hash(payload);
        if want != got {
            return Err(damaged(format!(
                "checksum mismatch (stored {want:08x}, computed {got:08x}): the file is damaged"
            )));
        }
        let mut r = Reader { b: payload, pos: 0 };
        let mut index = Index::new(dim);
        let n_docs = r.u32("document count")?;
        for i in 0..n_docs {
            let id = r.str32(&format!("id of document {i}"))?;
            if index.document(&id).is_some() {
                return Err(damaged(format!("document id `{id}` appears twice")));
            }
            let title = r.str32(&format!("title of `{id}`"))?;
            let n_tags = r.count(4, &format!("tag count of `{id}`"))?;
            let tags = (0..n_tags).map(|_| r.str32(&format!("tag of `{id}`"))).collect::<Result<Vec<_>>>()?;
            let text_len = r.u64(&format!("text length of `{id}`"))? as usize;
            let text = r.string(text_len, &format!("text of `{id}`"))?;
            let n_chunks = r.count(16 + 4 * dim, &format!("chunk count of `{id}`"))?;
            let mut spans = Vec::with_capacity(n_chunks);
            let mut vectors = Vec::with_capacity(n_chunks);
            // Chunks overlap by a few sentences; spans that add up to many times the text (each the whole
            // text, say) would make indexing them quadratic, so the file is refused as damaged.
            let span_budget = text.len().saturating_mul(MAX_SPAN_OVERLAP).saturating_add(1 << 16);
            let mut span_bytes = 0usize;
            for c in 0..n_chunks {
                let start = r.u64("chunk start")? as usize;
                let end = r.u64("chunk end")? as usize;
                span_bytes = span_bytes.saturating_add(end.saturating_sub(start));
                if span_bytes > span_budget {
                    return Err(damaged(format!(
                        "the chunks of `{id}` span {span_bytes}+ bytes of a {}-byte text by chunk {c}",
                        text.len()
                    )));
                }
                spans.push(Span { start, end });
                let raw = r.take(4 * dim, "chunk vector")?;
                vectors.push(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect());
            }
            index.add(NewDocument { id, title, tags, text, spans, vectors }).map_err(|e| damaged(e.to_string()))?;
        }
        if version >= 2 && r.take(1, "ANN flag")?[0] == 1 {
            let n = r.count(8, "ANN node count")?;
            let mut keys = Vec::with_capacity(n);
            for _ in 0..n {
                let doc = r.u32("ANN node document")?;
                let chunk = r.u32("ANN node chunk")?;
                // A removed chunk keeps its node (the graph needs it) but points nowhere.
                keys.push(if doc == u32::MAX || doc >= n_docs { DEAD } else { key(doc, chunk) });
            }
            let len = r.u64("ANN length")? as usize;
            let graph = Ann::from_bytes(r.take(len, "ANN graph")?)?;
            if graph.len() != n || graph.dim() != dim {
                return Err(damaged(format!(
                    "the ANN graph has {} nodes of {} dimensions, the index {n} of {dim}",
                    graph.len(),
                    graph.dim()
                )));
            }
            let known: std::collections::HashSet<_> = keys.iter().copied().collect();
            let fresh = index.chunk_keys().filter(|k| !known.contains(k)).collect();
            index.ann = Some(AnnState { graph, keys, fresh });
        }
        if r.pos != payload.len() {
            return Err(damaged(format!("{} unexpected bytes after the last document", payload.len() - r.pos)));
        }
        Ok(index)
    }
}

fn put_str32(p: &mut Vec<u8>, s: &str) {
    p.extend((s.len() as u32).to_le_bytes());
    p.extend(s.as_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.b.len() - self.pos {
            return Err(Error::Invalid(format!("index file: ends inside {what} at payload byte {}", self.pos)));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    /// A count whose items take at least `min` bytes each: larger than the rest of the file allows is damage.
    fn count(&mut self, min: usize, what: &str) -> Result<usize> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min) > self.b.len() - self.pos {
            return Err(Error::Invalid(format!("index file: {what} {n} cannot fit in the bytes that remain")));
        }
        Ok(n)
    }
    fn string(&mut self, n: usize, what: &str) -> Result<String> {
        let raw = self.take(n, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| Error::Invalid(format!("index file: {what} is not valid UTF-8")))
    }
    fn str32(&mut self, what: &str) -> Result<String> {
        let n = self.u32(what)? as usize;
        self.string(n, what)
    }
}
