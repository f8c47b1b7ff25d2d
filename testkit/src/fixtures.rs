//! The test fixtures: the 12-item catalogue in `tests/fixtures`, a tiny model whose
//! tokenizer learned its TIDs, the files the C tests open, and the C toolchain around
//! `libgrlm.so`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use grlm::catalog::input::read_tids;
use grlm::catalog::transitions::DEFAULT_MAX_SUCCESSORS;
use grlm::catalog::TransitionCounts;
use grlm::engine::token_trie_spec;
use grlm::llm::{Model, ModelParams};
use grlm::sequences::read_sequences;
use grlm::CatalogBuilder;

use crate::tiny::{tiny_lora_bytes, tiny_model_bytes, tiny_model_for_tids, TinyModelSpec};

/// The workspace root (the `grlm` package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(name)
}

/// The GGUF bytes of the tiny model whose tokenizer learned the fixture's TIDs.
pub fn tiny_fixture_model() -> Vec<u8> {
    let tids = read_tids(&fixture("tids.jsonl"), None).expect("fixture TIDs");
    tiny_model_for_tids(tids.iter().map(|r| &r.tid), &TinyModelSpec::default())
}

/// Builds the fixture catalogue at `out`, with a token trie for the model at `model` when
/// one is given.
pub fn build_fixture_catalog(out: &Path, model: Option<&Path>) {
    build_fixture_catalog_with(out, model, None);
}

/// The fixture catalogue with the prior of `tests/fixtures/sequences.txt`, the last
/// `holdout` items of every sequence held out.
pub fn build_fixture_catalog_with_prior(out: &Path, model: Option<&Path>, holdout: usize) {
    build_fixture_catalog_with(out, model, Some(holdout));
}

fn build_fixture_catalog_with(out: &Path, model: Option<&Path>, prior_holdout: Option<usize>) {
    let mut builder =
        CatalogBuilder::from_jsonl(&fixture("items.jsonl"), &fixture("tids.jsonl"), false).expect("fixture inputs");
    if let Some(holdout) = prior_holdout {
        let sequences = read_sequences(&fixture("sequences.txt")).expect("fixture sequences");
        let counts = TransitionCounts::from_sequences(&sequences, holdout);
        builder = builder.with_prior(counts, holdout as u32, DEFAULT_MAX_SUCCESSORS);
    }
    if let Some(model) = model {
        let params = ModelParams {
            vocab_only: true,
            ..ModelParams::default()
        };
        let model = Arc::new(Model::load(model, &params).expect("tiny model"));
        builder = builder.with_token_trie(token_trie_spec(&model));
    }
    builder.write(out).expect("write the fixture catalogue");
}

/// Writes the tiny model (`tiny.gguf`) and the fixture catalogue built for it
/// (`fixture.grlm`) into `dir`; returns their paths.
pub fn tiny_engine_files(dir: &Path) -> (PathBuf, PathBuf) {
    let model = dir.join("tiny.gguf");
    std::fs::write(&model, tiny_fixture_model()).expect("write tiny.gguf");
    let catalog = dir.join("fixture.grlm");
    build_fixture_catalog(&catalog, Some(&model));
    (model, catalog)
}

/// The model, catalogues, adapter and broken files that tests/c/api.c expects in `dir`.
pub fn write_c_inputs(dir: &Path) {
    let (model, catalog) = tiny_engine_files(dir);
    build_fixture_catalog(&dir.join("plain.grlm"), None);
    build_fixture_catalog_with_prior(&dir.join("prior.grlm"), Some(&model), 1);
    let spec = TinyModelSpec::default();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).expect("write a C input");
    write("other.gguf", &tiny_model_bytes(&["a vocabulary of other words"], &spec));
    write("adapter.gguf", &tiny_lora_bytes(&spec, 4, 7));
    write("garbage.gguf", b"this is not a model");
    write("garbage-adapter.gguf", b"GGUF and then nothing sensible");
    write("garbage.grlm", b"this is not a catalogue");
    let bytes = std::fs::read(&catalog).expect("read the fixture catalogue");
    write("truncated.grlm", &bytes[..bytes.len() / 2]);
    let mut version9 = bytes;
    version9[8..10].copy_from_slice(&9u16.to_le_bytes());
    write("version9.grlm", &version9);
}

/// Where cargo put `libgrlm.so` for this test build (`target/<profile>`, the parent of the
/// test binary's `deps/`), after checking that it is newer than every library source.
///
/// `cargo test` builds the library only as an rlib; the C, C++ and Kotlin tests need the
/// shared library from `cargo build --release`, which the test command runs first. A stale
/// library would test old code, so this fails loudly instead.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps")
        .to_path_buf();
    let lib = dir.join("libgrlm.so");
    let built =
        modified(&lib).unwrap_or_else(|| panic!("{} is missing: run `cargo build --release` first", lib.display()));
    let root = workspace_root();
    let newest = newest_source(&root.join("src"))
        .into_iter()
        .chain(
            ["Cargo.toml", "build.rs"]
                .iter()
                .filter_map(|f| modified(&root.join(f))),
        )
        .max()
        .expect("sources exist");
    assert!(
        built >= newest,
        "{} is older than the sources: run `cargo build --release` first",
        lib.display()
    );
    dir
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn newest_source(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                newest_source(&path)
            } else {
                modified(&path)
            }
        })
        .max()
}

/// Compiles `source` (under tests/c) with the C compiler `cc` and `flags` into `dir`, linked
/// to the `libgrlm.so` in `lib`; returns the executable.
pub fn compile_c(cc: &str, lib: &Path, dir: &Path, source: &str, name: &str, flags: &[&str]) -> PathBuf {
    let root = workspace_root();
    assert!(
        lib.join("libgrlm.so").exists(),
        "{} has no libgrlm.so; build the library first (cargo build --release)",
        lib.display()
    );
    let exe = dir.join(name);
    let out = crate::process::output(
        Command::new(cc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-g"])
            .args(flags)
            .arg("-I")
            .arg(root.join("include"))
            .arg(root.join("tests/c").join(source))
            .arg("-o")
            .arg(&exe)
            .arg(format!("-L{}", lib.display()))
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .args(["-lgrlm", "-lpthread", "-lm"]),
    );
    assert!(
        out.status.success(),
        "compiling {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}
