//! Any bytes, opened as a catalogue and read every way: errors are fine, panics are not.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm::catalog::exercise(data);
});
