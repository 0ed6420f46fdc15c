//! Every class of bad model file gets a clear error naming the problem, never a panic or a huge allocation.

#![cfg(not(target_arch = "wasm32"))]

use hearth::gguf::writer::{write, TensorData};
use hearth::gguf::Value;
use hearth::kernels::quant::GgmlType;
use hearth::testutil::{tiny_gguf, TinySpec};
use hearth::Model;

fn load_err(bytes: Vec<u8>) -> String {
    match std::panic::catch_unwind(|| Model::load(bytes)) {
        Ok(Ok(_)) => panic!("a bad file loaded"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => panic!("loading a bad file panicked"),
    }
}

fn assert_err(bytes: Vec<u8>, wants: &[&str]) {
    let e = load_err(bytes);
    for w in wants {
        assert!(e.contains(w), "error {e:?} should mention {w:?}");
    }
}

/// A GGUF header claiming the given counts, with nothing after it.
fn header_with(n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(n_tensors.to_le_bytes());
    b.extend(n_kv.to_le_bytes());
    b
}

#[test]
fn wrong_magic() {
    let mut b = tiny_gguf(&TinySpec::default());
    b[..4].copy_from_slice(b"GGML");
    assert_err(b, &["invalid GGUF at byte 0", "not a GGUF file"]);
    assert_err(b"hello".to_vec(), &["not a GGUF file"]);
    assert_err(Vec::new(), &["truncated"]);
}

#[test]
fn unsupported_version() {
    let mut b = tiny_gguf(&TinySpec::default());
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert_err(b, &["unsupported GGUF version 1"]);
}

#[test]
fn truncated_anywhere_is_an_error_never_a_panic() {
    let b = tiny_gguf(&TinySpec::default());
    let mut cut = 0;
    while cut < b.len() {
        let e = load_err(b[..cut].to_vec());
        assert!(e.contains("truncated") || e.contains("invalid GGUF"), "cut at {cut}: {e}");
        cut += 1 + cut / 7;
    }
    // Truncated inside the tensor data: names the tensor and the file size.
    let e = load_err(b[..b.len() - 10].to_vec());
    assert!(e.contains("runs past the end of the file") && e.contains("truncated"), "{e}");
}

#[test]
fn absurd_counts_do_not_allocate() {
    assert_err(header_with(1 << 60, 0), &["tensor count", "cannot fit"]);
    assert_err(header_with(0, u64::MAX), &["metadata count", "cannot fit"]);
    // A string claiming 2^62 bytes.
    let mut b = header_with(0, 1);
    b.extend((1u64 << 62).to_le_bytes());
    b.extend([0u8; 64]);
    assert_err(b, &["string length", "exceeds"]);
    // An array claiming 2^61 elements.
    let mut b = header_with(0, 1);
    b.extend(3u64.to_le_bytes());
    b.extend(b"key");
    b.extend(9u32.to_le_bytes());
    b.extend(6u32.to_le_bytes());
    b.extend((1u64 << 61).to_le_bytes());
    b.extend([0u8; 64]);
    assert_err(b, &["array length of `key`", "cannot fit"]);
}

fn one_tensor(dims: Vec<u64>, ty: GgmlType, data: Vec<u8>) -> Vec<u8> {
    let md = vec![("general.architecture".to_string(), Value::Str("llama".into()))];
    write(&md, &[TensorData { name: "t".into(), dims, ty, data }])
}

#[test]
fn absurd_dimensions() {
    assert_err(one_tensor(vec![1 << 40, 1 << 40], GgmlType::F32, vec![]), &["tensor `t` has absurd dimensions"]);
    assert_err(one_tensor(vec![4, 0], GgmlType::F32, vec![]), &["zero dimension"]);
    assert_err(one_tensor(vec![1, 1, 1, 1, 1], GgmlType::F32, vec![0; 4]), &["5 dimensions"]);
    assert_err(one_tensor(vec![33], GgmlType::Q8_0, vec![0; 34]), &["not a multiple", "block size 32"]);
}

#[test]
fn unknown_tensor_type() {
    let mut b = one_tensor(vec![4], GgmlType::F32, vec![0; 16]);
    // The only tensor entry: name (u64 length 1, "t"), dimension count (u32), one dimension (u64), type (u32).
    let name_at = b.windows(9).position(|w| w == b"\x01\0\0\0\0\0\0\0t").unwrap();
    let ty_at = name_at + 9 + 4 + 8;
    assert_eq!(&b[ty_at..ty_at + 4], &0u32.to_le_bytes(), "F32 type id expected here");
    b[ty_at..ty_at + 4].copy_from_slice(&77u32.to_le_bytes());
    assert_err(b, &["unknown tensor type id 77"]);
}

#[test]
fn unsupported_architecture_and_tensor_type() {
    let mut b = tiny_gguf(&TinySpec::default());
    let at = b.windows(5).position(|w| w == b"llama").unwrap();
    b[at..at + 5].copy_from_slice(b"mamba");
    assert_err(b, &["architecture `mamba` is not supported"]);
    let b = tiny_gguf(&TinySpec { weight_type: GgmlType::Q2_K, dim: 256, ffn_dim: 256, ..TinySpec::default() });
    assert_err(b, &["type Q2_K", "cannot run"]);
}

#[test]
fn missing_tensor_and_wrong_shape() {
    let b = tiny_gguf(&TinySpec::default());
    let mut renamed = b.clone();
    let at = renamed.windows(17).position(|w| w == b"blk.1.ffn_up.weig").unwrap();
    renamed[at + 6] = b'X';
    assert_err(renamed, &["tensor `blk.1.ffn_up.weight` is missing"]);
}

#[test]
fn bad_metadata_values() {
    let spec = TinySpec { n_kv_heads: 3, ..TinySpec::default() }; // 4 heads are not a multiple of 3 KV heads
    assert_err(tiny_gguf(&spec), &["not a multiple of 3 KV heads"]);
}

#[test]
fn random_bytes_after_a_valid_header_never_panic() {
    let good = tiny_gguf(&TinySpec::default());
    let mut rng = hearth::rng::Rng::new(9);
    for _ in 0..300 {
        let mut b = good.clone();
        // Corrupt a few bytes in the header/metadata region.
        for _ in 0..4 {
            let i = 4 + (rng.next_u32() as usize) % 4000.min(b.len() - 4);
            b[i] = rng.next_u32() as u8;
        }
        let _ = std::panic::catch_unwind(|| Model::load(b)).expect("loading corrupt bytes panicked");
    }
}

/// Where tensor `name`'s data offset field sits in `b` (its name string, then dims, type, offset).
fn offset_field(b: &[u8], name: &str, n_dims: usize) -> usize {
    let at = b.windows(name.len()).position(|w| w == name.as_bytes()).expect("tensor name in the header");
    at + name.len() + 4 + 8 * n_dims + 4
}

/// Two tensors whose data overlap (a forged file: llama.cpp wants them back to back) are refused; otherwise
/// rewriting one tensor's rows in place at load (wasm's regroup) would change the other.
#[test]
fn overlapping_tensor_data_is_refused() {
    let mut b = tiny_gguf(&TinySpec::default());
    let q = offset_field(&b, "blk.0.attn_q.weight", 2);
    let k = offset_field(&b, "blk.0.attn_k.weight", 2);
    let q_off = b[q..q + 8].to_vec();
    b[k..k + 8].copy_from_slice(&q_off);
    assert_err(b, &["overlaps tensor", "blk.0.attn_"]);
}

/// Metadata no model has, which only costs memory or hides mistakes: nested arrays, an empty key, an
/// alignment stored as another type than u32.
#[test]
fn odd_metadata_is_refused() {
    use hearth::gguf::Array;
    // A minimal file holding just that key: the header is refused before anything else is looked at.
    let with = |extra: (String, Value)| {
        write(&[extra], &[TensorData { name: "t".into(), dims: vec![32], ty: GgmlType::F32, data: vec![0; 128] }])
    };
    let e = load_err(with(("x.nested".into(), Value::Array(Array::Nested(vec![Array::Int(vec![1, 2].into())])))));
    assert!(e.contains("array of arrays"), "{e}");
    let e = load_err(with((String::new(), Value::U32(1))));
    assert!(e.contains("metadata key #0 is empty"), "{e}");
    let e = load_err(with(("general.alignment".into(), Value::U64(32))));
    assert!(e.contains("stores it as a u32"), "{e}");
    let e = load_err(with(("general.alignment".into(), Value::U32(3))));
    assert!(e.contains("not a power of two"), "{e}");
}
