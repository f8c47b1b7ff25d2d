//! What `grlm-train terms --endpoint` reads from a chat-completions server: the response
//! body and the TID in its reply. Never panics; every TID it accepts has the asked number
//! of terms and prints back through the engine's TID parser unchanged.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grlm_train::fuzz::endpoint_reply(data);
});
