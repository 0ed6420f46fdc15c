//! Random valid weight rows, for tests of the kernels and of synthetic models.

use super::kernels::vec_dot_generic;
use super::regroup::{file_type, regroup_row};
use super::{dequantize_row, vec_dot, GgmlType, Q8Acts};
use crate::rng::Rng;

/// A random but valid row of `n` elements of type `ty`: random bytes with sane f16 scales.
pub fn random_row(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    if let Some(base) = regrouped_from(ty) {
        let mut row = random_row(base, n, rng);
        regroup_row(base, &mut row);
        return row;
    }
    let mut row: Vec<u8> = (0..ty.row_bytes(n)).map(|_| rng.next_u32() as u8).collect();
    let bb = ty.block_bytes();
    let scale = |rng: &mut Rng| half::f16::from_f32(rng.next_f32() * 0.02 + 0.001).to_bits().to_le_bytes();
    for blk in row.chunks_exact_mut(bb) {
        match ty {
            GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => blk[0..2].copy_from_slice(&scale(rng)),
            GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => {
                blk[0..2].copy_from_slice(&scale(rng));
                blk[2..4].copy_from_slice(&scale(rng));
            }
            GgmlType::Q6_K => blk[208..210].copy_from_slice(&scale(rng)),
            GgmlType::F16 => blk.copy_from_slice(&half::f16::from_f32(rng.next_f32() - 0.5).to_bits().to_le_bytes()),
            GgmlType::BF16 => blk.copy_from_slice(&((((rng.next_f32() - 0.5).to_bits()) >> 16) as u16).to_le_bytes()),
            GgmlType::F32 => blk.copy_from_slice(&(rng.next_f32() - 0.5).to_le_bytes()),
            _ => {}
        }
    }
    row
}

/// The file type `ty` was regrouped from, if it is a regrouped type.
fn regrouped_from(ty: GgmlType) -> Option<GgmlType> {
    let base = file_type(ty);
    (base != ty).then_some(base)
}

pub const ALL: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q4_1x4,
    GgmlType::Q8_0x4,
];

