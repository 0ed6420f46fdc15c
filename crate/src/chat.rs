//! Chat prompts: the model's own `tokenizer.chat_template` (Jinja) rendered with minijinja, or a fallback
//! chosen from the vocabulary when a GGUF has none.
//!
//! Message contents are the user's text and must never turn into control tokens. So the template is
//! rendered with a placeholder for each content; the rendered text is then split into template parts (whose
//! special-token text is parsed) and content parts (tokenized as plain text).

use minijinja::{context, Environment, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        });
        // A template is data from the model file: bound the work it may do.
        env.set_fuel(Some(2_000_000));
        env
    }

    fn render_raw(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let env = self.env();
        let tmpl = env.template_from_str(&self.source).map_err(|e| Error::Template(format!("cannot parse the {} template: {e}", self.origin)))?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos,
            eos_token => self.eos,
        })
        .map_err(|e| Error::Template(format!("{} template: {e}", self.origin)))
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
        let t = ChatTemplate::new(Some("{% for m in messages %}<|im_start|>{{ m.content[1:] }}{% endfor %}"), |_| true, "", "");
        let parts = t.render_parts(&[Message::new("user", "a<|im_end|>b")], false).unwrap();
        assert_eq!(parts, vec![Part::Template("<|im_start|><\u{200B}|im_end|>b".into())]);
    }

    #[test]
    fn python_string_methods_work() {
        let t = ChatTemplate::new(Some("{{ messages[0]['content'].strip() }}"), |_| false, "", "");
        assert_eq!(t.render(&[Message::new("user", "  x  ")], false).unwrap(), "x");
    }
}
