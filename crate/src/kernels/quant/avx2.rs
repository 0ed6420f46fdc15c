//! AVX2 dot products for the native build (CLI, tests, perplexity): LLVM leaves the portable block loops
//! scalar, which made a 135M model decode at 10 tok/s. Same arithmetic as the portable kernels (exact
//! integer sums per block), checked against them by the tests.

use core::arch::x86_64::*;

use super::kernels::scale_min_k4;
use super::{f16_at, GgmlType, Q8Row};

/// `None` for types without an AVX2 kernel (the caller falls back to the portable one).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot(ty: GgmlType, row: &[u8], acts: &Q8Row) -> Option<f32> {
    Some(match ty {
        GgmlType::Q4_0 => dot_q4(row, acts, 18, 2, true),
        GgmlType::Q4_1 => dot_q4(row, acts, 20, 4, false),
        GgmlType::Q5_0 => dot_q5_0(row, acts),
        GgmlType::Q8_0 => dot_q8_0(row, acts),
        GgmlType::Q4_K => dot_q4_k(row, acts),
        GgmlType::Q6_K => dot_q6_k(row, acts),
        _ => return None,
    })
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Sum of u8 × i8 products (u8 < 128 so pairs fit i16), as eight i32 partial sums.
#[inline(always)]
unsafe fn dot_u8_i8(w: __m256i, y: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(w, y), _mm256_set1_epi16(1))
}

/// 32 nibbles: the low ones of 16 bytes for elements 0..16, the high ones for 16..32.
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> __m256i {
    let q = _mm_loadu_si128(p as *const __m128i);
    let m = _mm_set1_epi8(0x0F);
    _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m))
}

#[inline(always)]
unsafe fn load_y(a: &Q8Row, block: usize) -> __m256i {
    _mm256_loadu_si256(a.qs.as_ptr().add(32 * block) as *const __m256i)
}

/// Q4_0 / Q4_1 / Q5_0 (blocks of `bb` bytes; `quants` gives a block's 32 unsigned quants), four blocks at a
/// time: their scales converted together (F16C) and multiplied by the activations' in one vector op, the
/// per-block offset term (Q4_1's min, or Q4_0's −8 and Q5_0's −16 as `offset`) on `sum(y)` likewise, and
/// two accumulators so consecutive blocks do not wait on each other's add.
#[inline(always)]
unsafe fn dot_blocks(
    row: &[u8],
    a: &Q8Row,
    bb: usize,
    min_at: Option<usize>,
    offset: f32,
    quants: impl Fn(*const u8) -> __m256i,
) -> f32 {
    let nb = row.len() / bb;
    let p = row.as_ptr();
    let (ad, asum) = (a.d.as_ptr(), a.s.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut macc = _mm_setzero_ps();
    let mut b = 0;
    while b + 4 <= nb {
        let g = p.add(b * bb);
        let d = f16x4(g, bb);
        let mut dd = [0f32; 4];
        _mm_storeu_ps(dd.as_mut_ptr(), _mm_mul_ps(d, _mm_loadu_ps(ad.add(b))));
        for (j, &djj) in dd.iter().enumerate() {
            let s = dot_u8_i8(quants(g.add(j * bb)), load_y(a, b + j));
            acc[j & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(djj), acc[j & 1]);
        }
        let m = match min_at {
            Some(o) => f16x4(g.add(o), bb),
            None => _mm_mul_ps(_mm_set1_ps(offset), d),
        };
        macc = _mm_fmadd_ps(m, _mm_loadu_ps(asum.add(b)), macc);
        b += 4;
    }
    let mut extra = hsum128(macc);
    while b < nb {
        let s = dot_u8_i8(quants(p.add(b * bb)), load_y(a, b));
        let d = f16_at(row, b * bb);
        acc[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * a.d[b]), acc[0]);
        extra += match min_at {
            Some(o) => f16_at(row, b * bb + o) * a.s[b],
            None => offset * d * a.s[b],
        };
        b += 1;
    }
    hsum(_mm256_add_ps(acc[0], acc[1])) + extra
}

/// The f16 values at `p`, `p + stride`, `p + 2·stride`, `p + 3·stride`, as f32 (F16C, exact).
#[inline(always)]
unsafe fn f16x4(p: *const u8, stride: usize) -> __m128 {
    let h = |i: usize| (p.add(i * stride) as *const i16).read_unaligned();
    _mm_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), 0, 0, 0, 0))
}

