//! Supervised fine-tuning data: what `grlm-train sft` writes for the LoRA trainer (and, with
//! `--format llamafactory`, for LlamaFactory).
//!
//! Five tasks, all in the engine's own prompt format ([`grlm::prompt`]):
//!
//! - `terms` (term internalisation): one example per item that has a TID and any text —
//!   its title, categories and brand → its TID line ([`crate::prompts::terms`]).
//! - `sequence` (next-item prediction): one example per user, built from the user's
//!   *training part*: the sequence without its last two items (the last is the test
//!   target, the one before it the validation target). The example is the header and the
//!   last `max_history + 1` items of the training part, one line each, exactly as
//!   inference shows a history ([`grlm::prompt::segments`]); every line but the first is a
//!   target, so one example teaches each next item given the lines before it, and its last
//!   target sees `max_history` lines, as at inference. Neither held-out item is ever a
//!   target or anywhere in the user's example: a repeat purchase of one of them earlier in
//!   the training part is dropped from the example (counted).
//! - `neighbors` (only with `--neighbors`): an anchor item's TID → the TIDs of its first
//!   [`NEIGHBORS_PER_ANCHOR`] collaborative neighbours ([`crate::prompts::neighbors`]).
//! - `transitions` (only with `--transitions MIN_USERS`): the frequent steps of the
//!   training parts. Every consecutive pair of different items that at least `MIN_USERS`
//!   users' training parts (as the `sequence` task keeps them) contain becomes a two-line
//!   purchase history, the first item as context and the second as the target: one
//!   example per pair, however many users share it. Item-to-next-item co-occurrence is
//!   most of the signal in these datasets, and in a sequence example a pair that many
//!   users share costs a whole history per sighting; here it costs one short example, so a
//!   small training budget can cover every frequent step of the whole dataset.
//! - `unseen` (only with `--unseen WINDOW`): the steps the counts miss. Per user, the last
//!   step of the training part whose item no other user's training part reaches in one
//!   step from any of the `WINDOW` items before it (and which is not among the items shown
//!   before it): the `max_history` items before it as context, it as the only target. The
//!   catalogue's prior gives such an item no transition mass, so fused with the prior the
//!   model only adds recommendations where it learnt what the counts cannot know; set
//!   `WINDOW` to the prior's window (`--prior-window`, default 5).
//!
//! With `--new-items`, the listed items are taught nowhere: no `terms` example, no
//! `neighbors` example as anchor or neighbour, and each training part is read without them
//! (as if they had never been bought), so every task above is made from the rest.
//!
//! Validation examples (`valid.jsonl`, never mixed into `train.jsonl`): per user, the last
//! `max_history` items of the training part as the history and the validation target as
//! the answer.
//!
//! # Native format
//!
//! `DIR/train.jsonl` and `DIR/valid.jsonl` hold one [`Example`] per line:
//!
//! ```text
//! {"task":"sequence","segments":[{"text":"A shopper's ...\n","begins_text":true,"loss":false},
//!   {"text":"[hair-mask, ...]","begins_text":false,"loss":false},{"text":"\n",...,"loss":false},
//!   {"text":"[shampoo, ...]","begins_text":false,"loss":true},{"text":"\n",...,"loss":true}]}
//! ```
//!
//! The trainer tokenizes each segment on its own (as the engine does, which keeps a TID's
//! tokens identical to the catalogue's token trie), puts the model's start-of-text token
//! before a segment with `begins_text`, and computes the loss only on the tokens of
//! segments with `loss: true`. With `--titles`, a history line is `TID`, ` Title`, `\n`
//! and only its TID carries loss: at inference the answer is the TID alone. An example ends
//! with its last loss segment. `DIR/meta.json` is the run's [`SftSummary`].
//!
//! Training examples are shuffled with a seeded generator (`--seed`, default
//! [`DEFAULT_SEED`]): the same inputs and seed give byte-identical files. Validation
//! examples stay in `sequences.txt` order. Every file is written atomically
//! ([`grlm::atomic_write`]) and `meta.json` last, so a directory with a `meta.json` is
//! complete and a crash never leaves a half-written file.
//!
//! # LlamaFactory
//!
//! `--format llamafactory` writes the same data in alpaca format; see [`llamafactory`].
//!
//! # Leakage
//!
//! The split is per user, by position, as the engine's leave-one-out evaluation
//! (`grlm eval`) expects: the test target is the last item. Items themselves are shared
//! knowledge: a user's held-out item still has its `terms` example and may appear in other
//! users' sequences. Collaborative neighbours are read as given; if they were mined from
//! whole sequences (held-out items included), they carry aggregate information about
//! held-out interactions, which this builder cannot undo. Transitions are mined here, from
//! the same training parts the `sequence` task uses, so they carry none.

