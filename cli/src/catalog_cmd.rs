//! `grlm catalog ...`

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use grlm_core::catalog::TransitionCounts;
use grlm_core::sequences::{read_item_list, read_sequences, without_items};
use grlm_core::{Catalog, CatalogBuilder};
use grlm_testkit::synth;

use crate::{print_json, write_jsonl};

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Build a catalogue from items.jsonl and tids.jsonl (written atomically).
    Build(BuildArgs),
    /// Print summary numbers.
    Inspect {
        /// The catalogue.
        file: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum and invariant; exit 0 only if all hold.
    Verify {
        /// The catalogue.
        file: PathBuf,
    },
    /// Write a synthetic items.jsonl + tids.jsonl with a realistic term distribution.
    Synth(SynthArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// items.jsonl: {"item": ID, "title": ...} per line.
    #[arg(long)]
    items: PathBuf,
    /// tids.jsonl: {"item": ID, "terms": [...]} per line.
    #[arg(long)]
    tids: PathBuf,
    /// Output catalogue.
    #[arg(long)]
    out: PathBuf,
    /// Leave out items that have no TID instead of failing.
    #[arg(long)]
    allow_missing_tids: bool,
    /// Also build the token trie for this backbone GGUF (only its vocabulary is loaded), so
    /// the catalogue can drive constrained decoding with it.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Also build the collaborative prior from this sequences.txt (`USER ITEM ITEM ...` per
    /// line, oldest first): item-to-next-item counts and popularity.
    #[arg(long, value_name = "sequences.txt", conflicts_with = "transitions")]
    sequences: Option<PathBuf>,
    /// Build the prior from counts made where the logs live instead (tab-separated
    /// `ITEM NEXT COUNT` rows, `ITEM <empty> COUNT` popularity rows and one
    /// `<empty> <empty> USERS` row; docs/prior.md has the SQL that makes it).
    #[arg(long, value_name = "counts.tsv")]
    transitions: Option<PathBuf>,
    /// The last N items of every sequence are not counted: 1 keeps the test targets out of
    /// the prior, 2 the test and validation targets. With --transitions, the N the counts
    /// were made with (it is recorded, and `grlm eval` checks it).
    #[arg(long, default_value_t = 1, value_name = "N")]
    holdout: u32,
    /// Items counted as new (one id a line): with --sequences, the log is counted as if
    /// they had never been bought before the held-out part, so they get no transition and
    /// no popularity count. They keep their TID and their place in the token trie.
    #[arg(long, value_name = "FILE", requires = "sequences")]
    new_items: Option<PathBuf>,
    /// Most successors kept per item (the most frequent ones).
    #[arg(long, default_value_t = grlm_core::catalog::transitions::DEFAULT_MAX_SUCCESSORS)]
    max_successors: u32,
    /// Print the build report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct SynthArgs {
    /// Number of items.
    #[arg(long)]
    items: usize,
    /// Terms per TID.
    #[arg(long, default_value_t = 5)]
    tid_len: usize,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also write sequences.txt with this many users of 21 to 40 uniformly drawn items
    /// (a workload for `grlm bench` on a synthetic catalogue, not realistic behaviour).
    #[arg(long, default_value_t = 0)]
    users: usize,
    /// Directory for items.jsonl, tids.jsonl (and sequences.txt) (created if missing).
    #[arg(long)]
    out_dir: PathBuf,
}

pub fn run(cmd: CatalogCommand) -> Result<(), String> {
    match cmd {
        CatalogCommand::Build(args) => build(args),
        CatalogCommand::Inspect { file, json } => inspect(&file, json),
        CatalogCommand::Verify { file } => verify(&file),
        CatalogCommand::Synth(args) => synthesise(args),
    }
}

/// The token trie of the backbone in `model` (its tokenizer alone is loaded).
#[cfg(feature = "engine")]
fn token_trie_spec(model: &Path) -> Result<grlm_core::catalog::TokenTrieSpec, String> {
    let params = grlm::llm::ModelParams {
        vocab_only: true,
        ..Default::default()
    };
    let model = std::sync::Arc::new(grlm::llm::Model::load(model, &params).map_err(|e| e.to_string())?);
    Ok(grlm::engine::token_trie_spec(&model))
}

#[cfg(not(feature = "engine"))]
fn token_trie_spec(model: &Path) -> Result<grlm_core::catalog::TokenTrieSpec, String> {
    Err(format!(
        "--model {}: this grlm was built without the `engine` feature, and a token trie needs the model's tokenizer",
        model.display()
    ))
}

fn build(args: BuildArgs) -> Result<(), String> {
    let start = Instant::now();
    let mut builder =
        CatalogBuilder::from_jsonl(&args.items, &args.tids, args.allow_missing_tids).map_err(|e| e.to_string())?;
    if let Some(model) = &args.model {
        builder = builder.with_token_trie(token_trie_spec(model)?);
    }
    let new_items = match &args.new_items {
        Some(path) => {
            let new = read_item_list(path).map_err(|e| e.to_string())?;
            if let Some(unknown) = new.iter().find(|&&item| !builder.contains(item)) {
                return Err(format!("{}: item {unknown} is not in the catalogue", path.display()));
            }
            // Every item listed once and all in the catalogue: the same count means all of it.
            if new.len() == builder.len() {
                return Err(format!(
                    "{}: every item of the catalogue is new, so nothing is left to count or recommend from counts",
                    path.display()
                ));
            }
            new
        }
        None => BTreeSet::new(),
    };
    if let Some(counts) = prior_counts(&args, &new_items)? {
        builder = builder.with_prior(counts, args.holdout, args.max_successors);
    }
    let report = builder.write(&args.out).map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    if args.json {
        print_json(&serde_json::json!({ "report": report, "seconds": seconds, "out": args.out }))
    } else {
        println!(
            "wrote {}: {} items, {} unique TIDs, {} terms, {} bytes in {seconds:.3} s{}",
            args.out.display(),
            report.items,
            report.unique_tids,
            report.unique_terms,
            report.bytes,
            if report.skipped_without_tid > 0 {
                format!(" ({} items without a TID left out)", report.skipped_without_tid)
            } else {
                String::new()
            }
        );
        if let Some(p) = &report.prior {
            println!(
                "prior: {} users, {} transitions (holdout {}, at most {} successors per item; {} capped), {} bytes",
                p.users, p.transitions, p.holdout, p.max_successors, p.capped_transitions, p.bytes
            );
            if p.unknown_item_counts > 0 {
                println!(
                    "note: {} counts name items the catalogue does not have; they were left out",
                    p.unknown_item_counts
                );
            }
        }
        Ok(())
    }
}

/// The counts the prior is built from, when `--sequences` or `--transitions` asks for one;
/// `new_items` are counted as never bought.
fn prior_counts(args: &BuildArgs, new_items: &BTreeSet<u32>) -> Result<Option<TransitionCounts>, String> {
    if args.max_successors == 0 {
        return Err("--max-successors must be at least 1".into());
    }
    if let Some(path) = &args.transitions {
        return TransitionCounts::read_tsv(path).map(Some).map_err(|e| e.to_string());
    }
    let Some(path) = &args.sequences else {
        return Ok(None);
    };
    let sequences = read_sequences(path).map_err(|e| e.to_string())?;
    let sequences = without_items(&sequences, args.holdout as usize, new_items);
    let counts = TransitionCounts::from_sequences(&sequences, args.holdout as usize);
    if counts.users() == 0 {
        return Err(format!(
            "{}: --holdout {} leaves nothing to count (no sequence has more than {} items)",
            path.display(),
            args.holdout,
            args.holdout
        ));
    }
    Ok(Some(counts))
}

fn inspect(file: &Path, json: bool) -> Result<(), String> {
    let catalog = Catalog::open(file).map_err(|e| e.to_string())?;
    let info = catalog.info();
    if json {
        return print_json(&info);
    }
    println!("format         {}", info.format_version);
    println!("items          {}", info.items);
    println!("unique TIDs    {}", info.unique_tids);
    println!("unique terms   {}", info.unique_terms);
    println!("TID length     {}", info.tid_len);
    println!(
        "collision rate {:.4} ({} items share a TID)",
        info.collision_rate, info.items_sharing_tid
    );
    println!("bytes          {} ({:.1} per item)", info.bytes, info.bytes_per_item);
    match &info.token_trie {
        Some(t) => println!(
            "token trie     {} nodes, depth {}, for {} ({} tokens, fingerprint {})",
            t.nodes, t.depth, t.tokenizer, t.vocab_size, t.fingerprint
        ),
        None => println!("token trie     none (build with --model to decode with a backbone)"),
    }
    match &info.prior {
        Some(p) => println!(
            "prior          {} users, {} transitions ({} steps), holdout {}, fingerprint {}",
            p.users, p.transitions, p.steps, p.holdout, p.fingerprint
        ),
        None => println!("prior          none (build with --sequences for prior-aware recommendations)"),
    }
    for s in &info.sections {
        println!("  {:<20} {:>12}", s.name, s.bytes);
    }
    Ok(())
}

fn verify(file: &Path) -> Result<(), String> {
    let start = Instant::now();
    let catalog = Catalog::open(file).map_err(|e| e.to_string())?;
    catalog.verify().map_err(|e| e.to_string())?;
    println!(
        "ok: {} ({} items) verified in {:.3} s",
        file.display(),
        catalog.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn synthesise(args: SynthArgs) -> Result<(), String> {
    if args.items == 0 || args.items > u32::MAX as usize {
        return Err(format!("--items must be in 1..={}", u32::MAX));
    }
    if args.tid_len == 0 || args.tid_len > grlm_core::tid::MAX_TID_LEN {
        return Err(format!("--tid-len must be in 1..={}", grlm_core::tid::MAX_TID_LEN));
    }
    std::fs::create_dir_all(&args.out_dir).map_err(|e| format!("{}: {e}", args.out_dir.display()))?;
    let items = synth::generate(args.items, args.tid_len, args.seed);
    write_jsonl(
        &args.out_dir.join("items.jsonl"),
        items
            .iter()
            .map(|x| serde_json::json!({"item": x.item, "title": x.title})),
    )?;
    write_jsonl(
        &args.out_dir.join("tids.jsonl"),
        items.iter().map(|x| serde_json::json!({"item": x.item, "terms": x.tid.terms().iter().map(|t| t.as_str()).collect::<Vec<_>>()})),
    )?;
    if args.users > 0 {
        let path = args.out_dir.join("sequences.txt");
        // Its own stream, so adding users never changes the items.
        let mut rng = grlm_core::rng::SplitMix64::new(args.seed ^ 0x5eed_5eed);
        grlm_core::atomic_write::write_atomically(&path, |w| {
            for user in 1..=args.users {
                write!(w, "{user}")?;
                for _ in 0..21 + rng.below(20) {
                    write!(w, " {}", 1 + rng.below(items.len()))?;
                }
                writeln!(w)?;
            }
            Ok::<(), std::io::Error>(())
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("wrote {} items to {}", items.len(), args.out_dir.display());
    Ok(())
}
