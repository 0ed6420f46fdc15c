//! Elementwise maths for the hot loops outside the matmuls (softmax, activations, activation quantising),
//! written so that wasm gets straight-line code: libm's `expf`, `roundf` and `fmaxf` are calls per element
//! there (wasm's own `f32.max` and `f32.nearest` differ from Rust's `max` and `round` on NaN and ties).

/// e^x, correctly rounded to f32 but in about one case in a hundred million (as close to libm's `expf` as
/// libm implementations are to each other: greedy decoding is chaotic enough that a cruder exp changes
/// answers). Evaluated in f64: e^x = 2^n · e^f with n = round(x·log2 e), |f| ≤ ln2/2, e^f by its Taylor
/// series to degree 12 (truncation below 2e-16). 0 below -104, ∞ above 89, NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let xc = x.clamp(-104.0, 89.0) as f64;
    let n = (xc * std::f64::consts::LOG2_E).round_ties_even();
    let f = xc - n * std::f64::consts::LN_2;
    const C: [f64; 13] = {
        let mut c = [1.0; 13];
        let mut i = 1;
        while i < 13 {
            c[i] = c[i - 1] / i as f64;
            i += 1;
        }
        c
    };
    let mut p = C[12];
    let mut i = 12;
    while i > 0 {
        i -= 1;
        p = p * f + C[i];
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

/// In-place softmax.
pub fn softmax(x: &mut [f32]) {
    let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| max(m, v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = exp(*v - m);
        sum += *v;
    }
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// tanh through [`exp`]: 1 − 2/(e^{2x} + 1), exact at ±∞ and within ~1e-7 absolute.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
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
