//! Approximate nearest-neighbour search for large collections: an HNSW graph whose traversal scores
//! product-quantised (PQ) codes, then exact re-ranking of the best candidates with f32 vectors.
//!
//! Memory. The index itself holds, per vector, an `m`-byte PQ code (48 B at 384-d with the defaults:
//! 8-dimensional sub-vectors, 256 centroids each), a layer-0 neighbour list of `r0` u32 slots (16 → 64 B)
//! and, for the ~1/m_up of nodes that reach upper layers, their lists (about 4–5 B averaged over all
//! vectors), plus the fixed PQ codebooks (m·256·dsub f32 = 393 KB at 384-d, shared by all vectors).
//! The full f32 vectors are NOT part of this structure and not counted in [`Ann::bytes`]: the caller keeps
//! them (in memory, or anywhere it can read them from) and hands them in through closures, to `build` (the
//! graph is built with exact scores) and to `search` (re-ranking of the `ef` candidates). Counting them
//! adds 4·dim bytes per vector (1536 B at 384-d).
//!
//! Scores are inner products (the vectors are expected to be unit-length, so this is cosine similarity);
//! higher is better.
//!
//! Build. Nodes are inserted in id order, in batches: every node of a batch searches the graph as it was
//! before the batch (and, exactly, the earlier nodes of its own batch), chooses its neighbours with the
//! HNSW diversity heuristic, then the reverse links are merged per target node (re-pruned with the same
//! heuristic when a list overflows). Each step's work per node depends only on the graph before the step,
//! so the result is the same whether the steps run on one thread (wasm) or several (native, rayon), and
//! the same for the same seed. Batches start at one node and grow to 1/16 of the graph (at most 1024).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::kernels::quant::dot_f32;
use crate::rng::Rng;

/// Centroids per PQ sub-quantiser (codes are one byte).
pub const KSUB: usize = 256;
const NONE: u32 = u32::MAX;
const MAGIC: &[u8; 4] = b"HANN";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnnParams {
    /// PQ sub-quantisers = bytes per code; must divide the dimension.
    pub m: usize,
    /// Neighbour slots per node on layer 0.
    pub r0: usize,
    /// Neighbour slots per node on the upper layers; also sets the level distribution (1/m_up of nodes
    /// reach layer 1, and so on).
    pub m_up: usize,
    /// Beam width while building.
    pub ef_construction: usize,
    /// Pruning slack (Vamana's α on squared distances): 1.0 is HNSW's heuristic, larger keeps more edges.
    pub alpha: f32,
    /// Vectors sampled to train the PQ codebooks, and k-means iterations.
    pub train_sample: usize,
    pub kmeans_iters: usize,
    pub seed: u64,
}

impl Default for AnnParams {
    fn default() -> Self {
        AnnParams {
            m: 48,
            r0: 16,
            m_up: 16,
            ef_construction: 100,
            alpha: 1.0,
            train_sample: 10_000,
            kmeans_iters: 8,
            seed: 0x4845_4152_5448_414E,
        }
    }
}

/// The searchable index: PQ codebooks and codes, and the graph. See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Ann {
    dim: usize,
    n: usize,
    m: usize,
    r0: usize,
    m_up: usize,
    /// m × KSUB × dsub.
    centroids: Vec<f32>,
    /// n × m.
    codes: Vec<u8>,
    /// n × r0, NONE-padded.
    l0: Vec<u32>,
    /// Ids (ascending) of the nodes with level ≥ 1; node `up_nodes[p]` has its levels 1..=L at
    /// `up_links[up_start[p]..up_start[p + 1]]`, m_up slots per level, NONE-padded.
    up_nodes: Vec<u32>,
    up_start: Vec<u32>,
    up_links: Vec<u32>,
    entry: u32,
    max_level: usize,
}

trait Links {
    fn links(&self, node: u32, level: usize) -> &[u32];
}

