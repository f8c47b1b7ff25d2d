//! The catalogue: every item's TID and title in one immutable, memory-mapped `.grlm` file.
//!
//! - [`format`](mod@format): the byte layout (header, section table, section kinds, version rules).
//! - [`input`]: reading `items.jsonl` / `tids.jsonl`, with errors that name file and line.
//! - [`CatalogBuilder`]: assembles the sections and writes the file atomically.
//! - [`Catalog`]: opens a file in O(1) (structure only) and serves zero-copy lookups;
//!   [`Catalog::verify`] checks every checksum and invariant.
//! - [`trie`]: the optional token trie that drives constrained decoding.
//! - [`synth`]: seeded synthetic catalogues with a realistic term distribution, for scale
//!   tests and benchmarks.

mod builder;
pub mod format;
pub mod input;
pub mod le;
pub(crate) mod reader;
pub mod synth;
pub mod trie;
mod verify;

pub use builder::{BuildError, BuildReport, CatalogBuilder, TokenTrieSpec};
pub use reader::{Catalog, CatalogInfo, TokenTrieInfo};
pub use trie::{TokenTrie, TokenizerFingerprint};

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
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
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
    UnknownRequiredSection {
        /// Raw kind value.
        kind: u32,
    },
    /// A section that must be present is missing.
    #[error("catalogue has no {0} section")]
    MissingSection(&'static str),
    /// A structural rule is broken (sizes, bounds, ordering).
    #[error("corrupt catalogue ({section}): {reason}")]
    Corrupt {
        /// Where.
        section: &'static str,
        /// What.
        reason: String,
    },
}

impl CatalogError {
    pub(crate) fn corrupt(section: &'static str, reason: impl Into<String>) -> Self {
        CatalogError::Corrupt {
            section,
            reason: reason.into(),
        }
    }
}

/// Opens `bytes` as a catalogue and uses every reader path on it; the fuzz target and its
/// corpus smoke test call this. Returns whether the bytes opened and verified. Never panics
/// on any input — that is what the fuzzer checks.
#[doc(hidden)]
pub fn exercise(bytes: &[u8]) -> bool {
    let Ok(catalog) = Catalog::from_bytes(bytes.to_vec()) else {
        return false;
    };
    let verified = catalog.verify().is_ok();
    let _ = catalog.info();
    let n = catalog.len();
    for index in [0, n / 2, n.saturating_sub(1), n] {
        if let Some(item) = catalog.item_id(index) {
            let _ = catalog.title_of(item);
            if let Ok(Some(tid)) = catalog.tid_of(item) {
                let _ = catalog.items_with_tid(&tid);
                let _ = catalog.ground(&tid, 3, &crate::ItemFilter::none());
            }
        }
    }
    if let Some(trie) = catalog.token_trie() {
        let _ = trie.fingerprint();
        for node in [0, 1, trie.node_count() as u32 / 2, trie.node_count() as u32] {
            if let Ok((tokens, _)) = trie.children(node) {
                if let Some(token) = tokens.first() {
                    let _ = trie.child(node, token.get());
                }
            }
            let _ = trie.leaf_tid(node);
            let _ = trie.parent(node);
        }
        let _ = trie.leaf_of(0);
    }
    for text in ["[a, b, c, d, e]", "[hair-mask, citrus]", "[zzzz, abcd, x]"] {
        let _ = catalog.ground_text(text, 5, &crate::ItemFilter::none().exclude([1]));
    }
    verified
}

#[cfg(test)]
mod tests;
