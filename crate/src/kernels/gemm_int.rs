//! Integer GEMM for batches (prefill, perplexity) through quantised weights: `out[t][r] = W[r] · x[t]` from
//! the batch's 8-bit activations ([`Q8Acts`]) and the weights unpacked to small unsigned integers
//! ([`crate::kernels::quant::unpack`]). Four rows are interleaved four elements at a time, so one 16-byte
//! load of weights against four activation bytes repeated is one relaxed dot product (`pmaddubsw` on x86)
//! that advances four rows at once; sixteen multiply-adds per instruction where the f32 GEMM does four.
//! Each block's integer sums are scaled once per row and token: `d_w·d_a·Σ q·a + m_w·(d_a·Σ a)`.
//!
//! The wasm kernel needs relaxed SIMD; elsewhere the portable kernel below computes the same f32 operations
//! in the same order (tests compare them to the bit), and the f32 GEMM over dequantised tiles is used.

use crate::kernels::matmul::{OutLayout, Weight};
use crate::kernels::quant::unpack::{block_len, max_quant, unpack_row};
use crate::kernels::quant::{GgmlType, Q8Acts};

/// Rows interleaved in a group: the lanes of the kernel's accumulators.
pub const LANES: usize = 4;
/// Groups unpacked at a time: each token block passes over them while they are in cache.
const TILE_GROUPS: usize = 8;
/// Tokens per kernel call: 4 × (f32 + i32 + i16 accumulators) stay within V8's 16 vector registers.
const TOKENS: usize = 4;

/// Whether this build (and CPU) has an integer GEMM kernel: relaxed SIMD in wasm, AVX2 natively (AVX-512
/// VNNI where the CPU has it).
pub fn enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    let native = std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let native = false;
    native || cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd"))
}

/// Whether batches through `ty` run as integer GEMMs.
pub fn takes(ty: GgmlType) -> bool {
    enabled() && block_len(ty).is_some()
}

/// A batch's activations per block of `len` elements: the scale and the scaled block sum.
#[derive(Default)]
pub struct BlockActs {
    ad: Vec<f32>,
    sa: Vec<f32>,
}

impl BlockActs {
    /// For `nt` token rows of `cols` quantised in blocks of 32 in `acts`, per block of `len` (32 or 16).
    pub fn fill(&mut self, acts: &Q8Acts, nt: usize, cols: usize, len: usize) {
        let nbl = cols / len;
        self.ad.resize(nt * nbl, 0.0);
        self.sa.resize(nt * nbl, 0.0);
        for (i, q) in acts.qs[..nt * cols].chunks_exact(len).enumerate() {
            let d = acts.d[i * len / 32];
            self.ad[i] = d;
            self.sa[i] = d * q.iter().map(|&v| v as i32).sum::<i32>() as f32;
        }
    }
}

/// `LANES` rows unpacked and interleaved: quants `q[16 s + 4 i + k]` = element `4 s + k` of row `i`; per
/// block `b`, the rows' scales `d[4 b + i]` and offsets `m[4 b + i]`. Missing rows are zeros.
#[derive(Default)]
pub struct Group {
    q: Vec<u8>,
    d: Vec<f32>,
    m: Vec<f32>,
    rows: usize,
}

/// Row-sized scratch for unpacking one row before it is interleaved.
#[derive(Default)]
struct RowScratch {
    q: Vec<u8>,
    d: Vec<f32>,
    m: Vec<f32>,
}

impl Group {
    /// The quant of element `e` of row `i`.
    #[inline(always)]
    fn quant(&self, i: usize, e: usize) -> u8 {
        self.q[16 * (e / 4) + 4 * i + e % 4]
    }

    /// Empties the group for `rows` rows of `cols` in blocks of `cols / nbl`.
    fn start(&mut self, cols: usize, nbl: usize, rows: usize) {
        self.q.clear();
        self.q.resize(LANES * cols, 0);
        self.d.clear();
        self.d.resize(LANES * nbl, 0.0);
        self.m.clear();
        self.m.resize(LANES * nbl, 0.0);
        self.rows = rows;
    }