/// Checks `vec_dot` (whatever kernels this build dispatches to) for every type against a dot product of
/// the dequantised row with the dequantised activations, on random rows. Used natively and in wasm.
pub fn check_vec_dot_against_reference(seed: u64) {
    let mut rng = Rng::new(seed);
    let n = 512;
    for ty in ALL {
        for _ in 0..5 {
            let row = random_row(ty, n, &mut rng);
            let x: Vec<f32> = (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
            let mut acts = Q8Acts::default();
            acts.quantize_from(&x);
            let mut w = vec![0f32; n];
            dequantize_row(ty, &row, &mut w);
            // Float weights meet the float x; quantised weights meet the dequantised activations.
            let xq: Vec<f32> = (0..n).map(|i| acts.d[i / 32] * acts.qs[i] as f32).collect();
            let xr = if ty.is_float() { &x } else { &xq };
            let want: f64 = w.iter().zip(xr).map(|(a, b)| *a as f64 * *b as f64).sum();
            let scale: f64 = w.iter().zip(xr).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
            let got = vec_dot(ty, &row, &x, &acts.row(0, n / 32)) as f64;
            assert!((got - want).abs() <= 1e-4 * scale + 1e-6, "{}: got {got}, want {want}", ty.name());
        }
    }
}

/// Checks that `vec_dot` (the SIMD kernels of this build) gives exactly what the portable kernels give, one
/// 32-element activation block at a time: with the weights' f16 scales set to 1.0 and activations that
/// quantise to `d = 1` (integers with a ±127 in the block) in just one block, every f32 step of both is
/// exact, so any difference is a wrong integer sum. Random bytes and all-0x00 / 0xFF / 0x80 blocks against
/// random and saturated (±127) activations cover the i16 headroom. Used natively and in wasm.
pub fn check_vec_dot_exact_integer_sums(seed: u64) {
    let mut rng = Rng::new(seed);
    let n = 512;
    let one = half::f16::from_f32(1.0).to_bits().to_le_bytes();
    for ty in ALL.into_iter().filter(|t| !t.is_float()) {
        let file_ty = file_type(ty);
        let scale_fields: &[usize] = match file_ty {
            GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
            GgmlType::Q6_K => &[208],
            _ => &[0, 2],
        };
        for case in 0..7 {
            let mut row = match case {
                0 => vec![0u8; ty.row_bytes(n)],
                1 => vec![0xFFu8; ty.row_bytes(n)],
                // Q8_0 quants of -128: with ±127 activations, pairs of products at the i16 limit.
                2 => vec![0x80u8; ty.row_bytes(n)],
                _ => random_row(file_ty, n, &mut rng),
            };
            for blk in row.chunks_exact_mut(ty.block_bytes()) {
                for &f in scale_fields {
                    blk[f..f + 2].copy_from_slice(&one);
                }
            }
            if file_ty != ty {
                regroup_row(file_ty, &mut row);
            }
            for ab in 0..n / 32 {
                for fill in 0..3 {
                    let mut x = vec![0f32; n];
                    let xb = &mut x[32 * ab..32 * ab + 32];
                    for v in xb.iter_mut() {
                        *v = match fill {
                            0 => 127.0,
                            1 => -127.0,
                            _ => (rng.next_u32() % 255) as f32 - 127.0,
                        };
                    }
                    xb[(rng.next_u32() % 32) as usize] = if fill == 0 { 127.0 } else { -127.0 };
                    let mut acts = Q8Acts::default();
                    acts.quantize_from(&x);
                    assert_eq!(acts.d[ab], 1.0);
                    let a = acts.row(0, n / 32);
                    let got = vec_dot(ty, &row, &x, &a);
                    let want = vec_dot_generic(ty, &row, &x, &a);
                    assert!(got == want, "{} case {case} block {ab} fill {fill}: got {got}, want {want}", ty.name());
                }
            }
        }
    }
}

/// Checks the batched float paths (`gemm_f32`, and `matmul_dequantized` for Q8_0 and Q4_1 weights) against
/// a float64 product, on sizes with remainders in every blocked dimension. Used natively and in wasm.
pub fn check_gemm_against_reference(seed: u64) {
    use crate::kernels::matmul::{gemm_f32, matmul_dequantized, Weight};
    let mut rng = Rng::new(seed);
    for (m, n, k) in [(1, 1, 4), (7, 5, 64), (37, 70, 96), (200, 33, 384)] {
        let a: Vec<f32> = (0..m * k).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let b: Vec<f32> = (0..n * k).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let mut out = vec![0f32; m * n];
        gemm_f32(&a, &b, m, n, k, &mut out);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|t| a[i * k + t] as f64 * b[j * k + t] as f64).sum();
                assert!((out[i * n + j] as f64 - want).abs() < 1e-4 * k as f64, "gemm {m}x{n}x{k} at ({i},{j})");
            }
        }
        if k % 32 != 0 {
            continue;
        }
        for ty in [GgmlType::Q8_0, GgmlType::Q4_1] {
            let bytes: Vec<u8> = (0..n).flat_map(|_| random_row(ty, k, &mut rng)).collect();
            let w = Weight::new(ty, n, k, 0);
            let mut got = vec![0f32; m * n];
            matmul_dequantized(&bytes, &w, &a, &mut got);
            let mut row = vec![0f32; k];
            for j in 0..n {
                dequantize_row(ty, w.row(&bytes, j), &mut row);
                for i in 0..m {
                    let want: f64 = (0..k).map(|t| a[i * k + t] as f64 * row[t] as f64).sum();
                    assert!(
                        (got[i * n + j] as f64 - want).abs() < 1e-4 * k as f64,
                        "{} {m}x{n}x{k} at ({i},{j})",
                        ty.name()
                    );
                }
            }
        }
    }
}

