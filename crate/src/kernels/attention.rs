//! Attention of a batch of tokens over the KV cache, one group of query heads (those sharing a KV head) at a
//! time. The sums run in the same order as the plain loops they replace (each score by [`dot`], then one
//! multiply-add per value element in position order), so results are bit-identical; in wasm they use SIMD128
//! explicitly, and each key row is loaded once for up to three heads of the group. The softmax takes the
//! f32 exp (within 2 ulp of libm): with the f64 one it was a fifth of attention's time in wasm (SmolLM2's
//! heads, 512 positions: 6.3 → 7.9 G multiply-adds per second), and llama.cpp's own softmax is no closer to
//! libm.

use crate::kernels::fastmath;

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

/// How a layer's heads are laid out: `heads` query heads of `hd` floats, `kv_heads` key/value heads (each
/// shared by `heads / kv_heads` consecutive query heads), cache rows of `kv_heads × hd` floats.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub hd: usize,
}

/// One layer's attention for a batch of tokens at positions `pos0..` (their keys and values already in
/// the cache `k`/`v`): each token attends to the positions up to its own, the last `window` of them if
/// given. `q` and `out` hold one row of `heads × hd` floats per token; `att` is scratch of at least
/// `heads / kv_heads × (pos0 + tokens)` floats.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    h: Heads,
    pos0: usize,
    window: Option<usize>,
    scale: f32,
    att: &mut [f32],
    out: &mut [f32],
) {
    let (qd, kvd) = (h.heads * h.hd, h.kv_heads * h.hd);
    let group = h.heads / h.kv_heads;
    for (t, (qt, ot)) in q.chunks_exact(qd).zip(out.chunks_exact_mut(qd)).enumerate() {
        let p = pos0 + t;
        let start = window.map_or(0, |w| (p + 1).saturating_sub(w));
        for kvh in 0..h.kv_heads {
            let span = Span { k, v, stride: kvd, head: kvh, hd: h.hd, start, end: p };
            let heads = kvh * group * h.hd..(kvh + 1) * group * h.hd;
            attend_group(&qt[heads.clone()], &span, scale, att, &mut ot[heads]);
        }
    }
}

/// `out[g] = softmax(scale · q[g] · Kᵀ) · V` for each query head g of the group (`q` and `out` hold
/// `group` heads of `hd` floats; `att` is scratch of at least `group × positions`).
pub fn attend_group(q: &[f32], span: &Span, scale: f32, att: &mut [f32], out: &mut [f32]) {
    let (hd, n) = (span.hd, span.end + 1 - span.start);
    let group = q.len() / hd;
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if hd % 32 == 0 && span.stride.is_multiple_of(4) {
        // Heads in threes (twos when that divides the group): each key row is loaded once for them all; more
        // than three would not leave their sums in registers.
        let chunk = if !group.is_multiple_of(3) && group.is_multiple_of(2) { 2 } else { 3 };
        let mut g = 0;
        while g < group {
            let take = chunk.min(group - g);
            let (qs, a) = (&q[g * hd..(g + take) * hd], &mut att[g * n..(g + take) * n]);
            match take {
                1 => simd::scores::<1>(qs, span, scale, a),
                2 => simd::scores::<2>(qs, span, scale, a),
                _ => simd::scores::<3>(qs, span, scale, a),
            }
            g += take;
        }
        for g in 0..group {
            fastmath::softmax_f32(&mut att[g * n..(g + 1) * n]);
            simd::weighted_values(&att[g * n..(g + 1) * n], span, &mut out[g * hd..(g + 1) * hd]);
        }
        return;
    }
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
        fastmath::softmax_f32(&mut att[g * n..(g + 1) * n]);
    }
    out.fill(0.0);
    for i in 0..n {
        let vr = &span.v[row(span.start + i)];
        for g in 0..group {
            axpy(&mut out[g * hd..(g + 1) * hd], att[g * n + i], vr);
        }
    }
}