    /// Interleaves an unpacked row as row `i`.
    fn put(&mut self, i: usize, row: &RowScratch, nbl: usize) {
        for (s, four) in row.q.chunks_exact(4).enumerate() {
            self.q[16 * s + 4 * i..16 * s + 4 * i + 4].copy_from_slice(four);
        }
        for b in 0..nbl {
            self.d[LANES * b + i] = row.d[b];
            self.m[LANES * b + i] = row.m[b];
        }
    }

    fn fill(&mut self, bytes: &[u8], w: &Weight, r0: usize, rows: usize, len: usize, tmp: &mut RowScratch) {
        let (cols, nbl) = (w.cols, w.cols / len);
        self.start(cols, nbl, rows);
        tmp.q.resize(cols, 0);
        tmp.d.resize(nbl, 0.0);
        tmp.m.resize(nbl, 0.0);
        for i in 0..rows {
            unpack_row(w.ty, w.row(bytes, r0 + i), &mut tmp.q, &mut tmp.d, &mut tmp.m);
            self.put(i, tmp, nbl);
        }
    }
}

/// Reused buffers: allocating them per matmul showed in profiles of the f32 path.
#[derive(Default)]
struct Bufs {
    groups: Vec<Group>,
    acts: BlockActs,
    tmp: RowScratch,
}

/// [`crate::kernels::matmul::matmul_into`] for a batch of `nt` tokens through `w`, whose type [`takes`]
/// (or any type with an unpacked form, for the portable kernel). `acts` holds the batch quantised.
pub fn matmul(bytes: &[u8], w: &Weight, acts: &Q8Acts, nt: usize, out: &mut [f32], o: OutLayout) {
    with_bufs(|b| matmul_with(bytes, w, acts, nt, out, o, b, group_sums))
}

/// [`matmul`] on the portable kernel whatever the build: what tests compare the SIMD kernel with.
pub fn matmul_portable(bytes: &[u8], w: &Weight, acts: &Q8Acts, nt: usize, out: &mut [f32], o: OutLayout) {
    matmul_with(bytes, w, acts, nt, out, o, &mut Bufs::default(), portable_group_sums)
}

fn with_bufs<R>(f: impl FnOnce(&mut Bufs) -> R) -> R {
    thread_local! {
        static BUFS: std::cell::RefCell<Bufs> = std::cell::RefCell::new(Bufs::default());
    }
    BUFS.with(|b| f(&mut b.borrow_mut()))
}

/// A kernel: a group's outputs for up to [`TOKENS`] tokens (see [`group_sums`]).
type Sums = fn(&Group, &[i8], &[f32], &[f32], Shape) -> [[f32; LANES]; TOKENS];

/// What a kernel call is: the row length, the elements per scale, 16-bit sums widened every `flush`
/// 4-element steps, and the tokens (at most [`TOKENS`]).
#[derive(Clone, Copy)]
pub struct Shape {
    cols: usize,
    len: usize,
    // Read by the SIMD kernels only (the portable kernel widens every product).
    #[cfg_attr(not(any(target_arch = "x86_64", target_feature = "relaxed-simd")), allow(dead_code))]
    flush: usize,
    tokens: usize,
}

#[allow(clippy::too_many_arguments)]
fn matmul_with(
    bytes: &[u8],
    w: &Weight,
    acts: &Q8Acts,
    nt: usize,
    out: &mut [f32],
    o: OutLayout,
    bufs: &mut Bufs,
    sums: Sums,
) {
    let len = block_len(w.ty).expect("the integer GEMM was given a type it has no unpacked form of");
    let Bufs { groups, acts: ba, tmp } = bufs;
    ba.fill(acts, nt, w.cols, len);
    if groups.len() < TILE_GROUPS {
        groups.resize_with(TILE_GROUPS, Group::default);
    }
    let held = w.held_rows();
    let shape = Shape { cols: w.cols, len, flush: steps_per_flush(max_quant(w.ty)), tokens: 0 };
    for r0 in held.clone().step_by(TILE_GROUPS * LANES) {
        let ng = (held.end - r0).min(TILE_GROUPS * LANES).div_ceil(LANES);
        for (g, group) in groups.iter_mut().take(ng).enumerate() {
            let gr = r0 + g * LANES;
            group.fill(bytes, w, gr, (held.end - gr).min(LANES), len, tmp);
        }
        tile(&groups[..ng], r0 - o.first, acts, ba, nt, shape, out, o.stride, sums);
    }
}

