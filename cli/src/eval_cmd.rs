//! `grlm eval`: leave-one-out evaluation on a sequences file, with the baselines measured on
//! the same users in the same run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use grlm::engine::recommend_by_prior;
use grlm::prior::{Fusion, HistoryPrior, PriorParams};
use grlm::sequences::{read_item_list, read_sequences, without_items, Sequence, Split};
use grlm::{Catalog, Engine, ItemFilter, Mode, RecommendParams, Response};
use grlm_eval::{check_prior, mcnemar, sample_users, Metrics, Popularity};

use crate::eval_journal::{Entry, Journal};
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

/// One side of the new-items protocol's split of the users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SliceArg {
    /// Users whose target is a new item.
    New,
    /// Users whose target is a known item.
    Known,
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
    /// Also score these settings of the model on the same users, comma-separated:
    /// `alone` (the model alone), `product:λ` (the product at weight λ) or `mixture:β` (the
    /// mixture at model share β), each with the run's other prior settings; `product:λ:κ`
    /// and `mixture:β:κ` also set the evidence scale κ (`--prior-evidence`), and a fused
    /// setting ending in `@N` has N cold slots (`--cold-slots`; without it, the library's
    /// default, whatever the run's own). Constrained
    /// mode only. They run in the same session right after the run's own request, so each
    /// user's prompt is evaluated once for all of them; a setting ranks as a run of its own
    /// does (its prompt's last token is evaluated alone, so scores may differ from a cold
    /// run in llama.cpp's last bits).
    #[arg(long, value_delimiter = ',', value_name = "SETTING")]
    also: Vec<String>,
    /// Sessions decoding in parallel, each on its own thread (with `--threads` llama.cpp
    /// threads each); the results are the same as with one.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Items new to the catalogue (one id a line), as given to `grlm catalog build
    /// --new-items`: the log is read as if they had never been bought before the split's
    /// held-out items, and the users whose target is one of them are reported apart (the
    /// `new` and `known` slices).
    #[arg(long, value_name = "FILE")]
    new_items: Option<PathBuf>,
    /// Evaluate only the sampled users of this slice (needs `--new-items`): the sample is
    /// drawn as without it, so these are the users a whole run reports under that slice,
    /// and its ranks can be compared with that run's user by user.
    #[arg(long, value_enum, requires = "new_items")]
    slice: Option<SliceArg>,
    /// Also write each evaluated user's outcome to this file, one JSON object per line:
    /// `user`, `target`, `rank` (1-based rank of the target in the list, or null when it is
    /// not in the top 20), `<name>_rank` per baseline and `--also` setting, with a prior
    /// `seen` (whether a transition from the window reaches the target) and `successors`
    /// (how many eligible items the window reaches: how much the counts know of this
    /// history), and with `--new-items` `new` (whether the target is a new item).
    /// Two runs on the same users can then be compared user by user. Its directory must
    /// exist; the file is written atomically at the end of the run.
    #[arg(long, value_name = "RANKS.jsonl")]
    ranks: Option<PathBuf>,
    /// With `--ranks`, also write the model's lists: `lists`, an object with the run's own
    /// (`run`) and each `--also` setting's, its items best first, each `[item, model
    /// score]` (the model's own log-probability of the item's TID, null where there is
    /// none). A rule on the lists (which item a cold slot should push out, say) can then
    /// be weighed after the run.
    #[arg(long, requires = "ranks")]
    lists: bool,
    /// Append each user's outcome to this file as soon as it is known, and resume from it:
    /// users already in it are not evaluated again, so a run stopped part way goes on
    /// where it stopped when run again. It must have been written by the same settings and
    /// input files (its first line names them; another run's journal is refused); the
    /// sample and `--jobs` may differ.
    #[arg(long, value_name = "FILE.jsonl")]
    journal: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also write the JSON object to this file (atomically, at the end of the run), so that
    /// a script can keep it while a person reads the table.
    #[arg(long, value_name = "FILE.json")]
    summary: Option<PathBuf>,
}