/// The same sums as the plain loops, reorganised for SIMD128: scores for four positions and up to three heads
/// at once (each position's lane sums by a 4×4 transpose, added in [`super::dot`]'s lane order), and the
/// weighted values accumulated in registers 32 floats at a time over all positions (each element still
/// summed in position order).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use super::Span;
    use core::arch::wasm32::*;

    #[inline(always)]
    unsafe fn ld(p: *const f32) -> v128 {
        v128_load(p as *const v128)
    }

    /// Lane j of four vectors, for j = 0..4: the 4×4 transpose.
    #[inline(always)]
    fn transpose(a: v128, b: v128, c: v128, d: v128) -> [v128; 4] {
        let ab_lo = i32x4_shuffle::<0, 4, 1, 5>(a, b);
        let ab_hi = i32x4_shuffle::<2, 6, 3, 7>(a, b);
        let cd_lo = i32x4_shuffle::<0, 4, 1, 5>(c, d);
        let cd_hi = i32x4_shuffle::<2, 6, 3, 7>(c, d);
        [
            i32x4_shuffle::<0, 1, 4, 5>(ab_lo, cd_lo),
            i32x4_shuffle::<2, 3, 6, 7>(ab_lo, cd_lo),
            i32x4_shuffle::<0, 1, 4, 5>(ab_hi, cd_hi),
            i32x4_shuffle::<2, 3, 6, 7>(ab_hi, cd_hi),
        ]
    }

    /// `att[g·n + i] = scale · q_g · k[start + i]` for the `G` heads of `q` (n = `att.len() / G` positions), four
    /// positions at a time, each key row loaded once for all the heads; each dot in [`super::dot`]'s order.
    pub fn scores<const G: usize>(q: &[f32], span: &Span, scale: f32, att: &mut [f32]) {
        let (hd, n) = (span.hd, att.len() / G);
        assert!(
            q.len() == G * hd
                && hd % 4 == 0
                && span.k.len() >= (span.start + n) * span.stride
                && span.head * hd + hd <= span.stride
        );
        let k0 = span.start * span.stride + span.head * hd;
        let (qp, kp) = (q.as_ptr(), span.k.as_ptr());
        let mut i = 0;
        // SAFETY: every load reads 4 floats of `q` (G·hd of them) or of a key row inside `span.k` (asserted);
        // the stores write 4 floats at g·n + i.. with i + 4 <= n.
        unsafe {
            while i + 4 <= n {
                let rows = [0, 1, 2, 3].map(|j| kp.add(k0 + (i + j) * span.stride));
                let mut acc = [[f32x4_splat(0.0); 4]; G];
                for c in 0..hd / 4 {
                    let x: [v128; G] = core::array::from_fn(|g| ld(qp.add(g * hd + 4 * c)));
                    for (j, row) in rows.iter().enumerate() {
                        let k = ld(row.add(4 * c));
                        for g in 0..G {
                            acc[g][j] = f32x4_add(acc[g][j], f32x4_mul(x[g], k));
                        }
                    }
                }
                for (g, a) in acc.iter().enumerate() {
                    // Lane l of t[m] is position l's lane m: the sums come out lane by lane, as in `dot`.
                    let t = transpose(a[0], a[1], a[2], a[3]);
                    let s = f32x4_add(f32x4_add(f32x4_add(t[0], t[1]), t[2]), t[3]);
                    v128_store(att.as_mut_ptr().add(g * n + i) as *mut v128, f32x4_mul(s, f32x4_splat(scale)));
                }
                i += 4;
            }
        }
        for g in 0..G {
            for p in i..n {
                let o = k0 + p * span.stride;
                att[g * n + p] = super::dot(&q[g * hd..(g + 1) * hd], &span.k[o..o + hd]) * scale;
            }
        }
    }

    /// `out = Σ_i att[i] · v[start + i]`, summed in position order.
    pub fn weighted_values(att: &[f32], span: &Span, out: &mut [f32]) {
        let (hd, n) = (span.hd, att.len());
        assert!(
            out.len() == hd
                && hd % 32 == 0
                && span.v.len() >= (span.start + n) * span.stride
                && span.head * hd + hd <= span.stride
        );
        let v0 = span.start * span.stride + span.head * hd;
        let vp = span.v.as_ptr();
        for part in (0..hd).step_by(32) {
            let mut acc = [f32x4_splat(0.0); 8];
            // SAFETY: each load reads 4 floats of a value row inside `span.v` (asserted above); the stores
            // write 4 floats inside `out`.
            unsafe {
                for (i, &a) in att.iter().enumerate() {
                    let row = vp.add(v0 + i * span.stride + part);
                    let a = f32x4_splat(a);
                    for (c, x) in acc.iter_mut().enumerate() {
                        *x = f32x4_add(*x, f32x4_mul(a, ld(row.add(4 * c))));
                    }
                }
                for (c, x) in acc.iter().enumerate() {
                    v128_store(out.as_mut_ptr().add(part + 4 * c) as *mut v128, *x);
                }
            }
        }
    }
}

