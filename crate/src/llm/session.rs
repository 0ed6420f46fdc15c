//! Generation: a session owns the KV cache and work buffers for one conversation, prefills a prompt (reusing
//! the cached prefix it shares with the previous one) and then yields one token at a time, so callers can
//! stream, stop between tokens, and read timing stats.

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::llm::kv_cache::KvCache;
use crate::llm::model::Model;
use crate::llm::sampler::{Sampler, SamplerParams};
use crate::llm::tokenizer::TextStream;
use crate::llm::transformer::Scratch;

/// Prompt tokens per forward call while prefilling: big enough to reuse each weight row across tokens,
/// small enough to keep the work buffers modest.
pub const PREFILL_BATCH: usize = 128;

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case")]
pub struct GenerateParams {
    pub max_tokens: usize,
    /// Generation stops before any of these strings; the string itself is not part of the answer.
    pub stop: Vec<String>,
    /// Keep generating past the end-of-turn token (benchmarks want a fixed number of tokens).
    pub ignore_eos: bool,
    /// End the answer when it starts repeating itself ([`StopReason::Repetition`]); on by default.
    pub stop_repetition: bool,
    #[serde(flatten)]
    pub sampler: SamplerParams,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 256,
            stop: Vec::new(),
            ignore_eos: false,
            stop_repetition: true,
            sampler: SamplerParams::default(),
        }
    }
}

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (EOS / EOT).
    Eos,
    StopString,
    MaxTokens,
    /// The caller stopped it.
    Cancelled,
    /// The context window is full.
    ContextFull,
    /// The answer began to repeat itself (the same run of tokens twice in a row): a small model under greedy
    /// decoding otherwise loops until `max_tokens`.
    Repetition,
}

/// The shortest repeated run that stops generation, in tokens: shorter repeats occur in real text
/// ("very, very", lists), a whole repeated clause does not.
const MIN_REPEAT_TOKENS: usize = 8;
/// Longer runs are not looked for (a repeated paragraph is caught at its first repeated sentence).
const MAX_REPEAT_TOKENS: usize = 64;

/// Whether `tokens` ends with the same run of at least [`MIN_REPEAT_TOKENS`] tokens twice in a row.
pub fn ends_in_repetition(tokens: &[u32]) -> bool {
    (MIN_REPEAT_TOKENS..=MAX_REPEAT_TOKENS.min(tokens.len() / 2)).any(|p| {
        let n = tokens.len();
        tokens[n - p..] == tokens[n - 2 * p..n - p]
    })
}

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(target_arch = "wasm32", tsify(missing_as_null))]
pub struct Stats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were reused from the previous turn.
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    pub stop_reason: Option<StopReason>,
}

struct Active {
    sampler: Sampler,
    params: GenerateParams,
    stream: TextStream,
    text: String,
    /// Bytes of `text` already handed to the caller.
    emitted: usize,
    generated: Vec<u32>,
    logits: Vec<f32>,
}

pub struct Session {
    cache: KvCache,
    scratch: Scratch,
    /// Tokens whose keys and values are in the cache.
    tokens: Vec<u32>,
    active: Option<Active>,
    stats: Stats,
    /// Tokens of the last finished generation (including one cut by a stop string).
    last_generated: Vec<u32>,
    /// The next-token logits a prefill computed after the first `.0` tokens of `tokens`, kept while those
    /// tokens stay: the same prompt again starts from them (see [`Session::begin`]).
    prompt_logits: Option<(usize, Vec<f32>)>,
}

impl Session {
    /// A session with a context window of `n_ctx` tokens (capped at the model's training context).
    pub fn new(model: &Model, n_ctx: usize) -> Session {
        let n_ctx = n_ctx.clamp(1, model.config().ctx_train);
        Session {
            cache: KvCache::new(model.config(), n_ctx),
            scratch: Scratch::default(),
            tokens: Vec::new(),
            active: None,
            stats: Stats::default(),
            last_generated: Vec::new(),
            prompt_logits: None,
        }
    }