mod build;
pub(crate) mod input;

pub(crate) use input::{read_items as read_item_details, ItemMeta};
pub mod llamafactory;
#[cfg(test)]
mod tests;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use build::NEIGHBORS_PER_ANCHOR;

/// The seed of the training-example shuffle when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 20_260_111;

/// `grlm-train sft`: build SFT examples from a catalogue's items, TIDs and user sequences.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct SftArgs {
    /// Items, one JSON object per line: `item` (u32) and optionally `title`, `categories`
    /// (a list of category paths, each a list of names) and `brand`; other fields are
    /// ignored.
    #[cfg_attr(feature = "cli", arg(long, value_name = "ITEMS.jsonl"))]
    pub items: PathBuf,
    /// TIDs, one `{"item": ID, "terms": [...]}` per line (as for `grlm catalog build`).
    #[cfg_attr(feature = "cli", arg(long, value_name = "TIDS.jsonl"))]
    pub tids: PathBuf,
    /// User sequences, `USER ITEM ITEM ...` per line, oldest first (as for `grlm eval`).
    #[cfg_attr(feature = "cli", arg(long, value_name = "sequences.txt"))]
    pub sequences: PathBuf,
    /// Collaborative neighbours, `ANCHOR N1 N2 ...` per line, closest first, after an
    /// optional header line starting with `anchor`; adds the `neighbors` task.
    #[cfg_attr(feature = "cli", arg(long, value_name = "collaborative_neighbors.tsv"))]
    pub neighbors: Option<PathBuf>,
    /// Adds the `transitions` task: every consecutive pair of items found in at least this
    /// many users' training parts, as a two-line history (see the module docs).
    #[cfg_attr(feature = "cli", arg(long, value_name = "MIN_USERS"))]
    pub transitions: Option<NonZeroU32>,
    /// Adds the `unseen` task: per user, the last step that no other user's training part
    /// reaches from the WINDOW items before it (see the module docs).
    #[cfg_attr(feature = "cli", arg(long, value_name = "WINDOW"))]
    pub unseen: Option<NonZeroU32>,
    /// Items new to the catalogue (one id a line): they appear in no training example —
    /// no `terms` example, and the training parts are read as if they had never been
    /// bought (as `grlm catalog build --new-items` counts them), so no history shows them
    /// and no target is one. A validation target may still be one.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub new_items: Option<PathBuf>,
    /// Show item titles on history lines (then serve with `grlm recommend --titles`).
    #[cfg_attr(feature = "cli", arg(long))]
    pub titles: bool,
    /// History lines the model sees before each target, as `grlm recommend --max-history`.
    #[cfg_attr(feature = "cli", arg(long, default_value = "20"))]
    pub max_history: NonZeroU32,
    /// Output format: `native` (train.jsonl, valid.jsonl for grlm-train lora) or
    /// `llamafactory` (alpaca JSON and dataset_info.json).
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Format::Native))]
    pub format: Format,
    /// Seed of the training-example shuffle.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = DEFAULT_SEED))]
    pub seed: u64,
    /// Output directory (created if missing; files in it are replaced).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR"))]
    pub out: PathBuf,
}

/// Which files `run` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `train.jsonl`, `valid.jsonl`: [`Example`] per line, segments with loss flags.
    Native,
    /// `grlm_train.json`, `grlm_valid.json`, `dataset_info.json` for LlamaFactory.
    Llamafactory,
}

/// What an example teaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Item metadata → its TID.
    Terms,
    /// A user's history → each next item's TID.
    Sequence,
    /// An item's TID → its collaborative neighbours' TIDs.
    Neighbors,
    /// One item's TID → the TID of an item that often follows it.
    Transitions,
    /// A user's history → a next item that no other user's history reaches in one step.
    Unseen,
}

