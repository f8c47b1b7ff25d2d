//! TID text parsing: never panics, and whatever parses prints back to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_testkit::fuzz::tid_parse(data);
});
