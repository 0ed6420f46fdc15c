//! The CLI's output contracts (users' scripts parse them): tokenize's JSON array, generate --json's object,
//! perplexity's last line, and index search --json's lines. Run on tiny synthetic models.

#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use hearth::testutil::{tiny_bert, tiny_gguf, TinySpec};
use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hearth-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hearth(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth")).args(args).output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), out.status.success())
}

fn tiny_model(dir: &Path) -> String {
    let p = dir.join("tiny.gguf");
    std::fs::write(&p, tiny_gguf(&TinySpec { ctx: 256, ..TinySpec::default() })).unwrap();
    p.to_string_lossy().into_owned()
}

/// A tiny sentence-transformers folder (`dir/emb`) for `--embedder`.
fn tiny_embedder(dir: &Path) -> PathBuf {
    let emb = dir.join("emb");
    std::fs::create_dir_all(&emb).unwrap();
    let (st, cfg, tok) = tiny_bert(5);
    std::fs::write(emb.join("model.safetensors"), st).unwrap();
    std::fs::write(emb.join("config.json"), cfg).unwrap();
    std::fs::write(emb.join("tokenizer.json"), tok).unwrap();
    std::fs::write(emb.join("sentence_bert_config.json"), r#"{"max_seq_length": 64}"#).unwrap();
    emb
}

#[test]
fn tokenize_prints_a_json_array_and_keeps_special_text_plain() {
    let d = tmp("tok");
    let m = tiny_model(&d);
    let (out, _, ok) = hearth(&["tokenize", "--model", &m, "--text", "hello<|im_start|>"]);
    assert!(ok);
    let ids: Vec<u32> = serde_json::from_str(out.trim()).unwrap();
    assert!(!ids.contains(&3), "control token injected: {ids:?}");
    let (out, _, _) = hearth(&["tokenize", "--model", &m, "--text", "hello<|im_start|>", "--special", "--bos"]);
    let ids: Vec<u32> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ids[0], 1, "BOS first with --bos");
    assert_eq!(*ids.last().unwrap(), 3, "<|im_start|> with --special");
}

