//! A model split by rows across workers, so two cores work on one token without shared wasm memory.
//!
//! Every matrix (attention, FFN, output and embedding table) is cut into contiguous row ranges, one per
//! shard. Shard 0 is the model proper: it holds its rows of every matrix plus everything else (norms,
//! tokenizer, KV cache) and runs the forward pass. The other shards are [`MatrixShard`]s: each holds its rows
//! and answers one kind of question, "these matrices times this input", through [`Peers`]. A matmul on
//! shard 0 posts the input, computes its own rows while the peers compute theirs, then gathers their rows.
//! Row products are independent, so the split result equals the whole one exactly.
//!
//! Each shard streams the GGUF through a [`ShardLoader`] that keeps only its own bytes, so the weights are
//! held once in total, however many workers share them.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::kernels::matmul::{matmul, matmul_into, quantize, OutLayout, Weight};
use crate::kernels::quant::{dequantize_row, Q8Acts};
use crate::llm::config::Config;

/// Split points are multiples of this many rows (the wasm prefill kernel's tile).
const ROW_ALIGN: usize = 32;

/// Shard 0's default share of every matrix's rows when split in two. It also runs attention, norms and
/// sampling while the others wait, yet a smaller share did not help (SmolLM2 decode in Chromium: 0.40 and
/// 0.45 were slower, 0.56 the same, 0.62 slower): the others' per-job latency then dominates.
pub const LEAD_SHARE: f64 = 0.5;

/// Tensor-name suffixes of the matrices that are split; every other tensor stays whole on shard 0.
const MATRIX_SUFFIXES: [&str; 7] = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

/// Job kinds sent to the peers.
pub const JOB_MATMUL: u32 = 0;
pub const JOB_EMBED: u32 = 1;

/// Which part of the model one worker holds: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
    /// Shard 0's share of each matrix's rows; the others split the rest evenly.
    pub lead: f64,
}

impl ShardSpec {
    pub const WHOLE: ShardSpec = ShardSpec { index: 0, count: 1, lead: 1.0 };

    pub fn new(index: usize, count: usize) -> Result<ShardSpec> {
        if count == 0 || index >= count || count > 64 {
            return Err(Error::Invalid(format!("shard {index} of {count} does not exist")));
        }
        Ok(ShardSpec { index, count, lead: if count == 1 { 1.0 } else { LEAD_SHARE.min(1.0 / count as f64) } })
    }

    /// The same split with shard 0 taking `lead` of the rows (every shard of a model must agree on it).
    pub fn with_lead(self, lead: f64) -> Result<ShardSpec> {
        if self.count == 1 || !(0.05..=0.95).contains(&lead) {
            return Err(Error::Invalid(format!("shard 0's share {lead} must be within 0.05..0.95 of a split model")));
        }
        Ok(ShardSpec { lead, ..self })
    }

    /// The rows of a `rows`-row matrix this shard holds: contiguous, in shard order, covering all rows.
    /// Shard 0 takes `lead` of them (an even share by default, see [`LEAD_SHARE`]); the others split the rest.
    pub fn rows(&self, rows: usize) -> Range<usize> {
        let (n, lead) = (self.count as f64, self.lead);
        let cut = |i: usize| {
            if i == 0 {
                0
            } else if i >= self.count {
                rows
            } else {
                let f = lead + (1.0 - lead) * (i - 1) as f64 / (n - 1.0);
                ((rows as f64 * f) as usize / ROW_ALIGN * ROW_ALIGN).min(rows)
            }
        };
        cut(self.index)..cut(self.index + 1)
    }

    /// The same split seen from shard `index`.
    pub fn of(&self, index: usize) -> ShardSpec {
        ShardSpec { index, ..*self }
    }
}

