//! Build-time constants, and the names of the C API's status codes. Nothing here touches
//! the network.

use std::fmt::Write as _;

fn main() {
    // Reported by `grlm --version` and by benchmark output, so numbers carry their build.
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=GRLM_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    status_names();
    // A `cpu-variants` libgrlm.so finds llama.cpp's shared libraries installed beside it,
    // and they find each other there (an old-style RPATH also serves the libraries it loads).
    let variants = std::env::var_os("CARGO_FEATURE_CPU_VARIANTS").is_some();
    if variants && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-cdylib=-Wl,--disable-new-dtags,-rpath,$ORIGIN");
    }
}

/// Writes `NAMES`, every `GRLM_STATUS_*` constant of src/ffi/status.rs with its name, so
/// that declaring a code is all it takes for `grlm_status_name` to know it. (The constants
/// stay plain declarations: cbindgen reads them from the source to write the header.)
fn status_names() {
    let source = "src/ffi/status.rs";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("read src/ffi/status.rs");
    let names: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("pub const GRLM_STATUS_"))
        .filter_map(|rest| rest.split_once(':'))
        .map(|(name, _)| name)
        .collect();
    let mut out = format!(
        "/// Every status code and its name.\npub(crate) const NAMES: [(grlm_status, &std::ffi::CStr); {}] = [\n",
        names.len()
    );
    for name in &names {
        writeln!(out, "    (GRLM_STATUS_{name}, c\"GRLM_STATUS_{name}\"),").expect("write to a String");
    }
    out.push_str("];\n");
    let dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(std::path::Path::new(&dir).join("status_names.rs"), out).expect("write status_names.rs");
}
