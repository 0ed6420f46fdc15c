//! Document text → passages. The text (see [`crate::retrieval::format`]) is split into sentences inside
//! paragraphs, and sentences are packed into chunks of at most `max_tokens` embedder
//! tokens, with an overlap of whole trailing sentences. A chunk is a byte range of the document's text,
//! so an answer can cite the exact passage.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ChunkSpec {
    pub max_tokens: usize,
    /// Tokens of trailing whole sentences repeated at the start of the next chunk.
    pub overlap_tokens: usize,
}

impl Default for ChunkSpec {
    fn default() -> Self {
        ChunkSpec { max_tokens: 200, overlap_tokens: 32 }
    }
}

/// Bytes a chunk may hold per token of its budget. A few tokens can cover megabytes (the embedder's
/// tokenizer makes one `[UNK]` of a long run of letters, e.g. base64), so chunks are capped in bytes too:
/// 16 per token is about 3.5× English prose and 5× CJK, so the cap binds only on such runs.
const BYTES_PER_TOKEN_CAP: usize = 16;

impl ChunkSpec {
    /// The most bytes one chunk may span.
    pub fn max_bytes(&self) -> usize {
        self.max_tokens.max(8) * BYTES_PER_TOKEN_CAP
    }
}

/// A passage: bytes `start..end` of the document text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// Splits `text` into chunks, measuring sizes with `count_tokens`.
/// Every chunk holds at most `spec.max_tokens` tokens and [`ChunkSpec::max_bytes`] bytes; the work is linear
/// in the text's length whatever its shape (no whitespace, one endless sentence, emoji runs).
pub fn chunk(text: &str, spec: ChunkSpec, count_tokens: &dyn Fn(&str) -> usize) -> Vec<Span> {
    let mut c = Chunking::new(text, spec);
    while !c.step(text, usize::MAX, count_tokens) {}
    c.finish()
}

/// Sentences longer than this are measured as several, cut at a space where there is one: so that no step of
/// [`Chunking`] measures more than this at once (a 20 MB document may be one "sentence" of base64).
const SEGMENT_BYTES: usize = 64 << 10;

/// [`chunk`] as resumable steps, so that a caller (the page's worker) can report progress and stop between
/// steps; measuring sentences in tokens is the costly part. The text is passed to every call, unchanged.
pub struct Chunking {
    spec: ChunkSpec,
    /// Sentences (paragraph-start flag, span), in order; `next` is the first not yet measured.
    sentences: Vec<(bool, Span)>,
    next: usize,
    /// Measured sentences, or pieces of over-long ones: (paragraph-start flag, span, tokens).
    units: Vec<(bool, Span, usize)>,
    measured_bytes: usize,
}

impl Chunking {
    pub fn new(text: &str, spec: ChunkSpec) -> Chunking {
        let mut sentences = Vec::new();
        for para in paragraphs(text) {
            let mut first = true;
            for s in sentences_of(text, para) {
                let mut at = s.start;
                while at < s.end {
                    let end = segment_end(text, at, s.end);
                    sentences.push((first, Span { start: at, end }));
                    first = false;
                    at = end;
                    while at < s.end && text[at..].starts_with(char::is_whitespace) {
                        at = next_char_boundary(text, at);
                    }
                }
            }
        }
        Chunking { spec, sentences, next: 0, units: Vec::new(), measured_bytes: 0 }
    }

    /// Measures sentences until about `budget_bytes` of text are done; returns whether all are.
    pub fn step(&mut self, text: &str, budget_bytes: usize, count_tokens: &dyn Fn(&str) -> usize) -> bool {
        let max = self.spec.max_tokens.max(8);
        let max_bytes = self.spec.max_bytes();
        let mut spent = 0;
        while spent < budget_bytes.max(1) {
            let Some(&(first, s)) = self.sentences.get(self.next) else { break };
            // A sentence over the byte cap is cut without counting it whole.
            let n = if s.end - s.start <= max_bytes { count_tokens(&text[s.start..s.end]) } else { usize::MAX };
            if n <= max {
                self.units.push((first, s, n));
            } else {
                for (i, piece) in split_words(text, s, max, max_bytes, count_tokens).into_iter().enumerate() {
                    self.units.push((first && i == 0, piece.0, piece.1));
                }
            }
            spent += s.end - s.start;
            self.measured_bytes += s.end - s.start;
            self.next += 1;
        }
        self.next == self.sentences.len()
    }

