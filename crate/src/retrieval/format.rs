//! Document formats → the text that is indexed and cited: which files are documents (by extension), and
//! HTML reduced to its visible text; plain text and Markdown are kept as they are.

use serde::{Deserialize, Serialize};

/// A document format hearth reads. PDF is read by the page (pdf.js) and arrives here as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Markdown,
    Html,
}

/// File extensions (lower case) and their formats: the one list the CLI, the bindings and the page's
/// `www/formats.js` (which adds `pdf`) follow.
const EXTENSIONS: [(&str, Format); 6] = [
    ("txt", Format::Text),
    ("text", Format::Text),
    ("md", Format::Markdown),
    ("markdown", Format::Markdown),
    ("html", Format::Html),
    ("htm", Format::Html),
];

impl Format {
    /// From a file name's extension; `None` when it is not a document format.
    pub fn of_file(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|&(_, f)| f)
    }

    /// From a file name's extension, plain text when it has none we know (a document id such as `notes`).
    pub fn from_name(name: &str) -> Format {
        Format::of_file(name).unwrap_or(Format::Text)
    }
}

impl std::str::FromStr for Format {
    type Err = crate::Error;
    /// "text", "markdown" or "html".
    fn from_str(s: &str) -> crate::Result<Format> {
        match s {
            "text" => Ok(Format::Text),
            "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            other => Err(crate::Error::Invalid(format!("format `{other}` (use text, markdown or html)"))),
        }
    }
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

/// The visible text of an HTML document: no tags, scripts, styles, titles or comments; block elements become
/// line breaks (paragraph breaks for paragraphs and headings); character references decoded. Tokenised by
/// html5gum (the WHATWG tokenizer), so broken markup, a bare `<` and every named entity come out as a
/// browser would show them.
pub fn html_to_text(html: &str) -> String {
    use html5gum::{DefaultEmitter, Token, Tokenizer};
    let mut emitter = DefaultEmitter::default();
    // Script, style, title and the like switch the tokenizer to raw text, as a browser's tree builder does.
    emitter.naively_switch_states(true);
    let mut out = String::with_capacity(html.len() / 2);
    // Inside an element whose text is not shown: its name, and how deep (only `template` nests).
    let mut hidden: Option<(Vec<u8>, usize)> = None;
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(t) => {
                let name: &[u8] = &t.name;
                if let Some((h, depth)) = &mut hidden {
                    if h.as_slice() == name && !t.self_closing {
                        *depth += 1;
                    }
                    continue;
                }
                if HIDDEN_ELEMENTS.contains(&name) && !t.self_closing {
                    hidden = Some((name.to_vec(), 1));
                    continue;
                }
                out.push_str(block_break(name));
            }
            Token::EndTag(t) => {
                let name: &[u8] = &t.name;
                if let Some((h, depth)) = &mut hidden {
                    if h.as_slice() == name {
                        *depth -= 1;
                        if *depth == 0 {
                            hidden = None;
                        }
                    }
                    continue;
                }
                out.push_str(block_break(name));
            }
            Token::String(text) if hidden.is_none() => out.push_str(&String::from_utf8_lossy(&text)),
            _ => {}
        }
    }
    // Tidy: collapse spaces within lines (no-break spaces too), at most one blank line between paragraphs.
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

/// Elements whose content a browser does not show as text.
const HIDDEN_ELEMENTS: [&[u8]; 8] =
    [b"script", b"style", b"title", b"noscript", b"template", b"iframe", b"noembed", b"noframes"];

/// The break an element's start or end tag puts in the text.
fn block_break(name: &[u8]) -> &'static str {
    match name {
        b"p" | b"h1" | b"h2" | b"h3" | b"h4" | b"h5" | b"h6" | b"section" | b"article" | b"blockquote" | b"pre"
        | b"table" | b"ul" | b"ol" => "\n\n",
        b"br" | b"div" | b"li" | b"tr" | b"header" | b"footer" | b"dt" | b"dd" | b"hr" => "\n",
        b"td" | b"th" => " ",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension_and_by_name() {
        assert_eq!(Format::of_file("a/Policy.HTM"), Some(Format::Html));
        assert_eq!(Format::of_file("notes.markdown"), Some(Format::Markdown));
        assert_eq!(Format::of_file("notes.txt"), Some(Format::Text));
        assert_eq!(Format::of_file("model.gguf"), None);
        assert_eq!(Format::of_file("README"), None);
        assert_eq!(Format::from_name("README"), Format::Text);
        assert_eq!("html".parse::<Format>().unwrap(), Format::Html);
        assert!("pdf".parse::<Format>().unwrap_err().to_string().contains("use text, markdown or html"));
    }

    #[test]
    fn html_keeps_visible_text_only() {
        let html = "<html><head><title>T</title><style>p{}</style></head><body><h1>Policy</h1><p>Travel &amp; meals<br>over 500&nbsp;EUR</p><script>alert(1)</script><!-- hidden --><p>Ask <b>first</b>.</p><img src=x onerror=alert(2)></body></html>";
        let t = html_to_text(html);
        assert_eq!(t, "Policy\n\nTravel & meals\nover 500 EUR\n\nAsk first.");
        assert!(!t.contains("alert") && !t.contains('<'));
    }

    /// The review's finding: entities next to multi-byte characters panicked ("byte index 12 is not a char
    /// boundary"), which took down the page.
    #[test]
    fn entities_beside_multibyte_text_decode() {
        let cases = [
            ("<p>Agenda &mdash; café</p>", "Agenda — café"),
            ("&copy;2024 – Acme", "©2024 – Acme"),
            ("Q&A session – agenda", "Q&A session – agenda"),
            ("&amp;日本語", "&日本語"),
            ("caf&eacute; &#233;t&#xE9; &hellip; &euro;5&nbsp;&rarr; x", "café été … €5 → x"),
            ("5 < 6 and 7 > 3 &unknown; &", "5 < 6 and 7 > 3 &unknown; &"),
        ];
        for (html, text) in cases {
            assert_eq!(html_to_text(html), text, "{html}");
        }
    }

    /// Broken markup a browser still shows: a `<head>` never closed, a bare `<`, an unclosed comment.
    #[test]
    fn broken_markup_keeps_the_visible_text() {
        assert_eq!(html_to_text("<html><head><title>T</title><meta charset=utf-8><body><p>Kept text</p>"), "Kept text");
        assert_eq!(html_to_text("<head><title>T</title></head>Body text"), "Body text");
        assert_eq!(html_to_text("<p>if a < b then</p><p>b</p>"), "if a < b then\n\nb");
        assert_eq!(html_to_text("<p>Before</p><!-- never closed <p>after"), "Before");
        assert_eq!(html_to_text("<SCRIPT>x = '<p>';</SCRIPT><P>Shown</P>"), "Shown");
        assert_eq!(html_to_text("<template><p>a<template>b</template>c</p></template>After"), "After");
    }
}
