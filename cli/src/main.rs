//! `grlm`: the command-line front of libgrlm.
//!
//! Exit status: 0 on success, 1 when the command fails (the reason is on stderr), 2 for
//! usage errors.

#[cfg(feature = "engine")]
mod bench_cmd;
#[cfg(feature = "engine")]
mod bench_svg;
mod catalog_cmd;
#[cfg(feature = "engine")]
mod eval_cmd;
#[cfg(feature = "engine")]
mod eval_journal;
mod ground_cmd;
#[cfg(feature = "engine")]
mod recommend_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "grlm", version = VERSION.as_str(), about = "Generative recommendation with Term IDs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build, inspect, verify or synthesise catalogues.
    #[command(subcommand)]
    Catalog(catalog_cmd::CatalogCommand),
    /// Map a TID (exact or not) to ranked catalogue items.
    Ground(ground_cmd::GroundArgs),
    /// Measure grounding of perturbed TIDs: recall and latency, ours vs the paper's fallback.
    GroundEval(ground_cmd::GroundEvalArgs),
    /// The next items for a user's history, from the backbone.
    #[cfg(feature = "engine")]
    Recommend(recommend_cmd::RecommendArgs),
    /// Leave-one-out evaluation: Recall@K and NDCG@K of the backbone on a sequences file.
    #[cfg(feature = "engine")]
    Eval(eval_cmd::EvalArgs),
    /// Portable benchmark: a seeded workload of cold and warm requests, timed against bare
    /// llama.cpp calls, with load time, memory and the machine (JSON, optional SVG).
    #[cfg(feature = "engine")]
    Bench(bench_cmd::BenchArgs),
}

/// `grlm --version`: the library's version and the target it was built for.
#[cfg(feature = "engine")]
static VERSION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{} ({})", grlm::VERSION, grlm::BUILD_TARGET));
/// `grlm --version` of the core's tools alone.
#[cfg(not(feature = "engine"))]
static VERSION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{} (core only, no model)", env!("CARGO_PKG_VERSION")));

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Catalog(cmd) => catalog_cmd::run(cmd),
        Command::Ground(args) => ground_cmd::ground(args),
        Command::GroundEval(args) => ground_cmd::ground_eval(args),
        #[cfg(feature = "engine")]
        Command::Recommend(args) => recommend_cmd::recommend(args),
        #[cfg(feature = "engine")]
        Command::Eval(args) => eval_cmd::eval(args),
        #[cfg(feature = "engine")]
        Command::Bench(args) => bench_cmd::bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--exclude` / `--allow`, shared by the commands that return items.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct FilterArgs {
    /// Items never to return, comma-separated (e.g. the user's history).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<u32>,
    /// Only return these items, comma-separated.
    #[arg(long, value_delimiter = ',')]
    allow: Option<Vec<u32>>,
}

impl FilterArgs {
    pub(crate) fn filter(&self) -> grlm_core::ItemFilter {
        let filter = grlm_core::ItemFilter::none().exclude(self.exclude.iter().copied());
        match &self.allow {
            Some(allow) => filter.allow(allow.iter().copied()),
            None => filter,
        }
    }
}

/// Prints `value` as one line of JSON.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// Writes `rows` as JSON lines, atomically: a failed run leaves no half-written file.
pub(crate) fn write_jsonl<T: serde::Serialize>(
    path: &std::path::Path,
    rows: impl IntoIterator<Item = T>,
) -> Result<(), String> {
    grlm_core::lines::write_jsonl(path, rows).map_err(|e| format!("{}: {e}", path.display()))
}