/// Whether tensor `name` (of shape `dims`) is a matrix that shards split by rows.
fn is_split_matrix(name: &str, dims: &[u64]) -> bool {
    if dims.len() != 2 {
        return false;
    }
    if name == "token_embd.weight" || name == "output.weight" {
        return true;
    }
    match name.strip_prefix("blk.").and_then(|r| r.split_once('.')) {
        Some((_, rest)) => MATRIX_SUFFIXES.iter().any(|s| rest.strip_suffix(".weight") == Some(s)),
        None => false,
    }
}

/// Where one tensor's bytes sit in a shard's data buffer and which of its rows they are.
#[derive(Debug, Clone)]
pub struct Placement {
    pub offset: usize,
    pub rows: Range<usize>,
}

/// What a shard keeps of a GGUF file: a placement per kept tensor, and the file ranges to copy.
#[derive(Debug, Clone)]
pub struct Layout {
    pub spec: ShardSpec,
    places: HashMap<String, Placement>,
    /// (range in the file, offset in the data buffer), in file order.
    pieces: Vec<(Range<usize>, usize)>,
    pub data_len: usize,
}

impl Layout {
    /// The whole file in place: offsets are the file's own (the native path, which keeps the file).
    pub fn whole_file(g: &Gguf) -> Layout {
        let places = g
            .tensors
            .iter()
            .map(|t| {
                let rows = if t.dims.len() >= 2 { t.dims[1] as usize } else { 1 };
                (t.name.clone(), Placement { offset: t.offset, rows: 0..rows })
            })
            .collect();
        Layout { spec: ShardSpec::WHOLE, places, pieces: Vec::new(), data_len: 0 }
    }

    /// Shard `spec`'s part of `g`: its rows of every split matrix and, on shard 0, every other tensor whole,
    /// packed one after another (each 32-byte aligned).
    pub fn for_shard(g: &Gguf, spec: ShardSpec) -> Layout {
        let mut places = HashMap::new();
        let mut pieces = Vec::new();
        let mut at = 0usize;
        let mut tensors: Vec<_> = g.tensors.iter().collect();
        tensors.sort_by_key(|t| t.offset);
        for t in tensors {
            let (src, rows) = if is_split_matrix(&t.name, &t.dims) {
                let n = t.dims[1] as usize;
                let rb = t.n_bytes / n;
                let r = spec.rows(n);
                (t.offset + r.start * rb..t.offset + r.end * rb, r)
            } else if spec.index == 0 {
                let rows = if t.dims.len() >= 2 { t.dims[1] as usize } else { 1 };
                (t.offset..t.offset + t.n_bytes, 0..rows)
            } else {
                continue;
            };
            at = at.div_ceil(32) * 32;
            places.insert(t.name.clone(), Placement { offset: at, rows });
            let len = src.len();
            if len > 0 {
                pieces.push((src, at));
            }
            at += len;
        }
        Layout { spec, places, pieces, data_len: at }
    }

    pub fn place(&self, name: &str) -> Option<&Placement> {
        self.places.get(name)
    }

    /// Copies what this layout keeps of `chunk` (the file's bytes from `file_at`) into `data`.
    fn copy_from(&self, chunk: &[u8], file_at: usize, data: &mut [u8]) {
        let end = file_at + chunk.len();
        // Pieces are in file order: skip those wholly before the chunk, stop after the first one past it.
        let first = self.pieces.partition_point(|(src, _)| src.end <= file_at);
        for (src, dst) in &self.pieces[first..] {
            if src.start >= end {
                break;
            }
            let (s, e) = (src.start.max(file_at), src.end.min(end));
            let d = dst + (s - src.start);
            data[d..d + (e - s)].copy_from_slice(&chunk[s - file_at..e - file_at]);
        }
    }
}

/// Streams a GGUF file in and keeps only one shard's bytes: the header is parsed as soon as it has arrived,
/// and from then on each chunk is copied piecewise into the shard's buffer and dropped.
pub struct ShardLoader {
    spec: ShardSpec,
    file_len: usize,
    received: usize,
    /// The file's first bytes, until the header parses.
    head: Vec<u8>,
    next_try: usize,
    parsed: Option<(Gguf, Layout, Vec<u8>)>,
}

