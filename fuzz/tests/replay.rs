//! `make test` replays every committed fuzz input: the seed corpus (crafted files: truncated, overlapping
//! tensors, huge counts, hostile templates, entity soup) and one regression input per finding. Each must
//! run through its target without a panic and within a second.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map(|r| r.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect()).unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_committed_input_runs_cleanly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for t in hearth_fuzz::TARGETS {
        let corpus = files(&root.join("corpus").join(t.name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{} has no seeds", t.name);
        for f in corpus.iter().chain(&files(&root.join("regressions").join(t.name))) {
            let data = std::fs::read(f).unwrap();
            let t0 = Instant::now();
            let ok = std::panic::catch_unwind(|| (t.run)(&data)).is_ok();
            assert!(ok, "{}: {} panicked", t.name, f.display());
            assert!(t0.elapsed() < Duration::from_secs(1), "{}: {} took {:?}", t.name, f.display(), t0.elapsed());
            total += 1;
        }
    }
    assert!(total >= 30, "only {total} committed inputs");
}
