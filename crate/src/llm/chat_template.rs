//! Chat prompts: the model's own `tokenizer.chat_template` (Jinja) rendered with minijinja, or a fallback
//! chosen from the vocabulary when a GGUF has none.
//!
//! Message contents are the user's text and must never turn into control tokens. So the template is
//! rendered with a placeholder for each content; the rendered text is then split into template parts (whose
//! special-token text is parsed) and content parts (tokenized as plain text).

use minijinja::{context, Environment, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.into(), content: content.into() }
    }
}

/// A rendered prompt piece: template text (special tokens allowed) or user content (plain text only).
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Template(String),
    Content(String),
}

pub struct ChatTemplate {
    source: String,
    /// Where the template came from: `gguf`, or `fallback-<name>`.
    pub origin: String,
    bos: String,
    eos: String,
}

const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const GEMMA: &str = "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";
const PLAIN: &str = "{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}\n\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

/// The system prompt of a chat when the caller gives none: the page's default (www/index.html), and the CLI's.
pub const DEFAULT_CHAT_SYSTEM: &str = "You are a helpful assistant.";

/// The roles a message may have: a role is template text (rendered as is), so it must not be free text.
const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// Instructions a template may run for one render (real templates render a chat in a few thousand). One
/// instruction may walk a whole sequence (`x in seq`, `|join`), which fuel does not see: hence the range cap.
const TEMPLATE_FUEL: u64 = 200_000;

/// The longest `range()` a template may make (minijinja allows 100,000): with the fuel above, a loop testing
/// membership in a range walks at most this many items per step, so a render stays well under a second.
const TEMPLATE_MAX_RANGE: i64 = 128;

/// Bytes a template may write beyond twice the messages' own.
const TEMPLATE_OUTPUT_BYTES: usize = 256 << 10;

/// Collects a template's output up to a budget, then refuses more (which ends the render with an error).
struct BoundedWriter {
    buf: Vec<u8>,
    left: usize,
}

impl std::io::Write for BoundedWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if b.len() > self.left {
            self.left = 0;
            return Err(std::io::Error::other("template output budget exhausted"));
        }
        self.left -= b.len();
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Placeholder delimiters from the Unicode private-use area: they never come from a template.
const OPEN: char = '\u{F8F0}';
const CLOSE: char = '\u{F8F1}';

impl ChatTemplate {
    /// `template` is the GGUF's `tokenizer.chat_template`; `has_token` says whether the vocabulary has a
    /// token, to pick a fallback; `bos`/`eos` are the texts of those tokens.
    pub fn new(template: Option<&str>, has_token: impl Fn(&str) -> bool, bos: &str, eos: &str) -> ChatTemplate {
        let (source, origin) = match template {
            Some(t) if !t.trim().is_empty() => (t.to_string(), "gguf"),
            _ if has_token("<|im_start|>") => (CHATML.to_string(), "fallback-chatml"),
            _ if has_token("<start_of_turn>") => (GEMMA.to_string(), "fallback-gemma"),
            _ => (PLAIN.to_string(), "fallback-plain"),
        };
        ChatTemplate { source, origin: origin.into(), bos: bos.into(), eos: eos.into() }
    }

