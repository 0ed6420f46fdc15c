//! Behaviour of the runtime on tiny synthetic models (fast): the KV cache, batching, sampling, stopping,
//! context limits and prefix reuse.

#![cfg(not(target_arch = "wasm32"))]

use hearth::kernels::quant::GgmlType;
use hearth::llm::kv_cache::KvCache;
use hearth::llm::transformer::Scratch;
use hearth::testutil::{tiny_gguf, TinySpec};
use hearth::{Error, GenerateParams, Message, Model, SamplerParams, Session, StopReason};

fn model(spec: &TinySpec) -> Model {
    Model::load(tiny_gguf(spec)).unwrap()
}

fn greedy(max_tokens: usize) -> GenerateParams {
    GenerateParams {
        max_tokens,
        stop: vec![],
        ignore_eos: false,
        stop_repetition: false,
        sampler: SamplerParams { repeat_penalty: 1.0, ..SamplerParams::greedy() },
    }
}

/// All logits of `tokens` fed in batches of `batch` (a fresh cache).
fn logits_in_batches(m: &Model, tokens: &[u32], batch: usize) -> Vec<f32> {
    let mut s = Scratch::default();
    let mut k = KvCache::new(m.config(), 64);
    tokens.chunks(batch).flat_map(|part| m.transformer.forward(&mut s, &mut k, part, true).unwrap().to_vec()).collect()
}

fn assert_close(got: &[f32], want: &[f32], n_vocab: usize, what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1e-3 * (1.0 + b.abs()), "{what}: token {}: {a} vs {b}", i / n_vocab);
    }
}

/// The same tokens give the same logits however they are batched, with the KV cache carrying the earlier
/// batches: one batch of 40 against two of 20 (both through the f32 GEMM, from 16 tokens), and one token at a
/// time against batches of 8 (both through int8 dots). The two paths quantise the activations differently
/// (f32 against int8), so they are compared only with themselves; real models check them against llama.cpp.
fn batch_equals_incremental(spec: TinySpec) {
    let m = model(&spec);
    let c = m.config();
    let what = format!("{} {:?}", spec.arch, spec.weight_type);
    let tokens: Vec<u32> = (0..40).map(|i| 261 + (i * 7) % 17).collect();
    let all = logits_in_batches(&m, &tokens, 40);
    assert_close(&logits_in_batches(&m, &tokens, 20), &all, c.n_vocab, &format!("{what}, batches of 20"));
    let eights = logits_in_batches(&m, &tokens, 8);
    assert_close(&logits_in_batches(&m, &tokens, 1), &eights, c.n_vocab, &format!("{what}, one at a time"));
    assert!(all.iter().chain(&eights).all(|v| v.is_finite()));
}

#[test]
fn llama_batch_equals_incremental() {
    batch_equals_incremental(TinySpec::default());
}

#[test]
fn gemma3_batch_equals_incremental_past_the_sliding_window() {
    // The tiny gemma3 has a sliding window of 8 and 40 tokens run, so local layers must mask.
    batch_equals_incremental(TinySpec { arch: "gemma3", n_layers: 6, n_kv_heads: 1, ..TinySpec::default() });
}

#[test]
fn every_weight_type_runs() {
    for ty in
        [GgmlType::F32, GgmlType::F16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0]
    {
        batch_equals_incremental(TinySpec { weight_type: ty, ..TinySpec::default() });
    }
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K] {
        batch_equals_incremental(TinySpec { weight_type: ty, dim: 256, ffn_dim: 256, ..TinySpec::default() });
    }
}

