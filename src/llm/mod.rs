//! The backbone: the only module that touches `llama-cpp-2` (and through it llama.cpp).
//!
//! - [`Model`]: a GGUF model loaded once and shared (weights memory-mapped); also loads
//!   vocabulary-only for tokenizing, and owns the tokenizer fingerprint.
//! - [`LoraAdapter`]: a llama.cpp LoRA adapter GGUF, applied to contexts at a scale.
//! - [`Context`]: one KV cache and its decode calls: batches of tokens with positions and
//!   sequence ids, logits per batch row, sequence copy/remove for beam forks.
//!
//! llama.cpp has one global backend; [`Model::load`] initialises it on first use. Its log
//! output is silenced unless `GRLM_LLAMA_LOG=1`.

mod context;
mod model;
#[cfg(feature = "cpu-variants")]
mod variants;

// The variants build makes every llama.cpp backend a module, and the engine loads only the
// CPU's: a GPU backend would be built but never used.
#[cfg(all(
    feature = "cpu-variants",
    any(feature = "cuda", feature = "metal", feature = "vulkan")
))]
compile_error!("`cpu-variants` is for CPU-only builds; build GPU backends without it");

pub use crate::tokenizer::TokenizerFingerprint;
pub use context::{BatchToken, CacheOp, Context, ContextParams, DecodeStats, MAX_SEQUENCES};
pub use model::{file_identity, LoraAdapter, Model, ModelParams};

use std::path::PathBuf;
use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::LogOptions;

/// The llama.cpp backends compiled into this build (cargo features of `grlm`), CPU first.
pub fn backends() -> Vec<&'static str> {
    [
        ("cpu", true),
        ("cuda", cfg!(feature = "cuda")),
        ("metal", cfg!(feature = "metal")),
        ("vulkan", cfg!(feature = "vulkan")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

/// The CPU features llama.cpp's kernels were built for, as llama.cpp reports them
/// (`"CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | ..."`): which instruction sets this build of the
/// library uses, whatever the machine has. Starts the backend if it is not running.
pub fn cpu_features() -> Result<String, LlmError> {
    backend()?;
    // SAFETY: llama_print_system_info takes no arguments and returns a NUL-terminated
    // string in a static buffer of llama.cpp's, valid until the next call; it is copied
    // out at once.
    let text = unsafe { std::ffi::CStr::from_ptr(llama_cpp_sys_2::llama_print_system_info()) };
    Ok(text.to_string_lossy().trim().trim_end_matches('|').trim().to_owned())
}

/// Which build of llama.cpp's CPU kernels runs: the variant chosen for this CPU at start-up
/// in a `cpu-variants` build (`"zen4"`, `"haswell"`, … as llama.cpp names its modules), or
/// `"built-in"` for kernels compiled into the library. Starts the backend if it is not
/// running.
pub fn cpu_variant() -> Result<&'static str, LlmError> {
    Ok(backend_state()?.cpu_variant.as_str())
}

/// A token id of the backbone's vocabulary.
pub type Token = u32;

/// Why the backbone could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// A model or adapter file is missing or unreadable.
    #[error("{path}: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    File { path: PathBuf, reason: String },
    /// The file is not a model llama.cpp can load (not a GGUF, corrupt, unsupported).
    #[error("{path}: cannot load the model: {reason}")]
    ModelLoad {
        /// The file.
        path: PathBuf,
        /// What is known about why; run with `GRLM_LLAMA_LOG=1` for llama.cpp's own log.
        reason: String,
    },
    /// The file is not a LoRA adapter for this model (not a GGUF, wrong base model,
    /// corrupt).
    #[error("{path}: cannot load the LoRA adapter: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    AdapterLoad { path: PathBuf, reason: String },
    /// The llama.cpp backend failed to start.
    #[error("llama.cpp backend: {0}")]
    Backend(String),
    /// A context (KV cache) could not be created.
    #[error("creating a llama.cpp context: {0}")]
    Context(String),
    /// The model was loaded without weights (vocabulary only) and cannot run.
    #[error("the model was loaded vocabulary-only and cannot evaluate tokens")]
    VocabOnly,
    /// A decode call failed; the context's cache no longer matches what the caller believes.
    #[error("llama.cpp decode failed: {0}")]
    Decode(String),
    /// A batch or sequence request outside the context's limits.
    #[error("{0}")]
    Limit(String),
}

struct BackendState {
    backend: LlamaBackend,
    cpu_variant: String,
}

static BACKEND: OnceLock<Result<BackendState, String>> = OnceLock::new();

/// The process-wide llama.cpp backend, started on first use.
pub(crate) fn backend() -> Result<&'static LlamaBackend, LlmError> {
    Ok(&backend_state()?.backend)
}

fn backend_state() -> Result<&'static BackendState, LlmError> {
    BACKEND
        .get_or_init(|| {
            if std::env::var_os("GRLM_LLAMA_LOG").is_none_or(|v| v != "1") {
                llama_cpp_2::send_logs_to_tracing(LogOptions::default().with_logs_enabled(false));
            }
            // Before the backend starts: finding no backend registered, it would load the
            // variants its own way.
            #[cfg(feature = "cpu-variants")]
            let cpu_variant = variants::load()?;
            #[cfg(not(feature = "cpu-variants"))]
            let cpu_variant = "built-in".to_owned();
            let backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            Ok(BackendState { backend, cpu_variant })
        })
        .as_ref()
        .map_err(|e| LlmError::Backend(e.clone()))
}
