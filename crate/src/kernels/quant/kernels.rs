//! Portable kernels: dequantisation of every supported type and its dot product with [`Q8Acts`].
//! Written as plain loops over fixed-size blocks so that LLVM vectorises them; the wasm SIMD128 module
//! replaces the hot ones where measured speed asked for it.

use super::{f16_at, GgmlType, Q8Row};

/// Decodes the 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block (ggml's `get_scale_min_k4`).
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// `BIT[e] = 1 << e`: the masks of a Q5 block's fifth bits.
pub(super) const BIT: [u32; 32] = {
    let mut b = [0u32; 32];
    let mut e = 0;
    while e < 32 {
        b[e] = 1 << e;
        e += 1;
    }
    b
};

/// Writes the `out.len()` values of a row stored as `ty` in `row`.
pub fn dequantize_row(ty: GgmlType, row: &[u8], out: &mut [f32]) {
    use GgmlType::*;
    let n = out.len();
    debug_assert_eq!(row.len(), ty.row_bytes(n));
    match ty {
        F32 => {
            for (o, c) in out.iter_mut().zip(row.chunks_exact(4)) {
                *o = f32::from_le_bytes(c.try_into().unwrap());
            }
        }
        F16 => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = f16_at(row, 2 * i);
            }
        }
        BF16 => {
            for (o, c) in out.iter_mut().zip(row.chunks_exact(2)) {
                *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
            }
        }
        Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 => {
            let bb = ty.block_bytes();
            for (blk, o) in row.chunks_exact(bb).zip(out.chunks_exact_mut(32)) {
                let d = f16_at(blk, 0);
                match ty {
                    Q4_0 => {
                        for j in 0..16 {
                            let q = blk[2 + j];
                            o[j] = ((q & 0xF) as i32 - 8) as f32 * d;
                            o[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
                        }
                    }
                    Q4_1 => {
                        let m = f16_at(blk, 2);
                        // Fixed-size views: no bounds checks, so the loop vectorises (prefill dequantises
                        // every weight once per batch).
                        let q: &[u8; 16] = blk[4..20].try_into().unwrap();
                        let (lo, hi) = o.split_at_mut(16);
                        let (lo, hi): (&mut [f32; 16], &mut [f32; 16]) =
                            (lo.try_into().unwrap(), hi.try_into().unwrap());
                        for j in 0..16 {
                            lo[j] = (q[j] & 0xF) as f32 * d + m;
                            hi[j] = (q[j] >> 4) as f32 * d + m;
                        }
                    }
                    Q5_0 | Q5_1 => {
                        let (m, hoff) = if ty == Q5_1 { (f16_at(blk, 2), 4) } else { (0.0, 2) };
                        let qh = u32::from_le_bytes(blk[hoff..hoff + 4].try_into().unwrap());
                        let qs: &[u8; 16] = blk[hoff + 4..hoff + 20].try_into().unwrap();
                        // Value e's fifth bit is bit e of qh. Testing it against a table of masks, not shifting
                        // by the index, and fixed-size views let these loops vectorise (Gemma 3's and Qwen2's
                        // Q4_K_M files are mostly Q5_0: this was a third of their prefill).
                        let five =
                            |nibble: u8, e: usize| (nibble as u32 | if qh & BIT[e] != 0 { 0x10 } else { 0 }) as i32;
                        let (lo, hi) = o.split_at_mut(16);
                        let (lo, hi): (&mut [f32; 16], &mut [f32; 16]) =
                            (lo.try_into().unwrap(), hi.try_into().unwrap());
                        if ty == Q5_0 {
                            for j in 0..16 {
                                lo[j] = (five(qs[j] & 0xF, j) - 16) as f32 * d;
                                hi[j] = (five(qs[j] >> 4, j + 16) - 16) as f32 * d;
                            }
                        } else {
                            for j in 0..16 {
                                lo[j] = five(qs[j] & 0xF, j) as f32 * d + m;
                                hi[j] = five(qs[j] >> 4, j + 16) as f32 * d + m;
                            }
                        }
                    }
                    _ => {
                        for j in 0..32 {
                            o[j] = blk[2 + j] as i8 as f32 * d;
                        }
                    }
                }
            }
        }
        Q4_K | Q5_K => {
            let bb = ty.block_bytes();
            for (blk, o) in row.chunks_exact(bb).zip(out.chunks_exact_mut(256)) {
                let d = f16_at(blk, 0);
                let dmin = f16_at(blk, 2);
                let scales = &blk[4..16];
                let (qh, qs) = if ty == Q5_K { (&blk[16..48], &blk[48..176]) } else { (&blk[0..0], &blk[16..144]) };
                for j in 0..4 {
                    let (sc1, m1) = scale_min_k4(2 * j, scales);
                    let (sc2, m2) = scale_min_k4(2 * j + 1, scales);
                    let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
                    let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
                    if ty == Q4_K {
                        // As below without the fifth bits, on fixed-size views so that it vectorises.
                        let q: &[u8; 32] = qs[32 * j..32 * j + 32].try_into().unwrap();
                        let (lo, hi) = o[64 * j..64 * j + 64].split_at_mut(32);
                        let (lo, hi): (&mut [f32; 32], &mut [f32; 32]) =
                            (lo.try_into().unwrap(), hi.try_into().unwrap());
                        for l in 0..32 {
                            lo[l] = d1 * (q[l] & 0xF) as f32 - m1;
                            hi[l] = d2 * (q[l] >> 4) as f32 - m2;
                        }
                        continue;
                    }
                    for l in 0..32 {
                        let q = qs[32 * j + l];
                        let (h1, h2) = if ty == Q5_K {
                            (((qh[l] >> (2 * j)) & 1) << 4, ((qh[l] >> (2 * j + 1)) & 1) << 4)
                        } else {
                            (0, 0)
                        };
                        o[64 * j + l] = d1 * ((q & 0xF) | h1) as f32 - m1;
                        o[64 * j + 32 + l] = d2 * ((q >> 4) | h2) as f32 - m2;
                    }
                }
            }
        }
        Q6_K => {
            for (blk, o) in row.chunks_exact(210).zip(out.chunks_exact_mut(256)) {
                let d = f16_at(blk, 208);
                for n in 0..2 {
                    let ql: &[u8; 64] = blk[64 * n..64 * n + 64].try_into().unwrap();
                    let qh: &[u8; 32] = blk[128 + 32 * n..128 + 32 * n + 32].try_into().unwrap();
                    let sc = &blk[192 + 8 * n..192 + 8 * n + 8];
                    // Value k of index l (as q6k_quad): its low nibble from ql[l] or ql[l + 32], its two high
                    // bits from qh[l]; sixteen values share a scale. Written as 16-wide loops on fixed-size
                    // views so that they vectorise; the arithmetic is (d · scale) · q as always.
                    for k in 0..4 {
                        let (src, nib, hs) = (32 * (k & 1), 4 * (k >> 1), 2 * k);
                        for half in 0..2 {
                            let ds = d * (sc[half + 2 * k] as i8) as f32;
                            let at = 128 * n + 32 * k + 16 * half;
                            let out: &mut [f32; 16] = (&mut o[at..at + 16]).try_into().unwrap();
                            let low: &[u8; 16] = ql[src + 16 * half..src + 16 * half + 16].try_into().unwrap();
                            let high: &[u8; 16] = qh[16 * half..16 * half + 16].try_into().unwrap();
                            for l in 0..16 {
                                let q = (((low[l] >> nib) & 0xF) | (((high[l] >> hs) & 3) << 4)) as i32 - 32;
                                out[l] = ds * q as f32;
                            }
                        }
                    }
                }
            }
        }
        Q4_1x4 | Q8_0x4 => {
            let base = super::regroup::file_type(ty);
            super::regroup::for_file_blocks(ty, row, |blocks, b| {
                let n = blocks.len() / base.block_bytes() * 32;
                dequantize_row(base, blocks, &mut out[32 * b..32 * b + n]);
            });
        }
        other => unreachable!("dequantize_row called with unsupported type {}", other.name()),
    }
}

