//! Documents → passages. Plain text, Markdown and HTML (reduced to its visible text) are split into
//! sentences inside paragraphs, and sentences are packed into chunks of at most `max_tokens` embedder
//! tokens, with an overlap of whole trailing sentences. A chunk is a byte range of the document's text,
//! so an answer can cite the exact passage.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Markdown,
    Html,
}

impl Format {
    /// From a file name's extension (`.html`/`.htm`, `.md`/`.markdown`, anything else is text).
    pub fn from_name(name: &str) -> Format {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".html") || lower.ends_with(".htm") {
            Format::Html
        } else if lower.ends_with(".md") || lower.ends_with(".markdown") {
            Format::Markdown
        } else {
            Format::Text
        }
    }
}

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

/// A passage: bytes `start..end` of the document text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// The text of a document as it is indexed and cited: HTML reduced to visible text, others unchanged.
pub fn document_text(raw: &str, format: Format) -> String {
    match format {
        Format::Html => html_to_text(raw),
        Format::Text | Format::Markdown => raw.to_string(),
    }
}

/// The text a document is indexed and cited as: its title (if any), a blank line, then its body text.
pub fn indexed_text(title: &str, raw: &str, format: Format) -> String {
    let body = document_text(raw, format);
    if title.is_empty() {
        body
    } else {
        format!("{title}\n\n{body}")
    }
}