impl ShardLoader {
    /// A loader for a file of `file_len` bytes (0 if unknown: then the whole file is held until `finish`).
    pub fn new(file_len: usize, spec: ShardSpec) -> ShardLoader {
        ShardLoader { spec, file_len, received: 0, head: Vec::new(), next_try: 1 << 16, parsed: None }
    }

    pub fn received(&self) -> usize {
        self.received
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        if self.file_len > 0 && self.received + chunk.len() > self.file_len {
            return Err(Error::Invalid(format!("received more than the announced {} bytes", self.file_len)));
        }
        let at = self.received;
        self.received += chunk.len();
        if let Some((_, layout, data)) = &mut self.parsed {
            layout.copy_from(chunk, at, data);
            return Ok(());
        }
        self.head
            .try_reserve(chunk.len())
            .map_err(|_| Error::Invalid("out of memory while receiving the model".into()))?;
        self.head.extend_from_slice(chunk);
        // Retry the header parse each time the buffered prefix doubles, so a big header costs a few parses.
        if self.file_len > 0 && self.head.len() >= self.next_try {
            self.next_try = self.head.len() * 2;
            if let Ok(g) = Gguf::parse_header(&self.head, self.file_len) {
                self.start_data(g)?;
            }
        }
        Ok(())
    }

    fn start_data(&mut self, g: Gguf) -> Result<()> {
        let layout = Layout::for_shard(&g, self.spec);
        let mut data = Vec::new();
        data.try_reserve_exact(layout.data_len)
            .map_err(|_| Error::Invalid(format!("cannot allocate {} bytes for the model", layout.data_len)))?;
        data.resize(layout.data_len, 0);
        layout.copy_from(&self.head, 0, &mut data);
        self.head = Vec::new();
        self.parsed = Some((g, layout, data));
        Ok(())
    }

    /// The parsed header, the layout and the shard's bytes, once the whole file has come.
    pub fn finish(mut self) -> Result<(Gguf, Layout, Vec<u8>)> {
        if self.file_len > 0 && self.received != self.file_len {
            return Err(Error::Invalid(format!(
                "model truncated: received {} of {} bytes",
                self.received, self.file_len
            )));
        }
        if self.parsed.is_none() {
            let g = Gguf::parse_header(&self.head, self.head.len())?;
            if self.spec == ShardSpec::WHOLE {
                let layout = Layout::whole_file(&g);
                return Ok((g, layout, self.head));
            }
            self.start_data(g)?;
        }
        Ok(self.parsed.take().expect("parsed above"))
    }
}

/// Matrices per layer, in [`matrices`] order, and each one's place among them.
pub const PER_LAYER: usize = 7;
pub const Q: usize = 0;
pub const K: usize = 1;
pub const V: usize = 2;
pub const O: usize = 3;
pub const GATE: usize = 4;
pub const UP: usize = 5;
pub const DOWN: usize = 6;
/// The matrices of a layer computed together from one input (one job each): what a peer's output buffer
/// must hold per token.
const LAYER_JOBS: [&[usize]; 4] = [&[Q, K, V], &[O], &[GATE, UP], &[DOWN]];

/// The matrices of a model in job-id order: per layer q, k, v, o, gate, up, down; then the output
/// projection; then the embedding table. Both the model and its matrix shards number them this way.
pub fn matrices(g: &Gguf, layout: &Layout, c: &Config) -> Result<Vec<Weight>> {
    let mut out = Vec::with_capacity(c.n_layers * PER_LAYER + 2);
    for l in 0..c.n_layers {
        let n = |s: &str| format!("blk.{l}.{s}.weight");
        out.push(weight(g, layout, &n("attn_q"), c.dim, c.q_dim())?);
        out.push(weight(g, layout, &n("attn_k"), c.dim, c.kv_dim())?);
        out.push(weight(g, layout, &n("attn_v"), c.dim, c.kv_dim())?);
        out.push(weight(g, layout, &n("attn_output"), c.q_dim(), c.dim)?);
        out.push(weight(g, layout, &n("ffn_gate"), c.dim, c.ffn_dim)?);
        out.push(weight(g, layout, &n("ffn_up"), c.dim, c.ffn_dim)?);
        out.push(weight(g, layout, &n("ffn_down"), c.ffn_dim, c.dim)?);
    }
    let embd = weight(g, layout, "token_embd.weight", c.dim, c.n_vocab)?;
    let output = if g.tensor("output.weight").is_some() {
        weight(g, layout, "output.weight", c.dim, c.n_vocab)?
    } else {
        embd.clone()
    };
    out.push(output);
    out.push(embd);
    Ok(out)
}

