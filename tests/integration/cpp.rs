//! The C++ side: grlm.hpp included twice in two translation units, and the example app built
//! the way an app would, through `scripts/install.sh` and CMake's `find_package(grlm)` (shared
//! and static) and through pkg-config, then run on the tiny model, with the fixture catalogue
//! with and without a collaborative prior.

use std::path::Path;
use std::process::Command;

use grlm_testkit::fixtures::{build_fixture_catalog_with_prior, lib_dir, tiny_engine_files};
use grlm_testkit::process::run_ok;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const CXX_FLAGS: [&str; 5] = ["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"];

#[test]
fn headers_included_twice_in_two_units() {
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_dir();
    let exe = dir.path().join("double_include");
    run_ok(
        "c++ double_include",
        Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()))
            .args(CXX_FLAGS)
            .arg("-I")
            .arg(root().join("include"))
            .arg("-I")
            .arg(root().join("bindings/cpp"))
            .arg(root().join("tests/cpp/double_include.cpp"))
            .arg(root().join("tests/cpp/second_unit.cpp"))
            .arg("-o")
            .arg(&exe)
            .arg(format!("-L{}", lib.display()))
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lgrlm"),
    );
    assert!(run_ok("double_include", &mut Command::new(&exe)).contains("double include ok"));
}

/// The example's answer for history 1 2 3 on the catalogue without a prior: no prior
/// ranking, then three recommendations after a "next" line.
fn check_example(output: &str) {
    assert!(
        output.contains("prior: none") && !output.contains("by prior"),
        "{output}"
    );
    check_next(output, &[1, 2, 3]);
}

/// The items listed after the line starting with `header`, up to the next unindented line.
fn listed_after(output: &str, header: &str) -> Vec<u32> {
    output
        .lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

/// Three recommendations after the "next" line, the last section, none of them in
/// `history`, from a session restored from the first one's state, which evaluated one
/// token (the history did not change).
fn check_next(output: &str, history: &[u32]) {
    let restored = format!("history of {} items restored", history.len());
    assert!(
        output.contains(&restored) && output.contains("1 prompt tokens evaluated"),
        "{output}"
    );
    let next = listed_after(output, "next");
    let after_next = output.lines().skip_while(|l| !l.starts_with("next")).skip(1).count();
    assert_eq!((next.len(), after_next), (3, 3), "{output}");
    for item in next {
        assert!(
            (1..=12).contains(&item) && !history.contains(&item),
            "history item or unknown id in {output}"
        );
    }
    assert!(output.contains("12 items, CPU kernels: built-in"), "{output}");
}

/// The example on a catalogue with the fixture's prior (holdout 1) and history 3 7 1 9: the
/// prior alone ranks 2 (1 led to 2) then 8 (7 led to 8); the mixture, a list with one cold
/// slot (item 4, never counted, last) and then the default fused recommendations follow.
fn check_example_with_prior(output: &str) {
    assert!(output.contains("prior: 5 users, 10 transitions"), "{output}");
    let by_prior = listed_after(output, "by prior");
    assert_eq!(by_prior.len(), 3, "{output}");
    assert_eq!(by_prior[..2], [2, 8], "{output}");
    let by_mixture = listed_after(output, "by mixture");
    assert_eq!(by_mixture.len(), 3, "{output}");
    assert!(
        by_mixture
            .iter()
            .all(|i| (1..=12).contains(i) && ![3, 7, 1, 9].contains(i)),
        "{output}"
    );
    let slotted = listed_after(output, "with a cold slot");
    assert_eq!((slotted.len(), slotted.last()), (3, Some(&4)), "{output}");
    check_next(output, &[3, 7, 1, 9]);
}

#[test]
fn example_builds_with_find_package_and_pkg_config() {
    let dir = tempfile::tempdir().unwrap();
    let (model, catalog) = tiny_engine_files(dir.path());
    let prefix = dir.path().join("prefix");
    lib_dir(); // fails clearly if the library is stale
    run_ok(
        "scripts/install.sh",
        Command::new(root().join("scripts/install.sh"))
            .arg("--no-build")
            .arg(&prefix),
    );

    // CMake, shared and static.
    let build = dir.path().join("build");
    run_ok(
        "cmake configure",
        Command::new("cmake")
            .arg("-S")
            .arg(root().join("bindings/cpp/example"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
            .arg("-DGRLM_EXAMPLE_STATIC=ON")
            .arg(format!("-DCMAKE_CXX_FLAGS=-I{}", root().join("bindings/cpp").display())),
    );
    run_ok("cmake build", Command::new("cmake").arg("--build").arg(&build));
    let args = [model.to_str().unwrap(), catalog.to_str().unwrap(), "1", "2", "3"];
    let prior_catalog = dir.path().join("prior.grlm");
    build_fixture_catalog_with_prior(&prior_catalog, Some(&model), 1);
    let prior_args = [
        model.to_str().unwrap(),
        prior_catalog.to_str().unwrap(),
        "3",
        "7",
        "1",
        "9",
    ];
    for exe in ["grlm-example", "grlm-example-static"] {
        check_example(&run_ok(exe, Command::new(build.join(exe)).args(args)));
        check_example_with_prior(&run_ok(exe, Command::new(build.join(exe)).args(prior_args)));
    }
    let ldd = run_ok("ldd", Command::new("ldd").arg(build.join("grlm-example-static")));
    assert!(
        !ldd.contains("libgrlm"),
        "the static build still needs libgrlm.so:\n{ldd}"
    );

    // pkg-config.
    let pc = prefix.join("lib/pkgconfig");
    let flags = run_ok(
        "pkg-config",
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "grlm"])
            .env("PKG_CONFIG_PATH", &pc),
    );
    let exe = dir.path().join("example-pkg-config");
    run_ok(
        "c++ with pkg-config flags",
        Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()))
            .args(CXX_FLAGS)
            .arg(root().join("bindings/cpp/example/main.cpp"))
            .arg("-o")
            .arg(&exe)
            .args(flags.split_whitespace())
            .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display())),
    );
    check_example(&run_ok("example via pkg-config", Command::new(&exe).args(args)));
}
