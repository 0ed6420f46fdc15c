//! WASM SIMD128 dot products for the weight types our models spend their time in. Each returns exactly what
//! the portable kernel returns (integer sums are exact; only the f32 accumulation order differs), which the
//! wasm tests check.

use core::arch::wasm32::*;

use super::{f16_at, GgmlType, Q8Row};

pub(super) fn vec_dot(ty: GgmlType, row: &[u8], x: &[f32], acts: &Q8Row) -> Option<f32> {
    // SAFETY: every load below reads 16 bytes inside a block whose length the caller's row length fixes:
    // rows are whole blocks (checked when the GGUF is parsed) and `acts` holds one i8 per element and one
    // `d` and `s` per 32 (the K-quant kernels load those four at a time, within the same 256 elements).
    unsafe {
        Some(match ty {
            GgmlType::F32 => dot_f32(row, x),
            GgmlType::Q4_0 => dot_q4::<false>(row, acts, 18, 2, true),
            GgmlType::Q4_1 => dot_q4::<false>(row, acts, 20, 4, false),
            GgmlType::Q5_0 => dot_q5::<false>(row, acts),
            GgmlType::Q5_1 => dot_q5::<true>(row, acts),
            GgmlType::Q8_0 => dot_q8_0::<false>(row, acts),
            GgmlType::Q4_1x4 => dot_q4::<true>(row, acts, 20, 4, false),
            GgmlType::Q8_0x4 => dot_q8_0::<true>(row, acts),
            GgmlType::Q4_K => dot_q4_k(row, acts),
            GgmlType::Q6_K => dot_q6_k(row, acts),
            _ => return None,
        })
    }
}

#[inline(always)]
unsafe fn load(p: *const u8) -> v128 {
    core::ptr::read_unaligned(p as *const v128)
}

#[inline(always)]
fn hsum_f32(v: v128) -> f32 {
    f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v) + f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v)
}

/// Sum of products of 32 small unsigned weights (`w0` for y[0..16], `w1` for y[16..32], each < 32) with 32
/// i8 activations, as an i32x4 of partial sums. Four products of |w| < 32 and |y| ≤ 128 fit in i16.
#[inline(always)]
unsafe fn dot_u5_i8(w0: v128, w1: v128, y: *const i8) -> v128 {
    let y0 = load(y as *const u8);
    let y1 = load(y.add(16) as *const u8);
    // Relaxed SIMD (the `pkg-relaxed` build): weights below 128 are valid 7-bit operands, for which the
    // relaxed dot product is exact and deterministic. The i16 form (one pmaddubsw on x86) leaves the
    // widening to i32 to a single add: fewer instructions than two i32 dot-and-adds on CPUs without VNNI.
    #[cfg(target_feature = "relaxed-simd")]
    return i32x4_extadd_pairwise_i16x8(i16x8_add(
        i16x8_relaxed_dot_i8x16_i7x16(y0, w0),
        i16x8_relaxed_dot_i8x16_i7x16(y1, w1),
    ));
    #[cfg(not(target_feature = "relaxed-simd"))]
    let p = i16x8_add(
        i16x8_add(i16x8_extmul_low_i8x16(w0, y0), i16x8_extmul_high_i8x16(w0, y0)),
        i16x8_add(i16x8_extmul_low_i8x16(w1, y1), i16x8_extmul_high_i8x16(w1, y1)),
    );
    #[cfg(not(target_feature = "relaxed-simd"))]
    i32x4_extadd_pairwise_i16x8(p)
}

