//! A model split by rows across shards (the browser's two-worker mode, here with in-process peers) must give
//! exactly the whole model's logits for the same batches, whatever the chunking of the download and the size
//! of the buffers.

#![cfg(not(target_arch = "wasm32"))]

use hearth::kernels::quant::GgmlType;
use hearth::llm::kv_cache::KvCache;
use hearth::llm::split::{ShardLoader, ShardSpec};
use hearth::llm::transformer::Scratch;
use hearth::testutil::{load_split, tiny_gguf, TinySpec};
use hearth::Model;

/// Prefill of 40 tokens (all logits) fed to both in batches of `batch` tokens, then 3 single tokens: every
/// logit bit-equal between `a` and `b`. Both get the same batches: a batch's size decides its matmul path
/// (f32 GEMM from 16 tokens, int8 dots below), so the same tokens in other batches sum in another order.
fn same_logits(a: &Model, b: &Model, what: &str, batch: usize) {
    let c = a.config();
    let tokens: Vec<u32> = (0..40).map(|i| 261 + (i * 7) % 17).collect();
    let (mut sa, mut sb) = (Scratch::default(), Scratch::default());
    let (mut ka, mut kb) = (KvCache::new(c, 64), KvCache::new(c, 64));
    for part in tokens.chunks(batch) {
        let la = a.transformer.forward(&mut sa, &mut ka, part, true).unwrap().to_vec();
        let lb = b.transformer.forward(&mut sb, &mut kb, part, true).unwrap().to_vec();
        assert_eq!(la.len(), lb.len());
        assert!(la.iter().zip(&lb).all(|(x, y)| x.to_bits() == y.to_bits()), "{what}: prefill logits differ");
    }
    for t in [5u32, 270, 130] {
        let la = a.transformer.forward(&mut sa, &mut ka, &[t], false).unwrap().to_vec();
        let lb = b.transformer.forward(&mut sb, &mut kb, &[t], false).unwrap().to_vec();
        assert!(
            la.iter().zip(&lb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{what}: decode logits differ at token {t}"
        );
    }
    assert_eq!(ka.len(), kb.len());
}

#[test]
fn split_models_equal_the_whole_model() {
    for spec in [
        TinySpec::default(),
        TinySpec { arch: "gemma3", weight_type: GgmlType::Q4_1, dim: 96, ffn_dim: 192, ..TinySpec::default() },
        TinySpec { weight_type: GgmlType::F32, ..TinySpec::default() },
    ] {
        let bytes = tiny_gguf(&spec);
        let whole = Model::load(bytes.clone()).unwrap();
        for (count, chunk) in [(2, 1000), (2, 7), (3, 4096)] {
            let split = load_split(&bytes, count, chunk, None).unwrap();
            assert!(split.transformer.weight_bytes() < whole.transformer.weight_bytes());
            // Batches of 16 (the f32 GEMM path: 16, 16) and a last one of 8 (int8 dots).
            same_logits(
                &whole,
                &split,
                &format!("{} {:?} in {count} shards, {chunk}-byte chunks", spec.arch, spec.weight_type),
                16,
            );
        }
        // Buffers for one token only: the split model runs the prefill in one-token passes, as the whole one
        // does when given one token at a time. (All logits of one token must still fit.)
        let (cap_in, cap_out) = split_buffers_for_one_token(&bytes);
        let split = load_split(&bytes, 2, 512, Some((cap_in, cap_out.max(whole.config().n_vocab)))).unwrap();
        same_logits(&whole, &split, &format!("{} {:?} one-token buffers", spec.arch, spec.weight_type), 1);
    }
}

fn split_buffers_for_one_token(bytes: &[u8]) -> (usize, usize) {
    load_split(bytes, 2, bytes.len(), None).unwrap().transformer.peer_buffers(1)
}

#[test]
fn shards_hold_the_weights_once_between_them() {
    let bytes = tiny_gguf(&TinySpec { dim: 128, ffn_dim: 256, ..TinySpec::default() });
    let mut total = 0;
    for i in 0..2 {
        let mut l = ShardLoader::new(bytes.len(), ShardSpec::new(i, 2).unwrap());
        l.push(&bytes).unwrap();
        let (_, layout, data) = l.finish().unwrap();
        assert_eq!(data.len(), layout.data_len);
        total += data.len();
    }
    // Each shard pads tensors to 32 bytes; the header (vocabulary) is not kept at all.
    assert!(total <= bytes.len(), "{total} bytes in shards for a {}-byte file", bytes.len());
}

#[test]
fn a_truncated_or_damaged_stream_is_a_clear_error() {
    let bytes = tiny_gguf(&TinySpec::default());
    let spec = ShardSpec::new(1, 2).unwrap();
    let mut l = ShardLoader::new(bytes.len(), spec);
    l.push(&bytes[..bytes.len() - 10]).unwrap();
    let e = l.finish().err().unwrap().to_string();
    assert!(e.contains("truncated") && e.contains(&bytes.len().to_string()), "{e}");

    let mut l = ShardLoader::new(bytes.len(), spec);
    let e = l.push(&[bytes.clone(), vec![0]].concat()).err().unwrap().to_string();
    assert!(e.contains("more than the announced"), "{e}");

    let mut bad = bytes.clone();
    bad[0] = b'X';
    let mut l = ShardLoader::new(bad.len(), spec);
    l.push(&bad).unwrap();
    let e = l.finish().err().unwrap().to_string();
    assert!(e.contains("not a GGUF file"), "{e}");

    assert!(ShardSpec::new(2, 2).is_err());
}

#[test]
fn a_split_model_without_its_peers_says_so() {
    let bytes = tiny_gguf(&TinySpec::default());
    let mut l = ShardLoader::new(bytes.len(), ShardSpec::new(0, 2).unwrap());
    l.push(&bytes).unwrap();
    let (g, layout, data) = l.finish().unwrap();
    let m = Model::from_parts(&g, &layout, data, bytes.len()).unwrap();
    let mut cache = KvCache::new(m.config(), 16);
    let e = m.transformer.forward(&mut Scratch::default(), &mut cache, &[5], false).err().unwrap().to_string();
    assert!(e.contains("split across 2 workers"), "{e}");
    assert_eq!(cache.len(), 0);
}

/// Peers that fail their `fail_at`-th job (counting from 0), as a pool worker that dies mid-pass would.
struct FailingPeers {
    inner: hearth::llm::split::LocalPeers,
    fail_at: usize,
    jobs: std::sync::atomic::AtomicUsize,
}

impl hearth::llm::split::Peers for FailingPeers {
    fn capacity(&self) -> (usize, usize) {
        self.inner.capacity()
    }
    fn start(&self, kind: u32, ids: &[u32], nt: usize, input: &[f32]) -> hearth::Result<()> {
        self.inner.start(kind, ids, nt, input)
    }
    fn finish(&self, out: &mut [f32]) -> hearth::Result<()> {
        if self.jobs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == self.fail_at {
            return Err(hearth::Error::Invalid("pool worker 1: injected failure".into()));
        }
        self.inner.finish(out)
    }
}

/// A pass that fails in layer 1 (after layer 0 appended its keys and values) leaves the cache as it was:
/// the next pass gives exactly what a session that never saw the failed batch gives.
#[test]
fn a_peer_failing_mid_pass_leaves_no_stale_cache_rows() {
    use hearth::llm::split::{LocalPeers, MatrixShard, Peers};
    let bytes = tiny_gguf(&TinySpec::default());
    let stream = |index: usize| {
        let mut l = ShardLoader::new(bytes.len(), ShardSpec::new(index, 2).unwrap());
        l.push(&bytes).unwrap();
        l.finish().unwrap()
    };
    let (g, layout, data) = stream(0);
    let mut split = Model::from_parts(&g, &layout, data, bytes.len()).unwrap();
    let (g1, layout1, data1) = stream(1);
    let capacity = split.transformer.peer_buffers(64);
    let inner = LocalPeers::new(vec![MatrixShard::new(&g1, &layout1, data1).unwrap()], capacity);
    // Jobs of a pass: the embedding, then per layer q/k/v, o, gate/up, down. A 5-token prefill is one pass
    // (jobs 0..), so the second pass's job 5 is layer 1's q/k/v.
    let per_pass = 1 + 4 * split.config().n_layers;
    assert!(split.config().n_layers >= 2);
    let peers = FailingPeers { inner, fail_at: per_pass + 5, jobs: 0.into() };
    assert!(peers.capacity().0 > 0);
    split.transformer.attach_peers(Box::new(peers)).unwrap();
    let whole = Model::load(bytes.clone()).unwrap();
    let c = whole.config();
    let (mut sa, mut sb) = (Scratch::default(), Scratch::default());
    let (mut ka, mut kb) = (KvCache::new(c, 64), KvCache::new(c, 64));
    let first = [261u32, 262, 263, 264, 265];
    whole.transformer.forward(&mut sa, &mut ka, &first, false).unwrap();
    split.transformer.forward(&mut sb, &mut kb, &first, false).unwrap();
    let e = split
        .transformer
        .forward(&mut sb, &mut kb, &[266, 267, 268], false)
        .expect_err("the injected failure")
        .to_string();
    assert!(e.contains("injected failure"), "{e}");
    assert_eq!(kb.len(), first.len());
    for t in [270u32, 5] {
        let la = whole.transformer.forward(&mut sa, &mut ka, &[t], false).unwrap().to_vec();
        let lb = split.transformer.forward(&mut sb, &mut kb, &[t], false).unwrap();
        assert!(
            la.iter().zip(lb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "logits differ after the failed pass (token {t})"
        );
    }
}
