//! The `grlm` command-line tests, one binary: catalogues, grounding, recommendations and
//! evaluation from the command line, the collaborative prior (with DuckDB), and the ARM64
//! comparison (ignored unless asked for). One file a subject.

mod arm64;
mod cli;
mod cli_engine;
mod common;
mod prior;
