//! The C ABI: the only module with `extern "C"`. `include/grlm.h` is generated from it by
//! cbindgen (`cbindgen.toml`); `tests/integration/header.rs` fails when the two differ.
//!
//! Conventions, the same for every function (they are repeated in the header's preamble):
//! - Objects are opaque handles made by `grlm_*_open`/`_new`/a producing call and released
//!   by the matching `_free`, which accepts NULL. Freeing twice is undefined behaviour.
//! - Fallible functions return a [`grlm_status`]; results leave through out-parameters,
//!   which are written only when the status is [`GRLM_STATUS_OK`]. On failure,
//!   [`grlm_last_error_message`] says why, on the calling thread.
//! - Every pointer is checked for NULL, every string for UTF-8, every length against a cap,
//!   and every body runs inside a panic boundary: a Rust panic becomes
//!   `GRLM_STATUS_PANIC`, never an unwind into C.
//! - Parameter structs start with a `size` field that `grlm_*_default_params` fills in;
//!   a size this library does not know is refused (`GRLM_STATUS_STRUCT_SIZE`) rather
//!   than read past. Structs the library writes (results, info) never change within one
//!   `GRLM_ABI_VERSION`; new data gets new functions.
//!
//! No one-time process initialisation is needed: llama.cpp's backend starts lazily on the
//! first engine open (a `OnceLock` in `llm/`), so linking libgrlm costs an app nothing at
//! start-up and no library constructor (`ctor`) is used.
// C names on purpose: cbindgen writes these Rust names into the header unchanged.
#![allow(non_camel_case_types)]

mod args;
mod engine;
mod results;
mod session;
mod status;
#[cfg(test)]
mod tests;
mod version;
