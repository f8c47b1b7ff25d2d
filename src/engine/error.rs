//! Errors of the engine and its sessions.

use crate::catalog::CatalogError;
use crate::decode::DecodeError;
use crate::llm::LlmError;

/// Why an engine could not be opened or a request not answered. Every bad input maps to a
/// variant with a message that says what to change; none of them panics.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model, adapter or llama.cpp failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The catalogue is unreadable or corrupt.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The catalogue was built without a model, so it cannot constrain decoding.
    #[error("the catalogue has no token trie; rebuild it with `grlm catalog build ... --model MODEL.gguf`")]
    NoTokenTrie,
    /// The catalogue's token trie was built with another tokenizer.
    #[error("the catalogue's token trie was built for the tokenizer of {catalog}, but the model is {model}; rebuild the catalogue with this model")]
    TokenizerMismatch {
        /// The tokenizer the catalogue expects.
        catalog: String,
        /// The model's tokenizer.
        model: String,
    },
    /// The request needs the collaborative prior (prior mode, or a positive prior weight)
    /// and the catalogue has none.
    #[error("the catalogue has no prior; rebuild it with `grlm catalog build ... --sequences sequences.txt` (or --transitions counts.tsv), or set the prior weight to 0")]
    NoPrior,
    /// A recommendation needs at least one history item.
    #[error("empty history: a recommendation needs at least one item the user interacted with")]
    EmptyHistory,
    /// A history item is not in the catalogue.
    #[error("item {0} of the history is not in the catalogue")]
    UnknownItem(u32),
    /// A request parameter is out of range.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The prompt and the beams do not fit the session's context.
    #[error("history too long for the context: the prompt ({prompt} tokens) plus room for the beams ({beams} tokens) exceeds the session's {n_ctx} cells; use fewer history items or a larger context")]
    #[allow(missing_docs)] // the fields are named for what they hold
    PromptTooLong { prompt: usize, beams: usize, n_ctx: u32 },
    /// Saved session state that cannot be restored (damaged, or from another engine); the
    /// session starts cold and stays usable.
    #[error(transparent)]
    State(#[from] super::StateError),
    /// A bug: an invariant of the engine broke.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DecodeError> for EngineError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Llm(e) => EngineError::Llm(e),
            DecodeError::Catalog(e) => EngineError::Catalog(e),
            DecodeError::Internal(message) => EngineError::Internal(message),
        }
    }
}
