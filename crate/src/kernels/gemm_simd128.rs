//! f32 GEMM for wasm SIMD128, `out (nt × rows) = x (nt × k) · Wᵀ` with W row-major (`rows × k`), as the
//! embedder's float layers need. matrixmultiply has no wasm kernel; this one keeps a 4-token × 2-row block
//! of accumulators in registers (8 of them, plus 6 loads per step: under V8's 16 vector registers) and walks
//! W in tiles of rows small enough to stay in cache while every token block passes over them.

use core::arch::wasm32::*;

/// Rows of W per tile: 32 rows × 1536 floats = 192 KiB, the largest layer's tile.
const ROW_TILE: usize = 32;

/// Returns false (and does nothing) unless `k` is a multiple of 4.
pub fn gemm_nt(x: &[f32], w: &[f32], nt: usize, rows: usize, k: usize, out: &mut [f32]) -> bool {
    if !k.is_multiple_of(4) || x.len() < nt * k || w.len() < rows * k || out.len() < nt * rows {
        return false;
    }
    for r0 in (0..rows).step_by(ROW_TILE) {
        let r1 = (r0 + ROW_TILE).min(rows);
        let mut t = 0;
        while t < nt {
            let tb = (nt - t).min(4);
            let mut r = r0;
            while r < r1 {
                let rb = (r1 - r).min(2);
                // SAFETY: t + tb ≤ nt and r + rb ≤ rows, and the slices were checked to hold nt×k, rows×k
                // and nt×rows floats.
                unsafe {
                    match (tb, rb) {
                        (4, 2) => block::<4, 2>(x, w, t, r, k, rows, out),
                        (4, 1) => block::<4, 1>(x, w, t, r, k, rows, out),
                        (3, 2) => block::<3, 2>(x, w, t, r, k, rows, out),
                        (3, 1) => block::<3, 1>(x, w, t, r, k, rows, out),
                        (2, 2) => block::<2, 2>(x, w, t, r, k, rows, out),
                        (2, 1) => block::<2, 1>(x, w, t, r, k, rows, out),
                        (1, 2) => block::<1, 2>(x, w, t, r, k, rows, out),
                        _ => block::<1, 1>(x, w, t, r, k, rows, out),
                    }
                }
                r += rb;
            }
            t += tb;
        }
    }
    true
}

#[inline(always)]
unsafe fn block<const T: usize, const R: usize>(
    x: &[f32],
    w: &[f32],
    t0: usize,
    r0: usize,
    k: usize,
    rows: usize,
    out: &mut [f32],
) {
    let mut acc = [[f32x4_splat(0.0); R]; T];
    let xp = x.as_ptr().add(t0 * k);
    let wp = w.as_ptr().add(r0 * k);
    let mut i = 0;
    while i < k {
        let mut wv = [f32x4_splat(0.0); R];
        for (j, v) in wv.iter_mut().enumerate() {
            *v = v128_load(wp.add(j * k + i) as *const v128);
        }
        for (ti, a) in acc.iter_mut().enumerate() {
            let xv = v128_load(xp.add(ti * k + i) as *const v128);
            for j in 0..R {
                a[j] = f32x4_add(a[j], f32x4_mul(xv, wv[j]));
            }
        }
        i += 4;
    }
    for (ti, a) in acc.iter().enumerate() {
        for (j, v) in a.iter().enumerate() {
            out[(t0 + ti) * rows + r0 + j] = f32x4_extract_lane::<0>(*v)
                + f32x4_extract_lane::<1>(*v)
                + f32x4_extract_lane::<2>(*v)
                + f32x4_extract_lane::<3>(*v);
        }
    }
}
