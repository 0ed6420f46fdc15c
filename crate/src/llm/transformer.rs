//! The transformer forward pass for llama, qwen2 and gemma3, on weights borrowed from the GGUF bytes.
//!
//! One readable loop in the spirit of llama2.c: embed, then per layer norm → attention (with RoPE and a KV
//! cache) → residual → norm → gated FFN → residual, then the final norm and the vocabulary projection.
//! Gemma 3 adds QK-norm, post-norms, scaled embeddings, GELU and sliding-window layers; the differences are
//! switches on [`Config`]. Work buffers live in [`Scratch`] and are reused, so decoding a token allocates
//! nothing. Every matrix product goes through [`Matrices`], which hides whether the rows are all here or
//! split across workers (`split.rs`): the pass below is the same either way, and so are its numbers.

use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::kernels::attention;
use crate::kernels::fastmath;
use crate::kernels::quant::{dequantize_row, Q8Acts};
use crate::llm::config::{Activation, Config};
use crate::llm::kv_cache::KvCache;
use crate::llm::split::{self, grow, Layout, Matrices, PeerScratch, Peers, DOWN, GATE, K, O, PER_LAYER, Q, UP, V};

struct Layer {
    attn_norm: Vec<f32>,
    /// Biases added to the Q, K and V projections (qwen2; absent elsewhere).
    qkv_bias: Option<[Vec<f32>; 3]>,
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    post_attn_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    post_ffn_norm: Option<Vec<f32>>,
}

pub struct Transformer {
    pub config: Config,
    /// Every matrix (per layer q, k, v, o, gate, up, down; then the output projection and the embedding
    /// table), whole or split.
    mats: Matrices,
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
    peer: PeerScratch,
}

impl Scratch {
    fn ensure(&mut self, c: &Config, t: usize, n_ctx: usize, n_logits: usize) {
        // Buffers only grow: a later, smaller batch reuses them without reallocating.
        grow(&mut self.x, t * c.dim);
        grow(&mut self.xb, t * c.dim);
        grow(&mut self.xb2, t * c.dim);
        grow(&mut self.q, t * c.q_dim());
        grow(&mut self.k, t * c.kv_dim());
        grow(&mut self.v, t * c.kv_dim());
        grow(&mut self.attn_out, t * c.q_dim());
        grow(&mut self.att, n_ctx * (c.n_heads / c.n_kv_heads));
        grow(&mut self.hb, t * c.ffn_dim);
        grow(&mut self.hb2, t * c.ffn_dim);
        grow(&mut self.rope, 2 * t * c.rope_dim);
        grow(&mut self.logits, n_logits * c.n_vocab);
        self.cap = self.cap.max(t);
    }
}

/// Which logits a pass computes: none (an early part of a split batch), the last token's, or every token's
/// into the logits rows from `at`.
#[derive(Clone, Copy)]
enum Want {
    None,
    Last,
    All { at: usize },
}

impl Transformer {
    /// Builds the model from the parsed GGUF `g` of `bytes` (the whole file), checking every tensor it needs.
    pub fn new(bytes: Vec<u8>, g: &Gguf) -> Result<Transformer> {
        Transformer::from_layout(bytes, g, &Layout::whole_file(g))
    }