    /// Bytes of sentences measured so far, and in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.measured_bytes, self.sentences.iter().map(|(_, s)| s.end - s.start).sum())
    }

    /// The chunks, once every step is done (cheap: the sentences are measured).
    pub fn finish(self) -> Vec<Span> {
        let spec = self.spec;
        let max = spec.max_tokens.max(8);
        let max_bytes = spec.max_bytes();
        let mut chunks = Vec::new();
        let mut cur: Vec<(Span, usize)> = Vec::new();
        let mut cur_tokens = 0;
        let mut fresh = 0; // units in `cur` not carried over from the previous chunk
        let bytes_with =
            |cur: &[(Span, usize)], span: Span| cur.first().map_or(span.end - span.start, |c| span.end - c.0.start);
        for (para_start, span, n) in self.units {
            // Close the chunk when the sentence does not fit, or at a paragraph break once half full.
            let full = cur_tokens + n > max || bytes_with(&cur, span) > max_bytes;
            if !cur.is_empty() && fresh > 0 && (full || (para_start && cur_tokens >= max / 2)) {
                chunks.push(Span { start: cur[0].0.start, end: cur.last().unwrap().0.end });
                // Carry whole trailing sentences as overlap.
                let mut keep = 0;
                let mut kept_tokens = 0;
                for (s, t) in cur.iter().rev() {
                    if kept_tokens + t > spec.overlap_tokens
                        || kept_tokens + t + n > max
                        || span.end - s.start > max_bytes
                    {
                        break;
                    }
                    kept_tokens += t;
                    keep += 1;
                }
                cur.drain(..cur.len() - keep);
                cur_tokens = kept_tokens;
                fresh = 0;
            }
            cur.push((span, n));
            cur_tokens += n;
            fresh += 1;
        }
        if fresh > 0 {
            chunks.push(Span { start: cur[0].0.start, end: cur.last().unwrap().0.end });
        }
        chunks
    }
}

/// Where the segment of a sentence starting at `at` ends: the sentence's end if within [`SEGMENT_BYTES`],
/// else the last whitespace in the window's second half, else a character boundary.
fn segment_end(text: &str, at: usize, end: usize) -> usize {
    if end - at <= SEGMENT_BYTES {
        return end;
    }
    let limit = floor_char_boundary(text, at + SEGMENT_BYTES);
    let half = floor_char_boundary(text, at + SEGMENT_BYTES / 2);
    match text[half..limit].rfind(char::is_whitespace) {
        Some(i) if half + i > at => half + i,
        _ => limit.max(next_char_boundary(text, at)),
    }
}

/// Sentences of a whole text (paragraph by paragraph), as byte ranges.
pub fn sentence_spans(text: &str) -> Vec<Span> {
    paragraphs(text).into_iter().flat_map(|p| sentences_of(text, p)).collect()
}

/// Paragraphs: runs of text separated by blank lines; Markdown headings stand alone.
fn paragraphs(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let line_start = pos + (line.len() - line.trim_start().len());
        let line_end = pos + line.trim_end().len();
        pos += line.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            if let Some(s) = start.take() {
                out.push(Span { start: s, end });
            }
            if !trimmed.is_empty() {
                out.push(Span { start: line_start, end: line_end });
            }
            continue;
        }
        if start.is_none() {
            start = Some(line_start);
        }
        end = line_end;
    }
    if let Some(s) = start {
        out.push(Span { start: s, end });
    }
    out
}

const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "st", "no", "fig", "al", "approx", "inc", "ltd", "co",
    "jr", "sr",
];

