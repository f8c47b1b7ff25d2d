//! Tooling around libgrlm that the shipped library does not carry.
//!
//! - [`gguf`]: writes GGUF files (the tiny test model here; adapters and merged models in
//!   the training crate).
//! - [`tiny`]: a tiny, deterministic llama-architecture model written in milliseconds, so
//!   tests run the real llama.cpp path without a download.
//! - [`synth`]: seeded synthetic catalogues with a realistic term distribution, for scale
//!   tests and benchmarks.
//! - [`perturb`] and [`reference`](mod@reference): damaged TIDs and the paper's reference grounding
//!   fallback, the two halves of `grlm ground-eval`.
//! - [`fuzz`]: the entry points of the fuzz targets, replayed over their corpora by the
//!   test suite.
//! - [`fixtures`] and [`process`]: the test fixtures (a tiny model and the 12-item
//!   catalogue), the C toolchain around `libgrlm.so`, and running commands.

#[cfg(feature = "engine")]
pub mod fixtures;
pub mod fuzz;
pub mod gguf;
pub mod perturb;
pub mod process;
pub mod reference;
pub mod synth;
pub mod tiny;
