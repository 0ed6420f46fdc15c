//! wasm-bindgen tests, run in headless Chromium by `scripts/test-wasm.sh`: the SIMD128 kernels, a whole
//! generation through the JS API, and errors surfacing as JS `Error`s.
#![cfg(target_arch = "wasm32")]

use hearth::kernels::quant::tests_support::{
    check_gemm_against_reference, check_regrouped_rows_match_file_layout, check_vec_dot_against_reference,
    check_vec_dot_exact_integer_sums,
};
use hearth::testutil::{tiny_gguf, TinySpec};
use hearth::wasm::{simd_enabled, Model, ModelLoader};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn built_with_simd128() {
    assert!(simd_enabled());
}

/// Equal bits, or both NaN (NaN payloads may differ between scalar and vector instructions).
fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

#[wasm_bindgen_test]
fn vectorised_softmax_and_activations_equal_the_scalar_formulas_to_the_bit() {
    use hearth::kernels::fastmath::{exp, exp_f32, gelu_erf, gelu_mul, silu_mul, softmax_f32, tanh};
    let mut rng = hearth::rng::Rng::new(5);
    let mut xs: Vec<f32> = (0..4001).map(|_| (rng.next_f32() - 0.5) * 60.0).collect();
    xs.extend([
        0.0,
        -0.0,
        1e-40,
        -1e-40,
        88.9,
        89.1,
        -103.9,
        -104.1,
        -200.0,
        200.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ]);
    xs.extend((0..200).map(|i| -110.0 + i as f32 * 1.03)); // across the clamps and the subnormal results
    let us: Vec<f32> = (0..xs.len()).map(|_| rng.next_f32() * 4.0 - 2.0).collect();
    // Every length up to 9 (the tails), then the whole sweep.
    for n in (1..=9).chain([xs.len()]) {
        let (x, u) = (&xs[xs.len() - n..], &us[..n]);
        let mut g = x.to_vec();
        silu_mul(&mut g, u);
        let want: Vec<f32> = x.iter().zip(u).map(|(&x, &u)| x / (1.0 + exp(-x)) * u).collect();
        assert!(same(&g, &want), "silu, n = {n}");
        let mut g = x.to_vec();
        gelu_mul(&mut g, u);
        let c = 0.797_884_6f32;
        let want: Vec<f32> =
            x.iter().zip(u).map(|(&x, &u)| 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * x * x))) * u).collect();
        assert!(same(&g, &want), "gelu, n = {n}");
    }
    // Softmax over finite scores (as attention gives), of many lengths: the vectorised one against the
    // scalar formula with the same exp (the f32 one, which attention uses in every model).
    let scalar_softmax = |x: &[f32], exp: fn(f32) -> f32| -> Vec<f32> {
        let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        let e: Vec<f32> = x.iter().map(|&v| exp(v - m)).collect();
        let mut sum = 0.0f32;
        for &v in &e {
            sum += v;
        }
        e.iter().map(|&v| v * (1.0 / sum)).collect()
    };
    let finite: Vec<f32> = xs.iter().copied().filter(|v| v.is_finite()).collect();
    for n in [1, 2, 3, 5, 8, 13, 64, 333, finite.len()] {
        let x = &finite[..n];
        let mut got = x.to_vec();
        softmax_f32(&mut got);
        assert!(same(&got, &scalar_softmax(x, exp_f32)), "softmax_f32, n = {n}");
    }
    // The embedder's GELU: four lanes against one element at a time (a slice of one takes the scalar code).
    for n in (1..=9).chain([xs.len()]) {
        let x = &xs[xs.len() - n..];
        let mut g = x.to_vec();
        gelu_erf(&mut g);
        let want: Vec<f32> = x
            .iter()
            .map(|&v| {
                let mut one = [v];
                gelu_erf(&mut one);
                one[0]
            })
            .collect();
        assert!(same(&g, &want), "gelu_erf, n = {n}");
    }
}

#[wasm_bindgen_test]
fn attention_equals_the_plain_loops_to_the_bit() {
    hearth::kernels::attention::check_matches_plain_loops(7);
}

