//! libgrlm: an embedded engine for generative recommendation with Term IDs (GRLM,
//! arXiv 2601.06798).
//!
//! Every catalogue item is named by a [`tid::Tid`], an ordered tuple of normalised keywords.
//! A [`catalog::Catalog`] maps TIDs to items from one memory-mapped file, and
//! [`ground`] maps TIDs that a model generated — exact or not — to ranked items.
//!
//! ```
//! use grlm::{Catalog, CatalogBuilder, Grounder, ItemFilter, Method, Tid};
//!
//! let mut builder = CatalogBuilder::new();
//! builder.add(1, Tid::parse("[hair-mask, color-lock, citrus, protein, unisex]", None)?, Some("Mask".into()))?;
//! builder.add(2, Tid::parse("[shampoo, color, care, treated, preserve]", None)?, None)?;
//! let catalog = Catalog::from_bytes(builder.to_bytes()?)?; // or CatalogBuilder::write + Catalog::open
//!
//! // A TID as a model might write it: plural, typo, odd spacing.
//! let query = Tid::parse("[Hair Masks, color-lock, citrus, protien, unisex]", Some(5))?;
//! let hits = Grounder::new(&catalog).ground(&query, 3, &ItemFilter::none().exclude([2]))?;
//! assert_eq!(hits[0].item, 1);
//! assert_eq!(hits[0].method, Method::Structural);
//! assert_eq!(catalog.title_of(1)?, Some("Mask"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod decode;
pub mod engine;
mod ffi;
pub mod llm;
pub mod prompt;

// The core's modules, so that one `grlm` dependency reaches the whole library.
pub use grlm_core::{atomic_write, catalog, filter, fnv, ground, lines, prior, rng, sequences, tid, tokenizer};

pub use engine::{
    Engine, EngineError, EngineParams, Mode, RecommendParams, Recommendation, Response, Session, SessionParams,
};
pub use grlm_core::{
    Catalog, CatalogBuilder, CatalogError, Grounded, Grounder, ItemFilter, Method, Term, Tid, TokenizerFingerprint,
};

/// The crate version, `major.minor.patch`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Target triple this library was built for.
pub const BUILD_TARGET: &str = env!("GRLM_BUILD_TARGET");
