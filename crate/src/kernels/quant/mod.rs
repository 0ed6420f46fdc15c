//! ggml tensor types: block layouts, dequantisation, and the dot products the matmuls are built on.
//!
//! Activations are quantised once per matmul to 8-bit blocks of 32 ([`Q8Acts`]); each weight row is then
//! dotted against them with integer arithmetic, reading the weight blocks straight from the model file's
//! bytes. One activation format serves every weight type (the K-quants' 32-element sub-blocks line up with
//! it), which keeps the kernels few and is slightly more precise than ggml's 256-element Q8_K.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod kernels;
pub mod regroup;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
pub mod unpack;

pub use kernels::{dequantize_row, dot_f32, vec_dot};

use half::f16;

#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    F64,
    I8,
    I16,
    I32,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ4_NL,
    IQ4_XS,
    /// Q4_1 and Q8_0 rows regrouped in memory for the wasm kernels ([`regroup`]); never in a file.
    Q4_1x4,
    Q8_0x4,
}

impl GgmlType {
    pub fn from_id(id: u32) -> Option<GgmlType> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2_K,
            11 => Q3_K,
            12 => Q4_K,
            13 => Q5_K,
            14 => Q6_K,
            15 => Q8_K,
            20 => IQ4_NL,
            23 => IQ4_XS,
            24 => I8,
            25 => I16,
            26 => I32,
            28 => F64,
            30 => BF16,
            _ => return None,
        })
    }

    pub fn id(self) -> u32 {
        use GgmlType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2_K => 10,
            Q3_K => 11,
            Q4_K => 12,
            Q5_K => 13,
            Q6_K => 14,
            Q8_K => 15,
            IQ4_NL => 20,
            IQ4_XS => 23,
            I8 => 24,
            I16 => 25,
            I32 => 26,
            F64 => 28,
            BF16 => 30,
            Q4_1x4 | Q8_0x4 => unreachable!("{} is an in-memory layout, never written to a file", self.name()),
        }
    }

    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            BF16 => "BF16",
            F64 => "F64",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2_K => "Q2_K",
            Q3_K => "Q3_K",
            Q4_K => "Q4_K",
            Q5_K => "Q5_K",
            Q6_K => "Q6_K",
            Q8_K => "Q8_K",
            IQ4_NL => "IQ4_NL",
            IQ4_XS => "IQ4_XS",
            Q4_1x4 => "Q4_1x4",
            Q8_0x4 => "Q8_0x4",
        }
    }

    /// Elements per block.
    pub fn block_size(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | F16 | BF16 | F64 | I8 | I16 | I32 => 1,
            Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q8_1 | IQ4_NL | Q4_1x4 | Q8_0x4 => 32,
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | Q8_K | IQ4_XS => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | I32 => 4,
            F16 | BF16 | I16 => 2,
            F64 => 8,
            I8 => 1,
            Q4_0 | IQ4_NL => 18,
            Q4_1 | Q4_1x4 => 20,
            Q5_0 => 22,
            Q5_1 => 24,
            Q8_0 | Q8_0x4 => 34,
            Q8_1 => 36,
            Q2_K => 84,
            Q3_K => 110,
            Q4_K => 144,
            Q5_K => 176,
            Q6_K => 210,
            Q8_K => 292,
            IQ4_XS => 136,
        }
    }

    /// Types this runtime can multiply with and look rows up from.
    pub fn is_supported(self) -> bool {
        use GgmlType::*;
        matches!(self, F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4_K | Q5_K | Q6_K | Q4_1x4 | Q8_0x4)
    }

    /// Float weights are dotted with f32 activations; quantised ones with [`Q8Acts`].
    pub fn is_float(self) -> bool {
        matches!(self, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
    }

    pub fn row_bytes(self, n: usize) -> usize {
        n / self.block_size() * self.block_bytes()
    }
}

#[inline(always)]
pub(crate) fn f16_at(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[i], b[i + 1]]))
}

/// f16 → f32, exact for every finite value (normals and subnormals; scales are never inf or NaN): the
/// f16 bits moved into f32 position, then the exponent bias fixed by one multiply by 2^112. Branch-free and
/// a few instructions, where wasm has no conversion instruction and `half`'s software path branches.
#[inline(always)]
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    f32::from_bits(((h & 0x8000) << 16) | ((h & 0x7fff) << 13)) * f32::from_bits(0x7780_0000)
}

