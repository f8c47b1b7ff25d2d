//! TID text parsing: never panics, and whatever parses prints back to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm::tid::exercise(data);
});
