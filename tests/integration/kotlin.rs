//! The Kotlin binding (bindings/kotlin) on the JVM: compiles it with its test program
//! (BindingTest.kt) and runs that against libgrlm.so, the tiny model and the fixture
//! catalogue, without and with a collaborative prior. Needs kotlinc, java and JNA:
//! scripts/install-deps.sh installs them, and their absence fails the test rather than
//! skipping it, so a CI machine without them cannot pass silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const INSTALL_HINT: &str = "run scripts/install-deps.sh (Debian packages kotlin and libjna-java)";

/// Where Debian's libjna-java puts JNA; `JNA_JAR` overrides it.
const DEFAULT_JNA_JAR: &str = "/usr/share/java/jna.jar";

fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

fn require_tool(tool: &str) -> PathBuf {
    on_path(tool).unwrap_or_else(|| panic!("{tool} is not on PATH: {INSTALL_HINT}"))
}

fn require_jna() -> PathBuf {
    let jar = std::env::var_os("JNA_JAR").map_or_else(|| PathBuf::from(DEFAULT_JNA_JAR), PathBuf::from);
    assert!(jar.is_file(), "JNA not found at {}: {INSTALL_HINT}", jar.display());
    jar
}

/// The `.kt` files directly in `dir`, sorted so that runs compile the same command line.
fn kotlin_sources(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no Kotlin sources in {}", dir.display());
    files
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn kotlin_binding_passes_its_jvm_test() {
    let kotlinc = require_tool("kotlinc");
    let java = require_tool("java");
    let jna = require_jna();
    // First, so that a missing or stale libgrlm.so fails before the slow compile.
    let lib_dir = grlm_testkit::fixtures::lib_dir();

    let dir = tempfile::tempdir().expect("temp dir");
    let (model, catalog) = grlm_testkit::fixtures::tiny_engine_files(dir.path());
    // The prior of tests/fixtures/sequences.txt, the last item of every sequence held out.
    let prior_catalog = dir.path().join("prior.grlm");
    grlm_testkit::fixtures::build_fixture_catalog_with_prior(&prior_catalog, Some(&model), 1);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("bindings/kotlin/src");
    let mut sources = kotlin_sources(&root.join("main/kotlin/org/libgrlm"));
    sources.extend(kotlin_sources(&root.join("test/kotlin/org/libgrlm")));

    // One jar with the Kotlin runtime inside, so running needs nothing but it and JNA.
    let jar = dir.path().join("binding-test.jar");
    let compiled = Command::new(&kotlinc)
        .args(["-jvm-target", "1.8", "-include-runtime", "-cp"])
        .arg(&jna)
        .arg("-d")
        .arg(&jar)
        .args(&sources)
        .output()
        .expect("run kotlinc");
    assert!(compiled.status.success(), "{}", describe("kotlinc", &compiled));

    let classpath = std::env::join_paths([&jar, &jna]).expect("classpath");
    let ran = Command::new(&java)
        .arg(format!("-Djna.library.path={}", lib_dir.display()))
        .arg("-cp")
        .arg(&classpath)
        .arg("org.libgrlm.BindingTest")
        .arg(&model)
        .arg(&catalog)
        .arg(&prior_catalog)
        .output()
        .expect("run java");
    assert!(ran.status.success(), "{}", describe("the Kotlin binding test", &ran));
    print!("{}", String::from_utf8_lossy(&ran.stdout));
}
