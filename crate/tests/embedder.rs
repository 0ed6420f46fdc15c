//! all-MiniLM-L6-v2 parity with sentence-transformers on a committed fixture (70 texts), at f32 and Q8.

#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use hearth::retrieval::embedder::{Embedder, Precision};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn embedder(p: Precision) -> Embedder {
    let dir = repo().join("models/cache/minilm-l6-v2");
    assert!(dir.join("model.safetensors").exists(), "{} is missing: run `make models`", dir.display());
    Embedder::from_dir(&dir, p).unwrap()
}

fn fixture() -> Vec<(String, Vec<u32>, Vec<f32>)> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("tests/reference/embedding_fixture.json")).unwrap())
            .unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["text"].as_str().unwrap().to_string(),
                c["token_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect(),
                c["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
            )
        })
        .collect()
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    d / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
}

fn check(p: Precision, min_cos: f32) {
    check_embedder(&embedder(p), &format!("{p:?}"), min_cos);
}

fn check_embedder(e: &Embedder, p: &str, min_cos: f32) {
    let cases = fixture();
    assert!(cases.len() >= 50);
    let texts: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    // All at once: texts share matmul batches, which must not change any embedding.
    let got = e.embed(&texts).unwrap();
    let mut worst = (1.0f32, "");
    for ((text, ids, want), g) in cases.iter().zip(&got) {
        assert_eq!(&e.token_ids(text).unwrap(), ids, "token ids of {text:?}");
        assert_eq!(g.len(), 384);
        let c = cos(g, want);
        if c < worst.0 {
            worst = (c, text);
        }
    }
    println!("{p}: worst cosine {:.5} on {:?}", worst.0, worst.1);
    assert!(worst.0 >= min_cos, "{p}: cosine {} on {:?}", worst.0, worst.1);
    // One at a time gives the same vectors as batched.
    for (t, g) in texts.iter().zip(&got).take(8) {
        let one = e.embed(&[t]).unwrap().remove(0);
        assert!(cos(&one, g) > 0.99999, "batching changed {t:?}");
    }
}

#[test]
fn f32_embeddings_match_sentence_transformers() {
    check(Precision::F32, 0.999);
}

#[test]
fn q8_embeddings_stay_close() {
    let e = embedder(Precision::Q8);
    assert!(e.weight_bytes() < 30_000_000, "{} bytes", e.weight_bytes());
    check(Precision::Q8, 0.995);
}

/// The browser's half-size download: every weight stored as f16 (made by models/fetch.py).
#[test]
fn f16_download_keeps_parity() {
    let dir = repo().join("models/cache/minilm-l6-v2");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e} (run `make models`)"));
    let f16 = read("model.f16.safetensors");
    assert!(f16.len() < 46_000_000, "{} bytes", f16.len());
    let (cfg, tok) = (String::from_utf8(read("config.json")).unwrap(), read("tokenizer.json"));
    check_embedder(&Embedder::new(&f16, &cfg, &tok, 256, Precision::F32).unwrap(), "F16 file", 0.999);
    check_embedder(&Embedder::new(&f16, &cfg, &tok, 256, Precision::Q8).unwrap(), "F16 file, Q8", 0.995);
}

/// The page embeds the evidence candidates on several workers, a share each, and ranks them with
/// `rank_embedded_evidence`: that must pick what `select_evidence` picks, to the score.
#[test]
fn evidence_embedded_in_shares_ranks_as_select_evidence() {
    use hearth::rag::{evidence_texts, rank_embedded_evidence, select_evidence};
    use hearth::retrieval::passage::Passage;
    let e = embedder(Precision::F32);
    let passage = |id: &str, text: &str| Passage {
        doc_id: id.into(),
        title: String::new(),
        text: text.into(),
        chunk: 0,
        start: 0,
        end: text.len(),
        score: 1.0,
    };
    let passages = [
        passage("a", "The library opened in 1901. It holds two million books. Its reading room seats four hundred."),
        passage("b", "Rain fell all week. The river rose over its banks. The bridge was closed on Friday."),
    ];
    let q = "How many books does the library hold?";
    let want = select_evidence(&e, q, "", &passages, 3).unwrap();
    let texts = evidence_texts(q, &passages);
    assert_eq!(texts.len(), 7, "the question and six sentences: {texts:?}");
    let mut vecs = Vec::new();
    for share in texts.chunks(3) {
        vecs.extend(e.embed(&share.iter().map(String::as_str).collect::<Vec<_>>()).unwrap());
    }
    let got = rank_embedded_evidence(q, "", &passages, &vecs, 3).unwrap();
    let key = |v: &[hearth::rag::Evidence]| v.iter().map(|x| (x.text.clone(), x.score.to_bits())).collect::<Vec<_>>();
    assert_eq!(key(&got), key(&want));
    assert_eq!(got[0].text, "It holds two million books.");
    let err = rank_embedded_evidence(q, "", &passages, &vecs[1..], 3).unwrap_err();
    assert!(err.to_string().contains("6 evidence vectors for the question and 6 sentences"), "{err}");
}
