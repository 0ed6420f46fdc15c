//! Matrix × activations, the operation every layer of every model here is made of. Weights stay in their
//! stored (often quantised) form inside a byte buffer; activations are quantised once per matmul.

use std::ops::Range;

use crate::kernels::gemm_int;
use crate::kernels::quant::{vec_dot, GgmlType, Q8Acts, Q8Row};

/// A weight matrix: `rows` rows of `cols` elements of type `ty`. The rows `first..first + held` are stored
/// one after another from `offset` in the model bytes: all of them, unless the matrix is split by rows across
/// workers (see [`crate::llm::split`]), when each worker holds its own range.
#[derive(Debug, Clone)]
pub struct Weight {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
    pub first: usize,
    pub held: usize,
}

impl Weight {
    /// A matrix held whole.
    pub fn new(ty: GgmlType, rows: usize, cols: usize, offset: usize) -> Weight {
        Weight { ty, rows, cols, offset, first: 0, held: rows }
    }

    pub fn row_bytes(&self) -> usize {
        self.ty.row_bytes(self.cols)
    }

    pub fn held_rows(&self) -> Range<usize> {
        self.first..self.first + self.held
    }

    /// Row `r` (which must be one of the held rows).
    pub fn row<'a>(&self, bytes: &'a [u8], r: usize) -> &'a [u8] {
        debug_assert!(self.held_rows().contains(&r), "row {r} is not held ({:?})", self.held_rows());
        let rb = self.row_bytes();
        let i = r - self.first;
        &bytes[self.offset + i * rb..self.offset + (i + 1) * rb]
    }
}

/// Whether models regroup their Q4_1 and Q8_0 matrices at load ([`crate::kernels::quant::regroup`]): the wasm
/// kernels read a group's scales with one load from it; the native AVX2 kernels are as fast on the file's
/// layout, so native builds (CLI, perplexity) keep it.
pub const REGROUP_AT_LOAD: bool = cfg!(target_arch = "wasm32");

/// Regroups, in place in `bytes`, every held row of the matrices in `mats` whose type has a regrouped
/// layout, and retypes them. Matrices that share their bytes (tied embeddings) are regrouped once.
pub fn regroup(bytes: &mut [u8], mats: &mut [Weight]) {
    use crate::kernels::quant::regroup::{regroup_row, regrouped};
    // A tensor is known by where its held rows are and what they are: an offset alone is not enough, since a
    // shard holding no rows of a small matrix places it at the same offset as the next tensor.
    let key = |w: &Weight| (w.offset, w.held, w.first, w.rows, w.cols, w.ty);
    let mut done = Vec::new();
    for w in mats.iter_mut() {
        let Some(ty) = regrouped(w.ty) else { continue };
        let k = key(w);
        if w.held > 0 && !done.contains(&k) {
            let rb = w.row_bytes();
            for row in bytes[w.offset..w.offset + w.held * rb].chunks_exact_mut(rb) {
                regroup_row(w.ty, row);
            }
            done.push(k);
        }
        w.ty = ty;
    }
}

/// Where a matmul writes row `r` of token `t`: `out[t * stride + r - first]`.
#[derive(Debug, Clone, Copy)]
pub struct OutLayout {
    pub stride: usize,
    pub first: usize,
}

/// Quantises the activations (rows of `cols`) for the matmuls that follow. Skipped when rows don't split
/// into blocks (only float weights allow that) and for batches that [`matmul`] runs as f32 GEMMs.
pub fn quantize(acts: &mut Q8Acts, x: &[f32], cols: usize) {
    if x.len() / cols >= MIN_DEQUANT_BATCH && !gemm_int::enabled() {
        return;
    }
    if cols.is_multiple_of(32) {
        acts.quantize_from(x);
    }
}

