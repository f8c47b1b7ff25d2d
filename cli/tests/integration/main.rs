//! The `grlm` command-line tests, one binary: catalogues, grounding, recommendations and
//! evaluation from the command line, the collaborative prior (with DuckDB), the ARM64
//! comparison (ignored unless asked for) and the run-time CPU variants (built with the
//! `cpu-variants` feature only). One file a subject.

mod arm64;
mod cli;
mod cli_engine;
mod common;
mod prior;
#[cfg(feature = "cpu-variants")]
mod variants;
