//! Status codes, the per-thread last error, and the panic boundary every function runs in.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::catalog::CatalogError;
use crate::engine::EngineError;
use crate::llm::LlmError;

/// What a call did. Values are part of the ABI: they never change and are never reused;
/// new codes get new values. `grlm_status_name` gives a code's name, and
/// `grlm_last_error_message` the reason for the last failure on this thread.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum grlm_status {
    /// Success; the out-parameters were written.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument is out of range (k = 0, beams above the session's maximum, an absurd
    /// length, an unknown mode, a flag other than 0 or 1, ...).
    InvalidArgument = 3,
    /// A parameter struct's `size` is not one this library knows: initialise structs with
    /// their `grlm_*_default_params` function, from the header the library was built with.
    StructSize = 4,
    /// An index past the end of a result list.
    IndexOutOfRange = 5,
    /// A file is missing or unreadable.
    Io = 10,
    /// The catalogue is corrupt or truncated.
    CatalogCorrupt = 11,
    /// The catalogue was written by an incompatible format version.
    CatalogVersion = 12,
    /// The model file is not a GGUF llama.cpp can load.
    Model = 13,
    /// The LoRA adapter does not load or does not fit the model.
    Adapter = 14,
    /// The catalogue has no token trie: rebuild it with `grlm catalog build --model`.
    NoTokenTrie = 15,
    /// The catalogue's token trie was built for another model's tokenizer.
    TokenizerMismatch = 16,
    /// The session's history is empty.
    EmptyHistory = 20,
    /// An item id is not in the catalogue.
    UnknownItem = 21,
    /// The history's prompt and the beams do not fit the session's context.
    PromptTooLong = 22,
    /// A TID text does not parse.
    InvalidTid = 23,
    /// Another thread is using this session right now (sessions are one thread at a time).
    SessionBusy = 24,
    /// llama.cpp failed (backend, context creation or a decode call).
    Backend = 30,
    /// An earlier call on this session panicked; the session is unusable: free it.
    Poisoned = 98,
    /// A bug in libgrlm panicked; the call was abandoned and nothing was written.
    Panic = 99,
    /// A bug in libgrlm broke an internal invariant.
    Internal = 100,
}

impl grlm_status {
    /// The code's name as it appears in the header.
    fn name(self) -> &'static std::ffi::CStr {
        match self {
            grlm_status::Ok => c"GRLM_STATUS_OK",
            grlm_status::NullArgument => c"GRLM_STATUS_NULL_ARGUMENT",
            grlm_status::InvalidUtf8 => c"GRLM_STATUS_INVALID_UTF8",
            grlm_status::InvalidArgument => c"GRLM_STATUS_INVALID_ARGUMENT",
            grlm_status::StructSize => c"GRLM_STATUS_STRUCT_SIZE",
            grlm_status::IndexOutOfRange => c"GRLM_STATUS_INDEX_OUT_OF_RANGE",
            grlm_status::Io => c"GRLM_STATUS_IO",
            grlm_status::CatalogCorrupt => c"GRLM_STATUS_CATALOG_CORRUPT",
            grlm_status::CatalogVersion => c"GRLM_STATUS_CATALOG_VERSION",
            grlm_status::Model => c"GRLM_STATUS_MODEL",
            grlm_status::Adapter => c"GRLM_STATUS_ADAPTER",
            grlm_status::NoTokenTrie => c"GRLM_STATUS_NO_TOKEN_TRIE",
            grlm_status::TokenizerMismatch => c"GRLM_STATUS_TOKENIZER_MISMATCH",
            grlm_status::EmptyHistory => c"GRLM_STATUS_EMPTY_HISTORY",
            grlm_status::UnknownItem => c"GRLM_STATUS_UNKNOWN_ITEM",
            grlm_status::PromptTooLong => c"GRLM_STATUS_PROMPT_TOO_LONG",
            grlm_status::InvalidTid => c"GRLM_STATUS_INVALID_TID",
            grlm_status::SessionBusy => c"GRLM_STATUS_SESSION_BUSY",
            grlm_status::Backend => c"GRLM_STATUS_BACKEND",
            grlm_status::Poisoned => c"GRLM_STATUS_POISONED",
            grlm_status::Panic => c"GRLM_STATUS_PANIC",
            grlm_status::Internal => c"GRLM_STATUS_INTERNAL",
        }
    }

    /// Every code, for the name lookup and the tests.
    pub(crate) const ALL: [grlm_status; 22] = [
        grlm_status::Ok,
        grlm_status::NullArgument,
        grlm_status::InvalidUtf8,
        grlm_status::InvalidArgument,
        grlm_status::StructSize,
        grlm_status::IndexOutOfRange,
        grlm_status::Io,
        grlm_status::CatalogCorrupt,
        grlm_status::CatalogVersion,
        grlm_status::Model,
        grlm_status::Adapter,
        grlm_status::NoTokenTrie,
        grlm_status::TokenizerMismatch,
        grlm_status::EmptyHistory,
        grlm_status::UnknownItem,
        grlm_status::PromptTooLong,
        grlm_status::InvalidTid,
        grlm_status::SessionBusy,
        grlm_status::Backend,
        grlm_status::Poisoned,
        grlm_status::Panic,
        grlm_status::Internal,
    ];
}

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
            CatalogError::Io { .. } => grlm_status::Io,
            CatalogError::UnsupportedVersion { .. } | CatalogError::UnknownRequiredSection { .. } => {
                grlm_status::CatalogVersion
            }
            _ => grlm_status::CatalogCorrupt,
        };
        Error::new(status, e.to_string())
    }
}

impl From<LlmError> for Error {
    fn from(e: LlmError) -> Self {
        let status = match e {
            LlmError::File { .. } => grlm_status::Io,
            LlmError::ModelLoad { .. } | LlmError::VocabOnly => grlm_status::Model,
            LlmError::AdapterLoad { .. } => grlm_status::Adapter,
            LlmError::Backend(_) | LlmError::Context(_) | LlmError::Decode(_) => grlm_status::Backend,
            LlmError::Limit(_) => grlm_status::InvalidArgument,
        };
        Error::new(status, e.to_string())
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        let status = match e {
            EngineError::Llm(e) => return e.into(),
            EngineError::Catalog(e) => return e.into(),
            EngineError::NoTokenTrie => grlm_status::NoTokenTrie,
            EngineError::TokenizerMismatch { .. } => grlm_status::TokenizerMismatch,
            EngineError::EmptyHistory => grlm_status::EmptyHistory,
            EngineError::UnknownItem(_) => grlm_status::UnknownItem,
            EngineError::InvalidRequest(_) => grlm_status::InvalidArgument,
            EngineError::PromptTooLong { .. } => grlm_status::PromptTooLong,
            EngineError::Internal(_) => grlm_status::Internal,
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
        Ok(Ok(())) => grlm_status::Ok,
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
            grlm_status::Panic
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
pub extern "C" fn grlm_status_name(status: u32) -> *const c_char {
    guard_value(c"GRLM_STATUS_UNKNOWN".as_ptr(), || {
        grlm_status::ALL
            .iter()
            .find(|s| **s as u32 == status)
            .map_or(c"GRLM_STATUS_UNKNOWN", |s| s.name())
            .as_ptr()
    })
}