/// Checks that regrouped rows ([`super::regroup`]) dequantise to exactly what their file layout does, and
/// dot to exactly what this build's kernel for the file layout gives (in wasm the SIMD kernels are written
/// to match step for step; natively regrouped rows go through the portable kernel, so compare with that),
/// for row lengths with and without a partial last group. Used natively and in wasm.
pub fn check_regrouped_rows_match_file_layout(seed: u64) {
    use super::kernels::vec_dot_generic;
    let mut rng = Rng::new(seed);
    for (file_ty, ty) in [(GgmlType::Q4_1, GgmlType::Q4_1x4), (GgmlType::Q8_0, GgmlType::Q8_0x4)] {
        for n in [32, 96, 128, 576, 1536, 32 * 18] {
            let file = random_row(file_ty, n, &mut rng);
            let mut row = file.clone();
            regroup_row(file_ty, &mut row);
            if n >= 128 {
                assert_ne!(row, file, "{} n={n}: regrouping changed nothing", ty.name());
            }
            assert_eq!(super::regroup::ungroup_row(ty, &row), file, "{} n={n}: ungroup is not the inverse", ty.name());
            let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
            dequantize_row(file_ty, &file, &mut a);
            dequantize_row(ty, &row, &mut b);
            assert_eq!(a, b, "{} n={n}: dequantised rows differ", ty.name());
            for _ in 0..3 {
                let x: Vec<f32> = (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
                let mut acts = Q8Acts::default();
                acts.quantize_from(&x);
                let q = acts.row(0, n / 32);
                let want = if cfg!(target_arch = "wasm32") {
                    vec_dot(file_ty, &file, &x, &q)
                } else {
                    vec_dot_generic(file_ty, &file, &x, &q)
                };
                let got = vec_dot(ty, &row, &x, &q);
                assert!(got.to_bits() == want.to_bits(), "{} n={n}: got {got}, want {want}", ty.name());
            }
        }
    }
}

/// A row of `n` elements of `ty` whose every quant is the largest (all bits set) with sane scales: with
/// ±127 activations it fills the integer GEMM's 16-bit partial sums closest to overflowing.
pub fn max_quant_row(ty: GgmlType, n: usize) -> Vec<u8> {
    if let Some(base) = regrouped_from(ty) {
        let mut row = max_quant_row(base, n);
        regroup_row(base, &mut row);
        return row;
    }
    let mut row = vec![0xFFu8; ty.row_bytes(n)];
    let scale = half::f16::from_f32(0.01).to_bits().to_le_bytes();
    let fields: &[usize] = match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q6_K => &[208],
        _ => &[0, 2],
    };
    for blk in row.chunks_exact_mut(ty.block_bytes()) {
        for &f in fields {
            blk[f..f + 2].copy_from_slice(&scale);
        }
    }
    row
}

/// `nt` tokens of `cols` activations, quantised: random in [-1, 1), or `saturated`: whole tokens of +127 and
/// of -127 (every product of a row the same sign, the integer GEMM's worst case).
fn test_acts(nt: usize, cols: usize, saturated: bool, rng: &mut Rng) -> Q8Acts {
    let x: Vec<f32> = (0..nt * cols)
        .map(|i| match saturated {
            true => [1.0, -1.0][i / cols % 2],
            false => rng.next_f32() * 2.0 - 1.0,
        })
        .collect();
    let mut acts = Q8Acts::default();
    acts.quantize_from(&x);
    acts
}

/// Checks the integer GEMM ([`crate::kernels::gemm_int::matmul`], whatever kernel this build has) for every
/// type it takes: against a float64 product of the dequantised weights and activations, and to the bit
/// against its portable kernel. Odd row and token counts leave partial groups and token blocks; one matrix is
/// a shard (rows 5.. of 13) writing into a wider output. Used natively and in wasm.
pub fn check_int_gemm(seed: u64) {
    use crate::kernels::gemm_int::{matmul, matmul_portable};
    use crate::kernels::matmul::{OutLayout, Weight};
    let mut rng = Rng::new(seed);
    let types = [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q4_1x4,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
    ];
    for ty in types {
        let cols = 512;
        let rows = 13;
        let mut bytes = Vec::new();
        for r in 0..rows {
            bytes.extend(if r == 2 { max_quant_row(ty, cols) } else { random_row(ty, cols, &mut rng) });
        }
        for (nt, saturated) in [(7, false), (5, true), (16, false)] {
            let acts = test_acts(nt, cols, saturated, &mut rng);
            for (first, held) in [(0, rows), (5, rows - 5)] {
                let w = Weight { first, held, ..Weight::new(ty, rows, cols, first * ty.row_bytes(cols)) };
                let o = OutLayout { stride: rows + 3, first: 0 };
                let mut got = vec![f32::NAN; nt * o.stride];
                let mut portable = got.clone();
                matmul(&bytes, &w, &acts, nt, &mut got, o);
                matmul_portable(&bytes, &w, &acts, nt, &mut portable, o);
                for t in 0..nt {
                    let xq: Vec<f32> =
                        (0..cols).map(|i| acts.d[(t * cols + i) / 32] * acts.qs[t * cols + i] as f32).collect();
                    for r in first..rows {
                        let mut wr = vec![0f32; cols];
                        dequantize_row(ty, &bytes[r * ty.row_bytes(cols)..(r + 1) * ty.row_bytes(cols)], &mut wr);
                        let want: f64 = wr.iter().zip(&xq).map(|(a, b)| *a as f64 * *b as f64).sum();
                        let scale: f64 = wr.iter().zip(&xq).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
                        let (g, p) = (got[t * o.stride + r], portable[t * o.stride + r]);
                        let what = format!("{} row {r} token {t} (rows {first}.., saturated {saturated})", ty.name());
                        assert!((g as f64 - want).abs() <= 1e-4 * scale + 1e-6, "{what}: got {g}, want {want}");
                        assert_eq!(g.to_bits(), p.to_bits(), "{what}: SIMD {g} and portable {p} differ");
                    }
                    // Outputs outside the held rows are left alone.
                    assert!(got[t * o.stride..t * o.stride + first].iter().all(|v| v.is_nan()), "{}", ty.name());
                    assert!(got[t * o.stride + rows..(t + 1) * o.stride].iter().all(|v| v.is_nan()), "{}", ty.name());
                }
            }
        }
    }
}