    /// Builds the model from `bytes` laid out as `layout` says (the whole file, or shard 0's part of it).
    pub fn from_layout(bytes: Vec<u8>, g: &Gguf, layout: &Layout) -> Result<Transformer> {
        if layout.spec.index != 0 {
            return Err(Error::Invalid("only shard 0 runs the model; the others are matrix shards".into()));
        }
        let embd = g
            .tensor("token_embd.weight")
            .ok_or_else(|| Error::Unsupported("tensor `token_embd.weight` is missing".into()))?;
        if embd.dims.len() != 2 {
            return Err(Error::Unsupported(format!(
                "tensor `token_embd.weight` has shape {:?}, expected 2 dimensions",
                embd.dims
            )));
        }
        let config = Config::from_gguf(g, embd.dims[1] as usize)?;
        let c = &config;
        let mut mats = split::matrices(g, layout, c)?;
        let mut bytes = bytes;
        if crate::kernels::matmul::REGROUP_AT_LOAD {
            crate::kernels::matmul::regroup(&mut bytes, &mut mats);
        }
        let norm = |name: &str, n: usize| norm(g, layout, &bytes, name, n);
        let output_norm = norm("output_norm.weight", c.dim)?;
        let gemma = c.arch == crate::llm::config::Arch::Gemma3;
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            let opt_norm = |s: &str, len: usize| -> Result<Option<Vec<f32>>> {
                if gemma {
                    Ok(Some(norm(&n(s), len)?))
                } else {
                    Ok(None)
                }
            };
            let bias = |s: &str, len: usize| norm(&format!("blk.{l}.{s}.bias"), len);
            let qkv_bias = if g.tensor(&format!("blk.{l}.attn_q.bias")).is_some() {
                Some([bias("attn_q", c.q_dim())?, bias("attn_k", c.kv_dim())?, bias("attn_v", c.kv_dim())?])
            } else {
                None
            };
            layers.push(Layer {
                attn_norm: norm(&n("attn_norm"), c.dim)?,
                qkv_bias,
                q_norm: opt_norm("attn_q_norm", c.head_dim)?,
                k_norm: opt_norm("attn_k_norm", c.head_dim)?,
                post_attn_norm: opt_norm("post_attention_norm", c.dim)?,
                ffn_norm: norm(&n("ffn_norm"), c.dim)?,
                post_ffn_norm: opt_norm("post_ffw_norm", c.dim)?,
            });
        }
        let inv = |base: f32| {
            (0..c.rope_dim / 2).map(|i| base.powf(-2.0 * i as f32 / c.rope_dim as f32) / c.rope_scale).collect()
        };
        let inv_freq = [inv(c.rope_base), inv(c.rope_base_local)];
        let mats = Matrices::new(bytes, mats, layout.spec, c.dim, c.n_vocab);
        Ok(Transformer { config, mats, output_norm, layers, inv_freq })
    }

    /// Bytes of weights held (the GGUF file, or this shard's part).
    pub fn weight_bytes(&self) -> usize {
        self.mats.weight_bytes()
    }

    /// How many workers share the matrices (1: this one holds them all).
    pub fn shard_count(&self) -> usize {
        self.mats.shard_count()
    }

    /// Connects a split model to the workers holding the other rows.
    pub fn attach_peers(&mut self, peers: Box<dyn Peers>) -> Result<()> {
        self.mats.attach_peers(peers)
    }

    /// Input and per-peer output floats a job needs for batches of `batch` tokens (see [`Matrices`]).
    pub fn peer_buffers(&self, batch: usize) -> (usize, usize) {
        self.mats.peer_buffers(batch)
    }

    /// Runs `tokens` at positions `cache.len()..`, appending to the cache. Returns the logits of every token
    /// (`all_logits`, row-major `tokens.len() × n_vocab`) or of the last one only. On error the cache is as
    /// it was.
    pub fn forward<'s>(
        &self,
        s: &'s mut Scratch,
        cache: &mut KvCache,
        tokens: &[u32],
        all_logits: bool,
    ) -> Result<&'s [f32]> {
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
        self.mats.check_attached()?;
        let n_logits = if all_logits { nt } else { 1 };
        s.ensure(c, nt, cache.capacity(), n_logits);
        // Split models run big batches in passes that fit the buffers shared with the peers.
        let step = self.mats.tokens_per_pass(nt, all_logits);
        let mut done = 0;
        for part in tokens.chunks(step) {
            let want = match (all_logits, done + part.len() == nt) {
                (true, _) => Want::All { at: done },
                (false, true) => Want::Last,
                (false, false) => Want::None,
            };
            if let Err(e) = self.pass(s, cache, part, want) {
                cache.truncate(pos0);
                return Err(e);
            }
            done += part.len();
        }
        Ok(&s.logits[..n_logits * c.n_vocab])
    }

    fn pass(&self, s: &mut Scratch, cache: &mut KvCache, tokens: &[u32], want: Want) -> Result<()> {
        let c = &self.config;
        let nt = tokens.len();
        let pos0 = cache.len();
        let (dim, qd, kvd, hd) = (c.dim, c.q_dim(), c.kv_dim(), c.head_dim);

        self.mats.embed(tokens, &mut s.x[..nt * dim], &mut s.peer)?;
        if c.embed_scale != 1.0 {
            s.x[..nt * dim].iter_mut().for_each(|v| *v *= c.embed_scale);
        }

        // RoPE's cos/sin per token and layer kind (global, sliding: only for models with sliding layers),
        // shared by every layer of that kind.
        let rd = c.rope_dim;
        let kinds = if c.sliding_window.is_some() { 2 } else { 1 };
        for (kind, inv_freq) in self.inv_freq.iter().enumerate().take(kinds) {
            for t in 0..nt {
                let at = (kind * nt + t) * rd;
                rope_table(&mut s.rope[at..at + rd], (pos0 + t) as f32, inv_freq);
            }
        }

        for (l, ly) in self.layers.iter().enumerate() {
            let m = (l * PER_LAYER) as u32;
            rmsnorm_rows(&mut s.xb[..nt * dim], &s.x[..nt * dim], &ly.attn_norm, c.norm_eps);
            let xb = &s.xb[..nt * dim];
            let qkv = [m + Q as u32, m + K as u32, m + V as u32];
            self.mats.mm(
                &qkv,
                xb,
                &mut s.acts,
                &mut [&mut s.q[..nt * qd], &mut s.k[..nt * kvd], &mut s.v[..nt * kvd]],
                &mut s.peer,
            )?;
            if let Some([bq, bk, bv]) = &ly.qkv_bias {
                add_rows(&mut s.q[..nt * qd], bq);
                add_rows(&mut s.k[..nt * kvd], bk);
                add_rows(&mut s.v[..nt * kvd], bv);
            }
            if let (Some(qn), Some(kn)) = (&ly.q_norm, &ly.k_norm) {
                rmsnorm_rows_inplace(&mut s.q[..nt * qd], qn, c.norm_eps);
                rmsnorm_rows_inplace(&mut s.k[..nt * kvd], kn, c.norm_eps);
            }
            let sliding = c.is_sliding(l);
            for t in 0..nt {
                let at = (sliding as usize * nt + t) * rd;
                let cs = &s.rope[at..at + rd];
                rope(&mut s.q[t * qd..(t + 1) * qd], hd, c.rope_neox, cs);
                rope(&mut s.k[t * kvd..(t + 1) * kvd], hd, c.rope_neox, cs);
            }
            cache.append(l, &s.k[..nt * kvd], &s.v[..nt * kvd]);
            let (kc, vc) = cache.layer(l);
            let heads = attention::Heads { heads: c.n_heads, kv_heads: c.n_kv_heads, hd };
            let window = if sliding { c.sliding_window } else { None };
            attention::attend(
                &s.q[..nt * qd],
                kc,
                vc,
                heads,
                pos0,
                window,
                c.attn_scale,
                &mut s.att,
                &mut s.attn_out[..nt * qd],
            );
            let ao = &s.attn_out[..nt * qd];
            self.mats.mm(&[m + O as u32], ao, &mut s.acts, &mut [&mut s.xb2[..nt * dim]], &mut s.peer)?;
            if let Some(pn) = &ly.post_attn_norm {
                rmsnorm_rows_inplace(&mut s.xb2[..nt * dim], pn, c.norm_eps);
            }
            add(&mut s.x[..nt * dim], &s.xb2[..nt * dim]);

            rmsnorm_rows(&mut s.xb[..nt * dim], &s.x[..nt * dim], &ly.ffn_norm, c.norm_eps);
            let xb = &s.xb[..nt * dim];
            let fd = c.ffn_dim;
            let gate_up = [m + GATE as u32, m + UP as u32];
            self.mats.mm(&gate_up, xb, &mut s.acts, &mut [&mut s.hb[..nt * fd], &mut s.hb2[..nt * fd]], &mut s.peer)?;
            match c.activation {
                Activation::Silu => fastmath::silu_mul(&mut s.hb[..nt * fd], &s.hb2[..nt * fd]),
                Activation::GeluTanh => fastmath::gelu_mul(&mut s.hb[..nt * fd], &s.hb2[..nt * fd]),
            }
            let hb = &s.hb[..nt * fd];
            self.mats.mm(&[m + DOWN as u32], hb, &mut s.acts, &mut [&mut s.xb2[..nt * dim]], &mut s.peer)?;
            if let Some(pn) = &ly.post_ffn_norm {
                rmsnorm_rows_inplace(&mut s.xb2[..nt * dim], pn, c.norm_eps);
            }
            add(&mut s.x[..nt * dim], &s.xb2[..nt * dim]);
        }

        let (first, at) = match want {
            Want::None => return Ok(()),
            Want::Last => (nt - 1, 0),
            Want::All { at } => (0, at),
        };
        let n = nt - first;
        rmsnorm_rows(&mut s.xb[..n * dim], &s.x[first * dim..nt * dim], &self.output_norm, c.norm_eps);
        let xb = &s.xb[..n * dim];
        self.mats.mm(
            &[self.mats.output()],
            xb,
            &mut s.acts,
            &mut [&mut s.logits[at * c.n_vocab..(at + n) * c.n_vocab]],
            &mut s.peer,
        )
    }
}

