//! Attention of one token over the KV cache, one group of query heads (those sharing a KV head) at a time:
//! each cached key and value row is read once for the whole group. The sums run in the same order as the
//! plain loops they replace ([`crate::quant::dot_f32`]'s eight lanes, then one multiply-add per element),
//! so results are bit-identical; in wasm they use SIMD128 explicitly.

use crate::fastmath;

/// The cached rows a token attends to: positions `start..=end` of layer caches `k`/`v` (rows of `stride`
/// floats), KV head `head` (`hd` floats at `head * hd`).
pub struct Span<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub stride: usize,
    pub head: usize,
    pub hd: usize,
    pub start: usize,
    pub end: usize,
}

/// `out[g] = softmax(scale · q[g] · Kᵀ) · V` for each query head g of the group (`q` and `out` hold
/// `group` heads of `hd` floats; `att` is scratch of at least `group × positions`).
pub fn attend_group(q: &[f32], span: &Span, scale: f32, att: &mut [f32], out: &mut [f32]) {
    let (hd, n) = (span.hd, span.end + 1 - span.start);
    let group = q.len() / hd;
    let row = |pos: usize| {
        let o = pos * span.stride + span.head * hd;
        o..o + hd
    };
    for i in 0..n {
        let kr = &span.k[row(span.start + i)];
        for g in 0..group {
            att[g * n + i] = dot(&q[g * hd..(g + 1) * hd], kr) * scale;
        }
    }
    for g in 0..group {
        fastmath::softmax(&mut att[g * n..(g + 1) * n]);
    }
    out.fill(0.0);
    for i in 0..n {
        let vr = &span.v[row(span.start + i)];
        for g in 0..group {
            axpy(&mut out[g * hd..(g + 1) * hd], att[g * n + i], vr);
        }
    }
}

/// Σ a·b in [`crate::quant::dot_f32`]'s order: eight running lanes, summed in lane order, then the tail.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if a.len() % 8 == 0 && b.len() == a.len() {
        // SAFETY: simd128 is enabled; every load reads 4 floats inside `a` or `b` (length checked above).
        unsafe {
            use core::arch::wasm32::*;
            let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
            let (pa, pb) = (a.as_ptr() as *const v128, b.as_ptr() as *const v128);
            for c in 0..a.len() / 8 {
                let (x0, x1) = (pa.add(2 * c).read_unaligned(), pa.add(2 * c + 1).read_unaligned());
                let (y0, y1) = (pb.add(2 * c).read_unaligned(), pb.add(2 * c + 1).read_unaligned());
                lo = f32x4_add(lo, f32x4_mul(x0, y0));
                hi = f32x4_add(hi, f32x4_mul(x1, y1));
            }
            let mut s = 0.0f32;
            for v in [lo, hi] {
                s += f32x4_extract_lane::<0>(v);
                s += f32x4_extract_lane::<1>(v);
                s += f32x4_extract_lane::<2>(v);
                s += f32x4_extract_lane::<3>(v);
            }
            return s;
        }
    }
    crate::quant::dot_f32(a, b)
}

/// y += a·x, element by element.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if y.len() % 4 == 0 && x.len() == y.len() {
        // SAFETY: simd128 is enabled; every access is 4 floats inside `x` or `y` (lengths checked above).
        unsafe {
            use core::arch::wasm32::*;
            let av = f32x4_splat(a);
            let (py, px) = (y.as_mut_ptr() as *mut v128, x.as_ptr() as *const v128);
            for c in 0..y.len() / 4 {
                let s = f32x4_add(py.add(c).read_unaligned(), f32x4_mul(av, px.add(c).read_unaligned()));
                py.add(c).write_unaligned(s);
            }
            return;
        }
    }
    for (o, &v) in y.iter_mut().zip(x) {
        *o += a * v;
    }
}
