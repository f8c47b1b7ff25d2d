//! `grlm-train neighbors`: embed every item's text and write its nearest neighbours.
//!
//! Input: `items.jsonl`, read as everywhere else ([`grlm::catalog::input`]); an item's text
//! is its title, brand, categories and description ([`super::text::item_text`]). An item with none of
//! them is skipped: it gets no line in the output and is never anyone's neighbour; the
//! first few are named on stderr and all are counted in the summary (`skipped_no_text`).
//!
//! Output (written crash-safely, in input order): one line per item with text,
//!
//! ```text
//! {"item":17,"neighbors":[{"item":4,"cosine":0.83},{"item":912,"cosine":0.79}]}
//! ```
//!
//! The vectors are cached in `<out>.emb` ([`super::cache`]): a rerun embeds only items
//! that are new or whose text changed, and gives the same output file byte for byte. The
//! cache also keeps items of earlier runs that this run did not read (after a `--limit`,
//! say). The cache is saved before the neighbour search, so an interrupted search does not
//! lose the embedding work.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::cache::{text_hash, CacheStatus, EmbeddingCache};
use super::embed::SentenceEmbedder;
use super::text::{read_items, ItemText};
use super::top_k::top_k;
use super::NeighborsError;

/// How many skipped items are named on stderr before only counting the rest.
const SKIP_WARNINGS: usize = 5;

/// Seconds between two progress lines.
const PROGRESS_EVERY_S: f64 = 2.0;

/// `grlm-train neighbors`: each item's nearest neighbours by sentence embedding.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct NeighborsArgs {
    /// Items, one JSON object per line: `item` (u32) and any of `title`, `brand`,
    /// `categories`, `description`; items with none of these are skipped.
    #[cfg_attr(feature = "cli", arg(long))]
    pub items: PathBuf,
    /// Directory of the sentence embedder (config.json, model.safetensors, tokenizer.json),
    /// e.g. models/all-MiniLM-L6-v2 from scripts/fetch-model.sh.
    #[cfg_attr(feature = "cli", arg(long))]
    pub embedder: PathBuf,
    /// Output JSONL; the embedding cache is kept beside it as `<out>.emb`.
    #[cfg_attr(feature = "cli", arg(long))]
    pub out: PathBuf,
    /// Neighbours per item.
    #[cfg_attr(feature = "cli", arg(short, default_value_t = 5))]
    pub k: usize,
    /// Read only the first N items of the file.
    #[cfg_attr(feature = "cli", arg(long))]
    pub limit: Option<usize>,
    /// Texts per forward pass of the embedder.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = super::embed::DEFAULT_BATCH))]
    pub batch: usize,
    /// CPU threads for candle (default: all cores). On a machine busy with other work,
    /// fewer threads than cores can be faster: candle's threads wait for each other.
    #[cfg_attr(feature = "cli", arg(long))]
    pub threads: Option<usize>,
}

/// What a run did; printed as JSON on stdout.
#[derive(Clone, Debug, Serialize)]
pub struct NeighborsSummary {
    /// Items with text: lines written.
    pub items: usize,
    /// Items skipped because they have no text.
    pub skipped_no_text: usize,
    /// Items whose vector came from the cache.
    pub cache_hits: usize,
    /// Items embedded by this run.
    pub embedded: usize,
    /// What the cache file was: `absent`, `reused` or `other_model` (all recomputed).
    pub cache: &'static str,
    /// Seconds spent embedding (model loading excluded).
    pub embed_seconds: f64,
    /// Items embedded per second; null when nothing needed embedding.
    pub items_per_s: Option<f64>,
    /// Seconds spent in the neighbour search.
    pub topk_seconds: f64,
    /// Neighbours per item.
    pub k: usize,
    /// The output file.
    pub out: PathBuf,
    /// The embedding cache file.
    pub cache_path: PathBuf,
}

/// The cache file of an output path: `<out>.emb`.
pub fn cache_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".emb");
    PathBuf::from(name)
}