/// (score, id), ordered by score then by smaller id, so heaps and sorts are deterministic.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cand(f32, u32);
impl Eq for Cand {}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(o.1.cmp(&self.1))
    }
}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A visited set that clears only what it touched.
struct Visited {
    bits: Vec<u64>,
    touched: Vec<u32>,
}
impl Visited {
    fn new(n: usize) -> Visited {
        Visited { bits: vec![0; n.div_ceil(64)], touched: Vec::new() }
    }
    /// True if `i` was not yet visited (and marks it).
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let (w, b) = ((i >> 6) as usize, 1u64 << (i & 63));
        let word = &mut self.bits[w];
        if *word & b != 0 {
            return false;
        }
        if *word == 0 {
            self.touched.push(w as u32);
        }
        *word |= b;
        true
    }
    fn clear(&mut self) {
        for &w in &self.touched {
            self.bits[w as usize] = 0;
        }
        self.touched.clear();
    }
}

/// Beam search on one layer from `entries`; returns up to `ef` best, best first.
fn search_layer(
    g: &impl Links,
    level: usize,
    entries: &[Cand],
    ef: usize,
    score: &mut impl FnMut(u32) -> f32,
    visited: &mut Visited,
) -> Vec<Cand> {
    visited.clear();
    let mut cands: BinaryHeap<Cand> = BinaryHeap::new();
    let mut best: BinaryHeap<std::cmp::Reverse<Cand>> = BinaryHeap::new();
    for &e in entries {
        if visited.insert(e.1) {
            cands.push(e);
            best.push(std::cmp::Reverse(e));
            if best.len() > ef {
                best.pop();
            }
        }
    }
    while let Some(c) = cands.pop() {
        if best.len() >= ef && c < best.peek().unwrap().0 {
            break;
        }
        for &nb in g.links(c.1, level) {
            if nb == NONE {
                break;
            }
            if !visited.insert(nb) {
                continue;
            }
            let s = Cand(score(nb), nb);
            if best.len() < ef || s > best.peek().unwrap().0 {
                cands.push(s);
                best.push(std::cmp::Reverse(s));
                if best.len() > ef {
                    best.pop();
                }
            }
        }
    }
    let mut out: Vec<Cand> = best.into_iter().map(|r| r.0).collect();
    out.sort_by(|a, b| b.cmp(a));
    out
}

/// HNSW's neighbour selection: walking the candidates best first, keep one unless a kept neighbour is
/// (α-)closer to it than the base node is. `cands` are sorted best first; scores are similarities to the base.
fn select<'v>(cands: &[Cand], cap: usize, alpha: f32, vec: &impl Fn(usize) -> &'v [f32]) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(cap);
    for &Cand(s, c) in cands {
        if kept.len() == cap {
            break;
        }
        let vc = vec(c as usize);
        let d_base = 2.0 - 2.0 * s;
        if kept.iter().all(|&r| alpha * (2.0 - 2.0 * dot_f32(vc, vec(r as usize))) > d_base) {
            kept.push(c);
        }
    }
    kept
}

/// The graph while it is being built.
struct Graph {
    r0: usize,
    m_up: usize,
    l0: Vec<u32>,
    levels: Vec<u8>,
    upper: Vec<Vec<u32>>,
}
impl Links for Graph {
    #[inline]
    fn links(&self, node: u32, level: usize) -> &[u32] {
        let r = self.slots(node, level);
        if level == 0 {
            &self.l0[r]
        } else {
            &self.upper[node as usize][r]
        }
    }
}
impl Graph {
    /// Where `node`'s links at `level` sit: in `l0`, or in `upper[node]` above layer 0.
    #[inline]
    fn slots(&self, node: u32, level: usize) -> std::ops::Range<usize> {
        let (start, n) =
            if level == 0 { (node as usize * self.r0, self.r0) } else { ((level - 1) * self.m_up, self.m_up) };
        start..start + n
    }

    fn set(&mut self, node: u32, level: usize, list: &[u32]) {
        let r = self.slots(node, level);
        let slots = if level == 0 { &mut self.l0[r] } else { &mut self.upper[node as usize][r] };
        slots.fill(NONE);
        slots[..list.len()].copy_from_slice(list);
    }
}