fn norm(g: &Gguf, layout: &Layout, bytes: &[u8], name: &str, n: usize) -> Result<Vec<f32>> {
    let t = g.tensor(name).ok_or_else(|| Error::Unsupported(format!("tensor `{name}` is missing")))?;
    if t.dims != [n as u64] {
        return Err(Error::Unsupported(format!("tensor `{name}` has shape {:?}, expected [{n}]", t.dims)));
    }
    if !t.ty.is_supported() {
        return Err(Error::Unsupported(format!(
            "tensor `{name}` has type {}, which hearth cannot run yet",
            t.ty.name()
        )));
    }
    let at =
        layout.place(name).ok_or_else(|| Error::Invalid(format!("tensor `{name}` is not held by this shard")))?.offset;
    let mut out = vec![0f32; n];
    dequantize_row(t.ty, &bytes[at..at + t.n_bytes], &mut out);
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

/// RoPE's angles at position `pos` into `cs` (`rope_dim` floats): `cs[i]` the cosine, `cs[rope_dim / 2 + i]`
/// the sine of frequency i.
fn rope_table(cs: &mut [f32], pos: f32, inv_freq: &[f32]) {
    let half = cs.len() / 2;
    for (i, f) in inv_freq.iter().enumerate().take(half) {
        let (sn, cn) = (pos * f).sin_cos();
        cs[i] = cn;
        cs[half + i] = sn;
    }
}

/// Rotates each head of `x` (heads of `hd` values) by the angles of one position ([`rope_table`]).
fn rope(x: &mut [f32], hd: usize, neox: bool, cs: &[f32]) {
    let half = cs.len() / 2;
    for head in x.chunks_exact_mut(hd) {
        for i in 0..half {
            let (a, b) = if neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * cs[i] - x1 * cs[half + i];
            head[b] = x0 * cs[half + i] + x1 * cs[i];
        }
    }
}

/// Adds `b` to every `b.len()`-sized row of `x`.
fn add_rows(x: &mut [f32], b: &[f32]) {
    for row in x.chunks_exact_mut(b.len()) {
        add(row, b);
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