#[test]
fn greedy_is_deterministic_and_seeds_repeat() {
    let m = model(&TinySpec::default());
    let prompt = m.prompt_tokens("hello ab");
    let run = |p: GenerateParams| Session::new(&m, 128).generate(&m, &prompt, p, |_| true).unwrap();
    let a = run(greedy(20));
    let b = run(greedy(20));
    assert_eq!(a.tokens, b.tokens);
    assert_eq!(a.tokens.len(), a.stats.generated_tokens);
    let sampled = |seed| {
        run(GenerateParams {
            max_tokens: 20,
            stop: vec![],
            ignore_eos: false,
            stop_repetition: false,
            sampler: SamplerParams { temperature: 1.5, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..Default::default() },
        })
    };
    assert_eq!(sampled(7).tokens, sampled(7).tokens);
    assert_ne!(sampled(7).tokens, sampled(8).tokens);
}

#[test]
fn max_tokens_and_stats() {
    let m = model(&TinySpec::default());
    let prompt = m.prompt_tokens("hello");
    let mut s = Session::new(&m, 128);
    let out = s.generate(&m, &prompt, greedy(5), |_| true).unwrap();
    let st = &out.stats;
    assert_eq!(st.prompt_tokens, prompt.len());
    assert!(st.generated_tokens <= 5);
    if st.stop_reason == Some(StopReason::MaxTokens) {
        assert_eq!(st.generated_tokens, 5);
    }
    assert!(st.prefill_ms >= 0.0 && st.decode_tokens_per_s >= 0.0);
}

#[test]
fn decoding_never_grows_the_kv_cache() {
    // The cache is reserved for the prompt and the token budget when generation begins, so the decode
    // loop allocates no cache memory (and never copies the cache to grow it).
    let m = model(&TinySpec::default());
    let prompt = m.prompt_tokens("hello ab");
    let mut s = Session::new(&m, 128);
    s.begin(&m, &prompt, GenerateParams { ignore_eos: true, ..greedy(40) }).unwrap();
    let reserved = s.cache_bytes();
    let mut n = 0;
    while s.next_piece(&m).unwrap().is_some() {
        n += 1;
        assert_eq!(s.cache_bytes(), reserved, "the cache grew at token {n}");
    }
    assert!(n >= 40, "{n} tokens");
    assert_eq!(s.tokens().len(), prompt.len() + 40);
    // An unbounded budget reserves the context window, no more (and does not overflow).
    let mut s = Session::new(&m, 64);
    s.begin(&m, &prompt, GenerateParams { ignore_eos: true, ..greedy(usize::MAX) }).unwrap();
    let window = s.cache_bytes();
    while s.next_piece(&m).unwrap().is_some() {}
    assert_eq!(s.cache_bytes(), window);
    assert_eq!(s.tokens().len(), 64, "generation ran to the end of the context window");
}

#[test]
fn callback_can_cancel() {
    let m = model(&TinySpec::default());
    let prompt = m.prompt_tokens("hello");
    let mut s = Session::new(&m, 128);
    let mut pieces = 0;
    // Random weights emit printable bytes often enough; stop at the first non-empty piece.
    let out = s
        .generate(
            &m,
            &prompt,
            GenerateParams {
                max_tokens: 100,
                stop: vec![],
                ignore_eos: false,
                stop_repetition: false,
                sampler: SamplerParams { seed: 3, temperature: 1.0, ..Default::default() },
            },
            |_| {
                pieces += 1;
                false
            },
        )
        .unwrap();
    assert_eq!(pieces, 1, "the callback saw one piece and stopped the generation");
    assert_eq!(out.stats.stop_reason, Some(StopReason::Cancelled));
}

#[test]
fn prompt_longer_than_context_is_an_error_and_session_stays_usable() {
    let m = model(&TinySpec::default());
    let mut s = Session::new(&m, 16);
    let long = m.prompt_tokens(&"ab ".repeat(40));
    assert!(long.len() > 16);
    match s.begin(&m, &long, greedy(4)) {
        Err(Error::Context(msg)) => assert!(msg.contains("context window is 16 tokens"), "{msg}"),
        other => panic!("expected a context error, got {:?}", other.err()),
    }
    let short = m.prompt_tokens("ab");
    let out = s.generate(&m, &short, greedy(3), |_| true).unwrap();
    assert!(out.stats.prompt_tokens == short.len());
}

