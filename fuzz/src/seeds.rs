//! The seed corpus: written by `hearth-fuzz --write-seeds` into `fuzz/corpus/` (committed: every file is
//! under 1 MB), except the model seeds, which [`models`] makes on the fly. Crafted to start the mutations
//! near the interesting places: valid files of each kind, truncated ones, overlapping tensors, huge counts,
//! hostile templates and the documents that broke us.

use std::path::Path;

use hearth::kernels::quant::GgmlType;
use hearth::retrieval::chunker::Span;
use hearth::retrieval::index::{ann::AnnParams, Index, NewDocument};
use hearth::testutil::{tiny_gguf, TinySpec};

fn put(root: &Path, target: &str, name: &str, data: &[u8]) {
    let dir = root.join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(data.len() < 1 << 20, "{target}/{name} is {} bytes", data.len());
    std::fs::write(dir.join(name), data).unwrap();
}

fn small(arch: &'static str, ty: GgmlType) -> TinySpec {
    TinySpec {
        arch,
        weight_type: ty,
        dim: 32,
        ffn_dim: 64,
        n_heads: 2,
        n_kv_heads: 1,
        n_layers: 1,
        ctx: 16,
        ..TinySpec::default()
    }
}

/// Where tensor `name`'s offset field is (its name, dims, type, then the offset).
fn offset_field(b: &[u8], name: &str, n_dims: usize) -> usize {
    b.windows(name.len()).position(|w| w == name.as_bytes()).unwrap() + name.len() + 4 + 8 * n_dims + 4
}

fn vector(seed: usize, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|i| ((seed * 31 + i * 7) as f32).sin()).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn document(id: &str, sentences: &[&str], dim: usize) -> NewDocument {
    let text = sentences.join(" ");
    let mut spans = Vec::new();
    let mut at = 0;
    for s in sentences {
        spans.push(Span { start: at, end: at + s.len() });
        at += s.len() + 1;
    }
    let vectors = (0..spans.len()).map(|i| vector(i + id.len(), dim)).collect();
    NewDocument { id: id.into(), title: id.to_uppercase(), tags: vec!["finance".into()], text, spans, vectors }
}

/// The model seeds of the `gguf` and `forward` targets, made here rather than committed (they are model
/// files, however tiny and random): valid tiny models of both architectures and several quant types, then
/// damaged variants. Deterministic: `tiny_gguf` is seeded.
pub fn models(target: &str) -> Vec<Vec<u8>> {
    if target != "gguf" && target != "forward" {
        return Vec::new();
    }
    let mut out: Vec<Vec<u8>> = [
        small("llama", GgmlType::Q8_0),
        small("llama", GgmlType::Q4_1),
        small("gemma3", GgmlType::Q4_0),
        small("llama", GgmlType::F32),
    ]
    .iter()
    .map(tiny_gguf)
    .collect();
    let b = out[0].clone();
    let mut overlap = b.clone();
    let q = offset_field(&b, "blk.0.attn_q.weight", 2);
    let k = offset_field(&b, "blk.0.attn_k.weight", 2);
    let q_off = overlap[q..q + 8].to_vec();
    overlap[k..k + 8].copy_from_slice(&q_off);
    out.push(overlap);
    if target == "gguf" {
        out.push(b[..b.len().min(600)].to_vec()); // truncated in the header
        out.push(b[..b.len() - 100].to_vec()); // truncated in the data
        let mut huge = b.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // tensor count
        out.push(huge);
        let mut huge = b.clone();
        huge[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes()); // metadata count
        out.push(huge);
        out.push(b"GGUF\x03\x00\x00\x00".to_vec());
    }
    out
}

