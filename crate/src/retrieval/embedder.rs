//! Sentence embeddings with all-MiniLM-L6-v2 (a 6-layer BERT): the model's own WordPiece tokenizer
//! (`tokenizers`), a BERT forward pass on the same matmul kernels as the language models, mean pooling over
//! the text's tokens and L2 normalisation — what sentence-transformers computes.
//!
//! Each text is run at its own length (no padding), so padding can never leak into the mean; several
//! short texts share each matmul to reuse the weights. Linear weights are kept as f32 or quantised at load
//! (about 4× smaller, for the browser), with the word-embedding table following the same choice.

use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::kernels::fastmath;
use crate::kernels::gemm_int::{self, matmul_packed, Packed};
use crate::kernels::matmul::{gemm_f32, matmul_f32_acts, Weight};
use crate::kernels::quant::{dequantize_row, quantize_row_q8_0, GgmlType, Q8Acts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// The word embeddings in Q8_0 (8-bit blocks of 32); the linear layers too, for the f32 GEMM, except
    /// where the integer GEMM runs (relaxed SIMD in wasm, AVX2 natively): there they are packed 7-bit blocks
    /// ([`Packed`]) multiplied with the activations quantised to 8 bits.
    Q8,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    /// "f32" or "q8".
    fn from_str(s: &str) -> Result<Precision> {
        match s {
            "f32" => Ok(Precision::F32),
            "q8" => Ok(Precision::Q8),
            other => Err(Error::Invalid(format!("precision `{other}` (use f32 or q8)"))),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f32,
    #[serde(default)]
    pub hidden_act: String,
}

fn default_eps() -> f32 {
    1e-12
}

struct Linear {
    w: LinearWeight,
    b: Vec<f32>,
}

enum LinearWeight {
    /// In the embedder's bytes, for the f32 GEMM.
    Stored(Weight),
    /// For the integer GEMM.
    Packed(Packed),
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln1: (Vec<f32>, Vec<f32>),
    up: Linear,
    down: Linear,
    ln2: (Vec<f32>, Vec<f32>),
}

pub struct Embedder {
    pub config: BertConfig,
    /// Longest input in tokens (sentence-transformers' `max_seq_length`); longer texts are truncated.
    pub max_tokens: usize,
    bytes: Vec<u8>,
    word: Weight,
    pos: Vec<f32>,
    type0: Vec<f32>,
    emb_ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    tokenizer: tokenizers::Tokenizer,
    counter: tokenizers::Tokenizer,
    precision: Precision,
}

/// Tokens run through the network together (their matmuls share weight reads).
const BATCH_TOKENS: usize = 512;

impl Embedder {
    /// Builds the embedder from the sentence-transformers files: `model.safetensors`, `config.json`,
    /// `tokenizer.json`, and `max_seq_length` (from `sentence_bert_config.json`; 256 for MiniLM).
    pub fn new(
        safetensors: &[u8],
        config_json: &str,
        tokenizer_json: &[u8],
        max_seq_length: usize,
        precision: Precision,
    ) -> Result<Embedder> {
        let bad = |m: String| Error::Invalid(format!("embedder: {m}"));
        let config: BertConfig = serde_json::from_str(config_json).map_err(|e| bad(format!("config.json: {e}")))?;
        if !config.hidden_act.is_empty() && config.hidden_act != "gelu" {
            return Err(Error::Unsupported(format!("embedder activation `{}` (only gelu)", config.hidden_act)));
        }
        let c = &config;
        if c.hidden_size == 0
            || c.num_attention_heads == 0
            || !c.hidden_size.is_multiple_of(c.num_attention_heads)
            || !c.hidden_size.is_multiple_of(32)
            || !c.intermediate_size.is_multiple_of(32)
        {
            return Err(bad(format!(
                "unsupported sizes: hidden {} heads {} intermediate {}",
                c.hidden_size, c.num_attention_heads, c.intermediate_size
            )));
        }
        let st = SafeTensors::deserialize(safetensors).map_err(|e| bad(format!("model.safetensors: {e}")))?;
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            // Checkpoints differ in whether names carry the `bert.` prefix.
            let t = st
                .tensor(name)
                .or_else(|_| st.tensor(&format!("bert.{name}")))
                .map_err(|_| bad(format!("tensor `{name}` is missing")))?;
            if t.shape() != shape {
                return Err(bad(format!("tensor `{name}` has shape {:?}, expected {shape:?}", t.shape())));
            }
            // F16 is the browser's half-size download (`model.f16.safetensors`, made by models/fetch.py).
            match t.dtype() {
                Dtype::F32 => Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()),
                Dtype::F16 => {
                    Ok(t.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect())
                }
                other => Err(bad(format!("tensor `{name}` is {other:?}, expected F32 or F16"))),
            }
        };
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let mut bytes = Vec::new();
        let ty = match precision {
            Precision::F32 => GgmlType::F32,
            Precision::Q8 => GgmlType::Q8_0,
        };
        let store = |data: &[f32], rows: usize, cols: usize, bytes: &mut Vec<u8>| -> Weight {
            let offset = bytes.len();
            match precision {
                Precision::F32 => data.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
                Precision::Q8 => data.chunks_exact(cols).for_each(|r| quantize_row_q8_0(r, bytes)),
            }
            Weight::new(ty, rows, cols, offset)
        };
        let word = store(&get("embeddings.word_embeddings.weight", &[c.vocab_size, h])?, c.vocab_size, h, &mut bytes);
        let pos = get("embeddings.position_embeddings.weight", &[c.max_position_embeddings, h])?;
        let type0 = get("embeddings.token_type_embeddings.weight", &[2, h])?[..h].to_vec();
        let emb_ln = (get("embeddings.LayerNorm.weight", &[h])?, get("embeddings.LayerNorm.bias", &[h])?);
        let packed = precision == Precision::Q8 && gemm_int::enabled();
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for l in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let mut lin = |name: &str, rows: usize, cols: usize| -> Result<Linear> {
                let w = get(&format!("{p}.{name}.weight"), &[rows, cols])?;
                let w = match packed {
                    true => LinearWeight::Packed(Packed::quantize(&w, rows, cols)),
                    false => LinearWeight::Stored(store(&w, rows, cols, &mut bytes)),
                };
                Ok(Linear { w, b: get(&format!("{p}.{name}.bias"), &[rows])? })
            };
            let q = lin("attention.self.query", h, h)?;
            let k = lin("attention.self.key", h, h)?;
            let v = lin("attention.self.value", h, h)?;
            let o = lin("attention.output.dense", h, h)?;
            let up = lin("intermediate.dense", f, h)?;
            let down = lin("output.dense", h, f)?;
            let ln = |n: &str| -> Result<(Vec<f32>, Vec<f32>)> {
                Ok((get(&format!("{p}.{n}.weight"), &[h])?, get(&format!("{p}.{n}.bias"), &[h])?))
            };
            layers.push(Layer {
                q,
                k,
                v,
                o,
                ln1: ln("attention.output.LayerNorm")?,
                up,
                down,
                ln2: ln("output.LayerNorm")?,
            });
        }
        let mut tokenizer =
            tokenizers::Tokenizer::from_bytes(tokenizer_json).map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(None);
        // Counting tokens for chunk sizes must see the whole text, so the counter does not truncate.
        let mut counter = tokenizer.clone();
        counter.with_truncation(None).map_err(|e| bad(format!("truncation: {e}")))?;
        let max_tokens = max_seq_length.min(c.max_position_embeddings);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams { max_length: max_tokens, ..Default::default() }))
            .map_err(|e| bad(format!("truncation: {e}")))?;
        Ok(Embedder { config, max_tokens, bytes, word, pos, type0, emb_ln, layers, tokenizer, counter, precision })
    }

    /// Loads the sentence-transformers folder (`model.safetensors`, `config.json`, `tokenizer.json`,
    /// `sentence_bert_config.json`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path, precision: Precision) -> Result<Embedder> {
        let read = |n: &str| {
            std::fs::read(dir.join(n)).map_err(|e| Error::Io(format!("cannot read {}: {e}", dir.join(n).display())))
        };
        let max_len = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["max_seq_length"].as_u64())
            .unwrap_or(256) as usize;
        Embedder::new(
            &read("model.safetensors")?,
            &String::from_utf8_lossy(&read("config.json")?),
            &read("tokenizer.json")?,
            max_len,
            precision,
        )
    }

    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Bytes held by the weights.
    pub fn weight_bytes(&self) -> usize {
        let packed: usize = (self.layers.iter())
            .flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.up, &l.down])
            .map(|l| match &l.w {
                LinearWeight::Packed(p) => p.bytes(),
                LinearWeight::Stored(_) => 0,
            })
            .sum();
        self.bytes.len() + packed + 4 * (self.pos.len() + self.type0.len())
    }

    /// Token ids of `text` as the model sees them ([CLS] … [SEP], truncated).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| Error::Tokenizer(format!("embedder: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Tokens of `text` without [CLS]/[SEP] and without truncation (for sizing chunks).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.counter.encode_fast(text, false).map(|e| e.len()).unwrap_or(0)
    }

    /// Unit-length embeddings of `texts`, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.token_ids(t)).collect::<Result<_>>()?;
        // Group whole texts until a batch is full (a single long text is a batch of its own).
        let mut groups: Vec<&[Vec<u32>]> = Vec::new();
        let mut i = 0;
        while i < ids.len() {
            let mut j = i + 1;
            let mut n = ids[i].len();
            while j < ids.len() && n + ids[j].len() <= BATCH_TOKENS {
                n += ids[j].len();
                j += 1;
            }
            groups.push(&ids[i..j]);
            i = j;
        }
        // Groups are independent: natively they run on all cores.
        #[cfg(not(target_arch = "wasm32"))]
        let out: Vec<Vec<Vec<f32>>> = {
            use rayon::prelude::*;
            groups.par_iter().map(|g| self.embed_group(g)).collect()
        };
        #[cfg(target_arch = "wasm32")]
        let out: Vec<Vec<Vec<f32>>> = groups.iter().map(|g| self.embed_group(g)).collect();
        Ok(out.into_iter().flatten().collect())
    }

    fn embed_group(&self, seqs: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let c = &self.config;
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let nt: usize = seqs.iter().map(|s| s.len()).sum();
        let mut x = vec![0f32; nt * h];
        let mut row = 0;
        for s in seqs {
            for (p, &id) in s.iter().enumerate() {
                let xr = &mut x[row * h..(row + 1) * h];
                let id = (id as usize).min(c.vocab_size - 1);
                dequantize_row(self.word.ty, self.word.row(&self.bytes, id), xr);
                for ((v, &pe), &te) in xr.iter_mut().zip(&self.pos[p * h..(p + 1) * h]).zip(&self.type0) {
                    *v += pe + te;
                }
                layer_norm(xr, &self.emb_ln, c.layer_norm_eps);
                row += 1;
            }
        }
        let (mut q, mut k, mut v, mut ctx, mut tmp) =
            (vec![0f32; nt * h], vec![0f32; nt * h], vec![0f32; nt * h], vec![0f32; nt * h], vec![0f32; nt * h]);
        let mut hid = vec![0f32; nt * f];
        let heads = c.num_attention_heads;
        let mut att = AttentionBuffers::default();
        let mut acts = Q8Acts::default();
        for ly in &self.layers {
            self.linear(&ly.q, &x, &mut acts, &mut q);
            self.linear_again(&ly.k, &x, &acts, &mut k);
            self.linear_again(&ly.v, &x, &acts, &mut v);
            // Bidirectional attention within each text, head by head as two GEMMs.
            let mut start = 0;
            for s in seqs {
                attention(&q, &k, &v, &mut ctx, start, s.len(), h, heads, &mut att);
                start += s.len();
            }
            self.linear(&ly.o, &ctx, &mut acts, &mut tmp);
            for (t, xr) in x.chunks_exact_mut(h).enumerate() {
                xr.iter_mut().zip(&tmp[t * h..(t + 1) * h]).for_each(|(a, b)| *a += b);
                layer_norm(xr, &ly.ln1, c.layer_norm_eps);
            }
            self.linear(&ly.up, &x, &mut acts, &mut hid);
            fastmath::gelu_erf(&mut hid);
            self.linear(&ly.down, &hid, &mut acts, &mut tmp);
            for (t, xr) in x.chunks_exact_mut(h).enumerate() {
                xr.iter_mut().zip(&tmp[t * h..(t + 1) * h]).for_each(|(a, b)| *a += b);
                layer_norm(xr, &ly.ln2, c.layer_norm_eps);
            }
        }
        // Mean over each text's tokens, then unit length.
        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in seqs {
            let mut e = vec![0f32; h];
            for t in start..start + s.len() {
                e.iter_mut().zip(&x[t * h..(t + 1) * h]).for_each(|(a, b)| *a += b);
            }
            start += s.len();
            let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            e.iter_mut().for_each(|v| *v /= norm);
            out.push(e);
        }
        out
    }

    /// `out = x · Wᵀ + b` for the token rows of `x`; `acts` is scratch for `x` quantised, which a packed
    /// layer needs.
    fn linear(&self, l: &Linear, x: &[f32], acts: &mut Q8Acts, out: &mut [f32]) {
        if matches!(l.w, LinearWeight::Packed(_)) {
            acts.quantize_from(x);
        }
        self.linear_again(l, x, acts, out);
    }

    /// [`Self::linear`] on the same `x` as the call before, whose `acts` it reuses.
    fn linear_again(&self, l: &Linear, x: &[f32], acts: &Q8Acts, out: &mut [f32]) {
        match &l.w {
            LinearWeight::Packed(p) => matmul_packed(p, acts, x.len() / p.cols(), out),
            // Q8 weights are dequantised tile by tile into the f32 GEMM (4x less memory, f32 arithmetic).
            LinearWeight::Stored(w) => matmul_f32_acts(&self.bytes, w, x, out),
        }
        // Either way each output depends on its own token only, so a text embeds the same alone as in a batch.
        for r in out.chunks_exact_mut(l.b.len()) {
            r.iter_mut().zip(&l.b).for_each(|(a, b)| *a += b);
        }
    }
}