/// `out[t][r] = W[r] · x[t]` for every token row t and every held row r (all rows unless the matrix is split
/// across workers). Row-outer so each weight row is read from memory once per batch. Natively, big products
/// are split by rows across the cores.
pub fn matmul(bytes: &[u8], w: &Weight, x: &[f32], acts: &Q8Acts, out: &mut [f32]) {
    matmul_into(bytes, w, x, acts, out, OutLayout { stride: w.rows, first: 0 });
}

/// [`matmul`] into any layout of `out`.
pub fn matmul_into(bytes: &[u8], w: &Weight, x: &[f32], acts: &Q8Acts, out: &mut [f32], o: OutLayout) {
    let nt = x.len() / w.cols;
    debug_assert!(out.len() >= (nt.max(1) - 1) * o.stride + w.first + w.held - o.first);
    if w.ty == GgmlType::F32 && nt > 1 && sgemm(bytes, w, x, nt, out, o) {
        return;
    }
    // Batches (prefill, perplexity) go faster as f32 GEMMs over dequantised tiles than as one int8 dot per
    // (row, token). Each output is the same dot product whichever tile or shard its row falls in, so a split
    // model stays bit-identical to the whole one given the same batches; a batch under MIN_DEQUANT_BATCH
    // tokens (decode) takes the int8 path, so the numbers depend on how a prompt is cut into batches.
    if w.ty != GgmlType::F32 && nt >= MIN_DEQUANT_BATCH {
        // With relaxed SIMD or AVX2, integer GEMMs on the quantised activations do the same work in fewer
        // instructions; they too compute each output the same whatever tile or shard its row falls in.
        if gemm_int::takes(w.ty) && acts.len() >= nt * w.cols {
            integer(bytes, w, acts, nt, out, o);
        } else {
            dequantized(bytes, w, x, out, o);
        }
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        // Below about a million multiply-adds the hand-off costs more than it saves.
        if w.held * w.cols * nt >= 1 << 20 && rayon::current_num_threads() > 1 {
            use rayon::prelude::*;
            let held = w.held_rows();
            let parts = rayon::current_num_threads() * 4;
            let per = w.held.div_ceil(parts);
            let mut partial: Vec<Vec<f32>> = (0..parts).map(|_| Vec::new()).collect();
            partial.par_iter_mut().enumerate().for_each(|(p, buf)| {
                let (r0, r1) = (held.start + p * per, (held.start + (p + 1) * per).min(held.end));
                if r0 < r1 {
                    buf.resize((r1 - r0) * nt, 0.0);
                    rows_into(bytes, w, x, acts, r0, r1, nt, buf);
                }
            });
            for (p, buf) in partial.iter().enumerate() {
                scatter_rows(buf, nt, held.start + p * per, out, o);
            }
            return;
        }
    }
    // Each token's activations are sliced once, not once per row: decode runs this loop over every row of
    // the output layer (262,144 for Gemma 3), where that slicing was a tenth of the dot products' time.
    let blocks = w.cols / 32;
    let tokens: Vec<(&[f32], Q8Row)> =
        (0..nt).map(|t| (&x[t * w.cols..(t + 1) * w.cols], acts.row(t, blocks))).collect();
    let rows = &bytes[w.offset..w.offset + w.held * w.row_bytes()];
    for (i, row) in rows.chunks_exact(w.row_bytes()).enumerate() {
        let at = w.first + i - o.first;
        for (t, (xt, a)) in tokens.iter().enumerate() {
            out[t * o.stride + at] = vec_dot(w.ty, row, xt, a);
        }
    }
}

/// Rows `r0..r1` for every token, into `buf` laid out token-major (`buf[t * (r1 - r0) + r - r0]`).
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
fn rows_into(bytes: &[u8], w: &Weight, x: &[f32], acts: &Q8Acts, r0: usize, r1: usize, nt: usize, buf: &mut [f32]) {
    let blocks = w.cols / 32;
    let n = r1 - r0;
    for r in r0..r1 {
        let row = w.row(bytes, r);
        for t in 0..nt {
            buf[t * n + r - r0] = vec_dot(w.ty, row, &x[t * w.cols..(t + 1) * w.cols], &acts.row(t, blocks));
        }
    }
}

