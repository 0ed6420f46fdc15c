//! The JS edge's own shapes, as named types with generated TypeScript (tsify), beside those the core types
//! derive where they are defined (`Passage`, `Evidence`, `GenerateParams`, `SearchOptions`, …); and the one
//! way options come in from JS: a missing value is the defaults, a key no option has is an error (a
//! misspelled `maxTokens` would otherwise be ignored without a word).

use serde::de::DeserializeOwned;
use serde::Serialize;
use tsify::Tsify;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js_err;

/// What `beginRag` prefilled: how many of the passages fitted, and the prompt's length in tokens.
#[derive(Serialize, Tsify)]
pub struct RagStart {
    pub used: usize,
    pub prompt_tokens: usize,
}

/// A document of the library, as `documents()` lists it.
#[derive(Serialize, Tsify)]
pub struct DocumentSummary {
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub chunks: usize,
    /// Bytes of its indexed text.
    pub bytes: usize,
    /// From a read-only (prebuilt) index: it cannot be removed and is not saved with the user's documents.
    pub read_only: bool,
}

/// The ANN graph: chunks it was built over, and chunks added since (searched exactly).
#[derive(Serialize, Tsify)]
pub struct AnnStatus {
    pub graph: usize,
    pub fresh: usize,
}

/// The defaults of answers from documents, shared with the CLI (`hearth ask`).
#[derive(Serialize, Tsify)]
pub struct RagDefaults {
    /// Evidence sentences in the prompt.
    pub evidence: usize,
    /// The best-evidence score under which the answer is `not_found`.
    pub min_evidence: f32,
    /// The answer's token limit.
    pub max_tokens: usize,
    pub not_found: String,
}

/// A value from JS that must be there (`what` names it in the error).
pub fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| js_err(format!("invalid {what}: {e}")))
}

/// Options from JS: `undefined` or `null` give the defaults; a key that is not one of `T`'s options is an
/// error naming it. `T`'s options are the keys it serialises to (so flattened options count too).
pub fn parse_options<T: DeserializeOwned + Serialize + Default>(value: JsValue, what: &str) -> Result<T, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    let known = serde_json::to_value(T::default()).map_err(js_err)?;
    let known = known.as_object().ok_or_else(|| js_err(format!("{what} are not an object")))?;
    if let Some(object) = value.dyn_ref::<js_sys::Object>() {
        for key in js_sys::Object::keys(object).iter().filter_map(|k| k.as_string()) {
            if !known.contains_key(&key) {
                let mut names: Vec<&str> = known.keys().map(String::as_str).collect();
                names.sort_unstable();
                return Err(js_err(format!("{what}: unknown option `{key}` (known: {})", names.join(", "))));
            }
        }
    }
    from_js(value, what)
}

/// A value from JS that may be left out: `undefined` or `null` give `T`'s default (no tags, no history).
pub fn optional<T: DeserializeOwned + Default>(value: JsValue, what: &str) -> Result<T, JsError> {
    if value.is_undefined() || value.is_null() {
        Ok(T::default())
    } else {
        from_js(value, what)
    }
}
