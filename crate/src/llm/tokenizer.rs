//! Tokenizer built from GGUF metadata, for both vocabulary kinds our models use:
//! - `llama` (SentencePiece): merge adjacent symbols by the score of the merged piece, with byte fallback;
//! - `gpt2` (byte-level BPE): split with the model's pre-tokenizer regexes, then merge by rank.
//!
//! Both follow llama.cpp's algorithms step by step (tie-breaking included) because users compare token
//! counts and outputs against it; a committed fixture checks the ids match. Special-token text in user
//! input is plain text unless the caller asks for special parsing.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use aho_corasick::AhoCorasick;
use fancy_regex::Regex;

use crate::error::{Error, Result};
use crate::gguf::{Array, Gguf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_gguf(v: i64) -> TokenType {
        match v {
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Normal,
        }
    }
}

// One per loaded model and never moved in a hot path: boxing the byte tables would only add indirection.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Spm { add_space_prefix: bool, byte_tokens: [Option<u32>; 256] },
    Bpe { merges: HashMap<(u32, u32), (u32, u32)>, regexes: Vec<Regex>, ignore_merges: bool, byte_chars: [char; 256] },
}

pub struct Tokenizer {
    kind: Kind,
    texts: Vec<String>,
    types: Vec<TokenType>,
    scores: Vec<f32>,
    to_id: HashMap<String, u32>,
    /// What each token decodes to.
    pieces: Vec<Vec<u8>>,
    /// Special tokens, longest first (llama.cpp's partition order), with a matcher to find which occur.
    specials: Vec<u32>,
    special_finder: Option<AhoCorasick>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    unk: Option<u32>,
    /// Tokens that end a turn (EOS, EOT, and the chat markers that mean the same).
    eog: Vec<u32>,
}

