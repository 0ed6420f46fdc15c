//! `make test` replays every fuzz seed and regression input: the committed corpus (hostile templates, entity
//! soup, forged indexes…), the model seeds made on the fly (truncated, overlapping tensors, huge counts) and
//! one regression input per finding. Each must run through its target without a panic and within a second.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_committed_input_runs_cleanly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for t in hearth_fuzz::TARGETS {
        let paths: Vec<PathBuf> = files(&root.join("corpus").join(t.name))
            .into_iter()
            .chain(files(&root.join("regressions").join(t.name)))
            .collect();
        let mut inputs: Vec<(String, Vec<u8>)> =
            paths.iter().map(|f| (f.display().to_string(), std::fs::read(f).unwrap())).collect();
        inputs.extend(
            hearth_fuzz::seeds::models(t.name).into_iter().enumerate().map(|(i, m)| (format!("model seed {i}"), m)),
        );
        assert!(!inputs.is_empty(), "{} has no seeds", t.name);
        for (what, data) in &inputs {
            let t0 = Instant::now();
            let ok = std::panic::catch_unwind(|| (t.run)(data)).is_ok();
            assert!(ok, "{}: {what} panicked", t.name);
            assert!(t0.elapsed() < Duration::from_secs(1), "{}: {what} took {:?}", t.name, t0.elapsed());
            total += 1;
        }
    }
    assert!(total >= 30, "only {total} committed inputs");
}
