//! Build-time constants. Nothing here touches the network.

fn main() {
    // Reported by `grlm --version` and by benchmark output, so numbers carry their build.
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=GRLM_BUILD_TARGET={target}");
    println!("cargo:rustc-env=GRLM_BUILD_PROFILE={profile}");
    println!("cargo:rerun-if-changed=build.rs");
}
