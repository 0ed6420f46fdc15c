//! A loaded model: the transformer, its tokenizer and its chat template, built from one GGUF buffer.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::llm::chat_template::{ChatTemplate, Message, Part};
use crate::llm::config::Config;
use crate::llm::split::Layout;
use crate::llm::tokenizer::Tokenizer;
use crate::llm::transformer::Transformer;

pub struct Model {
    pub transformer: Transformer,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub info: ModelInfo,
}

/// What a user (or the page) wants to know about a loaded model.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(target_arch = "wasm32", tsify(missing_as_null))]
pub struct ModelInfo {
    pub name: String,
    pub architecture: String,
    pub file_bytes: usize,
    pub n_params: u64,
    pub n_vocab: usize,
    pub n_layers: usize,
    pub dim: usize,
    pub context_length: usize,
    /// Tensor types and how many tensors of each, e.g. `[["Q4_1", 211], ["F32", 61]]`.
    pub tensor_types: Vec<(String, usize)>,
    pub chat_template: String,
    pub bos_token: Option<u32>,
    pub eos_token: Option<u32>,
}

impl Model {
    /// Parses and checks a GGUF file held in `bytes`; the model keeps the buffer and reads weights from it.
    pub fn load(bytes: Vec<u8>) -> Result<Model> {
        let g = Gguf::parse(&bytes)?;
        let layout = Layout::whole_file(&g);
        let file_bytes = bytes.len();
        Model::from_parts(&g, &layout, bytes, file_bytes)
    }

    /// Builds the model from a parsed header and the weights laid out as `layout` says: the whole file, or
    /// shard 0's part of a file of `file_bytes` bytes (see [`crate::llm::split`]).
    pub fn from_parts(g: &Gguf, layout: &Layout, bytes: Vec<u8>, file_bytes: usize) -> Result<Model> {
        let tokenizer = Tokenizer::from_gguf(g)?;
        let mut types: Vec<(String, usize)> = Vec::new();
        for t in &g.tensors {
            match types.iter_mut().find(|(n, _)| n == t.ty.name()) {
                Some(e) => e.1 += 1,
                None => types.push((t.ty.name().to_string(), 1)),
            }
        }
        let n_params = g.tensors.iter().map(|t| t.n_elements()).sum();
        let name = g.get_str("general.name").unwrap_or("unnamed").to_string();
        let tok_text = |id: Option<u32>| id.and_then(|i| tokenizer.token_text(i)).unwrap_or("").to_string();
        let template = ChatTemplate::new(
            g.get_str("tokenizer.chat_template"),
            |t| tokenizer.token_id(t).is_some(),
            &tok_text(tokenizer.bos),
            &tok_text(tokenizer.eos),
        );
        template.probe()?;
        let transformer = Transformer::from_layout(bytes, g, layout)?;
        let c: &Config = &transformer.config;
        if c.n_vocab != tokenizer.vocab_size() {
            return Err(Error::Unsupported(format!(
                "the embedding has {} rows but the tokenizer {} tokens",
                c.n_vocab,
                tokenizer.vocab_size()
            )));
        }
        let info = ModelInfo {
            name,
            architecture: g.architecture()?.to_string(),
            file_bytes,
            n_params,
            n_vocab: c.n_vocab,
            n_layers: c.n_layers,
            dim: c.dim,
            context_length: c.ctx_train,
            tensor_types: types,
            chat_template: template.origin.clone(),
            bos_token: tokenizer.bos,
            eos_token: tokenizer.eos,
        };
        Ok(Model { transformer, tokenizer, template, info })
    }

    pub fn config(&self) -> &Config {
        &self.transformer.config
    }

    /// Tokens of a chat prompt: the template's own text may hold special tokens, message contents may not.
    pub fn chat_tokens(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let parts = self.template.render_parts(messages, true)?;
        let mut out = Vec::new();
        for p in &parts {
            match p {
                Part::Template(t) => out.extend(self.tokenizer.encode(t, true)),
                Part::Content(c) => out.extend(self.tokenizer.encode(c, false)),
            }
        }
        if self.tokenizer.add_bos {
            if let Some(bos) = self.tokenizer.bos {
                if out.first() != Some(&bos) {
                    out.insert(0, bos);
                }
            }
        }
        Ok(out)
    }

    /// Tokens of a raw completion prompt (BOS added if the model asks for it; special text stays text).
    pub fn prompt_tokens(&self, prompt: &str) -> Vec<u32> {
        let mut out = Vec::new();
        if self.tokenizer.add_bos {
            out.extend(self.tokenizer.bos);
        }
        out.extend(self.tokenizer.encode(prompt, false));
        out
    }
}