/// Σ a·b: in wasm four running lanes (what one SIMD128 register holds), summed lane by lane, then the
/// tail; natively [`crate::kernels::quant::dot_f32`]'s eight lanes.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let n = a.len().min(b.len()) / 4 * 4;
        let mut s = 0.0f32;
        if n > 0 {
            // SAFETY: simd128 is enabled; every load reads 4 floats inside `a` or `b` (below n).
            unsafe {
                use core::arch::wasm32::*;
                let mut acc = f32x4_splat(0.0);
                let (pa, pb) = (a.as_ptr() as *const v128, b.as_ptr() as *const v128);
                for c in 0..n / 4 {
                    acc = f32x4_add(acc, f32x4_mul(pa.add(c).read_unaligned(), pb.add(c).read_unaligned()));
                }
                s = f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc);
                s += f32x4_extract_lane::<2>(acc);
                s += f32x4_extract_lane::<3>(acc);
            }
        }
        for (x, y) in a[n..].iter().zip(&b[n..]) {
            s += x * y;
        }
        s
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    crate::kernels::quant::dot_f32(a, b)
}

/// y += a·x, element by element.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if y.len().is_multiple_of(4) && x.len() == y.len() {
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

/// Checks [`attend_group`] against the plain loops it replaces (scores by [`crate::kernels::quant::dot_f32`]'s
/// order, softmax, then one multiply-add per value element in position order), to the bit, over head
/// sizes, group sizes, window starts and lengths. Run natively and in wasm (where SIMD128 paths apply).
#[doc(hidden)]
pub fn check_matches_plain_loops(seed: u64) {
    let mut rng = crate::rng::Rng::new(seed);
    for (hd, group, kv_heads) in [(64, 3, 3), (256, 4, 1), (32, 2, 2), (48, 2, 1), (64, 7, 2), (32, 1, 4)] {
        let stride = hd * kv_heads;
        let positions = 301;
        let mut r = |n: usize| (0..n).map(|_| rng.next_f32() * 4.0 - 2.0).collect::<Vec<f32>>();
        let (k, v, q) = (r(positions * stride), r(positions * stride), r(group * hd));
        for (start, end) in [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (5, 9), (0, 36), (17, 300), (0, 300)] {
            for head in 0..kv_heads {
                let span = Span { k: &k, v: &v, stride, head, hd, start, end };
                let n = end + 1 - start;
                let scale = 0.125;
                let mut att = vec![0f32; group * n];
                let mut out = vec![0f32; group * hd];
                attend_group(&q, &span, scale, &mut att, &mut out);
                let mut want = vec![0f32; group * hd];
                for g in 0..group {
                    let qg = &q[g * hd..(g + 1) * hd];
                    let row = |m: &[f32], p: usize| m[p * stride + head * hd..p * stride + head * hd + hd].to_vec();
                    let mut a: Vec<f32> = (start..=end).map(|p| dot(qg, &row(&k, p)) * scale).collect();
                    crate::kernels::fastmath::softmax_f32(&mut a);
                    for (i, p) in (start..=end).enumerate() {
                        for (o, x) in want[g * hd..(g + 1) * hd].iter_mut().zip(row(&v, p)) {
                            *o += a[i] * x;
                        }
                    }
                }
                let same = out.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "hd {hd}, group {group}, head {head}, positions {start}..={end}: attention differs from the plain loops");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn attention_equals_the_plain_loops_to_the_bit() {
        super::check_matches_plain_loops(3);
    }
}
