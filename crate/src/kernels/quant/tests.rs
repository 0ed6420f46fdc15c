use super::tests_support::{
    check_gemm_against_reference, check_regrouped_rows_match_file_layout, check_vec_dot_against_reference,
    check_vec_dot_exact_integer_sums,
};
use super::*;
use crate::rng::Rng;

#[test]
fn vec_dot_matches_dequantized_dot_for_every_type() {
    check_vec_dot_against_reference(7);
}

#[test]
fn simd_kernels_give_the_portable_integer_sums_exactly() {
    check_vec_dot_exact_integer_sums(5);
}

#[test]
fn regrouped_rows_match_the_file_layout() {
    check_regrouped_rows_match_file_layout(11);
}

#[test]
fn integer_gemm_matches_a_float64_product_and_its_portable_kernel() {
    super::tests_support::check_int_gemm(23);
}

#[test]
fn packed_gemm_matches_a_float64_product_and_its_portable_kernel() {
    super::tests_support::check_packed_gemm(31);
}

/// The tests above check the best kernel this CPU has (AVX-512 VNNI here); this one the AVX2 kernel too.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_avx2_integer_gemm_matches_its_portable_kernel_where_vnni_is_preferred() {
    use crate::kernels::gemm_int::{cap_x86_kernel, X86Kernel};
    cap_x86_kernel(X86Kernel::Avx2);
    let r = std::panic::catch_unwind(|| {
        super::tests_support::check_int_gemm(41);
        super::tests_support::check_packed_gemm(43);
    });
    cap_x86_kernel(X86Kernel::Vnni);
    r.unwrap();
}

#[test]
fn gemm_paths_match_a_float64_product() {
    check_gemm_against_reference(3);
}

#[test]
fn q8_acts_round_trip_is_close() {
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..256).map(|_| rng.next_f32() * 4.0 - 2.0).collect();
    let mut a = Q8Acts::default();
    a.quantize_from(&x);
    for (i, &xi) in x.iter().enumerate() {
        let back = a.d[i / 32] * a.qs[i] as f32;
        assert!((back - xi).abs() <= a.d[i / 32] * 0.51 + 1e-6);
    }
    let sum: i32 = a.qs[..32].iter().map(|&q| q as i32).sum();
    assert!((a.s[0] - a.d[0] * sum as f32).abs() <= 1e-3 * a.s[0].abs() + 1e-6);
}

#[test]
fn known_q8_0_block_dequantizes_exactly() {
    // d = 0.5 (f16 0x3800), values -4..27
    let mut blk = vec![0x00, 0x38];
    blk.extend((0..32).map(|i| (i as i8 - 4) as u8));
    let mut out = [0f32; 32];
    dequantize_row(GgmlType::Q8_0, &blk, &mut out);
    for (i, v) in out.iter().enumerate() {
        assert_eq!(*v, (i as f32 - 4.0) * 0.5);
    }
}

#[test]
fn known_q4_1_block_dequantizes_exactly() {
    // d = 1.0 (0x3C00), m = -2.0 (0xC000); byte j holds element j (low) and j + 16 (high).
    let mut blk = vec![0x00, 0x3C, 0x00, 0xC0];
    blk.extend((0..16u8).map(|j| (j & 0xF) | ((15 - j) << 4)));
    let mut out = [0f32; 32];
    dequantize_row(GgmlType::Q4_1, &blk, &mut out);
    for j in 0..16 {
        assert_eq!(out[j], j as f32 - 2.0);
        assert_eq!(out[j + 16], (15 - j) as f32 - 2.0);
    }
}

#[test]
fn f16_to_f32_is_exact_for_every_finite_value() {
    for h in 0..=u16::MAX {
        let want = half::f16::from_bits(h);
        if want.is_finite() {
            assert_eq!(f16_to_f32(h).to_bits(), want.to_f32().to_bits(), "{h:#06x}");
        }
    }
}

/// The K-quant layouts element by element, as ggml defines them (and as dequantize_row computed them before its
/// loops were written to vectorise): the fast loops must give the same floats, bit for bit.
#[test]
fn k_quant_q4_1_and_q5_rows_dequantize_as_the_element_by_element_definition() {
    use super::kernels::{q6k_quad, scale_min_k4};
    let mut rng = Rng::new(11);
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1] {
        for _ in 0..20 {
            let n = 512;
            let row = super::tests_support::random_row(ty, n, &mut rng);
            let mut want = vec![0f32; n];
            match ty {
                GgmlType::Q4_K => {
                    for (blk, o) in row.chunks_exact(144).zip(want.chunks_exact_mut(256)) {
                        let (d, dmin, scales, qs) = (f16_at(blk, 0), f16_at(blk, 2), &blk[4..16], &blk[16..144]);
                        for j in 0..4 {
                            let ((sc1, m1), (sc2, m2)) = (scale_min_k4(2 * j, scales), scale_min_k4(2 * j + 1, scales));
                            for l in 0..32 {
                                let q = qs[32 * j + l];
                                o[64 * j + l] = d * sc1 as f32 * (q & 0xF) as f32 - dmin * m1 as f32;
                                o[64 * j + 32 + l] = d * sc2 as f32 * (q >> 4) as f32 - dmin * m2 as f32;
                            }
                        }
                    }
                }
                GgmlType::Q6_K => {
                    for (blk, o) in row.chunks_exact(210).zip(want.chunks_exact_mut(256)) {
                        let d = f16_at(blk, 208);
                        for n in 0..2 {
                            let (ql, qh, sc) = (&blk[64 * n..], &blk[128 + 32 * n..], &blk[192 + 8 * n..]);
                            for l in 0..32 {
                                for (k, &qk) in q6k_quad(ql, qh, l).iter().enumerate() {
                                    o[128 * n + 32 * k + l] = d * (sc[l / 16 + 2 * k] as i8) as f32 * qk as f32;
                                }
                            }
                        }
                    }
                }
                GgmlType::Q5_0 | GgmlType::Q5_1 => {
                    let (bb, hoff) = if ty == GgmlType::Q5_0 { (22, 2) } else { (24, 4) };
                    for (blk, o) in row.chunks_exact(bb).zip(want.chunks_exact_mut(32)) {
                        let (d, m) = (f16_at(blk, 0), if ty == GgmlType::Q5_1 { f16_at(blk, 2) } else { 0.0 });
                        let qh = u32::from_le_bytes(blk[hoff..hoff + 4].try_into().unwrap());
                        for j in 0..16 {
                            let q = blk[hoff + 4 + j];
                            let x0 = ((q & 0xF) as u32 | (((qh >> j) << 4) & 0x10)) as i32;
                            let x1 = ((q >> 4) as u32 | ((qh >> (j + 12)) & 0x10)) as i32;
                            if ty == GgmlType::Q5_0 {
                                (o[j], o[j + 16]) = ((x0 - 16) as f32 * d, (x1 - 16) as f32 * d);
                            } else {
                                (o[j], o[j + 16]) = (x0 as f32 * d + m, x1 as f32 * d + m);
                            }
                        }
                    }
                }
                _ => {
                    for (blk, o) in row.chunks_exact(20).zip(want.chunks_exact_mut(32)) {
                        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                        for j in 0..16 {
                            o[j] = (blk[4 + j] & 0xF) as f32 * d + m;
                            o[j + 16] = (blk[4 + j] >> 4) as f32 * d + m;
                        }
                    }
                }
            }
            let mut got = vec![0f32; n];
            dequantize_row(ty, &row, &mut got);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{}", ty.name());
        }
    }
}
