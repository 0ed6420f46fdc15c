//! Elementwise maths for the hot loops outside the matmuls (softmax, activations, activation quantising),
//! written so that wasm gets straight-line code: libm's `expf`, `roundf` and `fmaxf` are calls per element
//! there (wasm's own `f32.max` and `f32.nearest` differ from Rust's `max` and `round` on NaN and ties).

/// 1/i!, the Taylor coefficients of e^f that [`exp`] uses.
const EXP_C: [f64; 13] = {
    let mut c = [1.0; 13];
    let mut i = 1;
    while i < 13 {
        c[i] = c[i - 1] / i as f64;
        i += 1;
    }
    c
};

/// e^x, correctly rounded to f32 but in about one case in a hundred million (as close to libm's `expf` as
/// libm implementations are to each other: greedy decoding is chaotic enough that a cruder exp changes
/// answers). Evaluated in f64: e^x = 2^n · e^f with n = round(x·log2 e), |f| ≤ ln2/2, e^f by its Taylor
/// series to degree 12 (truncation below 2e-16). 0 below -104, ∞ above 89, NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let xc = x.clamp(-104.0, 89.0) as f64;
    let n = (xc * std::f64::consts::LOG2_E).round_ties_even();
    let f = xc - n * std::f64::consts::LN_2;
    let mut p = EXP_C[12];
    let mut i = 12;
    while i > 0 {
        i -= 1;
        p = p * f + EXP_C[i];
    }
    let scale = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    (p * scale) as f32
}

/// The larger of `a` and `b`; a NaN `b` is ignored, as C's `fmaxf` (and so ggml's quantisers) do.
#[inline(always)]
pub fn max(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}

/// Rounds half away from zero, as C's `roundf` (and so ggml's quantisers) do.
#[inline(always)]
pub fn round(x: f32) -> f32 {
    let t = x.trunc();
    if (x - t).abs() >= 0.5 {
        t + 1f32.copysign(x)
    } else {
        t
    }
}

/// Softmax through the exp `e` (`e4` on four lanes, computing exactly `e`).
#[inline(always)]
fn softmax_with(x: &mut [f32], e: impl Fn(f32) -> f32, e4: impl Fn(simd::V) -> simd::V) {
    let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| max(m, v));
    map(x, |v| e(v - m), |v| e4(simd::sub(v, simd::splat(m))));
    // Summed in order after the exps (not alongside them): the same sum as one scalar loop.
    let mut sum = 0.0;
    for &v in x.iter() {
        sum += v;
    }
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// `g[i] = silu(g[i]) · u[i]` (the gated feed-forward of llama-style models).
pub fn silu_mul(g: &mut [f32], u: &[f32]) {
    zip_map(
        g,
        u,
        |g, u| g / (1.0 + exp(-g)) * u,
        |g, u| simd::mul(simd::div(g, simd::add(simd::splat(1.0), simd::exp(simd::neg(g)))), u),
    );
}

/// `g[i] = gelu(g[i]) · u[i]`, gelu by its tanh approximation (Gemma's gated feed-forward).
pub fn gelu_mul(g: &mut [f32], u: &[f32]) {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    zip_map(
        g,
        u,
        |x, u| 0.5 * x * (1.0 + tanh(C * (x + 0.044715 * x * x * x))) * u,
        |x, u| {
            use simd::*;
            let cube = mul(mul(mul(splat(0.044715), x), x), x);
            mul(mul(mul(splat(0.5), x), add(splat(1.0), tanh(mul(splat(C), add(x, cube))))), u)
        },
    );
}

/// Cephes' `expf` polynomial: e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2.
const EXPF_P: [f32; 6] = [1.987_569_2e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];
/// 1.5·2^23: adding and subtracting it rounds an f32 below 2^22 to the nearest integer (ties to even).
const ROUNDER: f32 = 12_582_912.0;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^x in f32 arithmetic, within 2 ulp of libm's `expf` (x clamped to [-87, 88], so 1.6e-38 below): for the
/// embedder's softmax and GELU and the language models' attention softmax, which do not need [`exp`]'s
/// correct rounding and spent a fifth of their time in it at f64. NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUNDER) - ROUNDER;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = EXPF_P[0];
    for c in &EXPF_P[1..] {
        p = p * r + c;
    }
    let y = (p * (r * r) + r) + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// In-place softmax with [`exp_f32`] (attention, in the embedder and the language models).