/// The matrix `name` (`rows` × `cols`) as this layout holds it, checked against the header.
pub fn weight(g: &Gguf, layout: &Layout, name: &str, cols: usize, rows: usize) -> Result<Weight> {
    let t = g.tensor(name).ok_or_else(|| Error::Unsupported(format!("tensor `{name}` is missing")))?;
    if t.dims != [cols as u64, rows as u64] {
        return Err(Error::Unsupported(format!("tensor `{name}` has shape {:?}, expected [{cols}, {rows}]", t.dims)));
    }
    if !t.ty.is_supported() {
        return Err(Error::Unsupported(format!(
            "tensor `{name}` has type {}, which hearth cannot run yet",
            t.ty.name()
        )));
    }
    let p = layout.place(name).ok_or_else(|| Error::Invalid(format!("tensor `{name}` is not held by this shard")))?;
    Ok(Weight { ty: t.ty, rows, cols, offset: p.offset, first: p.rows.start, held: p.rows.len() })
}

/// The model's matrices as the forward pass uses them: a backend that hides the split. Whole (one shard), it
/// multiplies here; split, it holds shard 0's rows and, for each product, posts the input to the peers,
/// computes its own rows meanwhile and puts theirs in place. Either way [`Matrices::mm`] and
/// [`Matrices::embed`] give the same numbers.
pub struct Matrices {
    /// The weights: the whole GGUF file (read in place), or shard 0's packed part of it.
    bytes: Vec<u8>,
    /// Numbered as in [`matrices`].
    mats: Vec<Weight>,
    spec: ShardSpec,
    /// The workers holding the other rows, once attached (`spec.count > 1`).
    peers: Option<Box<dyn Peers>>,
    dim: usize,
    n_vocab: usize,
}

/// Buffers the split reuses between passes: rows received from the peers, token ids sent to them.
#[derive(Default)]
pub struct PeerScratch {
    recv: Vec<f32>,
    ids: Vec<f32>,
}

impl Matrices {
    pub fn new(bytes: Vec<u8>, mats: Vec<Weight>, spec: ShardSpec, dim: usize, n_vocab: usize) -> Matrices {
        Matrices { bytes, mats, spec, peers: None, dim, n_vocab }
    }

    /// The output projection's id.
    pub fn output(&self) -> u32 {
        (self.mats.len() - 2) as u32
    }

    pub fn weight_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn shard_count(&self) -> usize {
        self.spec.count
    }

    /// Connects a split model to the workers holding the other rows.
    pub fn attach_peers(&mut self, peers: Box<dyn Peers>) -> Result<()> {
        if self.spec.count < 2 {
            return Err(Error::Invalid("this model is not split across workers".into()));
        }
        let (cap_in, cap_out) = peers.capacity();
        let (need_in, need_out) = self.peer_buffers(1);
        if cap_in < need_in || cap_out < need_out {
            return Err(Error::Invalid(format!(
                "peer buffers of {cap_in}/{cap_out} floats are smaller than one token needs ({need_in}/{need_out})"
            )));
        }
        self.peers = Some(peers);
        Ok(())
    }

    /// An error unless the model is whole or its peers are attached.
    pub fn check_attached(&self) -> Result<()> {
        if self.spec.count > 1 && self.peers.is_none() {
            return Err(Error::Invalid(format!(
                "the model is split across {} workers but they are not attached",
                self.spec.count
            )));
        }
        Ok(())
    }