/// Reused buffers for [`attention`]: one head's queries, keys, transposed values, scores and output.
#[derive(Default)]
struct AttentionBuffers {
    q: Vec<f32>,
    k: Vec<f32>,
    vt: Vec<f32>,
    raw: Vec<f32>,
    scores: Vec<f32>,
    out: Vec<f32>,
}

/// Self-attention over tokens `start..start + n` (all `heads` of width `h / heads`), into `ctx`. Each head
/// is gathered into contiguous buffers so both products go through the GEMM kernel; the score rows are
/// padded to a multiple of 4 with zeros (which add nothing to the second product).
#[allow(clippy::too_many_arguments)]
fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    ctx: &mut [f32],
    start: usize,
    n: usize,
    h: usize,
    heads: usize,
    b: &mut AttentionBuffers,
) {
    let hd = h / heads;
    let n4 = n.next_multiple_of(4);
    let scale = 1.0 / (hd as f32).sqrt();
    b.q.resize(n * hd, 0.0);
    b.k.resize(n * hd, 0.0);
    b.vt.clear();
    b.vt.resize(hd * n4, 0.0);
    b.scores.clear();
    b.scores.resize(n * n4, 0.0);
    b.out.resize(n * hd, 0.0);
    b.raw.resize(n * n, 0.0);
    for hh in 0..heads {
        for t in 0..n {
            let o = (start + t) * h + hh * hd;
            b.q[t * hd..(t + 1) * hd].copy_from_slice(&q[o..o + hd]);
            b.k[t * hd..(t + 1) * hd].copy_from_slice(&k[o..o + hd]);
            for d in 0..hd {
                b.vt[d * n4 + t] = v[o + d];
            }
        }
        // raw[t][u] = q_t · k_u; then scaled, softmaxed rows with stride n4 (zero padding after n).
        gemm_f32(&b.q, &b.k, n, n, hd, &mut b.raw);
        for t in 0..n {
            let r = &mut b.scores[t * n4..t * n4 + n];
            r.iter_mut().zip(&b.raw[t * n..(t + 1) * n]).for_each(|(d, &s)| *d = s * scale);
            fastmath::softmax_f32(r);
        }
        gemm_f32(&b.scores, &b.vt, n, hd, n4, &mut b.out);
        for t in 0..n {
            let o = (start + t) * h + hh * hd;
            ctx[o..o + hd].copy_from_slice(&b.out[t * hd..(t + 1) * hd]);
        }
    }
}

fn layer_norm(x: &mut [f32], (w, b): &(Vec<f32>, Vec<f32>), eps: f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, &wi), &bi) in x.iter_mut().zip(w).zip(b) {
        *v = (*v - mean) * inv * wi + bi;
    }
}