/// The four 6-bit values of a Q6_K half-block that share index `l`, already offset by -32.
#[inline(always)]
pub(crate) fn q6k_quad(ql: &[u8], qh: &[u8], l: usize) -> [i32; 4] {
    let h = qh[l];
    [
        ((ql[l] & 0xF) | ((h & 3) << 4)) as i32 - 32,
        ((ql[l + 32] & 0xF) | (((h >> 2) & 3) << 4)) as i32 - 32,
        ((ql[l] >> 4) | (((h >> 4) & 3) << 4)) as i32 - 32,
        ((ql[l + 32] >> 4) | (((h >> 6) & 3) << 4)) as i32 - 32,
    ]
}

/// Dot product of one weight row (`row`, stored as `ty`) with the activation vector, given both as floats
/// (`x`, used by float weights) and as [`Q8Row`] (used by quantised weights).
#[inline]
pub fn vec_dot(ty: GgmlType, row: &[u8], x: &[f32], acts: &Q8Row) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if let Some(v) = super::simd128::vec_dot(ty, row, x, acts) {
        return v;
    }
    vec_dot_portable(ty, row, x, acts)
}

pub(crate) fn vec_dot_portable(ty: GgmlType, row: &[u8], x: &[f32], acts: &Q8Row) -> f32 {
    // Natively the same loops, compiled a second time for AVX2 and picked at run time, run several times
    // faster than the baseline x86-64 build (which has no byte multiply-add) without tying the binary to
    // one CPU.
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
    {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked just above).
        unsafe {
            if !ty.is_float() {
                if let Some(v) = super::avx2::vec_dot(ty, row, acts) {
                    return v;
                }
            }
            return vec_dot_avx2(ty, row, x, acts);
        }
    }
    vec_dot_generic(ty, row, x, acts)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn vec_dot_avx2(ty: GgmlType, row: &[u8], x: &[f32], acts: &Q8Row) -> f32 {
    vec_dot_generic(ty, row, x, acts)
}

