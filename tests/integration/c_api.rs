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

use grlm_testkit::fixtures::{compile_c, lib_dir, write_c_inputs};
use grlm_testkit::process::run_ok;

/// Compiles `source` (under tests/c) with `flags` into `dir`, linked to libgrlm.so.
fn compile(dir: &Path, source: &str, name: &str, flags: &[&str]) -> PathBuf {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    compile_c(&cc, &lib_dir(), dir, source, name, flags)
}

/// The folder of files tests/c/api.c and threads.c open, written once per run of this test
/// binary (under cargo's per-target scratch folder): the C programs only read them, and each
/// test compiles into a name of its own.
fn inputs() -> &'static Path {
    static INPUTS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    INPUTS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_api");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        write_c_inputs(&dir);
        dir
    })
}

#[test]
fn every_function_from_c() {
    let dir = inputs();
    let exe = compile(dir, "api.c", "api", &[]);
    let out = run_ok("api", Command::new(&exe).arg(dir));
    assert!(out.contains("all checks passed"), "{out}");
}

#[test]
fn every_function_under_address_sanitizer() {
    let dir = inputs();
    let exe = compile(
        dir,
        "api.c",
        "api-asan",
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    run_ok(
        "api under ASan/UBSan",
        Command::new(&exe)
            .arg(dir)
            .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:abort_on_error=0")
            .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1"),
    );
}

#[test]
fn every_function_under_valgrind() {
    let dir = inputs();
    let exe = compile(dir, "api.c", "api-valgrind", &[]);
    let valgrind = Command::new("valgrind").arg("--version").output();
    assert!(
        valgrind.is_ok_and(|o| o.status.success()),
        "valgrind is not installed; run scripts/install-deps.sh"
    );
    run_ok(
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
            .arg(dir),
    );
}

#[test]
fn four_threads_share_one_engine() {
    let dir = inputs();
    let exe = compile(dir, "threads.c", "threads", &[]);
    let out = run_ok("threads", Command::new(&exe).arg(dir));
    assert!(out.contains("identical to the single-threaded run"), "{out}");
}

#[test]
fn four_threads_under_thread_sanitizer() {
    let dir = inputs();
    let exe = compile(dir, "threads.c", "threads-tsan", &["-fsanitize=thread"]);
    run_ok(
        "threads under TSan",
        Command::new(&exe).arg(dir).env("TSAN_OPTIONS", "halt_on_error=1"),
    );
}

#[test]
fn the_library_exports_only_the_c_api() {
    let out = run_ok(
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
