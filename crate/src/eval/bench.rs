//! One benchmark run, the same natively and in the browser: prefill a fixed prompt of exactly N tokens,
//! then decode exactly M tokens greedily (end-of-turn ignored), from a fresh session.

use serde::Serialize;

use crate::error::Result;
use crate::llm::model::Model;
use crate::llm::sampler::SamplerParams;
use crate::llm::session::{GenerateParams, Session};

/// Public-domain prose (the opening of the US Declaration of Independence), repeated as needed.
const TEXT: &str = "When in the Course of human events, it becomes necessary for one people to dissolve the political bands which have connected them with another, and to assume among the powers of the earth, the separate and equal station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of mankind requires that they should declare the causes which impel them to the separation. ";

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize)]
pub struct BenchRun {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
}

/// A prompt of exactly `n` tokens (BOS first when the model uses one).
pub fn prompt(model: &Model, n: usize) -> Vec<u32> {
    let mut text = String::new();
    let mut toks = Vec::new();
    while toks.len() < n {
        text.push_str(TEXT);
        toks = model.prompt_tokens(&text);
    }
    toks.truncate(n);
    toks
}

pub fn run(model: &Model, prompt_tokens: usize, gen_tokens: usize) -> Result<BenchRun> {
    let p = prompt(model, prompt_tokens);
    let mut session = Session::new(model, prompt_tokens + gen_tokens + 1);
    let params = GenerateParams {
        max_tokens: gen_tokens,
        stop: vec![],
        ignore_eos: true,
        stop_repetition: false,
        sampler: SamplerParams::greedy(),
    };
    let out = session.generate(model, &p, params, |_| true)?;
    let s = out.stats;
    Ok(BenchRun {
        prompt_tokens: s.prompt_tokens,
        generated_tokens: s.generated_tokens,
        prefill_ms: s.prefill_ms,
        decode_ms: s.decode_ms,
        prefill_tokens_per_s: s.prefill_tokens_per_s,
        decode_tokens_per_s: s.decode_tokens_per_s,
    })
}
