//! Picks the next token from logits: greedy, or sampling with repetition penalty, top-k, top-p, min-p and
//! temperature (applied in llama.cpp's default order). The RNG ([`crate::rng`]) is our own so that a seed
//! gives the same text natively and in wasm.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case")]
pub struct SamplerParams {
    /// 0 means greedy (always the most likely token).
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1 = off).
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one (0 = off).
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens by this (1 = off).
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        // llama.cpp's defaults, which users of GGUF models know.
        SamplerParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0x5EED,
        }
    }
}

impl SamplerParams {
    pub fn greedy() -> Self {
        SamplerParams { temperature: 0.0, ..Default::default() }
    }

    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::Invalid(m));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad(format!("temperature must be >= 0, got {}", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad(format!("min_p must be in [0, 1], got {}", self.min_p));
        }
        if !(self.repeat_penalty > 0.0 && self.repeat_penalty.is_finite()) {
            return bad(format!("repeat_penalty must be > 0, got {}", self.repeat_penalty));
        }
        Ok(())
    }
}

pub struct Sampler {
    params: SamplerParams,
    rng: Rng,
    /// Reused across tokens so sampling allocates nothing per token.
    cand: Vec<(f32, u32)>,
}

impl Sampler {
    pub fn new(params: SamplerParams) -> Sampler {
        Sampler { rng: Rng::new(params.seed), params, cand: Vec::new() }
    }

    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// Chooses a token from `logits` (modified in place by the repetition penalty), given the tokens so far.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repeat_penalty != 1.0 {
            let start = history.len().saturating_sub(p.repeat_last_n);
            let recent = &history[start..];
            // Penalise each distinct recent token once, as llama.cpp does.
            for (i, &t) in recent.iter().enumerate() {
                if recent[..i].contains(&t) {
                    continue;
                }
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 { *l / p.repeat_penalty } else { *l * p.repeat_penalty };
                }
            }
        }
        if p.temperature <= 0.0 {
            return argmax(logits);
        }
        self.cand.clear();
        self.cand.extend(logits.iter().enumerate().map(|(i, &l)| (l, i as u32)));
        let by_logit = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0);
        if p.top_k > 0 && p.top_k < self.cand.len() {
            self.cand.select_nth_unstable_by(p.top_k - 1, by_logit);
            self.cand.truncate(p.top_k);
        }
        self.cand.sort_unstable_by(by_logit);
        // Softmax over what is left (at temperature 1 for the top-p / min-p filters, as llama.cpp).
        let max = self.cand[0].0;
        let mut probs_sum = 0.0;
        for c in self.cand.iter_mut() {
            c.0 = (c.0 - max).exp();
            probs_sum += c.0;
        }
        if p.top_p < 1.0 {
            let mut cum = 0.0;
            let mut keep = self.cand.len();
            for (i, c) in self.cand.iter().enumerate() {
                cum += c.0 / probs_sum;
                if cum >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            self.cand.truncate(keep.max(1));
        }
        if p.min_p > 0.0 {
            let floor = self.cand[0].0 * p.min_p;
            let keep = self.cand.iter().take_while(|c| c.0 >= floor).count();
            self.cand.truncate(keep.max(1));
        }
        // Temperature on the survivors: p^(1/T) is exp(logit/T) up to normalisation.
        let inv_t = 1.0 / p.temperature;
        let mut total = 0.0;
        for c in self.cand.iter_mut() {
            c.0 = c.0.powf(inv_t);
            total += c.0;
        }
        let mut r = self.rng.next_f32() * total;
        for c in &self.cand {
            r -= c.0;
            if r < 0.0 {
                return c.1;
            }
        }
        self.cand.last().unwrap().1
    }
}

pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.0, -1.0, 2.9, 0.0]
    }

    #[test]
    fn greedy_takes_argmax() {
        let mut s = Sampler::new(SamplerParams::greedy());
        assert_eq!(s.sample(&mut logits(), &[]), 1);
    }

    #[test]
    fn same_seed_same_choices_and_different_seed_differs() {
        let run = |seed| {
            let mut s = Sampler::new(SamplerParams {
                temperature: 1.5,
                top_k: 0,
                top_p: 1.0,
                min_p: 0.0,
                seed,
                ..Default::default()
            });
            (0..64).map(|_| s.sample(&mut logits(), &[])).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut s = Sampler::new(SamplerParams { temperature: 5.0, top_k: 1, ..Default::default() });
        for _ in 0..20 {
            assert_eq!(s.sample(&mut logits(), &[]), 1);
        }
    }

    #[test]
    fn min_p_and_top_p_cut_the_tail() {
        // Only tokens 1 and 4 are within min_p 0.5 of the best.
        let mut s =
            Sampler::new(SamplerParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.5, ..Default::default() });
        for _ in 0..50 {
            let t = s.sample(&mut logits(), &[]);
            assert!(t == 1 || t == 4, "got {t}");
        }
        let mut s =
            Sampler::new(SamplerParams { temperature: 1.0, top_k: 0, top_p: 0.3, min_p: 0.0, ..Default::default() });
        for _ in 0..50 {
            assert_eq!(s.sample(&mut logits(), &[]), 1);
        }
    }

    #[test]
    fn repetition_penalty_changes_the_greedy_pick() {
        let mut s = Sampler::new(SamplerParams { repeat_penalty: 2.0, ..SamplerParams::greedy() });
        // Token 1 (3.0) becomes 1.5 after the penalty; token 4 (2.9) wins.
        assert_eq!(s.sample(&mut logits(), &[1, 1]), 4);
    }

    #[test]
    fn invalid_params_are_rejected() {
        assert!(SamplerParams { top_p: 0.0, ..Default::default() }.validate().is_err());
        assert!(SamplerParams { temperature: -1.0, ..Default::default() }.validate().is_err());
        assert!(SamplerParams::default().validate().is_ok());
    }
}
