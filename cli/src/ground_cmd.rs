//! `grlm ground` and `grlm ground-eval`.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use grlm_core::{Catalog, Grounder, ItemFilter, Tid};
use grlm_testkit::perturb::{perturb, Perturbation, SplitMix64};
use grlm_testkit::reference::ReferenceGrounder;
use serde::Serialize;

use crate::{print_json, FilterArgs};

#[derive(Args)]
pub struct GroundArgs {
    /// The catalogue.
    file: PathBuf,
    /// The TID text, e.g. "[hair-mask, color-lock, citrus, protein, unisex]".
    tid: String,
    /// Number of items to return.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    #[command(flatten)]
    filter: FilterArgs,
    /// Print JSON: {"results":[{"item","score","method","tid","title"}]}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GroundEvalArgs {
    /// The catalogue.
    file: PathBuf,
    /// Items sampled per perturbation kind.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Depth of the recall check.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ResultRow {
    item: u32,
    score: f32,
    method: grlm_core::Method,
    tid: String,
    title: Option<String>,
}

pub fn ground(args: GroundArgs) -> Result<(), String> {
    let catalog = Catalog::open(&args.file).map_err(|e| e.to_string())?;
    let filter = args.filter.filter();
    let results = catalog
        .ground_text(&args.tid, args.k, &filter)
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::with_capacity(results.len());
    for r in results {
        let tid = catalog
            .tid_of(r.item)
            .map_err(|e| e.to_string())?
            .map(|t| t.to_string())
            .unwrap_or_default();
        let title = catalog.title_of(r.item).map_err(|e| e.to_string())?.map(str::to_owned);
        rows.push(ResultRow {
            item: r.item,
            score: r.score,
            method: r.method,
            tid,
            title,
        });
    }
    if args.json {
        return print_json(&serde_json::json!({ "results": rows }));
    }
    for r in rows {
        let method = match r.method {
            grlm_core::Method::Direct => "direct",
            grlm_core::Method::Structural => "structural",
        };
        println!(
            "{}\t{:.4}\t{method}\t{}\t{}",
            r.item,
            r.score,
            r.tid,
            r.title.unwrap_or_default()
        );
    }
    Ok(())
}

#[derive(Serialize, Default)]
struct Side {
    queries: usize,
    #[serde(rename = "recall@1")]
    recall_1: f64,
    #[serde(rename = "recall@k")]
    recall_k: f64,
    median_us: f64,
    p90_us: f64,
}

#[derive(Serialize)]
struct KindReport {
    kind: Perturbation,
    ours: Side,
    baseline: Side,
    /// Baseline median latency divided by ours, measured in the same process.
    speedup_median: f64,
}

fn summarise(ranks: &[Option<usize>], micros: &mut [f64]) -> Side {
    micros.sort_by(f64::total_cmp);
    let n = ranks.len().max(1) as f64;
    let pick = |q: f64| {
        micros
            .get(((micros.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Side {
        queries: ranks.len(),
        recall_1: ranks.iter().filter(|r| **r == Some(0)).count() as f64 / n,
        recall_k: ranks.iter().filter(|r| r.is_some()).count() as f64 / n,
        median_us: pick(0.5),
        p90_us: pick(0.9),
    }
}

pub fn ground_eval(args: GroundEvalArgs) -> Result<(), String> {
    let catalog = Catalog::open(&args.file).map_err(|e| e.to_string())?;
    let mut grounder = Grounder::new(&catalog);
    let reference = ReferenceGrounder::new(&catalog).map_err(|e| e.to_string())?;
    let mut rng = SplitMix64::new(args.seed);
    let filter = ItemFilter::none();
    let mut reports = Vec::new();
    for kind in Perturbation::ALL {
        let mut cases = Vec::with_capacity(args.queries);
        for _ in 0..args.queries {
            let index = rng.below(catalog.len());
            let item = catalog.item_id(index).ok_or("item index out of range")?;
            let tid: Tid = catalog
                .tid_of(item)
                .map_err(|e| e.to_string())?
                .ok_or("sampled item vanished")?;
            if let Some(query) = perturb(&tid, kind, &mut rng) {
                cases.push((item, query));
            }
        }
        // Each side runs over all queries in its own pass, so neither evicts the other's
        // working set from the caches between queries.
        let (mut ours_ranks, mut ours_us) = (Vec::new(), Vec::new());
        for (item, query) in &cases {
            let start = Instant::now();
            let ours = grounder.ground(query, args.k, &filter).map_err(|e| e.to_string())?;
            ours_us.push(start.elapsed().as_secs_f64() * 1e6);
            ours_ranks.push(ours.iter().position(|g| g.item == *item));
        }
        let (mut base_ranks, mut base_us) = (Vec::new(), Vec::new());
        for (item, query) in &cases {
            let start = Instant::now();
            let base = reference.ground(query, args.k).map_err(|e| e.to_string())?;
            base_us.push(start.elapsed().as_secs_f64() * 1e6);
            base_ranks.push(base.iter().position(|g| g == item));
        }
        let ours = summarise(&ours_ranks, &mut ours_us);
        let baseline = summarise(&base_ranks, &mut base_us);
        let speedup_median = baseline.median_us / ours.median_us.max(1e-9);
        reports.push(KindReport {
            kind,
            ours,
            baseline,
            speedup_median,
        });
    }
    if args.json {
        return print_json(&serde_json::json!({
            "catalog": args.file, "items": catalog.len(), "k": args.k, "seed": args.seed, "kinds": reports,
        }));
    }
    println!(
        "{:<9} {:>8} {:>8} {:>10} | {:>8} {:>8} {:>10} | speedup",
        "kind", "R@1", "R@k", "median µs", "R@1", "R@k", "median µs"
    );
    for r in &reports {
        println!(
            "{:<9} {:>8.3} {:>8.3} {:>10.1} | {:>8.3} {:>8.3} {:>10.1} | {:.0}x",
            format!("{:?}", r.kind).to_lowercase(),
            r.ours.recall_1,
            r.ours.recall_k,
            r.ours.median_us,
            r.baseline.recall_1,
            r.baseline.recall_k,
            r.baseline.median_us,
            r.speedup_median
        );
    }
    Ok(())
}
