//! The matmul kernels against their bound, natively and in the browser (`make bench`, `hearth bench
//! --kernels`). Decode multiplies every weight by one token's activations, so it reads the whole matrix
//! once per token: a kernel that gets through the bytes as fast as a plain sum of the same bytes is at the
//! memory bound, and one slower than that is bound by its instructions. Prefill's batches reuse each weight
//! for many tokens, so they are measured in multiply-adds per second.

use serde::Serialize;

use crate::clock::now_ms;
use crate::kernels::attention::{self, Heads};
use crate::kernels::matmul::{matmul, quantize, Weight, REGROUP_AT_LOAD};
use crate::kernels::quant::regroup::regrouped;
use crate::kernels::quant::tests_support::random_row;
use crate::kernels::quant::{GgmlType, Q8Acts};
use crate::rng::Rng;

/// The weight types of the models `make models` fetches, as their files store them.
pub const MODEL_TYPES: [GgmlType; 5] = [GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::Q4_K, GgmlType::Q6_K];

/// One weight type's figures.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize)]
pub struct KernelRun {
    /// The type as the kernels read it (regrouped in wasm, as models are at load).
    pub ty: String,
    pub cols: usize,
    /// Decode: rows of the matrix, and its bytes, several times the last-level cache.
    pub rows: usize,
    pub mbytes: f64,
    /// Decode: one token's matmul over the matrix (best of the repetitions).
    pub decode_gb_per_s: f64,
    /// The bound: summing the same bytes as 32-bit words (best of the repetitions).
    pub read_gb_per_s: f64,
    /// `decode_gb_per_s / read_gb_per_s`.
    pub of_read_bound: f64,
    /// Prefill: a batch of `batch` tokens through a matrix that stays in cache, in multiply-adds per second.
    pub batch: usize,
    pub prefill_gmac_per_s: f64,
}

/// Times decode over a matrix of about `mbytes` MB of type `ty` with rows of `cols` elements, and a prefill
/// batch of `batch` tokens, `reps` times each; the best of each is kept (noise only ever adds time).
pub fn run(ty: GgmlType, cols: usize, mbytes: usize, batch: usize, reps: usize) -> KernelRun {
    let ty = if REGROUP_AT_LOAD { regrouped(ty).unwrap_or(ty) } else { ty };
    let mut rng = Rng::new(7);
    let rb = ty.row_bytes(cols);
    let rows = (mbytes << 20) / rb;
    // A few distinct rows tiled over the matrix: what the bytes hold does not change the time.
    let distinct: Vec<Vec<u8>> = (0..64).map(|_| random_row(ty, cols, &mut rng)).collect();
    let mut bytes = Vec::with_capacity(rows * rb);
    for r in 0..rows {
        bytes.extend_from_slice(&distinct[r % distinct.len()]);
    }
    let x: Vec<f32> = (0..cols * batch).map(|_| rng.next_f32() - 0.5).collect();
    let best = |f: &mut dyn FnMut()| best_of(reps, f);

    let w = Weight::new(ty, rows, cols, 0);
    let mut acts = Q8Acts::default();
    quantize(&mut acts, &x[..cols], cols);
    let mut out = vec![0f32; rows];
    let decode_ms = best(&mut || matmul(&bytes, &w, &x[..cols], &acts, &mut out));
    let mut sink = 0u32;
    let read_ms = best(&mut || sink ^= read_words(&bytes));
    std::hint::black_box(sink);

    // Prefill: 256 rows (a few hundred KB) stay in cache across the batch, as a tile of a real GEMM does.
    let prows = 256;
    let pw = Weight::new(ty, prows, cols, 0);
    let pbytes = &bytes[..prows * rb];
    quantize(&mut acts, &x, cols);
    let mut pout = vec![0f32; prows * batch];
    let prefill_ms = best(&mut || matmul(pbytes, &pw, &x, &acts, &mut pout));

    let gb = bytes.len() as f64 / 1e9;
    let (decode, read) = (gb / (decode_ms / 1e3), gb / (read_ms / 1e3));
    KernelRun {
        ty: ty.name().to_string(),
        cols,
        rows,
        mbytes: bytes.len() as f64 / 1e6,
        decode_gb_per_s: decode,
        read_gb_per_s: read,
        of_read_bound: decode / read,
        batch,
        prefill_gmac_per_s: (prows * cols * batch) as f64 / 1e9 / (prefill_ms / 1e3),
    }
}

/// Every type of [`MODEL_TYPES`] at Gemma 3's row length (640; a multiple of 256, as the K-quants need).
pub fn run_all(mbytes: usize, reps: usize) -> Vec<KernelRun> {
    MODEL_TYPES.iter().map(|&ty| run(ty, 640, mbytes, 128, reps)).collect()
}

/// Attention's figures for one head layout and context length.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize)]
pub struct AttentionRun {
    pub heads: usize,
    pub kv_heads: usize,
    pub hd: usize,
    /// Positions in the cache when the timed tokens come.
    pub positions: usize,
    /// Decode: one token over `positions` cached positions (best of the repetitions), in multiply-adds per
    /// second (scores and weighted values) and milliseconds per layer.
    pub decode_gmac_per_s: f64,
    pub decode_ms: f64,
    /// Prefill: a batch of `batch` tokens ending at `positions`, each over the positions up to its own.
    pub batch: usize,
    pub prefill_gmac_per_s: f64,
}

