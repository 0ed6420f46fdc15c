//! `hearth-fuzz [TARGET…] [--execs N] [--seconds S] [--seed N]` (or `--write-seeds`): mutates each target's seed corpus
//! (`fuzz/corpus/<target>/`) for N executions or S seconds, whichever ends first, and prints executions,
//! crashes (panics and aborts), hangs (an input over 1 s) and the largest heap peak of one input. Crashing and
//! hanging inputs are written to `fuzz/artifacts/<target>/` (each target runs in child processes, so an
//! input that never returns or aborts is recorded too, and fuzzing goes on); once fixed, copy them to
//! `fuzz/regressions/<target>/` so `make test` replays them. Exits 1 when anything was found.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use hearth_fuzz::{seeds, target, Target, TARGETS};

/// Counts live heap bytes and their peak, so each input's memory can be bounded.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Memory an input may take beyond what was live before it: 64× its size plus the target's base.
fn memory_bound(t: &Target, input: usize) -> usize {
    64 * input + t.memory_base
}

const HANG: Duration = Duration::from_secs(1);

/// A child fuzzing process prints its progress this often; one silent for `STALL` is stuck in one input (a
/// hang no timer inside it can end): the parent kills it, keeps that input and starts another child.
const PROGRESS_EVERY: u64 = 1000;
const STALL: Duration = Duration::from_secs(10);

/// The sampler's seeded generator, widened: mutations need no other randomness.
struct Rng(hearth::rng::Rng);
impl Rng {
    fn next(&mut self) -> u64 {
        ((self.0.next_u32() as u64) << 32) | self.0.next_u32() as u64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    &[0],
    &[0xFF],
    &[0x80],
    &[0x7F],
    &[0xFF, 0xFF, 0xFF, 0xFF],
    &[0, 0, 0, 0x80],
    &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
    &[1, 0, 0, 0, 0, 0, 0, 0],
    &[0, 1, 0, 0],
    &[9, 0, 0, 0],
    &[0xC3],
    &[0xE2, 0x80],
    &[0xF0, 0x9F, 0x98],
    b"&",
    b"&amp;",
    b"&#x",
    b"<",
    b"</",
    b"<!--",
    b"<script>",
    b"{%",
    b"%}",
    b"{{",
    b"}}",
    b" ~ ",
    b"\n\n",
    b"<|im_start|>",
];

/// One mutated input from the corpus: byte flips and sets, interesting values, insertions, deletions,
/// duplicated runs and splices with another seed. Mutations land in the first 4 KB half of the time,
/// where headers are.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut d = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let span = if rng.next() & 1 == 0 { d.len().min(4096) } else { d.len() };
        let at = rng.below(span + 1).min(d.len());
        let last = at.min(d.len().saturating_sub(1));
        match rng.below(8) {
            0 if !d.is_empty() => d[last] ^= 1 << rng.below(8),
            1 if !d.is_empty() => d[last] = rng.next() as u8,
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let end = (at + v.len()).min(d.len());
                d.splice(at..end, v.iter().copied());
            }
            3 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                d.splice(at..at, v.iter().copied());
            }
            4 => {
                let n = rng.below(64).min(d.len() - at);
                d.drain(at..at + n);
            }
            5 if !d.is_empty() => {
                let (s, n) = (rng.below(d.len()), 1 + rng.below(32));
                let run: Vec<u8> = d[s..(s + n).min(d.len())].to_vec();
                for _ in 0..1 + rng.below(8) {
                    d.splice(at..at, run.iter().copied());
                }
            }
            6 => {
                let other = &corpus[rng.below(corpus.len())];
                let s = rng.below(other.len());
                let n = rng.below(256).min(other.len() - s);
                d.splice(at..at, other[s..s + n].iter().copied());
            }
            _ => d.truncate(at.max(1)),
        }
    }
    d
}

