//! The core of libgrlm, with no model runtime: Term IDs, the catalogue file, grounding, the
//! collaborative prior and interaction logs. Everything here is plain Rust over
//! memory-mapped files, so tools that only read or write catalogues build without llama.cpp;
//! the `grlm` crate adds the model, decoding and the C ABI on top and re-exports these
//! modules under the same names.
//!
//! - [`tid`]: a TID, its parser and the normalisation of its terms.
//! - [`catalog`]: the `.grlm` file (items, TIDs, titles, the token trie, the transition
//!   counts), its builder and its verification.
//! - [`ground`]: free-form TIDs to ranked catalogue items.
//! - [`prior`]: a history's collaborative scores over the catalogue at request time.
//! - [`sequences`]: interaction logs, their splits and item lists.
//! - [`tokenizer`]: the fingerprint that ties a token trie to the tokenizer it was built
//!   with.
//! - [`lines`]: the one line reader and JSON-lines writer.
//! - [`filter`], [`atomic_write`], [`fnv`], [`rng`]: small shared pieces.

#![deny(missing_docs)]

pub mod atomic_write;
pub mod catalog;
pub mod filter;
pub mod fnv;
pub mod ground;
pub mod lines;
pub mod prior;
pub mod rng;
pub mod sequences;
pub mod tid;
pub mod tokenizer;

pub use catalog::{Catalog, CatalogBuilder, CatalogError};
pub use filter::ItemFilter;
pub use ground::{Grounded, Grounder, Method};
pub use tid::{Term, Tid};
pub use tokenizer::TokenizerFingerprint;