/// Copies `buf`, the results of rows `r0..` for `nt` tokens laid out token-major (`buf.len() / nt` rows
/// each), into their places in `out`.
fn scatter_rows(buf: &[f32], nt: usize, r0: usize, out: &mut [f32], o: OutLayout) {
    let n = buf.len() / nt.max(1);
    for t in 0..nt {
        let at = t * o.stride + r0 - o.first;
        out[at..at + n].copy_from_slice(&buf[t * n..(t + 1) * n]);
    }
}

/// Float weights times a batch: one blocked GEMM, `out (nt × rows) = x (nt × cols) · Wᵀ`. Returns false
/// (and does nothing) if the weights are not 4-byte aligned in memory.
fn sgemm(bytes: &[u8], w: &Weight, x: &[f32], nt: usize, out: &mut [f32], o: OutLayout) -> bool {
    let raw = &bytes[w.offset..w.offset + w.held * w.row_bytes()];
    // SAFETY: every bit pattern is a valid f32; only the aligned middle is used, and only if it is all.
    let (pre, wf, post) = unsafe { raw.align_to::<f32>() };
    if !pre.is_empty() || !post.is_empty() {
        return false;
    }
    if w.held == o.stride {
        gemm_f32(x, wf, nt, w.held, w.cols, out);
    } else {
        // Part of a matrix split across workers (test models only: real ones are quantised).
        let mut part = vec![0f32; nt * w.held];
        gemm_f32(x, wf, nt, w.held, w.cols, &mut part);
        scatter_rows(&part, nt, w.first, out, o);
    }
    true
}

/// `out[t][r] = W[r] · x[t]` with the activations kept f32 whatever the weights: quantised weights are
/// dequantised a tile at a time into the f32 GEMM (split by rows across the cores natively). One token is
/// computed exactly as in a batch, which the embedder needs: a text embeds the same alone or batched.
pub fn matmul_f32_acts(bytes: &[u8], w: &Weight, x: &[f32], out: &mut [f32]) {
    let o = OutLayout { stride: w.rows, first: 0 };
    let nt = x.len() / w.cols;
    if w.ty == GgmlType::F32 && sgemm(bytes, w, x, nt, out, o) {
        return;
    }
    dequantized(bytes, w, x, out, o);
}

/// Tokens from which quantised matmuls run as GEMMs ([`gemm_int`] or [`matmul_dequantized`]).
const MIN_DEQUANT_BATCH: usize = 16;

/// The f32 GEMM over dequantised tiles, for [`matmul_into`]'s batches and [`matmul_f32_acts`]: split by rows
/// across the cores natively; in wasm on this worker alone (a split model's rows are spread over the pool).
fn dequantized(bytes: &[u8], w: &Weight, x: &[f32], out: &mut [f32], o: OutLayout) {
    #[cfg(target_arch = "wasm32")]
    matmul_dequantized_into(bytes, w, x, out, o);
    #[cfg(not(target_arch = "wasm32"))]
    dequantized_split(bytes, w, x, out, o);
}

/// [`matmul_dequantized_into`] with the rows split across the cores (whole tiles each).
#[cfg(not(target_arch = "wasm32"))]
fn dequantized_split(bytes: &[u8], w: &Weight, x: &[f32], out: &mut [f32], o: OutLayout) {
    let nt = x.len() / w.cols;
    split_rows(w, nt, DEQUANT_TILE, out, o, |sub, buf, so| matmul_dequantized_into(bytes, sub, x, buf, so));
}

