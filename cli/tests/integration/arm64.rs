//! libgrlm and the `grlm` CLI cross-built for aarch64-unknown-linux-gnu, run under qemu
//! user-mode emulation against the native build: same catalogue bytes, same
//! recommendations, every C function from C, and the portable benchmark.
//!
//! These need the cross build, so they are ignored in a plain `cargo test`;
//! `scripts/arm64.sh` (run by the test command) builds it and runs them with `--ignored`,
//! passing where it lies in `GRLM_ARM64_DIR`, the emulator in `GRLM_ARM64_RUNNER` and the
//! cross C compiler in `GRLM_ARM64_CC`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use common::{compare_request, fixture, grlm};
use grlm_testkit::fixtures::{compile_c, tiny_engine_files, write_c_inputs};

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/arm64.sh"))
}

/// The directory holding the aarch64 `grlm` and `libgrlm.so`.
fn arm_dir() -> PathBuf {
    let dir = PathBuf::from(setting("GRLM_ARM64_DIR"));
    assert!(dir.join("grlm").exists(), "no aarch64 grlm in {}", dir.display());
    dir
}

/// `program args…` under the emulator.
fn emulated(program: &Path) -> Command {
    let runner = setting("GRLM_ARM64_RUNNER");
    let mut parts = runner.split_whitespace();
    let mut cmd = Command::new(parts.next().expect("GRLM_ARM64_RUNNER names a program"));
    cmd.args(parts).arg(program);
    cmd
}

fn arm_grlm(args: &[&str]) -> Output {
    emulated(&arm_dir().join("grlm"))
        .args(args)
        .env_remove("GRLM_MODEL")
        .output()
        .expect("run the emulator")
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("one JSON value")
}

#[test]
#[ignore = "needs the aarch64 build and qemu: scripts/arm64.sh"]
fn the_arm64_cli_builds_the_same_catalogue_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (model, native) = tiny_engine_files(dir.path());
    let arm = dir.path().join("arm.grlm");
    let (items, tids) = (fixture("items.jsonl"), fixture("tids.jsonl"));
    ok(arm_grlm(&[
        "catalog",
        "build",
        "--items",
        &items,
        "--tids",
        &tids,
        "--model",
        model.to_str().unwrap(),
        "--out",
        arm.to_str().unwrap(),
    ]));
    // The format is explicitly little-endian and the build deterministic: byte for byte.
    assert_eq!(std::fs::read(&arm).unwrap(), std::fs::read(&native).unwrap());
    ok(arm_grlm(&["catalog", "verify", native.to_str().unwrap()]));
}

#[test]
#[ignore = "needs the aarch64 build and qemu: scripts/arm64.sh"]
fn the_arm64_cli_recommends_what_the_native_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let (model, catalog) = tiny_engine_files(dir.path());
    let args = compare_request(&model, &catalog);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let native = json(&ok(grlm(&args)));
    let arm = json(&ok(arm_grlm(&args)));
    let results = |v: &serde_json::Value| v["results"].as_array().unwrap().clone();
    let (native, arm) = (results(&native), results(&arm));
    assert_eq!(arm.len(), 5);
    for (a, n) in arm.iter().zip(&native) {
        assert_eq!(a["item"], n["item"], "same ranking:\n{arm:?}\n{native:?}");
        assert_eq!(a["tid"], n["tid"]);
        let (sa, sn) = (a["score"].as_f64().unwrap(), n["score"].as_f64().unwrap());
        // llama.cpp's ARM64 kernels round differently from its x86 ones.
        assert!((sa - sn).abs() < 5e-3, "item {}: {sa} vs {sn}", a["item"]);
    }
}

#[test]
#[ignore = "needs the aarch64 build and qemu: scripts/arm64.sh"]
fn every_c_function_on_arm64() {
    let dir = tempfile::tempdir().unwrap();
    write_c_inputs(dir.path());
    let exe = compile_c(
        &setting("GRLM_ARM64_CC"),
        &arm_dir(),
        dir.path(),
        "api.c",
        "api-arm64",
        &[],
    );
    let out = ok(emulated(&exe).arg(dir.path()).output().expect("run the emulator"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("all checks passed"), "{text}");
}

#[test]
#[ignore = "needs the aarch64 build and qemu: scripts/arm64.sh"]
fn the_portable_benchmark_runs_on_arm64() {
    let dir = tempfile::tempdir().unwrap();
    let (model, catalog) = tiny_engine_files(dir.path());
    let svg = dir.path().join("arm.svg");
    let out = json(&ok(arm_grlm(&[
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
        "--sequences",
        &fixture("sequences.txt"),
        "--history",
        "3",
        "--requests",
        "2",
        "-k",
        "2",
        "--beams",
        "4",
        "--thread-counts",
        "1",
        "--label",
        "qemu",
        "--json",
        "--svg",
        svg.to_str().unwrap(),
    ])));
    assert_eq!(out["schema"], "grlm-bench/5");
    assert_eq!(out["machine"]["arch"], "aarch64");
    assert_eq!(out["machine"]["target"], "aarch64-unknown-linux-gnu");
    assert!(out["runs"][0]["cold_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}
