//! `grlm eval`: leave-one-out evaluation on a sequences file, with the baselines measured on
//! the same users in the same run.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use grlm::engine::recommend_by_prior;
use grlm::eval::{check_prior, sample_users, Metrics, Popularity};
use grlm::prior::HistoryPrior;
use grlm::sequences::{read_sequences, Sequence, Split};
use grlm::{Catalog, Engine, ItemFilter, Mode, RecommendParams, Response};

use crate::recommend_cmd::{EngineArgs, ModeArg, PriorArgs};
use crate::{print_json, write_jsonl};

/// The list length evaluated: the largest reported cut-off.
const K: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Baseline {
    /// Most frequent items in the counted parts (no target is counted), history excluded.
    Popularity,
    /// The catalogue's collaborative prior alone (item-to-next-item counts of the window).
    Transitions,
}

impl Baseline {
    fn name(self) -> &'static str {
        match self {
            Baseline::Popularity => "popularity",
            Baseline::Transitions => "transitions",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// Target: each user's last item.
    #[default]
    Test,
    /// Target: each user's second-to-last item (choose settings here).
    Valid,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Split {
        match s {
            SplitArg::Test => Split::Test,
            SplitArg::Valid => Split::Valid,
        }
    }
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// sequences.txt: `USER ITEM ITEM ...` per line, oldest first.
    #[arg(long)]
    sequences: PathBuf,
    /// Which held-out item is the target.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,
    /// Evaluate a seeded sample of this many users (default: all).
    #[arg(long)]
    users: Option<usize>,
    /// Seed of the user sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Decoding mode (`prior` needs no model).
    #[arg(long, value_enum, default_value_t = ModeArg::Constrained)]
    mode: ModeArg,
    /// Beam width. Under 20 in constrained mode, only that many items are ranked, and
    /// recall and NDCG at the larger cut-offs count only those.
    #[arg(long, default_value_t = 20)]
    beams: usize,
    /// History items shown to the model (the paper: the last 20).
    #[arg(long, default_value_t = 20)]
    max_history: usize,
    #[command(flatten)]
    prior: PriorArgs,
    /// Also score these baselines on the same users, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    baseline: Vec<Baseline>,
    /// Sessions decoding in parallel, each on its own thread (with `--threads` llama.cpp
    /// threads each); the results are the same as with one.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Also write each evaluated user's outcome to this file, one JSON object per line:
    /// `user`, `target`, `rank` (1-based rank of the target in the list, or null when it is
    /// not in the top 20), `<baseline>_rank` per baseline and, with a prior, `seen` (whether
    /// a transition from the window reaches the target). Two runs on the same users can then
    /// be compared user by user. Its directory must exist; the file is written atomically
    /// at the end of the run.
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
    #[serde(flatten)]
    baselines: BTreeMap<String, Option<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seen: Option<bool>,
}

/// What one user's run gave, before it is added up.
struct Outcome {
    line: UserRank,
    generated: usize,
    valid: usize,
    direct: usize,
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

/// Everything a worker needs to evaluate users, shared by all of them.
struct Job<'a> {
    args: &'a EvalArgs,
    catalog: &'a Catalog,
    engine: Option<&'a Engine>,
    params: RecommendParams,
    split: Split,
    popularity: Option<Popularity>,
    transitions: bool,
    with_prior: bool,
}

impl Job<'_> {
    /// The user's outcome; `None` when their history or target is not in the catalogue.
    fn evaluate(&self, session: Option<&mut grlm::Session>, seq: &Sequence) -> Result<Option<Outcome>, String> {
        let (history, target) = seq.split(self.split).ok_or("sampled a user too short for the split")?;
        if !self.catalog.contains(target) || history.iter().any(|&h| !self.catalog.contains(h)) {
            return Ok(None);
        }
        let fail = |e: grlm::EngineError| format!("user {}: {e}", seq.user);
        let response: Response = match session {
            Some(session) => {
                // Users share no more than the prompt's header, so a cold start costs next to
                // nothing, and it makes a user's result independent of who came before on
                // the session: any --jobs gives the same numbers, to the last bit.
                session.clear();
                session.recommend(history, &self.params).map_err(fail)?
            }
            None => recommend_by_prior(self.catalog, history, &self.params).map_err(fail)?,
        };
        let rank_of = |items: &[u32]| items.iter().position(|&i| i == target).map(|r| r + 1);
        let ids = |r: &Response| r.results.iter().map(|x| x.item).collect::<Vec<u32>>();
        let mut baselines = BTreeMap::new();
        if let Some(pop) = &self.popularity {
            let ranked = pop.recommend(history, self.params.k);
            baselines.insert("popularity_rank".to_owned(), rank_of(&ranked));
        }
        if self.transitions {
            let prior_only = recommend_by_prior(self.catalog, history, &self.params).map_err(fail)?;
            baselines.insert("transitions_rank".to_owned(), rank_of(&ids(&prior_only)));
        }
        let seen = if self.with_prior {
            let filter = ItemFilter::none().exclude(history.iter().copied());
            let prior =
                HistoryPrior::new(self.catalog, history, &filter, &self.params.prior).map_err(|e| e.to_string())?;
            let index = self.catalog.item_index(target).ok_or("target not in the catalogue")?;
            Some(prior.transition_mass(index) > 0.0)
        } else {
            None
        };
        Ok(Some(Outcome {
            line: UserRank {
                user: seq.user,
                target,
                rank: rank_of(&ids(&response)),
                baselines,
                seen,
            },
            generated: response.generated.len(),
            valid: response.generated.iter().filter(|g| g.valid).count(),
            direct: response.generated.iter().filter(|g| g.direct).count(),
        }))
    }
}