/// Runs `f` on parts of `w`'s held rows (multiples of `tile` rows) on every core, each into a buffer laid
/// out as `f`'s [`OutLayout`] says, and gathers them into `out`. On one thread, `f` runs on all of `w`.
#[cfg(not(target_arch = "wasm32"))]
fn split_rows(
    w: &Weight,
    nt: usize,
    tile: usize,
    out: &mut [f32],
    o: OutLayout,
    f: impl Fn(&Weight, &mut [f32], OutLayout) + Sync,
) {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    if threads <= 1 {
        return f(w, out, o);
    }
    let per = w.held.div_ceil(threads).next_multiple_of(tile);
    let parts: Vec<(usize, Vec<f32>)> = (0..threads)
        .into_par_iter()
        .filter_map(|p| {
            let r0 = w.first + p * per;
            let r1 = (r0 + per).min(w.first + w.held);
            if r0 >= r1 {
                return None;
            }
            let sub =
                Weight { offset: w.offset + (r0 - w.first) * w.row_bytes(), first: r0, held: r1 - r0, ..w.clone() };
            let mut buf = vec![0f32; nt * (r1 - r0)];
            f(&sub, &mut buf, OutLayout { stride: r1 - r0, first: r0 });
            Some((r0, buf))
        })
        .collect();
    for (r0, buf) in parts {
        scatter_rows(&buf, nt, r0, out, o);
    }
}

/// [`gemm_int::matmul`], split by rows across the cores natively.
fn integer(bytes: &[u8], w: &Weight, acts: &Q8Acts, nt: usize, out: &mut [f32], o: OutLayout) {
    #[cfg(target_arch = "wasm32")]
    gemm_int::matmul(bytes, w, acts, nt, out, o);
    #[cfg(not(target_arch = "wasm32"))]
    split_rows(w, nt, gemm_int::LANES, out, o, |sub, buf, so| gemm_int::matmul(bytes, sub, acts, nt, buf, so));
}

/// Rows of a quantised matrix dequantised at a time by [`matmul_dequantized`].
const DEQUANT_TILE: usize = 32;

/// `out[t][r] = W[r] · x[t]` for a batch through quantised weights, by dequantising W a tile of rows at a
/// time and running the f32 GEMM: the activations stay f32 and each weight is decoded once per batch, which
/// in wasm beats one int8 dot product per (row, token) for batches of a few dozen tokens or more.
pub fn matmul_dequantized(bytes: &[u8], w: &Weight, x: &[f32], out: &mut [f32]) {
    matmul_dequantized_into(bytes, w, x, out, OutLayout { stride: w.rows, first: 0 });
}

fn matmul_dequantized_into(bytes: &[u8], w: &Weight, x: &[f32], out: &mut [f32], o: OutLayout) {
    thread_local! {
        // The tile and its products, reused: allocating them per call showed in profiles.
        static BUFS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    }
    BUFS.with(|b| {
        let (tile, part) = &mut *b.borrow_mut();
        dequantized_tiles(bytes, w, x, out, o, tile, part)
    })
}

fn dequantized_tiles(
    bytes: &[u8],
    w: &Weight,
    x: &[f32],
    out: &mut [f32],
    o: OutLayout,
    tile: &mut Vec<f32>,
    part: &mut Vec<f32>,
) {
    let nt = x.len() / w.cols;
    if tile.len() < DEQUANT_TILE * w.cols {
        tile.resize(DEQUANT_TILE * w.cols, 0.0);
    }
    if part.len() < nt * DEQUANT_TILE {
        part.resize(nt * DEQUANT_TILE, 0.0);
    }
    for r0 in w.held_rows().step_by(DEQUANT_TILE) {
        let n = (w.first + w.held - r0).min(DEQUANT_TILE);
        for (i, dst) in tile.chunks_exact_mut(w.cols).take(n).enumerate() {
            crate::kernels::quant::dequantize_row(w.ty, w.row(bytes, r0 + i), dst);
        }
        gemm_f32(x, &tile[..n * w.cols], nt, n, w.cols, &mut part[..nt * n]);
        scatter_rows(&part[..nt * n], nt, r0, out, o);
    }
}