const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Qwen2's pre-tokenizer: llama3's, but digits one at a time.
const QWEN2_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl Tokenizer {
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer> {
        let err = |m: String| Error::Tokenizer(m);
        let model = g
            .get_str("tokenizer.ggml.model")
            .ok_or_else(|| err("metadata `tokenizer.ggml.model` is missing".into()))?;
        let texts = match g.get_array("tokenizer.ggml.tokens") {
            Some(Array::Str(v)) if !v.is_empty() => v.clone(),
            _ => return Err(err("metadata `tokenizer.ggml.tokens` is missing or not a list of strings".into())),
        };
        let n = texts.len();
        let types: Vec<TokenType> = match g.get_array("tokenizer.ggml.token_type") {
            Some(Array::Int(v)) if v.len() == n => v.iter().map(TokenType::from_gguf).collect(),
            None => vec![TokenType::Normal; n],
            Some(a) => return Err(err(format!("`tokenizer.ggml.token_type` has {} entries for {n} tokens", a.len()))),
        };
        let scores: Vec<f32> = match g.get_array("tokenizer.ggml.scores") {
            Some(Array::F32(v)) if v.len() == n => v.clone(),
            None => vec![0.0; n],
            Some(a) => return Err(err(format!("`tokenizer.ggml.scores` has {} entries for {n} tokens", a.len()))),
        };
        let mut to_id = HashMap::with_capacity(n);
        for (i, t) in texts.iter().enumerate() {
            // On duplicates the last id wins, as in llama.cpp's map.
            to_id.insert(t.clone(), i as u32);
        }
        let id_key = |k: &str| -> Result<Option<u32>> {
            match g.get_u64(k) {
                None => Ok(None),
                Some(v) if (v as usize) < n => Ok(Some(v as u32)),
                Some(v) => Err(err(format!("`{k}` = {v} is outside the vocabulary of {n}"))),
            }
        };
        let bos = id_key("tokenizer.ggml.bos_token_id")?;
        let eos = id_key("tokenizer.ggml.eos_token_id")?;
        let eot = id_key("tokenizer.ggml.eot_token_id")?;
        let eom = id_key("tokenizer.ggml.eom_token_id")?;
        let unk = id_key("tokenizer.ggml.unknown_token_id")?;

        let (kind, default_bos) = match model {
            "llama" => {
                let mut byte_tokens = [None; 256];
                for (b, slot) in byte_tokens.iter_mut().enumerate() {
                    *slot = to_id.get(&format!("<0x{b:02X}>")).copied();
                }
                let add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix").unwrap_or(true);
                (Kind::Spm { add_space_prefix, byte_tokens }, true)
            }
            "gpt2" => {
                let pre = g.get_str("tokenizer.ggml.pre").unwrap_or("default");
                let (patterns, ignore_merges): (Vec<&str>, bool) = match pre {
                    "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
                        (vec![r"\p{N}", GPT2_PATTERN], false)
                    }
                    "gpt-2" | "gpt2" | "phi-2" | "jina-es" | "jina-de" | "olmo" | "jais" => (vec![GPT2_PATTERN], false),
                    "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => (vec![LLAMA3_PATTERN], true),
                    "qwen2" | "deepseek-r1-qwen" => (vec![QWEN2_PATTERN], false),
                    other => {
                        return Err(err(format!(
                            "BPE pre-tokenizer `{other}` is not supported (supported: smollm, gpt2, llama3, qwen2)"
                        )))
                    }
                };
                let regexes = patterns
                    .iter()
                    .map(|p| Regex::new(p).map_err(|e| err(format!("pre-tokenizer regex: {e}"))))
                    .collect::<Result<Vec<_>>>()?;
                let merges_list = match g.get_array("tokenizer.ggml.merges") {
                    Some(Array::Str(v)) => v,
                    _ => return Err(err("metadata `tokenizer.ggml.merges` is missing (required for BPE)".into())),
                };
                let mut merges = HashMap::with_capacity(merges_list.len());
                for (rank, m) in merges_list.iter().enumerate() {
                    // "left right": the first space separates the parts (byte-level text has no raw spaces).
                    let Some((sp, _)) = m.char_indices().skip(1).find(|&(_, c)| c == ' ') else { continue };
                    let (l, r) = (&m[..sp], &m[sp + 1..]);
                    let (Some(&li), Some(&ri), Some(&res)) =
                        (to_id.get(l), to_id.get(r), to_id.get(&format!("{l}{r}")))
                    else {
                        continue;
                    };
                    merges.entry((li, ri)).or_insert((rank as u32, res));
                }
                (Kind::Bpe { merges, regexes, ignore_merges, byte_chars: byte_chars() }, false)
            }
            other => return Err(err(format!("tokenizer model `{other}` is not supported (supported: llama, gpt2)"))),
        };
        let add_bos = g.get_bool("tokenizer.ggml.add_bos_token").unwrap_or(default_bos);
        let add_eos = g.get_bool("tokenizer.ggml.add_eos_token").unwrap_or(false);

        let byte_decoder: HashMap<char, u8> = byte_chars().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        let pieces = texts
            .iter()
            .zip(&types)
            .map(|(t, ty)| match (ty, &kind) {
                (TokenType::Control | TokenType::Unused | TokenType::Unknown, _) => Vec::new(),
                (TokenType::Byte, _) => parse_byte_token(t).map(|b| vec![b]).unwrap_or_default(),
                (TokenType::UserDefined, _) => t.as_bytes().to_vec(),
                (_, Kind::Spm { .. }) => t.replace('\u{2581}', " ").into_bytes(),
                (_, Kind::Bpe { .. }) => t
                    .chars()
                    .map(|c| byte_decoder.get(&c).copied())
                    .collect::<Option<Vec<u8>>>()
                    .unwrap_or_else(|| t.as_bytes().to_vec()),
            })
            .collect();

        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&i| matches!(types[i as usize], TokenType::Control | TokenType::UserDefined | TokenType::Unknown))
            .filter(|&i| !texts[i as usize].is_empty())
            .collect();
        specials.sort_by(|&a, &b| texts[b as usize].len().cmp(&texts[a as usize].len()));
        let special_finder = if specials.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::new(specials.iter().map(|&i| &texts[i as usize]))
                    .map_err(|e| err(format!("special tokens: {e}")))?,
            )
        };

        let mut eog: Vec<u32> = [eos, eot, eom].into_iter().flatten().collect();
        // The end markers llama.cpp also treats as end of generation, whatever their declared type.
        for marker in ["<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "</s>"] {
            if let Some(&id) = to_id.get(marker) {
                if !eog.contains(&id) {
                    eog.push(id);
                }
            }
        }

        Ok(Tokenizer {
            kind,
            texts,
            types,
            scores,
            to_id,
            pieces,
            specials,
            special_finder,
            bos,
            eos,
            add_bos,
            add_eos,
            unk,
            eog,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.texts.len()
    }

    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(|s| s.as_str())
    }

    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.to_id.get(text).copied()
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.types.get(id as usize) == Some(&TokenType::Control)
    }

    /// Whether `id` ends a turn (EOS, EOT, or a chat end marker).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }

    pub fn eog_tokens(&self) -> &[u32] {
        &self.eog
    }

    /// The token that spells byte `b` on its own, if the vocabulary has one (SentencePiece's `<0xNN>`
    /// byte fallback; byte-level BPE's character for the byte). A byte without one is dropped when encoding,
    /// as llama.cpp does.
    pub fn byte_token(&self, b: u8) -> Option<u32> {
        match &self.kind {
            Kind::Spm { byte_tokens, .. } => byte_tokens[b as usize],
            Kind::Bpe { byte_chars, .. } => self.to_id.get(byte_chars[b as usize].to_string().as_str()).copied(),
        }
    }

    /// The bytes token `id` stands for in generated text (control tokens stand for nothing).
    pub fn piece(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Decodes ids to text (invalid UTF-8 across the whole sequence becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&i| self.piece(i).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Tokenizes `text` without BOS/EOS. With `parse_special`, control-token text (such as `<|im_start|>`)
    /// becomes that token; without it, only user-defined tokens are matched, as in llama.cpp.
    pub fn encode(&self, text: &str, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        let mut prev_special = true; // SentencePiece adds its space prefix at the start and after a special token
        for frag in self.partition(text, parse_special) {
            match frag {
                Frag::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Frag::Text(s) => {
                    match &self.kind {
                        Kind::Spm { add_space_prefix, byte_tokens } => {
                            let mut t = String::with_capacity(s.len() + 3);
                            if *add_space_prefix && prev_special {
                                t.push(' ');
                            }
                            t.push_str(s);
                            let t = t.replace(' ', "\u{2581}");
                            self.spm(&t, byte_tokens, &mut out);
                        }
                        Kind::Bpe { merges, regexes, ignore_merges, byte_chars } => {
                            for word in split_words(s, regexes) {
                                let enc: String = word.bytes().map(|b| byte_chars[b as usize]).collect();
                                self.bpe_word(&enc, merges, *ignore_merges, &mut out);
                            }
                        }
                    }
                    prev_special = false;
                }
            }
        }
        out
    }

    /// Tokenizes with BOS (and EOS) as the model's metadata asks.
    pub fn encode_with_specials(&self, text: &str, parse_special: bool) -> Vec<u32> {
        let mut v = Vec::new();
        if self.add_bos {
            v.extend(self.bos);
        }
        v.extend(self.encode(text, parse_special));
        if self.add_eos {
            v.extend(self.eos);
        }
        v
    }

    fn partition<'t>(&self, text: &'t str, parse_special: bool) -> Vec<Frag<'t>> {
        if text.is_empty() {
            return Vec::new(); // llama.cpp: empty text gives no tokens, not even a space prefix
        }
        let mut frags = vec![Frag::Text(text)];
        let Some(finder) = &self.special_finder else { return frags };
        // Which specials occur at all (overlapping search, so none is missed); then llama.cpp's order:
        // longest first, each splitting every text fragment at all its occurrences left to right.
        let mut present = vec![false; self.specials.len()];
        for m in finder.find_overlapping_iter(text) {
            present[m.pattern().as_usize()] = true;
        }
        for (k, &id) in self.specials.iter().enumerate() {
            if !present[k] {
                continue;
            }
            let ty = self.types[id as usize];
            if !parse_special && ty != TokenType::UserDefined {
                continue;
            }
            let pat = self.texts[id as usize].as_str();
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                match f {
                    Frag::Text(s) => {
                        let mut rest = s;
                        while let Some(i) = rest.find(pat) {
                            if i > 0 {
                                next.push(Frag::Text(&rest[..i]));
                            }
                            next.push(Frag::Token(id));
                            rest = &rest[i + pat.len()..];
                        }
                        if !rest.is_empty() {
                            next.push(Frag::Text(rest));
                        }
                    }
                    tok => next.push(tok),
                }
            }
            frags = next;
        }
        frags
    }

    /// SentencePiece: repeatedly merge the adjacent pair whose concatenation is the best-scoring piece.
    fn spm(&self, text: &str, byte_tokens: &[Option<u32>; 256], out: &mut Vec<u32>) {
        let mut syms = symbols(text);
        merge(&mut syms, |l, r| {
            let id = *self.to_id.get(&text[l.start..r.end])?;
            Some((self.scores[id as usize], id))
        });
        for s in Linked::new(&syms) {
            let piece = &text[s.start..s.end];
            match self.to_id.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for b in piece.bytes() {
                        if let Some(id) = byte_tokens[b as usize].or(self.unk) {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }

    /// Byte-level BPE on one pre-tokenized word (already mapped to byte characters).
    fn bpe_word(&self, word: &str, merges: &HashMap<(u32, u32), (u32, u32)>, ignore_merges: bool, out: &mut Vec<u32>) {
        if ignore_merges {
            if let Some(&id) = self.to_id.get(word) {
                out.push(id);
                return;
            }
        }
        let mut syms = symbols(word);
        for s in syms.iter_mut() {
            s.id = self.to_id.get(&word[s.start..s.end]).copied();
        }
        merge(&mut syms, |l, r| {
            let &(rank, res) = merges.get(&(l.id?, r.id?))?;
            Some((-(rank as f32), res))
        });
        for s in Linked::new(&syms) {
            match s.id {
                Some(id) => out.push(id),
                None => {
                    for ch in word[s.start..s.end].chars() {
                        if let Some(&id) = self.to_id.get(ch.encode_utf8(&mut [0; 4]) as &str) {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }
}

enum Frag<'t> {
    Text(&'t str),
    Token(u32),
}

#[derive(Debug, Clone)]
struct Sym {
    start: usize,
    end: usize,
    prev: usize,
    next: usize,
    id: Option<u32>,
}

const NONE: usize = usize::MAX;

/// One symbol per UTF-8 character, linked in order.
fn symbols(text: &str) -> Vec<Sym> {
    let mut v: Vec<Sym> = Vec::with_capacity(text.len());
    for (i, (start, ch)) in text.char_indices().enumerate() {
        v.push(Sym {
            start,
            end: start + ch.len_utf8(),
            prev: if i == 0 { NONE } else { i - 1 },
            next: i + 1,
            id: None,
        });
    }
    if let Some(last) = v.last_mut() {
        last.next = NONE;
    }
    v
}

struct Bigram {
    priority: f32,
    left: usize,
    right: usize,
    len: usize,
    id: u32,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// Highest priority first; on ties the leftmost pair (llama.cpp's comparators).
    fn cmp(&self, o: &Self) -> Ordering {
        self.priority.total_cmp(&o.priority).then(o.left.cmp(&self.left))
    }
}

/// Merges adjacent symbols, best pair first, while `pair` says a pair may merge (and into what id).
fn merge(syms: &mut [Sym], pair: impl Fn(&Sym, &Sym) -> Option<(f32, u32)>) {
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<Bigram>, syms: &[Sym], l: usize, r: usize| {
        if l == NONE || r == NONE {
            return;
        }
        if let Some((priority, id)) = pair(&syms[l], &syms[r]) {
            heap.push(Bigram { priority, left: l, right: r, len: syms[r].end - syms[l].start, id });
        }
    };
    for i in 1..syms.len() {
        push(&mut heap, syms, i - 1, i);
    }
    while let Some(b) = heap.pop() {
        let (l, r) = (&syms[b.left], &syms[b.right]);
        // Skip pairs made stale by an earlier merge.
        if l.start == l.end || r.start == r.end || l.next != b.right || r.end - l.start != b.len {
            continue;
        }
        let r_next = r.next;
        let r_end = r.end;
        syms[b.left].end = r_end;
        syms[b.left].next = r_next;
        syms[b.left].id = Some(b.id);
        syms[b.right].end = syms[b.right].start; // emptied
        if r_next != NONE {
            syms[r_next].prev = b.left;
        }
        let prev = syms[b.left].prev;
        push(&mut heap, syms, prev, b.left);
        push(&mut heap, syms, b.left, r_next);
    }
}

/// Walks the linked symbols that survived merging.
struct Linked<'a> {
    syms: &'a [Sym],
    i: usize,
}

impl<'a> Linked<'a> {
    fn new(syms: &'a [Sym]) -> Self {
        Linked { syms, i: if syms.is_empty() { NONE } else { 0 } }
    }
}

impl<'a> Iterator for Linked<'a> {
    type Item = &'a Sym;
    fn next(&mut self) -> Option<&'a Sym> {
        if self.i == NONE {
            return None;
        }
        let s = &self.syms[self.i];
        self.i = s.next;
        Some(s)
    }
}

/// Applies each regex in turn to every piece, keeping both the matches and the text between them
/// (llama.cpp's `unicode_regex_split`).
fn split_words<'t>(text: &'t str, regexes: &[Regex]) -> Vec<&'t str> {
    let mut pieces = vec![text];
    for re in regexes {
        let mut next = Vec::with_capacity(pieces.len() * 2);
        for p in pieces {
            let mut last = 0;
            for m in re.find_iter(p) {
                let Ok(m) = m else { break };
                if m.start() > last {
                    next.push(&p[last..m.start()]);
                }
                if m.end() > m.start() {
                    next.push(m.as_str());
                }
                last = m.end();
            }
            if last < p.len() {
                next.push(&p[last..]);
            }
        }
        pieces = next;
    }
    pieces
}

/// GPT-2's byte-to-character map: printable bytes stand for themselves, the rest for code points from 256.
fn byte_chars() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..256u32 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        map[b as usize] = if printable {
            char::from_u32(b).unwrap()
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap()
        };
    }
    map
}

fn parse_byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// Turns a stream of token bytes into text, holding back an incomplete UTF-8 sequence until the token
/// that completes it arrives.
#[derive(Default)]
pub struct TextStream {
    pending: Vec<u8>,
}

impl TextStream {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let ok = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..ok]).unwrap());
                    match e.error_len() {
                        // Incomplete sequence at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..ok);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..ok + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is still held back at the end of generation, made valid.
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests;