#[test]
fn generate_json_has_text_tokens_and_stats() {
    let d = tmp("gen");
    let m = tiny_model(&d);
    let (out, err, ok) =
        hearth(&["generate", "--model", &m, "--chat", "hello", "--max-tokens", "5", "--temperature", "0", "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["text"].is_string());
    assert!(v["tokens"].as_array().unwrap().len() <= 5);
    for k in ["prompt_tokens", "generated_tokens", "prefill_tokens_per_s", "decode_tokens_per_s", "stop_reason"] {
        assert!(!v["stats"][k].is_null(), "stats.{k} missing in {v}");
    }
    let (_, err, ok) = hearth(&["generate", "--model", "/nonexistent.gguf", "--prompt", "x"]);
    assert!(!ok && err.contains("cannot read /nonexistent.gguf"), "{err}");
}

#[test]
fn perplexity_ends_with_the_ppl_line() {
    let d = tmp("ppl");
    let m = tiny_model(&d);
    let text = d.join("t.txt");
    std::fs::write(&text, "hello ab hello ab. ".repeat(60)).unwrap();
    let (out, err, ok) = hearth(&["perplexity", "--model", &m, "--file", &text.to_string_lossy(), "--ctx", "32"]);
    assert!(ok, "{err}");
    let last = out.lines().last().unwrap();
    let v: f64 = last.strip_prefix("PPL = ").unwrap_or_else(|| panic!("last line {last:?}")).parse().unwrap();
    assert!(v.is_finite() && v > 1.0);
}

#[test]
fn index_build_and_search_json_lines() {
    let d = tmp("idx");
    let emb = tiny_embedder(&d);
    let corpus = d.join("corpus.jsonl");
    std::fs::write(&corpus, "{\"_id\": \"d1\", \"title\": \"Travel\", \"text\": \"Travel expenses need approval.\"}\n{\"_id\": \"d2\", \"title\": \"IT\", \"text\": \"Report a lost phone.\"}\n").unwrap();
    let queries = d.join("queries.jsonl");
    std::fs::write(
        &queries,
        "{\"_id\": \"q1\", \"text\": \"lost phone\"}\n{\"_id\": \"q2\", \"text\": \"travel approval\"}\n",
    )
    .unwrap();
    let idx = d.join("x.idx");
    let e = emb.to_string_lossy().into_owned();
    let (_, err, ok) = hearth(&[
        "index",
        "build",
        "--input",
        &corpus.to_string_lossy(),
        "--out",
        &idx.to_string_lossy(),
        "--embedder",
        &e,
    ]);
    assert!(ok, "{err}");
    for mode in ["bm25", "dense", "hybrid"] {
        let (out, err, ok) = hearth(&[
            "index",
            "search",
            "--index",
            &idx.to_string_lossy(),
            "--queries",
            &queries.to_string_lossy(),
            "--k",
            "2",
            "--mode",
            mode,
            "--json",
            "--embedder",
            &e,
        ]);
        assert!(ok, "{err}");
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["query_id"], "q1");
        let hit = &lines[0]["hits"][0];
        assert!(hit["doc_id"].is_string() && hit["chunk"].is_u64() && hit["score"].is_number(), "{hit}");
        if mode == "bm25" {
            assert_eq!(hit["doc_id"], "d2");
            assert_eq!(lines[1]["hits"][0]["doc_id"], "d1");
        }
    }
    // With an ANN graph (forced on for two chunks), dense search still finds the passage.
    let (_, err, ok) = hearth(&[
        "index",
        "build",
        "--input",
        &corpus.to_string_lossy(),
        "--out",
        &idx.to_string_lossy(),
        "--embedder",
        &e,
        "--ann",
        "on",
    ]);
    assert!(ok && err.contains("ANN graph over 2 chunks"), "{err}");
    let (out, err, ok) = hearth(&[
        "index",
        "search",
        "--index",
        &idx.to_string_lossy(),
        "--query",
        "lost phone",
        "--k",
        "2",
        "--mode",
        "dense",
        "--json",
        "--embedder",
        &e,
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["hits"].as_array().unwrap().len(), 2);
    // ask: the answer, its sentences with citations, and the passages given to the model.
    let model = tiny_model(&d);
    let (out, err, ok) = hearth(&[
        "ask",
        "--model",
        &model,
        "--index",
        &idx.to_string_lossy(),
        "--question",
        "lost phone?",
        "--max-tokens",
        "4",
        "--mode",
        "bm25",
        "--json",
        "--embedder",
        &e,
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        v["answer"].is_string() && v["segments"].is_array() && v["stats"]["generated_tokens"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(v["passages"][0]["doc_id"], "d2", "{v}");
    std::fs::write(&idx, b"HEARTHIX garbage").unwrap();
    let (_, err, ok) =
        hearth(&["index", "search", "--index", &idx.to_string_lossy(), "--query", "x", "--mode", "bm25"]);
    assert!(!ok && err.contains("index file"), "{err}");
}

/// A minimal one-page PDF with one text line per entry (as tests/e2e/helpers.mjs `minimalPdf` writes).
fn minimal_pdf(lines: &[&str]) -> Vec<u8> {
    let content = format!(
        "BT /F1 12 Tf 72 720 Td 16 TL {} ET",
        lines.iter().map(|l| format!("({l}) Tj T*")).collect::<Vec<_>>().join(" ")
    );
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".into(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf += &format!("{} 0 obj\n{body}\nendobj\n", i + 1);
    }
    let xref = pdf.len();
    pdf += &format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        pdf += &format!("{o:010} 00000 n \n");
    }
    pdf += &format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1);
    pdf.into_bytes()
}

#[test]
fn index_build_reads_pdf_files_and_names_one_it_cannot_read() {
    let d = tmp("pdf");
    let emb = tiny_embedder(&d);
    let docs = d.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("policy.pdf"), minimal_pdf(&["Meal allowance is 500 eur per day.", "Ask your manager."]))
        .unwrap();
    std::fs::write(docs.join("note.txt"), "Report a lost phone to IT.").unwrap();
    let idx = d.join("site.idx");
    let (i, o, e) = (docs.to_string_lossy(), idx.to_string_lossy(), emb.to_string_lossy());
    let (_, err, ok) = hearth(&["index", "build", "--input", &i, "--out", &o, "--embedder", &e]);
    assert!(ok, "{err}");
    let (out, err, ok) = hearth(&[
        "index",
        "search",
        "--index",
        &o,
        "--query",
        "meal allowance",
        "--k",
        "1",
        "--mode",
        "bm25",
        "--json",
        "--embedder",
        &e,
    ]);
    assert!(ok, "{err}");
    let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["hits"][0]["doc_id"], "policy.pdf", "{line}");
    // A damaged PDF stops the build with its name, and writes no index.
    std::fs::write(docs.join("broken.pdf"), b"%PDF-1.4\n1 0 obj << /Type /Catalog").unwrap();
    let bad = d.join("bad.idx");
    let (_, err, ok) = hearth(&["index", "build", "--input", &i, "--out", &bad.to_string_lossy(), "--embedder", &e]);
    assert!(!ok && err.contains("broken.pdf"), "{err}");
    assert!(!bad.exists());
}
