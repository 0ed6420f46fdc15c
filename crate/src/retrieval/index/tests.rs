use super::*;

/// Deterministic pseudo-embeddings: a bag of hashed words, normalised (enough to test the plumbing).
fn vec_of(text: &str) -> Vec<f32> {
    let mut v = [0f32; 16];
    for w in text.split_whitespace() {
        let h = w.to_lowercase().bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        v[(h % 16) as usize] += 1.0;
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter().map(|x| x / n).collect()
}

fn doc(id: &str, tags: &[&str], chunks: &[&str]) -> NewDocument {
    let text = chunks.join("\n\n");
    let mut spans = Vec::new();
    let mut at = 0;
    for c in chunks {
        spans.push(Span { start: at, end: at + c.len() });
        at += c.len() + 2;
    }
    NewDocument {
        id: id.into(),
        title: id.to_uppercase(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        vectors: chunks.iter().map(|c| vec_of(c)).collect(),
        text,
        spans,
    }
}

fn sample() -> Index {
    let mut ix = Index::new(16);
    ix.add(doc(
        "travel",
        &["finance"],
        &["Travel expenses above 500 EUR need prior approval.", "Taxis are reimbursed at night."],
    ))
    .unwrap();
    ix.add(doc("meals", &["finance"], &["Meal allowance is 30 EUR per day.", "Alcohol is never reimbursed."])).unwrap();
    ix.add(doc("it", &["it"], &["Laptops are replaced every four years.", "Report lost phones at once."])).unwrap();
    ix
}

fn ids(h: &[Hit]) -> Vec<(String, usize)> {
    h.iter().map(|h| (h.doc_id.clone(), h.chunk)).collect()
}

#[test]
fn every_mode_finds_the_passage() {
    let ix = sample();
    let q = "approval for travel expenses";
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        let hits = ix.search(q, Some(&vec_of(q)), &SearchOptions { mode, k: 3, ..Default::default() }).unwrap();
        assert_eq!(ids(&hits)[0], ("travel".into(), 0), "{mode:?}: {hits:?}");
        let h = &hits[0];
        assert_eq!(
            &ix.document("travel").unwrap().text[h.start..h.end],
            "Travel expenses above 500 EUR need prior approval."
        );
    }
}

#[test]
fn filters_by_document_and_tag() {
    let ix = sample();
    let q = "reimbursed";
    let o = SearchOptions { mode: Mode::Bm25, tags: Some(vec!["finance".into()]), ..Default::default() };
    let hits = ix.search(q, None, &o).unwrap();
    assert_eq!(hits.len(), 2);
    let o = SearchOptions { mode: Mode::Bm25, doc_ids: Some(vec!["meals".into()]), ..Default::default() };
    assert_eq!(ids(&ix.search(q, None, &o).unwrap()), [("meals".to_string(), 1)]);
}

/// Chunks crowd out documents: the k best chunks may all come from one document; per document, k documents
/// come back, each with its best chunks together.
#[test]
fn results_per_document() {
    let mut ix = Index::new(16);
    ix.add(doc(
        "policy",
        &[],
        &["Travel approval is needed.", "Travel approval above 500 EUR.", "Travel approval for taxis."],
    ))
    .unwrap();
    ix.add(doc("faq", &[], &["Who gives travel approval?", "Meals are separate."])).unwrap();
    ix.add(doc("misc", &[], &["Laptops are replaced."])).unwrap();
    let q = "travel approval";
    let chunks = ix.search(q, None, &SearchOptions { mode: Mode::Bm25, k: 2, ..Default::default() }).unwrap();
    assert!(chunks.iter().all(|h| h.doc_id == "policy"), "{chunks:?}");
    let per = ix
        .search(q, None, &SearchOptions { mode: Mode::Bm25, k: 2, per_document: Some(2), ..Default::default() })
        .unwrap();
    let docs: Vec<&str> = per.iter().map(|h| h.doc_id.as_str()).collect();
    assert_eq!(docs, ["policy", "policy", "faq"], "{per:?}");
    assert!(per[0].score >= per[1].score);
    let one =
        ix.search(q, Some(&vec_of(q)), &SearchOptions { k: 3, per_document: Some(1), ..Default::default() }).unwrap();
    let mut seen: Vec<&str> = one.iter().map(|h| h.doc_id.as_str()).collect();
    seen.dedup();
    assert_eq!(seen.len(), one.len(), "one chunk per document: {one:?}");
}

#[test]
fn remove_and_re_add() {
    let mut ix = sample();
    assert!(ix.remove("travel"));
    assert!(!ix.remove("travel"));
    assert_eq!(ix.len(), 2);
    let hits = ix.search("travel approval", None, &SearchOptions { mode: Mode::Bm25, ..Default::default() }).unwrap();
    assert!(hits.iter().all(|h| h.doc_id != "travel"));
    ix.add(doc("travel", &[], &["Travel now needs approval from the CFO."])).unwrap();
    // Re-adding replaces: one chunk now.
    assert_eq!(ix.document("travel").unwrap().chunk_spans().count(), 1);
    assert_eq!(ix.chunk_count(), 5);
}

#[test]
fn a_failed_add_changes_nothing() {
    let mut ix = sample();
    let before = ix.to_bytes();
    let mut bad = doc("travel", &[], &["replacement"]);
    bad.vectors[0] = vec![1.0; 3];
    assert!(ix.add(bad).unwrap_err().to_string().contains("3 dimensions"));
    let mut bad = doc("travel", &[], &["replacement"]);
    bad.spans[0].end = 999;
    assert!(ix.add(bad).is_err());
    let mut bad = doc("new", &[], &["x"]);
    bad.vectors[0][0] = f32::NAN;
    assert!(ix.add(bad).is_err());
    assert_eq!(ix.to_bytes(), before);
}

#[test]
fn save_and_load_give_identical_results() {
    let ix = sample();
    let bytes = ix.to_bytes();
    let back = Index::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    for q in ["approval for travel", "lost phone", "alcohol"] {
        for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
            let o = SearchOptions { mode, ..Default::default() };
            assert_eq!(ix.search(q, Some(&vec_of(q)), &o).unwrap(), back.search(q, Some(&vec_of(q)), &o).unwrap());
        }
    }
}