/// `out (m × n) = a (m × k) · bᵀ` for row-major `a` and `b` (`n × k`): the SIMD128 kernel in wasm,
/// matrixmultiply (AVX2/FMA, detected at run time) natively.
pub fn gemm_f32(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, out: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= n * k && out.len() >= m * n, "gemm_f32: slices too short");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if crate::kernels::gemm_simd128::gemm_nt(a, b, m, n, k, out) {
        return;
    }
    // SAFETY: the pointers cover m×k, k×n (b read transposed: row stride 1, column stride k) and m×n
    // elements of live slices (asserted above), and `out` does not alias the inputs.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            1,
            k as isize,
            0.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quant::dequantize_row;
    use crate::kernels::quant::tests_support::random_row;
    use crate::rng::Rng;

    fn rows(bytes: &[u8], w: &Weight) -> Vec<Vec<f32>> {
        w.held_rows()
            .map(|r| {
                let mut out = vec![0f32; w.cols];
                dequantize_row(w.ty, w.row(bytes, r), &mut out);
                out
            })
            .collect()
    }

    #[test]
    fn regroup_keeps_every_row_and_regroups_tied_matrices_once() {
        let mut rng = Rng::new(4);
        let cols = 32 * 18; // four whole groups and two blocks in the file layout
        let mut bytes = Vec::new();
        let mut add = |ty: GgmlType, n: usize| {
            let at = bytes.len();
            for _ in 0..n {
                bytes.extend(random_row(ty, cols, &mut rng));
            }
            at
        };
        let (q8, q4, f) = (add(GgmlType::Q8_0, 5), add(GgmlType::Q4_1, 3), add(GgmlType::F32, 2));
        // The Q8_0 matrix twice (an output layer tied to the embeddings), and one matrix held in part.
        let mut mats = vec![
            Weight::new(GgmlType::Q8_0, 5, cols, q8),
            Weight { first: 1, held: 2, ..Weight::new(GgmlType::Q4_1, 3, cols, q4 + GgmlType::Q4_1.row_bytes(cols)) },
            Weight::new(GgmlType::F32, 2, cols, f),
            Weight::new(GgmlType::Q8_0, 5, cols, q8),
        ];
        let before: Vec<_> = mats.iter().map(|w| rows(&bytes, w)).collect();
        let copy = bytes.clone();
        regroup(&mut bytes, &mut mats);
        let types: Vec<_> = mats.iter().map(|w| w.ty).collect();
        assert_eq!(types, [GgmlType::Q8_0x4, GgmlType::Q4_1x4, GgmlType::F32, GgmlType::Q8_0x4]);
        assert_ne!(bytes, copy);
        for (w, want) in mats.iter().zip(&before) {
            assert_eq!(&rows(&bytes, w), want, "{} rows changed value", w.ty.name());
        }
        // The Q4_1 row that matrix does not hold is left alone.
        let rb = GgmlType::Q4_1.row_bytes(cols);
        assert_eq!(bytes[q4..q4 + rb], copy[q4..q4 + rb]);
    }

    /// A shard that holds none of a small matrix's rows places it at the offset of the next tensor; the next
    /// tensor must still be regrouped (it was taken for the empty one, already done, and computed garbage).
    #[test]
    fn regroup_is_not_fooled_by_an_empty_placement_at_the_same_offset() {
        let mut rng = Rng::new(5);
        let cols = 32 * 8;
        let bytes_of =
            |ty: GgmlType, n: usize, rng: &mut Rng| (0..n).flat_map(|_| random_row(ty, cols, rng)).collect::<Vec<u8>>();
        let mut bytes = bytes_of(GgmlType::Q8_0, 4, &mut rng);
        let mut mats = vec![
            Weight { first: 64, held: 0, ..Weight::new(GgmlType::Q8_0, 64, cols, 0) },
            Weight::new(GgmlType::Q8_0, 4, cols, 0),
        ];
        let want = rows(&bytes, &mats[1]);
        regroup(&mut bytes, &mut mats);
        assert_eq!(mats[1].ty, GgmlType::Q8_0x4);
        assert_eq!(rows(&bytes, &mats[1]), want, "the held matrix was not regrouped");
    }
}