#[inline(always)]
unsafe fn hsum128(v: __m128) -> f32 {
    let s = _mm_add_ps(v, _mm_movehl_ps(v, v));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

#[inline(always)]
unsafe fn dot_q4(row: &[u8], a: &Q8Row, bb: usize, qoff: usize, offset8: bool) -> f32 {
    let min_at = if offset8 { None } else { Some(2) };
    dot_blocks(row, a, bb, min_at, -8.0, |blk| nibbles(blk.add(qoff)))
}

/// 0x10 in byte j where bit j of the 32-bit `x` is set (ggml's `bytes_from_bits_32`, masked).
#[inline(always)]
unsafe fn high_bits(x: u32) -> __m256i {
    let shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x as i32), shuf);
    let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    _mm256_and_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10))
}

#[inline(always)]
unsafe fn dot_q5_0(row: &[u8], a: &Q8Row) -> f32 {
    dot_blocks(row, a, 22, None, -16.0, |blk| {
        let qh = (blk.add(2) as *const u32).read_unaligned();
        _mm256_or_si256(nibbles(blk.add(6)), high_bits(qh))
    })
}

/// Sum of i8 × i8 products as eight i32 partial sums.
#[inline(always)]
unsafe fn dot_i8_i8(w: __m256i, y: __m256i) -> __m256i {
    dot_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w))
}

#[inline(always)]
unsafe fn dot_q8_0(row: &[u8], a: &Q8Row) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for b in 0..row.len() / 34 {
        let w = _mm256_loadu_si256(row.as_ptr().add(b * 34 + 2) as *const __m256i);
        let p = dot_i8_i8(w, load_y(a, b));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16_at(row, b * 34) * a.d[b]), acc);
    }
    hsum(acc)
}

#[inline(always)]
unsafe fn dot_q4_k(row: &[u8], a: &Q8Row) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut extra = 0f32;
    for bi in 0..row.len() / 144 {
        let blk = &row[bi * 144..bi * 144 + 144];
        let d = f16_at(blk, 0);
        let dmin = f16_at(blk, 2);
        let scales = &blk[4..16];
        for j in 0..4 {
            let ab = bi * 8 + 2 * j;
            let q = _mm256_loadu_si256(blk.as_ptr().add(16 + 32 * j) as *const __m256i);
            let lo = _mm256_and_si256(q, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            let (sc0, m0) = scale_min_k4(2 * j, scales);
            let (sc1, m1) = scale_min_k4(2 * j + 1, scales);
            let p0 = dot_u8_i8(lo, load_y(a, ab));
            let p1 = dot_u8_i8(hi, load_y(a, ab + 1));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(d * sc0 as f32 * a.d[ab]), acc);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(d * sc1 as f32 * a.d[ab + 1]), acc);
            extra -= dmin * (m0 as f32 * a.s[ab] + m1 as f32 * a.s[ab + 1]);
        }
    }
    hsum(acc) + extra
}

#[inline(always)]
unsafe fn dot_q6_k(row: &[u8], a: &Q8Row) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let m3 = _mm256_set1_epi8(3);
    let m32 = _mm256_set1_epi8(32);
    let mut acc = _mm256_setzero_ps();
    for bi in 0..row.len() / 210 {
        let blk = &row[bi * 210..bi * 210 + 210];
        let d = f16_at(blk, 208);
        for n in 0..2 {
            let p = blk.as_ptr();
            let ql0 = _mm256_loadu_si256(p.add(64 * n) as *const __m256i);
            let ql1 = _mm256_loadu_si256(p.add(64 * n + 32) as *const __m256i);
            let qh = _mm256_loadu_si256(p.add(128 + 32 * n) as *const __m256i);
            let hb = |s: i32| match s {
                0 => _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4),
                2 => _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4),
                4 => _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4),
                _ => _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4),
            };
            let q = [
                _mm256_or_si256(_mm256_and_si256(ql0, m4), hb(0)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), hb(2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), hb(4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), hb(6)),
            ];
            let sc = &blk[192 + 8 * n..200 + 8 * n];
            for (k, &qk) in q.iter().enumerate() {
                let ab = bi * 8 + 4 * n + k;
                let w = _mm256_sub_epi8(qk, m32); // signed 6-bit values
                let y = load_y(a, ab);
                let p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
                // Elements 0..16 (low lane) take scale 2k, 16..32 (high lane) scale 2k + 1.
                let s0 = sc[2 * k] as i8 as i16;
                let s1 = sc[2 * k + 1] as i8 as i16;
                let scl = _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0));
                let p32 = _mm256_madd_epi16(p16, scl);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(d * a.d[ab]), acc);
            }
        }
    }
    hsum(acc)
}