impl Task {
    /// Every task.
    pub const ALL: [Task; 5] = [
        Task::Terms,
        Task::Sequence,
        Task::Neighbors,
        Task::Transitions,
        Task::Unseen,
    ];

    /// The name the command line and `train.jsonl` use.
    pub fn name(self) -> &'static str {
        match self {
            Task::Terms => "terms",
            Task::Sequence => "sequence",
            Task::Neighbors => "neighbors",
            Task::Transitions => "transitions",
            Task::Unseen => "unseen",
        }
    }
}

impl std::str::FromStr for Task {
    type Err = String;

    fn from_str(text: &str) -> Result<Task, String> {
        let text = text.trim();
        Task::ALL
            .into_iter()
            .find(|t| t.name() == text)
            .ok_or_else(|| format!("unknown task {text:?} (one of terms, sequence, neighbors, transitions, unseen)"))
    }
}

/// One separately tokenized piece of an example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The text.
    pub text: String,
    /// Whether the model's start-of-text token precedes it (only an example's first).
    pub begins_text: bool,
    /// Whether the trainer computes its loss on this segment's tokens.
    pub loss: bool,
}

/// One training or validation example: one line of `train.jsonl` / `valid.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// What it teaches.
    pub task: Task,
    /// Its segments, in order; at least one has `loss: true`.
    pub segments: Vec<Segment>,
}

impl Example {
    /// The whole text, as the model reads it.
    pub fn text(&self) -> String {
        self.segments.iter().map(|s| s.text.as_str()).collect()
    }

    /// The example's answers, as ranges of `segments`: each a run of consecutive loss
    /// segments that ends after a segment ending in a newline, or before a segment without
    /// loss. A sequence example has one per target line, a `terms` example one, a
    /// `neighbors` example one per neighbour.
    pub fn loss_lines(&self) -> Vec<std::ops::Range<usize>> {
        build::loss_lines(&self.segments)
    }
}

/// Why `sft` failed. Every message names the file, and the line when one is at fault.
#[derive(Debug, thiserror::Error)]
pub enum SftError {
    /// The items or TIDs file could not be read or has a bad line.
    #[error(transparent)]
    Input(#[from] grlm::catalog::input::InputError),
    /// An input file could not be read.
    #[error("{path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Read { path: PathBuf, source: std::io::Error },
    /// An input line is malformed or inconsistent with another input.
    #[error("{path}:{line}: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Line { path: PathBuf, line: u64, reason: String },
    /// An output file could not be written (the previous file, if any, is left intact).
    #[error("writing {path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Write { path: PathBuf, source: std::io::Error },
}

/// Examples per task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Term-internalisation examples.
    pub terms: u64,
    /// Sequence examples.
    pub sequence: u64,
    /// Collaborative-neighbour examples.
    pub neighbors: u64,
    /// Transition examples.
    #[serde(default)]
    pub transitions: u64,
    /// Examples of steps the counts miss.
    #[serde(default)]
    pub unseen: u64,
    /// Answer lines over all examples ([`Example::loss_lines`]).
    pub targets: u64,
}

/// What was left out, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Items of the items file without a TID: no example shows them.
    pub items_without_tid: u64,
    /// Items with a TID but no title, category or brand (or no line in the items file):
    /// no `terms` example.
    pub items_without_text: u64,
    /// Users whose training part (after dropping held-out repeats) has fewer than 2 items:
    /// no `sequence` example.
    pub users_without_sequence_example: u64,
    /// Users whose training part is empty (fewer than 3 items): no validation example.
    pub users_without_validation_example: u64,
    /// Earlier occurrences of a user's validation or test item dropped from that user's
    /// training example.
    pub held_out_repeats_dropped: u64,
    /// Neighbour-file anchors with no neighbours listed (or, with `--new-items`, none but
    /// new items).
    pub anchors_without_neighbors: u64,
    /// With `--new-items`: occurrences of new items dropped from training parts, new items'
    /// `terms` examples and new anchors of the `neighbors` task.
    #[serde(default)]
    pub new_items_dropped: u64,
    /// Users (with `--unseen`) none of whose training steps the other users' steps miss:
    /// no `unseen` example.
    #[serde(default)]
    pub users_without_unseen_step: u64,
}

