//! The progress file of `grlm-train terms` (`<out>.partial`), read back by `--resume`:
//! never panics, and what it accepts writes back to a file that reads the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_train::fuzz::terms_partial(data);
});
