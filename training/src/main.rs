//! `grlm-train`: SFT data and LoRA fine-tuning for libgrlm backbones.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use grlm_train::lora::bench::BenchArgs;
use grlm_train::lora::train::LoraArgs;
use grlm_train::neighbors::run::NeighborsArgs;
use grlm_train::requantize::RequantizeArgs;
use grlm_train::sft::SftArgs;
use grlm_train::terms::tids::TermsArgs;
use grlm_train::terms_stats::StatsArgs;

#[derive(Parser)]
#[command(
    name = "grlm-train",
    version,
    about = "Training data and LoRA fine-tuning for libgrlm"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build SFT examples (term internalisation, sequence prediction, neighbours).
    Sft(SftArgs),
    /// Fine-tune a LoRA adapter on SFT examples; writes a llama.cpp adapter GGUF.
    Lora(LoraArgs),
    /// Time training configurations side by side on the same batches.
    LoraBench(BenchArgs),
    /// Embed item texts (all-MiniLM-L6-v2) and write each item's nearest neighbours.
    Neighbors(NeighborsArgs),
    /// Write every item's TID with the backbone: constrained, collision-free, resumable.
    Terms(TermsArgs),
    /// Statistics of a TID file: unique terms, collisions, validity, neighbour consistency,
    /// agreement with a reference.
    TermsStats(StatsArgs),
    /// Write the backbone with its block matrices in Q4_0, which llama.cpp repacks for its
    /// fastest CPU kernels (Q4_1 has none).
    Requantize(RequantizeArgs),
}

fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: {e}"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let candle_threads = match &cli.command {
        Command::Lora(args) => args.threads,
        Command::Neighbors(args) => args.threads,
        Command::LoraBench(args) => args.threads,
        _ => None,
    };
    if let Some(n) = candle_threads.filter(|&n| n > 0) {
        // candle sizes its CPU thread pool from this variable when it first computes: set
        // it here, in the binary, before anything has started a thread.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    // oneDNN runs each product on the thread that calls it, and the trainer calls it from
    // rayon's pool: its own OpenMP threads would compete with rayon's for the same cores.
    // OpenMP reads this when oneDNN loads.
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        std::env::set_var("OMP_NUM_THREADS", "1");
    }
    grlm_train::kernels::keep_freed_memory();
    let result = match cli.command {
        Command::Sft(args) => grlm_train::sft::run(&args)
            .map(|s| print_json(&s))
            .map_err(|e| e.to_string()),
        Command::Lora(args) => grlm_train::lora::train::run(&args)
            .map(|s| print_json(&s))
            .map_err(|e| e.to_string()),
        Command::LoraBench(args) => grlm_train::lora::bench::run(&args)
            .map(|s| print_json(&s))
            .map_err(|e| e.to_string()),
        Command::Neighbors(args) => grlm_train::neighbors::run::run(&args)
            .map(|s| print_json(&s))
            .map_err(|e| e.to_string()),
        Command::Terms(args) => grlm_train::terms::tids::run(&args)
            .map(|s| print_json(&s))
            .map_err(|e| e.to_string()),
        Command::Requantize(args) => grlm_train::requantize::run(&args)
            .map(|s| print_json(&s))
            .map_err(|e| e.to_string()),
        Command::TermsStats(args) => grlm_train::terms_stats::run(&args)
            .map(|s| {
                if args.json {
                    print_json(&s)
                } else {
                    print!("{}", grlm_train::terms_stats::render(&s))
                }
            })
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