/// The portable kernels themselves, before any SIMD dispatch: the specification the SIMD kernels match.
#[inline(always)]
pub(crate) fn vec_dot_generic(ty: GgmlType, row: &[u8], x: &[f32], acts: &Q8Row) -> f32 {
    use GgmlType::*;
    match ty {
        F32 => {
            // SAFETY: any bit pattern is a valid f32; `align_to` only hands out the aligned middle.
            let (pre, mid, post) = unsafe { row.align_to::<f32>() };
            if pre.is_empty() && post.is_empty() {
                dot_f32(mid, x)
            } else {
                row.chunks_exact(4).zip(x).map(|(c, &v)| f32::from_le_bytes(c.try_into().unwrap()) * v).sum()
            }
        }
        F16 | BF16 => {
            let mut buf = [0f32; 64];
            let mut sum = 0.0;
            for (rc, xc) in row.chunks(128).zip(x.chunks(64)) {
                let n = xc.len();
                dequantize_row(ty, rc, &mut buf[..n]);
                sum += dot_f32(&buf[..n], xc);
            }
            sum
        }
        Q4_0 => dot_q4_0(row, acts),
        Q4_1 => dot_q4_1(row, acts),
        Q5_0 | Q5_1 => dot_q5(ty, row, acts),
        Q8_0 => dot_q8_0(row, acts),
        Q4_K | Q5_K => dot_q45_k(ty, row, acts),
        Q6_K => dot_q6_k(row, acts),
        // Only tests and builds without SIMD128 come here: back to the file layout, then its kernel.
        Q4_1x4 | Q8_0x4 => {
            vec_dot_generic(super::regroup::file_type(ty), &super::regroup::ungroup_row(ty, row), x, acts)
        }
        other => unreachable!("vec_dot called with unsupported type {}", other.name()),
    }
}

/// f32 dot product with several accumulators (so it vectorises and keeps precision on long rows).
#[inline(always)]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

#[inline(always)]
fn dot_q4_0(row: &[u8], a: &Q8Row) -> f32 {
    let mut sum = 0.0;
    for (b, blk) in row.chunks_exact(18).enumerate() {
        let s = nibble_dot(arr(blk, 2), arr(a.qs, 32 * b), 8);
        sum += f16_at(blk, 0) * a.d[b] * s as f32;
    }
    sum
}

/// Fixed-size views so the inner loops have no bounds checks and vectorise.
#[inline(always)]
fn arr<const N: usize, T>(s: &[T], at: usize) -> &[T; N] {
    s[at..at + N].try_into().unwrap()
}

/// Sum over 16 bytes of `lo nibble * y[j] + hi nibble * y[j + 16]`, with `bias` subtracted from each nibble.
#[inline(always)]
fn nibble_dot(qs: &[u8; 16], y: &[i8; 32], bias: i32) -> i32 {
    let mut s = 0i32;
    for j in 0..16 {
        s += ((qs[j] & 0xF) as i32 - bias) * y[j] as i32;
    }
    for j in 0..16 {
        s += ((qs[j] >> 4) as i32 - bias) * y[j + 16] as i32;
    }
    s
}

#[inline(always)]
fn dot_q4_1(row: &[u8], a: &Q8Row) -> f32 {
    let mut sum = 0.0;
    for (b, blk) in row.chunks_exact(20).enumerate() {
        let s = nibble_dot(arr(blk, 4), arr(a.qs, 32 * b), 0);
        sum += f16_at(blk, 0) * a.d[b] * s as f32 + f16_at(blk, 2) * a.s[b];
    }
    sum
}