/// Checks [`crate::kernels::gemm_int::matmul_packed`] (whatever kernel this build has): the packed rows stay
/// within half a step of the floats they were made from, the products match a float64 product of the packed
/// rows and the dequantised activations, and the SIMD kernel matches the portable one to the bit. Rows with a
/// constant block (no range) and with outliers; partial groups, tiles and token blocks. Natively and in wasm.
pub fn check_packed_gemm(seed: u64) {
    use crate::kernels::gemm_int::{matmul_packed, matmul_packed_portable, Packed};
    let mut rng = Rng::new(seed);
    let (rows, cols) = (37, 384);
    let mut w: Vec<f32> = (0..rows * cols).map(|_| rng.next_f32() * 0.2 - 0.1).collect();
    w[3 * cols..3 * cols + 32].fill(0.25);
    w[5 * cols + 7] = 4.0;
    // Row 2 at the top quant but for each block's first element: the 16-bit sums' worst case.
    for (e, v) in w[2 * cols..3 * cols].iter_mut().enumerate() {
        *v = if e % 32 == 0 { -0.1 } else { 0.1 };
    }
    let p = Packed::quantize(&w, rows, cols);
    assert_eq!((p.rows(), p.cols()), (rows, cols));
    for r in 0..rows {
        let got = p.row(r);
        for (b, (g, want)) in got.chunks(32).zip(w[r * cols..(r + 1) * cols].chunks(32)).enumerate() {
            let range = want.iter().cloned().fold(f32::MIN, f32::max) - want.iter().cloned().fold(f32::MAX, f32::min);
            for (a, b2) in g.iter().zip(want) {
                assert!((a - b2).abs() <= range / 126.0 + 1e-6, "row {r} block {b}: {a} for {b2}");
            }
        }
    }
    for (nt, saturated) in [(7, false), (5, true), (1, false)] {
        let acts = test_acts(nt, cols, saturated, &mut rng);
        let mut got = vec![f32::NAN; nt * rows];
        let mut portable = got.clone();
        matmul_packed(&p, &acts, nt, &mut got);
        matmul_packed_portable(&p, &acts, nt, &mut portable);
        for t in 0..nt {
            let xq: Vec<f32> = (0..cols).map(|i| acts.d[(t * cols + i) / 32] * acts.qs[t * cols + i] as f32).collect();
            for r in 0..rows {
                let wr = p.row(r);
                let want: f64 = wr.iter().zip(&xq).map(|(a, b)| *a as f64 * *b as f64).sum();
                let scale: f64 = wr.iter().zip(&xq).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
                let (g, q) = (got[t * rows + r], portable[t * rows + r]);
                assert!((g as f64 - want).abs() <= 1e-4 * scale + 1e-6, "row {r} token {t}: got {g}, want {want}");
                assert_eq!(g.to_bits(), q.to_bits(), "row {r} token {t}: SIMD {g} and portable {q} differ");
            }
        }
    }
}
