//! The TID automaton that masks generation in `grlm-train terms`: never panics, and every
//! text it accepts is a TID the engine parses back to the same text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_train::fuzz::tid_grammar(data);
});