/// Q4_0 / Q4_1 (blocks of `bb` bytes, quants at `qoff`; Q4_0's `offset8`), in the file's layout or (Q4_1,
/// `REGROUPED`) regrouped ([`super::regroup`]): the same arithmetic in the same order either way, so the two
/// layouts give the same result to the bit; only where scales, mins and quants are read from differs.
unsafe fn dot_q4<const REGROUPED: bool>(row: &[u8], a: &Q8Row, bb: usize, qoff: usize, offset8: bool) -> f32 {
    let m4 = u8x16_splat(0x0F);
    let p = row.as_ptr();
    let sums = |q: *const u8, b: usize| {
        let v = load(q);
        dot_u5_i8(v128_and(v, m4), u8x16_shr(v, 4), a.qs.as_ptr().add(32 * b))
    };
    let group = |b: usize| {
        let g = p.add(b * bb);
        let mut s = [i32x4_splat(0); 4];
        for (j, s) in s.iter_mut().enumerate() {
            *s = sums(if REGROUPED { g.add(16 + 16 * j) } else { g.add(j * bb + qoff) }, b + j);
        }
        // Regrouped, one load holds the group's four scales and then its four mins.
        let h = if REGROUPED { load(g) } else { i32x4_splat(0) };
        let d = if REGROUPED { f16x4_from_bits(u32x4_extend_low_u16x8(h)) } else { f16x4_at(g, bb) };
        // Q4_0 stores q + 8 and Q4_1 carries a min: both fold into a per-block term on sum(y).
        let m = if offset8 {
            f32x4_mul(f32x4_splat(-8.0), d)
        } else if REGROUPED {
            f16x4_from_bits(u32x4_extend_high_u16x8(h))
        } else {
            f16x4_at(g.add(2), bb)
        };
        (s, d, m)
    };
    // The blocks after the last whole group keep the file's layout in both.
    let block = |b: usize| {
        let d = f16_at(row, b * bb);
        (sums(p.add(b * bb + qoff), b), d, if offset8 { -8.0 * d } else { f16_at(row, b * bb + 2) })
    };
    dot_grouped(row.len() / bb, a, group, block)
}

/// A Q4 / Q5 row four blocks at a time: `group(b)` gives blocks b..b+4's exact i32 sums (a vector each),
/// their scales and their offsets (the per-block term on sum(y): a min, or the stored bias times the scale),
/// which are gathered by a transpose-add and applied four at a time, so no per-block scalar work is left;
/// `block(b)` gives the same for one block after the last whole group.
#[inline(always)]
unsafe fn dot_grouped(
    nb: usize,
    a: &Q8Row,
    group: impl Fn(usize) -> ([v128; 4], v128, v128),
    block: impl Fn(usize) -> (v128, f32, f32),
) -> f32 {
    let mut acc = f32x4_splat(0.0);
    let mut macc = f32x4_splat(0.0);
    let mut b = 0;
    while b + 4 <= nb {
        let (sums, d, m) = group(b);
        let ad = load_f32x4(a.d.as_ptr().add(b));
        acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(hsum4_i32(sums)), f32x4_mul(d, ad)));
        macc = f32x4_add(macc, f32x4_mul(m, load_f32x4(a.s.as_ptr().add(b))));
        b += 4;
    }
    let mut tail = 0f32;
    while b < nb {
        let (isum, d, m) = block(b);
        tail += hsum_i32(isum) as f32 * d * a.d[b];
        tail += m * a.s[b];
        b += 1;
    }
    hsum_f32(acc) + hsum_f32(macc) + tail
}

#[inline(always)]
fn hsum_i32(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v) + i32x4_extract_lane::<1>(v) + i32x4_extract_lane::<2>(v) + i32x4_extract_lane::<3>(v)
}

/// The f16 values at `p`, `p + stride`, `p + 2·stride`, `p + 3·stride` as an f32x4.
#[inline(always)]
unsafe fn f16x4_at(p: *const u8, stride: usize) -> v128 {
    let h = |i: usize| u16::from_le((p.add(i * stride) as *const u16).read_unaligned()) as u32;
    f16x4_from_bits(u32x4(h(0), h(1), h(2), h(3)))
}

/// Four f16 bit patterns (one per u32 lane) as an f32x4, converted like `f16_to_f32` (exact for finite
/// values) in vector registers.
#[inline(always)]
fn f16x4_from_bits(v: v128) -> v128 {
    let bits =
        v128_or(i32x4_shl(v128_and(v, u32x4_splat(0x8000)), 16), i32x4_shl(v128_and(v, u32x4_splat(0x7fff)), 13));
    f32x4_mul(bits, f32x4_splat(f32::from_bits(0x7780_0000)))
}

/// Q5_0 / Q5_1 (`MIN`), four blocks at a time like [`dot_q4`], each block's exact i32 sums from
/// [`dot_q5_block`].
unsafe fn dot_q5<const MIN: bool>(row: &[u8], a: &Q8Row) -> f32 {
    let (bb, hoff) = if MIN { (24, 4) } else { (22, 2) };
    let p = row.as_ptr();
    let group = |b: usize| {
        let g = p.add(b * bb);
        let mut s = [i32x4_splat(0); 4];
        for (j, s) in s.iter_mut().enumerate() {
            *s = dot_q5_block(g.add(j * bb), hoff, a.qs.as_ptr().add(32 * (b + j)));
        }
        let d = f16x4_at(g, bb);
        // Q5_0 stores q + 16 and Q5_1 carries a min: both fold into a per-block term on sum(y).
        (s, d, if MIN { f16x4_at(g.add(2), bb) } else { f32x4_mul(f32x4_splat(-16.0), d) })
    };
    let block = |b: usize| {
        let d = f16_at(row, b * bb);
        let m = if MIN { f16_at(row, b * bb + 2) } else { -16.0 * d };
        (dot_q5_block(p.add(b * bb), hoff, a.qs.as_ptr().add(32 * b)), d, m)
    };
    dot_grouped(row.len() / bb, a, group, block)
}

