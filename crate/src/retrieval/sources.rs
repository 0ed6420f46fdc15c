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

/// Reads the document files ([`Format::of_file`]: .txt, .md, .html …, and .pdf) under `dir` (recursively, in
/// name order); ids are the paths relative to `dir`. Non-UTF-8 bytes become U+FFFD.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_folder(dir: &std::path::Path) -> Result<Vec<RawDocument>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::Io(format!("cannot read {}: {e}", d.display())))? {
            let p = e?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() {
                stack.push(p);
            } else if is_pdf(name) {
                files.push((p, None));
            } else if let Some(format) = Format::of_file(name) {
                files.push((p, Some(format)));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
        .into_iter()
        .map(|(p, format)| {
            let bytes = std::fs::read(&p).map_err(|e| Error::Io(format!("cannot read {}: {e}", p.display())))?;
            let id = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().into_owned();
            let (format, text) = match format {
                Some(format) => (format, String::from_utf8_lossy(&bytes).into_owned()),
                None => (Format::Text, pdf_text(&bytes, &id)?),
            };
            // Titled by the file's name, as the page titles a file a user adds.
            let title = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(RawDocument { format, title, text, id, tags: Vec::new() })
        })
        .collect()
}

#[cfg(not(target_arch = "wasm32"))]
fn is_pdf(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("pdf"))
}

/// The text of a PDF (the page uses pdf.js; natively the pdf-extract crate). A PDF it cannot read, or one
/// without text (scanned pages), is an error naming the file. pdf-extract panics on some malformed files:
/// that is caught and reported the same way.
#[cfg(not(target_arch = "wasm32"))]
pub fn pdf_text(bytes: &[u8], name: &str) -> Result<String> {
    let cannot = |why: String| Error::Invalid(format!("{name}: cannot read the text of this PDF ({why})"));
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the panic becomes the error below, not a message on stderr
    let got = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    std::panic::set_hook(hook);
    let text = match got {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => return Err(cannot(e.to_string())),
        Err(_) => return Err(cannot("the file is malformed".into())),
    };
    if text.trim().is_empty() {
        return Err(Error::Invalid(format!("{name}: no text found in this PDF (scanned pages would need OCR)")));
    }
    Ok(text)
}