/// Activations quantised to 8 bits in blocks of 32: `d[b] * qs[32b + i]` approximates `x[32b + i]`, and
/// `s[b] = d[b] * sum(qs[32b..32b+32])` serves the weight types that carry a per-block offset.
#[derive(Default, Debug, Clone)]
pub struct Q8Acts {
    pub d: Vec<f32>,
    pub s: Vec<f32>,
    pub qs: Vec<i8>,
    /// With relaxed SIMD only (empty elsewhere): `max(q, 0)` and `max(-q, 0)` of every quant, the 7-bit
    /// operands that relaxed SIMD's 8-bit dot product needs, which 8-bit signed weights (Q8_0) cannot be.
    pub pos: Vec<u8>,
    pub neg: Vec<u8>,
}

/// Whether [`Q8Acts`] carries the activations' positive and negative parts.
pub const SPLIT_SIGNS: bool = cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd"));

impl Q8Acts {
    /// Quantises `x` (length a multiple of 32) into `self`, reusing its buffers.
    pub fn quantize_from(&mut self, x: &[f32]) {
        debug_assert_eq!(x.len() % 32, 0);
        let nb = x.len() / 32;
        self.d.resize(nb, 0.0);
        self.s.resize(nb, 0.0);
        self.qs.resize(x.len(), 0);
        for b in 0..nb {
            let xb = &x[b * 32..b * 32 + 32];
            let amax = xb.iter().fold(0f32, |m, v| crate::kernels::fastmath::max(m, v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let q = &mut self.qs[b * 32..b * 32 + 32];
            let mut sum = 0i32;
            for (qi, &v) in q.iter_mut().zip(xb) {
                let r = crate::kernels::fastmath::round(v * id) as i32;
                *qi = r.clamp(-127, 127) as i8;
                sum += *qi as i32;
            }
            // ggml stores these two as f16 (block_q8_0 / block_q8_1); rounding them the same way keeps our
            // logits, and so greedy output, closest to llama.cpp's.
            self.d[b] = f16::from_f32(d).to_f32();
            self.s[b] = f16::from_f32(d * sum as f32).to_f32();
        }
        if SPLIT_SIGNS {
            self.pos.clear();
            self.neg.clear();
            self.pos.extend(self.qs.iter().map(|&q| q.max(0) as u8));
            self.neg.extend(self.qs.iter().map(|&q| (-(q as i16)).max(0) as u8));
        }
    }

    /// The `blocks` blocks of token row `t` (empty when nothing was quantised, as for float weights).
    pub fn row(&self, t: usize, blocks: usize) -> Q8Row<'_> {
        let (b0, b1) = (t * blocks, (t + 1) * blocks);
        Q8Row {
            d: self.d.get(b0..b1).unwrap_or(&[]),
            s: self.s.get(b0..b1).unwrap_or(&[]),
            qs: self.qs.get(b0 * 32..b1 * 32).unwrap_or(&[]),
            pos: self.pos.get(b0 * 32..b1 * 32).unwrap_or(&[]),
            neg: self.neg.get(b0 * 32..b1 * 32).unwrap_or(&[]),
        }
    }

    pub fn len(&self) -> usize {
        self.qs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.qs.is_empty()
    }
}

/// Quantises a row of weights to Q8_0 (ggml's reference rounding), appending the blocks to `out`.
pub fn quantize_row_q8_0(x: &[f32], out: &mut Vec<u8>) {
    debug_assert_eq!(x.len() % 32, 0);
    for xb in x.chunks_exact(32) {
        let amax = xb.iter().fold(0f32, |m, v| crate::kernels::fastmath::max(m, v.abs()));
        let d = amax / 127.0;
        let id = if d > 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_bits().to_le_bytes());
        out.extend(xb.iter().map(|v| ((v * id).round() as i32).clamp(-127, 127) as i8 as u8));
    }
}

/// One token's quantised activations, borrowed from [`Q8Acts`].
#[derive(Debug, Clone, Copy)]
pub struct Q8Row<'a> {
    pub d: &'a [f32],
    pub s: &'a [f32],
    pub qs: &'a [i8],
    pub pos: &'a [u8],
    pub neg: &'a [u8],
}

#[cfg(test)]
mod tests;
#[doc(hidden)]
pub mod tests_support;
