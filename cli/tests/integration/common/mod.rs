//! Running the `grlm` binary from the CLI tests.
// Each test crate uses its own subset.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `grlm` with `args` (and no `GRLM_MODEL` from the caller's environment).
pub fn grlm(args: &[&str]) -> Output {
    grlm_testkit::process::output(
        Command::new(env!("CARGO_BIN_EXE_grlm"))
            .args(args)
            .env_remove("GRLM_MODEL"),
    )
}

/// `grlm <command> --model MODEL --catalog CATALOG --threads 1 <extra>`.
pub fn grlm_with(model: &Path, catalog: &Path, command: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        command,
        "--model",
        model.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
        "--threads",
        "1",
    ];
    args.extend(extra);
    grlm(&args)
}

/// `grlm catalog build` with the given inputs and output, plus `extra` flags.
pub fn build_catalog(items: &Path, tids: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "catalog",
        "build",
        "--items",
        items.to_str().unwrap(),
        "--tids",
        tids.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    grlm(&args)
}

/// `grlm catalog build` of the fixture items and TIDs into `out`, with a token trie for
/// `model` when one is given.
pub fn build_fixture_catalog(out: &Path, model: Option<&Path>) -> Output {
    let (items, tids) = (fixture("items.jsonl"), fixture("tids.jsonl"));
    let extra = match model {
        Some(model) => vec!["--model", model.to_str().unwrap()],
        None => Vec::new(),
    };
    build_catalog(Path::new(&items), Path::new(&tids), out, &extra)
}

/// The path of a file in tests/fixtures, as a command-line argument.
pub fn fixture(name: &str) -> String {
    grlm_testkit::fixtures::fixture(name).display().to_string()
}

/// `recommend` on `model` and `catalog` for history 5 8, top 5, one thread, as JSON: the
/// request on which the ARM64 and CPU-variant tests compare builds.
pub fn compare_request(model: &Path, catalog: &Path) -> Vec<String> {
    let (model, catalog) = (model.to_str().unwrap(), catalog.to_str().unwrap());
    [
        "recommend",
        "--model",
        model,
        "--catalog",
        catalog,
        "--threads",
        "1",
        "--history",
        "5,8",
        "-k",
        "5",
        "--json",
    ]
    .map(String::from)
    .to_vec()
}