/// Runs the command.
pub fn run(args: &NeighborsArgs) -> Result<NeighborsSummary, NeighborsError> {
    if args.k == 0 || args.batch == 0 || args.threads == Some(0) {
        return Err(NeighborsError::Usage(
            "-k, --batch and --threads must be at least 1".into(),
        ));
    }
    let read = read_items(&args.items, args.limit)?;
    for (line, item) in read.skipped.iter().take(SKIP_WARNINGS) {
        eprintln!(
            "warning: {}:{line}: item {item} has no title, brand, categories or description; skipped",
            args.items.display()
        );
    }
    if read.skipped.len() > SKIP_WARNINGS {
        eprintln!(
            "warning: {} more items without text skipped",
            read.skipped.len() - SKIP_WARNINGS
        );
    }

    let embedder = SentenceEmbedder::load(&args.embedder)?;
    let cache_file = cache_path(&args.out);
    let (mut cache, status) = EmbeddingCache::open_for(&cache_file, embedder.fingerprint(), embedder.dimension())?;
    if let CacheStatus::OtherModel { entries } = status {
        eprintln!(
            "note: {} was made with another embedding model; its {entries} vectors are recomputed",
            cache_file.display()
        );
    }

    let hashes: Vec<u64> = read.items.iter().map(|i| text_hash(&i.text)).collect();
    let missing: Vec<usize> = (0..read.items.len())
        .filter(|&i| cache.get(read.items[i].item, hashes[i]).is_none())
        .collect();
    let texts: Vec<String> = missing.iter().map(|&i| read.items[i].text.clone()).collect();
    let started = Instant::now();
    let mut last_report = 0.0;
    let fresh = embedder.embed_batched(&texts, args.batch, |done, total| {
        let elapsed = started.elapsed().as_secs_f64();
        if done == total || elapsed - last_report >= PROGRESS_EVERY_S {
            last_report = elapsed;
            let rate = done as f64 / elapsed.max(1e-9);
            let eta = (total - done) as f64 / rate.max(1e-9);
            eprintln!("embedded {done}/{total} items ({rate:.1} items/s, ETA {eta:.0} s)");
        }
    })?;
    let embed_seconds = started.elapsed().as_secs_f64();
    for (&i, vector) in missing.iter().zip(fresh) {
        cache.insert(read.items[i].item, hashes[i], vector)?;
    }
    if !missing.is_empty() || status != CacheStatus::Reused {
        cache.save(&cache_file)?;
    }

    let mut vectors = Vec::with_capacity(read.items.len());
    for (item, &hash) in read.items.iter().zip(&hashes) {
        // Every item was either found or inserted above with this very hash.
        let v = cache.get(item.item, hash).ok_or_else(|| NeighborsError::Cache {
            path: cache_file.clone(),
            reason: format!("item {} is missing after embedding", item.item),
        })?;
        vectors.push(v.to_vec());
    }
    let started = Instant::now();
    let neighbours = top_k(&vectors, args.k)?;
    let topk_seconds = started.elapsed().as_secs_f64();
    write_neighbours(&args.out, &read.items, &neighbours)?;

    let embedded = missing.len();
    Ok(NeighborsSummary {
        items: read.items.len(),
        skipped_no_text: read.skipped.len(),
        cache_hits: read.items.len() - embedded,
        embedded,
        cache: match status {
            CacheStatus::Absent => "absent",
            CacheStatus::Reused => "reused",
            CacheStatus::OtherModel { .. } => "other_model",
        },
        embed_seconds,
        items_per_s: (embedded > 0).then(|| embedded as f64 / embed_seconds.max(1e-9)),
        topk_seconds,
        k: args.k,
        out: args.out.clone(),
        cache_path: cache_file,
    })
}

#[derive(Serialize)]
struct Neighbour {
    item: u32,
    cosine: f32,
}

#[derive(Serialize)]
struct Line<'a> {
    item: u32,
    neighbors: &'a [Neighbour],
}

fn write_neighbours(out: &Path, items: &[ItemText], neighbours: &[Vec<(u32, f32)>]) -> Result<(), NeighborsError> {
    grlm::atomic_write::write_atomically(out, |w: &mut dyn Write| {
        for (item, list) in items.iter().zip(neighbours) {
            let neighbors: Vec<Neighbour> = list
                .iter()
                .map(|&(j, cosine)| Neighbour {
                    item: items[j as usize].item,
                    cosine,
                })
                .collect();
            serde_json::to_writer(
                &mut *w,
                &Line {
                    item: item.item,
                    neighbors: &neighbors,
                },
            )?;
            w.write_all(b"\n")?;
        }
        Ok::<(), std::io::Error>(())
    })
    .map_err(NeighborsError::io(out))
}
