//! libgrlm: an embedded engine for generative recommendation with Term IDs (GRLM,
//! arXiv 2601.06798).
//!
//! Every catalogue item is named by a [`tid::Tid`], an ordered tuple of normalised keywords.
//! A [`catalog::Catalog`] maps TIDs to items from one memory-mapped file, and
//! [`ground`] maps TIDs that a model generated — exact or not — to ranked items.

#![deny(missing_docs)]

pub mod catalog;
pub mod ground;
pub mod tid;

pub use catalog::{Catalog, CatalogBuilder, CatalogError};
pub use ground::{Grounded, Grounder, ItemFilter, Method};
pub use tid::{Term, Tid};

/// The crate version, `major.minor.patch`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Target triple this library was built for.
pub const BUILD_TARGET: &str = env!("GRLM_BUILD_TARGET");