/// Every token of the batch through `groups` (rows from `r0` of the output, whose token rows are `stride`
/// apart), a block of tokens at a time while the groups are in cache.
#[allow(clippy::too_many_arguments)]
fn tile(
    groups: &[Group],
    r0: usize,
    acts: &Q8Acts,
    ba: &BlockActs,
    nt: usize,
    shape: Shape,
    out: &mut [f32],
    stride: usize,
    sums: Sums,
) {
    let (cols, nbl) = (shape.cols, shape.cols / shape.len);
    for t0 in (0..nt).step_by(TOKENS) {
        let tb = (nt - t0).min(TOKENS);
        let (a, blocks) = (&acts.qs[t0 * cols..(t0 + tb) * cols], t0 * nbl..(t0 + tb) * nbl);
        for (g, group) in groups.iter().enumerate() {
            let res = sums(group, a, &ba.ad[blocks.clone()], &ba.sa[blocks.clone()], Shape { tokens: tb, ..shape });
            for (t, lanes) in res.iter().take(tb).enumerate() {
                let at = (t0 + t) * stride + r0 + g * LANES;
                out[at..at + group.rows].copy_from_slice(&lanes[..group.rows]);
            }
        }
    }
}

/// A float matrix quantised once, at load, to the unpacked form and interleaved: for a small model that runs
/// only in batches (the embedder), so no call unpacks. Per block of 32 elements `w ≈ d·q + m`, with `m` the
/// block's minimum and `q` a 7-bit quant (a step of 1/127 of the block's range). The kernel then adds each
/// step straight into 32 bits; 6 bits would let it widen every other step, for about twice the error (the
/// embedder's worst cosine to sentence-transformers on the fixture: 0.9977 at 7 bits, 0.9939 at 6).
pub struct Packed {
    groups: Vec<Group>,
    rows: usize,
    cols: usize,
}

/// The largest quant of a [`Packed`] matrix.
const PACKED_MAX: u8 = 127;
/// Elements per scale of a [`Packed`] matrix.
const PACKED_BLOCK: usize = 32;

impl Packed {
    /// `w`: `rows` rows of `cols` (a multiple of 32).
    pub fn quantize(w: &[f32], rows: usize, cols: usize) -> Packed {
        assert!(cols.is_multiple_of(PACKED_BLOCK) && w.len() == rows * cols, "Packed::quantize: bad shape");
        let nbl = cols / PACKED_BLOCK;
        let mut tmp = RowScratch { q: vec![0; cols], d: vec![0.0; nbl], m: vec![0.0; nbl] };
        let groups = (0..rows.div_ceil(LANES))
            .map(|g| {
                let mut group = Group::default();
                group.start(cols, nbl, (rows - g * LANES).min(LANES));
                for i in 0..group.rows {
                    let row = &w[(g * LANES + i) * cols..(g * LANES + i + 1) * cols];
                    for (b, blk) in row.chunks_exact(PACKED_BLOCK).enumerate() {
                        let lo = blk.iter().fold(f32::INFINITY, |a, &v| a.min(v));
                        let hi = blk.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                        let d = (hi - lo) / PACKED_MAX as f32;
                        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
                        for (q, &v) in tmp.q[b * PACKED_BLOCK..].iter_mut().zip(blk) {
                            *q = ((v - lo) * inv).round().clamp(0.0, PACKED_MAX as f32) as u8;
                        }
                        (tmp.d[b], tmp.m[b]) = (d, lo);
                    }
                    group.put(i, &tmp, nbl);
                }
                group
            })
            .collect();
        Packed { groups, rows, cols }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.groups.iter().map(|g| g.q.len() + 4 * (g.d.len() + g.m.len())).sum()
    }