/// The input files a run read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// `--items`.
    pub items: PathBuf,
    /// `--tids`.
    pub tids: PathBuf,
    /// `--sequences`.
    pub sequences: PathBuf,
    /// `--neighbors`, if given.
    pub neighbors: Option<PathBuf>,
    /// `--new-items`, if given.
    #[serde(default)]
    pub new_items: Option<PathBuf>,
}

/// The options a run used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// `--titles`.
    pub titles: bool,
    /// `--max-history`.
    pub max_history: u32,
    /// `--format`.
    pub format: Format,
    /// `--seed`.
    pub seed: u64,
    /// Neighbours per `neighbors` example.
    pub neighbors_per_anchor: usize,
    /// `--transitions`, if given.
    #[serde(default)]
    pub transitions: Option<u32>,
    /// `--unseen`, if given.
    #[serde(default)]
    pub unseen: Option<u32>,
}

/// What `run` did: printed by the CLI as JSON and written to `DIR/meta.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SftSummary {
    /// Users in the sequences file.
    pub users: u64,
    /// Items with a TID.
    pub items: u64,
    /// Training examples per task.
    pub train: TaskCounts,
    /// Validation examples (all `sequence`).
    pub valid: TaskCounts,
    /// What was left out.
    pub skipped: Skipped,
    /// The files written, relative to `out`, `meta.json` excluded.
    pub files: Vec<String>,
    /// Alpaca records written for LlamaFactory (train, valid); absent for native output.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub llamafactory_records: Option<(u64, u64)>,
    /// The input files.
    pub inputs: Inputs,
    /// The options.
    pub options: Options,
}

/// Reads the inputs, builds the examples and writes them to `args.out`.
pub fn run(args: &SftArgs) -> Result<SftSummary, SftError> {
    let data = input::read_all(args)?;
    let built = build::build(
        &data,
        build::BuildOptions {
            titles: args.titles,
            max_history: args.max_history.get() as usize,
            seed: args.seed,
            transition_min_users: args.transitions.map(NonZeroU32::get),
            unseen_window: args.unseen.map(|w| w.get() as usize),
        },
    );
    std::fs::create_dir_all(&args.out).map_err(|source| SftError::Write {
        path: args.out.clone(),
        source,
    })?;
    let train: Vec<Example> = built.train.into_iter().map(|(_, e)| e).collect();
    let valid: Vec<Example> = built.valid.into_iter().map(|(_, e)| e).collect();
    let (files, llamafactory_records) = match args.format {
        Format::Native => {
            write_jsonl(&args.out.join("train.jsonl"), &train)?;
            write_jsonl(&args.out.join("valid.jsonl"), &valid)?;
            (vec!["train.jsonl".to_owned(), "valid.jsonl".to_owned()], None)
        }
        Format::Llamafactory => {
            let (files, records) = llamafactory::write(&args.out, &train, &valid)?;
            (files, Some(records))
        }
    };
    let summary = SftSummary {
        users: data.sequences.len() as u64,
        items: data.tids.len() as u64,
        train: built.train_counts,
        valid: built.valid_counts,
        skipped: built.skipped,
        files,
        llamafactory_records,
        inputs: Inputs {
            items: args.items.clone(),
            tids: args.tids.clone(),
            sequences: args.sequences.clone(),
            neighbors: args.neighbors.clone(),
            new_items: args.new_items.clone(),
        },
        options: Options {
            titles: args.titles,
            max_history: args.max_history.get(),
            format: args.format,
            seed: args.seed,
            neighbors_per_anchor: NEIGHBORS_PER_ANCHOR,
            transitions: args.transitions.map(NonZeroU32::get),
            unseen: args.unseen.map(NonZeroU32::get),
        },
    };
    // Last: its presence says that every other file of this run is in place.
    write_atomically(&args.out.join("meta.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        w.write_all(b"\n")
    })?;
    Ok(summary)
}

/// Writes one JSON value per line.
fn write_jsonl<T: Serialize>(path: &Path, values: &[T]) -> Result<(), SftError> {
    grlm::lines::write_jsonl(path, values).map_err(|source| SftError::Write {
        path: path.to_owned(),
        source,
    })
}

/// [`grlm::atomic_write::write_atomically`] with the file named in the error.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), SftError> {
    grlm::atomic_write::write_atomically(path, write).map_err(|source| SftError::Write {
        path: path.to_owned(),
        source,
    })
}