    fn env(&self) -> Environment<'static> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "range",
            |lower: i64, upper: Option<i64>, step: Option<i64>| -> std::result::Result<Vec<i64>, minijinja::Error> {
                let (lo, hi) = upper.map_or((0, lower), |u| (lower, u));
                let step = step.unwrap_or(1);
                let too_big = || {
                    minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("range of more than {TEMPLATE_MAX_RANGE} items"),
                    )
                };
                if step == 0 {
                    return Err(minijinja::Error::new(ErrorKind::InvalidOperation, "range step of 0"));
                }
                let (d, st) = (hi as i128 - lo as i128, step as i128);
                let n = if d == 0 || (d > 0) != (st > 0) { 0 } else { (d.abs() + st.abs() - 1) / st.abs() };
                if n > TEMPLATE_MAX_RANGE as i128 {
                    return Err(too_big());
                }
                Ok((0..n as i64).map(|i| lo + i * step).collect())
            },
        );
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        });
        // A template is data from the model file: bound the work it may do (real templates render a chat in
        // a few thousand instructions) and how deep it may nest.
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_recursion_limit(64);
        env
    }

    fn render_raw(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        if let Some(why) = unbounded_growth(&self.source) {
            return Err(Error::Template(format!(
                "{} template can grow without bound ({why}); hearth refuses such templates",
                self.origin
            )));
        }
        if let Some(target) = namespace_self_reference(&self.source) {
            return Err(Error::Template(format!(
                "{} template stores a namespace inside a namespace (`{target}`), which cannot be rendered",
                self.origin
            )));
        }
        let env = self.env();
        let tmpl = env
            .template_from_str(&self.source)
            .map_err(|e| Error::Template(format!("cannot parse the {} template: {e}", self.origin)))?;
        // The output is bounded too: the messages plus what a template adds around them.
        let budget = TEMPLATE_OUTPUT_BYTES + 2 * messages.iter().map(|m| m.content.len() + m.role.len()).sum::<usize>();
        let mut out = BoundedWriter { buf: Vec::new(), left: budget };
        let ctx = context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos,
            eos_token => self.eos,
        };
        let rendered = tmpl.render_captured_to(ctx, &mut out).map(|_| ());
        match rendered {
            Ok(()) => String::from_utf8(out.buf)
                .map_err(|_| Error::Template(format!("{} template wrote invalid UTF-8", self.origin))),
            Err(_) if out.left == 0 => {
                Err(Error::Template(format!("{} template: its output exceeds {budget} bytes", self.origin)))
            }
            Err(e) => Err(Error::Template(format!("{} template: {e}", self.origin))),
        }
    }

    /// Renders a one-message chat, so that a template that cannot render a plain chat is refused when the
    /// model loads rather than at its first question.
    pub fn probe(&self) -> Result<()> {
        self.render_parts(&[Message::new("user", "Hello")], true)
            .map(|_| ())
            .map_err(|e| Error::Template(format!("the model's chat template cannot render a one-message chat: {e}")))
    }

    /// Renders the prompt as text (for display and debugging).
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        self.render_raw(messages, add_generation_prompt)
    }

    /// Renders the prompt as parts, keeping every message content apart from the template's own text.
    pub fn render_parts(&self, messages: &[Message], add_generation_prompt: bool) -> Result<Vec<Part>> {
        if messages.is_empty() {
            return Err(Error::Invalid("a chat needs at least one message".into()));
        }
        if let Some((i, m)) = messages.iter().enumerate().find(|(_, m)| !ROLES.contains(&m.role.as_str())) {
            return Err(Error::Invalid(format!(
                "message {} has role `{}`; a role is one of {}",
                i + 1,
                m.role.escape_debug(),
                ROLES.join(", ")
            )));
        }
        let placeholders: Vec<Message> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| Message { role: m.role.clone(), content: format!("{OPEN}{i}{CLOSE}") })
            .collect();
        let rendered = self.render_raw(&placeholders, add_generation_prompt)?;
        if let Some(parts) = split_placeholders(&rendered, messages) {
            return Ok(parts);
        }
        // The template rewrote the placeholders (sliced or re-cased them): render the real contents, with
        // every special-token look-alike in them defanged so that plain text stays plain.
        let defanged: Vec<Message> = messages
            .iter()
            .map(|m| Message { role: m.role.clone(), content: m.content.replace('<', "<\u{200B}") })
            .collect();
        Ok(vec![Part::Template(self.render_raw(&defanged, add_generation_prompt)?)])
    }
}

/// A namespace stored in a namespace's attribute (`{% set ns.a = ns %}`, or through another name for it)
/// makes a cyclic value that minijinja prints by recursing until the stack overflows: an abort natively, a
/// trap in wasm. No real template does it, so such a template is refused: returns the assignment's target.
/// Names bound to a namespace are followed through `set` and `for`; this is a source check, so it covers
/// the ways a template names a value, not values reached through macros or filters.
fn namespace_self_reference(src: &str) -> Option<String> {
    let bindings = bindings(src);
    let mut names: Vec<&str> = Vec::new();
    let mentions = |expr: &str, names: &[&str]| {
        identifiers(expr).any(|(id, whole)| (whole && names.contains(&id)) || (id == "namespace" && !whole))
    };
    for _ in 0..bindings.len().min(64) {
        let before = names.len();
        for &(lhs, rhs) in &bindings {
            if !mentions(rhs, &names) {
                continue;
            }
            for (target, whole) in identifiers(lhs) {
                if whole && !names.contains(&target) {
                    names.push(target);
                }
            }
        }
        if names.len() == before {
            break;
        }
    }
    bindings.iter().find(|(lhs, rhs)| lhs.contains('.') && mentions(rhs, &names)).map(|(lhs, _)| lhs.to_string())
}