/// Times one layer's attention ([`attention::attend`]) with `h`'s heads over a cache of `positions`, for one
/// token and for a batch of `batch` tokens, `reps` times each (the best is kept).
pub fn attention_run(h: Heads, positions: usize, batch: usize, reps: usize) -> AttentionRun {
    let mut rng = Rng::new(11);
    let (qd, kvd) = (h.heads * h.hd, h.kv_heads * h.hd);
    let mut r = |n: usize| (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect::<Vec<f32>>();
    let (k, v, q) = (r(positions * kvd), r(positions * kvd), r(batch * qd));
    let mut att = vec![0f32; positions * (h.heads / h.kv_heads)];
    let mut out = vec![0f32; batch * qd];
    let best = |f: &mut dyn FnMut()| best_of(reps, f);
    let scale = 1.0 / (h.hd as f32).sqrt();
    let pos0 = positions - batch;
    let decode_ms =
        best(&mut || attention::attend(&q[..qd], &k, &v, h, positions - 1, None, scale, &mut att, &mut out[..qd]));
    let prefill_ms = best(&mut || attention::attend(&q, &k, &v, h, pos0, None, scale, &mut att, &mut out));
    // Scores and weighted values: 2 · hd multiply-adds per (query head, position).
    let macs = |n: usize| (2 * h.hd * h.heads * n) as f64;
    let prefill_macs: f64 = (pos0 + 1..=positions).map(macs).sum();
    AttentionRun {
        heads: h.heads,
        kv_heads: h.kv_heads,
        hd: h.hd,
        positions,
        decode_gmac_per_s: macs(positions) / 1e9 / (decode_ms / 1e3),
        decode_ms,
        batch,
        prefill_gmac_per_s: prefill_macs / 1e9 / (prefill_ms / 1e3),
    }
}

/// Attention with the head layouts of SmolLM2 (9 heads of 64 over 3 KV heads) and Gemma 3 (4 of 256 over
/// 1), over 512 positions (a cited answer's prompt and its tokens), with a 128-token prefill batch.
pub fn attention_all(reps: usize) -> Vec<AttentionRun> {
    [Heads { heads: 9, kv_heads: 3, hd: 64 }, Heads { heads: 4, kv_heads: 1, hd: 256 }]
        .into_iter()
        .map(|h| attention_run(h, 512, 128, reps))
        .collect()
}

/// Untimed calls before timing, for at least this long: V8 starts a wasm function on baseline code and
/// swaps in optimised code, compiled on another thread, for a later call only. One warm-up call was not
/// always enough on two busy cores: a run read attention at 4.4 G multiply-adds/s in both wasm builds alike
/// (baseline code) against 10.7 and 11.8 the run before.
const WARM_MS: f64 = 200.0;

/// The shortest of `reps` (at least one) timings of `f`, in ms, after warming up: noise only ever adds time.
fn best_of(reps: usize, f: &mut dyn FnMut()) -> f64 {
    let t0 = now_ms();
    let mut calls = 0;
    while calls < 2 || now_ms() - t0 < WARM_MS {
        f();
        calls += 1;
    }
    (0..reps.max(1)).map(|_| timed(f)).fold(f64::INFINITY, f64::min)
}

fn timed(f: &mut dyn FnMut()) -> f64 {
    let t0 = now_ms();
    f();
    now_ms() - t0
}

/// A sum of `bytes` as little-endian u32 words in 16 lanes: the least work per byte that still reads every
/// byte, which the compiler vectorises (SIMD128 adds in wasm, AVX2 natively).
fn read_words(bytes: &[u8]) -> u32 {
    let mut acc = [0u32; 16];
    for c in bytes.chunks_exact(64) {
        for (i, a) in acc.iter_mut().enumerate() {
            *a = a.wrapping_add(u32::from_le_bytes([c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]]));
        }
    }
    acc.iter().fold(0, |s, &a| s ^ a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_consistent() {
        let r = run(GgmlType::Q8_0, 256, 1, 16, 1);
        assert_eq!(r.rows, (1 << 20) / GgmlType::Q8_0.row_bytes(256));
        assert!(r.decode_gb_per_s > 0.0 && r.read_gb_per_s > 0.0 && r.prefill_gmac_per_s > 0.0);
        assert!((r.of_read_bound - r.decode_gb_per_s / r.read_gb_per_s).abs() < 1e-12);
    }

    #[test]
    fn attention_figures_are_consistent() {
        let r = attention_run(Heads { heads: 4, kv_heads: 2, hd: 32 }, 64, 16, 1);
        assert_eq!((r.positions, r.batch), (64, 16));
        assert!(r.decode_gmac_per_s > 0.0 && r.prefill_gmac_per_s > 0.0 && r.decode_ms > 0.0);
    }

    #[test]
    fn read_words_sums_every_word() {
        let bytes: Vec<u8> = (0..256u32).flat_map(|i| i.to_le_bytes()).collect();
        // Lane l sums words l, l + 16, ...; the lanes are then xor-ed.
        let lanes: Vec<u32> = (0..16).map(|l| (0..16).map(|k| (l + 16 * k) as u32).sum()).collect();
        assert_eq!(read_words(&bytes), lanes.iter().fold(0, |s, &a| s ^ a));
    }
}
