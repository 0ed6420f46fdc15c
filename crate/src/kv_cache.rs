//! Keys and values of past positions, per layer. Grows with use up to the context window, so a short chat
//! costs only what it uses; truncating keeps a shared prompt prefix for the next turn.

use crate::config::Config;

pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    kv_dim: usize,
    len: usize,
    capacity: usize,
}

impl KvCache {
    pub fn new(c: &Config, n_ctx: usize) -> KvCache {
        KvCache { k: vec![Vec::new(); c.n_layers], v: vec![Vec::new(); c.n_layers], kv_dim: c.kv_dim(), len: 0, capacity: n_ctx }
    }

    /// Positions filled.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The context window: positions that may be filled.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets positions from `n` on.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len {
            self.len = n;
            for l in 0..self.k.len() {
                self.k[l].truncate(n * self.kv_dim);
                self.v[l].truncate(n * self.kv_dim);
            }
        }
    }

    /// Makes room for `positions` in all (at most the context window), so that filling them allocates
    /// nothing: a generation reserves its prompt and token budget up front and decodes without growing.
    pub fn reserve(&mut self, positions: usize) {
        let want = positions.min(self.capacity) * self.kv_dim;
        for x in self.k.iter_mut().chain(self.v.iter_mut()) {
            x.reserve_exact(want.saturating_sub(x.len()));
        }
    }

    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Appends a batch of keys and values (rows of `kv_dim`) to layer `l`; the last layer's append
    /// advances the length.
    pub fn append(&mut self, l: usize, k: &[f32], v: &[f32]) {
        debug_assert_eq!(self.k[l].len(), self.len * self.kv_dim);
        self.k[l].extend_from_slice(k);
        self.v[l].extend_from_slice(v);
        if l == self.k.len() - 1 {
            self.len += k.len() / self.kv_dim;
        }
    }

    /// Keys and values of layer `l`, including anything appended in the current batch.
    pub fn layer(&self, l: usize) -> (&[f32], &[f32]) {
        (&self.k[l], &self.v[l])
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|x| x.capacity() * 4).sum()
    }
}
