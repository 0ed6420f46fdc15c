//! Quantised rows unpacked for the integer GEMM ([`crate::kernels::gemm_int`]): each weight as a small
//! unsigned integer `q` (below 64, so a valid 7-bit operand of wasm's relaxed dot product), and per block of
//! `L` elements a scale `d` and an offset `m` with `w = d · q + m`. A signed quant's centre (Q4_0's 8, Q5_0's
//! 16, Q6_K's 32) goes into `m`, where it meets the activations' block sums instead of every product.

use super::kernels::BIT;
use super::{f16_at, GgmlType};

/// Elements per scale in the unpacked form of `ty`, or None if the integer GEMM does not take it (Q8_0's
/// quants are signed 8-bit; float types have no blocks).
pub fn block_len(ty: GgmlType) -> Option<usize> {
    use GgmlType::*;
    match ty {
        Q4_0 | Q4_1 | Q4_1x4 | Q5_0 | Q5_1 | Q4_K => Some(32),
        Q6_K => Some(16),
        _ => None,
    }
}

/// The largest unpacked quant of `ty`: the kernel sizes its 16-bit partial sums by it.
pub fn max_quant(ty: GgmlType) -> u8 {
    use GgmlType::*;
    match ty {
        Q5_0 | Q5_1 => 31,
        Q6_K => 63,
        _ => 15,
    }
}

/// Unpacks `row` (stored as `ty`, which [`block_len`] takes) into `q` (one per element) and, per block of
/// [`block_len`] elements, `d` and `m`.
pub fn unpack_row(ty: GgmlType, row: &[u8], q: &mut [u8], d: &mut [f32], m: &mut [f32]) {
    use GgmlType::*;
    match ty {
        Q4_0 | Q4_1 | Q5_0 | Q5_1 => {
            let bb = ty.block_bytes();
            for (b, blk) in row.chunks_exact(bb).enumerate() {
                let o: &mut [u8; 32] = (&mut q[32 * b..32 * b + 32]).try_into().unwrap();
                let db = f16_at(blk, 0);
                d[b] = db;
                m[b] = match ty {
                    Q4_0 => -8.0 * db,
                    Q5_0 => -16.0 * db,
                    _ => f16_at(blk, 2),
                };
                let qoff = match ty {
                    Q4_0 => 2,
                    Q4_1 => 4,
                    Q5_0 => 6,
                    _ => 8,
                };
                let qs: &[u8; 16] = blk[qoff..qoff + 16].try_into().unwrap();
                for j in 0..16 {
                    o[j] = qs[j] & 0xF;
                    o[j + 16] = qs[j] >> 4;
                }
                if matches!(ty, Q5_0 | Q5_1) {
                    let qh = u32::from_le_bytes(blk[qoff - 4..qoff].try_into().unwrap());
                    for (e, v) in o.iter_mut().enumerate() {
                        *v |= if qh & BIT[e] != 0 { 0x10 } else { 0 };
                    }
                }
            }
        }
        Q4_1x4 => super::regroup::for_file_blocks(ty, row, |blocks, b| {
            let n = blocks.len() / 20;
            unpack_row(Q4_1, blocks, &mut q[32 * b..32 * (b + n)], &mut d[b..b + n], &mut m[b..b + n]);
        }),
        Q4_K => {
            for (s, blk) in row.chunks_exact(144).enumerate() {
                let (dd, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
                let scales = &blk[4..16];
                for j in 0..4 {
                    let qs: &[u8; 32] = blk[16 + 32 * j..48 + 32 * j].try_into().unwrap();
                    let at = 256 * s + 64 * j;
                    let (lo, hi) = q[at..at + 64].split_at_mut(32);
                    let (lo, hi): (&mut [u8; 32], &mut [u8; 32]) = (lo.try_into().unwrap(), hi.try_into().unwrap());
                    for l in 0..32 {
                        lo[l] = qs[l] & 0xF;
                        hi[l] = qs[l] >> 4;
                    }
                    for h in 0..2 {
                        let (sc, mn) = super::kernels::scale_min_k4(2 * j + h, scales);
                        d[8 * s + 2 * j + h] = dd * sc as f32;
                        m[8 * s + 2 * j + h] = -(dmin * mn as f32);
                    }
                }
            }
        }
        Q6_K => {
            for (s, blk) in row.chunks_exact(210).enumerate() {
                let dd = f16_at(blk, 208);
                for n in 0..2 {
                    let ql: &[u8; 64] = blk[64 * n..64 * n + 64].try_into().unwrap();
                    let qh: &[u8; 32] = blk[128 + 32 * n..160 + 32 * n].try_into().unwrap();
                    let sc = &blk[192 + 8 * n..200 + 8 * n];
                    // The same walk as dequantize_row: value k of index l, sixteen values to a scale.
                    for k in 0..4 {
                        let (src, nib, hs) = (32 * (k & 1), 4 * (k >> 1), 2 * k);
                        for half in 0..2 {
                            let at = 256 * s + 128 * n + 32 * k + 16 * half;
                            let blkno = at / 16;
                            let ds = dd * (sc[half + 2 * k] as i8) as f32;
                            d[blkno] = ds;
                            m[blkno] = -32.0 * ds;
                            let o: &mut [u8; 16] = (&mut q[at..at + 16]).try_into().unwrap();
                            let low: &[u8; 16] = ql[src + 16 * half..src + 16 * half + 16].try_into().unwrap();
                            let high: &[u8; 16] = qh[16 * half..16 * half + 16].try_into().unwrap();
                            for l in 0..16 {
                                o[l] = ((low[l] >> nib) & 0xF) | (((high[l] >> hs) & 3) << 4);
                            }
                        }
                    }
                }
            }
        }
        other => unreachable!("unpack_row called with {}, which has no unpacked form", other.name()),
    }
}
