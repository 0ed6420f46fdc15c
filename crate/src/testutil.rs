//! Tiny synthetic GGUF models for fast tests: random weights, a small SentencePiece or BPE vocabulary,
//! and the real tensor names and metadata of the llama and gemma3 architectures.

use crate::gguf::writer::{write, TensorData};
use crate::gguf::{Array, Value};
use crate::quant::GgmlType;
use crate::sampler::Rng;

#[derive(Clone)]
pub struct TinySpec {
    pub arch: &'static str,
    /// Type of the big matrices (norms are always F32).
    pub weight_type: GgmlType,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub ffn_dim: usize,
    pub ctx: usize,
    pub chat_template: Option<&'static str>,
    pub seed: u64,
}

impl Default for TinySpec {
    fn default() -> Self {
        TinySpec {
            arch: "llama",
            weight_type: GgmlType::Q8_0,
            dim: 64,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            ffn_dim: 128,
            ctx: 128,
            chat_template: None,
            seed: 42,
        }
    }
}

/// The SentencePiece vocabulary: specials, 256 byte tokens, then letters and a few merged pieces.
pub fn spm_vocab() -> (Vec<String>, Vec<f32>, Vec<i64>) {
    let mut toks = vec!["<unk>".to_string(), "<s>".into(), "</s>".into(), "<|im_start|>".into(), "<|im_end|>".into()];
    let mut types = vec![2i64, 3, 3, 3, 3];
    for b in 0..256 {
        toks.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    for p in ["▁", "a", "b", "c", "h", "e", "l", "o", "ab", "▁a", "▁ab", "he", "ll", "hell", "hello", "▁hello", "lo"] {
        toks.push(p.to_string());
        types.push(1);
    }
    // Longer pieces score higher, so merges prefer them (as real SentencePiece scores tend to).
    let scores = toks.iter().map(|t| t.chars().count() as f32 - 10.0).collect();
    (toks, scores, types)
}

fn random_matrix(ty: GgmlType, cols: usize, rows: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(ty.row_bytes(cols) * rows);
    for _ in 0..rows {
        out.extend(crate::quant::tests_support::random_row(ty, cols, rng));
    }
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes a tiny model as GGUF bytes.
pub fn tiny_gguf(spec: &TinySpec) -> Vec<u8> {
    let (toks, scores, types) = spm_vocab();
    let n_vocab = toks.len();
    let a = spec.arch;
    let head_dim = spec.dim / spec.n_heads;
    let mut md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::Str(a.into())),
        ("general.name".into(), Value::Str(format!("tiny-{a}"))),
        (format!("{a}.context_length"), Value::U32(spec.ctx as u32)),
        (format!("{a}.embedding_length"), Value::U32(spec.dim as u32)),
        (format!("{a}.block_count"), Value::U32(spec.n_layers as u32)),
        (format!("{a}.feed_forward_length"), Value::U32(spec.ffn_dim as u32)),
        (format!("{a}.attention.head_count"), Value::U32(spec.n_heads as u32)),
        (format!("{a}.attention.head_count_kv"), Value::U32(spec.n_kv_heads as u32)),
        (format!("{a}.attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        (format!("{a}.rope.freq_base"), Value::F32(10000.0)),
        ("tokenizer.ggml.model".into(), Value::Str("llama".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(Array::Str(toks))),
        ("tokenizer.ggml.scores".into(), Value::Array(Array::F32(scores))),
        ("tokenizer.ggml.token_type".into(), Value::Array(Array::Int(types))),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)),
    ];
    if a == "gemma3" {
        md.push((format!("{a}.attention.key_length"), Value::U32(head_dim as u32)));
        md.push((format!("{a}.attention.value_length"), Value::U32(head_dim as u32)));
        md.push((format!("{a}.attention.sliding_window"), Value::U32(8)));
    }
    if let Some(t) = spec.chat_template {
        md.push(("tokenizer.chat_template".into(), Value::Str(t.into())));
    }
    let mut rng = Rng::new(spec.seed);
    let mut tensors = Vec::new();
    let wt = spec.weight_type;
    let mat = |name: String, cols: usize, rows: usize, rng: &mut Rng| TensorData {
        name,
        dims: vec![cols as u64, rows as u64],
        ty: wt,
        data: random_matrix(wt, cols, rows, rng),
    };
    let norm = |name: String, n: usize, rng: &mut Rng| TensorData {
        name,
        dims: vec![n as u64],
        ty: GgmlType::F32,
        data: f32_bytes(&(0..n).map(|_| 0.8 + 0.4 * rng.next_f32()).collect::<Vec<_>>()),
    };
    let (d, kv, f) = (spec.dim, spec.n_kv_heads * head_dim, spec.ffn_dim);
    tensors.push(mat("token_embd.weight".into(), d, n_vocab, &mut rng));
    tensors.push(norm("output_norm.weight".into(), d, &mut rng));
    for l in 0..spec.n_layers {
        let n = |s: &str| format!("blk.{l}.{s}.weight");
        tensors.push(norm(n("attn_norm"), d, &mut rng));
        tensors.push(mat(n("attn_q"), d, d, &mut rng));
        tensors.push(mat(n("attn_k"), d, kv, &mut rng));
        tensors.push(mat(n("attn_v"), d, kv, &mut rng));
        tensors.push(mat(n("attn_output"), d, d, &mut rng));
        tensors.push(norm(n("ffn_norm"), d, &mut rng));
        tensors.push(mat(n("ffn_gate"), d, f, &mut rng));
        tensors.push(mat(n("ffn_up"), d, f, &mut rng));
        tensors.push(mat(n("ffn_down"), f, d, &mut rng));
        if a == "gemma3" {
            tensors.push(norm(n("attn_q_norm"), head_dim, &mut rng));
            tensors.push(norm(n("attn_k_norm"), head_dim, &mut rng));
            tensors.push(norm(n("post_attention_norm"), d, &mut rng));
            tensors.push(norm(n("post_ffw_norm"), d, &mut rng));
        }
    }
    write(&md, &tensors)
}
