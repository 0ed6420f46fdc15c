//! The transformer forward pass for llama and gemma3, on weights borrowed from the GGUF bytes.
//!
//! One readable loop in the spirit of llama2.c: embed, then per layer norm → attention (with RoPE and a KV
//! cache) → residual → norm → gated FFN → residual, then the final norm and the vocabulary projection.
//! Gemma 3 adds QK-norm, post-norms, scaled embeddings, GELU and sliding-window layers; the differences are
//! switches on [`Config`]. Work buffers live in [`Scratch`] and are reused, so decoding a token allocates
//! nothing.

use crate::config::{Activation, Config};
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::kv_cache::KvCache;
use crate::matmul::{matmul, quantize, Weight};
use crate::quant::{dequantize_row, dot_f32, Q8Acts};

struct Layer {
    attn_norm: Vec<f32>,
    wq: Weight,
    wk: Weight,
    wv: Weight,
    wo: Weight,
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    post_attn_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    w_gate: Weight,
    w_up: Weight,
    w_down: Weight,
    post_ffn_norm: Option<Vec<f32>>,
}

pub struct Transformer {
    pub config: Config,
    /// The whole GGUF file; weights are read from it in place.
    bytes: Vec<u8>,
    tok_embd: Weight,
    output: Weight,
    output_norm: Vec<f32>,
    layers: Vec<Layer>,
    /// Per layer kind (global, sliding): RoPE inverse frequencies.
    inv_freq: [Vec<f32>; 2],
}

/// Reused work buffers for a batch of up to `cap` tokens.
#[derive(Default)]
pub struct Scratch {
    cap: usize,
    x: Vec<f32>,
    xb: Vec<f32>,
    xb2: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn_out: Vec<f32>,
    att: Vec<f32>,
    hb: Vec<f32>,
    hb2: Vec<f32>,
    rope: Vec<f32>,
    pub logits: Vec<f32>,
    acts: Q8Acts,
}

impl Scratch {
    fn ensure(&mut self, c: &Config, t: usize, n_ctx: usize, n_logits: usize) {
        // Buffers only grow: a later, smaller batch reuses them without reallocating.
        let grow = |v: &mut Vec<f32>, n: usize| {
            if v.len() < n {
                v.resize(n, 0.0)
            }
        };
        grow(&mut self.x, t * c.dim);
        grow(&mut self.xb, t * c.dim);
        grow(&mut self.xb2, t * c.dim);
        grow(&mut self.q, t * c.q_dim());
        grow(&mut self.k, t * c.kv_dim());
        grow(&mut self.v, t * c.kv_dim());
        grow(&mut self.attn_out, t * c.q_dim());
        grow(&mut self.att, n_ctx);
        grow(&mut self.hb, t * c.ffn_dim);
        grow(&mut self.hb2, t * c.ffn_dim);
        grow(&mut self.rope, c.rope_dim);
        grow(&mut self.logits, n_logits * c.n_vocab);
        self.cap = self.cap.max(t);
    }
}