/// Sentences of a paragraph: after `.`, `!`, `?` (or CJK 。！？) followed by space and not after a known
/// abbreviation or a single initial.
fn sentences_of(text: &str, para: Span) -> Vec<Span> {
    let p = &text[para.start..para.end];
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = p.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        let cjk = matches!(c, '。' | '！' | '？');
        if !(cjk || matches!(c, '.' | '!' | '?' | '…')) {
            continue;
        }
        // Include closing quotes and brackets.
        let mut j = i + 1;
        while j < chars.len() && matches!(chars[j].1, '"' | '\'' | '”' | '’' | ')' | ']' | '»') {
            j += 1;
        }
        let end = chars.get(j).map(|x| x.0).unwrap_or(p.len());
        let followed_by_space = j < chars.len() && chars[j].1.is_whitespace();
        if !(cjk || followed_by_space) {
            continue;
        }
        if c == '.' {
            let word: String = p[start..at]
                .rsplit(|ch: char| ch.is_whitespace())
                .next()
                .unwrap_or("")
                .trim_start_matches(['(', '"', '\''])
                .to_lowercase();
            let single_initial = word.chars().count() == 1 && word.chars().all(|ch| ch.is_alphabetic());
            // "p.m." and "U.S." carry inner dots; a sentence does not go on in lower case.
            let dotted = word.contains('.');
            let next_lower = chars[j..].iter().find(|x| !x.1.is_whitespace()).is_some_and(|x| x.1.is_lowercase());
            if single_initial || dotted || next_lower || ABBREVIATIONS.contains(&word.as_str()) {
                continue;
            }
        }
        let s = p[start..end].trim();
        if !s.is_empty() {
            let off = start + (p[start..end].len() - p[start..end].trim_start().len());
            out.push(Span { start: para.start + off, end: para.start + off + s.len() });
        }
        start = end;
    }
    let s = p[start..].trim();
    if !s.is_empty() {
        let off = start + (p[start..].len() - p[start..].trim_start().len());
        out.push(Span { start: para.start + off, end: para.start + off + s.len() });
    }
    out
}