/// Splits `text` into chunks, measuring sizes with `count_tokens`.
pub fn chunk(text: &str, spec: ChunkSpec, count_tokens: &dyn Fn(&str) -> usize) -> Vec<Span> {
    let max = spec.max_tokens.max(8);
    // Sentences (paragraph-start flag, span, tokens); an over-long sentence is cut at word boundaries.
    let mut units: Vec<(bool, Span, usize)> = Vec::new();
    for para in paragraphs(text) {
        let mut first = true;
        for s in sentences(text, para) {
            let n = count_tokens(&text[s.start..s.end]);
            if n <= max {
                units.push((first, s, n));
            } else {
                for piece in split_words(text, s, max, count_tokens) {
                    units.push((first, piece.0, piece.1));
                    first = false;
                }
            }
            first = false;
        }
    }
    let mut chunks = Vec::new();
    let mut cur: Vec<(Span, usize)> = Vec::new();
    let mut cur_tokens = 0;
    let mut fresh = 0; // units in `cur` not carried over from the previous chunk
    for (para_start, span, n) in units {
        // Close the chunk when the sentence does not fit, or at a paragraph break once half full.
        if !cur.is_empty() && fresh > 0 && (cur_tokens + n > max || (para_start && cur_tokens >= max / 2)) {
            chunks.push(Span { start: cur[0].0.start, end: cur.last().unwrap().0.end });
            // Carry whole trailing sentences as overlap.
            let mut keep = 0;
            let mut kept_tokens = 0;
            for (_, t) in cur.iter().rev() {
                if kept_tokens + t > spec.overlap_tokens || kept_tokens + t + n > max {
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

/// Sentences of a whole text (paragraph by paragraph), as byte ranges.
pub fn sentence_spans(text: &str) -> Vec<Span> {
    paragraphs(text).into_iter().flat_map(|p| sentences(text, p)).collect()
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

const ABBREVIATIONS: &[&str] = &["e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "st", "no", "fig", "al", "approx", "inc", "ltd", "co", "jr", "sr"];

/// Sentences of a paragraph: after `.`, `!`, `?` (or CJK 。！？) followed by space and not after a known
/// abbreviation or a single initial.
fn sentences(text: &str, para: Span) -> Vec<Span> {
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
            let word: String = p[start..at].rsplit(|ch: char| ch.is_whitespace()).next().unwrap_or("").trim_start_matches(['(', '"', '\'']).to_lowercase();
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

/// Cuts an over-long sentence into pieces of at most `max` tokens at word boundaries.
fn split_words(text: &str, s: Span, max: usize, count_tokens: &dyn Fn(&str) -> usize) -> Vec<(Span, usize)> {
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
        let mut n = count_tokens(&text[ws..we]).max(1);
        if n > max {
            // A single "word" longer than a chunk (a URL, base64, CJK run): cut by characters.
            let mut cs = ws;
            for (i, _) in text[ws..we].char_indices() {
                if count_tokens(&text[cs..ws + i]) >= max {
                    if cs > piece_start || tokens > 0 {
                        out.push((Span { start: piece_start, end: last_end }, tokens));
                    }
                    out.push((Span { start: cs, end: ws + i }, max));
                    cs = ws + i;
                    piece_start = cs;
                    tokens = 0;
                }
            }
            n = count_tokens(&text[cs..we]).max(1);
            piece_start = cs;
            tokens = n;
            last_end = we;
            continue;
        }
        if tokens + n > max && tokens > 0 {
            out.push((Span { start: piece_start, end: last_end }, tokens));
            piece_start = ws;
            tokens = 0;
        }
        tokens += n;
        last_end = we;
    }
    if tokens > 0 {
        out.push((Span { start: piece_start, end: last_end }, tokens));
    }
    out
}

/// The visible text of an HTML document: no tags, scripts, styles or comments; block elements become line
/// breaks (paragraph breaks for paragraphs and headings); entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let b = html.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' {
            if lower[i..].starts_with("<!--") {
                i = lower[i..].find("-->").map(|j| i + j + 3).unwrap_or(b.len());
                continue;
            }
            let end = match html[i..].find('>') {
                Some(j) => i + j + 1,
                None => break,
            };
            let tag: String = lower[i + 1..end - 1].trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            let closing = lower[i + 1..].starts_with('/');
            if !closing && matches!(tag.as_str(), "script" | "style" | "noscript" | "template" | "head") {
                let close = format!("</{tag}");
                i = lower[end..].find(&close).map(|j| end + j).and_then(|j| lower[j..].find('>').map(|k| j + k + 1)).unwrap_or(b.len());
                continue;
            }
            match tag.as_str() {
                "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "section" | "article" | "blockquote" | "pre" | "table" | "ul" | "ol" => out.push_str("\n\n"),
                "br" | "div" | "li" | "tr" | "header" | "footer" | "dt" | "dd" | "hr" => out.push('\n'),
                "td" | "th" => out.push(' '),
                _ => {}
            }
            i = end;
        } else {
            let next = html[i..].find('<').map(|j| i + j).unwrap_or(b.len());
            out.push_str(&decode_entities(&html[i..next]));
            i = next;
        }
    }
    // Tidy: collapse spaces within lines, at most one blank line between paragraphs.
    let mut tidy = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.lines() {
        let l = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if l.is_empty() {
            blank += 1;
            continue;
        }
        if !tidy.is_empty() {
            tidy.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        tidy.push_str(&l);
        blank = 0;
    }
    tidy
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let ch = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" | "#39" => Some('\''),
            "nbsp" => Some(' '),
            _ if name.starts_with("#x") || name.starts_with("#X") => u32::from_str_radix(&name[2..], 16).ok().and_then(char::from_u32),
            _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    #[test]
    fn sentences_respect_abbreviations_and_initials() {
        let t = "Dr. Smith met J. Doe at 5 p.m. today. They talked, e.g. about rain! Did it help? Yes.";
        let s: Vec<&str> = sentences(t, Span { start: 0, end: t.len() }).iter().map(|s| &t[s.start..s.end]).collect();
        assert_eq!(s, ["Dr. Smith met J. Doe at 5 p.m. today.", "They talked, e.g. about rain!", "Did it help?", "Yes."]);
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

    #[test]
    fn html_keeps_visible_text_only() {
        let html = "<html><head><title>T</title><style>p{}</style></head><body><h1>Policy</h1><p>Travel &amp; meals<br>over 500&nbsp;EUR</p><script>alert(1)</script><!-- hidden --><p>Ask <b>first</b>.</p><img src=x onerror=alert(2)></body></html>";
        let t = html_to_text(html);
        assert_eq!(t, "Policy\n\nTravel & meals\nover 500 EUR\n\nAsk first.");
        assert!(!t.contains("alert") && !t.contains('<'));
    }

    #[test]
    fn odd_input_does_not_panic() {
        for t in ["", "   \n\n  ", "no end", "<<<>>>", "&#xFFFFFFFF; &#1114112; &", "。。。！", "a.b.c. D", "\u{0301}. x"] {
            let _ = chunk(t, ChunkSpec::default(), &words);
            let _ = html_to_text(t);
        }
        assert!(chunk("", ChunkSpec::default(), &words).is_empty());
    }
}