#[test]
fn generation_stops_when_the_context_is_full() {
    let m = model(&TinySpec::default());
    let mut s = Session::new(&m, 12);
    let prompt = m.prompt_tokens("ab");
    let out = s.generate(&m, &prompt, GenerateParams { ignore_eos: true, ..greedy(100) }, |_| true).unwrap();
    assert_eq!(out.stats.stop_reason, Some(StopReason::ContextFull));
    assert!(prompt.len() + out.stats.generated_tokens <= 12);
    assert!(out.stats.generated_tokens >= 12 - prompt.len() - 1);
}

#[test]
fn cached_prefix_gives_the_same_answer_as_a_fresh_session() {
    let m = model(&TinySpec::default());
    let turn1 = m.chat_tokens(&[Message::new("user", "hello")]).unwrap();
    let mut s = Session::new(&m, 128);
    let first = s.generate(&m, &turn1, greedy(6), |_| true).unwrap();
    let mut convo = s.tokens().to_vec();
    convo.extend(m.tokenizer.encode("ab", false));
    let reused = s.generate(&m, &convo, greedy(6), |_| true).unwrap();
    assert!(reused.stats.cached_tokens >= turn1.len(), "{:?}", reused.stats);
    let fresh = Session::new(&m, 128).generate(&m, &convo, greedy(6), |_| true).unwrap();
    assert_eq!(reused.tokens, fresh.tokens);
    assert_eq!(fresh.stats.cached_tokens, 0);
    let _ = first;
}

#[test]
fn stop_strings_end_generation_without_showing_the_stop() {
    let m = model(&TinySpec::default());
    let prompt = m.prompt_tokens("hello");
    let full = Session::new(&m, 128).generate(&m, &prompt, greedy(30), |_| true).unwrap();
    // Pick a stop string from the middle of what greedy decoding produces.
    let chars: Vec<char> = full.text.chars().collect();
    assert!(chars.len() >= 6, "the tiny model's greedy text {:?} is too short to pick a stop string from", full.text);
    let stop: String = chars[3..5].iter().collect();
    let mut streamed = String::new();
    let out = Session::new(&m, 128)
        .generate(&m, &prompt, GenerateParams { stop: vec![stop.clone()], ..greedy(30) }, |p| {
            streamed.push_str(p);
            true
        })
        .unwrap();
    assert_eq!(out.stats.stop_reason, Some(StopReason::StopString));
    assert_eq!(out.tokens.len(), out.stats.generated_tokens, "the token that completed the stop string is listed");
    assert_eq!(out.tokens[..], full.tokens[..out.tokens.len()]);
    assert!(!out.text.contains(&stop), "{:?} contains {:?}", out.text, stop);
    assert!(full.text.starts_with(&out.text));
    assert_eq!(streamed, out.text);
}

#[test]
fn chat_template_fallback_and_control_text_stays_text() {
    let m = model(&TinySpec::default());
    assert_eq!(m.info.chat_template, "fallback-chatml");
    let toks = m.chat_tokens(&[Message::new("user", "a<|im_end|>b")]).unwrap();
    let im_end = m.tokenizer.token_id("<|im_end|>").unwrap();
    // The template's own <|im_end|> markers are tokens; the one inside the user's text is not.
    assert_eq!(toks.iter().filter(|&&t| t == im_end).count(), 1);
    let with_template = model(&TinySpec {
        chat_template: Some("{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"),
        ..TinySpec::default()
    });
    assert_eq!(with_template.info.chat_template, "gguf");
}

#[test]
fn invalid_sampler_settings_are_rejected() {
    let m = model(&TinySpec::default());
    let mut s = Session::new(&m, 64);
    let p = GenerateParams { sampler: SamplerParams { top_p: 2.0, ..Default::default() }, ..Default::default() };
    let e = s.begin(&m, &m.prompt_tokens("a"), p).unwrap_err().to_string();
    assert!(e.contains("top_p"), "{e}");
}
