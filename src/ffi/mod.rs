//! The C ABI: the only module with `extern "C"`. `include/grlm.h` is generated from it by
//! cbindgen (`cbindgen.toml`); `tests/header.rs` fails when the two differ.
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

pub use engine::{
    grlm_catalog_info, grlm_engine, grlm_engine_catalog_info, grlm_engine_default_params, grlm_engine_free,
    grlm_engine_items, grlm_engine_open, grlm_engine_params, grlm_ground,
};
pub use results::{
    grlm_generated, grlm_method, grlm_result, grlm_results, grlm_results_free, grlm_results_generated_get,
    grlm_results_generated_len, grlm_results_get, grlm_results_len, grlm_results_stats, grlm_stats, GRLM_METHOD_DIRECT,
    GRLM_METHOD_LOOKUP, GRLM_METHOD_RECOMMENDED, GRLM_METHOD_STRUCTURAL,
};
pub use session::{
    grlm_mode, grlm_recommend, grlm_recommend_default_params, grlm_recommend_params, grlm_session,
    grlm_session_append_history, grlm_session_default_params, grlm_session_free, grlm_session_history_len,
    grlm_session_new, grlm_session_params, grlm_session_set_history, GRLM_MODE_CONSTRAINED, GRLM_MODE_FREE,
};
pub use status::*;
pub use version::{
    grlm_abi_version, grlm_version, GRLM_ABI_VERSION, GRLM_VERSION_MAJOR, GRLM_VERSION_MINOR, GRLM_VERSION_PATCH,
};