#[inline(always)]
fn dot_q5(ty: GgmlType, row: &[u8], a: &Q8Row) -> f32 {
    let bb = ty.block_bytes();
    let hoff = if ty == GgmlType::Q5_1 { 4 } else { 2 };
    let mut sum = 0.0;
    for (b, blk) in row.chunks_exact(bb).enumerate() {
        let y = &a.qs[32 * b..32 * b + 32];
        let qh = u32::from_le_bytes(blk[hoff..hoff + 4].try_into().unwrap());
        let qs = &blk[hoff + 4..hoff + 20];
        let mut s = 0i32;
        for j in 0..16 {
            let x0 = ((qs[j] & 0xF) as u32 | (((qh >> j) << 4) & 0x10)) as i32;
            let x1 = ((qs[j] >> 4) as u32 | ((qh >> (j + 12)) & 0x10)) as i32;
            s += x0 * y[j] as i32 + x1 * y[j + 16] as i32;
        }
        let d = f16_at(blk, 0) * a.d[b];
        if ty == GgmlType::Q5_0 {
            // x - 16 for every element: subtract 16 * sum(y) once per block.
            sum += d * s as f32 - 16.0 * f16_at(blk, 0) * a.s[b];
        } else {
            sum += d * s as f32 + f16_at(blk, 2) * a.s[b];
        }
    }
    sum
}

#[inline(always)]
fn dot_q8_0(row: &[u8], a: &Q8Row) -> f32 {
    let mut sum = 0.0;
    for (b, blk) in row.chunks_exact(34).enumerate() {
        let (w, y): (&[u8; 32], &[i8; 32]) = (arr(blk, 2), arr(a.qs, 32 * b));
        let mut s = 0i32;
        for j in 0..32 {
            s += w[j] as i8 as i32 * y[j] as i32;
        }
        sum += f16_at(blk, 0) * a.d[b] * s as f32;
    }
    sum
}

#[inline(always)]
fn dot_q45_k(ty: GgmlType, row: &[u8], a: &Q8Row) -> f32 {
    let bb = ty.block_bytes();
    let mut sum = 0.0;
    for (bi, blk) in row.chunks_exact(bb).enumerate() {
        let d = f16_at(blk, 0);
        let dmin = f16_at(blk, 2);
        let scales = &blk[4..16];
        let (qh, qs) = if ty == GgmlType::Q5_K { (&blk[16..48], &blk[48..176]) } else { (&blk[0..0], &blk[16..144]) };
        for j in 0..4 {
            let ab = bi * 8 + 2 * j; // activation block of the low nibbles; +1 for the high ones
            let y0 = &a.qs[32 * ab..32 * ab + 32];
            let y1 = &a.qs[32 * ab + 32..32 * ab + 64];
            let q = &qs[32 * j..32 * j + 32];
            let (mut s0, mut s1) = (0i32, 0i32);
            if ty == GgmlType::Q5_K {
                for l in 0..32 {
                    let h0 = ((qh[l] >> (2 * j)) & 1) << 4;
                    let h1 = ((qh[l] >> (2 * j + 1)) & 1) << 4;
                    s0 += ((q[l] & 0xF) | h0) as i32 * y0[l] as i32;
                    s1 += ((q[l] >> 4) | h1) as i32 * y1[l] as i32;
                }
            } else {
                for l in 0..32 {
                    s0 += (q[l] & 0xF) as i32 * y0[l] as i32;
                    s1 += (q[l] >> 4) as i32 * y1[l] as i32;
                }
            }
            let (sc0, m0) = scale_min_k4(2 * j, scales);
            let (sc1, m1) = scale_min_k4(2 * j + 1, scales);
            sum += d * (sc0 as f32 * a.d[ab] * s0 as f32 + sc1 as f32 * a.d[ab + 1] * s1 as f32)
                - dmin * (m0 as f32 * a.s[ab] + m1 as f32 * a.s[ab + 1]);
        }
    }
    sum
}

#[inline(always)]
fn dot_q6_k(row: &[u8], a: &Q8Row) -> f32 {
    let mut sum = 0.0;
    for (bi, blk) in row.chunks_exact(210).enumerate() {
        let d = f16_at(blk, 208);
        for n in 0..2 {
            let ql = &blk[64 * n..64 * n + 64];
            let qh = &blk[128 + 32 * n..128 + 32 * n + 32];
            let sc = &blk[192 + 8 * n..192 + 8 * n + 8];
            // Four activation blocks (k = 0..3) each split into two 16-element scale groups.
            let mut s = [[0i32; 2]; 4];
            for l in 0..32 {
                let q = q6k_quad(ql, qh, l);
                for k in 0..4 {
                    let ab = bi * 8 + 4 * n + k;
                    s[k][l / 16] += q[k] * a.qs[32 * ab + l] as i32;
                }
            }
            for (k, sk) in s.iter().enumerate() {
                let ab = bi * 8 + 4 * n + k;
                let isum = (sc[2 * k] as i8) as i32 * sk[0] + (sc[2 * k + 1] as i8) as i32 * sk[1];
                sum += d * a.d[ab] * isum as f32;
            }
        }
    }
    sum
}