#[test]
fn damaged_files_are_clear_errors() {
    let bytes = sample().to_bytes();
    let err = |b: &[u8]| Index::from_bytes(b).err().expect("damaged index loaded").to_string();
    assert!(err(&bytes[..10]).contains("too short"));
    assert!(err(&bytes[..bytes.len() - 1]).contains("truncated"));
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n / 2] ^= 0x40;
    assert!(err(&flipped).contains("checksum mismatch"));
    let mut wrong = bytes.clone();
    wrong[0] = b'X';
    assert!(err(&wrong).contains("bad magic"));
    let mut v2 = bytes.clone();
    v2[8] = 9;
    assert!(err(&v2).contains("version 9"));
    // Random corruption with a recomputed checksum still never panics.
    let mut rng = crate::rng::Rng::new(5);
    for _ in 0..200 {
        let mut b = bytes.clone();
        for _ in 0..3 {
            let i = 28 + rng.next_u32() as usize % (b.len() - 28);
            b[i] = rng.next_u32() as u8;
        }
        let crc = crc32fast::hash(&b[28..]).to_le_bytes();
        b[24..28].copy_from_slice(&crc);
        let _ = Index::from_bytes(&b);
    }
}

#[test]
fn dense_search_needs_a_query_vector() {
    let ix = sample();
    assert!(ix
        .search("x", None, &SearchOptions::default())
        .unwrap_err()
        .to_string()
        .contains("needs the query's embedding"));
    assert!(ix.search("x", Some(&[1.0]), &SearchOptions::default()).unwrap_err().to_string().contains("1 dimensions"));
}