impl Links for Ann {
    #[inline]
    fn links(&self, node: u32, level: usize) -> &[u32] {
        if level == 0 {
            &self.l0[node as usize * self.r0..][..self.r0]
        } else {
            let p = self.up_nodes.binary_search(&node).expect("upper-layer node");
            &self.up_links[self.up_start[p] as usize + (level - 1) * self.m_up..][..self.m_up]
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn par_map<T: Send, S, F: Fn(&mut S, usize) -> T + Sync + Send, I: Fn() -> S + Sync + Send>(
    n: usize,
    init: I,
    f: F,
) -> Vec<T> {
    use rayon::prelude::*;
    (0..n).into_par_iter().map_init(init, f).collect()
}
#[cfg(target_arch = "wasm32")]
fn par_map<T: Send, S, F: Fn(&mut S, usize) -> T + Sync + Send, I: Fn() -> S + Sync + Send>(
    n: usize,
    init: I,
    f: F,
) -> Vec<T> {
    let mut s = init();
    (0..n).map(|i| f(&mut s, i)).collect()
}

/// PQ codebooks: k-means (L2) per sub-space on a seeded sample.
fn train_pq<'v>(dim: usize, n: usize, vec: &(impl Fn(usize) -> &'v [f32] + Sync), p: &AnnParams) -> Vec<f32> {
    let dsub = dim / p.m;
    let mut rng = Rng::new(p.seed ^ 0x5051);
    let mut ids: Vec<u32> = (0..n as u32).collect();
    let s = p.train_sample.clamp(1, n);
    for i in 0..s {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        ids.swap(i, j);
    }
    ids.truncate(s);
    ids.sort_unstable();
    let iters = p.kmeans_iters;
    let seed = p.seed;
    let books = par_map(
        p.m,
        || (),
        |_, sub| {
            let data: Vec<f32> =
                ids.iter().flat_map(|&i| vec(i as usize)[sub * dsub..][..dsub].iter().copied()).collect();
            let mut rng = Rng::new(seed ^ (sub as u64).wrapping_mul(0x9E37_79B9));
            let mut cent: Vec<f32> = (0..KSUB)
                .flat_map(|c| data[(if s >= KSUB { c * s / KSUB } else { c % s }) * dsub..][..dsub].to_vec())
                .collect();
            let mut assign = vec![0u16; s];
            for _ in 0..iters {
                let book = Book::new(&cent, dsub);
                for (x, a) in data.chunks_exact(dsub).zip(assign.iter_mut()) {
                    *a = book.nearest(x) as u16;
                }
                let mut sum = vec![0f64; KSUB * dsub];
                let mut cnt = vec![0usize; KSUB];
                for (x, &a) in data.chunks_exact(dsub).zip(&assign) {
                    cnt[a as usize] += 1;
                    for (t, &v) in sum[a as usize * dsub..][..dsub].iter_mut().zip(x) {
                        *t += v as f64;
                    }
                }
                for c in 0..KSUB {
                    let dst = &mut cent[c * dsub..][..dsub];
                    if cnt[c] > 0 {
                        for (d, &t) in dst.iter_mut().zip(&sum[c * dsub..][..dsub]) {
                            *d = (t / cnt[c] as f64) as f32;
                        }
                    } else {
                        // An empty cell takes a random sample point (slightly perturbed so duplicates split).
                        let r = (rng.next_u64() % s as u64) as usize;
                        for (d, &v) in dst.iter_mut().zip(&data[r * dsub..][..dsub]) {
                            *d = v * (1.0 + 1e-3 * (rng.next_f32() - 0.5));
                        }
                    }
                }
            }
            cent
        },
    );
    books.concat()
}

/// One sub-space's codebook, transposed (dsub × KSUB) with squared norms, so that nearest-centroid search
/// is ‖c‖² − 2⟨x, c⟩ computed across all 256 centroids at once (vectorises).
struct Book {
    t: Vec<f32>,
    norm: Vec<f32>,
}
impl Book {
    fn new(cent: &[f32], dsub: usize) -> Book {
        let mut t = vec![0f32; dsub * KSUB];
        for (c, row) in cent.chunks_exact(dsub).enumerate() {
            for (d, &v) in row.iter().enumerate() {
                t[d * KSUB + c] = v;
            }
        }
        Book { t, norm: cent.chunks_exact(dsub).map(|r| r.iter().map(|v| v * v).sum()).collect() }
    }
    #[inline]
    fn nearest(&self, x: &[f32]) -> usize {
        let mut acc = [0f32; KSUB];
        acc.copy_from_slice(&self.norm);
        for (&xd, row) in x.iter().zip(self.t.chunks_exact(KSUB)) {
            let m2 = -2.0 * xd;
            for (a, &c) in acc.iter_mut().zip(row) {
                *a += m2 * c;
            }
        }
        let mut best = (f32::INFINITY, 0);
        for (c, &d) in acc.iter().enumerate() {
            if d < best.0 {
                best = (d, c);
            }
        }
        best.1
    }
}

impl Ann {
    /// Builds the index over `n` vectors of `dim` dimensions; `vec(i)` returns vector `i` (unit length).
    pub fn build<'v, F: Fn(usize) -> &'v [f32] + Sync>(dim: usize, n: usize, vec: F, params: AnnParams) -> Result<Ann> {
        let p = params;
        if dim == 0 || p.m == 0 || !dim.is_multiple_of(p.m) {
            return Err(Error::Invalid(format!("ANN: {} PQ sub-quantisers must divide the dimension {dim}", p.m)));
        }
        if p.r0 < 2
            || p.m_up < 2
            || p.ef_construction == 0
            || p.alpha.partial_cmp(&1.0).is_none_or(|o| o.is_lt())
            || n >= NONE as usize
        {
            return Err(Error::Invalid(
                "ANN: r0 and m_up must be ≥ 2, ef_construction ≥ 1, alpha ≥ 1, n < 2^32-1".into(),
            ));
        }
        if let Some(i) = (0..n).find(|&i| vec(i).len() != dim) {
            return Err(Error::Invalid(format!("ANN: vector {i} has {} dimensions, not {dim}", vec(i).len())));
        }
        let dsub = dim / p.m;
        let t0 = crate::clock::now_ms();
        let centroids = if n == 0 { vec![0.0; p.m * KSUB * dsub] } else { train_pq(dim, n, &vec, &p) };
        let m = p.m;
        let books: Vec<Book> = centroids.chunks_exact(KSUB * dsub).map(|c| Book::new(c, dsub)).collect();
        let codes: Vec<u8> = par_map(
            n,
            || (),
            |_, i| {
                let v = vec(i);
                (0..m).map(|s| books[s].nearest(&v[s * dsub..][..dsub]) as u8).collect::<Vec<u8>>()
            },
        )
        .concat();

        if std::env::var_os("HEARTH_ANN_TRACE").is_some() {
            eprintln!("ann: pq train+encode {:.0} ms", crate::clock::now_ms() - t0);
        }
        let t1 = crate::clock::now_ms();
        // Levels: floor(-ln(u) / ln(m_up)), seeded.
        let mut rng = Rng::new(p.seed);
        let ml = 1.0 / (p.m_up as f64).ln();
        let levels: Vec<u8> =
            (0..n).map(|_| ((-(1.0 - rng.next_f32() as f64).ln() * ml) as usize).min(16) as u8).collect();
        let mut g = Graph {
            r0: p.r0,
            m_up: p.m_up,
            l0: vec![NONE; n * p.r0],
            upper: levels.iter().map(|&l| vec![NONE; l as usize * p.m_up]).collect(),
            levels,
        };
        let mut entry = 0u32;
        let mut max_level = if n > 0 { g.levels[0] as usize } else { 0 };
        let mut done = n.min(1);
        while done < n {
            let b = (done / 16).clamp(1, 1024).min(n - done);
            let batch = done..done + b;
            let (gr, ent, top) = (&g, entry, max_level);
            // 1. Every new node searches the graph as it is and the earlier nodes of its batch.
            let forward: Vec<Vec<Vec<u32>>> = par_map(
                b,
                || Visited::new(n),
                |visited, bi| {
                    let q = (batch.start + bi) as u32;
                    let vq = vec(q as usize);
                    let lq = gr.levels[q as usize] as usize;
                    let mut score = |i: u32| dot_f32(vq, vec(i as usize));
                    let mut eps = vec![Cand(score(ent), ent)];
                    for lev in (lq + 1..=top).rev() {
                        eps = search_layer(gr, lev, &eps, 1, &mut score, visited);
                    }
                    let mut out = vec![Vec::new(); lq + 1];
                    for lev in (0..=lq).rev() {
                        let mut cands = if lev <= top {
                            let w = search_layer(gr, lev, &eps, p.ef_construction, &mut score, visited);
                            eps = w.clone();
                            w
                        } else {
                            Vec::new()
                        };
                        for j in batch.start as u32..q {
                            if gr.levels[j as usize] as usize >= lev {
                                cands.push(Cand(score(j), j));
                            }
                        }
                        cands.sort_by(|a, b| b.cmp(a));
                        out[lev] = select(&cands, if lev == 0 { p.r0 } else { p.m_up }, p.alpha, &vec);
                    }
                    out
                },
            );
            // 2. Forward links, and the reverse links they ask for, grouped by (level, target).
            let mut reverse: Vec<(u8, u32, u32)> = Vec::new();
            for (bi, lists) in forward.iter().enumerate() {
                let q = (batch.start + bi) as u32;
                for (lev, list) in lists.iter().enumerate() {
                    g.set(q, lev, list);
                    reverse.extend(list.iter().map(|&t| (lev as u8, t, q)));
                }
            }
            reverse.sort_unstable();
            let mut groups: Vec<(usize, usize)> = Vec::new();
            let mut i = 0;
            while i < reverse.len() {
                let j = i + reverse[i..].iter().take_while(|r| (r.0, r.1) == (reverse[i].0, reverse[i].1)).count();
                groups.push((i, j));
                i = j;
            }
            // 3. Each target merges its new in-links, re-pruning if the list overflows.
            let gr = &g;
            let merged: Vec<Vec<u32>> = par_map(
                groups.len(),
                || (),
                |_, gi| {
                    let (a, z) = groups[gi];
                    let (lev, t) = (reverse[a].0 as usize, reverse[a].1);
                    let cap = if lev == 0 { p.r0 } else { p.m_up };
                    let mut list: Vec<u32> = gr.links(t, lev).iter().copied().take_while(|&x| x != NONE).collect();
                    for r in &reverse[a..z] {
                        if !list.contains(&r.2) {
                            list.push(r.2);
                        }
                    }
                    if list.len() <= cap {
                        return list;
                    }
                    let vt = vec(t as usize);
                    let mut cands: Vec<Cand> = list.iter().map(|&c| Cand(dot_f32(vt, vec(c as usize)), c)).collect();
                    cands.sort_by(|a, b| b.cmp(a));
                    select(&cands, cap, p.alpha, &vec)
                },
            );
            for (&(a, _), list) in groups.iter().zip(&merged) {
                g.set(reverse[a].1, reverse[a].0 as usize, list);
            }
            // 4. The entry point is the first node of the highest level.
            for q in batch {
                if g.levels[q] as usize > max_level {
                    max_level = g.levels[q] as usize;
                    entry = q as u32;
                }
            }
            done += b;
        }

        if std::env::var_os("HEARTH_ANN_TRACE").is_some() {
            eprintln!("ann: graph {:.0} ms", crate::clock::now_ms() - t1);
        }
        let mut up_nodes = Vec::new();
        let mut up_start = vec![0u32];
        let mut up_links = Vec::new();
        for (i, l) in g.upper.iter().enumerate() {
            if !l.is_empty() {
                up_nodes.push(i as u32);
                up_links.extend_from_slice(l);
                up_start.push(up_links.len() as u32);
            }
        }
        Ok(Ann {
            dim,
            n,
            m,
            r0: p.r0,
            m_up: p.m_up,
            centroids,
            codes,
            l0: g.l0,
            up_nodes,
            up_start,
            up_links,
            entry,
            max_level,
        })
    }

    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes held by the index: codebooks, codes and graph. Excludes the caller's f32 vectors (4·dim per vector).
    pub fn bytes(&self) -> usize {
        self.centroids.len() * 4
            + self.codes.len()
            + 4 * (self.l0.len() + self.up_nodes.len() + self.up_start.len() + self.up_links.len())
    }

