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
    use hearth::{GenerateParams, Message, Model, SamplerParams, Session};

    #[derive(Parser)]
    #[command(name = "hearth", version, about = "Private small language models: GGUF runtime (the CLI of the in-browser library)")]
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
            #[arg(long)]
            model: PathBuf,
            #[arg(long, default_value_t = 200)]
            prompt_tokens: usize,
            #[arg(long, default_value_t = 128)]
            gen_tokens: usize,
            #[arg(long, default_value_t = 3)]
            runs: usize,
            /// Print one JSON object with every run instead of a summary line.
            #[arg(long)]
            json: bool,
        },
        /// Print what the model file holds (architecture, sizes, tensor types, chat template) as JSON.
        Info {
            #[arg(long)]
            model: PathBuf,
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
        /// System message for --chat.
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

    fn load(path: &Path) -> hearth::Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| hearth::Error::Io(format!("cannot read {}: {e}", path.display())))?;
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
                let text = std::fs::read(&file).map_err(|e| hearth::Error::Io(format!("cannot read {}: {e}", file.display())))?;
                let text = String::from_utf8_lossy(&text);
                let r = hearth::perplexity::perplexity(&m, &text, ctx, chunks, |i, n, ppl| {
                    eprint!("[{i}]{ppl:.4},");
                    if i == n {
                        eprintln!();
                    }
                })?;
                if json {
                    println!("{}", serde_json::to_string(&r).unwrap());
                }
                println!("chunks = {}, ctx = {}, scored tokens = {}", r.chunks, r.n_ctx, r.scored_tokens);
                println!("PPL = {:.4} +/- {:.5}", r.ppl, r.ppl_stderr);
                Ok(())
            }
            Cmd::Bench { model, prompt_tokens, gen_tokens, runs, json } => {
                let m = load(&model)?;
                let t0 = hearth::clock::now_ms();
                let runs: Vec<_> = (0..runs.max(1)).map(|_| hearth::bench::run(&m, prompt_tokens, gen_tokens)).collect::<hearth::Result<_>>()?;
                let med = |f: fn(&hearth::bench::BenchRun) -> f64| {
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
            Cmd::Info { model } => {
                let m = load(&model)?;
                println!("{}", serde_json::to_string_pretty(&m.info).unwrap());
                Ok(())
            }
        }
    }

    fn generate(a: GenerateArgs) -> hearth::Result<()> {
        let m = load(&a.model)?;
        let prompt = match (&a.prompt, &a.chat) {
            (Some(p), _) => m.prompt_tokens(p),
            (None, Some(c)) => {
                let mut msgs = Vec::new();
                if let Some(s) = &a.system {
                    msgs.push(Message::new("system", s));
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