pub fn eval(args: EvalArgs) -> Result<(), String> {
    if args.jobs == 0 || args.jobs > 64 {
        return Err("--jobs must be in 1..=64".into());
    }
    let split: Split = args.split.into();
    let sequences = read_sequences(&args.sequences).map_err(|e| e.to_string())?;
    let chosen = sample_users(&sequences, args.users.unwrap_or(usize::MAX), args.seed, split);
    if chosen.is_empty() {
        return Err(format!(
            "{}: no user has enough items for the {} split",
            args.sequences.display(),
            split.name()
        ));
    }
    // Refused before an hour of decoding rather than after it.
    if let Some(parent) = args.ranks.as_deref().and_then(std::path::Path::parent) {
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            return Err(format!("--ranks: {} is not a directory", parent.display()));
        }
    }
    let mode: Mode = args.mode.into();
    let engine = match mode {
        Mode::Prior => None,
        _ => Some(args.engine.open()?),
    };
    let opened;
    let catalog = match &engine {
        Some(engine) => engine.catalog(),
        None => {
            opened = Catalog::open(&args.engine.catalog).map_err(|e| e.to_string())?;
            &opened
        }
    };
    let with_prior = catalog.prior().is_some();
    let prior = args.prior.params();
    let uses_prior = mode == Mode::Prior
        || args.baseline.contains(&Baseline::Transitions)
        || prior.weight_for(with_prior).is_some_and(|w| w > 0.0);
    if uses_prior {
        if !with_prior {
            return Err(grlm::EngineError::NoPrior.to_string());
        }
        check_prior(catalog, &sequences, split).map_err(|e| e.to_string())?;
    }
    let params = RecommendParams {
        // A catalogue smaller than the list ranks every item; fewer constrained beams rank
        // fewer (a beam search returns at most one TID per beam).
        k: match mode {
            Mode::Constrained => K.min(catalog.len()).min(args.beams),
            _ => K.min(catalog.len()),
        },
        beams: Some(args.beams),
        mode,
        max_history: args.max_history,
        prior,
        ..RecommendParams::default()
    };
    let job = Job {
        args: &args,
        catalog,
        engine: engine.as_ref(),
        params,
        split,
        popularity: args
            .baseline
            .contains(&Baseline::Popularity)
            .then(|| Popularity::fit(&sequences, split.holdout())),
        transitions: args.baseline.contains(&Baseline::Transitions),
        with_prior: uses_prior,
    };
    let started = Instant::now();
    let outcomes = run_jobs(&job, &sequences, &chosen)?;
    let seconds = started.elapsed().as_secs_f64();
    report(&args, &job, &outcomes, seconds)
}

