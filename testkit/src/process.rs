//! Running programs from tests: the one place that turns a child process's exit status and
//! output into a test failure with everything needed to read it.

use std::process::{Command, Output};

/// Runs `cmd` to completion and returns its output; panics only when it cannot be started.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()))
}

/// Runs `cmd`, failing the test with its output unless it exits 0; returns stdout followed
/// by stderr.
pub fn run_ok(what: &str, cmd: &mut Command) -> String {
    let out = output(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout + &stderr
}

/// Stdout of a run that must have succeeded, parsed as one JSON value.
pub fn ok_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "command failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON value ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Checks that a run failed and said `needle` on stderr.
pub fn fails_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded; wanted {needle:?}");
    assert!(stderr.contains(needle), "wanted {needle:?} in {stderr}");
}

/// Checks that a run failed with exit status `code` (both CLIs use 1 for a failed command
/// and 2 for a usage error) and said `needle` on stderr.
pub fn fails_with_status(out: &Output, code: i32, needle: &str) {
    fails_with(out, needle);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
