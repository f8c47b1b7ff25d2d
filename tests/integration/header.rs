//! `include/grlm.h` is what cbindgen makes of `src/ffi`, byte for byte: a signature change
//! without a regenerated header fails here. `GRLM_BLESS=1` rewrites the header instead.

use std::path::Path;

fn generate() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        // Only src/ffi is the C API; parsing from its root keeps the rest of the crate out.
        .with_src(root.join("src/ffi/mod.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

#[test]
fn committed_header_matches_the_sources() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/grlm.h");
    let generated = generate();
    if std::env::var_os("GRLM_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write include/grlm.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "include/grlm.h is out of date with src/ffi (first difference at line {}); \
             regenerate it with `GRLM_BLESS=1 cargo test --release --test integration header::` and commit it",
            line + 1
        );
    }
}

#[test]
fn every_exported_function_is_in_the_header_with_the_prefix() {
    let header = generate();
    let ffi = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
    for entry in std::fs::read_dir(ffi).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for name in source
            .split("extern \"C\" fn ")
            .skip(1)
            .map(|rest| rest.split('(').next().unwrap())
        {
            assert!(name.starts_with("grlm_"), "{name} lacks the grlm_ prefix");
            let declared = [' ', '*']
                .iter()
                .any(|before| header.contains(&format!("{before}{name}(")));
            assert!(declared, "{name} missing from the header");
        }
    }
}
