//! Status codes, the per-thread last error, and the panic boundary every function runs in.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::catalog::CatalogError;
use crate::engine::EngineError;
use crate::llm::LlmError;

/// What a call did: one of the `GRLM_STATUS_*` values. Values are part of the ABI: they
/// never change and are never reused; new codes get new values. `grlm_status_name` gives a
/// code's name, and `grlm_last_error_message` the reason for the last failure on this
/// thread. A plain integer type rather than a C enum, so that every language imports one
/// unambiguous type (Swift sees a C enum and a typedef of one name as two).
pub type grlm_status = u32;

/// Success; the out-parameters were written.
pub const GRLM_STATUS_OK: grlm_status = 0;
/// A required pointer argument was NULL.
pub const GRLM_STATUS_NULL_ARGUMENT: grlm_status = 1;
/// A string argument is not valid UTF-8.
pub const GRLM_STATUS_INVALID_UTF8: grlm_status = 2;
/// An argument is out of range (k = 0, beams above the session's maximum, an absurd
/// length, an unknown mode, a flag other than 0 or 1, ...).
pub const GRLM_STATUS_INVALID_ARGUMENT: grlm_status = 3;
/// A parameter struct's `size` is not one this library knows: initialise structs with
/// their `grlm_*_default_params` function, from the header the library was built with.
pub const GRLM_STATUS_STRUCT_SIZE: grlm_status = 4;
/// An index past the end of a result list.
pub const GRLM_STATUS_INDEX_OUT_OF_RANGE: grlm_status = 5;
/// A file is missing or unreadable.
pub const GRLM_STATUS_IO: grlm_status = 10;
/// The catalogue is corrupt or truncated.
pub const GRLM_STATUS_CATALOG_CORRUPT: grlm_status = 11;
/// The catalogue was written by an incompatible format version.
pub const GRLM_STATUS_CATALOG_VERSION: grlm_status = 12;
/// The model file is not a GGUF llama.cpp can load.
pub const GRLM_STATUS_MODEL: grlm_status = 13;
/// The LoRA adapter does not load or does not fit the model.
pub const GRLM_STATUS_ADAPTER: grlm_status = 14;
/// The catalogue has no token trie: rebuild it with `grlm catalog build --model`.
pub const GRLM_STATUS_NO_TOKEN_TRIE: grlm_status = 15;
/// The catalogue's token trie was built for another model's tokenizer.
pub const GRLM_STATUS_TOKENIZER_MISMATCH: grlm_status = 16;
/// The session's history is empty.
pub const GRLM_STATUS_EMPTY_HISTORY: grlm_status = 20;
/// An item id is not in the catalogue.
pub const GRLM_STATUS_UNKNOWN_ITEM: grlm_status = 21;
/// The history's prompt and the beams do not fit the session's context.
pub const GRLM_STATUS_PROMPT_TOO_LONG: grlm_status = 22;
/// A TID text does not parse.
pub const GRLM_STATUS_INVALID_TID: grlm_status = 23;
/// Another thread is using this session right now (sessions are one thread at a time).
pub const GRLM_STATUS_SESSION_BUSY: grlm_status = 24;
/// llama.cpp failed (backend, context creation or a decode call).
pub const GRLM_STATUS_BACKEND: grlm_status = 30;
/// An earlier call on this session panicked; the session is unusable: free it.
pub const GRLM_STATUS_POISONED: grlm_status = 98;
/// A bug in libgrlm panicked; the call was abandoned and nothing was written.
pub const GRLM_STATUS_PANIC: grlm_status = 99;
/// A bug in libgrlm broke an internal invariant.
pub const GRLM_STATUS_INTERNAL: grlm_status = 100;

/// Every code and its name, for `grlm_status_name`.
pub(crate) const NAMES: [(grlm_status, &std::ffi::CStr); 22] = [
    (GRLM_STATUS_OK, c"GRLM_STATUS_OK"),
    (GRLM_STATUS_NULL_ARGUMENT, c"GRLM_STATUS_NULL_ARGUMENT"),
    (GRLM_STATUS_INVALID_UTF8, c"GRLM_STATUS_INVALID_UTF8"),
    (GRLM_STATUS_INVALID_ARGUMENT, c"GRLM_STATUS_INVALID_ARGUMENT"),
    (GRLM_STATUS_STRUCT_SIZE, c"GRLM_STATUS_STRUCT_SIZE"),
    (GRLM_STATUS_INDEX_OUT_OF_RANGE, c"GRLM_STATUS_INDEX_OUT_OF_RANGE"),
    (GRLM_STATUS_IO, c"GRLM_STATUS_IO"),
    (GRLM_STATUS_CATALOG_CORRUPT, c"GRLM_STATUS_CATALOG_CORRUPT"),
    (GRLM_STATUS_CATALOG_VERSION, c"GRLM_STATUS_CATALOG_VERSION"),
    (GRLM_STATUS_MODEL, c"GRLM_STATUS_MODEL"),
    (GRLM_STATUS_ADAPTER, c"GRLM_STATUS_ADAPTER"),
    (GRLM_STATUS_NO_TOKEN_TRIE, c"GRLM_STATUS_NO_TOKEN_TRIE"),
    (GRLM_STATUS_TOKENIZER_MISMATCH, c"GRLM_STATUS_TOKENIZER_MISMATCH"),
    (GRLM_STATUS_EMPTY_HISTORY, c"GRLM_STATUS_EMPTY_HISTORY"),
    (GRLM_STATUS_UNKNOWN_ITEM, c"GRLM_STATUS_UNKNOWN_ITEM"),
    (GRLM_STATUS_PROMPT_TOO_LONG, c"GRLM_STATUS_PROMPT_TOO_LONG"),
    (GRLM_STATUS_INVALID_TID, c"GRLM_STATUS_INVALID_TID"),
    (GRLM_STATUS_SESSION_BUSY, c"GRLM_STATUS_SESSION_BUSY"),
    (GRLM_STATUS_BACKEND, c"GRLM_STATUS_BACKEND"),
    (GRLM_STATUS_POISONED, c"GRLM_STATUS_POISONED"),
    (GRLM_STATUS_PANIC, c"GRLM_STATUS_PANIC"),
    (GRLM_STATUS_INTERNAL, c"GRLM_STATUS_INTERNAL"),
];

