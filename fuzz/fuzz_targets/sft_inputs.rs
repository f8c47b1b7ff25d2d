//! The inputs of `grlm-train sft` that the engine does not read itself (items with their
//! metadata, neighbours) and its per-user view of sequences: never panics, and what is
//! accepted has unique ids on the lines it names.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_train::fuzz::sft_inputs(data);
});