/// The 5-bit quants of the Q5 block at `blk` (fifth bits at `hoff`, nibbles after them) dotted with the 32
/// activations at `y`, as an i32x4 of partial sums.
#[inline(always)]
unsafe fn dot_q5_block(blk: *const u8, hoff: usize, y: *const i8) -> v128 {
    let m4 = u8x16_splat(0x0F);
    let bit = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    let h16 = u8x16_splat(0x10);
    let qh = v128_load32_splat(blk.add(hoff) as *const u32);
    // Spread bit j of qh onto byte j (byte k of the u32 covers elements 8k..8k+8), as 0x10 where set.
    // (Constant shuffles: one byte shuffle each, where a swizzle also clamps its indices.)
    let sel0 = i8x16_shuffle::<0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1>(qh, qh);
    let sel1 = i8x16_shuffle::<2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3>(qh, qh);
    let h0 = v128_and(i8x16_eq(v128_and(sel0, bit), bit), h16);
    let h1 = v128_and(i8x16_eq(v128_and(sel1, bit), bit), h16);
    let v = load(blk.add(hoff + 4));
    dot_u5_i8(v128_or(v128_and(v, m4), h0), v128_or(u8x16_shr(v, 4), h1), y)
}

/// Q8_0 in the file's layout (`REGROUPED` false) or regrouped ([`super::regroup`]): the same arithmetic in
/// the same order, so the two give the same result to the bit; only where a block's scale and quants are
/// read from differs.
unsafe fn dot_q8_0<const REGROUPED: bool>(row: &[u8], a: &Q8Row) -> f32 {
    let nb = row.len() / 34;
    let p = row.as_ptr();
    let mut acc = f32x4_splat(0.0);
    let mut b = 0;
    // Four blocks at a time, like dot_q4: exact i32 sums gathered by a transpose-add, scales applied as f32x4.
    while b + 4 <= nb {
        let g = p.add(b * 34);
        let mut sums = [i32x4_splat(0); 4];
        for (j, s) in sums.iter_mut().enumerate() {
            let quants = if REGROUPED { g.add(8 + 32 * j) } else { g.add(34 * j + 2) };
            *s = dot_i8_32(quants, a, b + j);
        }
        let scales = if REGROUPED {
            f16x4_from_bits(u32x4_extend_low_u16x8(v128_load64_zero(g as *const u64)))
        } else {
            f16x4_at(g, 34)
        };
        let d = f32x4_mul(scales, load_f32x4(a.d.as_ptr().add(b)));
        acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(hsum4_i32(sums)), d));
        b += 4;
    }
    // The blocks after the last whole group keep the file's layout in both.
    let mut tail = 0f32;
    while b < nb {
        let s = dot_i8_32(p.add(b * 34 + 2), a, b);
        tail += hsum_i32(s) as f32 * f16_at(row, b * 34) * a.d[b];
        b += 1;
    }
    hsum_f32(acc) + tail
}

/// Sum of the 32 products of the i8 weights at `w` with activation block `b`, as an i32x4 of partial sums.
/// With relaxed SIMD: the 8-bit dot product against the activations' positive and negative parts (7-bit
/// operands, [`super::Q8Acts::pos`]), `w·y⁺ − w·y⁻`. Neither dot saturates (|pair| ≤ 2·128·127 < 2¹⁵), and
/// every element is in one part only, so each lane's difference is that pair's exact sum w₀y₀ + w₁y₁, which
/// fits i16 although the subtraction may wrap on the way.
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
unsafe fn dot_i8_32(w: *const u8, a: &Q8Row, b: usize) -> v128 {
    let (p, n) = (a.pos.as_ptr().add(32 * b), a.neg.as_ptr().add(32 * b));
    let half = |i: usize| {
        let wi = load(w.add(i));
        i16x8_sub(i16x8_relaxed_dot_i8x16_i7x16(wi, load(p.add(i))), i16x8_relaxed_dot_i8x16_i7x16(wi, load(n.add(i))))
    };
    i32x4_add(i32x4_extadd_pairwise_i16x8(half(0)), i32x4_extadd_pairwise_i16x8(half(16)))
}