pub fn softmax_f32(x: &mut [f32]) {
    softmax_with(x, exp_f32, simd::exp_f32);
}

/// `x[i] = gelu(x[i])`, BERT's exact GELU x·Φ(x), with erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
/// on [`exp_f32`].
pub fn gelu_erf(x: &mut [f32]) {
    map(x, gelu_erf_one, simd::gelu_erf);
}

/// A&S 7.1.26's polynomial in t = 1/(1 + p·|x|), highest power first, and p.
const ERF_A: [f32; 5] = [1.061_405_4, -1.453_152, 1.421_413_8, -0.284_496_74, 0.254_829_6];
const ERF_P: f32 = 0.327_591_1;

#[inline(always)]
fn gelu_erf_one(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + ERF_P * a);
    let mut p = ERF_A[0];
    for c in &ERF_A[1..] {
        p = p * t + c;
    }
    let y = 1.0 - p * t * exp_f32(-(a * a));
    // erf is odd: the sign of z on y (a multiply by ±1, done on the bits).
    let erf = f32::from_bits(y.to_bits() ^ (z.to_bits() & 0x8000_0000));
    0.5 * x * (1.0 + erf)
}

/// `x[i] = f(x[i])`, four at a time with `f4` where there is SIMD128 (which must compute exactly `f`).
#[inline(always)]
#[allow(unused_variables)]
fn map(x: &mut [f32], f: impl Fn(f32) -> f32, f4: impl Fn(simd::V) -> simd::V) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let mut chunks = x.chunks_exact_mut(4);
        for c in &mut chunks {
            simd::store(c, f4(simd::load(c)));
        }
        chunks.into_remainder().iter_mut().for_each(|v| *v = f(*v));
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    x.iter_mut().for_each(|v| *v = f(*v));
}

/// `x[i] = f(x[i], y[i])`, as [`map`].
#[inline(always)]
#[allow(unused_variables)]
fn zip_map(x: &mut [f32], y: &[f32], f: impl Fn(f32, f32) -> f32, f4: impl Fn(simd::V, simd::V) -> simd::V) {
    let y = &y[..x.len()];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let mut xc = x.chunks_exact_mut(4);
        let mut yc = y.chunks_exact(4);
        for (c, d) in (&mut xc).zip(&mut yc) {
            simd::store(c, f4(simd::load(c), simd::load(d)));
        }
        xc.into_remainder().iter_mut().zip(yc.remainder()).for_each(|(v, &w)| *v = f(*v, w));
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    x.iter_mut().zip(y).for_each(|(v, &w)| *v = f(*v, w));
}

/// tanh through [`exp`]: 1 − 2/(e^{2x} + 1), exact at ±∞ and within ~1e-7 absolute.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// Four-lane versions of the functions above, doing exactly their IEEE operations in the same order (so
/// results are bit-identical): [`exp`]'s f64 evaluation on two f64x2 halves. Elsewhere a stand-in type
/// whose functions are never called keeps the callers free of `cfg`s.
mod simd {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub use wasm::*;

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    mod wasm {
        use core::arch::wasm32::*;
        pub type V = v128;

        #[inline(always)]
        pub fn load(x: &[f32]) -> V {
            assert!(x.len() >= 4);
            // SAFETY: four floats in bounds (checked above); unaligned loads are allowed.
            unsafe { v128_load(x.as_ptr() as *const v128) }
        }
        #[inline(always)]
        pub fn store(x: &mut [f32], v: V) {
            assert!(x.len() >= 4);
            // SAFETY: as in `load`.
            unsafe { v128_store(x.as_mut_ptr() as *mut v128, v) }
        }
        #[inline(always)]
        pub fn splat(a: f32) -> V {
            f32x4_splat(a)
        }
        #[inline(always)]
        pub fn add(a: V, b: V) -> V {
            f32x4_add(a, b)
        }
        #[inline(always)]
        pub fn sub(a: V, b: V) -> V {
            f32x4_sub(a, b)
        }
        #[inline(always)]
        pub fn mul(a: V, b: V) -> V {
            f32x4_mul(a, b)
        }
        #[inline(always)]
        pub fn div(a: V, b: V) -> V {
            f32x4_div(a, b)
        }
        #[inline(always)]
        pub fn neg(a: V) -> V {
            f32x4_neg(a)
        }

        /// [`super::super::exp`] on four lanes.
        #[inline(always)]
        pub fn exp(x: V) -> V {
            // clamp: NaN passes through both, as with f32::clamp.
            let x = f32x4_pmin(f32x4_pmax(x, f32x4_splat(-104.0)), f32x4_splat(89.0));
            let lo = exp_f64x2(f64x2_promote_low_f32x4(x));
            let hi = exp_f64x2(f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(x, x)));
            i32x4_shuffle::<0, 1, 4, 5>(f32x4_demote_f64x2_zero(lo), f32x4_demote_f64x2_zero(hi))
        }