/// Evaluates the `chosen` users on `--jobs` sessions in parallel (each user is evaluated
/// exactly as a single session would) and returns their outcomes in `chosen` order.
fn run_jobs(job: &Job<'_>, sequences: &[Sequence], chosen: &[usize]) -> Result<Vec<Option<Outcome>>, String> {
    let jobs = job.args.jobs.min(chosen.len());
    let (send, receive) = mpsc::channel::<(usize, Result<Option<Outcome>, String>)>();
    let mut outcomes: Vec<Option<Outcome>> = (0..chosen.len()).map(|_| None).collect();
    std::thread::scope(|scope| -> Result<(), String> {
        for worker in 0..jobs {
            let send = send.clone();
            scope.spawn(move || {
                let mut session = match job.engine {
                    Some(engine) => match engine.session(job.args.engine.session_params(job.args.beams)) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            let _ = send.send((worker, Err(e.to_string())));
                            return;
                        }
                    },
                    None => None,
                };
                // Users are dealt round-robin; each result goes back with its position.
                for at in (worker..chosen.len()).step_by(jobs) {
                    let outcome = job.evaluate(session.as_mut(), &sequences[chosen[at]]);
                    let failed = outcome.is_err();
                    if send.send((at, outcome)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(send);
        let mut progress = Progress::new(chosen.len());
        let mut running = Metrics::default();
        let mut done = 0;
        for (at, outcome) in receive {
            let outcome = outcome?;
            running.add(outcome.as_ref().and_then(|o| o.line.rank.map(|r| r - 1)));
            outcomes[at] = outcome;
            done += 1;
            progress.update(done, &running);
        }
        if done < chosen.len() {
            return Err("a worker stopped before its users were done".into());
        }
        Ok(())
    })?;
    Ok(outcomes)
}

/// Adds up the outcomes, writes `--ranks`, and prints the summary.
fn report(args: &EvalArgs, job: &Job<'_>, outcomes: &[Option<Outcome>], seconds: f64) -> Result<(), String> {
    let evaluated: Vec<&Outcome> = outcomes.iter().flatten().collect();
    let skipped = outcomes.len() - evaluated.len();
    let mut metrics = Metrics::default();
    let mut baselines: BTreeMap<&str, Metrics> = BTreeMap::new();
    // Recall@10 of every method on the users whose target a window transition reaches
    // ("seen") and on the rest.
    let mut slices: BTreeMap<&str, BTreeMap<String, Metrics>> = BTreeMap::new();
    for o in &evaluated {
        let to_index = |rank: Option<usize>| rank.map(|r| r - 1);
        metrics.add(to_index(o.line.rank));
        metrics.add_generated(o.generated, o.valid, o.direct);
        let slice = o.line.seen.map(|seen| if seen { "seen" } else { "unseen" });
        if let Some(slice) = slice {
            slices
                .entry(slice)
                .or_default()
                .entry("model".into())
                .or_default()
                .add(to_index(o.line.rank));
        }
        for b in &args.baseline {
            let rank = o.line.baselines.get(&format!("{}_rank", b.name())).copied().flatten();
            baselines.entry(b.name()).or_default().add(to_index(rank));
            if let Some(slice) = slice {
                slices
                    .entry(slice)
                    .or_default()
                    .entry(b.name().into())
                    .or_default()
                    .add(to_index(rank));
            }
        }
    }
    if let Some(path) = &args.ranks {
        write_jsonl(path, evaluated.iter().map(|o| &o.line))?;
    }
    let mut out = metrics.to_json(seconds);
    let obj = out.as_object_mut().ok_or("metrics are not an object")?;
    obj.insert(
        "mode".into(),
        serde_json::to_value(job.params.mode).map_err(|e| e.to_string())?,
    );
    obj.insert("split".into(), job.split.name().into());
    obj.insert("skipped_users".into(), skipped.into());
    obj.insert("seed".into(), args.seed.into());
    obj.insert("beams".into(), args.beams.into());
    obj.insert("ranked".into(), job.params.k.into());
    obj.insert("jobs".into(), args.jobs.into());
    obj.insert(
        "prior".into(),
        serde_json::to_value(job.params.prior).map_err(|e| e.to_string())?,
    );
    let weight = job.params.prior.weight_for(job.catalog.prior().is_some());
    obj.insert("prior_weight".into(), weight.into());
    if let Some(engine) = job.engine {
        obj.insert("model".into(), args.engine.model_path().display().to_string().into());
        if let Some(adapter) = engine.adapter_path() {
            obj.insert("lora".into(), adapter.display().to_string().into());
        }
    }
    if !baselines.is_empty() {
        let values = baselines
            .iter()
            .map(|(name, m)| (name.to_string(), m.to_json(0.0)))
            .collect();
        obj.insert("baseline".into(), serde_json::Value::Object(values));
    }
    if !slices.is_empty() {
        let values = slices
            .iter()
            .map(|(slice, methods)| {
                let users = methods.get("model").map_or(0, Metrics::users);
                let mut recall: serde_json::Map<String, serde_json::Value> = methods
                    .iter()
                    .map(|(method, m)| (method.clone(), m.recall(10).into()))
                    .collect();
                recall.insert("users".into(), users.into());
                (slice.to_string(), serde_json::Value::Object(recall))
            })
            .collect();
        obj.insert("recall@10_by_slice".into(), serde_json::Value::Object(values));
    }
    if args.json {
        return print_json(&out);
    }
    println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    Ok(())
}
