//! Where the CLI's documents come from: a folder of document files, or a BEIR `corpus.jsonl`. They are
//! added through [`crate::retrieval::Library::add_documents`], the same checks and steps as the page's.

use crate::error::{Error, Result};
use crate::retrieval::format::Format;
use crate::retrieval::library::RawDocument;

/// Reads a BEIR `corpus.jsonl` (`_id`, `title`, `text` per line).
pub fn read_beir_corpus(jsonl: &str) -> Result<Vec<RawDocument>> {
    jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: serde_json::Value =
                serde_json::from_str(l).map_err(|e| Error::Invalid(format!("corpus line {}: {e}", i + 1)))?;
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

/// Reads the document files ([`Format::of_file`]: .txt, .md, .html …) under `dir` (recursively, in name
/// order); ids are the paths relative to `dir`. Non-UTF-8 bytes become U+FFFD.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_folder(dir: &std::path::Path) -> Result<Vec<RawDocument>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::Io(format!("cannot read {}: {e}", d.display())))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(format) = p.file_name().and_then(|n| n.to_str()).and_then(Format::of_file) {
                files.push((p, format));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
        .into_iter()
        .map(|(p, format)| {
            let bytes = std::fs::read(&p).map_err(|e| Error::Io(format!("cannot read {}: {e}", p.display())))?;
            let id = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().into_owned();
            Ok(RawDocument {
                format,
                title: String::new(),
                text: String::from_utf8_lossy(&bytes).into_owned(),
                id,
                tags: Vec::new(),
            })
        })
        .collect()
}
