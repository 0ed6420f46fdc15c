//! Scale benchmark for the ANN index (`hearth::retrieval::index::ann`) on synthetic sentence-embedding-like vectors.
//!
//!     cargo run --release --example scale_bench -- --n 100000 [--queries 1000] [--clusters 1000]
//!         [--m 48] [--r0 16] [--efc 100] [--alpha 1.0] [--ef 16,32,64,128,256] [--seed 7]
//!
//! Generator (deterministic from --seed; vector i uses its own seeded stream, so generation is parallel):
//! `clusters` centres uniform on the unit sphere; a vector picks a centre c uniformly and is
//! normalise(c + 0.6·s + 0.3·e), where s = Σ_j λ_j z_j b_j over 64 fixed random unit directions b_j with a
//! power-law spectrum λ_j ∝ (j+1)^-0.7 (Σλ² = 1, z_j ~ N(0,1)) — the low-rank, anisotropic part real
//! embeddings have — and e is isotropic Gaussian noise with E‖e‖² = 1. Queries are further draws from the
//! same mixture (held out: not indexed). Ground truth is exact top-10 by inner product (brute force).
//!
//! Memory figures: "index" = PQ codes + graph + codebooks (what `Ann::bytes` counts); the f32 vectors used
//! for re-ranking live outside the index and are reported separately ("with f32").

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use hearth::kernels::quant::dot_f32;
    use hearth::retrieval::index::ann::{Ann, AnnParams};
    use rayon::prelude::*;
    use std::time::Instant;

    use hearth::eval::synthetic::DIM;
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let n: usize = arg("--n", "100000").parse().expect("--n");
    let nq: usize = arg("--queries", "1000").parse().expect("--queries");
    let clusters: usize = arg("--clusters", "1000").parse().expect("--clusters");
    let seed: u64 = arg("--seed", "7").parse().expect("--seed");
    let efs: Vec<usize> = arg("--ef", "16,32,64,128,256").split(',').map(|x| x.parse().expect("--ef")).collect();
    let d = AnnParams::default();
    let params = AnnParams {
        m: arg("--m", &d.m.to_string()).parse().expect("--m"),
        r0: arg("--r0", &d.r0.to_string()).parse().expect("--r0"),
        ef_construction: arg("--efc", &d.ef_construction.to_string()).parse().expect("--efc"),
        alpha: arg("--alpha", &d.alpha.to_string()).parse().expect("--alpha"),
        ..d
    };

    let synth = hearth::eval::synthetic::Synthetic::new(clusters, seed);
    let draw = |i: u64, out: &mut [f32]| synth.draw(i, out);
    let t = Instant::now();
    let mut data = vec![0f32; n * DIM];
    data.par_chunks_mut(DIM).enumerate().for_each(|(i, v)| draw(i as u64, v));
    let mut queries = vec![0f32; nq * DIM];
    queries.par_chunks_mut(DIM).enumerate().for_each(|(i, v)| draw((n + i) as u64, v));
    let vec = |i: usize| &data[i * DIM..][..DIM];
    println!("generated {n} + {nq} queries × {DIM}-d ({clusters} clusters) in {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let truth: Vec<Vec<(usize, f32)>> = queries
        .par_chunks(DIM)
        .map(|q| {
            let mut s: Vec<(usize, f32)> = (0..n).map(|i| (i, dot_f32(q, vec(i)))).collect();
            s.select_nth_unstable_by(9, |a, b| b.1.total_cmp(&a.1));
            s.truncate(10);
            s.sort_by(|a, b| b.1.total_cmp(&a.1));
            s
        })
        .collect();
    let top1: f32 = truth.iter().map(|t| t[0].1).sum::<f32>() / nq as f32;
    let top10: f32 = truth.iter().map(|t| t[9].1).sum::<f32>() / nq as f32;
    println!(
        "exact top-10 (brute force, {} threads) in {:.1} s; mean cosine of 1st / 10th neighbour {top1:.3} / {top10:.3}",
        rayon::current_num_threads(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let ann = Ann::build(DIM, n, vec, params).expect("build");
    let build_s = t.elapsed().as_secs_f64();
    let bpv = ann.bytes() as f64 / n as f64;
    let bpv_f32 = bpv + (DIM * 4) as f64;
    println!(
        "build: {build_s:.1} s ({} threads; params m={} r0={} m_up={} efc={} alpha={})",
        rayon::current_num_threads(),
        params.m,
        params.r0,
        params.m_up,
        params.ef_construction,
        params.alpha
    );
    println!("bytes/vector: {bpv:.1} (PQ codes + graph + codebooks; index total {:.1} MB) — {bpv_f32:.1} with the f32 vectors used for re-ranking (held by the caller)", ann.bytes() as f64 / 1e6);
    let t = Instant::now();
    let bytes = ann.to_bytes();
    let back = Ann::from_bytes(&bytes).expect("round trip");
    assert!(back == ann);
    println!("serialised {:.1} MB, round trip checked in {:.2} s", bytes.len() as f64 / 1e6, t.elapsed().as_secs_f64());

    println!("{:>5} {:>10} {:>9} {:>9}", "ef", "recall@10", "p50 ms", "p95 ms");
    let mut rows = Vec::new();
    let truth_ids: Vec<u32> = truth.iter().flat_map(|t| t.iter().map(|x| x.0 as u32)).collect();
    for &ef in &efs {
        let (recall, p50, p95) = hearth::eval::synthetic::search_bench(&ann, &data, &queries, &truth_ids, ef);
        println!("{ef:>5} {recall:>10.4} {p50:>9.3} {p95:>9.3}");
        rows.push((ef, recall, p50, p95));
    }
    // For the wasm timing (scripts/ann-wasm-bench.mjs): the graph and the exact neighbours; the vectors
    // are regenerated there from the seed.
    if let Some(dir) = args.iter().position(|a| a == "--save").and_then(|i| args.get(i + 1)) {
        let dir = std::path::Path::new(dir);
        std::fs::create_dir_all(dir).expect("--save dir");
        std::fs::write(dir.join("graph.bin"), &bytes).expect("write graph");
        std::fs::write(dir.join("truth.bin"), truth_ids.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
            .expect("write truth");
        std::fs::write(
            dir.join("meta.json"),
            format!("{{\"n\":{n},\"queries\":{nq},\"clusters\":{clusters},\"seed\":{seed}}}"),
        )
        .expect("write meta");
        println!("saved graph.bin, truth.bin and meta.json in {}", dir.display());
    }
    // The chosen setting: the smallest ef reaching recall 0.95, else the best recall.
    let chosen = rows.iter().find(|r| r.1 >= 0.95).or_else(|| rows.iter().max_by(|a, b| a.1.total_cmp(&b.1))).unwrap();
    println!(
        "{{\"n\":{n},\"dim\":{DIM},\"queries\":{nq},\"clusters\":{clusters},\"m\":{},\"r0\":{},\"efc\":{},\"alpha\":{},\"build_s\":{build_s:.2},\"bytes_per_vector\":{bpv:.1},\"bytes_per_vector_with_f32\":{bpv_f32:.1},\"ef\":{},\"recall_at_10\":{:.4},\"p50_ms\":{:.3},\"p95_ms\":{:.3},\"threads_build\":{},\"threads_query\":1}}",
        params.m, params.r0, params.ef_construction, params.alpha, chosen.0, chosen.1, chosen.2, chosen.3, rayon::current_num_threads()
    );
}