/// One evaluated user's line of `--ranks`.
#[derive(serde::Serialize, serde::Deserialize)]
struct UserRank {
    user: u32,
    target: u32,
    rank: Option<usize>,
    /// `<name>_rank` of every other method: the baselines and the `--also` settings.
    #[serde(flatten)]
    others: BTreeMap<String, Option<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<bool>,
    /// With a prior: how many eligible items the history's window reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    successors: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new: Option<bool>,
    /// `--lists`: each model list's `[item, model score]`, best first, by setting name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    lists: BTreeMap<String, Vec<(u32, Option<f64>)>>,
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
    /// `--new-items`, when given.
    new_items: Option<BTreeSet<u32>>,
    /// `--also`, in the order given.
    also: Vec<Setting>,
    /// Users drawn for the run, before `--slice` kept those of its slice.
    sampled: usize,
}

/// One more setting of the model scored on the same users (`--also`).
struct Setting {
    /// As given on the command line.
    name: String,
    prior: PriorParams,
}

impl Setting {
    /// Parses `alone`, `product:λ[:κ]` or `mixture:β[:κ]`, either fused one with an optional
    /// `@N` (N cold slots; the library's default without); the rest of the prior's settings
    /// come from `base`.
    fn parse(spec: &str, base: &PriorParams) -> Result<Setting, String> {
        let number = |text: &str| {
            text.parse::<f64>()
                .map_err(|_| format!("--also {spec}: {text:?} is not a number"))
        };
        let (fused, cold_slots) = match spec.split_once('@') {
            Some(("alone", _)) => return Err(format!("--also {spec}: the model alone has no cold slots")),
            Some((fused, slots)) => (
                fused,
                Some(
                    slots
                        .parse::<usize>()
                        .map_err(|_| format!("--also {spec}: {slots:?} is not a number of cold slots"))?,
                ),
            ),
            // Cold slots shape the list rather than the prior, so a setting says its own.
            None => (spec, None),
        };
        let base = &PriorParams { cold_slots, ..*base };
        let (kind, evidence) = match fused.matches(':').count() {
            2 => {
                let (kind, evidence) = fused.rsplit_once(':').expect("two colons");
                (kind, number(evidence)?)
            }
            _ => (fused, base.evidence),
        };
        let base = &PriorParams { evidence, ..*base };
        let prior = match kind.split_once(':') {
            None if kind == "alone" => PriorParams {
                weight: Some(0.0),
                ..*base
            },
            Some(("product", weight)) => PriorParams {
                weight: Some(number(weight)?),
                fusion: Fusion::Product,
                ..*base
            },
            Some(("mixture", share)) => PriorParams {
                weight: None,
                fusion: Fusion::Mixture,
                model_share: number(share)?,
                ..*base
            },
            _ => {
                return Err(format!(
                    "--also {spec}: not `alone`, `product:λ[:κ][@N]` or `mixture:β[:κ][@N]`"
                ))
            }
        };
        prior.validate().map_err(|e| format!("--also {spec}: {e}"))?;
        Ok(Setting {
            name: spec.to_owned(),
            prior,
        })
    }
}