/// Saved indexes carry a checksum over their payload: keep it right most of the time, or every mutation
/// would stop at the checksum.
fn fix_index_checksum(d: &mut [u8]) {
    if d.len() >= 28 && &d[..8] == b"HEARTHIX" {
        let len = (d.len() - 28) as u64;
        d[16..24].copy_from_slice(&len.to_le_bytes());
        let crc = crc32fast::hash(&d[28..]);
        d[24..28].copy_from_slice(&crc.to_le_bytes());
    }
}

fn read_dir(p: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
}

struct Report {
    execs: u64,
    crashes: u64,
    hangs: u64,
    over_memory: u64,
    slowest_ms: f64,
    peak_mb: f64,
    secs: f64,
}

fn fuzz(t: &Target, root: &Path, max_execs: u64, seconds: f64, seed: u64) -> Report {
    let mut corpus = read_dir(&root.join("corpus").join(t.name));
    corpus.extend(read_dir(&root.join("regressions").join(t.name)));
    corpus.extend(seeds::models(t.name));
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let artifacts = root.join("artifacts").join(t.name);
    let mut rng = Rng(hearth::rng::Rng::new(seed ^ 0x9E37_79B9_7F4A_7C15));
    let mut r = Report { execs: 0, crashes: 0, hangs: 0, over_memory: 0, slowest_ms: 0.0, peak_mb: 0.0, secs: 0.0 };
    // Warm up (tokenizers load the real vocabularies once) so the first input is not taken for a hang.
    let _ = std::panic::catch_unwind(|| (t.run)(&corpus[0]));
    let _ = std::fs::create_dir_all(&artifacts);
    let current = artifacts.join("current-input");
    let current_file = std::fs::File::create(&current).ok();
    let start = Instant::now();
    let deadline = Duration::from_secs_f64(seconds);
    while r.execs < max_execs && start.elapsed() < deadline {
        let mut input =
            if r.execs < corpus.len() as u64 { corpus[r.execs as usize].clone() } else { mutate(&mut rng, &corpus) };
        if t.name == "index" && !rng.next().is_multiple_of(10) {
            fix_index_checksum(&mut input);
        }
        // An abort (stack overflow) cannot be caught: the input it died on is left in `current-input`.
        if let Some(f) = &current_file {
            use std::os::unix::fs::FileExt;
            let _ = f.set_len(0).and_then(|_| f.write_all_at(&input, 0));
        }
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        let t0 = Instant::now();
        let ok = std::panic::catch_unwind(|| (t.run)(&input)).is_ok();
        let took = t0.elapsed();
        let peak = PEAK.load(Relaxed).saturating_sub(base);
        r.execs += 1;
        if r.execs.is_multiple_of(PROGRESS_EVERY) {
            println!("progress {}", r.execs);
        }
        r.slowest_ms = r.slowest_ms.max(took.as_secs_f64() * 1e3);
        r.peak_mb = r.peak_mb.max(peak as f64 / (1 << 20) as f64);
        let save = |kind: &str| save_finding(root, t, kind, &input);
        if !ok {
            r.crashes += 1;
            save("crash");
        } else if took > HANG {
            r.hangs += 1;
            save("hang");
        } else if peak > memory_bound(t, input.len()) {
            r.over_memory += 1;
            save("memory");
        }
    }
    r.secs = start.elapsed().as_secs_f64();
    r
}

/// Saves `data` as a finding of `kind` for target `t`.
fn save_finding(root: &Path, t: &Target, kind: &str, data: &[u8]) {
    let dir = root.join("artifacts").join(t.name);
    let _ = std::fs::create_dir_all(&dir);
    let name = format!(
        "{kind}-{:016x}",
        data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
    );
    let _ = std::fs::write(dir.join(&name), data);
    eprintln!("{}: {kind} on a {}-byte input, saved as fuzz/artifacts/{}/{name}", t.name, data.len(), t.name);
}

