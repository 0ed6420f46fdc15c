//! Fuzz targets: each takes arbitrary bytes and drives one of hearth's input paths the way a user's file
//! would. A target returns normally for every input (an `Err` from hearth is the right answer to bad
//! input); a panic, a hang or runaway memory is a finding. `main.rs` mutates seed inputs through them;
//! `tests/replay.rs` replays the committed corpus and regression inputs in `make test`.

use std::sync::OnceLock;

pub mod seeds;

use hearth::gguf::Gguf;
use hearth::llm::chat_template::{ChatTemplate, Message};
use hearth::llm::kv_cache::KvCache;
use hearth::llm::tokenizer::Tokenizer;
use hearth::llm::transformer::Scratch;
use hearth::retrieval::chunker::{chunk, ChunkSpec};
use hearth::retrieval::format::{indexed_text, Format};
use hearth::retrieval::index::{Index, Mode, SearchOptions};
use hearth::testutil::{tiny_gguf, TinySpec};
use hearth::Model;

pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    /// Executions `make fuzz` asks of it.
    pub execs: u64,
    /// Heap bytes one input may take beyond 64× its size (the model's or tokenizer's own buffers; for
    /// templates, minijinja's cap of 100 MB on one string operation, which we cannot lower).
    pub memory_base: usize,
}

const MB: usize = 1 << 20;

pub const TARGETS: &[Target] = &[
    Target { name: "gguf", run: gguf, execs: 1_000_000, memory_base: 16 * MB },
    Target { name: "index", run: index, execs: 1_000_000, memory_base: 16 * MB },
    Target { name: "chunker", run: chunker, execs: 1_000_000, memory_base: 16 * MB },
    Target { name: "tokenizer", run: tokenizer, execs: 1_000_000, memory_base: 16 * MB },
    Target { name: "template", run: template, execs: 1_000_000, memory_base: 256 * MB },
    Target { name: "forward", run: forward, execs: 100_000, memory_base: 16 * MB },
];

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The GGUF header, metadata and tensor table; then the tokenizer built from it.
fn gguf(data: &[u8]) {
    if let Ok(g) = Gguf::parse(data) {
        let _ = Tokenizer::from_gguf(&g);
    }
}

/// A whole model from the bytes, then one forward step of one token and of a short batch.
fn forward(data: &[u8]) {
    let Ok(model) = Model::load(data.to_vec()) else { return };
    let c = model.config();
    let mut cache = KvCache::new(c, 8);
    let mut s = Scratch::default();
    let _ = model.transformer.forward(&mut s, &mut cache, &[1], false);
    let _ = model.transformer.forward(&mut s, &mut cache, &[2, 3, 1], true);
}

/// A saved index: loaded, then searched (so the loaded structures are used, not just parsed).
fn index(data: &[u8]) {
    if let Ok(ix) = Index::from_bytes(data) {
        let qv: Vec<f32> = (0..ix.dim()).map(|i| (i as f32).sin()).collect();
        for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
            let _ = ix.search("travel policy approval", Some(&qv), &SearchOptions { mode, k: 3, ..Default::default() });
        }
        let _ = ix.to_bytes();
    }
}

/// A document of the format the first byte picks, reduced to text and chunked; every chunk must be a valid
/// span of the text within the token and byte budgets.
fn chunker(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let format = [Format::Text, Format::Markdown, Format::Html][sel as usize % 3];
    let raw = String::from_utf8_lossy(rest);
    let text = indexed_text(if sel & 4 != 0 { "Title" } else { "" }, &raw, format);
    let spec = ChunkSpec { max_tokens: 8 + (sel as usize >> 3) % 24, overlap_tokens: 4 };
    // About the embedder's count: a word piece per 4 bytes of a word, one token per punctuation mark.
    let count = |s: &str| s.split_whitespace().map(|w| w.len().div_ceil(4)).sum::<usize>();
    for sp in chunk(&text, spec, &count) {
        assert!(sp.start < sp.end && sp.end <= text.len(), "span {sp:?} outside a {}-byte text", text.len());
        assert!(text.is_char_boundary(sp.start) && text.is_char_boundary(sp.end), "span {sp:?} splits a character");
        assert!(
            sp.end - sp.start <= spec.max_bytes() || text[sp.start..sp.end].chars().count() == 1,
            "a {}-byte chunk",
            sp.end - sp.start
        );
    }
}

/// The tokenizers the first byte picks between: SentencePiece (the tiny test vocabulary, or Gemma 3's when
/// the models are fetched) and byte-level BPE (SmolLM2's, when fetched).
fn tokenizers() -> &'static [Tokenizer] {
    static T: OnceLock<Vec<Tokenizer>> = OnceLock::new();
    T.get_or_init(|| {
        let mut v = vec![Tokenizer::from_gguf(&Gguf::parse(&tiny_gguf(&TinySpec::default())).unwrap()).unwrap()];
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/cache/");
        for p in ["smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "gemma3-270m/gemma-3-270m-q4_k_m.gguf"] {
            if let Ok(bytes) = std::fs::read(format!("{root}{p}")) {
                v.push(Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap());
            }
        }
        v
    })
}

/// User text never becomes a control token, and decoding gives the text back: exactly where the vocabulary
/// has a token for every byte (SentencePiece's byte fallback), and otherwise minus the bytes it has none for
/// (SmolLM2's byte-level BPE lacks some control and lead bytes; llama.cpp drops them too), never changed or
/// added. SentencePiece's space prefix is allowed for.
fn tokenizer(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let all = tokenizers();
    let t = &all[sel as usize % all.len()];
    let text = String::from_utf8_lossy(rest);
    let ids = t.encode(&text, false);
    for &id in &ids {
        assert!(!t.is_control(id), "user text {text:?} produced control token {id} ({:?})", t.token_text(id));
    }
    let back: Vec<u8> = ids.iter().flat_map(|&i| t.piece(i).iter().copied()).collect();
    // SentencePiece's space prefix may stand first in `back` and nowhere in the text.
    let verdict = lossless_but_unspellable(t, &back, text.as_bytes());
    if let (Err(e), Some(rest)) = (&verdict, back.strip_prefix(b" ")) {
        lossless_but_unspellable(t, rest, text.as_bytes()).unwrap_or_else(|_| panic!("decoding {text:?}: {e}"));
    }
}

/// Whether `back` is `text` with only bytes left out that the vocabulary has no token for.
fn lossless_but_unspellable(t: &Tokenizer, back: &[u8], text: &[u8]) -> Result<(), String> {
    let (mut a, mut b) = (back, text.iter());
    let mut dropped = Vec::new();
    while let Some((&x, tail)) = a.split_first() {
        match b.next() {
            Some(&y) if y == x => a = tail,
            Some(&y) => dropped.push(y),
            None => return Err(format!("added bytes: {:?}", String::from_utf8_lossy(back))),
        }
    }
    dropped.extend(b);
    match dropped.into_iter().find(|&byte| t.byte_token(byte).is_some()) {
        Some(byte) => Err(format!("lost byte {byte:#04x}, which the vocabulary has a token for")),
        None => Ok(()),
    }
}

/// A chat template (the input, as a model file would carry it) rendered for a short conversation.
fn template(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    let t = ChatTemplate::new(Some(&src), |s| s.starts_with('<'), "<s>", "</s>");
    let msgs = [
        Message::new("system", "Be brief."),
        Message::new("user", "Hi <|im_start|> {{ x }}"),
        Message::new("assistant", "Hello."),
        Message::new("user", "Bye"),
    ];
    let _ = t.render_parts(&msgs, true);
}