    /// Input and per-peer output floats a job needs for batches of `batch` tokens (logits of the last token
    /// only): what the buffers shared with the peers should hold.
    pub fn peer_buffers(&self, batch: usize) -> (usize, usize) {
        let max_cols = self.mats.iter().map(|w| w.cols).max().unwrap_or(0);
        let out = (1..self.spec.count)
            .map(|p| {
                let sp = self.spec.of(p);
                let held = |ids: &[usize]| ids.iter().map(|&i| sp.rows(self.mats[i].rows).len()).sum::<usize>();
                let per_token = LAYER_JOBS.iter().map(|g| held(g)).max().unwrap_or(0);
                let output = held(&[self.mats.len() - 2]);
                (batch * per_token).max(batch * self.dim).max(output)
            })
            .max()
            .unwrap_or(0);
        (batch * max_cols, out)
    }

    /// Tokens one pass may take so that every job fits the peers' buffers (all of them when whole).
    pub fn tokens_per_pass(&self, nt: usize, all_logits: bool) -> usize {
        let Some(p) = &self.peers else { return nt };
        if nt == 1 && !all_logits {
            return 1; // attach_peers checked that one token fits
        }
        let (cap_in, cap_out) = p.capacity();
        let (mut lo, mut hi) = (1, nt);
        let fits = |b: usize| {
            let (i, o) = self.peer_buffers(b);
            let logits_out = if all_logits {
                (1..self.spec.count).map(|q| b * self.spec.of(q).rows(self.n_vocab).len()).max().unwrap_or(0)
            } else {
                0
            };
            i <= cap_in && o.max(logits_out) <= cap_out
        };
        if fits(hi) {
            return hi;
        }
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            if fits(mid) {
                lo = mid
            } else {
                hi = mid
            }
        }
        lo
    }

    /// The embedding rows of `tokens` into `x` (`tokens.len() × dim`), the rows other shards hold fetched
    /// from them.
    pub fn embed(&self, tokens: &[u32], x: &mut [f32], s: &mut PeerScratch) -> Result<()> {
        let dim = self.dim;
        let e = &self.mats[self.mats.len() - 1];
        let nt = tokens.len();
        if let Some(p) = &self.peers {
            grow(&mut s.ids, nt);
            for (d, &t) in s.ids.iter_mut().zip(tokens) {
                *d = t as f32;
            }
            p.start(JOB_EMBED, &[], nt, &s.ids[..nt])?;
        }
        for (t, &tok) in tokens.iter().enumerate() {
            if e.held_rows().contains(&(tok as usize)) {
                dequantize_row(e.ty, e.row(&self.bytes, tok as usize), &mut x[t * dim..(t + 1) * dim]);
            }
        }
        let Some(p) = &self.peers else { return Ok(()) };
        let total: usize = (1..self.spec.count)
            .map(|q| MatrixShard::job_output_len(&self.mats, self.spec.of(q), JOB_EMBED, &[], &s.ids[..nt]))
            .sum();
        grow(&mut s.recv, total);
        p.finish(&mut s.recv[..total])?;
        let mut at = 0;
        for q in 1..self.spec.count {
            let rows = self.spec.of(q).rows(e.rows);
            for (t, &tok) in tokens.iter().enumerate() {
                if rows.contains(&(tok as usize)) {
                    x[t * dim..(t + 1) * dim].copy_from_slice(&s.recv[at..at + dim]);
                    at += dim;
                }
            }
        }
        Ok(())
    }

    /// `outs[i] = mats[ids[i]] · x` for matrices sharing the input `x` (quantised into `acts`): this shard's
    /// rows here, while the peers (if any) compute theirs, which are then put in place.
    pub fn mm(
        &self,
        ids: &[u32],
        x: &[f32],
        acts: &mut Q8Acts,
        outs: &mut [&mut [f32]],
        s: &mut PeerScratch,
    ) -> Result<()> {
        let cols = self.mats[ids[0] as usize].cols;
        let nt = x.len() / cols;
        if let Some(p) = &self.peers {
            p.start(JOB_MATMUL, ids, nt, x)?;
        }
        // Quantised once the peers have the input: they quantise their copy meanwhile, not after.
        quantize(acts, x, cols);
        for (&id, out) in ids.iter().zip(outs.iter_mut()) {
            matmul(&self.bytes, &self.mats[id as usize], x, acts, out);
        }
        let Some(p) = &self.peers else { return Ok(()) };
        let total: usize = ids.iter().map(|&id| nt * (self.mats[id as usize].rows - self.mats[id as usize].held)).sum();
        grow(&mut s.recv, total);
        p.finish(&mut s.recv[..total])?;
        let mut at = 0;
        for q in 1..self.spec.count {
            for (&id, out) in ids.iter().zip(outs.iter_mut()) {
                let w = &self.mats[id as usize];
                let r = self.spec.of(q).rows(w.rows);
                let n = r.len();
                for t in 0..nt {
                    out[t * w.rows + r.start..t * w.rows + r.end]
                        .copy_from_slice(&s.recv[at + t * n..at + (t + 1) * n]);
                }
                at += nt * n;
            }
        }
        Ok(())
    }
}

