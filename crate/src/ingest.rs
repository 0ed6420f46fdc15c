//! Documents → index: read (folders of .txt/.md/.html, or a BEIR corpus.jsonl), chunk, embed, add.
//! Shared by the CLI; the browser does the same steps through the wasm API.

use crate::chunker::{chunk, indexed_text, ChunkSpec, Format};
use crate::embedder::Embedder;
use crate::error::{Error, Result};
use crate::index::{Index, NewDocument};

/// A document before chunking.
pub struct RawDocument {
    pub id: String,
    pub title: String,
    pub text: String,
    pub format: Format,
    pub tags: Vec<String>,
}

/// Chunks and embeds `docs` into `index`, reporting `(chunks done, chunks total)` as it goes.
pub fn add_documents(index: &mut Index, embedder: &Embedder, docs: Vec<RawDocument>, spec: ChunkSpec, mut progress: impl FnMut(usize, usize)) -> Result<()> {
    let count = |s: &str| embedder.count_tokens(s);
    let prepared: Vec<(RawDocument, String, Vec<crate::chunker::Span>)> = docs
        .into_iter()
        .map(|d| {
            let text = indexed_text(&d.title, &d.text, d.format);
            let spans = chunk(&text, spec, &count);
            (d, text, spans)
        })
        .collect();
    let total: usize = prepared.iter().map(|p| p.2.len()).sum();
    let mut done = 0;
    progress(0, total);
    // Embed in groups so progress moves, and documents are added whole.
    let mut batch: Vec<(RawDocument, String, Vec<crate::chunker::Span>)> = Vec::new();
    let mut batch_chunks = 0;
    let mut flush = |batch: &mut Vec<(RawDocument, String, Vec<crate::chunker::Span>)>, index: &mut Index, done: &mut usize| -> Result<()> {
        let texts: Vec<&str> = batch.iter().flat_map(|(_, t, spans)| spans.iter().map(move |s| &t[s.start..s.end])).collect();
        let mut vecs = embedder.embed(&texts)?.into_iter();
        for (d, text, spans) in batch.drain(..) {
            let vectors: Vec<Vec<f32>> = vecs.by_ref().take(spans.len()).collect();
            *done += spans.len();
            index.add(NewDocument { id: d.id, title: d.title, tags: d.tags, text, spans, vectors })?;
        }
        progress(*done, total);
        Ok(())
    };
    for p in prepared {
        batch_chunks += p.2.len();
        batch.push(p);
        if batch_chunks >= 64 {
            flush(&mut batch, index, &mut done)?;
            batch_chunks = 0;
        }
    }
    flush(&mut batch, index, &mut done)
}

/// Reads a BEIR `corpus.jsonl` (`_id`, `title`, `text` per line).
pub fn read_beir_corpus(jsonl: &str) -> Result<Vec<RawDocument>> {
    jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l).map_err(|e| Error::Invalid(format!("corpus line {}: {e}", i + 1)))?;
            let s = |k: &str| v[k].as_str().map(str::to_string);
            Ok(RawDocument {
                id: beir_id(&v).ok_or_else(|| Error::Invalid(format!("corpus line {}: no `_id`", i + 1)))?,
                title: s("title").unwrap_or_default(),
                text: s("text").unwrap_or_default(),
                format: Format::Text,
                tags: Vec::new(),
            })
        })
        .collect()
}

/// A BEIR line's `_id`: a string, or in some files a number.
pub fn beir_id(v: &serde_json::Value) -> Option<String> {
    v["_id"].as_str().map(str::to_string).or_else(|| v["_id"].as_u64().map(|n| n.to_string()))
}

/// Reads `.txt`, `.md` and `.html` files under `dir` (recursively, in name order); ids are the paths
/// relative to `dir`. Non-UTF-8 bytes become U+FFFD.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_folder(dir: &std::path::Path) -> Result<Vec<RawDocument>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::Io(format!("cannot read {}: {e}", d.display())))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(ext) = p.extension().and_then(|e| e.to_str()) {
                if ["txt", "md", "markdown", "html", "htm"].contains(&ext.to_ascii_lowercase().as_str()) {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).map_err(|e| Error::Io(format!("cannot read {}: {e}", p.display())))?;
            let id = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().into_owned();
            Ok(RawDocument { format: Format::from_name(&id), title: String::new(), text: String::from_utf8_lossy(&bytes).into_owned(), id, tags: Vec::new() })
        })
        .collect()
}
