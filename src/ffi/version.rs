//! Library and ABI versions, at compile time (header constants) and at run time.

use std::ffi::c_char;

use super::status::guard_value;

/// Major version of the libgrlm the header belongs to (equals the crate version).
#[allow(dead_code)] // for C, through the header; a test checks it against the crate version
pub const GRLM_VERSION_MAJOR: u32 = 0;
/// Minor version.
#[allow(dead_code)] // for C, through the header; a test checks it against the crate version
pub const GRLM_VERSION_MINOR: u32 = 1;
/// Patch version.
#[allow(dead_code)] // for C, through the header; a test checks it against the crate version
pub const GRLM_VERSION_PATCH: u32 = 0;
/// Version of the binary interface. It changes whenever a function's signature, a struct's
/// layout or a status value changes incompatibly; compare it with `grlm_abi_version()` at
/// start-up to detect a header/library mismatch.
pub const GRLM_ABI_VERSION: u32 = 1;

/// The library's version, `"major.minor.patch"`. Static storage; thread-safe.
#[no_mangle]
pub extern "C" fn grlm_version() -> *const c_char {
    guard_value(c"".as_ptr(), || VERSION_C.as_ptr())
}

/// The library's `GRLM_ABI_VERSION`: equal to the header's when they match. Thread-safe.
#[no_mangle]
pub extern "C" fn grlm_abi_version() -> u32 {
    GRLM_ABI_VERSION
}

const VERSION_C: &std::ffi::CStr =
    match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the crate version has no NUL byte"),
    };
