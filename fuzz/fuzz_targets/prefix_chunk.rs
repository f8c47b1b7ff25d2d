//! A chunk of the trainer's cached frozen-block outputs, as a resumed run reads it back:
//! never panics, and what is accepted fills every example exactly and writes back the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_train::fuzz::prefix_chunk(data);
});
