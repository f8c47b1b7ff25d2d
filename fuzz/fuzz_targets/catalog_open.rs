//! Any bytes, opened as a catalogue and read every way: errors are fine, panics that escape
//! the library are not.
#![no_main]

use std::sync::Once;

static HOOK: Once = Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys makes every panic abort, even one the library catches on purpose (the
    // fst decoder's, turned into `CatalogError::Corrupt` by `guard_fst`). Restore the
    // default hook: a panic that escapes `exercise` still aborts through the harness's own
    // catch, and is reported as a crash.
    HOOK.call_once(|| {
        let _ = std::panic::take_hook();
    });
    grlm_testkit::fuzz::catalog_open(data);
});