/// Without relaxed SIMD: |w·y| ≤ 128·127 needs i32 for pairs: sign-extend to i16 and use the pairwise i16
/// dot product.
#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
unsafe fn dot_i8_32(w: *const u8, a: &Q8Row, b: usize) -> v128 {
    let y = a.qs.as_ptr().add(32 * b) as *const u8;
    let (w0, w1) = (load(w), load(w.add(16)));
    let (y0, y1) = (load(y), load(y.add(16)));
    i32x4_add(
        i32x4_add(
            i32x4_dot_i16x8(i16x8_extend_low_i8x16(w0), i16x8_extend_low_i8x16(y0)),
            i32x4_dot_i16x8(i16x8_extend_high_i8x16(w0), i16x8_extend_high_i8x16(y0)),
        ),
        i32x4_add(
            i32x4_dot_i16x8(i16x8_extend_low_i8x16(w1), i16x8_extend_low_i8x16(y1)),
            i32x4_dot_i16x8(i16x8_extend_high_i8x16(w1), i16x8_extend_high_i8x16(y1)),
        ),
    )
}

/// Lane t of the result is the sum of the four lanes of `s[t]` (exact: integer adds).
#[inline(always)]
fn hsum4_i32(s: [v128; 4]) -> v128 {
    let t01 = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(s[0], s[1]), i32x4_shuffle::<2, 6, 3, 7>(s[0], s[1]));
    let t23 = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(s[2], s[3]), i32x4_shuffle::<2, 6, 3, 7>(s[2], s[3]));
    i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(t01, t23), i32x4_shuffle::<2, 3, 6, 7>(t01, t23))
}

#[inline(always)]
unsafe fn load_f32x4(p: *const f32) -> v128 {
    load(p as *const u8)
}

/// Q4_K: per 32-element sub-block t, `d·sc_t·Σ q·y − dmin·m_t·Σ y`, each sub-block lining up with one
/// activation block (the low nibbles of 32 bytes are sub-block 2j, their high nibbles 2j + 1). The eight
/// exact i32 sums of a block are gathered into two vectors and scaled four at a time.
unsafe fn dot_q4_k(row: &[u8], a: &Q8Row) -> f32 {
    let m4 = u8x16_splat(0x0F);
    let mut acc = f32x4_splat(0.0);
    let mut macc = f32x4_splat(0.0);
    for bi in 0..row.len() / 144 {
        let off = bi * 144;
        let blk = row.as_ptr().add(off);
        let y = a.qs.as_ptr().add(32 * 8 * bi);
        let mut s = [i32x4_splat(0); 8];
        for j in 0..4 {
            let q0 = load(blk.add(16 + 32 * j));
            let q1 = load(blk.add(32 + 32 * j));
            s[2 * j] = dot_u5_i8(v128_and(q0, m4), v128_and(q1, m4), y.add(64 * j));
            s[2 * j + 1] = dot_u5_i8(u8x16_shr(q0, 4), u8x16_shr(q1, 4), y.add(64 * j + 32));
        }
        // The 6-bit scales and mins of sub-blocks 0..8 (what scale_min_k4 decodes one at a time), as bytes.
        let u = |i: usize| u32::from_le_bytes(row[off + 4 + 4 * i..off + 8 + 4 * i].try_into().unwrap());
        let (u0, u1, u2) = (u(0), u(1), u(2));
        let sc = u32x4(
            u0 & 0x3f3f3f3f,
            (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4),
            u1 & 0x3f3f3f3f,
            ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4),
        );
        let (scs, mins) = (u16x8_extend_low_u8x16(sc), u16x8_extend_high_u8x16(sc));
        let f = |v: v128, high: bool| {
            f32x4_convert_i32x4(if high { u32x4_extend_high_u16x8(v) } else { u32x4_extend_low_u16x8(v) })
        };
        let ad = a.d.as_ptr().add(8 * bi);
        let asum = a.s.as_ptr().add(8 * bi);
        let d = f32x4_splat(f16_at(row, off));
        let dmin = f32x4_splat(f16_at(row, off + 2));
        let lo = f32x4_convert_i32x4(hsum4_i32([s[0], s[1], s[2], s[3]]));
        let hi = f32x4_convert_i32x4(hsum4_i32([s[4], s[5], s[6], s[7]]));
        acc = f32x4_add(acc, f32x4_mul(lo, f32x4_mul(f32x4_mul(d, f(scs, false)), load_f32x4(ad))));
        acc = f32x4_add(acc, f32x4_mul(hi, f32x4_mul(f32x4_mul(d, f(scs, true)), load_f32x4(ad.add(4)))));
        let m =
            f32x4_add(f32x4_mul(f(mins, false), load_f32x4(asum)), f32x4_mul(f(mins, true), load_f32x4(asum.add(4))));
        macc = f32x4_add(macc, f32x4_mul(dmin, m));
    }
    hsum_f32(acc) - hsum_f32(macc)
}