/// The code of a template: the insides of its `{% %}` statements, or of `{{ }}` expressions too. A block
/// ends at its closing delimiter outside string literals (as minijinja's lexer reads it: `{{ '}}' * 9 }}`
/// is one block); comments are skipped.
fn code_blocks(src: &str, expressions: bool) -> Vec<&str> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        let close: &[u8] = match (b[i], b[i + 1]) {
            (b'{', b'%') => b"%}",
            (b'{', b'{') => b"}}",
            (b'{', b'#') => b"#}",
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i + 2;
        let (mut j, mut quote) = (start, None);
        while j < b.len() {
            match quote {
                Some(_) if b[j] == b'\\' => j += 1,
                Some(q) if b[j] == q => quote = None,
                Some(_) => {}
                None if close != b"#}" && (b[j] == b'\'' || b[j] == b'"') => quote = Some(b[j]),
                None if b[j..].starts_with(close) => break,
                None => {}
            }
            j += 1;
        }
        let end = j.min(b.len());
        if close == b"%}" || (close == b"}}" && expressions) {
            out.push(src[start..end].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace()));
        }
        i = end + 2;
    }
    out
}

/// (targets, expression) of `set targets = expression`, `for targets in expression`, `with a = expression`
/// and `macro name(a=expression)`.
fn bindings(src: &str) -> Vec<(&str, &str)> {
    code_blocks(src, false)
        .into_iter()
        .filter_map(|st| {
            let (word, rest) = st.split_once(char::is_whitespace)?;
            match word {
                "set" | "with" => rest.split_once('=').map(|(l, r)| (l.trim(), r)),
                "for" => rest.split_once(" in ").map(|(l, r)| (l.trim(), r)),
                "macro" => rest.split_once('(').map(|(_, args)| (args, args)),
                _ => None,
            }
        })
        .collect()
}

/// Fuel counts instructions, not the work inside one: minijinja repeats a sequence lazily (`range(100000) *
/// 100000`) and then iterates it without fuel, and a value joined to itself (`ns.s ~ ns.s`) doubles at each
/// step of a loop. Chat templates do neither, so a template that multiplies, or sets a value from two copies
/// of itself, is refused: returns what was found. A source check: a copy under another name is not followed.
fn unbounded_growth(src: &str) -> Option<String> {
    for block in code_blocks(src, true) {
        if outside_strings(block).contains('*') {
            return Some(format!("`*` in `{}`", block.escape_debug()));
        }
    }
    bindings(src).into_iter().find_map(|(target, expr)| {
        // `ns . s` is `ns.s`: no spaces around attribute dots, in the target or the expression.
        let tight = |x: &str| {
            let mut out = String::with_capacity(x.len());
            for part in x.split('.') {
                if !out.is_empty() {
                    out.truncate(out.trim_end().len());
                    out.push('.');
                    out.push_str(part.trim_start());
                } else {
                    out.push_str(part);
                }
            }
            out
        };
        let target = tight(target);
        let target = target.as_str();
        let code = tight(&outside_strings(expr));
        let copies = code.match_indices(target).filter(|&(at, _)| {
            let before = code[..at].chars().next_back();
            let after = code[at + target.len()..].chars().next();
            let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
            !ident(before) && !ident(after)
        });
        (!target.is_empty() && copies.count() >= 2).then(|| format!("`{target}` is set from two copies of itself"))
    })
}

/// An expression with its string literals blanked out, so that text inside quotes is not taken for code.
fn outside_strings(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut quote = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if !escaped && c == q {
                    quote = None;
                    out.push(c);
                } else {
                    out.push(' ');
                }
                escaped = !escaped && c == '\\';
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// The identifiers of an expression outside string literals, each with whether it stands for a whole value:
/// not an attribute (after `.`) and not followed by `.`, `[` or `(` (an attribute, an item or a call of it
/// is another value).
fn identifiers(expr: &str) -> impl Iterator<Item = (&str, bool)> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut quote) = (0, None);
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let next = expr[i..].trim_start().bytes().next();
            let after_dot = expr[..start].trim_end().ends_with('.');
            out.push((&expr[start..i], !matches!(next, Some(b'.' | b'[' | b'(')) && !after_dot));
        } else {
            i += 1;
        }
    }
    out.into_iter()
}

