//! Term generation (`grlm-train terms`): every item's TID, written by the backbone under
//! a grammar, with a prompt that shows the item's nearest neighbours ([`crate::neighbors`])
//! and the terms they already have.
//!
//! - [`grammar`]: the TID text form as a byte automaton, which masks the vocabulary so that
//!   generation can only write exactly N normalised terms that keep the rules.
//! - [`rules`]: what makes a TID one a person would write (no word twice, digits only from
//!   the item's text, no function words, real words), and the check of a finished TID.
//! - [`generate`]: greedy constrained decoding of a group of items in parallel sequences of
//!   one llama.cpp context, and the rewrite of a last term for collisions.
//! - [`endpoint`]: the same, written by a chat-completions server instead.
//! - [`resolve`]: the fallbacks when regeneration cannot make a TID unique.
//! - [`examples`]: a run's own worked examples for the prompt (`--examples`), checked.
//! - [`partial`]: the crash-safe progress file a run resumes from.
//! - [`tids`]: `grlm-train terms`, the command.

pub mod endpoint;
pub mod examples;
pub mod generate;
pub mod grammar;
pub mod partial;
pub mod resolve;
pub mod rules;
pub mod tids;

use std::path::PathBuf;

use crate::neighbors::NeighborsError;

/// Everything that can go wrong while writing TIDs or reading them back.
#[derive(Debug, thiserror::Error)]
pub enum TermsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Io { path: PathBuf, source: std::io::Error },
    /// A command-line setting is unusable.
    #[error("{0}")]
    Usage(String),
    /// The items or neighbours could not be read.
    #[error(transparent)]
    Neighbors(#[from] NeighborsError),
    /// The items file, read for the term-internalisation prompt (`--lora`), has a bad line.
    #[error(transparent)]
    Items(#[from] crate::sft::SftError),
    /// An input file is malformed (the message names file and line).
    #[error(transparent)]
    Input(#[from] grlm::catalog::input::InputError),
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