impl Job<'_> {
    /// The user's outcome; `None` when their history or target is not in the catalogue.
    fn evaluate(&self, session: Option<&mut grlm::Session>, seq: &Sequence) -> Result<Option<Outcome>, String> {
        let (history, target) = seq.split(self.split).ok_or("sampled a user too short for the split")?;
        if !self.catalog.contains(target) || history.iter().any(|&h| !self.catalog.contains(h)) {
            return Ok(None);
        }
        let fail = |e: grlm::EngineError| format!("user {}: {e}", seq.user);
        let mut session = session;
        let response: Response = match session.as_deref_mut() {
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
        let scored = |r: &Response| r.results.iter().map(|x| (x.item, x.model_score)).collect::<Vec<_>>();
        let mut others = BTreeMap::new();
        let mut lists = BTreeMap::new();
        if self.args.lists && session.is_some() {
            lists.insert("run".to_owned(), scored(&response));
        }
        if let Some(session) = session {
            for setting in &self.also {
                let params = RecommendParams {
                    prior: setting.prior,
                    ..self.params.clone()
                };
                // The same history: only its last token is evaluated again.
                let response = session.recommend(history, &params).map_err(fail)?;
                others.insert(format!("{}_rank", setting.name), rank_of(&ids(&response)));
                if self.args.lists {
                    lists.insert(setting.name.clone(), scored(&response));
                }
            }
        }
        if let Some(pop) = &self.popularity {
            let ranked = pop.recommend(history, self.params.k);
            others.insert("popularity_rank".to_owned(), rank_of(&ranked));
        }
        if self.transitions {
            let prior_only = recommend_by_prior(self.catalog, history, &self.params).map_err(fail)?;
            others.insert("transitions_rank".to_owned(), rank_of(&ids(&prior_only)));
        }
        let (seen, successors) = if self.with_prior {
            let filter = ItemFilter::none().exclude(history.iter().copied());
            let prior =
                HistoryPrior::new(self.catalog, history, &filter, &self.params.prior).map_err(|e| e.to_string())?;
            let index = self.catalog.item_index(target).ok_or("target not in the catalogue")?;
            (Some(prior.transition_mass(index) > 0.0), Some(prior.successors()))
        } else {
            (None, None)
        };
        Ok(Some(Outcome {
            line: UserRank {
                user: seq.user,
                target,
                rank: rank_of(&ids(&response)),
                others,
                seen,
                successors,
                new: self.new_items.as_ref().map(|new| new.contains(&target)),
                lists,
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
    let logged = read_sequences(&args.sequences).map_err(|e| e.to_string())?;
    let new_items = args
        .new_items
        .as_deref()
        .map(read_item_list)
        .transpose()
        .map_err(|e| e.to_string())?;
    let sequences = match &new_items {
        Some(new) => without_items(&logged, split.holdout(), new),
        None => logged.clone(),
    };
    let mut chosen = sample_users(&sequences, args.users.unwrap_or(usize::MAX), args.seed, split);
    if chosen.is_empty() {
        return Err(format!(
            "{}: no user has enough items for the {} split",
            args.sequences.display(),
            split.name()
        ));
    }
    let sampled = chosen.len();
    if let (Some(slice), Some(new)) = (args.slice, &new_items) {
        let (wanted, name) = match slice {
            SliceArg::New => (true, "new"),
            SliceArg::Known => (false, "known"),
        };
        chosen.retain(|&i| {
            sequences[i]
                .split(split)
                .is_some_and(|(_, target)| new.contains(&target) == wanted)
        });
        if chosen.is_empty() {
            return Err(format!(
                "--slice {name}: none of the {sampled} sampled users has a {name} target"
            ));
        }
    }
    // Refused before an hour of decoding rather than after it.
    for (flag, path) in [
        ("--ranks", &args.ranks),
        ("--summary", &args.summary),
        ("--journal", &args.journal),
    ] {
        if let Some(parent) = path.as_deref().and_then(std::path::Path::parent) {
            if !parent.as_os_str().is_empty() && !parent.is_dir() {
                return Err(format!("{flag}: {} is not a directory", parent.display()));
            }
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
    if let (Some(new), Some(path)) = (&new_items, &args.new_items) {
        if let Some(unknown) = new.iter().find(|&&item| !catalog.contains(item)) {
            return Err(format!("{}: item {unknown} is not in the catalogue", path.display()));
        }
    }
    let with_prior = catalog.transitions().is_some();
    let prior = args.prior.params();
    let also = args
        .also
        .iter()
        .map(|spec| Setting::parse(spec, &prior))
        .collect::<Result<Vec<_>, _>>()?;
    if !also.is_empty() && mode != Mode::Constrained {
        return Err("--also needs --mode constrained: its settings share the run's prompt".into());
    }
    let mut names: BTreeSet<&str> = args.baseline.iter().map(|b| b.name()).collect();
    names.insert(MODEL);
    if let Some(twice) = also.iter().find(|a| !names.insert(&a.name)) {
        return Err(format!(
            "--also {}: that name is already a method of the run",
            twice.name
        ));
    }
    let uses_prior = mode == Mode::Prior
        || args.baseline.contains(&Baseline::Transitions)
        || std::iter::once(&prior)
            .chain(also.iter().map(|a| &a.prior))
            .any(|p| p.weight_for(with_prior).is_some_and(|w| w > 0.0));
    if uses_prior {
        if !with_prior {
            return Err(grlm::EngineError::NoPrior.to_string());
        }
        let no_items = BTreeSet::new();
        check_prior(catalog, &logged, split, new_items.as_ref().unwrap_or(&no_items)).map_err(|e| e.to_string())?;
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
        new_items,
        also,
        sampled,
    };
    let mut outcomes: Vec<Option<Outcome>> = (0..chosen.len()).map(|_| None).collect();
    let mut journal = None;
    let mut resumed = 0;
    if let Some(path) = &args.journal {
        let (opened, mut found) = Journal::open(path, &journal_run(&args, &job)?, |l: &UserRank| (l.user, l.target))?;
        for (at, &index) in chosen.iter().enumerate() {
            let seq = &sequences[index];
            let Some((_, target)) = seq.split(split) else { continue };
            if let Some(entry) = found.remove(&(seq.user, target)) {
                outcomes[at] = Some(Outcome {
                    line: entry.outcome,
                    generated: entry.generated,
                    valid: entry.valid,
                    direct: entry.direct,
                });
            }
        }
        resumed = outcomes.iter().flatten().count();
        if resumed > 0 {
            eprintln!(
                "{}: {resumed} of {} users already evaluated",
                path.display(),
                chosen.len()
            );
        }
        journal = Some(opened);
    }
    // Users skipped as not in the catalogue are not journaled; finding that again is cheap.
    let pending: Vec<usize> = (0..chosen.len()).filter(|&at| outcomes[at].is_none()).collect();
    let started = Instant::now();
    run_jobs(&job, &sequences, &chosen, &pending, &mut outcomes, journal.as_mut())?;
    let seconds = started.elapsed().as_secs_f64();
    report(&args, &job, &outcomes, seconds, resumed)
}

/// What `--journal` names its run by: every setting that changes a user's outcome, and the
/// identity of every input file (its length and sampled content, so a rebuilt catalogue or
/// a retrained adapter is another run).
fn journal_run(args: &EvalArgs, job: &Job<'_>) -> Result<serde_json::Value, String> {
    let identity = |path: &std::path::Path| -> Result<serde_json::Value, String> {
        let id = grlm::llm::file_identity(path).map_err(|e| e.to_string())?;
        Ok(serde_json::json!({ "path": path.display().to_string(), "identity": format!("{id:016x}") }))
    };
    let optional = |path: Option<&std::path::Path>| path.map(identity).transpose();
    let uses_model = job.engine.is_some();
    let model = args.engine.model_path();
    Ok(serde_json::json!({
        "grlm": env!("CARGO_PKG_VERSION"),
        "catalog": identity(&args.engine.catalog)?,
        "sequences": identity(&args.sequences)?,
        "new_items": optional(args.new_items.as_deref())?,
        "model": optional(uses_model.then_some(model.as_path()))?,
        "lora": optional(args.engine.lora.as_deref().filter(|_| uses_model))?,
        "lora_scale": args.engine.lora_scale,
        "threads": args.engine.threads,
        "titles": args.engine.titles,
        "n_ctx": args.engine.n_ctx,
        "split": job.split.name(),
        "mode": job.params.mode,
        "beams": args.beams,
        "ranked": job.params.k,
        "max_history": args.max_history,
        "prior": job.params.prior,
        "also": args.also,
        "lists": args.lists,
        "baseline": args.baseline.iter().map(|b| b.name()).collect::<Vec<_>>(),
    }))
}

/// Evaluates the users at positions `pending` of `chosen` on `--jobs` sessions in parallel
/// (each user is evaluated exactly as a single session would), puts each outcome at its
/// position in `outcomes`, and appends it to the journal as it comes.
fn run_jobs(
    job: &Job<'_>,
    sequences: &[Sequence],
    chosen: &[usize],
    pending: &[usize],
    outcomes: &mut [Option<Outcome>],
    mut journal: Option<&mut Journal>,
) -> Result<(), String> {
    if pending.is_empty() {
        return Ok(());
    }
    let jobs = job.args.jobs.min(pending.len());
    let (send, receive) = mpsc::channel::<(usize, Result<Option<Outcome>, String>)>();
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
                for &at in pending.iter().skip(worker).step_by(jobs) {
                    let outcome = job.evaluate(session.as_mut(), &sequences[chosen[at]]);
                    let failed = outcome.is_err();
                    if send.send((at, outcome)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(send);
        let mut progress = Progress::new(pending.len());
        let mut running = Metrics::default();
        let mut done = 0;
        for (at, outcome) in receive {
            let outcome = outcome?;
            running.add(outcome.as_ref().and_then(|o| o.line.rank.map(|r| r - 1)));
            if let (Some(journal), Some(o)) = (journal.as_deref_mut(), &outcome) {
                journal.append(&Entry {
                    outcome: &o.line,
                    generated: o.generated,
                    valid: o.valid,
                    direct: o.direct,
                })?;
            }
            outcomes[at] = outcome;
            done += 1;
            progress.update(done, &running);
        }
        if done < pending.len() {
            return Err("a worker stopped before its users were done".into());
        }
        Ok(())
    })
}

/// Every method's metrics over a group of users, and McNemar's test of the run's own
/// method against each other one.
struct Tally {
    /// `model` (the run's own), then each `--also` setting and each baseline, in that order.
    methods: Vec<(String, Metrics)>,
    /// Per other method: users only the run's method hits at 10, users only the other does.
    discordant: Vec<(u64, u64)>,
}

impl Tally {
    /// An empty tally of the run's method and `others` (names as in [`UserRank::others`],
    /// without `_rank`).
    fn new(others: &[String]) -> Tally {
        let names = std::iter::once(MODEL.to_owned()).chain(others.iter().cloned());
        Tally {
            methods: names.map(|n| (n, Metrics::default())).collect(),
            discordant: vec![(0, 0); others.len()],
        }
    }

    fn add(&mut self, outcome: &Outcome) {
        let to_index = |rank: Option<usize>| rank.map(|r| r - 1);
        let hit = |rank: Option<usize>| rank.is_some_and(|r| r <= 10);
        let run = outcome.line.rank;
        self.methods[0].1.add(to_index(run));
        for ((name, metrics), pair) in self.methods[1..].iter_mut().zip(&mut self.discordant) {
            let rank = outcome.line.others.get(&format!("{name}_rank")).copied().flatten();
            metrics.add(to_index(rank));
            match (hit(run), hit(rank)) {
                (true, false) => pair.0 += 1,
                (false, true) => pair.1 += 1,
                _ => {}
            }
        }
    }

    fn users(&self) -> usize {
        self.methods[0].1.users()
    }

    /// McNemar's test of the run's method against each other method: name, users only the
    /// run hits, users only the other hits, p.
    fn paired(&self) -> impl Iterator<Item = (&str, u64, u64, f64)> {
        self.methods[1..]
            .iter()
            .zip(&self.discordant)
            .map(|((name, _), &(a, b))| (name.as_str(), a, b, mcnemar(a, b)))
    }

    /// `paired`: per other method, `only_run@10`, `only_other@10` and `mcnemar_p`.
    fn paired_json(&self) -> serde_json::Value {
        let paired: serde_json::Map<String, serde_json::Value> = self
            .paired()
            .map(|(name, a, b, p)| {
                let value = serde_json::json!({ "only_run@10": a, "only_other@10": b, "mcnemar_p": p });
                (name.to_owned(), value)
            })
            .collect();
        serde_json::Value::Object(paired)
    }

    /// `users`, each method's metrics by name, and `paired`.
    fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("users".into(), self.users().into());
        for (method, m) in &self.methods {
            let mut metrics = m.to_json(0.0);
            if let Some(obj) = metrics.as_object_mut() {
                obj.remove("seconds");
            }
            out.insert(method.clone(), metrics);
        }
        if self.methods.len() > 1 {
            out.insert("paired".into(), self.paired_json());
        }
        serde_json::Value::Object(out)
    }
}

/// The run's own method in a [`Tally`].
const MODEL: &str = "model";

/// The slices an outcome belongs to: `seen`/`unseen` with a prior, `new`/`known` with
/// `--new-items`.
fn slices_of(line: &UserRank) -> impl Iterator<Item = &'static str> {
    let seen = line.seen.map(|seen| if seen { "seen" } else { "unseen" });
    let new = line.new.map(|new| if new { "new" } else { "known" });
    seen.into_iter().chain(new)
}

/// Adds up the outcomes, writes `--ranks`, and prints the summary; `seconds` is this
/// process's time, spent on the users not `resumed` from the journal.
fn report(
    args: &EvalArgs,
    job: &Job<'_>,
    outcomes: &[Option<Outcome>],
    seconds: f64,
    resumed: usize,
) -> Result<(), String> {
    let evaluated: Vec<&Outcome> = outcomes.iter().flatten().collect();
    let skipped = outcomes.len() - evaluated.len();
    let others: Vec<String> = job
        .also
        .iter()
        .map(|a| a.name.clone())
        .chain(args.baseline.iter().map(|b| b.name().to_owned()))
        .collect();
    let mut metrics = Metrics::default();
    let mut all = Tally::new(&others);
    let mut slices: BTreeMap<&str, Tally> = BTreeMap::new();
    for o in &evaluated {
        metrics.add(o.line.rank.map(|r| r - 1));
        metrics.add_generated(o.generated, o.valid, o.direct);
        all.add(o);
        for slice in slices_of(&o.line) {
            slices.entry(slice).or_insert_with(|| Tally::new(&others)).add(o);
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
    if args.journal.is_some() {
        obj.insert("resumed_users".into(), resumed.into());
    }
    obj.insert(
        "prior".into(),
        serde_json::to_value(job.params.prior).map_err(|e| e.to_string())?,
    );
    let weight = job.params.prior.weight_for(job.catalog.transitions().is_some());
    obj.insert("prior_weight".into(), weight.into());
    obj.insert(
        "cold_slots".into(),
        job.params.prior.cold_slots_for(job.params.k).into(),
    );
    if let Some(engine) = job.engine {
        obj.insert("model".into(), args.engine.model_path().display().to_string().into());
        if let Some(adapter) = engine.adapter_path() {
            obj.insert("lora".into(), adapter.display().to_string().into());
        }
    }
    if let Some(new) = &job.new_items {
        obj.insert("new_items".into(), new.len().into());
    }
    if let Some(slice) = args.slice {
        obj.insert("slice".into(), serde_json::to_value(slice).map_err(|e| e.to_string())?);
        // The sample the slice was taken from, so a reader can weigh the slice by its share.
        obj.insert("sampled_users".into(), job.sampled.into());
    }
    let metrics_of = |names: &mut dyn Iterator<Item = &str>| -> serde_json::Map<String, serde_json::Value> {
        names
            .filter_map(|name| all.methods.iter().find(|(n, _)| n == name))
            .map(|(name, m)| (name.clone(), m.to_json(0.0)))
            .collect()
    };
    let baselines = metrics_of(&mut args.baseline.iter().map(|b| b.name()));
    if !baselines.is_empty() {
        obj.insert("baseline".into(), baselines.into());
    }
    let also = metrics_of(&mut job.also.iter().map(|a| a.name.as_str()));
    if !also.is_empty() {
        obj.insert("also".into(), also.into());
    }
    if !others.is_empty() {
        obj.insert("paired".into(), all.paired_json());
    }
    if !slices.is_empty() {
        let values = slices
            .iter()
            .map(|(slice, t)| (slice.to_string(), t.to_json()))
            .collect();
        obj.insert("slices".into(), serde_json::Value::Object(values));
    }
    if let Some(path) = &args.summary {
        grlm::atomic_write::write_atomically(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &out)?;
            w.write_all(b"\n")
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if args.json {
        return print_json(&out);
    }
    print_table(args, job, &all, &slices, skipped, seconds, resumed);
    Ok(())
}

/// The summary for a reader: one row per method, per slice, and the paired tests.
fn print_table(
    args: &EvalArgs,
    job: &Job<'_>,
    all: &Tally,
    slices: &BTreeMap<&str, Tally>,
    skipped: usize,
    seconds: f64,
    resumed: usize,
) {
    let weight = job
        .params
        .prior
        .weight_for(job.catalog.transitions().is_some())
        .unwrap_or(0.0);
    let (mode, label) = match job.params.mode {
        Mode::Constrained if weight > 0.0 => match job.params.prior.fusion {
            Fusion::Product => (format!("constrained + prior (product, λ {weight})"), "fused"),
            Fusion::Mixture => (
                format!("constrained + prior (mixture, β {})", job.params.prior.model_share),
                "fused",
            ),
        },
        Mode::Constrained => ("constrained, model alone".to_owned(), "model"),
        Mode::Free => ("free + grounding".to_owned(), "model"),
        Mode::Prior => ("prior alone".to_owned(), "prior"),
    };
    println!(
        "{} users of the {} split (seed {}), {mode}{}{}; {seconds:.0} s{}",
        all.users(),
        job.split.name(),
        args.seed,
        if job.params.mode == Mode::Prior {
            String::new()
        } else {
            format!(", {} beams", args.beams)
        },
        if skipped > 0 {
            format!("; {skipped} skipped (history or target not in the catalogue)")
        } else {
            String::new()
        },
        if resumed > 0 {
            format!(" ({resumed} users resumed from the journal)")
        } else {
            String::new()
        }
    );
    let rows = |tally: &Tally| {
        for (method, m) in &tally.methods {
            let name = if method == MODEL { label } else { method.as_str() };
            let (rlo, rhi) = m.recall_interval(10);
            let (nlo, nhi) = m.ndcg_interval(10);
            println!(
                "  {name:<12} {:>6.4}  {:.4} ({rlo:.4}–{rhi:.4})  {:>6.4}  {:>6.4}  {:.4} ({nlo:.4}–{nhi:.4})  {:>6.4}",
                m.recall(5),
                m.recall(10),
                m.recall(20),
                m.ndcg(5),
                m.ndcg(10),
                m.ndcg(20),
            );
        }
        for (other, only_run, only_other, p) in tally.paired() {
            println!(
                "  {label} vs {other} at 10: {only_run} hit only by {label}, {only_other} only by {other}; McNemar p {p:.3}"
            );
        }
    };
    println!(
        "  {:<12} {:>6}  {:<22}  {:>6}  {:>6}  {:<22}  {:>6}",
        "", "R@5", "R@10 (95%)", "R@20", "N@5", "N@10 (95%)", "N@20"
    );
    rows(all);
    for (slice, tally) in slices {
        println!("{slice}: {} users", tally.users());
        rows(tally);
    }
    if job.params.mode == Mode::Free {
        let model = &all.methods[0].1;
        println!(
            "free beams: {:.3} parse as TIDs, {:.3} name a catalogue TID",
            model.valid_rate(),
            model.direct_hit_rate()
        );
    }
}