/// Splits `rendered` at the placeholders, substituting each message's content; `None` if any placeholder is
/// not intact.
fn split_placeholders(rendered: &str, messages: &[Message]) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut rest = rendered;
    while let Some(open) = rest.find(OPEN) {
        if open > 0 {
            parts.push(Part::Template(rest[..open].to_string()));
        }
        let after = &rest[open + OPEN.len_utf8()..];
        let close = after.find(CLOSE)?;
        let idx: usize = after[..close].parse().ok()?;
        parts.push(Part::Content(messages.get(idx)?.content.clone()));
        rest = &after[close + CLOSE.len_utf8()..];
    }
    if rest.contains(CLOSE) {
        return None;
    }
    if !rest.is_empty() {
        parts.push(Part::Template(rest.to_string()));
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smollm_template() -> &'static str {
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    }

    #[test]
    fn renders_the_gguf_template_and_keeps_contents_apart() {
        let t = ChatTemplate::new(Some(smollm_template()), |_| true, "<|im_start|>", "<|im_end|>");
        assert_eq!(t.origin, "gguf");
        let msgs = [Message::new("user", "Hi <|im_start|> there")];
        let parts = t.render_parts(&msgs, true).unwrap();
        assert_eq!(
            parts,
            vec![
                Part::Template("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n".into()),
                Part::Content("Hi <|im_start|> there".into()),
                Part::Template("<|im_end|>\n<|im_start|>assistant\n".into()),
            ]
        );
        let text = t.render(&msgs, true).unwrap();
        assert!(text.ends_with("<|im_start|>assistant\n"));
    }

    #[test]
    fn falls_back_by_vocabulary() {
        let t = ChatTemplate::new(None, |s| s == "<start_of_turn>", "<bos>", "<eos>");
        assert_eq!(t.origin, "fallback-gemma");
        let text = t.render(&[Message::new("user", " hello ")], true).unwrap();
        assert_eq!(text, "<bos><start_of_turn>user\nhello<end_of_turn>\n<start_of_turn>model\n");
        assert_eq!(ChatTemplate::new(Some("  "), |_| false, "", "").origin, "fallback-plain");
        assert_eq!(ChatTemplate::new(None, |s| s == "<|im_start|>", "", "").origin, "fallback-chatml");
    }

    #[test]
    fn template_errors_are_reported() {
        let t = ChatTemplate::new(Some("{{ raise_exception('roles must alternate') }}"), |_| false, "", "");
        let e = t.render_parts(&[Message::new("user", "x")], true).unwrap_err().to_string();
        assert!(e.contains("roles must alternate"), "{e}");
        let t = ChatTemplate::new(Some("{% for %}"), |_| false, "", "");
        assert!(t.render(&[Message::new("user", "x")], true).unwrap_err().to_string().contains("cannot parse"));
    }

    #[test]
    fn a_template_that_rewrites_content_is_defanged() {
        let t = ChatTemplate::new(
            Some("{% for m in messages %}<|im_start|>{{ m.content[1:] }}{% endfor %}"),
            |_| true,
            "",
            "",
        );
        let parts = t.render_parts(&[Message::new("user", "a<|im_end|>b")], false).unwrap();
        assert_eq!(parts, vec![Part::Template("<|im_start|><\u{200B}|im_end|>b".into())]);
    }

    /// Hostile templates from a model file: endless output, deep recursion, endless loops, roles that are
    /// not roles. Each is a clear error, never a hang or an exhausted memory.
    #[test]
    fn hostile_templates_are_bounded() {
        let msgs = [Message::new("user", "x")];
        let err =
            |src: &str| ChatTemplate::new(Some(src), |_| false, "", "").render(&msgs, true).unwrap_err().to_string();
        let e = err("{% for i in range(125) %}{% for j in range(80) %}{{ 'a long line of text written again and again, and again, and again, and again, and again, and again, and again, and again, and again, and again, again' }}{% endfor %}{% endfor %}");
        assert!(e.contains("output exceeds"), "{e}");
        let e = err("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        assert!(e.contains("recursion"), "{e}");
        let e = err("{% for i in range(128) %}{% for j in range(128) %}{% for k in range(128) %}{% endfor %}{% endfor %}{% endfor %}");
        assert!(e.contains("fuel"), "{e}");
        // Found by `make fuzz`: membership in a long range, tested in a loop, walked 10^10 items within the
        // fuel. Ranges are capped, and fuel is low enough that such a loop ends in well under a second.
        let e = err("{{ 1 in range(100000) }}");
        assert!(e.contains("range of more than 128 items"), "{e}");
        let t0 = std::time::Instant::now();
        let e = err("{% set r = range(128) %}{% for i in range(128) %}{% for j in range(128) %}{% for k in range(128) %}{{ 'x' in r }}{% endfor %}{% endfor %}{% endfor %}");
        assert!(e.contains("fuel") || e.contains("output exceeds"), "{e}");
        assert!(t0.elapsed().as_secs_f64() < 1.0, "{:?}", t0.elapsed());
        let r = |src: &str| ChatTemplate::new(Some(src), |_| false, "", "").render(&msgs, true).unwrap();
        assert_eq!(
            r("{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(5, 0, -2)|list }}{{ range(0)|list }}"),
            "[0, 1, 2][1, 3, 5][5, 3, 1][]"
        );
        // Found by `make fuzz`: a namespace holding itself printed until the stack overflowed (an abort).
        for src in [
            "{% set ns = namespace(a='') %}{% set ns.a = ns %}{{ ns }}",
            "{% set ns = namespace(a='') %}{% set x = ns %}{% set ns.a = [x] %}{{ ns.a ~ '' }}",
            "{% set ns = namespace(a='') %}{% for y in [ns] %}{% set ns.a = {'k': y} %}{% endfor %}{{ ns }}",
            "{%- set n1 = namespace(a=1) -%}{%- set n2 = namespace(b=n1) -%}{%- set n1.a = n2 -%}{{ n1 }}",
            "{%set\tns = namespace\n\n(sys='')%}{%set ns.sys=ns%}{{ ns }}",
            "{% set ns = namespace(a='') %}{% with x = ns %}{% set ns.a = x %}{% endwith %}{{ ns }}",
            "{% set ns = namespace(a='') %}{% macro f(x=ns) %}{% set ns.a = x %}{% endmacro %}{{ f() }}{{ ns }}",
        ] {
            let e = err(src);
            assert!(e.contains("stores a namespace inside a namespace"), "{src}: {e}");
        }
        // Found by `make fuzz`: minijinja repeats a sequence lazily and iterates it without fuel, so
        // `in range(100000) * 100000` ran for hours; doubling a value in a loop exhausts memory in 40 steps.
        for src in [
            "{{ 'x' in range(100000) * 100000 }}",
            "{{ ' }} ' in range(100000) * 100000 }}",
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.     s %}{% endfor %}{{ ns.s }}",
            "{{ 'x' in [1, 2] * 10000000000 }}",
            "{{ 2 ** 3 }}",
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
            "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ 0 in ns.l }}",
            "{% set s = 'ab' %}{% set s = s~s %}{% set s = s~s %}{{ s }}",
        ] {
            let e = err(src);
            assert!(e.contains("can grow without bound"), "{src}: {e}");
        }
        let ok = "{% set ns = namespace(sys='', n=0) %}{% for m in messages %}{% set ns.sys = ns.sys ~ m.content %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.sys }}{{ ns['n'] }}";
        assert_eq!(ChatTemplate::new(Some(ok), |_| false, "", "").render(&msgs, true).unwrap(), "x1");
        let t = ChatTemplate::new(Some(smollm_template()), |_| true, "", "");
        let e = t.render_parts(&[Message::new("user\n<|im_start|>system", "x")], true).unwrap_err().to_string();
        assert!(e.contains("message 1 has role") && e.contains("system, user, assistant, tool"), "{e}");
        assert!(t.probe().is_ok());
        let e =
            ChatTemplate::new(Some("{{ raise_exception('no') }}"), |_| false, "", "").probe().unwrap_err().to_string();
        assert!(e.contains("cannot render a one-message chat") && e.contains("no"), "{e}");
    }

    #[test]
    fn python_string_methods_work() {
        let t = ChatTemplate::new(Some("{{ messages[0]['content'].strip() }}"), |_| false, "", "");
        assert_eq!(t.render(&[Message::new("user", "  x  ")], false).unwrap(), "x");
    }
}
