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
