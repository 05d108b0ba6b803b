//! The fuzz corpus as regression tests: every seed in `fuzz/corpus/<target>/`
//! and every crash libFuzzer saved in `fuzz/artifacts/<target>/` is fed to the
//! target's body (`trace_integration::fuzz_entry`), which panics when a
//! parser panics or a parsed value does not survive format-then-parse.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use trace_integration::fuzz_entry::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files directly under `dir/<target>/`, for each target directory there.
fn inputs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(targets) = fs::read_dir(dir) else { return Vec::new() };
    let mut files = Vec::new();
    for target in targets.map(Result::unwrap).filter(|e| e.path().is_dir()) {
        let name = target.file_name().into_string().unwrap();
        for file in fs::read_dir(target.path()).unwrap().map(Result::unwrap) {
            if file.path().is_file() {
                files.push((name.clone(), file.path()));
            }
        }
    }
    files.sort();
    files
}

/// Feeds each file to its target, and lists the files that panicked.
fn replay(files: &[(String, PathBuf)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (target, path) in files {
        let Some((_, body)) = TARGETS.iter().find(|(name, _)| name == target) else {
            failures.push(format!("{}: no fuzz target named {target:?}", path.display()));
            continue;
        };
        let data = fs::read(path).unwrap();
        if panic::catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    failures
}

#[test]
fn every_target_has_a_seed_corpus() {
    let seeded: Vec<String> =
        inputs(&fuzz_dir().join("corpus")).into_iter().map(|(target, _)| target).collect();
    for (target, _) in TARGETS {
        assert!(seeded.iter().any(|s| s == target), "fuzz/corpus/{target}/ is empty or missing");
    }
}

#[test]
fn seed_corpus_inputs_pass_their_targets() {
    let files = inputs(&fuzz_dir().join("corpus"));
    assert!(files.len() >= TARGETS.len());
    let failures = replay(&files);
    assert!(failures.is_empty(), "failing corpus inputs:\n{}", failures.join("\n"));
}

/// `fuzz/artifacts/` holds the finding libFuzzer saved
/// (`jsonl/float-tag-round-trip.jsonl`: a float tag that did not read back
/// as the number written) and inputs of the kinds that crash parsers (a
/// multibyte character across a field boundary, truncated escapes and
/// documents, numbers at the limits of their types).
#[test]
fn crashes_found_by_fuzzing_stay_fixed() {
    let files = inputs(&fuzz_dir().join("artifacts"));
    assert!(
        files.iter().any(|(target, _)| target == "jsonl"),
        "fuzz/artifacts/ lost the saved fuzz finding (jsonl/float-tag-round-trip.jsonl): {files:?}"
    );
    let failures = replay(&files);
    assert!(failures.is_empty(), "failing fuzz artifacts:\n{}", failures.join("\n"));
}
