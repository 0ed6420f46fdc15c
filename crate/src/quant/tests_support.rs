//! Random valid weight rows, for tests of the kernels and of synthetic models.

use super::GgmlType;
use crate::sampler::Rng;

/// A random but valid row of `n` elements of type `ty`: random bytes with sane f16 scales.
pub fn random_row(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
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

pub const ALL: [GgmlType; 11] = [
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
];