/// Cuts an over-long sentence into pieces of at most `max` tokens and `max_bytes` bytes at word boundaries.
fn split_words(
    text: &str,
    s: Span,
    max: usize,
    max_bytes: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Vec<(Span, usize)> {
    let mut out = Vec::new();
    let mut piece_start = s.start;
    let mut tokens = 0;
    let mut last_end = s.start;
    let sub = &text[s.start..s.end];
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut w_start = None;
    for (i, c) in sub.char_indices() {
        if c.is_whitespace() {
            if let Some(ws) = w_start.take() {
                words.push((s.start + ws, s.start + i));
            }
        } else if w_start.is_none() {
            w_start = Some(i);
        }
    }
    if let Some(ws) = w_start {
        words.push((s.start + ws, s.end));
    }
    for (ws, we) in words {
        let n = if we - ws <= max_bytes { count_tokens(&text[ws..we]).max(1) } else { usize::MAX };
        if n > max {
            // A single "word" longer than a chunk (a URL, base64, minified JSON, a CJK or emoji run).
            if tokens > 0 {
                out.push((Span { start: piece_start, end: last_end }, tokens));
            }
            out.extend(cut_word(text, ws, we, max, max_bytes, count_tokens));
            tokens = 0;
            piece_start = we;
            last_end = we;
            continue;
        }
        if tokens > 0 && (tokens + n > max || we - piece_start > max_bytes) {
            out.push((Span { start: piece_start, end: last_end }, tokens));
            tokens = 0;
        }
        if tokens == 0 {
            piece_start = ws;
        }
        tokens += n;
        last_end = we;
    }
    if tokens > 0 {
        out.push((Span { start: piece_start, end: last_end }, tokens));
    }
    out
}

/// Cuts the word `ws..we` into pieces of at most `max` tokens and `max_bytes` bytes, at character
/// boundaries. Each piece is counted on at most `max_bytes` bytes, sized from the previous piece's density and
/// shrunk in proportion when it holds too many tokens: about one count per piece, linear in the word's length.
fn cut_word(
    text: &str,
    ws: usize,
    we: usize,
    max: usize,
    max_bytes: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Vec<(Span, usize)> {
    let mut out = Vec::new();
    let mut cs = ws;
    // The next piece's length: the last piece's, scaled to fill the budget (runs keep their density).
    let mut guess = max_bytes;
    while cs < we {
        let mut end = floor_char_boundary(text, (cs + guess).min(we)).max(next_char_boundary(text, cs));
        let mut n = count_tokens(&text[cs..end]).max(1);
        while n > max {
            let shrunk = cs + (end - cs) * max / n * 9 / 10;
            let next = floor_char_boundary(text, shrunk).max(next_char_boundary(text, cs));
            if next >= end {
                break; // one character that is more than `max` tokens on its own: keep it whole
            }
            end = next;
            n = count_tokens(&text[cs..end]).max(1);
        }
        out.push((Span { start: cs, end }, n.min(max)));
        guess = ((end - cs) * max / n).clamp(1, max_bytes);
        cs = end;
    }
    out
}

/// The largest character boundary of `text` at or before `i`.
fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The boundary just after the character starting at `i`.
fn next_char_boundary(text: &str, i: usize) -> usize {
    i + text[i..].chars().next().map_or(0, char::len_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::format::html_to_text;

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    #[test]
    fn sentences_respect_abbreviations_and_initials() {
        let t = "Dr. Smith met J. Doe at 5 p.m. today. They talked, e.g. about rain! Did it help? Yes.";
        let s: Vec<&str> =
            sentences_of(t, Span { start: 0, end: t.len() }).iter().map(|s| &t[s.start..s.end]).collect();
        assert_eq!(
            s,
            ["Dr. Smith met J. Doe at 5 p.m. today.", "They talked, e.g. about rain!", "Did it help?", "Yes."]
        );
    }

    #[test]
    fn chunks_pack_sentences_keep_paragraphs_and_overlap() {
        let text = "One two three. Four five six.\n\nSeven eight nine. Ten eleven twelve. Thirteen fourteen.\n\n# Heading here\nLast para words.";
        let spans = chunk(text, ChunkSpec { max_tokens: 8, overlap_tokens: 3 }, &words);
        let got: Vec<&str> = spans.iter().map(|s| &text[s.start..s.end]).collect();
        for g in &got {
            assert!(words(g) <= 8, "{g:?} too long");
        }
        assert_eq!(got[0], "One two three. Four five six.");
        // Overlap: the next chunk starts with the previous chunk's last sentence if it fits.
        assert!(got[1].starts_with("Four five six.") || got[1].starts_with("Seven"), "{got:?}");
        assert!(got.iter().any(|g| g.contains("Heading here")));
        // Every sentence is in some chunk.
        for s in ["Ten eleven twelve.", "Thirteen fourteen.", "Last para words."] {
            assert!(got.iter().any(|g| g.contains(s)), "{s} lost in {got:?}");
        }
    }

    #[test]
    fn long_sentences_and_words_are_cut() {
        let text = format!("{} {}", "word ".repeat(50).trim(), "x".repeat(300));
        let count = |s: &str| s.split_whitespace().map(|w| w.len().div_ceil(10)).sum::<usize>();
        let spans = chunk(&text, ChunkSpec { max_tokens: 10, overlap_tokens: 0 }, &count);
        assert!(spans.len() > 5);
        for s in &spans {
            assert!(count(&text[s.start..s.end]) <= 10, "{:?}", &text[s.start..s.end]);
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        }
        let covered: usize = spans.iter().map(|s| text[s.start..s.end].matches("word").count()).sum();
        assert!(covered >= 50);
    }

    /// Text without whitespace (base64, minified JSON, `a.a.a.…`, emoji) made one chunk of megabytes, or was
    /// re-counted at every character (minutes). Now chunks respect the byte cap, and the tokens counted add
    /// up to a few times the text, whatever its shape.
    #[test]
    fn text_without_whitespace_is_cut_in_linear_time() {
        let spec = ChunkSpec { max_tokens: 50, overlap_tokens: 8 };
        let b64: String = (0..400_000u32)
            .map(|i| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7919 % 64) as usize] as char
            })
            .collect();
        let json = "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":null}".repeat(20_000);
        let dots = "a.".repeat(200_000);
        let emoji = "😀🎉".repeat(50_000);
        // Counters like the embedder's: a long run of letters is one token ([UNK]); every other char is one.
        let unk = |s: &str| {
            s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).count()
                + s.chars().filter(|c| !c.is_alphanumeric() && !c.is_whitespace()).count()
        };
        let per_char = |s: &str| s.chars().count();
        for (name, text) in [("base64", &b64), ("json", &json), ("dots", &dots), ("emoji", &emoji)] {
            for (cname, counter) in [("unk", &unk as &dyn Fn(&str) -> usize), ("per_char", &per_char)] {
                let counted = std::cell::Cell::new(0usize);
                let count = |s: &str| {
                    counted.set(counted.get() + s.len());
                    counter(s)
                };
                let spans = chunk(text, spec, &count);
                let mut covered = 0;
                for sp in &spans {
                    assert!(
                        sp.end - sp.start <= spec.max_bytes(),
                        "{name}/{cname}: a {}-byte chunk",
                        sp.end - sp.start
                    );
                    assert!(
                        counter(&text[sp.start..sp.end]) <= spec.max_tokens,
                        "{name}/{cname}: chunk over the token budget"
                    );
                    assert!(sp.start >= covered || sp.end > covered, "{name}/{cname}: no progress");
                    covered = covered.max(sp.end);
                }
                assert_eq!(covered, text.len(), "{name}/{cname}: text lost at the end");
                assert!(
                    counted.get() <= 8 * text.len(),
                    "{name}/{cname}: counted {} bytes for a {}-byte text",
                    counted.get(),
                    text.len()
                );
            }
        }
    }

    /// A document chunked in steps (as the page's worker does, so Cancel and progress work while a 20 MB
    /// document is chunked) gives the same chunks as in one call, and no step measures much more than its
    /// budget, even in text without whitespace.
    #[test]
    fn chunking_in_bounded_steps_gives_the_same_chunks() {
        let spec = ChunkSpec { max_tokens: 50, overlap_tokens: 8 };
        let prose = "The travel policy applies to every employee. Meals are paid up to 40 EUR a day.\n\n".repeat(4000);
        let b64: String = (0..600_000u32)
            .map(|i| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7919 % 64) as usize] as char
            })
            .collect();
        let per_char = |s: &str| s.chars().count();
        for (name, text) in [("prose", &prose), ("base64", &b64)] {
            let whole = chunk(text, spec, &per_char);
            let counted = std::cell::Cell::new(0usize);
            let count = |s: &str| {
                counted.set(counted.get() + s.len());
                per_char(s)
            };
            let budget = 32 << 10;
            let mut c = Chunking::new(text, spec);
            let mut steps = 0;
            loop {
                counted.set(0);
                let done = c.step(text, budget, &count);
                steps += 1;
                assert!(
                    counted.get() <= 4 * (budget + SEGMENT_BYTES),
                    "{name}: a step measured {} bytes",
                    counted.get()
                );
                if done {
                    break;
                }
                let (at, total) = c.progress();
                assert!(at < total, "{name}: {at}/{total}");
            }
            assert!(steps >= text.len() / (budget + SEGMENT_BYTES), "{name}: {steps} steps for {} bytes", text.len());
            assert_eq!(c.finish(), whole, "{name}");
        }
    }

    /// Random text biased towards markup, entities and multi-byte characters.
    fn random_html(rng: &mut crate::rng::Rng, len: usize) -> String {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "&",
            ";",
            "#",
            "x",
            "<p>",
            "</p>",
            "&amp;",
            "&mdash;",
            "&#x",
            "<!--",
            "-->",
            "<script>",
            "</script",
            "é",
            "日本",
            "—",
            "😀",
            "\u{0301}",
            " ",
            "\n",
            "a",
            ".",
            "<head>",
            "&#1114112;",
            "\u{FFFD}",
            "\0",
        ];
        (0..len)
            .map(|_| {
                let r = rng.next_u32();
                if r.is_multiple_of(4) {
                    char::from_u32((r >> 2) % 0x11_0000).unwrap_or('?').to_string()
                } else {
                    PIECES[(r >> 2) as usize % PIECES.len()].to_string()
                }
            })
            .collect()
    }

    #[test]
    fn random_utf8_never_panics() {
        let mut rng = crate::rng::Rng::new(0x9E37_79B9_7F4A_7C15);
        for i in 0..3000 {
            let t = random_html(&mut rng, 1 + i % 80);
            let text = html_to_text(&t);
            for s in chunk(&text, ChunkSpec { max_tokens: 8, overlap_tokens: 2 }, &words) {
                assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end) && s.start <= s.end);
            }
            let _ = chunk(&t, ChunkSpec::default(), &|s: &str| s.chars().count());
        }
    }

    #[test]
    fn odd_input_does_not_panic() {
        for t in
            ["", "   \n\n  ", "no end", "<<<>>>", "&#xFFFFFFFF; &#1114112; &", "。。。！", "a.b.c. D", "\u{0301}. x"]
        {
            let _ = chunk(t, ChunkSpec::default(), &words);
            let _ = html_to_text(t);
        }
        assert!(chunk("", ChunkSpec::default(), &words).is_empty());
    }
}
