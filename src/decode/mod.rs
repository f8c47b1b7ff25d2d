//! Turning a prompt's next-token logits into results: constrained beam search inside the
//! catalogue's token trie (`constrained`), which returns ranked eligible items — fused with
//! the collaborative prior when the request has one — and the paper's unconstrained beams
//! (`free`), whose texts it then grounds in the catalogue.
//!
//! Both searches keep each beam in its own KV-cache sequence forked from the prompt's
//! (a unified cache shares the cells, so a fork copies nothing), and evaluate every beam's
//! new tokens together in one llama.cpp call per step.

mod beams;
pub(crate) mod constrained;
pub(crate) mod free;
pub(crate) mod prune;

pub(crate) use beams::{SeqPool, PROMPT_SEQ};

use std::time::Duration;

use crate::catalog::CatalogError;
use crate::llm::LlmError;

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// llama.cpp failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The catalogue's trie, items or prior are corrupt.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// An invariant of the search broke (a bug).
    #[error("{0}")]
    Internal(String),
}

/// Where a search starts: the trie node (constrained) at the end of the prompt, the sequence
/// and next position of the prompt, and the index of its next-token logits in the context's
/// last decode call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Start {
    pub node: u32,
    pub seq: u32,
    pub pos: u32,
    pub logits: usize,
}

/// What one request cost, for `grlm bench` and the `--json` output.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct SearchStats {
    /// Prompt tokens evaluated: what differs from the session's cached prompt, and at
    /// least the last token, whose logits start the search.
    pub prompt_tokens: u64,
    /// Prompt tokens reused from the session's cache.
    pub cached_tokens: u64,
    /// Beam search steps (one llama.cpp call each).
    pub steps: u32,
    /// Tokens evaluated by the beam search.
    pub evaluated: u64,
    /// llama.cpp decode calls, the prompt's included.
    pub calls: u64,
    /// Next-token logits rows computed, the prompt's included: one per token whose
    /// continuation the search reads, none for tokens it feeds without choosing.
    pub logits_rows: u64,
    /// Time inside llama.cpp decode calls, the prompt's included.
    #[serde(serialize_with = "millis")]
    pub decode_time: Duration,
    /// Of `decode_time`, the prompt's share (the rest is the beam search's).
    #[serde(serialize_with = "millis")]
    pub prompt_time: Duration,
    /// Time of the whole request.
    #[serde(serialize_with = "millis")]
    pub total_time: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}
