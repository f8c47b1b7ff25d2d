//! Helpers shared by the command-line tests.
// Each test crate uses its own subset.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `grlm` with `args` (and no `GRLM_MODEL` from the caller's environment).
pub fn grlm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grlm"))
        .args(args)
        .env_remove("GRLM_MODEL")
        .output()
        .expect("run grlm")
}

/// The path of a file in tests/fixtures.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Stdout of a successful run, parsed as one JSON value.
pub fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "grlm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON value")
}

/// Writes a tiny model whose tokenizer learned the fixture's TIDs (`tiny.gguf`) and the
/// fixture catalogue built for it (`fixture.grlm`) into `dir`; returns their paths. For
/// tests that drive libgrlm from outside Rust (C, C++, Kotlin).
pub fn tiny_engine_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let model = dir.join("tiny.gguf");
    let tids = grlm::catalog::input::read_tids(Path::new(&fixture("tids.jsonl")), None).unwrap();
    let bytes = grlm::llm::tiny::tiny_model_for_tids(tids.iter().map(|r| &r.tid), &Default::default());
    std::fs::write(&model, bytes).unwrap();
    let catalog = dir.join("fixture.grlm");
    let out = build_fixture_catalog(&catalog, Some(&model));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (model, catalog)
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

/// Where cargo put libgrlm.so / libgrlm.a for this test build (target/<profile>), after
/// checking that they are newer than every source file.
///
/// `cargo test` builds the library only as an rlib for the Rust tests; the C, C++ and
/// Kotlin tests need the shared library from `cargo build --release`, which the test
/// command runs first. A stale library would test old code, so it fails loudly instead.
pub fn lib_dir() -> std::path::PathBuf {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_grlm"));
    let dir = exe.parent().expect("target/<profile>").to_path_buf();
    let lib = dir.join("libgrlm.so");
    let built = std::fs::metadata(&lib)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: run `cargo build --release` first", lib.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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

/// The model, catalogues, adapters and broken files tests/c/api.c expects in `dir`.
pub fn write_c_inputs(dir: &Path) {
    let (_, catalog) = tiny_engine_files(dir);
    let out = build_fixture_catalog(&dir.join("plain.grlm"), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spec = grlm::llm::tiny::TinyModelSpec::default();
    let other = grlm::llm::tiny::tiny_model_bytes(&["a vocabulary of other words"], &spec);
    std::fs::write(dir.join("other.gguf"), other).unwrap();
    std::fs::write(dir.join("adapter.gguf"), grlm::llm::tiny::tiny_lora_bytes(&spec, 4, 7)).unwrap();
    std::fs::write(dir.join("garbage.gguf"), b"this is not a model").unwrap();
    std::fs::write(dir.join("garbage-adapter.gguf"), b"GGUF and then nothing sensible").unwrap();
    std::fs::write(dir.join("garbage.grlm"), b"this is not a catalogue").unwrap();
    let bytes = std::fs::read(&catalog).unwrap();
    std::fs::write(dir.join("truncated.grlm"), &bytes[..bytes.len() / 2]).unwrap();
    let mut version9 = bytes.clone();
    version9[8..10].copy_from_slice(&9u16.to_le_bytes());
    std::fs::write(dir.join("version9.grlm"), version9).unwrap();
}

/// Compiles `source` (under tests/c) with the C compiler `cc` and `flags` into `dir`,
/// linked to the libgrlm.so in `lib`.
pub fn compile_c(cc: &str, lib: &Path, dir: &Path, source: &str, name: &str, flags: &[&str]) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        lib.join("libgrlm.so").exists(),
        "{} has no libgrlm.so; build the library first (cargo build --release)",
        lib.display()
    );
    let exe = dir.join(name);
    let out = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-g"])
        .args(flags)
        .arg("-I")
        .arg(root.join("include"))
        .arg(root.join("tests/c").join(source))
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lgrlm", "-lpthread", "-lm"])
        .output()
        .unwrap_or_else(|e| panic!("run the C compiler ({cc}): {e}"));
    assert!(
        out.status.success(),
        "compiling {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}
