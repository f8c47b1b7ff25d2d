//! `grlm eval`: leave-one-out evaluation on a sequences file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use grlm::eval::{sample_users, Metrics, Popularity};
use grlm::sequences::read_sequences;
use grlm::{Mode, RecommendParams};

use crate::recommend_cmd::{EngineArgs, ModeArg};
use crate::{print_json, write_jsonl};

/// The list length evaluated: the largest reported cut-off.
const K: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Baseline {
    /// Most frequent items in the histories (targets never counted), history excluded.
    Popularity,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// sequences.txt: `USER ITEM ITEM ...` per line, oldest first.
    #[arg(long)]
    sequences: PathBuf,
    /// Evaluate a seeded sample of this many users (default: all).
    #[arg(long)]
    users: Option<usize>,
    /// Seed of the user sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Decoding mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Constrained)]
    mode: ModeArg,
    /// Beam width (at least 20 in constrained mode: 20 items are ranked).
    #[arg(long, default_value_t = 20)]
    beams: usize,
    /// History items shown to the model (the paper: the last 20).
    #[arg(long, default_value_t = 20)]
    max_history: usize,
    /// Also score a baseline on the same users.
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// Also write each evaluated user's outcome to this file, one JSON object per line:
    /// `user`, `target`, `rank` (1-based rank of the target in the list, or null when it is
    /// not in the top 20) and, with `--baseline`, `popularity_rank`. Two runs on the same
    /// users can then be compared user by user (a paired test). Its directory must exist;
    /// the file is written atomically at the end of the run.
    #[arg(long, value_name = "RANKS.jsonl")]
    ranks: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// One evaluated user's line of `--ranks`.
#[derive(serde::Serialize)]
struct UserRank {
    user: u32,
    target: u32,
    rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    popularity_rank: Option<Option<usize>>,
}

/// Progress on stderr: a redrawn bar on a terminal, a line every 5% otherwise.
struct Progress {
    total: usize,
    started: Instant,
    tty: bool,
    last_line: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            total,
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            last_line: 0,
        }
    }

    fn update(&mut self, done: usize, metrics: &Metrics) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let per_user = elapsed / done.max(1) as f64;
        let eta = per_user * (self.total - done) as f64;
        let width = 30;
        let filled = width * done / self.total.max(1);
        let text = format!(
            "[{}{}] {done}/{} users, {:.2} s/user, ETA {:.0} s, recall@10 {:.4}",
            "=".repeat(filled),
            " ".repeat(width - filled),
            self.total,
            per_user,
            eta,
            metrics.recall(10)
        );
        if self.tty {
            eprint!("\r{text}");
            if done == self.total {
                eprintln!();
            }
        } else if done == self.total || done * 20 / self.total.max(1) > self.last_line {
            self.last_line = done * 20 / self.total.max(1);
            eprintln!("{text}");
        }
    }
}

pub fn eval(args: EvalArgs) -> Result<(), String> {
    let sequences = read_sequences(&args.sequences).map_err(|e| e.to_string())?;
    let chosen = sample_users(&sequences, args.users.unwrap_or(usize::MAX), args.seed);
    if chosen.is_empty() {
        return Err(format!("{}: no user has two or more items", args.sequences.display()));
    }
    // Refused before an hour of decoding rather than after it.
    if let Some(parent) = args.ranks.as_deref().and_then(std::path::Path::parent) {
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            return Err(format!("--ranks: {} is not a directory", parent.display()));
        }
    }
    let engine = args.engine.open()?;
    let mut session = engine
        .session(args.engine.session_params(args.beams))
        .map_err(|e| e.to_string())?;
    let mode: Mode = args.mode.into();
    // A catalogue smaller than the list ranks every item.
    let k = K.min(engine.catalog().len());
    let params = RecommendParams {
        k,
        beams: args.beams,
        mode,
        max_history: args.max_history,
        ..RecommendParams::default()
    };
    let popularity = args.baseline.map(|_| Popularity::fit(&sequences));
    let mut metrics = Metrics::default();
    let mut baseline = Metrics::default();
    let mut skipped = 0usize;
    let mut progress = Progress::new(chosen.len());
    let started = Instant::now();
    let mut baseline_seconds = 0.0;
    let mut ranks = Vec::new();
    for (done, &i) in chosen.iter().enumerate() {
        let seq = &sequences[i];
        let (history, target) = (seq.history(), seq.target().unwrap_or(0));
        if !engine.catalog().contains(target) || history.iter().any(|&h| !engine.catalog().contains(h)) {
            skipped += 1;
            continue;
        }
        let response = session
            .recommend(history, &params)
            .map_err(|e| format!("user {}: {e}", seq.user))?;
        let rank = response.results.iter().position(|r| r.item == target);
        metrics.add(rank);
        let mut line = UserRank {
            user: seq.user,
            target,
            rank: rank.map(|r| r + 1),
            popularity_rank: None,
        };
        let valid = response.generated.iter().filter(|g| g.valid).count();
        let direct = response.generated.iter().filter(|g| g.direct).count();
        metrics.add_generated(response.generated.len(), valid, direct);
        if let Some(pop) = &popularity {
            let t = Instant::now();
            let ranked = pop.recommend(history, k);
            let rank = ranked.iter().position(|&item| item == target);
            baseline.add(rank);
            line.popularity_rank = Some(rank.map(|r| r + 1));
            baseline_seconds += t.elapsed().as_secs_f64();
        }
        ranks.push(line);
        progress.update(done + 1, &metrics);
    }
    if let Some(path) = &args.ranks {
        write_jsonl(path, &ranks)?;
    }
    let seconds = started.elapsed().as_secs_f64() - baseline_seconds;
    let mut out = metrics.to_json(seconds);
    let obj = out.as_object_mut().ok_or("metrics are not an object")?;
    obj.insert("mode".into(), serde_json::to_value(mode).map_err(|e| e.to_string())?);
    obj.insert("skipped_users".into(), skipped.into());
    obj.insert("seed".into(), args.seed.into());
    obj.insert("beams".into(), args.beams.into());
    obj.insert("model".into(), args.engine.model_path().display().to_string().into());
    if let Some(adapter) = engine.adapter_path() {
        obj.insert("lora".into(), adapter.display().to_string().into());
    }
    if args.baseline.is_some() {
        obj.insert(
            "baseline".into(),
            serde_json::json!({ "popularity": baseline.to_json(baseline_seconds) }),
        );
    }
    if args.json {
        return print_json(&out);
    }
    println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    Ok(())
}