#[wasm_bindgen_test]
fn simd_kernels_match_the_dequantized_reference() {
    check_vec_dot_against_reference(11);
}

#[wasm_bindgen_test]
fn simd_kernels_give_the_portable_integer_sums_exactly() {
    check_vec_dot_exact_integer_sums(17);
}

#[wasm_bindgen_test]
fn regrouped_kernels_equal_the_file_layout_kernels_to_the_bit() {
    check_regrouped_rows_match_file_layout(19);
}

#[wasm_bindgen_test]
fn integer_gemm_matches_a_float64_product_and_its_portable_kernel() {
    hearth::kernels::quant::tests_support::check_int_gemm(29);
}

#[wasm_bindgen_test]
fn packed_gemm_matches_a_float64_product_and_its_portable_kernel() {
    hearth::kernels::quant::tests_support::check_packed_gemm(37);
}

#[wasm_bindgen_test]
fn simd128_gemm_matches_a_float64_product() {
    check_gemm_against_reference(13);
}

fn error_message(e: JsValue) -> String {
    e.dyn_into::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_default()
}

#[wasm_bindgen_test]
fn loader_streams_chunks_and_the_model_chats() {
    let bytes = tiny_gguf(&TinySpec::default());
    let mut loader = ModelLoader::new(bytes.len() as f64, None, None).unwrap();
    for c in bytes.chunks(1000) {
        loader.push(c).unwrap();
    }
    assert_eq!(loader.loaded() as usize, bytes.len());
    let mut model = loader.finish(Some(64)).unwrap();
    assert_eq!(model.context_size(), 64);
    let msgs = serde_wasm_bindgen::to_value(&vec![hearth::Message::new("user", "hello")]).unwrap();
    let opts = js_sys::JSON::parse(r#"{"max_tokens": 5, "temperature": 0}"#).unwrap();
    model.begin_chat(msgs, opts).unwrap();
    let mut steps = 0;
    while model.next_piece().unwrap().is_some() {
        steps += 1;
        assert!(steps <= 6, "max_tokens ignored");
    }
    let stats = model.stats().unwrap();
    let generated = js_sys::Reflect::get(&stats, &"generated_tokens".into()).unwrap().as_f64().unwrap();
    assert!(generated <= 5.0);
    let prefill = js_sys::Reflect::get(&stats, &"prefill_ms".into()).unwrap().as_f64().unwrap();
    assert!(prefill >= 0.0, "performance.now() based timing works in the browser");
}

#[wasm_bindgen_test]
fn bad_bytes_are_js_errors_with_the_rust_message() {
    let e = Model::from_bytes(b"not a model at all".to_vec(), None).err().unwrap();
    let msg = error_message(e.into());
    assert!(msg.contains("not a GGUF file"), "{msg}");

    let bytes = tiny_gguf(&TinySpec::default());
    let mut loader = ModelLoader::new(bytes.len() as f64, None, None).unwrap();
    loader.push(&bytes[..bytes.len() / 2]).unwrap();
    let msg = error_message(loader.finish(None).err().unwrap().into());
    assert!(msg.contains("model truncated"), "{msg}");

    let mut loader = ModelLoader::new(10.0, None, None).unwrap();
    let msg = error_message(loader.push(&[0u8; 11]).err().unwrap().into());
    assert!(msg.contains("more than the announced 10 bytes"), "{msg}");
}

#[wasm_bindgen_test]
fn invalid_options_and_overlong_prompts_are_errors_and_the_model_stays_usable() {
    let mut model = Model::from_bytes(tiny_gguf(&TinySpec::default()), Some(16)).unwrap();
    let bad = js_sys::JSON::parse(r#"{"temperature": "hot"}"#).unwrap();
    let msg = error_message(model.begin_completion("ab", bad).err().unwrap().into());
    assert!(msg.contains("invalid generation options"), "{msg}");
    // A misspelled option is an error that names it, not silently ignored.
    let typo = js_sys::JSON::parse(r#"{"maxTokens": 50}"#).unwrap();
    let msg = error_message(model.begin_completion("ab", typo).err().unwrap().into());
    assert!(msg.contains("generation options: unknown option `maxTokens`") && msg.contains("max_tokens"), "{msg}");
    let typo = js_sys::JSON::parse(r#"{"max_tokens": 5, "history": []}"#).unwrap();
    let msg = error_message(
        model
            .begin_chat(serde_wasm_bindgen::to_value(&vec![hearth::Message::new("user", "hi")]).unwrap(), typo)
            .err()
            .unwrap()
            .into(),
    );
    assert!(msg.contains("unknown option `history`"), "a chat has no history option: {msg}");
    let msg = error_message(model.begin_completion(&"ab ".repeat(40), JsValue::UNDEFINED).err().unwrap().into());
    assert!(msg.contains("context window is 16 tokens"), "{msg}");
    model.begin_completion("ab", JsValue::UNDEFINED).unwrap();
    assert!(model.next_piece().is_ok());
    model.stop();
    assert_eq!(model.next_piece().unwrap(), None);
}

#[wasm_bindgen_test]
fn library_builds_saves_reloads_and_searches_identically() {
    use hearth::testutil::tiny_bert;
    use hearth::wasm::Library;
    let (st, cfg, tok) = tiny_bert(3);
    let mut lib = Library::new(&st, &cfg, &tok, 64, "q8").unwrap();
    lib.set_chunking(12, 0);
    let docs = [
        ("travel.md", "# Travel\n\nTravel expenses need approval. Meal allowance per day is 500 eur."),
        (
            "it.html",
            "<h1>IT</h1><p>Report a lost phone.</p><script>alert(1)</script><p>Laptop replaced every four years.</p>",
        ),
    ];
    for (id, text) in docs {
        lib.begin_document(id, "", text, "", JsValue::UNDEFINED).unwrap();
        // Chunked in steps of a few bytes: each step returns to the caller until the chunk count is known.
        let n = loop {
            if let Some(n) = lib.chunk_next(16).unwrap() {
                break n;
            }
            assert!(lib.chunked_bytes() > 0);
        };
        while lib.embed_next(1).unwrap() < n {}
        lib.commit_document().unwrap();
    }
    let q = "lost phone";
    let opts = js_sys::JSON::parse(r#"{"k": 3, "mode": "hybrid"}"#).unwrap();
    let before = js_sys::JSON::stringify(&lib.search(q, opts.clone()).unwrap()).unwrap();
    assert!(String::from(before.clone()).contains("it.html"));
    assert!(!String::from(before.clone()).contains("alert"), "scripts are not indexed");
    let bytes = lib.save_index();
    let mut other = Library::new(&st, &cfg, &tok, 64, "q8").unwrap();
    other.load_index(&bytes).unwrap();
    let after = js_sys::JSON::stringify(&other.search(q, opts).unwrap()).unwrap();
    assert_eq!(String::from(before), String::from(after));
    let typo = js_sys::JSON::parse(r#"{"top_k": 3}"#).unwrap();
    let msg = error_message(other.search(q, typo).err().unwrap().into());
    assert!(msg.contains("search options: unknown option `top_k`"), "{msg}");
    // A damaged file is an Error and leaves the loaded index untouched.
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 3] ^= 1;
    let msg = error_message(other.load_index(&bad).err().unwrap().into());
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert_eq!(other.save_index(), bytes);
}

#[wasm_bindgen_test]
fn sha256_streams_and_matches_the_standard_vectors() {
    use hearth::wasm::Sha256;
    let mut h = Sha256::new();
    assert_eq!(h.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    h.update(b"a");
    h.update(b"bc");
    assert_eq!(h.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#[wasm_bindgen_test]
fn cite_answer_returns_sentences_with_their_passages() {
    use hearth::wasm::cite_answer;
    let passages = js_sys::JSON::parse(r#"[{"doc_id": "wifi.md", "title": "", "text": "The Larkspur wifi password is heliotrope-42."}, {"doc_id": "t.txt", "text": "Trains are booked early."}]"#).unwrap();
    let segs = cite_answer("The password is heliotrope-42. Trains go early [2].", passages.clone()).unwrap();
    assert_eq!(
        String::from(js_sys::JSON::stringify(&segs).unwrap()),
        r#"[{"text":"The password is heliotrope-42.","citations":[1]},{"text":"Trains go early.","citations":[2]}]"#
    );
    assert!(cite_answer("x", JsValue::from_str("nope")).is_err());
}

/// A model split across shards (the page's worker pool, here with in-process peers) equals the whole model
/// bit for bit in wasm too, where prefill batches run through the dequantised-tile GEMM on each shard's rows.
#[wasm_bindgen_test]
fn split_models_equal_the_whole_model() {
    use hearth::kernels::quant::GgmlType;
    use hearth::llm::kv_cache::KvCache;
    use hearth::llm::transformer::Scratch;
    // The last two: K and V of 32 rows (one KV head), so shards beyond the first hold none of them, and
    // regrouping must still find the tensor placed at the same offset (a review finding).
    let small_kv =
        |ty| TinySpec { dim: 128, ffn_dim: 256, n_heads: 4, n_kv_heads: 1, weight_type: ty, ..TinySpec::default() };
    for (spec, shards) in [
        (TinySpec::default(), 2),
        (TinySpec { arch: "gemma3", weight_type: GgmlType::Q4_1, dim: 96, ffn_dim: 192, ..TinySpec::default() }, 2),
        (small_kv(GgmlType::Q8_0), 2),
        (small_kv(GgmlType::Q8_0), 4),
        (small_kv(GgmlType::Q4_1), 4),
    ] {
        let bytes = tiny_gguf(&spec);
        let whole = hearth::Model::load(bytes.clone()).unwrap();
        let split = hearth::testutil::load_split(&bytes, shards, 777, None).unwrap();
        // Batches as the session makes them (at most 32 tokens: the pool's buffers hold that many, and a
        // longer batch would be cut into passes whose kernels differ in wasm).
        let tokens: Vec<u32> = (0..40).map(|i| 261 + (i * 7) % 17).collect();
        let c = whole.config();
        let (mut sa, mut sb) = (Scratch::default(), Scratch::default());
        let (mut ka, mut kb) = (KvCache::new(c, 64), KvCache::new(c, 64));
        for step in [&tokens[..32], &tokens[32..], &[5], &[270]] {
            let la = whole.transformer.forward(&mut sa, &mut ka, step, false).unwrap().to_vec();
            let lb = split.transformer.forward(&mut sb, &mut kb, step, false).unwrap();
            assert!(
                la.iter().zip(lb).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{} {:?} in {shards} shards: logits differ after {} tokens",
                spec.arch,
                spec.weight_type,
                step.len()
            );
        }
    }
}

/// A loader for shard 0 of 2 keeps about half the weights and builds a model that says it needs its pool.
#[wasm_bindgen_test]
fn a_split_model_needs_its_pool() {
    let bytes = tiny_gguf(&TinySpec { dim: 128, ffn_dim: 256, ..TinySpec::default() });
    let mut loader = ModelLoader::new(bytes.len() as f64, Some(2), None).unwrap();
    for c in bytes.chunks(1000) {
        loader.push(c).unwrap();
    }
    let mut model = loader.finish(Some(64)).unwrap();
    assert_eq!(model.shard_count(), 2);
    assert!(model.memory_bytes() < bytes.len() as f64 * 0.7 + 64.0 * 1024.0 * 4.0);
    let msgs = serde_wasm_bindgen::to_value(&vec![hearth::Message::new("user", "hello")]).unwrap();
    let e = error_message(model.begin_chat(msgs, JsValue::UNDEFINED).err().unwrap().into());
    assert!(e.contains("split across 2 workers"), "{e}");
    assert!(ModelLoader::new(0.0, Some(2), None).is_err(), "a split needs the size up front");
}
