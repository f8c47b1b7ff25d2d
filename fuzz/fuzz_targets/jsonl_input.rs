//! Build inputs: items and TIDs JSONL parsers on any bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_testkit::fuzz::jsonl_input(data);
});
