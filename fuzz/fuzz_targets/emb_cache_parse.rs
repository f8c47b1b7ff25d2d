//! The embedding cache reader of `grlm-train neighbors`: never panics, and what parses writes
//! back to bytes that parse to the same cache. The target fixes up the trailing CRC first, so
//! the fuzzer explores the structure instead of stopping at the checksum.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_train::fuzz::emb_cache_parse(data);
});
