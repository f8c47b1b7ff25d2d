//! The C API from C: tests/c/api.c (every function, success and error paths) and
//! tests/c/threads.c (one engine, four threads) compiled with the system C compiler against
//! include/grlm.h and libgrlm.so, then run plainly, under AddressSanitizer + UBSan, under
//! valgrind (memcheck, leaks), and under ThreadSanitizer.
//!
//! ThreadSanitizer instruments the C side only: Rust's own TSan needs a nightly toolchain
//! (`-Zsanitizer=thread` with a rebuilt std), which CI does not have. It still sees every
//! access the C threads make to what libgrlm hands them, and every lock and thread start.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{compile_c, lib_dir, write_c_inputs};

/// Compiles `source` (under tests/c) with `flags` into `dir`, linked to libgrlm.so.
fn compile(dir: &Path, source: &str, name: &str, flags: &[&str]) -> PathBuf {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    compile_c(&cc, &lib_dir(), dir, source, name, flags)
}

/// Runs `cmd`, failing the test with its output unless it exits 0.
fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout + &stderr
}

fn inputs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_c_inputs(dir.path());
    dir
}

#[test]
fn every_function_from_c() {
    let dir = inputs();
    let exe = compile(dir.path(), "api.c", "api", &[]);
    let out = run("api", Command::new(&exe).arg(dir.path()));
    assert!(out.contains("all checks passed"), "{out}");
}

#[test]
fn every_function_under_address_sanitizer() {
    let dir = inputs();
    let exe = compile(
        dir.path(),
        "api.c",
        "api-asan",
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    run(
        "api under ASan/UBSan",
        Command::new(&exe)
            .arg(dir.path())
            .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:abort_on_error=0")
            .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1"),
    );
}

#[test]
fn every_function_under_valgrind() {
    let dir = inputs();
    let exe = compile(dir.path(), "api.c", "api-valgrind", &[]);
    let valgrind = Command::new("valgrind").arg("--version").output();
    assert!(
        valgrind.is_ok_and(|o| o.status.success()),
        "valgrind is not installed; run scripts/install-deps.sh"
    );
    run(
        "api under valgrind",
        Command::new("valgrind")
            .args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect,possible",
                "--errors-for-leak-kinds=definite,indirect,possible",
                "--quiet",
            ])
            .arg(&exe)
            .arg(dir.path()),
    );
}

#[test]
fn four_threads_share_one_engine() {
    let dir = inputs();
    let exe = compile(dir.path(), "threads.c", "threads", &[]);
    let out = run("threads", Command::new(&exe).arg(dir.path()));
    assert!(out.contains("identical to the single-threaded run"), "{out}");
}

#[test]
fn four_threads_under_thread_sanitizer() {
    let dir = inputs();
    let exe = compile(dir.path(), "threads.c", "threads-tsan", &["-fsanitize=thread"]);
    run(
        "threads under TSan",
        Command::new(&exe)
            .arg(dir.path())
            .env("TSAN_OPTIONS", "halt_on_error=1"),
    );
}

#[test]
fn the_library_exports_only_the_c_api() {
    let out = run(
        "nm",
        Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(lib_dir().join("libgrlm.so")),
    );
    let names: Vec<&str> = out.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    assert!(names.contains(&"grlm_recommend"), "{names:?}");
    let foreign: Vec<&&str> = names.iter().filter(|n| !n.starts_with("grlm_")).collect();
    assert!(foreign.is_empty(), "exported without the grlm_ prefix: {foreign:?}");
}