/// Fuzzes `t` in child processes (this program with `--child`), so that an input that never returns or
/// aborts the process (a stack overflow) is recorded and the fuzzing goes on with the next seed.
fn supervise(t: &Target, root: &Path, max_execs: u64, seconds: f64, mut seed: u64) -> Report {
    use std::io::BufRead;
    let mut total = Report { execs: 0, crashes: 0, hangs: 0, over_memory: 0, slowest_ms: 0.0, peak_mb: 0.0, secs: 0.0 };
    let start = Instant::now();
    let exe = std::env::current_exe().expect("own path");
    while total.execs < max_execs && start.elapsed().as_secs_f64() < seconds {
        let left = seconds - start.elapsed().as_secs_f64();
        let mut child = std::process::Command::new(&exe)
            .args([
                "--child",
                t.name,
                "--execs",
                &(max_execs - total.execs).to_string(),
                "--seconds",
                &left.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start a fuzzing child");
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut done = 0;
        let ended = loop {
            match rx.recv_timeout(STALL) {
                Ok(line) => {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    match f.first() {
                        Some(&"progress") => done = f[1].parse().unwrap_or(done),
                        Some(&"report") => {
                            let n = |i: usize| f[i].parse::<f64>().unwrap_or(0.0);
                            done = n(1) as u64;
                            total.crashes += n(2) as u64;
                            total.hangs += n(3) as u64;
                            total.over_memory += n(4) as u64;
                            total.slowest_ms = total.slowest_ms.max(n(5));
                            total.peak_mb = total.peak_mb.max(n(6));
                            break "finished";
                        }
                        _ => {}
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    break "stalled";
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break "died",
            }
        };
        let _ = child.wait();
        total.execs += done;
        let current = std::fs::read(root.join("artifacts").join(t.name).join("current-input")).unwrap_or_default();
        match ended {
            "stalled" => {
                total.execs += 1;
                total.hangs += 1;
                total.slowest_ms = total.slowest_ms.max(STALL.as_secs_f64() * 1e3);
                save_finding(root, t, "hang", &current);
            }
            "died" => {
                total.execs += 1;
                total.crashes += 1;
                save_finding(root, t, "abort", &current);
            }
            _ => {}
        }
        seed += 1;
    }
    let _ = std::fs::remove_file(root.join("artifacts").join(t.name).join("current-input"));
    total.secs = start.elapsed().as_secs_f64();
    total
}

fn main() {
    let mut names = Vec::new();
    let (mut execs, mut seconds, mut seed, mut child) = (None, 600.0, 1u64, false);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--write-seeds" {
            seeds::write(&root);
            println!("seed corpus written to {}", root.join("corpus").display());
            return;
        }
        let mut num = |what: &str| {
            args.next().and_then(|v| v.parse::<f64>().ok()).unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match a.as_str() {
            "--execs" => execs = Some(num("--execs") as u64),
            "--seconds" => seconds = num("--seconds"),
            "--seed" => seed = num("--seed") as u64,
            "--child" => child = true,
            _ => names.push(a),
        }
    }
    let targets: Vec<&Target> = if names.is_empty() {
        TARGETS.iter().collect()
    } else {
        names.iter().map(|n| target(n).unwrap_or_else(|| panic!("no fuzz target `{n}`"))).collect()
    };
    // Panics are findings, counted and saved: keep their messages short.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    if child {
        let t = targets[0];
        let r = fuzz(t, &root, execs.unwrap_or(t.execs), seconds, seed);
        println!(
            "report {} {} {} {} {} {} {}",
            r.execs, r.crashes, r.hangs, r.over_memory, r.slowest_ms, r.peak_mb, r.secs
        );
        return;
    }
    let mut found = 0;
    println!("| target | executions | seconds | execs/s | crashes | hangs (>1 s) | over memory | slowest ms | largest heap peak MB |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for t in targets {
        let r = supervise(t, &root, execs.unwrap_or(t.execs), seconds, seed);
        found += r.crashes + r.hangs + r.over_memory;
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | {} | {} | {:.1} | {:.1} |",
            t.name,
            r.execs,
            r.secs,
            r.execs as f64 / r.secs.max(1e-9),
            r.crashes,
            r.hangs,
            r.over_memory,
            r.slowest_ms,
            r.peak_mb
        );
    }
    if found > 0 {
        std::process::exit(1);
    }
}