    /// Row `r` as floats (`d·q + m`): what the kernel multiplies.
    pub fn row(&self, r: usize) -> Vec<f32> {
        let (g, i) = (&self.groups[r / LANES], r % LANES);
        (0..self.cols)
            .map(|e| {
                let b = e / PACKED_BLOCK;
                g.d[LANES * b + i] * g.quant(i, e) as f32 + g.m[LANES * b + i]
            })
            .collect()
    }
}

/// `out[t][r] = W[r] · x[t]` for the `nt` tokens quantised in `acts`, through a [`Packed`] matrix; `out` is
/// `nt` rows of `p.rows()`.
pub fn matmul_packed(p: &Packed, acts: &Q8Acts, nt: usize, out: &mut [f32]) {
    with_bufs(|b| packed_with(p, acts, nt, out, b, group_sums))
}

/// [`matmul_packed`] on the portable kernel.
pub fn matmul_packed_portable(p: &Packed, acts: &Q8Acts, nt: usize, out: &mut [f32]) {
    packed_with(p, acts, nt, out, &mut Bufs::default(), portable_group_sums)
}

fn packed_with(p: &Packed, acts: &Q8Acts, nt: usize, out: &mut [f32], bufs: &mut Bufs, sums: Sums) {
    assert!(acts.qs.len() >= nt * p.cols && out.len() >= nt * p.rows, "matmul_packed: slices too short");
    bufs.acts.fill(acts, nt, p.cols, PACKED_BLOCK);
    let shape = Shape { cols: p.cols, len: PACKED_BLOCK, flush: steps_per_flush(PACKED_MAX), tokens: 0 };
    for (i, groups) in p.groups.chunks(TILE_GROUPS).enumerate() {
        tile(groups, i * TILE_GROUPS * LANES, acts, &bufs.acts, nt, shape, out, p.rows, sums);
    }
}

/// What a SIMD kernel reads: the group's quants, scales and offsets; the tokens' activations, scales and
/// scaled sums.
#[cfg_attr(not(any(target_arch = "x86_64", target_feature = "relaxed-simd")), allow(dead_code))]
struct Ptrs {
    q: *const u8,
    d: *const f32,
    m: *const f32,
    a: *const i8,
    ad: *const f32,
    sa: *const f32,
}

#[cfg_attr(not(any(target_arch = "x86_64", target_feature = "relaxed-simd")), allow(dead_code))]
impl Ptrs {
    fn new(g: &Group, a: &[i8], ad: &[f32], sa: &[f32]) -> Ptrs {
        Ptrs { q: g.q.as_ptr(), d: g.d.as_ptr(), m: g.m.as_ptr(), a: a.as_ptr(), ad: ad.as_ptr(), sa: sa.as_ptr() }
    }
}

