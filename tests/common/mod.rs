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