    pub fn context_size(&self) -> usize {
        self.cache.capacity()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Tokens in the conversation so far (prompt and generated).
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Bytes held by the KV cache.
    pub fn cache_bytes(&self) -> usize {
        self.cache.bytes()
    }

    pub fn reset(&mut self) {
        self.cache.clear();
        self.tokens.clear();
        self.active = None;
        self.prompt_logits = None;
    }

    /// Prefills `prompt` and prepares to generate. On error the session is left usable (its cache holds a
    /// prefix of what it held before).
    pub fn begin(&mut self, model: &Model, prompt: &[u32], params: GenerateParams) -> Result<()> {
        params.sampler.validate()?;
        self.active = None;
        if prompt.is_empty() {
            return Err(Error::Invalid("the prompt is empty".into()));
        }
        let cap = self.cache.capacity();
        if prompt.len() >= cap {
            return Err(Error::Context(format!(
                "the prompt is {} tokens but the context window is {cap} tokens (at least one must be left to generate)",
                prompt.len()
            )));
        }
        let matched = self.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        // The same prompt again (a retry, a regenerated answer) starts from the logits its prefill gave, so
        // a greedy answer repeats exactly: running its last token alone would take the one-token matmuls,
        // whose rounding differs from a batch's and can flip a near tie (SmolLM2's "The" / "La" for the
        // capital of France).
        let same_prompt = matched == prompt.len() && matches!(&self.prompt_logits, Some((n, _)) if *n == prompt.len());
        // Otherwise reuse the cached prefix; at least the last prompt token must run to give the next logits.
        let common = if same_prompt { prompt.len() } else { matched.min(prompt.len() - 1) };
        let mut logits = match &self.prompt_logits {
            Some((_, l)) if same_prompt => l.clone(),
            _ => {
                // About to be overwritten by this prefill, or dropped if it fails.
                self.prompt_logits = None;
                Vec::new()
            }
        };
        self.cache.truncate(common);
        self.tokens.truncate(common);
        // Every generated token runs through the model, so this is all the cache will hold.
        self.cache.reserve(prompt.len().saturating_add(params.max_tokens))?;
        let t0 = now_ms();
        for chunk in prompt[common..].chunks(PREFILL_BATCH) {
            match model.transformer.forward(&mut self.scratch, &mut self.cache, chunk, false) {
                Ok(l) => {
                    logits.clear();
                    logits.extend_from_slice(l);
                    self.tokens.extend_from_slice(chunk);
                }
                Err(e) => {
                    self.cache.truncate(self.tokens.len());
                    self.prompt_logits = None;
                    return Err(e);
                }
            }
        }
        if !same_prompt {
            self.prompt_logits = Some((prompt.len(), logits.clone()));
        }
        let prefill_ms = now_ms() - t0;
        let prefilled = prompt.len() - common;
        self.stats = Stats {
            prompt_tokens: prompt.len(),
            cached_tokens: common,
            prefill_ms,
            prefill_tokens_per_s: per_s(prefilled, prefill_ms),
            ..Stats::default()
        };
        self.active = Some(Active {
            sampler: Sampler::new(params.sampler.clone()),
            params,
            stream: TextStream::default(),
            text: String::new(),
            emitted: 0,
            generated: Vec::new(),
            logits,
        });
        Ok(())
    }

    pub fn is_generating(&self) -> bool {
        self.active.is_some()
    }

    /// Stops the generation in progress; the next `next_piece` returns `None`.
    pub fn cancel(&mut self) {
        if let Some(a) = self.active.take() {
            self.stats.stop_reason = Some(StopReason::Cancelled);
            self.last_generated = a.generated;
        }
    }

    /// Generates one token and returns the text it adds (possibly empty: a multi-byte character can span
    /// tokens, and text that may start a stop string is held back), or `None` when generation has ended.
    pub fn next_piece(&mut self, model: &Model) -> Result<Option<String>> {
        let Some(a) = self.active.as_mut() else { return Ok(None) };
        if a.generated.len() >= a.params.max_tokens {
            return Ok(self.finish(StopReason::MaxTokens));
        }
        let t0 = now_ms();
        let tok = a.sampler.sample(&mut a.logits, &self.tokens);
        if model.tokenizer.is_eog(tok) && !a.params.ignore_eos {
            self.stats.decode_ms += now_ms() - t0;
            return Ok(self.finish(StopReason::Eos));
        }
        a.generated.push(tok);
        self.stats.generated_tokens = a.generated.len();
        let piece = a.stream.push(model.tokenizer.piece(tok));
        a.text.push_str(&piece);
        if a.params.stop_repetition && ends_in_repetition(&a.generated) {
            // Like a stop string, the token is not run through the model; the text so far is handed over.
            self.stats.decode_ms += now_ms() - t0;
            return Ok(Some(self.finish(StopReason::Repetition).unwrap_or_default()));
        }
        if let Some(at) = find_stop(&a.text, &a.params.stop, a.emitted) {
            a.text.truncate(at);
            self.stats.decode_ms += now_ms() - t0;
            // The stop token is not run through the model: the cache ends at the last kept token.
            return Ok(self.finish(StopReason::StopString));
        }
        let out = {
            let hold = holdback(&a.text, &a.params.stop);
            let upto = a.text.len() - hold;
            let s = a.text[a.emitted.min(upto)..upto].to_string();
            a.emitted = a.emitted.max(upto);
            s
        };
        if self.tokens.len() + 1 >= self.cache.capacity() {
            self.tokens.push(tok);
            self.stats.decode_ms += now_ms() - t0;
            let rest = self.finish(StopReason::ContextFull).unwrap_or_default();
            return Ok(Some(out + &rest));
        }
        let res = model.transformer.forward(&mut self.scratch, &mut self.cache, &[tok], false);
        match res {
            Ok(l) => {
                a.logits.clear();
                a.logits.extend_from_slice(l);
                self.tokens.push(tok);
            }
            Err(e) => {
                self.active = None;
                return Err(e);
            }
        }
        self.stats.decode_ms += now_ms() - t0;
        self.stats.decode_tokens_per_s = per_s(self.stats.generated_tokens, self.stats.decode_ms);
        Ok(Some(out))
    }

    /// Ends generation and returns the text still held back (if any).
    fn finish(&mut self, reason: StopReason) -> Option<String> {
        let mut a = self.active.take()?;
        self.stats.stop_reason = Some(reason);
        self.last_generated = std::mem::take(&mut a.generated);
        self.stats.decode_tokens_per_s = per_s(self.stats.generated_tokens, self.stats.decode_ms);
        if reason != StopReason::StopString {
            let tail = a.stream.finish();
            a.text.push_str(&tail);
        }
        let rest = a.text[a.emitted.min(a.text.len())..].to_string();
        if rest.is_empty() {
            None
        } else {
            Some(rest)
        }
    }

    /// Runs a whole generation, calling `on_piece` with each piece of text; `on_piece` returning `false`
    /// stops it. Returns the full text.
    pub fn generate(
        &mut self,
        model: &Model,
        prompt: &[u32],
        params: GenerateParams,
        mut on_piece: impl FnMut(&str) -> bool,
    ) -> Result<Generated> {
        self.begin(model, prompt, params)?;
        let mut text = String::new();
        while let Some(piece) = self.next_piece(model)? {
            text.push_str(&piece);
            if !piece.is_empty() && !on_piece(&piece) {
                self.cancel();
                break;
            }
        }
        Ok(Generated { text, tokens: self.last_generated.clone(), stats: self.stats.clone() })
    }
}

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub text: String,
    pub tokens: Vec<u32>,
    pub stats: Stats,
}

