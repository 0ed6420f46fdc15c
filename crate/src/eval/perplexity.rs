//! Perplexity computed the way llama.cpp's `llama-perplexity` does, so the two can be compared on the same
//! GGUF and text: the text is cut into chunks of `n_ctx` tokens (the first replaced by BOS when the model
//! adds one), each evaluated from an empty cache, and only the second half of each chunk is scored.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::llm::kv_cache::KvCache;
use crate::llm::model::Model;
use crate::llm::transformer::Scratch;

/// Tokens per forward call: logits for a whole 512-token chunk of a 262k vocabulary would take 512 MB.
const BATCH: usize = 32;

#[derive(Debug, Clone, Serialize)]
pub struct Perplexity {
    pub ppl: f64,
    /// Standard error of the PPL estimate (as llama.cpp prints it).
    pub ppl_stderr: f64,
    pub n_ctx: usize,
    pub chunks: usize,
    pub scored_tokens: usize,
    /// Running PPL after each chunk (llama.cpp's `[1]x,[2]y,...`).
    pub running: Vec<f64>,
}

/// `max_chunks` limits the chunks evaluated; `on_chunk(i, n, running_ppl)` reports progress.
pub fn perplexity(
    model: &Model,
    text: &str,
    n_ctx: usize,
    max_chunks: Option<usize>,
    mut on_chunk: impl FnMut(usize, usize, f64),
) -> Result<Perplexity> {
    if n_ctx < 8 {
        return Err(Error::Invalid(format!("--ctx {n_ctx} is too small")));
    }
    let tok = &model.tokenizer;
    let tokens = tok.encode_with_specials(text, false);
    if tokens.len() < 2 * n_ctx {
        return Err(Error::Invalid(format!(
            "the text is {} tokens; at least 2 × ctx = {} are needed",
            tokens.len(),
            2 * n_ctx
        )));
    }
    let mut n_chunks = tokens.len() / n_ctx;
    if let Some(m) = max_chunks {
        n_chunks = n_chunks.min(m.max(1));
    }
    let first = n_ctx / 2;
    let n_vocab = model.config().n_vocab;
    let bos = if tok.add_bos { tok.bos } else { None };
    let mut cache = KvCache::new(model.config(), n_ctx);
    let mut scratch = Scratch::default();
    let (mut nll, mut nll2, mut count) = (0f64, 0f64, 0usize);
    let mut running = Vec::with_capacity(n_chunks);
    for c in 0..n_chunks {
        let mut chunk = tokens[c * n_ctx..(c + 1) * n_ctx].to_vec();
        if let Some(b) = bos {
            chunk[0] = b;
        }
        cache.clear();
        for (bi, batch) in chunk.chunks(BATCH).enumerate() {
            let logits = model.transformer.forward(&mut scratch, &mut cache, batch, true)?;
            for (j, row) in logits.chunks_exact(n_vocab).enumerate() {
                let pos = bi * BATCH + j;
                if pos < first || pos + 1 >= n_ctx {
                    continue;
                }
                let target = tokens[c * n_ctx + pos + 1] as usize;
                let v = -log_softmax_at(row, target);
                nll += v;
                nll2 += v * v;
                count += 1;
            }
        }
        let ppl = (nll / count as f64).exp();
        running.push(ppl);
        on_chunk(c + 1, n_chunks, ppl);
    }
    let mean = nll / count as f64;
    let var = (nll2 / count as f64 - mean * mean).max(0.0);
    let ppl = mean.exp();
    let ppl_stderr = if count > 1 { ppl * (var / (count - 1) as f64).sqrt() } else { 0.0 };
    Ok(Perplexity { ppl, ppl_stderr, n_ctx, chunks: n_chunks, scored_tokens: count, running })
}

fn log_softmax_at(logits: &[f32], i: usize) -> f64 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f64 = logits.iter().map(|&v| ((v - max) as f64).exp()).sum();
    (logits[i] - max) as f64 - sum.ln()
}