/// Grows `v` to at least `n` values (never shrinks: a later, smaller batch reuses it).
pub(super) fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// The other shards, seen from shard 0. In the browser these are workers reached through a
/// SharedArrayBuffer; in tests, [`LocalPeers`].
pub trait Peers: Send + Sync {
    /// Largest `input` and total output (floats) one job may have.
    fn capacity(&self) -> (usize, usize);
    /// Sends a job to every peer: `JOB_MATMUL` with `nt` rows of the common input of matrices `ids`, or
    /// `JOB_EMBED` with `nt` token ids (as floats) in `input`.
    fn start(&self, kind: u32, ids: &[u32], nt: usize, input: &[f32]) -> Result<()>;
    /// Waits for every peer and writes their outputs one after another (shard 1's, then 2's…) into `out`,
    /// each as [`MatrixShard::run`] lays it out.
    fn finish(&self, out: &mut [f32]) -> Result<()>;
}

/// One shard's rows of every matrix, answering jobs from shard 0.
pub struct MatrixShard {
    data: Vec<u8>,
    mats: Vec<Weight>,
    acts: Q8Acts,
    spec: ShardSpec,
}

impl MatrixShard {
    pub fn new(g: &Gguf, layout: &Layout, mut data: Vec<u8>) -> Result<MatrixShard> {
        let embd = g
            .tensor("token_embd.weight")
            .ok_or_else(|| Error::Unsupported("tensor `token_embd.weight` is missing".into()))?;
        let c = Config::from_gguf(g, embd.dims.get(1).copied().unwrap_or(0) as usize)?;
        let mut mats = matrices(g, layout, &c)?;
        if crate::kernels::matmul::REGROUP_AT_LOAD {
            crate::kernels::matmul::regroup(&mut data, &mut mats);
        }
        Ok(MatrixShard { data, mats, acts: Q8Acts::default(), spec: layout.spec })
    }

    /// Floats one job writes: per matrix of `ids`, `nt` rows of this shard's rows of it (token-major); for an
    /// embedding job, the rows of those of `tokens` this shard holds, in token order.
    pub fn job_output_len(mats: &[Weight], spec: ShardSpec, kind: u32, ids: &[u32], tokens: &[f32]) -> usize {
        match kind {
            JOB_EMBED => {
                let e = &mats[mats.len() - 1];
                let r = spec.rows(e.rows);
                tokens.iter().filter(|&&t| r.contains(&(t as usize))).count() * e.cols
            }
            _ => {
                let nt = tokens.len();
                ids.iter().map(|&id| nt * spec.rows(mats[id as usize].rows).len()).sum()
            }
        }
    }