fn per_s(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// Where the earliest stop string starts in `text`, looking only where a new match can be.
fn find_stop(text: &str, stops: &[String], emitted: usize) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let mut from = emitted.saturating_sub(s.len());
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            text[from..].find(s.as_str()).map(|i| from + i)
        })
        .min()
}

/// How many trailing bytes of `text` could be the start of a stop string (and so must not be shown yet).
fn holdback(text: &str, stops: &[String]) -> usize {
    let mut hold = 0;
    for s in stops {
        for (i, _) in s.char_indices().skip(1) {
            if i > hold && text.ends_with(&s[..i]) {
                hold = i;
            }
        }
    }
    hold
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2 under greedy decoding answered "What is the immune system?" with one sentence repeated until
    /// the token limit: a run of 8+ tokens twice in a row ends the answer; short repeats do not.
    #[test]
    fn repetition_is_a_run_of_tokens_twice_in_a_row() {
        let sentence: Vec<u32> = (100..112).collect();
        let mut looped = vec![1, 2, 3];
        looped.extend(&sentence);
        assert!(!ends_in_repetition(&looped));
        looped.extend(&sentence);
        assert!(ends_in_repetition(&looped));
        // "very, very" and a short list: repeats under 8 tokens are text, not a loop.
        assert!(!ends_in_repetition(&[5, 6, 7, 5, 6, 7, 9, 9]));
        assert!(!ends_in_repetition(&[]));
        let long: Vec<u32> = (0..200).collect();
        assert!(!ends_in_repetition(&long));
    }

    #[test]
    fn stop_strings_are_found_and_held_back() {
        let stops = vec!["</s>".to_string(), "User:".to_string()];
        assert_eq!(find_stop("hello </s> more", &stops, 0), Some(6));
        assert_eq!(find_stop("a User: b", &stops, 0), Some(2));
        assert_eq!(find_stop("abc", &stops, 0), None);
        assert_eq!(holdback("hello </", &stops), 2);
        assert_eq!(holdback("hello Us", &stops), 2);
        assert_eq!(holdback("hello", &stops), 0);
    }
}