    /// The `k` nearest to `query` (by inner product): a beam of width `ef` (≥ k) over the graph scored by
    /// PQ codes, then the `ef` candidates re-ranked with exact vectors from `rerank(i)`. Returns (id, exact
    /// score), best first. Panics if `query` does not have `dim` dimensions.
    pub fn search<'v, R: Fn(usize) -> &'v [f32]>(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        rerank: R,
    ) -> Vec<(usize, f32)> {
        assert_eq!(query.len(), self.dim, "ANN query dimension");
        if self.n == 0 || k == 0 {
            return Vec::new();
        }
        let ef = ef.max(k);
        let dsub = self.dim / self.m;
        // ADC table: table[s·256 + c] = <query sub-vector s, centroid c of sub-space s>.
        let mut table = vec![0f32; self.m * KSUB];
        for s in 0..self.m {
            let q = &query[s * dsub..][..dsub];
            for (t, c) in table[s * KSUB..][..KSUB]
                .iter_mut()
                .zip(self.centroids[s * KSUB * dsub..][..KSUB * dsub].chunks_exact(dsub))
            {
                *t = q.iter().zip(c).map(|(a, b)| a * b).sum();
            }
        }
        let m = self.m;
        let mut score = |i: u32| -> f32 {
            let code = &self.codes[i as usize * m..][..m];
            let mut acc = [0f32; 4];
            for (j, ch) in code.chunks_exact(4).enumerate() {
                for l in 0..4 {
                    acc[l] += table[(j * 4 + l) * KSUB + ch[l] as usize];
                }
            }
            let mut s = acc[0] + acc[1] + acc[2] + acc[3];
            for (j, &c) in code.iter().enumerate().skip(m / 4 * 4) {
                s += table[j * KSUB + c as usize];
            }
            s
        };
        self.search_scored(query, k, ef, &mut score, rerank)
    }