#[cfg_attr(not(any(target_arch = "x86_64", target_feature = "relaxed-simd")), allow(unused_macros))]
/// Calls the instance of SIMD module `$m`'s `kernel::<tokens, steps per block, steps per flush>` for a shape.
macro_rules! dispatch {
    ($m:ident, $shape:expr, $p:expr, $nbl:expr, $cols:expr) => {
        match $shape {
            (8, 8, 4) => $m::kernel::<4, 8, 8>($p, $nbl, $cols),
            (8, 8, 3) => $m::kernel::<3, 8, 8>($p, $nbl, $cols),
            (8, 8, 2) => $m::kernel::<2, 8, 8>($p, $nbl, $cols),
            (8, 8, _) => $m::kernel::<1, 8, 8>($p, $nbl, $cols),
            (8, 4, 4) => $m::kernel::<4, 8, 4>($p, $nbl, $cols),
            (8, 4, 3) => $m::kernel::<3, 8, 4>($p, $nbl, $cols),
            (8, 4, 2) => $m::kernel::<2, 8, 4>($p, $nbl, $cols),
            (8, 4, _) => $m::kernel::<1, 8, 4>($p, $nbl, $cols),
            (8, 1, 4) => $m::kernel::<4, 8, 1>($p, $nbl, $cols),
            (8, 1, 3) => $m::kernel::<3, 8, 1>($p, $nbl, $cols),
            (8, 1, 2) => $m::kernel::<2, 8, 1>($p, $nbl, $cols),
            (8, 1, _) => $m::kernel::<1, 8, 1>($p, $nbl, $cols),
            (4, 2, 4) => $m::kernel::<4, 4, 2>($p, $nbl, $cols),
            (4, 2, 3) => $m::kernel::<3, 4, 2>($p, $nbl, $cols),
            (4, 2, 2) => $m::kernel::<2, 4, 2>($p, $nbl, $cols),
            (4, 2, _) => $m::kernel::<1, 4, 2>($p, $nbl, $cols),
            other => unreachable!("no integer GEMM kernel for {other:?}"),
        }
    };
}

/// The group's `LANES` outputs for `shape.tokens` tokens (the rest of the array is unused): their
/// activations `a` (rows of `shape.cols`), and per block of `shape.len` their scales `ad` and scaled sums `sa`.
fn group_sums(g: &Group, a: &[i8], ad: &[f32], sa: &[f32], shape: Shape) -> [[f32; LANES]; TOKENS] {
    #[cfg(any(target_arch = "x86_64", target_feature = "relaxed-simd"))]
    let (p, key, nbl, cols) =
        (Ptrs::new(g, a, ad, sa), (shape.len / 4, shape.flush, shape.tokens), shape.cols / shape.len, shape.cols);
    // SAFETY (both): `a` holds `tokens` rows of cols, `ad`/`sa` `tokens` rows of nbl, the group cols × LANES
    // quants and nbl × LANES scales and offsets, which is all the kernel reads; the AVX2 one runs where the
    // CPU has it.
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    return unsafe { dispatch!(relaxed, key, &p, nbl, cols) };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let cap = X86_KERNEL_CAP.load(std::sync::atomic::Ordering::Relaxed);
        if cap >= X86Kernel::Vnni as u8 && has!("avx512vnni") && has!("avx512vl") {
            return unsafe { dispatch!(vnni, key, &p, nbl, cols) };
        }
        if cap >= X86Kernel::Avx2 as u8 && has!("avx2") {
            return unsafe { dispatch!(avx2, key, &p, nbl, cols) };
        }
    }
    #[allow(unreachable_code)]
    portable_group_sums(g, a, ad, sa, shape)
}

/// The x86 kernels, each faster than the one before where the CPU has it.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub enum X86Kernel {
    Portable = 0,
    Avx2 = 1,
    Vnni = 2,
}

#[cfg(target_arch = "x86_64")]
static X86_KERNEL_CAP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(X86Kernel::Vnni as u8);

/// Caps the x86 kernel the integer GEMM picks, so that tests check each one on a CPU that has a better
/// one. Every kernel gives the same results to the bit, so other work running meanwhile is unaffected.
#[cfg(target_arch = "x86_64")]
#[doc(hidden)]
pub fn cap_x86_kernel(k: X86Kernel) {
    X86_KERNEL_CAP.store(k as u8, std::sync::atomic::Ordering::Relaxed);
}

/// 16-bit partial sums are widened every this many 4-element steps, before they could overflow: a step adds
/// two products of a quant ≤ `max_quant` and an activation ≤ 127 to each 16-bit lane.
pub fn steps_per_flush(max_quant: u8) -> usize {
    let per_step = 2 * max_quant as usize * 127;
    let mut f = 1;
    while 2 * f * per_step <= i16::MAX as usize && f < 8 {
        f *= 2;
    }
    f
}

