//! Transformer hyperparameters read from GGUF metadata, for the architectures we run.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::gguf::Gguf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Llama,
    Gemma3,
    /// Llama's layout with biases on the Q/K/V projections and NeoX-style RoPE.
    Qwen2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Silu,
    /// GELU with the tanh approximation (Gemma's `gelu_pytorch_tanh`).
    GeluTanh,
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub arch: Arch,
    pub n_vocab: usize,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn_dim: usize,
    /// Context length the model was trained with.
    pub ctx_train: usize,
    pub norm_eps: f32,
    pub rope_base: f32,
    /// Gemma 3's sliding-window layers use their own RoPE base.
    pub rope_base_local: f32,
    pub rope_dim: usize,
    /// RoPE rotates pairs (i, i + d/2) ("NeoX" style) rather than (2i, 2i + 1).
    pub rope_neox: bool,
    /// Linear RoPE scaling: positions are divided by this.
    pub rope_scale: f32,
    pub sliding_window: Option<usize>,
    /// Every `swa_pattern`-th layer is global; the others use the sliding window.
    pub swa_pattern: usize,
    pub embed_scale: f32,
    pub attn_scale: f32,
    pub activation: Activation,
}

impl Config {
    pub fn from_gguf(g: &Gguf, n_vocab: usize) -> Result<Config> {
        let arch_name = g.architecture()?;
        let arch = match arch_name {
            "llama" => Arch::Llama,
            "gemma3" => Arch::Gemma3,
            "qwen2" => Arch::Qwen2,
            other => {
                return Err(Error::Unsupported(format!(
                    "architecture `{other}` is not supported (hearth runs: llama, gemma3, qwen2)"
                )))
            }
        };
        let key = |k: &str| format!("{arch_name}.{k}");
        let req = |k: &str| g.require_u64(&key(k)).map(|v| v as usize);
        let dim = req("embedding_length")?;
        let n_layers = req("block_count")?;
        let n_heads = req("attention.head_count")?;
        let n_kv_heads = g.get_u64(&key("attention.head_count_kv")).map(|v| v as usize).unwrap_or(n_heads);
        let ffn_dim = req("feed_forward_length")?;
        let ctx_train = req("context_length")?;
        let head_dim = g
            .get_u64(&key("attention.key_length"))
            .map(|v| v as usize)
            .unwrap_or(dim.checked_div(n_heads).unwrap_or(0));
        let check = |name: &str, v: usize, max: usize| {
            if v == 0 || v > max {
                Err(Error::Unsupported(format!("metadata `{}` = {v} is out of range (1..={max})", key(name))))
            } else {
                Ok(())
            }
        };
        check("embedding_length", dim, 1 << 16)?;
        check("block_count", n_layers, 512)?;
        check("attention.head_count", n_heads, 1024)?;
        check("attention.head_count_kv", n_kv_heads, n_heads)?;
        check("attention.key_length", head_dim, 1024)?;
        check("feed_forward_length", ffn_dim, 1 << 18)?;
        check("context_length", ctx_train, 1 << 24)?;
        if n_heads % n_kv_heads != 0 {
            return Err(Error::Unsupported(format!(
                "{n_heads} attention heads are not a multiple of {n_kv_heads} KV heads"
            )));
        }
        if let Some(vl) = g.get_u64(&key("attention.value_length")) {
            if vl as usize != head_dim {
                return Err(Error::Unsupported(format!("value length {vl} differs from key length {head_dim}")));
            }
        }
        let rope_dim = g.get_u64(&key("rope.dimension_count")).map(|v| v as usize).unwrap_or(head_dim);
        if rope_dim == 0 || rope_dim > head_dim || !rope_dim.is_multiple_of(2) {
            return Err(Error::Unsupported(format!("rope dimension {rope_dim} does not fit head size {head_dim}")));
        }
        let f = |k: &str, default: f64| g.get_f64(&key(k)).unwrap_or(default) as f32;
        let rope_scale = match g.get_str(&key("rope.scaling.type")) {
            None | Some("none") => 1.0,
            Some("linear") => f("rope.scaling.factor", 1.0),
            Some(other) => return Err(Error::Unsupported(format!("RoPE scaling `{other}` is not supported"))),
        };
        let norm_eps = f("attention.layer_norm_rms_epsilon", 1e-5);
        let llama = Config {
            arch,
            n_vocab,
            dim,
            n_layers,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim,
            ctx_train,
            norm_eps,
            rope_base: f("rope.freq_base", 10000.0),
            rope_base_local: f("rope.freq_base", 10000.0),
            rope_dim,
            rope_neox: false,
            rope_scale,
            sliding_window: None,
            swa_pattern: 1,
            embed_scale: 1.0,
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            activation: Activation::Silu,
        };
        Ok(match arch {
            Arch::Llama => llama,
            Arch::Qwen2 => Config {
                norm_eps: f("attention.layer_norm_rms_epsilon", 1e-6),
                rope_base: f("rope.freq_base", 1_000_000.0),
                rope_base_local: f("rope.freq_base", 1_000_000.0),
                rope_neox: true,
                ..llama
            },
            Arch::Gemma3 => Config {
                norm_eps: f("attention.layer_norm_rms_epsilon", 1e-6),
                rope_base: f("rope.freq_base", 1_000_000.0),
                rope_base_local: 10000.0,
                rope_neox: true,
                sliding_window: g.get_u64(&key("attention.sliding_window")).map(|v| v as usize).filter(|&w| w > 0),
                swa_pattern: 6,
                embed_scale: (dim as f32).sqrt(),
                activation: Activation::GeluTanh,
                ..llama
            },
        })
    }

    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    /// Whether layer `l` attends only within the sliding window.
    pub fn is_sliding(&self, l: usize) -> bool {
        self.sliding_window.is_some() && !(l + 1).is_multiple_of(self.swa_pattern)
    }
}
