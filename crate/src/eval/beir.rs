//! Retrieval evaluation on BEIR data: nDCG@10, Recall@10 and Recall@100 over a qrels split, per search
//! mode, with query latency percentiles.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::retrieval::embedder::Embedder;
use crate::retrieval::index::{Index, Mode, SearchOptions};

pub struct Query {
    pub id: String,
    pub text: String,
}

pub fn read_queries(jsonl: &str) -> Result<Vec<Query>> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let v: serde_json::Value =
                serde_json::from_str(l).map_err(|e| Error::Invalid(format!("queries line {}: {e}", i + 1)))?;
            Ok(Query {
                id: crate::retrieval::sources::beir_id(&v)
                    .ok_or_else(|| Error::Invalid(format!("queries line {}: no `_id`", i + 1)))?,
                text: v["text"].as_str().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// qrels TSV (`query-id corpus-id score`, with a header): query → (doc → relevance).
pub fn read_qrels(tsv: &str) -> HashMap<String, HashMap<String, u32>> {
    let mut q: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() >= 3 {
            if let Ok(s) = f[2].trim().parse::<u32>() {
                q.entry(f[0].to_string()).or_default().insert(f[1].to_string(), s);
            }
        }
    }
    q
}

pub fn ndcg_at(ranked: &[String], rel: &HashMap<String, u32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| rel.get(d).copied().unwrap_or(0) as f64 / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<u32> = rel.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, &r)| r as f64 / (i as f64 + 2.0).log2()).sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

pub fn recall_at(ranked: &[String], rel: &HashMap<String, u32>, k: usize) -> f64 {
    let relevant: HashSet<&String> = rel.iter().filter(|(_, &r)| r > 0).map(|(d, _)| d).collect();
    if relevant.is_empty() {
        return 0.0;
    }
    ranked.iter().take(k).filter(|d| relevant.contains(d)).count() as f64 / relevant.len() as f64
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeResult {
    pub mode: Mode,
    pub queries: usize,
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

/// Documents in rank order: chunk hits reduced to each document's best chunk.
pub fn ranked_docs(index: &Index, embedder: Option<&Embedder>, query: &str, o: &SearchOptions) -> Result<Vec<String>> {
    let qv = match (o.mode, embedder) {
        (Mode::Bm25, _) => None,
        (_, Some(e)) => Some(e.embed(&[query])?.remove(0)),
        (_, None) => return Err(Error::Invalid("dense and hybrid search need the embedder".into())),
    };
    let hits = index.search(query, qv.as_deref(), o)?;
    let mut seen = HashSet::new();
    Ok(hits.into_iter().filter(|h| seen.insert(h.doc_id.clone())).map(|h| h.doc_id).collect())
}

pub fn evaluate(
    index: &Index,
    embedder: Option<&Embedder>,
    queries: &[Query],
    qrels: &HashMap<String, HashMap<String, u32>>,
    base: &SearchOptions,
) -> Result<ModeResult> {
    let (mut ndcg, mut r10, mut r100, mut n) = (0.0, 0.0, 0.0, 0usize);
    let mut lat = Vec::new();
    // Ask for more chunks than documents needed: several chunks of one document collapse into one.
    let o = SearchOptions { k: 200, candidates: base.candidates.max(200), ..base.clone() };
    for q in queries {
        let Some(rel) = qrels.get(&q.id) else { continue };
        let t0 = now_ms();
        let docs = ranked_docs(index, embedder, &q.text, &o)?;
        lat.push(now_ms() - t0);
        ndcg += ndcg_at(&docs, rel, 10);
        r10 += recall_at(&docs, rel, 10);
        r100 += recall_at(&docs, rel, 100);
        n += 1;
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| if lat.is_empty() { 0.0 } else { lat[((lat.len() - 1) as f64 * p).round() as usize] };
    let nf = n.max(1) as f64;
    Ok(ModeResult {
        mode: base.mode,
        queries: n,
        ndcg_at_10: ndcg / nf,
        recall_at_10: r10 / nf,
        recall_at_100: r100 / nf,
        latency_p50_ms: pct(0.5),
        latency_p95_ms: pct(0.95),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_and_recall_by_hand() {
        let rel: HashMap<String, u32> = [("a".to_string(), 1), ("b".to_string(), 1)].into();
        let ranked: Vec<String> = ["x", "a", "y", "b"].iter().map(|s| s.to_string()).collect();
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((ndcg_at(&ranked, &rel, 10) - dcg / idcg).abs() < 1e-12);
        assert_eq!(recall_at(&ranked, &rel, 2), 0.5);
        assert_eq!(recall_at(&ranked, &rel, 10), 1.0);
        assert_eq!(ndcg_at(&ranked, &HashMap::new(), 10), 0.0);
    }

    #[test]
    fn reads_beir_files() {
        let q = read_queries("{\"_id\": \"1\", \"text\": \"a claim\"}\n{\"_id\": 2, \"text\": \"b\"}\n").unwrap();
        assert_eq!((q[0].id.as_str(), q[1].id.as_str()), ("1", "2"));
        let qr = read_qrels("query-id\tcorpus-id\tscore\n1\t31715818\t1\n");
        assert_eq!(qr["1"]["31715818"], 1);
    }
}
