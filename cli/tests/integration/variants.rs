//! The `cpu-variants` build: llama.cpp's CPU kernels compiled once per instruction-set
//! level and chosen at run time. Every variant this CPU can run must recommend the same
//! items as the portable one, with scores within rounding; the default choice is named in
//! the benchmark's output and is more than the SSE2 baseline; the package works moved.

use std::process::{Command, Output};

use crate::common::{compare_request, fixture};
use grlm_testkit::fixtures::tiny_engine_files;

/// `grlm args…` with `GRLM_CPU_VARIANT` set to `variant` (or unset).
fn grlm_on(variant: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grlm"));
    cmd.args(args).env_remove("GRLM_MODEL").env_remove("GRLM_CPU_VARIANT");
    if let Some(v) = variant {
        cmd.env("GRLM_CPU_VARIANT", v);
    }
    grlm_testkit::process::output(&mut cmd)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The variants this build installed, from the error that names them.
fn installed(args: &[&str]) -> Vec<String> {
    let out = grlm_on(Some("no-such-variant"), args);
    assert!(!out.status.success());
    let text = stderr(&out);
    let list = text
        .split("(there are: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("the error names the variants: {text}"));
    list.split(", ").map(str::to_owned).collect()
}

#[test]
fn every_variant_this_cpu_runs_recommends_what_the_portable_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let (model, catalog) = tiny_engine_files(dir.path());
    let args = compare_request(&model, &catalog);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let variants = installed(&args);
    // x64 (no SIMD beyond SSE2) runs on every x86-64 CPU: the reference.
    assert!(variants.iter().any(|v| v == "x64"), "{variants:?}");
    let results = |out: &Output| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
        v["results"].as_array().unwrap().clone()
    };
    let reference = grlm_on(Some("x64"), &args);
    assert!(reference.status.success(), "{}", stderr(&reference));
    let reference = results(&reference);
    assert_eq!(reference.len(), 5);
    let mut ran = 0;
    for variant in &variants {
        let out = grlm_on(Some(variant), &args);
        if !out.status.success() {
            // A variant for instructions this CPU lacks is refused, never run.
            assert!(
                stderr(&out).contains("lacks instructions"),
                "{variant}: {}",
                stderr(&out)
            );
            continue;
        }
        ran += 1;
        for (got, want) in results(&out).iter().zip(&reference) {
            assert_eq!(got["item"], want["item"], "{variant}: same ranking");
            let (a, b) = (got["score"].as_f64().unwrap(), want["score"].as_f64().unwrap());
            // Wider vectors sum in another order; Q8 activations are the same.
            assert!((a - b).abs() < 5e-3, "{variant}, item {}: {a} vs {b}", got["item"]);
        }
    }
    assert!(
        ran >= 2,
        "x64 and sse42 run on any x86-64 CPU; ran {ran} of {variants:?}"
    );
}

#[test]
fn the_benchmark_names_the_best_variant_for_this_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let (model, catalog) = tiny_engine_files(dir.path());
    let sequences = fixture("sequences.txt");
    let args = [
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
        "--sequences",
        &sequences,
        "--history",
        "3",
        "--requests",
        "1",
        "-k",
        "2",
        "--beams",
        "2",
        "--thread-counts",
        "1",
        "--no-baseline",
        "--json",
    ];
    let runs = |variant| {
        let out = grlm_on(variant, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
        v["machine"]["cpu_variant"].as_str().unwrap().to_owned()
    };
    let chosen = runs(None);
    assert!(installed(&args).contains(&chosen), "{chosen}");
    assert_ne!(chosen, "x64", "any CI machine has more than SSE2");
    assert_eq!(runs(Some("x64")), "x64", "GRLM_CPU_VARIANT pins the variant");
}

/// A copy of `GRLM_PACKAGE_DIR` (what scripts/package-linux.sh gathers) in a new place.
fn moved_package(dir: &std::path::Path) -> std::path::PathBuf {
    let from = std::env::var_os("GRLM_PACKAGE_DIR").expect("GRLM_PACKAGE_DIR is not set: run scripts/test.sh");
    // Relative to the workspace, where scripts/test.sh names it from.
    let from = grlm_testkit::fixtures::workspace_root().join(from);
    let to = dir.join("moved-package");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
    to
}

#[test]
#[ignore = "needs the package: scripts/test.sh builds it and sets GRLM_PACKAGE_DIR"]
fn the_package_runs_every_c_function_and_the_cli_from_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let package = moved_package(dir.path());
    grlm_testkit::fixtures::write_c_inputs(dir.path());
    // The C program links the package's libgrlm.so, which finds llama.cpp and the CPU
    // modules beside itself: no LD_LIBRARY_PATH, no build tree.
    let exe = grlm_testkit::fixtures::compile_c("cc", &package, dir.path(), "api.c", "api-package", &[]);
    let out = grlm_testkit::process::output(
        Command::new(&exe)
            .arg(dir.path())
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("GRLM_CPU_VARIANT"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("all checks passed"),
        "{text}\n{}",
        stderr(&out)
    );

    let (model, catalog) = (dir.path().join("tiny.gguf"), dir.path().join("fixture.grlm"));
    let args = compare_request(&model, &catalog);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let packaged = grlm_testkit::process::output(
        Command::new(package.join("grlm"))
            .args(&args)
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("GRLM_CPU_VARIANT"),
    );
    assert!(packaged.status.success(), "{}", stderr(&packaged));
    let here = grlm_on(None, &args);
    let items = |out: &Output| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["item"].clone())
            .collect()
    };
    assert_eq!(items(&packaged), items(&here));
}
