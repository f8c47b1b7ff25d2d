//! Helpers shared by the `grlm-train` command-line tests.
// Each test crate uses its own subset.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use grlm_testkit::fixtures::fixture;
pub use grlm_testkit::process::{fails_with, ok_json};

/// `grlm-train`, to be given arguments.
pub fn train_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_grlm-train"))
}

/// Runs `grlm-train` with `args`.
pub fn train(args: &[&str]) -> Output {
    grlm_testkit::process::output(train_command().args(args))
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
    let model = dir.join("tiny.gguf");
    std::fs::write(&model, grlm_testkit::fixtures::tiny_fixture_model()).unwrap();
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
