//! The user-facing claims, checked on the real models that `make models` fetches: token ids identical to
//! llama.cpp's, perplexity within 2% of llama.cpp's, and sensible chat answers.

#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::sync::OnceLock;

use hearth::{GenerateParams, Message, Model, SamplerParams, Session};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_path(id: &str) -> PathBuf {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("models/manifest.json")).unwrap()).unwrap();
    let entry = manifest["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in the manifest"));
    let file = entry["files"][0]["name"].as_str().unwrap();
    let p = repo().join("models/cache").join(id).join(file);
    assert!(p.exists(), "{} is missing: run `make models`", p.display());
    p
}

fn load(id: &str) -> Model {
    Model::load(std::fs::read(model_path(id)).unwrap()).unwrap()
}

fn smollm() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| load("smollm2-135m-instruct"))
}

fn gemma() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| load("gemma3-270m"))
}

fn qwen() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| load("qwen2.5-coder-0.5b-instruct"))
}

fn reference(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo().join("tests/reference").join(name)).unwrap()).unwrap()
}

fn check_tokenizer_parity(id: &str, m: &Model) {
    let fixture = reference("tokenizer_fixture.json");
    let cases = fixture["models"][id].as_array().unwrap();
    assert!(cases.len() >= 40, "fixture for {id} has {} cases", cases.len());
    let mut failures = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let special = c["parse_special"].as_bool().unwrap();
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = m.tokenizer.encode(text, special);
        if got != want {
            failures.push(format!("{text:?} (special={special}):\n  llama.cpp {want:?}\n  hearth    {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{id}: {} of {} differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn smollm2_tokenizer_matches_llama_cpp() {
    check_tokenizer_parity("smollm2-135m-instruct", smollm());
}

#[test]
fn gemma3_tokenizer_matches_llama_cpp() {
    check_tokenizer_parity("gemma3-270m", gemma());
}

#[test]
fn qwen2_tokenizer_matches_llama_cpp() {
    check_tokenizer_parity("qwen2.5-coder-0.5b-instruct", qwen());
}

fn check_perplexity(id: &str, m: &Model) {
    let refs = reference("perplexity.json");
    let text_path = repo().join("target/ppl.txt");
    let text = std::fs::read(&text_path)
        .unwrap_or_else(|_| panic!("{} missing: run `make target/ppl.txt`", text_path.display()));
    assert_eq!(
        text.len() as u64,
        refs["text"]["bytes"].as_u64().unwrap(),
        "the perplexity text differs from the reference's"
    );
    let chunks = refs["chunks"].as_u64().unwrap() as usize;
    let want = refs["models"][id]["ppl"].as_f64().unwrap();
    let got =
        hearth::eval::perplexity::perplexity(m, std::str::from_utf8(&text).unwrap(), 512, Some(chunks), |_, _, _| {})
            .unwrap();
    let rel = (got.ppl - want).abs() / want;
    println!("{id}: hearth PPL {:.4}, llama.cpp {want:.4}, difference {:.2}%", got.ppl, rel * 100.0);
    assert_eq!(got.chunks, chunks);
    assert_eq!(got.scored_tokens, chunks * 255);
    assert!(rel < 0.02, "{id}: PPL {:.4} vs llama.cpp {want:.4} ({:.2}% apart)", got.ppl, rel * 100.0);
}

#[test]
fn smollm2_perplexity_within_2_percent_of_llama_cpp() {
    check_perplexity("smollm2-135m-instruct", smollm());
}

#[test]
fn gemma3_perplexity_within_2_percent_of_llama_cpp() {
    check_perplexity("gemma3-270m", gemma());
}

#[test]
fn qwen2_perplexity_within_2_percent_of_llama_cpp() {
    check_perplexity("qwen2.5-coder-0.5b-instruct", qwen());
}

fn check_chat_knows_the_capital_of_france(m: &Model) {
    let msgs = [
        Message::new("system", "You are a helpful assistant."),
        Message::new("user", "What is the capital of France?"),
    ];
    let prompt = m.chat_tokens(&msgs).unwrap();
    let mut s = Session::new(m, 2048);
    let mut streamed = String::new();
    let out = s
        .generate(
            m,
            &prompt,
            GenerateParams {
                max_tokens: 48,
                stop: vec![],
                ignore_eos: false,
                stop_repetition: false,
                sampler: SamplerParams::greedy(),
            },
            |p| {
                streamed.push_str(p);
                true
            },
        )
        .unwrap();
    println!("{:?} {:?}", out.text, out.stats);
    assert!(out.text.contains("Paris"), "answer: {:?}", out.text);
    assert_eq!(streamed, out.text);
    assert_eq!(out.stats.stop_reason, Some(hearth::StopReason::Eos), "a short answer ends with the end-of-turn token");
}

/// The same question asked again in one session gets the same greedy answer: the second prompt is all in
/// the cache, and recomputing its last token alone (the one-token matmuls) flipped SmolLM2's near tie
/// between "The" and "La" (0.08 logits apart) into "La femme de France, le Grand Croix…".
#[test]
fn smollm2_asked_the_same_question_again_answers_the_same() {
    let m = smollm();
    let msgs = [
        Message::new("system", "You are a helpful assistant."),
        Message::new("user", "What is the capital of France?"),
    ];
    let prompt = m.chat_tokens(&msgs).unwrap();
    let mut s = Session::new(m, 2048);
    let mut ask = || {
        let params = GenerateParams {
            max_tokens: 24,
            stop: vec![],
            ignore_eos: false,
            stop_repetition: false,
            sampler: SamplerParams::greedy(),
        };
        s.generate(m, &prompt, params, |_| true).unwrap()
    };
    let (first, again) = (ask(), ask());
    assert!(first.text.contains("Paris"), "first answer: {:?}", first.text);
    assert_eq!(again.text, first.text, "the same question again");
    assert_eq!(again.stats.cached_tokens, prompt.len(), "the whole prompt came from the cache");
}

#[test]
fn smollm2_chat_knows_the_capital_of_france() {
    check_chat_knows_the_capital_of_france(smollm());
}

#[test]
fn qwen2_chat_knows_the_capital_of_france() {
    check_chat_knows_the_capital_of_france(qwen());
}

/// llama.cpp's greedy continuations, fed through our model: each of its tokens must be our own greedy
/// choice or within a small logit margin of it. (Exact text equality is too brittle: float rounding
/// differs — ggml's f16 KV cache, its RoPE and GELU tables — so a near-tie may flip, after which greedy
/// texts part ways for good; a real bug puts llama.cpp's tokens far below our best.)
#[test]
fn llama_cpp_greedy_tokens_are_our_greedy_choices() {
    let refs = reference("generations.json");
    for case in refs["cases"].as_array().unwrap() {
        let m = match case["model"].as_str().unwrap() {
            "gemma3-270m" => gemma(),
            "qwen2.5-coder-0.5b-instruct" => qwen(),
            _ => smollm(),
        };
        let prompt_text = case["prompt"].as_str().unwrap();
        let want = case["continuation"].as_str().unwrap();
        let prompt = m.prompt_tokens(prompt_text);
        let cont = m.tokenizer.encode(want, false);
        let all: Vec<u32> = prompt.iter().chain(&cont).copied().collect();
        let mut cache = hearth::llm::kv_cache::KvCache::new(m.config(), 512);
        let mut scratch = hearth::llm::transformer::Scratch::default();
        let logits = m.transformer.forward(&mut scratch, &mut cache, &all, true).unwrap();
        let nv = m.config().n_vocab;
        let (mut same, mut worst) = (0, 0f32);
        for (i, &t) in cont.iter().enumerate() {
            let row = &logits[(prompt.len() + i - 1) * nv..(prompt.len() + i) * nv];
            let best = hearth::llm::sampler::argmax(row);
            let gap = row[best as usize] - row[t as usize];
            same += (best == t) as usize;
            worst = worst.max(gap);
        }
        println!(
            "{} {prompt_text:?}: {same} of {} tokens are our argmax; largest logit gap {worst:.3}",
            case["model"],
            cont.len()
        );
        assert!(
            worst < 1.0,
            "{} {prompt_text:?}: a llama.cpp token is {worst:.3} logits below our best",
            case["model"]
        );
        assert!(same * 10 >= cont.len() * 8, "{} {prompt_text:?}: only {same} of {} agree", case["model"], cont.len());
    }
    assert_eq!(gemma().prompt_tokens("x")[0], gemma().tokenizer.bos.unwrap(), "gemma adds BOS");
}

#[test]
fn a_prompt_longer_than_the_context_is_a_clear_error() {
    let m = smollm();
    let prompt = m.prompt_tokens(&"word ".repeat(600));
    let e = Session::new(m, 256).begin(m, &prompt, GenerateParams::default()).unwrap_err().to_string();
    assert!(e.contains("context window is 256 tokens"), "{e}");
}

#[test]
fn truncated_real_model_names_the_tensor() {
    let bytes = std::fs::read(model_path("smollm2-135m-instruct")).unwrap();
    let cut = bytes.len() / 2;
    let e = Model::load(bytes[..cut].to_vec()).err().unwrap().to_string();
    assert!(e.contains("runs past the end of the file") && e.contains("tensor `"), "{e}");
}

/// The RAG claim on the real models: the embedder finds the one passage that holds a made-up fact among
/// distractors, SmolLM2 answers from it, and the answer's sentence cites that passage.
#[test]
fn smollm2_answers_from_a_retrieved_passage_and_cites_it() {
    use hearth::rag::{cite, prompt_tokens, RagOptions};
    use hearth::retrieval::chunker::ChunkSpec;
    use hearth::retrieval::embedder::{Embedder, Precision};
    use hearth::retrieval::format::Format;
    use hearth::retrieval::index::SearchOptions;
    use hearth::retrieval::Passage;
    use hearth::retrieval::{Library, RawDocument};

    let e = Embedder::from_dir(&repo().join("models/cache/minilm-l6-v2"), Precision::F32).unwrap();
    let docs = [
        ("larkspur-office.md", "# Larkspur office handbook\n\nThe Larkspur office is on the third floor of the Meridian building. Visitors sign in at the front desk.\n\nThe wifi network of the Larkspur office is called Larkspur-Guest and its password is heliotrope-42.\n\nThe kitchen is cleaned every Friday afternoon."),
        ("travel-policy.txt", "Travel policy. Employees book trains at least two weeks before travel through the travel desk. Hotel costs are refunded up to 140 euros per night."),
        ("it-support.txt", "Lost laptops are reported to the IT desk within a day. Laptops are replaced every four years. Printers are on every floor."),
    ];
    let docs = docs
        .iter()
        .map(|(id, text)| RawDocument {
            id: id.to_string(),
            title: String::new(),
            text: text.to_string(),
            format: Format::from_name(id),
            tags: vec![],
        })
        .collect();
    let mut library = Library::new(e, ChunkSpec::default());
    library.add_documents(docs, |_, _| {}).unwrap();
    let Library { embedder: e, index, .. } = library;

    let q = "What is the wifi password of the Larkspur office?";
    let qv = e.embed(&[q]).unwrap().remove(0);
    let hits = index.search(q, Some(&qv), &SearchOptions { k: 4, ..SearchOptions::default() }).unwrap();
    assert_eq!(hits[0].doc_id, "larkspur-office.md");
    let passages: Vec<Passage> = hits
        .iter()
        .map(|h| {
            let d = index.document(&h.doc_id).unwrap();
            Passage {
                doc_id: h.doc_id.clone(),
                title: d.title.clone(),
                text: d.text[h.start..h.end].into(),
                chunk: h.chunk,
                start: h.start,
                end: h.end,
                score: h.score,
            }
        })
        .collect();
    let m = smollm();
    let o = RagOptions {
        generate: GenerateParams {
            max_tokens: 60,
            sampler: SamplerParams { temperature: 0.0, ..SamplerParams::default() },
            ..GenerateParams::default()
        },
        ..RagOptions::default()
    };
    let (prompt, used) = prompt_tokens(m, q, &passages, &o, 2048).unwrap();
    assert!(used >= 1);
    let out = Session::new(m, 2048).generate(m, &prompt, o.generate.clone(), |_| true).unwrap();
    assert!(out.text.contains("heliotrope-42"), "{}", out.text);
    let segments = cite(&out.text, &passages[..used]);
    let with_fact = segments.iter().find(|s| s.text.contains("heliotrope-42")).unwrap();
    assert!(with_fact.citations.iter().any(|&c| passages[c - 1].doc_id == "larkspur-office.md"), "{segments:?}");
}

/// The browser's two-worker mode (the model's rows split between two shards) computes exactly what the
/// whole model does on the real SmolLM2: the same logits, bit for bit, for a prompt and a few decoded tokens.
#[test]
fn smollm2_split_across_two_shards_gives_identical_logits() {
    use hearth::llm::kv_cache::KvCache;
    use hearth::llm::transformer::Scratch;
    let bytes = std::fs::read(model_path("smollm2-135m-instruct")).unwrap();
    let split = hearth::testutil::load_split(&bytes, 2, 1 << 20, None).unwrap();
    let whole = smollm();
    assert!(
        split.transformer.weight_bytes() * 10 < whole.transformer.weight_bytes() * 6,
        "shard 0 should hold about half"
    );
    let prompt = whole
        .chat_tokens(&[Message { role: "user".into(), content: "What is the capital of France?".into() }])
        .unwrap();
    let c = whole.config();
    let (mut sa, mut sb) = (Scratch::default(), Scratch::default());
    let (mut ka, mut kb) = (KvCache::new(c, 256), KvCache::new(c, 256));
    // The prompt in the batches a session uses (the split model's passes are that long at most): a batch's
    // size decides its matmul path (f32 over dequantised tiles, or int8 under 16 tokens).
    let batches = prompt.chunks(hearth::llm::session::PREFILL_BATCH);
    assert!(batches.clone().any(|c| c.len() >= 16), "a batch takes the dequantised path");
    let mut step = |toks: &[u32], what: &str| {
        let la = whole.transformer.forward(&mut sa, &mut ka, toks, false).unwrap().to_vec();
        let lb = split.transformer.forward(&mut sb, &mut kb, toks, false).unwrap();
        assert!(la.iter().zip(lb).all(|(x, y)| x.to_bits() == y.to_bits()), "logits differ at {what}");
        la.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as u32
    };
    let mut next = 0;
    for (i, part) in batches.enumerate() {
        next = step(part, &format!("prompt batch {i}"));
    }
    for i in 0..4 {
        next = step(&[next], &format!("decoded token {i}"));
    }
}
