//! A search hit with its text and its document's title: what a prompt numbers, a citation reveals and the
//! page's search returns. Made in one place, from the index, for the CLI, the evaluations and the bindings.

use serde::{Deserialize, Serialize};

use crate::retrieval::index::{Hit, Index};

/// A retrieved passage as the prompt shows it and a citation reveals it.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Passage {
    pub doc_id: String,
    pub title: String,
    pub text: String,
    pub chunk: usize,
    pub start: usize,
    pub end: usize,
    /// The search score (higher is better); used to leave out passages far weaker than the best one.
    pub score: f32,
}

impl Passage {
    /// The passage a search hit points at in `index` (None if its document is gone).
    pub fn from_hit(index: &Index, h: &Hit) -> Option<Passage> {
        let d = index.document(&h.doc_id)?;
        Some(Passage {
            doc_id: h.doc_id.clone(),
            title: d.title.clone(),
            text: d.text[h.start..h.end].to_string(),
            chunk: h.chunk,
            start: h.start,
            end: h.end,
            score: h.score,
        })
    }
}