/// 200 documents × 10 chunks of clustered random 32-d unit vectors (text "d<i> c<j>").
fn clustered(n_docs: usize) -> (Index, Vec<Vec<f32>>) {
    let mut rng = crate::rng::Rng::new(5);
    let dim = 32;
    let centres: Vec<Vec<f32>> = (0..20).map(|_| (0..dim).map(|_| rng.next_f32() * 2.0 - 1.0).collect()).collect();
    let unit = |c: &[f32], rng: &mut crate::rng::Rng| {
        let v: Vec<f32> = c.iter().map(|x| x + (rng.next_f32() - 0.5) * 0.8).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let mut ix = Index::new(dim);
    for d in 0..n_docs {
        let chunks: Vec<String> = (0..10).map(|j| format!("d{d} c{j}")).collect();
        let mut nd = doc(&format!("d{d}"), &[], &chunks.iter().map(String::as_str).collect::<Vec<_>>());
        nd.vectors = (0..10).map(|j| unit(&centres[(d + j) % 20], &mut rng)).collect();
        ix.add(nd).unwrap();
    }
    let queries = (0..20).map(|i| unit(&centres[i], &mut rng)).collect();
    (ix, queries)
}

fn dense(ix: &Index, q: &[f32], o: SearchOptions) -> Vec<(String, usize)> {
    ids(&ix.search("", Some(q), &SearchOptions { mode: Mode::Dense, ..o }).unwrap())
}

#[test]
fn ann_search_agrees_with_exact_and_follows_adds_removes_and_saves() {
    let (mut ix, queries) = clustered(200);
    let o = SearchOptions { k: 10, ..SearchOptions::default() };
    let exact: Vec<_> = queries.iter().map(|q| dense(&ix, q, o.clone())).collect();
    ix.build_ann(ann::AnnParams { m: 8, train_sample: 2000, ..ann::AnnParams::default() }).unwrap();
    assert_eq!(ix.ann_status(), Some((2000, 0)));
    let mut agree = 0;
    for (q, want) in queries.iter().zip(&exact) {
        let got = dense(&ix, q, o.clone());
        agree += got.iter().filter(|h| want.contains(h)).count();
    }
    let recall = agree as f32 / (10 * queries.len()) as f32;
    assert!(recall >= 0.95, "recall@10 {recall}");

    // A document added after the build is found (exactly); a removed one never comes back.
    let mut nd = doc("new", &[], &["fresh chunk"]);
    nd.vectors = vec![queries[3].clone()];
    ix.add(nd).unwrap();
    assert_eq!(ix.ann_status(), Some((2000, 1)));
    assert_eq!(dense(&ix, &queries[3], o.clone())[0], ("new".to_string(), 0));
    let top = dense(&ix, &queries[5], o.clone())[0].0.clone();
    assert!(ix.remove(&top));
    assert!(queries.iter().all(|q| dense(&ix, q, o.clone()).iter().all(|h| h.0 != top)));
    // Re-adding into the freed slot: found again, once.
    let mut again = doc(&top, &[], &["back"]);
    again.vectors = vec![queries[5].clone()];
    ix.add(again).unwrap();
    let hits = dense(&ix, &queries[5], o.clone());
    assert_eq!(hits[0], (top.clone(), 0));
    assert_eq!(hits.iter().filter(|h| h.0 == top).count(), 1);

    // A filter to one document still gets its chunks (the exact fallback when the graph has too few).
    let only = SearchOptions { doc_ids: Some(vec!["d7".into()]), ..o.clone() };
    let hits = dense(&ix, &queries[0], only);
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| h.0 == "d7"));

    // Saved and loaded: the same graph, the same answers.
    let bytes = ix.to_bytes();
    let back = Index::from_bytes(&bytes).unwrap();
    assert_eq!(back.ann_status(), ix.ann_status());
    for q in &queries {
        assert_eq!(dense(&back, q, o.clone()), dense(&ix, q, o.clone()));
    }
    assert_eq!(back.to_bytes(), bytes);
}

#[test]
fn version_1_files_still_load() {
    let ix = sample();
    let v2 = ix.to_bytes();
    // Version 1 was version 2 without the ANN flag byte at the end of the payload.
    let payload = &v2[28..v2.len() - 1];
    let mut v1 = Vec::new();
    v1.extend(b"HEARTHIX");
    v1.extend(1u32.to_le_bytes());
    v1.extend(v2[12..16].iter());
    v1.extend((payload.len() as u64).to_le_bytes());
    v1.extend(crc32fast::hash(payload).to_le_bytes());
    v1.extend(payload);
    let back = Index::from_bytes(&v1).unwrap();
    assert_eq!(back.to_bytes(), v2);
    assert!(back.ann_status().is_none());
}

/// Rewrites a saved index's payload checksum after a deliberate edit, as a forger would.
fn reseal(b: &mut [u8]) {
    let crc = crc32fast::hash(&b[28..]).to_le_bytes();
    b[24..28].copy_from_slice(&crc);
}

/// Review findings: a file with a valid checksum could still be hostile. Chunks that each span the whole text
/// made loading quadratic; two documents with one id; an index of another embedder's dimension parsed whole
/// before being refused.
#[test]
fn forged_files_with_valid_checksums_are_refused() {
    let text = "Travel expenses above 500 EUR need prior approval. ".repeat(40);
    let n = 300;
    let mut ix = Index::new(16);
    ix.add(NewDocument {
        id: "whole".into(),
        title: String::new(),
        tags: vec![],
        spans: vec![Span { start: 0, end: text.len() }; n],
        vectors: vec![vec_of(&text); n],
        text: text.clone(),
    })
    .unwrap();
    let e = Index::from_bytes(&ix.to_bytes()).err().expect("overlapping spans loaded").to_string();
    assert!(e.contains("chunks of `whole` span") && e.contains(&format!("{}-byte text", text.len())), "{e}");

    let mut ix = Index::new(16);
    ix.add(doc("doc-one", &[], &["Meal allowance is 30 EUR per day."])).unwrap();
    ix.add(doc("doc-two", &[], &["Alcohol is never reimbursed."])).unwrap();
    let mut b = ix.to_bytes();
    let at = b.windows(7).position(|w| w == b"doc-two").unwrap();
    b[at..at + 7].copy_from_slice(b"doc-one");
    reseal(&mut b);
    let e = Index::from_bytes(&b).err().expect("a duplicate id loaded").to_string();
    assert!(e.contains("document id `doc-one` appears twice"), "{e}");

    let good = sample().to_bytes();
    assert!(Index::from_bytes_for(&good, 16).is_ok());
    let e = Index::from_bytes_for(&good, 384).err().unwrap().to_string();
    assert!(e.contains("16-d vectors but the embedder makes 384-d"), "{e}");
}