/// The kernel's arithmetic in plain Rust, in the SIMD kernel's order of f32 operations.
pub fn portable_group_sums(g: &Group, a: &[i8], ad: &[f32], sa: &[f32], shape: Shape) -> [[f32; LANES]; TOKENS] {
    let Shape { cols, len, tokens, .. } = shape;
    let nbl = cols / len;
    let mut acc = [[0f32; LANES]; TOKENS];
    for (t, acc) in acc.iter_mut().enumerate().take(tokens) {
        for b in 0..nbl {
            for (i, v) in acc.iter_mut().enumerate() {
                let mut s = 0i32;
                for e in b * len..(b + 1) * len {
                    s += g.quant(i, e) as i32 * a[t * cols + e] as i32;
                }
                *v += s as f32 * (g.d[LANES * b + i] * ad[t * nbl + b]);
                *v += g.m[LANES * b + i] * sa[t * nbl + b];
            }
        }
    }
    acc
}

#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
mod relaxed {
    use super::{Ptrs, LANES, TOKENS};
    use core::arch::wasm32::*;

    /// T tokens against one group; blocks of STEPS 4-element steps, 16-bit sums widened every F steps.
    pub(super) unsafe fn kernel<const T: usize, const STEPS: usize, const F: usize>(
        p: &Ptrs,
        nbl: usize,
        cols: usize,
    ) -> [[f32; LANES]; TOKENS] {
        let mut acc = [f32x4_splat(0.0); TOKENS];
        for b in 0..nbl {
            let mut s32 = [i32x4_splat(0); T];
            let mut j = 0;
            while j < STEPS {
                let mut s16 = [i16x8_splat(0); T];
                for jj in 0..F {
                    let s = b * STEPS + j + jj;
                    let wv = v128_load(p.q.add(16 * s) as *const v128);
                    for (t, acc16) in s16.iter_mut().enumerate() {
                        let av = v128_load32_splat(p.a.add(t * cols + 4 * s) as *const u32);
                        *acc16 = i16x8_add(*acc16, i16x8_relaxed_dot_i8x16_i7x16(av, wv));
                    }
                }
                for t in 0..T {
                    s32[t] = i32x4_add(s32[t], i32x4_extadd_pairwise_i16x8(s16[t]));
                }
                j += F;
            }
            let dv = v128_load(p.d.add(LANES * b) as *const v128);
            let mv = v128_load(p.m.add(LANES * b) as *const v128);
            for t in 0..T {
                let scale = f32x4_mul(dv, f32x4_splat(*p.ad.add(t * nbl + b)));
                acc[t] = f32x4_add(acc[t], f32x4_mul(f32x4_convert_i32x4(s32[t]), scale));
                acc[t] = f32x4_add(acc[t], f32x4_mul(mv, f32x4_splat(*p.sa.add(t * nbl + b))));
            }
        }
        let mut out = [[0f32; LANES]; TOKENS];
        for (o, v) in out.iter_mut().zip(acc) {
            v128_store(o.as_mut_ptr() as *mut v128, v);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Ptrs, LANES, TOKENS};
    use core::arch::x86_64::*;

    /// The wasm kernel two steps at a time: the low 128 bits hold an even step's four rows, the high an odd
    /// one's, each against its own four activation bytes repeated (one 8-byte broadcast and a shuffle). A
    /// 16-bit lane gets one step of each operation, so F = 1 widens after every operation.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn kernel<const T: usize, const STEPS: usize, const F: usize>(
        p: &Ptrs,
        nbl: usize,
        cols: usize,
    ) -> [[f32; LANES]; TOKENS] {
        let spread = spread();
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm_setzero_ps(); TOKENS];
        for b in 0..nbl {
            let mut s32 = [_mm256_setzero_si256(); T];
            let mut j = 0;
            let per_flush = F.max(2);
            while j < STEPS {
                let mut s16 = [_mm256_setzero_si256(); T];
                let mut jj = 0;
                while jj < per_flush {
                    let s = b * STEPS + j + jj;
                    let wv = _mm256_loadu_si256(p.q.add(16 * s) as *const __m256i);
                    for (t, acc16) in s16.iter_mut().enumerate() {
                        let av = acts(p, t * cols + 4 * s, spread);
                        *acc16 = _mm256_add_epi16(*acc16, _mm256_maddubs_epi16(wv, av));
                    }
                    jj += 2;
                }
                for t in 0..T {
                    s32[t] = _mm256_add_epi32(s32[t], _mm256_madd_epi16(s16[t], ones));
                }
                j += per_flush;
            }
            scale_block(p, &s32, &mut acc, b, nbl);
        }
        store(acc)
    }

    /// Picks bytes 0..4 of an 8-byte broadcast into the low 128 bits and 4..8 into the high.
    #[inline(always)]
    pub(super) unsafe fn spread() -> __m256i {
        _mm256_setr_epi8(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7)
    }

    /// The four activation bytes at `at` repeated in the low 128 bits, the next four in the high.
    #[inline(always)]
    pub(super) unsafe fn acts(p: &Ptrs, at: usize, spread: __m256i) -> __m256i {
        let eight = core::ptr::read_unaligned(p.a.add(at) as *const i64);
        _mm256_shuffle_epi8(_mm256_set1_epi64x(eight), spread)
    }

    /// Adds block `b`'s integer sums of each token (both halves of `s32[t]`), scaled, to its accumulator.
    #[inline(always)]
    pub(super) unsafe fn scale_block<const T: usize>(
        p: &Ptrs,
        s32: &[__m256i; T],
        acc: &mut [__m128; TOKENS],
        b: usize,
        nbl: usize,
    ) {
        let dv = _mm_loadu_ps(p.d.add(LANES * b));
        let mv = _mm_loadu_ps(p.m.add(LANES * b));
        for t in 0..T {
            let s = _mm_add_epi32(_mm256_castsi256_si128(s32[t]), _mm256_extracti128_si256(s32[t], 1));
            let scale = _mm_mul_ps(dv, _mm_set1_ps(*p.ad.add(t * nbl + b)));
            acc[t] = _mm_add_ps(acc[t], _mm_mul_ps(_mm_cvtepi32_ps(s), scale));
            acc[t] = _mm_add_ps(acc[t], _mm_mul_ps(mv, _mm_set1_ps(*p.sa.add(t * nbl + b))));
        }
    }

    #[inline(always)]
    pub(super) unsafe fn store(acc: [__m128; TOKENS]) -> [[f32; LANES]; TOKENS] {
        let mut out = [[0f32; LANES]; TOKENS];
        for (o, v) in out.iter_mut().zip(acc) {
            _mm_storeu_ps(o.as_mut_ptr(), v);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::avx2::{acts, scale_block, spread, store};
    use super::{Ptrs, LANES, TOKENS};
    use core::arch::x86_64::*;

    /// The AVX2 kernel where the CPU has AVX-512 VNNI (what llama.cpp's native build uses on such CPUs):
    /// `vpdpbusd` multiplies, sums four products and adds into 32-bit lanes in one instruction, so there are no
    /// 16-bit sums to widen and F does not matter. The integer sums, and so the results, are the same.
    #[target_feature(enable = "avx2,avx512vnni,avx512vl")]
    pub(super) unsafe fn kernel<const T: usize, const STEPS: usize, const F: usize>(
        p: &Ptrs,
        nbl: usize,
        cols: usize,
    ) -> [[f32; LANES]; TOKENS] {
        let spread = spread();
        let mut acc = [_mm_setzero_ps(); TOKENS];
        for b in 0..nbl {
            let mut s32 = [_mm256_setzero_si256(); T];
            let mut j = 0;
            while j < STEPS {
                let s = b * STEPS + j;
                let wv = _mm256_loadu_si256(p.q.add(16 * s) as *const __m256i);
                for (t, acc32) in s32.iter_mut().enumerate() {
                    let av = acts(p, t * cols + 4 * s, spread);
                    *acc32 = _mm256_dpbusd_epi32(*acc32, wv, av);
                }
                j += 2;
            }
            scale_block(p, &s32, &mut acc, b, nbl);
        }
        store(acc)
    }
}
