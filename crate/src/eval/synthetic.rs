//! Synthetic vectors shaped like sentence embeddings, for the ANN scale benchmark (natively and in wasm):
//! unit vectors drawn around one of `clusters` random centres, plus a low-rank anisotropic part (64
//! directions with decaying weights) and isotropic noise. Vector `i` depends only on `(seed, i)`, so any
//! process can regenerate any vector.

use crate::rng::Rng;

pub const DIM: usize = 384;
const RANK: usize = 64;

pub struct Synthetic {
    seed: u64,
    clusters: usize,
    centres: Vec<f32>,
    dirs: Vec<f32>,
    lam: Vec<f32>,
}

fn gauss(rng: &mut Rng) -> f32 {
    let (u, v) = (rng.next_f32().max(1e-7), rng.next_f32());
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

fn normalise(v: &mut [f32]) {
    let s = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= s);
}

impl Synthetic {
    pub fn new(clusters: usize, seed: u64) -> Synthetic {
        let mut rng = Rng::new(seed);
        let mut centres: Vec<f32> = (0..clusters * DIM).map(|_| gauss(&mut rng)).collect();
        centres.chunks_exact_mut(DIM).for_each(normalise);
        let mut dirs: Vec<f32> = (0..RANK * DIM).map(|_| gauss(&mut rng)).collect();
        dirs.chunks_exact_mut(DIM).for_each(normalise);
        let lam: Vec<f32> = (0..RANK).map(|j| ((j + 1) as f32).powf(-0.7)).collect();
        let norm = lam.iter().map(|l| l * l).sum::<f32>().sqrt();
        let lam = lam.iter().map(|l| l / norm).collect();
        Synthetic { seed, clusters, centres, dirs, lam }
    }

    /// Vector `i` into `out` (DIM floats).
    pub fn draw(&self, i: u64, out: &mut [f32]) {
        let mut r = Rng::new(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let c = &self.centres[(r.next_u64() % self.clusters as u64) as usize * DIM..][..DIM];
        out.copy_from_slice(c);
        for j in 0..RANK {
            let w = 0.6 * self.lam[j] * gauss(&mut r);
            for (o, b) in out.iter_mut().zip(&self.dirs[j * DIM..][..DIM]) {
                *o += w * b;
            }
        }
        let e = 0.3 / (DIM as f32).sqrt();
        for o in out.iter_mut() {
            *o += e * gauss(&mut r);
        }
        normalise(out);
    }

    /// Vectors `from..from + n`, concatenated.
    pub fn draw_range(&self, from: usize, n: usize) -> Vec<f32> {
        let mut v = vec![0f32; n * DIM];
        for (i, out) in v.chunks_exact_mut(DIM).enumerate() {
            self.draw((from + i) as u64, out);
        }
        v
    }
}

/// Recall@10 against `truth` (10 ids per query) and query latency (p50, p95 in ms) of `ann` at beam width
/// `ef`, re-ranking with `data`; one query at a time. The scale benchmark's measurement, shared by the
/// native example and the wasm build.
pub fn search_bench(
    ann: &crate::retrieval::index::ann::Ann,
    data: &[f32],
    queries: &[f32],
    truth: &[u32],
    ef: usize,
) -> (f64, f64, f64) {
    let vec = |i: usize| &data[i * DIM..][..DIM];
    let nq = queries.len() / DIM;
    let mut times = Vec::with_capacity(nq);
    let mut hits = 0;
    for (q, tr) in queries.chunks_exact(DIM).zip(truth.chunks_exact(10)) {
        let t = crate::clock::now_ms();
        let got = ann.search(q, 10, ef, vec);
        times.push(crate::clock::now_ms() - t);
        hits += got.iter().filter(|g| tr.contains(&(g.0 as u32))).count();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (hits as f64 / (nq * 10) as f64, times[nq / 2], times[(nq * 95 / 100).min(nq - 1)])
}