/// Q6_K: each half-block (128 elements) is four activation blocks k = 0..3, element l of block k built from
/// a nibble of `ql` and two bits of `qh[l]`, less 32; elements 0..16 take scale 2k and 16..32 scale 2k + 1,
/// applied in integers (`i32x4_dot_i16x8`) so each activation block contributes one exact i32 sum.
unsafe fn dot_q6_k(row: &[u8], a: &Q8Row) -> f32 {
    let m4 = u8x16_splat(0x0F);
    let m30 = u8x16_splat(0x30);
    let m32 = i8x16_splat(32);
    let mut acc = f32x4_splat(0.0);
    for bi in 0..row.len() / 210 {
        let off = bi * 210;
        let blk = row.as_ptr().add(off);
        let d = f32x4_splat(f16_at(row, off + 208));
        for n in 0..2 {
            let ql = blk.add(64 * n);
            let qh = blk.add(128 + 32 * n);
            let sc = blk.add(192 + 8 * n) as *const i8;
            let y = a.qs.as_ptr().add(32 * (bi * 8 + 4 * n)) as *const u8;
            let mut isum = [i32x4_splat(0); 4];
            for h in 0..2 {
                // Elements 16h..16h + 16 of the four blocks. The 16-bit shifts move bits across bytes, but
                // only into positions the masks clear.
                let qa = load(ql.add(16 * h));
                let qb = load(ql.add(32 + 16 * h));
                let hh = load(qh.add(16 * h));
                let w = [
                    v128_or(v128_and(qa, m4), v128_and(i16x8_shl(hh, 4), m30)),
                    v128_or(v128_and(qb, m4), v128_and(i16x8_shl(hh, 2), m30)),
                    v128_or(v128_and(u16x8_shr(qa, 4), m4), v128_and(hh, m30)),
                    v128_or(v128_and(u16x8_shr(qb, 4), m4), v128_and(u16x8_shr(hh, 2), m30)),
                ];
                for k in 0..4 {
                    let wk = i8x16_sub(w[k], m32); // -32..=31
                    let yk = load(y.add(32 * k + 16 * h));
                    // Two products of |w| ≤ 32, |y| ≤ 127 fit in i16; the scale (an i8) widens them to i32.
                    let p = i16x8_add(i16x8_extmul_low_i8x16(wk, yk), i16x8_extmul_high_i8x16(wk, yk));
                    let s = i16x8_splat(*sc.add(2 * k + h) as i16);
                    isum[k] = i32x4_add(isum[k], i32x4_dot_i16x8(p, s));
                }
            }
            let ad = load_f32x4(a.d.as_ptr().add(bi * 8 + 4 * n));
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(hsum4_i32(isum)), f32x4_mul(d, ad)));
        }
    }
    hsum_f32(acc)
}

unsafe fn dot_f32(row: &[u8], x: &[f32]) -> f32 {
    let n = x.len();
    let mut acc0 = f32x4_splat(0.0);
    let mut acc1 = f32x4_splat(0.0);
    let mut i = 0;
    while i + 8 <= n {
        let w0 = load(row.as_ptr().add(4 * i));
        let w1 = load(row.as_ptr().add(4 * i + 16));
        acc0 = f32x4_add(acc0, f32x4_mul(w0, load(x.as_ptr().add(i) as *const u8)));
        acc1 = f32x4_add(acc1, f32x4_mul(w1, load(x.as_ptr().add(i + 4) as *const u8)));
        i += 8;
    }
    let mut s = hsum_f32(f32x4_add(acc0, acc1));
    while i < n {
        s += f32::from_le_bytes(row[4 * i..4 * i + 4].try_into().unwrap()) * x[i];
        i += 1;
    }
    s
}
