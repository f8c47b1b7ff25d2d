//! `train.jsonl` / `valid.jsonl`, as `grlm-train lora` reads them: never panics, what is
//! accepted keeps the format's promises and reads back the same after writing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_train::fuzz::sft_examples(data);
});