    /// The graph search with a given traversal score (PQ in `search`; exact in tests, to tell graph from
    /// quantisation losses apart).
    fn search_scored<'v>(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        score: &mut impl FnMut(u32) -> f32,
        rerank: impl Fn(usize) -> &'v [f32],
    ) -> Vec<(usize, f32)> {
        let mut visited = Visited::new(self.n);
        let mut eps = vec![Cand(score(self.entry), self.entry)];
        for lev in (1..=self.max_level).rev() {
            eps = search_layer(self, lev, &eps, 1, score, &mut visited);
        }
        let pool = search_layer(self, 0, &eps, ef, score, &mut visited);
        let mut exact: Vec<Cand> = pool.iter().map(|c| Cand(dot_f32(query, rerank(c.1 as usize)), c.1)).collect();
        exact.sort_by(|a, b| b.cmp(a));
        exact.truncate(k);
        exact.into_iter().map(|c| (c.1 as usize, c.0)).collect()
    }

    /// Serialises the index (little-endian, CRC-32 at the end).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes() + 64);
        out.extend_from_slice(MAGIC);
        let header = [
            VERSION,
            self.dim as u32,
            self.n as u32,
            self.m as u32,
            self.r0 as u32,
            self.m_up as u32,
            self.entry,
            self.max_level as u32,
            self.up_nodes.len() as u32,
            self.up_links.len() as u32,
        ];
        for h in header {
            out.extend_from_slice(&h.to_le_bytes());
        }
        for c in &self.centroids {
            out.extend_from_slice(&c.to_le_bytes());
        }
        out.extend_from_slice(&self.codes);
        for v in self.l0.iter().chain(&self.up_nodes).chain(&self.up_start).chain(&self.up_links) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads what [`Ann::to_bytes`] wrote; damaged or inconsistent bytes give an error, never a panic.
    pub fn from_bytes(b: &[u8]) -> Result<Ann> {
        let bad = |msg: &str| Error::Invalid(format!("ANN index bytes: {msg}"));
        if b.len() < 4 + 40 + 4 || &b[..4] != MAGIC {
            return Err(bad("not an ANN index (bad magic or too short)"));
        }
        let (body, tail) = b.split_at(b.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(tail.try_into().unwrap()) {
            return Err(bad("checksum mismatch (damaged)"));
        }
        let h: Vec<u32> = body[4..44].chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        let &[version, dim, n, m, r0, m_up, entry, max_level, n_up, n_links] = h.as_slice() else { unreachable!() };
        if version != VERSION {
            return Err(bad(&format!("version {version}, expected {VERSION}")));
        }
        let (dim, n, m, r0, m_up, n_up, n_links) =
            (dim as usize, n as usize, m as usize, r0 as usize, m_up as usize, n_up as usize, n_links as usize);
        if dim == 0 || m == 0 || dim % m != 0 || r0 < 2 || m_up < 2 || n >= NONE as usize || max_level > 16 || n_up > n
        {
            return Err(bad("inconsistent header"));
        }
        let words = |x: usize, y: usize| x.checked_mul(y).ok_or_else(|| bad("sizes overflow"));
        let n_cent = words(m * KSUB, dim / m)?;
        let n_codes = words(n, m)?;
        let n_l0 = words(n, r0)?;
        let want = [n_cent, n_l0, n_up, n_up + 1, n_links]
            .iter()
            .try_fold(44 + n_codes, |acc, &w| acc.checked_add(w.checked_mul(4)?))
            .ok_or_else(|| bad("sizes overflow"))?;
        if body.len() != want {
            return Err(bad(&format!("{} bytes, the header implies {want}", body.len())));
        }
        let mut at = 44;
        let mut take = |len: usize| {
            let s = &body[at..at + len];
            at += len;
            s
        };
        let centroids: Vec<f32> =
            take(n_cent * 4).chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        let codes = take(n_codes).to_vec();
        let mut u32s = |len: usize| -> Vec<u32> {
            take(len * 4).chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
        };
        let (l0, up_nodes, up_start, up_links) = (u32s(n_l0), u32s(n_up), u32s(n_up + 1), u32s(n_links));
        if centroids.iter().any(|c| !c.is_finite()) {
            return Err(bad("non-finite codebook value"));
        }
        let link_ok = |l: &[u32]| l.iter().all(|&x| x == NONE || (x as usize) < n);
        if !link_ok(&l0) || !link_ok(&up_links) {
            return Err(bad("neighbour id out of range"));
        }
        if up_nodes.windows(2).any(|w| w[0] >= w[1]) || up_nodes.last().is_some_and(|&x| x as usize >= n) {
            return Err(bad("upper-layer node list not ascending or out of range"));
        }
        if up_start[0] != 0 || up_start[n_up] as usize != n_links {
            return Err(bad("upper-layer offsets do not cover the links"));
        }
        let mut top = 0;
        for w in up_start.windows(2) {
            let len = w[1].checked_sub(w[0]).ok_or_else(|| bad("upper-layer offsets decrease"))? as usize;
            if len == 0 || !len.is_multiple_of(m_up) || len / m_up > max_level as usize {
                return Err(bad("upper-layer list of a wrong size"));
            }
            top = top.max(len / m_up);
        }
        let level =
            |i: u32| up_nodes.binary_search(&i).map(|p| (up_start[p + 1] - up_start[p]) as usize / m_up).unwrap_or(0);
        if n > 0 && ((entry as usize) >= n || top != max_level as usize || level(entry) != max_level as usize) {
            return Err(bad("entry point not on the top level"));
        }
        // Every upper-layer link must point at a node that exists on that layer (search relies on it).
        for w in up_start.windows(2) {
            for (k, &x) in up_links[w[0] as usize..w[1] as usize].iter().enumerate() {
                if x != NONE && level(x) < k / m_up + 1 {
                    return Err(bad("upper-layer link to a node below that layer"));
                }
            }
        }
        Ok(Ann {
            dim,
            n,
            m,
            r0,
            m_up,
            centroids,
            codes,
            l0,
            up_nodes,
            up_start,
            up_links,
            entry,
            max_level: max_level as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` unit vectors around `clusters` random unit centres (noise norm ≈ `noise`).
    fn clustered(n: usize, dim: usize, clusters: usize, noise: f32, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut gauss = move || {
            let (u, v) = (rng.next_f32().max(1e-7), rng.next_f32());
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        };
        let norm = |v: &mut [f32]| {
            let s = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= s);
        };
        let mut centres: Vec<f32> = (0..clusters * dim).map(|_| gauss()).collect();
        centres.chunks_exact_mut(dim).for_each(norm);
        let mut out = Vec::with_capacity(n * dim);
        for i in 0..n {
            let c = &centres[(i * 7919 % clusters) * dim..][..dim];
            let mut v: Vec<f32> = c.iter().map(|&x| x + noise * gauss() / (dim as f32).sqrt()).collect();
            norm(&mut v);
            out.extend(v);
        }
        out
    }

    fn exact_top(data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<usize> {
        let mut s: Vec<(f32, usize)> = data.chunks_exact(dim).map(|v| dot_f32(v, q)).zip(0..).collect();
        s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        s.into_iter().take(k).map(|x| x.1).collect()
    }

    const DIM: usize = 64;

    fn small() -> (Vec<f32>, Vec<f32>, Ann) {
        // 5000 indexed vectors and 100 held-out queries from the same clusters.
        let mut data = clustered(5100, DIM, 50, 0.8, 1);
        let queries = data.split_off(5000 * DIM);
        let p = AnnParams { m: 16, ..AnnParams::default() };
        let ann = Ann::build(DIM, 5000, |i| &data[i * DIM..][..DIM], p).unwrap();
        (data, queries, ann)
    }

    #[test]
    fn recall_on_clustered_vectors() {
        let (data, queries, ann) = small();
        let mut hit = 0;
        for q in queries.chunks_exact(DIM) {
            let truth = exact_top(&data, DIM, q, 10);
            let got = ann.search(q, 10, 64, |i| &data[i * DIM..][..DIM]);
            assert_eq!(got.len(), 10);
            hit += got.iter().filter(|g| truth.contains(&g.0)).count();
        }
        let recall = hit as f64 / (queries.len() / DIM * 10) as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
        // Deterministic: a second build is identical.
        let again =
            Ann::build(DIM, 5000, |i| &data[i * DIM..][..DIM], AnnParams { m: 16, ..AnnParams::default() }).unwrap();
        assert!(again == ann);
    }

    #[test]
    #[ignore]
    fn diagnose() {
        let (data, queries, ann) = small();
        for ef in [16, 32, 64, 128, 256] {
            let (mut hp, mut he) = (0, 0);
            for q in queries.chunks_exact(DIM) {
                let truth = exact_top(&data, DIM, q, 10);
                let r = |i: usize| &data[i * DIM..][..DIM];
                hp += ann.search(q, 10, ef, r).iter().filter(|g| truth.contains(&g.0)).count();
                let mut sc = |i: u32| dot_f32(q, r(i as usize));
                he += ann.search_scored(q, 10, ef, &mut sc, r).iter().filter(|g| truth.contains(&g.0)).count();
            }
            eprintln!("ef {ef}: pq {} exact {}", hp as f64 / 1000.0, he as f64 / 1000.0);
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let (data, queries, ann) = small();
        let bytes = ann.to_bytes();
        let back = Ann::from_bytes(&bytes).unwrap();
        assert!(back == ann);
        for q in queries.chunks_exact(DIM).take(20) {
            assert_eq!(
                ann.search(q, 10, 50, |i| &data[i * DIM..][..DIM]),
                back.search(q, 10, 50, |i| &data[i * DIM..][..DIM])
            );
        }
        // Flipped bits, truncation, garbage: errors.
        for at in [0, 5, 50, bytes.len() / 2, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[at] ^= 0x10;
            assert!(Ann::from_bytes(&b).is_err(), "flip at {at}");
        }
        for len in [0, 3, 47, bytes.len() - 1] {
            assert!(Ann::from_bytes(&bytes[..len]).is_err());
        }
        // A neighbour id out of range, with the checksum recomputed: caught by validation.
        let mut b = bytes[..bytes.len() - 4].to_vec();
        let l0_at = 44 + ann.centroids.len() * 4 + ann.codes.len();
        b[l0_at..l0_at + 4].copy_from_slice(&(ann.n as u32).to_le_bytes());
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        assert!(Ann::from_bytes(&b).is_err());
    }

    #[test]
    fn empty_and_tiny() {
        let ann = Ann::build(8, 0, |_| &[][..], AnnParams { m: 4, ..AnnParams::default() }).unwrap();
        assert!(ann.search(&[0.0; 8], 5, 10, |_| &[][..]).is_empty());
        assert!(Ann::from_bytes(&ann.to_bytes()).unwrap() == ann);
        let v = [1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let ann = Ann::build(4, 2, |i| &v[i * 4..][..4], AnnParams { m: 2, ..AnnParams::default() }).unwrap();
        let got = ann.search(&[1.0, 0.0, 0.0, 0.0], 5, 10, |i| &v[i * 4..][..4]);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![0, 1]);
        assert!(Ann::build(10, 2, |i| &v[i * 4..][..4], AnnParams { m: 3, ..AnnParams::default() }).is_err());
    }
}