impl Transformer {
    /// Builds the model from the parsed GGUF `g` of `bytes`, checking every tensor it needs.
    pub fn new(bytes: Vec<u8>, g: &Gguf) -> Result<Transformer> {
        let embd = g.tensor("token_embd.weight").ok_or_else(|| Error::Unsupported("tensor `token_embd.weight` is missing".into()))?;
        if embd.dims.len() != 2 {
            return Err(Error::Unsupported(format!("tensor `token_embd.weight` has shape {:?}, expected 2 dimensions", embd.dims)));
        }
        let config = Config::from_gguf(g, embd.dims[1] as usize)?;
        let c = &config;
        let tok_embd = weight(g, "token_embd.weight", c.dim, c.n_vocab)?;
        let output = if g.tensor("output.weight").is_some() { weight(g, "output.weight", c.dim, c.n_vocab)? } else { tok_embd.clone() };
        let output_norm = norm(g, &bytes, "output_norm.weight", c.dim)?;
        let gemma = c.arch == crate::config::Arch::Gemma3;
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            let opt_norm = |s: &str, len: usize| -> Result<Option<Vec<f32>>> {
                if gemma {
                    Ok(Some(norm(g, &bytes, &n(s), len)?))
                } else {
                    Ok(None)
                }
            };
            layers.push(Layer {
                attn_norm: norm(g, &bytes, &n("attn_norm"), c.dim)?,
                wq: weight(g, &n("attn_q"), c.dim, c.q_dim())?,
                wk: weight(g, &n("attn_k"), c.dim, c.kv_dim())?,
                wv: weight(g, &n("attn_v"), c.dim, c.kv_dim())?,
                wo: weight(g, &n("attn_output"), c.q_dim(), c.dim)?,
                q_norm: opt_norm("attn_q_norm", c.head_dim)?,
                k_norm: opt_norm("attn_k_norm", c.head_dim)?,
                post_attn_norm: opt_norm("post_attention_norm", c.dim)?,
                ffn_norm: norm(g, &bytes, &n("ffn_norm"), c.dim)?,
                w_gate: weight(g, &n("ffn_gate"), c.dim, c.ffn_dim)?,
                w_up: weight(g, &n("ffn_up"), c.dim, c.ffn_dim)?,
                w_down: weight(g, &n("ffn_down"), c.ffn_dim, c.dim)?,
                post_ffn_norm: opt_norm("post_ffw_norm", c.dim)?,
            });
        }
        let inv = |base: f32| (0..c.rope_dim / 2).map(|i| base.powf(-2.0 * i as f32 / c.rope_dim as f32) / c.rope_scale).collect();
        let inv_freq = [inv(c.rope_base), inv(c.rope_base_local)];
        Ok(Transformer { config, bytes, tok_embd, output, output_norm, layers, inv_freq })
    }

    /// Bytes of weights held (the GGUF file).
    pub fn weight_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Runs `tokens` at positions `cache.len()..`, appending to the cache. Returns the logits of every token
    /// (`all_logits`, row-major `tokens.len() × n_vocab`) or of the last one only.
    pub fn forward<'s>(&self, s: &'s mut Scratch, cache: &mut KvCache, tokens: &[u32], all_logits: bool) -> Result<&'s [f32]> {
        let c = &self.config;
        let nt = tokens.len();
        if nt == 0 {
            return Err(Error::Invalid("forward called with no tokens".into()));
        }
        let pos0 = cache.len();
        if pos0 + nt > cache.capacity() {
            return Err(Error::Context(format!(
                "{} tokens at position {pos0} exceed the context window of {} tokens",
                nt,
                cache.capacity()
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(Error::Invalid(format!("token id {bad} is outside the vocabulary of {}", c.n_vocab)));
        }
        let n_logits = if all_logits { nt } else { 1 };
        s.ensure(c, nt, cache.capacity(), n_logits);
        let (dim, qd, kvd, hd) = (c.dim, c.q_dim(), c.kv_dim(), c.head_dim);
        let b = &self.bytes;

        for (t, &tok) in tokens.iter().enumerate() {
            let xr = &mut s.x[t * dim..(t + 1) * dim];
            dequantize_row(self.tok_embd.ty, self.tok_embd.row(b, tok as usize), xr);
            if c.embed_scale != 1.0 {
                xr.iter_mut().for_each(|v| *v *= c.embed_scale);
            }
        }

        for (l, ly) in self.layers.iter().enumerate() {
            rmsnorm_rows(&mut s.xb[..nt * dim], &s.x[..nt * dim], &ly.attn_norm, c.norm_eps);
            let xb = &s.xb[..nt * dim];
            quantize(&mut s.acts, xb);
            matmul(b, &ly.wq, xb, &s.acts, &mut s.q[..nt * qd]);
            matmul(b, &ly.wk, xb, &s.acts, &mut s.k[..nt * kvd]);
            matmul(b, &ly.wv, xb, &s.acts, &mut s.v[..nt * kvd]);
            if let (Some(qn), Some(kn)) = (&ly.q_norm, &ly.k_norm) {
                rmsnorm_rows_inplace(&mut s.q[..nt * qd], qn, c.norm_eps);
                rmsnorm_rows_inplace(&mut s.k[..nt * kvd], kn, c.norm_eps);
            }
            let sliding = c.is_sliding(l);
            let inv_freq = &self.inv_freq[sliding as usize];
            for t in 0..nt {
                let pos = (pos0 + t) as f32;
                rope(&mut s.q[t * qd..(t + 1) * qd], hd, c.rope_dim, c.rope_neox, pos, inv_freq, &mut s.rope);
                rope(&mut s.k[t * kvd..(t + 1) * kvd], hd, c.rope_dim, c.rope_neox, pos, inv_freq, &mut s.rope);
            }
            cache.append(l, &s.k[..nt * kvd], &s.v[..nt * kvd]);
            let (kc, vc) = cache.layer(l);
            let group = c.n_heads / c.n_kv_heads;
            for t in 0..nt {
                let p = pos0 + t;
                let start = match (sliding, c.sliding_window) {
                    (true, Some(w)) => (p + 1).saturating_sub(w),
                    _ => 0,
                };
                for h in 0..c.n_heads {
                    let kvh = h / group;
                    let q = &s.q[t * qd + h * hd..t * qd + (h + 1) * hd];
                    let att = &mut s.att[start..=p];
                    for (i, a) in att.iter_mut().enumerate() {
                        let ko = (start + i) * kvd + kvh * hd;
                        *a = dot_f32(q, &kc[ko..ko + hd]) * c.attn_scale;
                    }
                    softmax(att);
                    let out = &mut s.attn_out[t * qd + h * hd..t * qd + (h + 1) * hd];
                    out.fill(0.0);
                    for (i, &a) in att.iter().enumerate() {
                        let vo = (start + i) * kvd + kvh * hd;
                        for (o, &v) in out.iter_mut().zip(&vc[vo..vo + hd]) {
                            *o += a * v;
                        }
                    }
                }
            }
            let ao = &s.attn_out[..nt * qd];
            quantize(&mut s.acts, ao);
            matmul(b, &ly.wo, ao, &s.acts, &mut s.xb2[..nt * dim]);
            if let Some(pn) = &ly.post_attn_norm {
                rmsnorm_rows_inplace(&mut s.xb2[..nt * dim], pn, c.norm_eps);
            }
            add(&mut s.x[..nt * dim], &s.xb2[..nt * dim]);

            rmsnorm_rows(&mut s.xb[..nt * dim], &s.x[..nt * dim], &ly.ffn_norm, c.norm_eps);
            let xb = &s.xb[..nt * dim];
            quantize(&mut s.acts, xb);
            let fd = c.ffn_dim;
            matmul(b, &ly.w_gate, xb, &s.acts, &mut s.hb[..nt * fd]);
            matmul(b, &ly.w_up, xb, &s.acts, &mut s.hb2[..nt * fd]);
            for (g, &u) in s.hb[..nt * fd].iter_mut().zip(&s.hb2[..nt * fd]) {
                *g = match c.activation {
                    Activation::Silu => *g / (1.0 + (-*g).exp()) * u,
                    Activation::GeluTanh => gelu_tanh(*g) * u,
                };
            }
            let hb = &s.hb[..nt * fd];
            quantize(&mut s.acts, hb);
            matmul(b, &ly.w_down, hb, &s.acts, &mut s.xb2[..nt * dim]);
            if let Some(pn) = &ly.post_ffn_norm {
                rmsnorm_rows_inplace(&mut s.xb2[..nt * dim], pn, c.norm_eps);
            }
            add(&mut s.x[..nt * dim], &s.xb2[..nt * dim]);
        }

        let first = nt - n_logits;
        let xs = &s.x[first * dim..nt * dim];
        rmsnorm_rows(&mut s.xb[..n_logits * dim], xs, &self.output_norm, c.norm_eps);
        let xb = &s.xb[..n_logits * dim];
        quantize(&mut s.acts, xb);
        matmul(b, &self.output, xb, &s.acts, &mut s.logits[..n_logits * c.n_vocab]);
        Ok(&s.logits[..n_logits * c.n_vocab])
    }
}

fn weight(g: &Gguf, name: &str, cols: usize, rows: usize) -> Result<Weight> {
    let t = g.tensor(name).ok_or_else(|| Error::Unsupported(format!("tensor `{name}` is missing")))?;
    if t.dims != [cols as u64, rows as u64] {
        return Err(Error::Unsupported(format!("tensor `{name}` has shape {:?}, expected [{cols}, {rows}]", t.dims)));
    }
    if !t.ty.is_supported() {
        return Err(Error::Unsupported(format!("tensor `{name}` has type {}, which hearth cannot run yet", t.ty.name())));
    }
    Ok(Weight { ty: t.ty, rows, cols, offset: t.offset })
}

fn norm(g: &Gguf, bytes: &[u8], name: &str, n: usize) -> Result<Vec<f32>> {
    let t = g.tensor(name).ok_or_else(|| Error::Unsupported(format!("tensor `{name}` is missing")))?;
    if t.dims != [n as u64] {
        return Err(Error::Unsupported(format!("tensor `{name}` has shape {:?}, expected [{n}]", t.dims)));
    }
    if !t.ty.is_supported() {
        return Err(Error::Unsupported(format!("tensor `{name}` has type {}, which hearth cannot run yet", t.ty.name())));
    }
    let mut out = vec![0f32; n];
    dequantize_row(t.ty, &bytes[t.offset..t.offset + t.n_bytes], &mut out);
    Ok(out)
}

fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let ss: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
    let scale = 1.0 / ((ss / x.len() as f64) as f32 + eps).sqrt();
    for ((o, &v), &wi) in out.iter_mut().zip(x).zip(w) {
        *o = v * scale * wi;
    }
}

