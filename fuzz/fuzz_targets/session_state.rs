//! Saved session states (`Session::restore_state`'s input): never panics, and what parses
//! writes back to the same bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_testkit::fuzz::session_state(data);
});
