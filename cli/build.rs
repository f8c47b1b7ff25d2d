//! With `cpu-variants`, llama.cpp is a set of shared libraries installed beside the binary;
//! `$ORIGIN` lets the binary find them there wherever that directory is moved, as an
//! old-style RPATH, which also serves the libraries they load in turn.
fn main() {
    let variants = std::env::var_os("CARGO_FEATURE_CPU_VARIANTS").is_some();
    if variants && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-Wl,--disable-new-dtags,-rpath,$ORIGIN");
    }
}
