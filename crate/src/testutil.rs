//! Tiny synthetic GGUF models for fast tests: random weights, a small SentencePiece or BPE vocabulary,
//! and the real tensor names and metadata of the llama and gemma3 architectures.

use crate::gguf::writer::{write, TensorData};
use crate::gguf::{Array, Value};
use crate::kernels::quant::GgmlType;
use crate::rng::Rng;

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
    for p in ["▁", "a", "b", "c", "h", "e", "l", "o", "ab", "▁a", "▁ab", "he", "ll", "hell", "hello", "▁hello", "lo"]
    {
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
        out.extend(crate::kernels::quant::tests_support::random_row(ty, cols, rng));
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
        ("tokenizer.ggml.token_type".into(), Value::Array(Array::Int(types.into()))),
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

/// A tiny random BERT in the sentence-transformers layout (safetensors, config.json, tokenizer.json with
/// a small WordPiece vocabulary), for fast embedder and index tests.
pub fn tiny_bert(seed: u64) -> (Vec<u8>, String, Vec<u8>) {
    use safetensors::tensor::{Dtype, TensorView};
    let words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "travel",
        "expenses",
        "need",
        "approval",
        "meal",
        "allowance",
        "per",
        "day",
        "laptop",
        "replaced",
        "every",
        "four",
        "years",
        "policy",
        "the",
        "is",
        "a",
        "of",
        "and",
        "to",
        ".",
        ",",
        "?",
        "##s",
        "##ing",
        "lost",
        "phone",
        "report",
        "eur",
        "500",
    ];
    let (h, f, layers, vocab) = (64usize, 128usize, 2usize, words.len());
    let mut rng = Rng::new(seed);
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, rng: &mut Rng, scale: f32, offset: f32| {
        let n: usize = shape.iter().product();
        tensors.push((
            name,
            shape,
            (0..n).flat_map(|_| ((rng.next_f32() - 0.5) * scale + offset).to_le_bytes()).collect(),
        ));
    };
    add("embeddings.word_embeddings.weight".into(), vec![vocab, h], &mut rng, 1.0, 0.0);
    add("embeddings.position_embeddings.weight".into(), vec![64, h], &mut rng, 0.2, 0.0);
    add("embeddings.token_type_embeddings.weight".into(), vec![2, h], &mut rng, 0.2, 0.0);
    add("embeddings.LayerNorm.weight".into(), vec![h], &mut rng, 0.2, 1.0);
    add("embeddings.LayerNorm.bias".into(), vec![h], &mut rng, 0.1, 0.0);
    for l in 0..layers {
        let p = format!("encoder.layer.{l}");
        for (n, rows, cols) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", f, h),
            ("output.dense", h, f),
        ] {
            add(format!("{p}.{n}.weight"), vec![rows, cols], &mut rng, 0.3, 0.0);
            add(format!("{p}.{n}.bias"), vec![rows], &mut rng, 0.1, 0.0);
        }
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(format!("{p}.{n}.weight"), vec![h], &mut rng, 0.2, 1.0);
            add(format!("{p}.{n}.bias"), vec![h], &mut rng, 0.1, 0.0);
        }
    }
    let views: Vec<(String, TensorView)> =
        tensors.iter().map(|(n, s, d)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), d).unwrap())).collect();
    let st = safetensors::serialize(views, None).unwrap();
    let config = format!(
        r#"{{"hidden_size": {h}, "num_hidden_layers": {layers}, "num_attention_heads": 4, "intermediate_size": {f}, "max_position_embeddings": 64, "vocab_size": {vocab}, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}}"#
    );
    let vocab_json: Vec<String> = words.iter().enumerate().map(|(i, w)| format!("\"{w}\": {i}")).collect();
    let added: Vec<String> = (0..5).map(|i| format!(r#"{{"id": {i}, "content": "{}", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}}"#, words[i])).collect();
    let tokenizer = format!(
        r###"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [{}],
"normalizer": {{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true}},
"pre_tokenizer": {{"type": "BertPreTokenizer"}},
"post_processor": {{"type": "TemplateProcessing", "single": [{{"SpecialToken": {{"id": "[CLS]", "type_id": 0}}}}, {{"Sequence": {{"id": "A", "type_id": 0}}}}, {{"SpecialToken": {{"id": "[SEP]", "type_id": 0}}}}], "pair": [{{"Sequence": {{"id": "A", "type_id": 0}}}}], "special_tokens": {{"[CLS]": {{"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}}, "[SEP]": {{"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}}}}},
"decoder": null,
"model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {{{}}}}}}}"###,
        added.join(", "),
        vocab_json.join(", ")
    );
    (st, config, tokenizer.into_bytes())
}

/// A model split across `count` shards in this process: every shard streams `bytes` in `chunk`-byte pieces
/// through its own [`crate::llm::split::ShardLoader`], shard 0 becomes the model and the others answer it as
/// [`crate::llm::split::LocalPeers`] with buffers of `capacity` floats (input, per-peer output), or exactly what
/// a prefill batch needs if `None`.
pub fn load_split(
    bytes: &[u8],
    count: usize,
    chunk: usize,
    capacity: Option<(usize, usize)>,
) -> crate::Result<crate::Model> {
    use crate::llm::split::{LocalPeers, MatrixShard, ShardLoader, ShardSpec};
    let stream = |index: usize| -> crate::Result<_> {
        let mut l = ShardLoader::new(bytes.len(), ShardSpec::new(index, count)?);
        for piece in bytes.chunks(chunk) {
            l.push(piece)?;
        }
        l.finish()
    };
    let (g, layout, data) = stream(0)?;
    let mut model = crate::Model::from_parts(&g, &layout, data, bytes.len())?;
    let mut shards = Vec::new();
    for i in 1..count {
        let (g, layout, data) = stream(i)?;
        shards.push(MatrixShard::new(&g, &layout, data)?);
    }
    let capacity = capacity.unwrap_or_else(|| model.transformer.peer_buffers(crate::llm::session::PREFILL_BATCH));
    model.transformer.attach_peers(Box::new(LocalPeers::new(shards, capacity)))?;
    Ok(model)
}
