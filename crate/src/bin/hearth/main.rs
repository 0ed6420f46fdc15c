//! The `hearth` command line: the same runtime as the browser build, natively.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    if let Err(e) = cli::run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use clap::{Args, Parser, Subcommand};
    use hearth::rag::{Prepared, RagOptions};
    use hearth::retrieval::chunker::ChunkSpec;
    use hearth::retrieval::embedder::Embedder;
    use hearth::retrieval::index::{Fusion, Index, Mode, SearchOptions};
    use hearth::retrieval::Library;
    use hearth::retrieval::Passage;
    use hearth::{GenerateParams, Message, Model, SamplerParams, Session};

    #[derive(Parser)]
    #[command(
        name = "hearth",
        version,
        about = "Private small language models: GGUF runtime (the CLI of the in-browser library)"
    )]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(Subcommand)]
    enum Cmd {
        /// Generate text from a prompt or a one-message chat.
        Generate(GenerateArgs),
        /// Print the token ids of a text as a JSON array (no BOS, special-token text kept as text by default).
        Tokenize {
            #[arg(long)]
            model: PathBuf,
            #[arg(long)]
            text: String,
            /// Add the BOS token first.
            #[arg(long)]
            bos: bool,
            /// Turn special-token text such as `<|im_start|>` into the special token.
            #[arg(long)]
            special: bool,
        },
        /// Perplexity of a text, computed like llama.cpp's llama-perplexity; ends with `PPL = <value>`.
        Perplexity {
            #[arg(long)]
            model: PathBuf,
            #[arg(long)]
            file: PathBuf,
            #[arg(long, default_value_t = 512)]
            ctx: usize,
            /// Evaluate at most this many chunks.
            #[arg(long)]
            chunks: Option<usize>,
            /// Also print the result as one JSON line.
            #[arg(long)]
            json: bool,
        },
        /// Time prefill and decode: a fixed prompt of N tokens, then M greedy tokens, several runs.
        Bench {
            /// The model to run (required unless --kernels).
            #[arg(long, required_unless_present = "kernels")]
            model: Option<PathBuf>,
            #[arg(long, default_value_t = 200)]
            prompt_tokens: usize,
            #[arg(long, default_value_t = 128)]
            gen_tokens: usize,
            #[arg(long, default_value_t = 3)]
            runs: usize,
            /// Print one JSON object with every run instead of a summary line.
            #[arg(long)]
            json: bool,
            /// Instead of a model, time the matmul kernels of each weight type of our models against their
            /// bound: decode over a 64 MB matrix against a plain read of the same bytes, and a 128-token
            /// prefill batch in multiply-adds per second; then attention over a 512-position cache with the
            /// head layouts of SmolLM2 and Gemma 3. One JSON line per type and layout with --json.
            #[arg(long)]
            kernels: bool,
        },
        /// Build or search a retrieval index.
        #[command(subcommand)]
        Index(IndexCmd),
        /// Answer a question from an index: retrieve passages, prompt the model with them numbered, print
        /// the answer with its citations.
        Ask(AskArgs),
        /// Answer quality on SQuAD-format data (make eval-rag): retrieval, evidence, answers, citations,
        /// abstention and time per question; a Markdown row and (with --json) one JSON line.
        EvalRag(EvalRagArgs),
        /// BEIR evaluation (nDCG@10, Recall@10/100, latency) of bm25, dense and hybrid search.
        Eval {
            /// A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.
            #[arg(long)]
            data: PathBuf,
            #[arg(long, default_value = "test")]
            split: String,
            #[command(flatten)]
            emb: EmbedderArgs,
            /// Reuse (or create) this index file instead of rebuilding each run.
            #[arg(long)]
            index: Option<PathBuf>,
            #[command(flatten)]
            fusion: FusionArgs,
            /// Also print one JSON line per mode.
            #[arg(long)]
            json: bool,
            /// Modes to evaluate, comma-separated.
            #[arg(long, default_value = "bm25,dense,hybrid")]
            modes: String,
        },
        /// Print what the model file holds (architecture, sizes, tensor types, chat template) as JSON.
        Info {
            #[arg(long)]
            model: PathBuf,
        },
    }

    #[derive(Args)]
    struct EmbedderArgs {
        /// The sentence-transformers folder of the embedder.
        #[arg(long, default_value = "models/cache/minilm-l6-v2")]
        embedder: PathBuf,
        /// Embedder weights: f32, or q8 (about 4x smaller: Q8_0, with the linear layers packed to 7 bits for
        /// the integer GEMM where the CPU has AVX2, as the page does in Chromium).
        #[arg(long, default_value = "f32")]
        precision: String,
    }

    impl EmbedderArgs {
        fn load(&self) -> hearth::Result<Embedder> {
            Embedder::from_dir(&self.embedder, self.precision.parse()?)
        }
    }

    #[derive(Args, Clone)]
    struct FusionArgs {
        /// Weight of BM25 in hybrid fusion.
        #[arg(long, default_value_t = 1.0)]
        bm25_weight: f32,
        /// Weight of dense search in hybrid fusion.
        #[arg(long, default_value_t = 1.25)]
        dense_weight: f32,
        #[arg(long, default_value_t = 10.0)]
        rrf_k: f32,
        /// Hybrid fusion: scores (weighted min-max normalised scores) or rrf (reciprocal ranks).
        #[arg(long, default_value = "scores")]
        fusion: String,
    }

    impl FusionArgs {
        fn options(&self, mode: Mode, k: usize) -> hearth::Result<SearchOptions> {
            let fusion: Fusion = self.fusion.parse()?;
            Ok(SearchOptions {
                k,
                mode,
                bm25_weight: self.bm25_weight,
                dense_weight: self.dense_weight,
                rrf_k: self.rrf_k,
                fusion,
                ..SearchOptions::default()
            })
        }
    }

    #[derive(Subcommand)]
    enum IndexCmd {
        /// Chunk, embed and index a folder of .txt/.md/.html/.pdf files or a BEIR corpus.jsonl. The file it
        /// writes is what the page and the client load read-only (`ai.index.load(url)`).
        Build {
            #[arg(long)]
            input: PathBuf,
            #[arg(long)]
            out: PathBuf,
            #[command(flatten)]
            emb: EmbedderArgs,
            /// Chunk size in embedder tokens.
            #[arg(long, default_value_t = 200)]
            max_tokens: usize,
            /// Tokens of whole sentences repeated between consecutive chunks.
            #[arg(long, default_value_t = 32)]
            overlap: usize,
            /// ANN graph for dense search: auto (from 50,000 chunks), on or off (exact search).
            #[arg(long, default_value = "auto")]
            ann: String,
        },
        /// Search an index with one query or a BEIR queries.jsonl.
        Search {
            #[arg(long)]
            index: PathBuf,
            #[arg(long, conflicts_with = "queries", required_unless_present = "queries")]
            query: Option<String>,
            #[arg(long)]
            queries: Option<PathBuf>,
            /// Chunks to return; with --per-doc, documents.
            #[arg(long, default_value_t = 10)]
            k: usize,
            #[arg(long, default_value = "hybrid")]
            mode: String,
            /// Results per document: the k best documents, each with up to this many of its best chunks
            /// (consecutive, best first), instead of the k best chunks.
            #[arg(long)]
            per_doc: Option<usize>,
            #[command(flatten)]
            emb: EmbedderArgs,
            #[command(flatten)]
            fusion: FusionArgs,
            /// One JSON line per query: {"query_id", "hits": [{"doc_id", "chunk", "score"}]}.
            #[arg(long)]
            json: bool,
        },
    }

    #[derive(Args)]
    struct GenerateArgs {
        #[arg(long)]
        model: PathBuf,
        /// Raw completion prompt.
        #[arg(long, conflicts_with = "chat", required_unless_present = "chat")]
        prompt: Option<String>,
        /// One user message, wrapped in the model's chat template.
        #[arg(long)]
        chat: Option<String>,
        /// System message for --chat (default: the page's, "You are a helpful assistant."; "" for none).
        #[arg(long, requires = "chat")]
        system: Option<String>,
        #[arg(long, default_value_t = 256)]
        max_tokens: usize,
        /// 0 = greedy.
        #[arg(long, default_value_t = 0.8)]
        temperature: f32,
        #[arg(long, default_value_t = 0x5EED)]
        seed: u64,
        #[arg(long, default_value_t = 40)]
        top_k: usize,
        #[arg(long, default_value_t = 0.95)]
        top_p: f32,
        #[arg(long, default_value_t = 0.05)]
        min_p: f32,
        #[arg(long, default_value_t = 1.0)]
        repeat_penalty: f32,
        /// Stop before this string (repeatable).
        #[arg(long)]
        stop: Vec<String>,
        /// Context window in tokens.
        #[arg(long, default_value_t = 2048)]
        ctx: usize,
        /// Print one JSON object (text, token ids, stats) instead of streaming text.
        #[arg(long)]
        json: bool,
    }

    #[derive(Args)]
    struct AskArgs {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        index: PathBuf,
        #[arg(long)]
        question: String,
        /// Passages to retrieve (those that do not fit the context are dropped).
        #[arg(long, default_value_t = 4)]
        k: usize,
        #[arg(long, default_value = "hybrid")]
        mode: String,
        #[arg(long, default_value_t = 256)]
        max_tokens: usize,
        /// 0 = greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        #[arg(long, default_value_t = 2048)]
        ctx: usize,
        #[arg(long, default_value_t = 1.0)]
        repeat_penalty: f32,
        /// Leave out passages scoring below this share of the best one.
        #[arg(long, default_value_t = hearth::rag::DEFAULT_MIN_SCORE_RATIO)]
        min_score_ratio: f32,
        /// Replaces the default instruction to answer from the numbered passages and cite them.
        #[arg(long)]
        system: Option<String>,
        /// Evidence sentences (the passages' sentences that best answer the question) in the prompt instead
        /// of the whole passages; 0 puts the passages there.
        #[arg(long, default_value_t = hearth::rag::DEFAULT_EVIDENCE)]
        evidence: usize,
        /// Best-evidence score below which the answer is "I could not find this in your documents."
        #[arg(long, default_value_t = hearth::rag::DEFAULT_MIN_EVIDENCE)]
        min_evidence: f32,
        /// Answer only from this document (by id; repeat for several).
        #[arg(long = "doc")]
        docs: Vec<String>,
        /// Answer only from documents with this tag (repeat for several: any of them).
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[command(flatten)]
        emb: EmbedderArgs,
        /// Print one JSON object: answer, segments with citations, passages, evidence, abstained, stats.
        #[arg(long)]
        json: bool,
    }

    #[derive(Args)]
    struct EvalRagArgs {
        /// A SQuAD v1.1 JSON file (e.g. ../shared/data/squad-dev-a/dev-v1.1-a.json).
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        model: PathBuf,
        /// Reuse (or create) this index of the paragraphs.
        #[arg(long)]
        index: Option<PathBuf>,
        /// Questions to ask, evenly spaced over the set (each asked twice: with and without its article).
        #[arg(long, default_value_t = 100)]
        sample: usize,
        /// Follow-up pairs to measure too (tests/fixtures/followups.json): SQuAD ids of a first question and
        /// of a second one, and the second as a follow-up that names its subject only by a pronoun.
        #[arg(long)]
        followups: Option<PathBuf>,
        /// Start the prompt with a worked example turn (off by default; measured worse for SmolLM2).
        #[arg(long)]
        example: bool,
        /// Passages retrieved per question.
        #[arg(long, default_value_t = 4)]
        k: usize,
        /// Evidence sentences in the prompt (0: whole passages instead).
        #[arg(long, default_value_t = hearth::rag::DEFAULT_EVIDENCE)]
        evidence: usize,
        /// Best-evidence score below which the answer is "not in your documents".
        #[arg(long, default_value_t = hearth::rag::DEFAULT_MIN_EVIDENCE)]
        min_evidence: f32,
        #[arg(long, default_value_t = hearth::rag::DEFAULT_RAG_MAX_TOKENS)]
        max_tokens: usize,
        #[arg(long, default_value_t = 2048)]
        ctx: usize,
        #[arg(long)]
        system: Option<String>,
        #[command(flatten)]
        emb: EmbedderArgs,
        #[arg(long)]
        json: bool,
    }

    fn eval_rag(a: EvalRagArgs) -> hearth::Result<()> {
        let e = a.emb.load()?;
        let (docs, questions) = hearth::eval::rag::read_squad(&read_text(&a.data)?)?;
        let (e, index) = match &a.index {
            Some(p) if p.exists() => (e, load_index(p)?),
            _ => {
                let mut library = Library::new(e, ChunkSpec::default());
                library.add_documents(docs, progress("embedding"))?;
                if let Some(p) = &a.index {
                    write_atomically(p, &library.index.to_bytes())?;
                }
                (library.embedder, library.index)
            }
        };
        let m = load(&a.model)?;
        let c = hearth::eval::rag::Config {
            k: a.k,
            evidence: a.evidence,
            min_evidence: a.min_evidence,
            n_ctx: a.ctx,
            rag: RagOptions {
                system: a.system.clone(),
                example: Some(a.example),
                generate: GenerateParams { max_tokens: a.max_tokens, ..hearth::rag::default_generate() },
                ..RagOptions::default()
            },
        };
        let sample = hearth::eval::rag::sample(&questions, a.sample);
        let t0 = hearth::clock::now_ms();
        let r =
            hearth::eval::rag::run(&m, &e, &index, &sample, &c, |i, n| eprint!("\reval-rag: {i}/{n} questions   "))?;
        eprintln!(
            "\n{} questions (of {}) in {:.0} s",
            sample.len(),
            questions.len(),
            (hearth::clock::now_ms() - t0) / 1000.0
        );
        let model = m.info.name.clone();
        println!("| model | evidence | para R@1 | R@3 | evid.@1 | evid.@2 | EM | F1 | answer contains | shown contains | cit. precision | abstain (unans.) | false abstain | max-tokens | prompt tok | TTFT ms | total ms |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        println!(
            "| {model} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} |",
            a.evidence, r.paragraph_recall_at_1, r.paragraph_recall_at_3, r.evidence_contains_at_1, r.evidence_contains_at_2, r.exact_match, r.token_f1, r.answer_contains, r.shown_contains, r.citation_precision, r.abstention_on_unanswerable, r.false_abstention, r.hit_max_tokens, r.prompt_tokens, r.ttft_ms, r.total_ms
        );
        let followups = match &a.followups {
            Some(p) => {
                let pairs = hearth::eval::rag::read_followups(&read_text(p)?, &questions)?;
                let f = hearth::eval::rag::run_followups(&m, &e, &index, &pairs, &c, |i, n| {
                    eprint!("\reval-rag: {i}/{n} follow-ups   ")
                })?;
                eprintln!();
                println!();
                println!("| model | follow-ups | R@3 (with history) | R@3 (alone) | R@3 (asked whole) | answer contains | shown contains | F1 | asked whole: contains | F1 | prompt tok | from cache | TTFT ms |");
                println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
                println!(
                    "| {model} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} |",
                    f.pairs, f.recall_at_3, f.recall_at_3_alone, f.recall_at_3_whole, f.answer_contains, f.shown_contains, f.token_f1, f.answer_contains_whole, f.token_f1_whole, f.prompt_tokens, f.cached_tokens, f.ttft_ms
                );
                Some(f)
            }
            None => None,
        };
        if a.json {
            let mut v = serde_json::to_value(&r).unwrap();
            v["followups"] = serde_json::to_value(&followups).unwrap();
            v["model"] = model.into();
            v["evidence"] = a.evidence.into();
            v["min_evidence"] = a.min_evidence.into();
            v["sample_of"] = questions.len().into();
            println!("{v}");
        }
        Ok(())
    }

    fn ask(a: AskArgs) -> hearth::Result<()> {
        let index = load_index(&a.index)?;
        let mode: Mode = a.mode.parse()?;
        let embedder = if mode == Mode::Bm25 && a.evidence == 0 { None } else { Some(a.emb.load()?) };
        let qv = if mode == Mode::Bm25 {
            None
        } else {
            Some(embedder.as_ref().unwrap().embed(&[a.question.as_str()])?.remove(0))
        };
        let scope = |v: &Vec<String>| if v.is_empty() { None } else { Some(v.clone()) };
        let hits = index.search(
            &a.question,
            qv.as_deref(),
            &SearchOptions { k: a.k, mode, doc_ids: scope(&a.docs), tags: scope(&a.tags), ..SearchOptions::default() },
        )?;
        let passages: Vec<Passage> = hits.iter().filter_map(|h| Passage::from_hit(&index, h)).collect();
        let m = load(&a.model)?;
        let o = RagOptions {
            system: a.system.clone(),
            min_score_ratio: Some(a.min_score_ratio),
            history: vec![],
            example: None,
            generate: GenerateParams {
                max_tokens: a.max_tokens,
                sampler: SamplerParams {
                    temperature: a.temperature,
                    repeat_penalty: a.repeat_penalty,
                    ..SamplerParams::default()
                },
                ..GenerateParams::default()
            },
        };
        // Evidence first (as the page): the passages' best sentences, or "not found" when they are too weak.
        let prepared = hearth::rag::prepare(
            &m,
            embedder.as_ref(),
            &a.question,
            "",
            &passages,
            a.evidence,
            a.min_evidence,
            &o,
            a.ctx,
        )?;
        let (prompt, used, evidence) = match prepared {
            Prepared::NotFound { evidence } => {
                let answer = hearth::rag::NOT_FOUND;
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({"answer": answer, "abstained": true, "segments": [], "passages": [], "evidence": evidence, "stats": null})
                    );
                } else {
                    println!("{answer}\nClosest:");
                    for (i, e) in evidence.iter().enumerate() {
                        println!("[{}] {}: {}", i + 1, e.doc_id, e.text);
                    }
                }
                return Ok(());
            }
            Prepared::Prompt { tokens, passages, evidence } => (tokens, passages, evidence),
        };
        let mut session = Session::new(&m, a.ctx);
        let stream = !a.json;
        let out = session.generate(&m, &prompt, o.generate.clone(), |piece| {
            if stream {
                print!("{piece}");
                let _ = std::io::stdout().flush();
            }
            true
        })?;
        let used = &used[..];
        let segments = hearth::rag::cite(&out.text, used);
        if a.json {
            let ps: Vec<_> = used
                .iter()
                .map(|p| serde_json::json!({"doc_id": p.doc_id, "chunk": p.chunk, "score": p.score, "text": p.text}))
                .collect();
            let abstained = hearth::rag::says_not_found(&out.text);
            println!(
                "{}",
                serde_json::json!({"answer": out.text, "abstained": abstained, "segments": segments, "passages": ps, "evidence": &evidence[..used.len().min(evidence.len())], "stats": out.stats})
            );
        } else {
            println!();
            for (i, p) in used.iter().enumerate() {
                let cited = segments.iter().any(|s| s.citations.contains(&(i + 1)));
                let snippet: String = p.text.chars().take(80).collect();
                println!(
                    "[{}]{} {} #{}: {}",
                    i + 1,
                    if cited { "*" } else { " " },
                    p.doc_id,
                    p.chunk,
                    snippet.replace('\n', " ")
                );
            }
        }
        Ok(())
    }

    fn load(path: &Path) -> hearth::Result<Model> {
        let bytes =
            std::fs::read(path).map_err(|e| hearth::Error::Io(format!("cannot read {}: {e}", path.display())))?;
        Model::load(bytes)
    }

    pub fn run() -> hearth::Result<()> {
        match Cli::parse().cmd {
            Cmd::Generate(a) => generate(a),
            Cmd::Tokenize { model, text, bos, special } => {
                let m = load(&model)?;
                let mut ids = Vec::new();
                if bos {
                    ids.extend(m.tokenizer.bos);
                }
                ids.extend(m.tokenizer.encode(&text, special));
                println!("{}", serde_json::to_string(&ids).unwrap());
                Ok(())
            }
            Cmd::Perplexity { model, file, ctx, chunks, json } => {
                let m = load(&model)?;
                let text = std::fs::read(&file)
                    .map_err(|e| hearth::Error::Io(format!("cannot read {}: {e}", file.display())))?;
                let text = String::from_utf8_lossy(&text);
                let r = hearth::eval::perplexity::perplexity(&m, &text, ctx, chunks, |i, n, ppl| {
                    eprint!("[{i}]{ppl:.4},");
                    if i == n {
                        eprintln!();
                    }
                })?;
                if json {
                    println!("{}", serde_json::to_string(&r).unwrap());
                }
                println!(
                    "chunks = {}, ctx = {}, scored tokens = {}, stderr = {:.5}",
                    r.chunks, r.n_ctx, r.scored_tokens, r.ppl_stderr
                );
                // The last line is exactly `PPL = <value>`: scripts read it.
                println!("PPL = {:.4}", r.ppl);
                Ok(())
            }
            Cmd::Bench { kernels: true, runs, json, .. } => {
                for r in hearth::eval::kernels::run_all(64, runs.max(1)) {
                    if json {
                        println!("{}", serde_json::to_string(&r).unwrap());
                    } else {
                        println!(
                            "{}: decode {:.2} GB/s = {:.2} of reading the bytes ({:.2} GB/s); prefill {:.1} GMAC/s",
                            r.ty, r.decode_gb_per_s, r.of_read_bound, r.read_gb_per_s, r.prefill_gmac_per_s
                        );
                    }
                }
                for r in hearth::eval::kernels::attention_all(runs.max(1)) {
                    if json {
                        println!("{}", serde_json::to_string(&r).unwrap());
                    } else {
                        println!(
                            "attention {}×{} heads over {} KV heads, {} positions: decode {:.2} GMAC/s ({:.3} ms a layer); prefill of {} tokens {:.2} GMAC/s",
                            r.heads, r.hd, r.kv_heads, r.positions, r.decode_gmac_per_s, r.decode_ms, r.batch, r.prefill_gmac_per_s
                        );
                    }
                }
                Ok(())
            }
            Cmd::Bench { model, prompt_tokens, gen_tokens, runs, json, .. } => {
                let m = load(&model.expect("clap requires --model without --kernels"))?;
                let t0 = hearth::clock::now_ms();
                let runs: Vec<_> = (0..runs.max(1))
                    .map(|_| hearth::eval::bench::run(&m, prompt_tokens, gen_tokens))
                    .collect::<hearth::Result<_>>()?;
                let med = |f: fn(&hearth::eval::bench::BenchRun) -> f64| {
                    let mut v: Vec<f64> = runs.iter().map(f).collect();
                    v.sort_by(f64::total_cmp);
                    v[v.len() / 2]
                };
                let (pp, tg) = (med(|r| r.prefill_tokens_per_s), med(|r| r.decode_tokens_per_s));
                if json {
                    let v = serde_json::json!({"model": m.info.name, "prefill_tokens_per_s": pp, "decode_tokens_per_s": tg, "runs": runs});
                    println!("{v}");
                } else {
                    println!(
                        "{}: prefill {pp:.1} tok/s, decode {tg:.1} tok/s (median of {} runs, {prompt_tokens} + {gen_tokens} tokens, {:.1} s)",
                        m.info.name,
                        runs.len(),
                        (hearth::clock::now_ms() - t0) / 1000.0
                    );
                }
                Ok(())
            }
            Cmd::Index(c) => index_cmd(c),
            Cmd::Ask(a) => ask(a),
            Cmd::EvalRag(a) => eval_rag(a),
            Cmd::Eval { data, split, emb, index, fusion, json, modes } => {
                let modes = modes.split(',').map(|m| m.trim().parse()).collect::<hearth::Result<Vec<Mode>>>()?;
                eval(data, split, emb, index, fusion, json, &modes)
            }
            Cmd::Info { model } => {
                let m = load(&model)?;
                println!("{}", serde_json::to_string_pretty(&m.info).unwrap());
                Ok(())
            }
        }
    }

    fn read_text(p: &Path) -> hearth::Result<String> {
        std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| hearth::Error::Io(format!("cannot read {}: {e}", p.display())))
    }

    fn progress(label: &str) -> impl FnMut(usize, usize) + '_ {
        let t0 = hearth::clock::now_ms();
        let mut last = 0.0;
        move |done, total| {
            let now = hearth::clock::now_ms();
            if now - last > 500.0 || done == total {
                last = now;
                let rate = done as f64 * 1000.0 / (now - t0).max(1.0);
                eprint!("\r{label}: {done}/{total} chunks ({rate:.0}/s)   ");
                if done == total {
                    eprintln!();
                }
            }
        }
    }

    /// The documents of a folder or a BEIR corpus, chunked, embedded and indexed.
    fn build_library(input: &Path, embedder: Embedder, spec: ChunkSpec) -> hearth::Result<Library> {
        let docs = if input.is_dir() {
            hearth::retrieval::sources::read_folder(input)?
        } else {
            hearth::retrieval::sources::read_beir_corpus(&read_text(input)?)?
        };
        eprintln!("{} documents from {}", docs.len(), input.display());
        let mut library = Library::new(embedder, spec);
        library.add_documents(docs, progress("embedding"))?;
        Ok(library)
    }

    /// Writes `bytes` to `path` so that a crash or a full disk leaves the old file whole: a temporary file
    /// beside it, flushed to disk, then renamed over it.
    fn write_atomically(path: &Path, bytes: &[u8]) -> hearth::Result<()> {
        let io = |what: &str, e: std::io::Error| hearth::Error::Io(format!("cannot {what} {}: {e}", path.display()));
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("write", e));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io("replace", e)
        })
    }

    fn load_index(p: &Path) -> hearth::Result<Index> {
        Index::from_bytes(
            &std::fs::read(p).map_err(|e| hearth::Error::Io(format!("cannot read {}: {e}", p.display())))?,
        )
    }

    fn index_cmd(c: IndexCmd) -> hearth::Result<()> {
        match c {
            IndexCmd::Build { input, out, emb, max_tokens, overlap, ann } => {
                let want_ann = match ann.as_str() {
                    "auto" => None,
                    "on" => Some(true),
                    "off" => Some(false),
                    other => return Err(hearth::Error::Invalid(format!("--ann {other} (use auto, on or off)"))),
                };
                let t0 = hearth::clock::now_ms();
                let mut index =
                    build_library(&input, emb.load()?, ChunkSpec { max_tokens, overlap_tokens: overlap })?.index;
                if want_ann.unwrap_or(index.chunk_count() >= hearth::retrieval::index::ANN_MIN_CHUNKS) {
                    let t = hearth::clock::now_ms();
                    index.build_ann(hearth::retrieval::index::ann::AnnParams::default())?;
                    eprintln!(
                        "ANN graph over {} chunks built in {:.1} s",
                        index.chunk_count(),
                        (hearth::clock::now_ms() - t) / 1000.0
                    );
                }
                let bytes = index.to_bytes();
                write_atomically(&out, &bytes)?;
                eprintln!(
                    "{} documents, {} chunks, {} bytes written to {} in {:.1} s",
                    index.len(),
                    index.chunk_count(),
                    bytes.len(),
                    out.display(),
                    (hearth::clock::now_ms() - t0) / 1000.0
                );
                Ok(())
            }
            IndexCmd::Search { index, query, queries, k, mode, per_doc, emb, fusion, json } => {
                let index = load_index(&index)?;
                let mode: Mode = mode.parse()?;
                let e = if mode == Mode::Bm25 { None } else { Some(emb.load()?) };
                let qs = match (&query, &queries) {
                    (Some(q), _) => vec![hearth::eval::beir::Query { id: "0".into(), text: q.clone() }],
                    (None, Some(p)) => hearth::eval::beir::read_queries(&read_text(p)?)?,
                    _ => unreachable!("clap requires --query or --queries"),
                };
                let o = SearchOptions { per_document: per_doc, ..fusion.options(mode, k)? };
                for q in qs {
                    let qv = match &e {
                        Some(e) => Some(e.embed(&[q.text.as_str()])?.remove(0)),
                        None => None,
                    };
                    let hits = index.search(&q.text, qv.as_deref(), &o)?;
                    if json {
                        let hits: Vec<_> = hits
                            .iter()
                            .map(|h| serde_json::json!({"doc_id": h.doc_id, "chunk": h.chunk, "score": h.score}))
                            .collect();
                        println!("{}", serde_json::json!({"query_id": q.id, "hits": hits}));
                    } else {
                        println!("query {}: {}", q.id, q.text);
                        for (i, h) in hits.iter().enumerate() {
                            let d = index.document(&h.doc_id).unwrap();
                            let snippet: String = d.text[h.start..h.end].chars().take(100).collect();
                            println!(
                                "  {:>2}. {} #{} ({:.4}) {}",
                                i + 1,
                                h.doc_id,
                                h.chunk,
                                h.score,
                                snippet.replace('\n', " ")
                            );
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn eval(
        data: PathBuf,
        split: String,
        emb: EmbedderArgs,
        index_path: Option<PathBuf>,
        fusion: FusionArgs,
        json: bool,
        modes: &[Mode],
    ) -> hearth::Result<()> {
        let e = emb.load()?;
        let t0 = hearth::clock::now_ms();
        let (e, index, built) = match &index_path {
            Some(p) if p.exists() => (e, load_index(p)?, false),
            _ => {
                let library = build_library(&data.join("corpus.jsonl"), e, ChunkSpec::default())?;
                (library.embedder, library.index, true)
            }
        };
        let build_s = (hearth::clock::now_ms() - t0) / 1000.0;
        if let (Some(p), true) = (&index_path, built) {
            write_atomically(p, &index.to_bytes())?;
        }
        let queries = hearth::eval::beir::read_queries(&read_text(&data.join("queries.jsonl"))?)?;
        let qrels = hearth::eval::beir::read_qrels(&read_text(&data.join("qrels").join(format!("{split}.tsv")))?);
        println!(
            "{}: {} documents, {} chunks; index {} in {build_s:.1} s; {} queries with {split} judgements",
            data.display(),
            index.len(),
            index.chunk_count(),
            if built { "built" } else { "loaded" },
            qrels.len()
        );
        println!("| mode | nDCG@10 | Recall@10 | Recall@100 | p50 ms | p95 ms |");
        println!("|---|---|---|---|---|---|");
        for &mode in modes {
            let r = hearth::eval::beir::evaluate(&index, Some(&e), &queries, &qrels, &fusion.options(mode, 10)?)?;
            println!(
                "| {:?} | {:.4} | {:.4} | {:.4} | {:.1} | {:.1} |",
                mode, r.ndcg_at_10, r.recall_at_10, r.recall_at_100, r.latency_p50_ms, r.latency_p95_ms
            );
            if json {
                println!("{}", serde_json::to_string(&r).unwrap());
            }
        }
        Ok(())
    }

    fn generate(a: GenerateArgs) -> hearth::Result<()> {
        let m = load(&a.model)?;
        let prompt = match (&a.prompt, &a.chat) {
            (Some(p), _) => m.prompt_tokens(p),
            (None, Some(c)) => {
                // The page's default system prompt: without one SmolLM2 answers a plain question with
                // degenerate text. An empty --system sends none.
                let system = a.system.as_deref().unwrap_or(hearth::llm::chat_template::DEFAULT_CHAT_SYSTEM);
                let mut msgs = Vec::new();
                if !system.is_empty() {
                    msgs.push(Message::new("system", system));
                }
                msgs.push(Message::new("user", c));
                m.chat_tokens(&msgs)?
            }
            (None, None) => unreachable!("clap requires --prompt or --chat"),
        };
        let params = GenerateParams {
            max_tokens: a.max_tokens,
            stop: a.stop.clone(),
            ignore_eos: false,
            // A chat answer ends when it starts repeating itself; a raw completion runs as llama.cpp's does.
            stop_repetition: a.chat.is_some(),
            sampler: SamplerParams {
                temperature: a.temperature,
                top_k: a.top_k,
                top_p: a.top_p,
                min_p: a.min_p,
                repeat_penalty: a.repeat_penalty,
                seed: a.seed,
                ..SamplerParams::default()
            },
        };
        let mut session = Session::new(&m, a.ctx);
        let stream = !a.json;
        let out = session.generate(&m, &prompt, params, |piece| {
            if stream {
                print!("{piece}");
                let _ = std::io::stdout().flush();
            }
            true
        })?;
        if a.json {
            let v = serde_json::json!({
                "text": out.text,
                "tokens": out.tokens,
                "prompt_tokens": prompt,
                "stats": out.stats,
            });
            println!("{v}");
        } else {
            println!();
            let s = &out.stats;
            eprintln!(
                "prompt {} tokens ({} cached) in {:.0} ms ({:.1} tok/s); generated {} tokens in {:.0} ms ({:.1} tok/s); stop: {:?}",
                s.prompt_tokens, s.cached_tokens, s.prefill_ms, s.prefill_tokens_per_s, s.generated_tokens, s.decode_ms, s.decode_tokens_per_s, s.stop_reason
            );
        }
        Ok(())
    }
}
