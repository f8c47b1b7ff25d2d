//! Prior counts files (`grlm catalog build --transitions`): the parser on any bytes, and
//! whatever parses built into a catalogue that must open, verify and score.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_testkit::fuzz::prior_counts(data);
});