/// Writes the other targets' seeds (documents, indexes, texts, templates) into `fuzz/corpus/`.
pub fn write(root: &Path) {
    // Saved indexes: a plain one, one with its ANN graph, and forged ones with valid checksums.
    let dim = 8;
    let mut ix = Index::new(dim);
    ix.add(document("travel.md", &["Travel expenses above 500 EUR need approval.", "Taxis are paid at night."], dim))
        .unwrap();
    ix.add(document(
        "meals.txt",
        &["Meal allowance is 30 EUR per day.", "Alcohol is never reimbursed.", "Café receipts count."],
        dim,
    ))
    .unwrap();
    put(root, "index", "plain.hix", &ix.to_bytes());
    ix.build_ann(AnnParams::default()).unwrap();
    put(root, "index", "with-ann.hix", &ix.to_bytes());
    let bytes = ix.to_bytes();
    put(root, "index", "truncated.hix", &bytes[..bytes.len() / 2]);
    let mut forged = Index::new(dim);
    let text = "Travel policy. ".repeat(20);
    forged
        .add(NewDocument {
            id: "whole".into(),
            title: String::new(),
            tags: vec![],
            spans: vec![Span { start: 0, end: text.len() }; 40],
            vectors: vec![vector(1, dim); 40],
            text,
        })
        .unwrap();
    put(root, "index", "overlapping-spans.hix", &forged.to_bytes());

    // Documents: the first byte picks text / markdown / html (0, 1, 2; +4 adds a title).
    let docs: [(&str, u8, String); 9] = [
        ("entities.html", 2, "<p>Agenda &mdash; café</p><p>&copy;2024 – Acme</p><p>Q&A session – agenda</p><p>&amp;日本語 &#x1F600; &#1114112; &bogus;</p>".into()),
        ("broken.html", 6, "<html><head><title>T</title><body><p>if a < b then <b>bold</p><!-- unclosed <p>after".into()),
        ("script.html", 2, "<SCRIPT>var s = '</p>&amp;';</SCRIPT><style>p{}</style><template><p>x</p></template><p>Shown text. Second sentence.</p>".into()),
        ("base64.txt", 0, (0..20_000u32).map(|i| b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7919 % 64) as usize] as char).collect()),
        ("minified.txt", 0, "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":null}".repeat(500)),
        ("dots.txt", 0, "a.".repeat(5_000)),
        ("emoji.md", 1, "😀🎉👩‍👩‍👧".repeat(2_000)),
        ("markdown.md", 5, "# Policy\n\nTravel expenses need approval. Dr. Smith signs them, e.g. for trips.\n\n## Meals\n\n- 30 EUR per day\n- no alcohol\n".into()),
        ("french.html", 2, "<p>Réunion de l&#39;équipe &agrave; 9&nbsp;h. L’ordre du jour : budget, congés.</p>".into()),
    ];
    for (name, sel, text) in &docs {
        put(root, "chunker", name, &[&[*sel][..], text.as_bytes()].concat());
    }

    // Tokenizer texts: the first byte picks the vocabulary.
    let texts = [
        "Hello world",
        "<|im_start|>system\nhi<|im_end|>",
        "<start_of_turn>user <bos><eos><s></s>",
        "日本語のテキスト 😀 café",
        "  leading spaces and\ttabs\n\n",
        "\u{FFFD}\u{0301}\u{200B}",
    ];
    for (i, t) in texts.iter().enumerate() {
        for sel in 0..3u8 {
            put(root, "tokenizer", &format!("text{i}-vocab{sel}.txt"), &[&[sel][..], t.as_bytes()].concat());
        }
    }

    // Chat templates: the real ones, then hostile ones (endless output, recursion, loops, odd syntax).
    let templates = [
        ("chatml", "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
        ("gemma", "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"),
        ("namespace", "{% set ns = namespace(sys='') %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.sys = ns.sys ~ m.content %}{% endif %}{% endfor %}{{ ns.sys }}{% for m in messages %}{{ m.role | upper }}: {{ m.content[:100] }}{% endfor %}"),
        ("endless-output", "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}"),
        ("recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
        ("nested-loops", "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}"),
        ("raise", "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"),
        ("python-methods", "{% for m in messages %}{{ m.content.strip().split(' ')|join('-') }}{{ m['role'].startswith('u') }}{% endfor %}"),
        ("syntax-error", "{% for %}{{ }}{% endif %"),
    ];
    for (name, t) in templates {
        put(root, "template", &format!("{name}.jinja"), t.as_bytes());
    }
}
