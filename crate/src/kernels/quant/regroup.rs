//! Regrouped in-memory layouts of Q4_1 and Q8_0 rows, made once at load for the wasm kernels.
//!
//! In each run of four blocks the four f16 scales (and Q4_1's four mins) come first, then the four blocks'
//! quants: a Q4_1 group is `d0..d3 m0..m3 qs0..qs3` (80 bytes), a Q8_0 group `d0..d3 qs0..qs3` (136).
//! The SIMD kernel then reads a group's scales with one load instead of gathering eight 2-byte fields
//! 20 or 34 bytes apart, which cost as much as the integer dot products themselves. A row keeps its size;
//! blocks after the last whole group keep the file's layout.

use super::GgmlType;

/// Blocks per group.
pub const GROUP: usize = 4;

/// The regrouped type of a file type that has one.
pub fn regrouped(ty: GgmlType) -> Option<GgmlType> {
    match ty {
        GgmlType::Q4_1 => Some(GgmlType::Q4_1x4),
        GgmlType::Q8_0 => Some(GgmlType::Q8_0x4),
        _ => None,
    }
}

/// The file type a regrouped type was made from (any other type is its own).
pub fn file_type(ty: GgmlType) -> GgmlType {
    match ty {
        GgmlType::Q4_1x4 => GgmlType::Q4_1,
        GgmlType::Q8_0x4 => GgmlType::Q8_0,
        other => other,
    }
}

/// Bytes of a block's header (scale, and min where there is one) in the file layout of `ty`.
fn header_bytes(ty: GgmlType) -> usize {
    match file_type(ty) {
        GgmlType::Q4_1 => 4,
        _ => 2,
    }
}

/// Rewrites `row`, stored as `ty` (Q4_1 or Q8_0) in the file's layout, in the regrouped layout.
pub fn regroup_row(ty: GgmlType, row: &mut [u8]) {
    let (bb, hb) = (ty.block_bytes(), header_bytes(ty));
    let mut file = [0u8; GROUP * 34];
    for g in row.chunks_exact_mut(GROUP * bb) {
        file[..g.len()].copy_from_slice(g);
        let qb = bb - hb;
        for j in 0..GROUP {
            let blk = &file[j * bb..(j + 1) * bb];
            // Field f (2 bytes) of block j goes to the f-th row of four scales.
            for f in 0..hb / 2 {
                g[2 * (f * GROUP + j)..2 * (f * GROUP + j) + 2].copy_from_slice(&blk[2 * f..2 * f + 2]);
            }
            g[GROUP * hb + j * qb..GROUP * hb + (j + 1) * qb].copy_from_slice(&blk[hb..]);
        }
    }
}

/// Calls `f` with the blocks of a regrouped `row` in the file's layout, one group (or the last few
/// blocks) at a time, and the index of the first block passed.
pub fn for_file_blocks(ty: GgmlType, row: &[u8], mut f: impl FnMut(&[u8], usize)) {
    let (bb, hb) = (ty.block_bytes(), header_bytes(ty));
    let qb = bb - hb;
    let mut file = [0u8; GROUP * 34];
    let groups = row.len() / (GROUP * bb);
    for (i, g) in row.chunks_exact(GROUP * bb).enumerate() {
        for j in 0..GROUP {
            let blk = &mut file[j * bb..(j + 1) * bb];
            for f in 0..hb / 2 {
                blk[2 * f..2 * f + 2].copy_from_slice(&g[2 * (f * GROUP + j)..2 * (f * GROUP + j) + 2]);
            }
            blk[hb..].copy_from_slice(&g[GROUP * hb + j * qb..GROUP * hb + (j + 1) * qb]);
        }
        f(&file[..GROUP * bb], i * GROUP);
    }
    let tail = &row[groups * GROUP * bb..];
    if !tail.is_empty() {
        f(tail, groups * GROUP);
    }
}

/// A regrouped `row` back in the file's layout.
pub fn ungroup_row(ty: GgmlType, row: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len());
    for_file_blocks(ty, row, |blocks, _| out.extend_from_slice(blocks));
    out
}