/// RMS-normalises each `w.len()`-sized row of `x` into `out`.
fn rmsnorm_rows(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    for (o, xr) in out.chunks_exact_mut(w.len()).zip(x.chunks_exact(w.len())) {
        rmsnorm(o, xr, w, eps);
    }
}

fn rmsnorm_rows_inplace(x: &mut [f32], w: &[f32], eps: f32) {
    let mut tmp = [0f32; 1024];
    for xr in x.chunks_exact_mut(w.len()) {
        if w.len() <= tmp.len() {
            rmsnorm(&mut tmp[..w.len()], xr, w, eps);
            xr.copy_from_slice(&tmp[..w.len()]);
        } else {
            let copy = xr.to_vec();
            rmsnorm(xr, &copy, w, eps);
        }
    }
}

/// Rotates each head of `x` (heads of `hd` values) by position `pos`.
fn rope(x: &mut [f32], hd: usize, rope_dim: usize, neox: bool, pos: f32, inv_freq: &[f32], cs: &mut [f32]) {
    let half = rope_dim / 2;
    // cos/sin once per position, shared by all heads: cs[i] = cos, cs[half + i] = sin.
    for i in 0..half {
        let (sn, cn) = (pos * inv_freq[i]).sin_cos();
        cs[i] = cn;
        cs[half + i] = sn;
    }
    for head in x.chunks_exact_mut(hd) {
        for i in 0..half {
            let (a, b) = if neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * cs[i] - x1 * cs[half + i];
            head[b] = x0 * cs[half + i] + x1 * cs[i];
        }
    }
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh())
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