/// A failed call: the code returned and the message kept for `grlm_last_error_message`.
#[derive(Debug)]
pub(crate) struct Error {
    pub status: grlm_status,
    pub message: String,
}

impl Error {
    pub fn new(status: grlm_status, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
        }
    }
}

impl From<CatalogError> for Error {
    fn from(e: CatalogError) -> Self {
        let status = match e {
            CatalogError::Io { .. } => GRLM_STATUS_IO,
            CatalogError::UnsupportedVersion { .. } | CatalogError::UnknownRequiredSection { .. } => {
                GRLM_STATUS_CATALOG_VERSION
            }
            _ => GRLM_STATUS_CATALOG_CORRUPT,
        };
        Error::new(status, e.to_string())
    }
}

impl From<LlmError> for Error {
    fn from(e: LlmError) -> Self {
        let status = match e {
            LlmError::File { .. } => GRLM_STATUS_IO,
            LlmError::ModelLoad { .. } | LlmError::VocabOnly => GRLM_STATUS_MODEL,
            LlmError::AdapterLoad { .. } => GRLM_STATUS_ADAPTER,
            LlmError::Backend(_) | LlmError::Context(_) | LlmError::Decode(_) => GRLM_STATUS_BACKEND,
            LlmError::Limit(_) => GRLM_STATUS_INVALID_ARGUMENT,
        };
        Error::new(status, e.to_string())
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        let status = match e {
            EngineError::Llm(e) => return e.into(),
            EngineError::Catalog(e) => return e.into(),
            EngineError::NoTokenTrie => GRLM_STATUS_NO_TOKEN_TRIE,
            EngineError::TokenizerMismatch { .. } => GRLM_STATUS_TOKENIZER_MISMATCH,
            EngineError::EmptyHistory => GRLM_STATUS_EMPTY_HISTORY,
            EngineError::UnknownItem(_) => GRLM_STATUS_UNKNOWN_ITEM,
            EngineError::InvalidRequest(_) => GRLM_STATUS_INVALID_ARGUMENT,
            EngineError::PromptTooLong { .. } => GRLM_STATUS_PROMPT_TOO_LONG,
            EngineError::Internal(_) => GRLM_STATUS_INTERNAL,
        };
        Error::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let message = crate::ffi::args::c_string(message);
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
}

/// Runs `body` as the whole of an `extern "C"` function that returns a status: the last
/// error is cleared first and set on failure, and a panic is caught and reported.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Error>) -> grlm_status {
    set_last_error("");
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => GRLM_STATUS_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            set_last_error(&format!("libgrlm panicked (a bug; please report it): {what}"));
            GRLM_STATUS_PANIC
        }
    }
}

/// The panic boundary for functions that cannot fail and return a value: `fallback` is
/// returned if `body` panics anyway.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Why the last call on this thread that returned a `grlm_status` failed, as UTF-8; an
/// empty string after a success. Never NULL.
///
/// Lifetime: the string belongs to libgrlm and stays valid until the calling thread's
/// next call of a function that returns a `grlm_status`. Copy it to keep it.
///
/// Thread safety: each thread has its own message.
#[no_mangle]
pub extern "C" fn grlm_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || LAST_ERROR.with(|last| last.borrow().as_ptr()))
}

/// The name of a status code (`"GRLM_STATUS_UNKNOWN_ITEM"`), or `"GRLM_STATUS_UNKNOWN"`
/// for a value this library does not define. Static storage; never NULL; thread-safe.
#[no_mangle]
pub extern "C" fn grlm_status_name(status: grlm_status) -> *const c_char {
    guard_value(c"GRLM_STATUS_UNKNOWN".as_ptr(), || {
        NAMES
            .iter()
            .find(|(code, _)| *code == status)
            .map_or(c"GRLM_STATUS_UNKNOWN", |(_, name)| name)
            .as_ptr()
    })
}