        #[inline(always)]
        fn exp_f64x2(xc: v128) -> v128 {
            let n = f64x2_nearest(f64x2_mul(xc, f64x2_splat(std::f64::consts::LOG2_E)));
            let f = f64x2_sub(xc, f64x2_mul(n, f64x2_splat(std::f64::consts::LN_2)));
            let mut p = f64x2_splat(super::super::EXP_C[12]);
            let mut i = 12;
            while i > 0 {
                i -= 1;
                p = f64x2_add(f64x2_mul(p, f), f64x2_splat(super::super::EXP_C[i]));
            }
            // n as i64 (NaN to 0, as Rust's `as`), + 1023, into the exponent field.
            let e = i64x2_shl(i64x2_add(i64x2_extend_low_i32x4(i32x4_trunc_sat_f64x2_zero(n)), i64x2_splat(1023)), 52);
            f64x2_mul(p, e)
        }

        /// [`super::super::exp_f32`] on four lanes.
        #[inline(always)]
        pub fn exp_f32(x: V) -> V {
            use super::super::{EXPF_P, LN2_HI, LN2_LO, ROUNDER};
            // pmax/pmin are the scalar code's comparisons: NaN passes through both.
            let x = f32x4_pmin(f32x4_pmax(x, f32x4_splat(-87.0)), f32x4_splat(88.0));
            let n = f32x4_sub(
                f32x4_add(f32x4_mul(x, f32x4_splat(std::f32::consts::LOG2_E)), f32x4_splat(ROUNDER)),
                f32x4_splat(ROUNDER),
            );
            let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, f32x4_splat(LN2_HI))), f32x4_mul(n, f32x4_splat(LN2_LO)));
            let mut p = f32x4_splat(EXPF_P[0]);
            for c in &EXPF_P[1..] {
                p = f32x4_add(f32x4_mul(p, r), f32x4_splat(*c));
            }
            let y = f32x4_add(f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r), f32x4_splat(1.0));
            // n as i32 (NaN to 0, as Rust's `as`), + 127, into the exponent field.
            let e = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
            f32x4_mul(y, e)
        }

        /// [`super::super::gelu_erf_one`] on four lanes.
        #[inline(always)]
        pub fn gelu_erf(x: V) -> V {
            use super::super::{ERF_A, ERF_P};
            let z = f32x4_mul(x, f32x4_splat(std::f32::consts::FRAC_1_SQRT_2));
            let a = f32x4_abs(z);
            let t = f32x4_div(f32x4_splat(1.0), f32x4_add(f32x4_splat(1.0), f32x4_mul(f32x4_splat(ERF_P), a)));
            let mut p = f32x4_splat(ERF_A[0]);
            for c in &ERF_A[1..] {
                p = f32x4_add(f32x4_mul(p, t), f32x4_splat(*c));
            }
            let y = f32x4_sub(f32x4_splat(1.0), f32x4_mul(f32x4_mul(p, t), exp_f32(f32x4_neg(f32x4_mul(a, a)))));
            let erf = v128_xor(y, v128_and(z, u32x4_splat(0x8000_0000)));
            f32x4_mul(f32x4_mul(f32x4_splat(0.5), x), f32x4_add(f32x4_splat(1.0), erf))
        }

        /// [`super::super::tanh`] on four lanes.
        #[inline(always)]
        pub fn tanh(x: V) -> V {
            f32x4_sub(
                f32x4_splat(1.0),
                f32x4_div(f32x4_splat(2.0), f32x4_add(exp(f32x4_mul(f32x4_splat(2.0), x)), f32x4_splat(1.0))),
            )
        }
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    pub use stand_in::*;

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[allow(dead_code)]
    mod stand_in {
        #[derive(Clone, Copy)]
        pub struct V;
        pub fn splat(_: f32) -> V {
            V
        }
        pub fn add(_: V, _: V) -> V {
            V
        }
        pub fn sub(_: V, _: V) -> V {
            V
        }
        pub fn mul(_: V, _: V) -> V {
            V
        }
        pub fn div(_: V, _: V) -> V {
            V
        }
        pub fn neg(_: V) -> V {
            V
        }
        pub fn exp(_: V) -> V {
            V
        }
        pub fn tanh(_: V) -> V {
            V
        }
        pub fn exp_f32(_: V) -> V {
            V
        }
        pub fn gelu_erf(_: V) -> V {
            V
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_to_libm() {
        for i in -1600..=1700 {
            let x = i as f32 * 0.05;
            let (e, want) = (super::exp(x), x.exp());
            assert!((e - want).abs() <= 1.2e-7 * want, "exp({x}) = {e}, libm {want}");
            assert!((super::tanh(x) - x.tanh()).abs() < 3e-7, "tanh({x})");
        }
        assert_eq!(super::exp(-110.0), 0.0);
        assert_eq!(super::exp(100.0), f32::INFINITY);
        assert!(super::exp(f32::NAN).is_nan());
        // Correctly rounded: equal to an f64 exp rounded to f32 over a fine sweep.
        let mut same = 0;
        for i in 0..100_000 {
            let x = -20.0 + i as f32 * 0.0003;
            same += (super::exp(x) == ((x as f64).exp() as f32)) as usize;
        }
        assert_eq!(same, 100_000);
        for x in [0.5f32, -0.5, 1.5, -2.5, 2.4999998, -0.49999997, 7.0, -0.0, 3.7] {
            assert_eq!(super::round(x), x.round(), "round({x})");
        }
    }
}
#[cfg(test)]
mod f32_tests {
    #[test]
    fn exp_f32_within_two_ulp_of_libm() {
        for i in -1700..=1760 {
            let x = i as f32 * 0.05;
            let (e, want) = (super::exp_f32(x), x.exp());
            let ulp = (e.to_bits() as i64 - want.to_bits() as i64).abs();
            assert!(ulp <= 2, "exp_f32({x}) = {e}, libm {want}");
        }
        assert_eq!(super::exp_f32(-1000.0), (-87f32).exp());
        assert!(super::exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_erf_matches_a_float64_gelu() {
        // The same approximation of erf evaluated in f64 with libm's exp.
        for i in -2000..=2000 {
            let x = i as f32 * 0.005;
            let mut g = [x];
            super::gelu_erf(&mut g);
            let z = x as f64 / std::f64::consts::SQRT_2;
            let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
            let p =
                ((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592;
            let erf = (1.0 - p * t * (-z * z).exp()).copysign(z);
            let want = 0.5 * x as f64 * (1.0 + erf);
            assert!((g[0] as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()), "gelu({x}) = {}, want {want}", g[0]);
        }
    }
}

#[cfg(test)]
mod vec_tests {
    #[test]
    fn vectorised_loop_matches() {
        let xs: Vec<f32> = (0..40960).map(|i| (i as f32 - 20480.0) * 0.013).collect();
        let mut g = xs.clone();
        let u = vec![1.0f32; xs.len()];
        for (g, &u) in g.iter_mut().zip(&u) {
            *g = *g / (1.0 + super::exp(-*g)) * u;
        }
        for (i, (&x, &y)) in xs.iter().zip(&g).enumerate() {
            let want = x / (1.0 + (-x).exp());
            assert!((y - want).abs() < 1e-5, "{i}: silu({x}) = {y}, want {want}");
        }
    }
}
