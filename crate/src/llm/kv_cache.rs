//! Keys and values of past positions, per layer. Grows with use up to the context window, so a short chat
//! costs only what it uses; truncating keeps a shared prompt prefix for the next turn.

use crate::error::{Error, Result};
use crate::llm::config::Config;

pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    kv_dim: usize,
    len: usize,
    capacity: usize,
}

impl KvCache {
    pub fn new(c: &Config, n_ctx: usize) -> KvCache {
        KvCache {
            k: vec![Vec::new(); c.n_layers],
            v: vec![Vec::new(); c.n_layers],
            kv_dim: c.kv_dim(),
            len: 0,
            capacity: n_ctx,
        }
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

    /// Forgets positions from `n` on, in every layer: a pass that failed part-way has appended rows to the
    /// layers below the failure without advancing `len`, and those rows must go too.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
        for l in 0..self.k.len() {
            self.k[l].truncate(n * self.kv_dim);
            self.v[l].truncate(n * self.kv_dim);
        }
    }

    /// Makes room for `positions` in all (at most the context window), so that filling them allocates
    /// nothing: a generation reserves its prompt and token budget up front and decodes without growing.
    /// Fails with a clear error (nothing is lost: the cache keeps what it holds) when memory is short.
    pub fn reserve(&mut self, positions: usize) -> Result<()> {
        let positions = positions.min(self.capacity);
        let want = positions.saturating_mul(self.kv_dim);
        let mb = want.saturating_mul(8 * self.k.len()) >> 20;
        for x in self.k.iter_mut().chain(self.v.iter_mut()) {
            x.try_reserve_exact(want.saturating_sub(x.len())).map_err(|_| {
                Error::Context(format!(
                    "not enough memory for a key/value cache of {positions} tokens ({mb} MB); use a smaller context window or fewer tokens"
                ))
            })?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::Gguf;
    use crate::testutil::{tiny_gguf, TinySpec};

    /// A context window no memory can hold is a clear error when a generation reserves it, never an abort.
    #[test]
    fn reserving_more_than_memory_is_an_error() {
        let bytes = tiny_gguf(&TinySpec::default());
        let g = Gguf::parse(&bytes).unwrap();
        let c = Config::from_gguf(&g, 512).unwrap();
        let huge = usize::MAX / 64;
        let mut cache = KvCache::new(&c, huge);
        let e = cache.reserve(huge).unwrap_err().to_string();
        assert!(e.contains(&format!("not enough memory for a key/value cache of {huge} tokens")), "{e}");
        assert!(cache.is_empty());
        cache.reserve(16).unwrap();
    }
}
