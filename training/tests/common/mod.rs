//! Helpers shared by the `grlm-train` command-line tests.
// Each test crate uses its own subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file of the engine's test fixtures (tests/fixtures at the workspace root).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

/// Runs `grlm-train` with `args`.
pub fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grlm-train"))
        .args(args)
        .output()
        .expect("run grlm-train")
}

/// The JSON summary of a run that must have succeeded.
pub fn ok_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

/// Checks that a run failed and said `needle` on stderr.
pub fn fails_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded; wanted {needle:?}");
    assert!(stderr.contains(needle), "wanted {needle:?} in {stderr}");
}

/// The real all-MiniLM-L6-v2 that scripts/fetch-model.sh puts in models/.
pub fn embedder_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "{} is missing: run scripts/fetch-model.sh (the test command does)",
        dir.display()
    );
    dir
}

/// Writes `dir/tiny.gguf`: the engine's tiny test model, its tokenizer learned from the
/// fixture's TIDs; returns its path.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let tids = grlm::catalog::input::read_tids(&fixture("tids.jsonl"), None).unwrap();
    let model = dir.join("tiny.gguf");
    let spec = grlm::llm::tiny::TinyModelSpec::default();
    std::fs::write(
        &model,
        grlm::llm::tiny::tiny_model_for_tids(tids.iter().map(|r| &r.tid), &spec),
    )
    .unwrap();
    model
}

/// The lines of a `grlm-train terms` output file as (item, terms, resolved).
pub fn read_tids_output(path: &Path) -> Vec<(u64, Vec<String>, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let terms = v["terms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect();
            (
                v["item"].as_u64().unwrap(),
                terms,
                v["resolved"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
