//! sequences.txt and item-list (`--new-items`) parsing: never panics, and what parses obeys
//! the protocol's invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_testkit::fuzz::sequences_parse(data);
});
