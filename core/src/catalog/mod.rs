//! The catalogue: every item's TID and title in one immutable, memory-mapped `.grlm` file.
//!
//! - [`format`](mod@format): the byte layout (header, section table, section kinds, version rules).
//! - [`input`]: reading `items.jsonl` / `tids.jsonl`, with errors that name file and line.
//! - [`CatalogBuilder`]: assembles the sections and writes the file atomically.
//! - [`Catalog`]: opens a file in O(1) (structure only) and serves zero-copy lookups;
//!   [`Catalog::verify`] checks every checksum and invariant.
//! - [`trie`]: the optional token trie that drives constrained decoding.
//! - [`transitions`]: the optional section of transition counts behind the collaborative prior (item-to-next-item counts, popularity).

mod builder;
mod entities;
pub mod format;
pub mod input;
pub mod le;
pub(crate) mod reader;
pub mod transitions;
pub mod trie;
mod verify;

pub use builder::{BuildError, BuildReport, CatalogBuilder, TokenTrieSpec};
pub use reader::{Catalog, CatalogInfo, PriorInfo, TokenTrieInfo};
pub use transitions::{TransitionCounts, TransitionReport, TransitionTable};
pub use trie::TokenTrie;

use std::path::PathBuf;

/// Fuzzing builds ignore checksums, so that mutated bytes reach the structural checks
/// behind them instead of all failing at the first CRC.
const SKIP_CHECKSUMS: bool = cfg!(fuzzing);

/// Why a catalogue file could not be opened or read.
///
/// Every malformed input maps to one of these; reading a catalogue never panics.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be opened, mapped or read.
    #[error("{path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Io { path: PathBuf, source: std::io::Error },
    /// The file is empty.
    #[error("empty file: not a catalogue")]
    Empty,
    /// The file does not start with the catalogue magic.
    #[error("not a libgrlm catalogue (bad magic bytes)")]
    BadMagic,
    /// The file is shorter than its header says.
    #[error("truncated catalogue: needs {needed} bytes, has {actual}")]
    Truncated {
        /// Bytes the header requires.
        needed: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The format's major version is not the one this reader understands.
    #[error("unsupported catalogue format {major}.{minor}; this build reads {supported_major}.x")]
    UnsupportedVersion {
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
        /// The major version this reader reads.
        supported_major: u16,
    },
    /// A checksum does not match: the bytes changed after they were written.
    #[error("checksum mismatch in {section}: stored {stored:#010x}, computed {actual:#010x}")]
    ChecksumMismatch {
        /// Section name (or `header`).
        section: &'static str,
        /// CRC stored in the file.
        stored: u32,
        /// CRC of the bytes present.
        actual: u32,
    },
    /// The file needs a section this version does not know.
    #[error("catalogue needs section kind {kind}, unknown to this version; upgrade libgrlm")]
    #[allow(missing_docs)] // the fields are named for what they hold
    UnknownRequiredSection { kind: u32 },
    /// A section that must be present is missing.
    #[error("catalogue has no {0} section")]
    MissingSection(&'static str),
    /// A structural rule is broken (sizes, bounds, ordering).
    #[error("corrupt catalogue ({section}): {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Corrupt { section: &'static str, reason: String },
}

impl CatalogError {
    pub(crate) fn corrupt(section: &'static str, reason: impl Into<String>) -> Self {
        CatalogError::Corrupt {
            section,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