    /// Floats [`MatrixShard::run`] writes for this job (arguments as for `run`).
    pub fn output_len(&self, kind: u32, ids: &[u32], nt: usize, input: &[f32]) -> usize {
        if ids.iter().any(|&id| id as usize >= self.mats.len()) {
            return 0; // `run` reports the bad id
        }
        match kind {
            JOB_EMBED => MatrixShard::job_output_len(&self.mats, self.spec, kind, ids, &input[..nt.min(input.len())]),
            _ => ids.iter().map(|&id| self.mats[id as usize].held).sum::<usize>() * nt,
        }
    }

    /// Runs one job (see [`Peers::start`]); returns the floats written to `out`.
    pub fn run(&mut self, kind: u32, ids: &[u32], nt: usize, input: &[f32], out: &mut [f32]) -> Result<usize> {
        let mut at = 0;
        match kind {
            JOB_EMBED => {
                let e = &self.mats[self.mats.len() - 1];
                for &t in input.iter().take(nt) {
                    let t = t as usize;
                    if e.held_rows().contains(&t) {
                        let dst = out
                            .get_mut(at..at + e.cols)
                            .ok_or_else(|| Error::Invalid("shard output buffer too small".into()))?;
                        dequantize_row(e.ty, e.row(&self.data, t), dst);
                        at += e.cols;
                    }
                }
            }
            JOB_MATMUL => {
                // The matrices of one job share the input: quantise it once (Q, K and V; gate and up).
                let mut quantized = None;
                for &id in ids {
                    let w = self.mats.get(id as usize).ok_or_else(|| Error::Invalid(format!("no matrix #{id}")))?;
                    let x = input
                        .get(..nt * w.cols)
                        .ok_or_else(|| Error::Invalid("shard input shorter than the job".into()))?;
                    let n = nt * w.held;
                    let dst = out
                        .get_mut(at..at + n)
                        .ok_or_else(|| Error::Invalid("shard output buffer too small".into()))?;
                    if w.held > 0 {
                        if quantized != Some(w.cols) {
                            quantize(&mut self.acts, x, w.cols);
                            quantized = Some(w.cols);
                        }
                        matmul_into(&self.data, w, x, &self.acts, dst, OutLayout { stride: w.held, first: w.first });
                    }
                    at += n;
                }
            }
            _ => return Err(Error::Invalid(format!("unknown shard job kind {kind}"))),
        }
        Ok(at)
    }
}

/// Peers computed in-process, one after another: for tests of the split, which must give exactly the
/// whole model's results.
pub struct LocalPeers {
    shards: Mutex<Vec<MatrixShard>>,
    job: Mutex<(u32, Vec<u32>, usize, Vec<f32>)>,
    capacity: (usize, usize),
}

impl LocalPeers {
    pub fn new(shards: Vec<MatrixShard>, capacity: (usize, usize)) -> LocalPeers {
        LocalPeers { shards: Mutex::new(shards), job: Mutex::new((0, Vec::new(), 0, Vec::new())), capacity }
    }
}

impl Peers for LocalPeers {
    fn capacity(&self) -> (usize, usize) {
        self.capacity
    }

    fn start(&self, kind: u32, ids: &[u32], nt: usize, input: &[f32]) -> Result<()> {
        assert!(input.len() <= self.capacity.0, "job input over capacity");
        *self.job.lock().unwrap() = (kind, ids.to_vec(), nt, input.to_vec());
        Ok(())
    }

    fn finish(&self, out: &mut [f32]) -> Result<()> {
        let (kind, ids, nt, input) = &*self.job.lock().unwrap();
        let mut at = 0;
        for s in self.shards.lock().unwrap().iter_mut() {
            let mut buf = vec![f32::NAN; self.capacity.1];
            let n = s.run(*kind, ids, *nt, input, &mut buf)?;
            out[at..at + n].copy_from_slice(&buf[..n]);
            at += n;
        }
        assert_eq!(at, out.len(), "peers wrote a different amount than shard 0 expected");
        Ok(())
    }
}
