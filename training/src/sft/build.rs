//! Turning the inputs into examples: pure, in memory, deterministic for a seed.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::prompts::{self, ItemDetails, PromptAnswer};
use grlm::prompt::{self, PromptItem};
use grlm::rng::SplitMix64;
use grlm::tid::Tid;

use super::input::{Data, ItemMeta};
use super::{Example, Segment, Skipped, Task, TaskCounts};

/// Neighbours per `neighbors` example: the closest few carry the collaborative signal, and
/// every extra TID line costs about 16 tokens per anchor.
pub const NEIGHBORS_PER_ANCHOR: usize = 5;

/// Whose data an example comes from; tests use it to check the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A `terms` example of this item.
    Item(u32),
    /// A `sequence` example (training or validation) of this user.
    User(u32),
    /// A `neighbors` example of this anchor.
    Anchor(u32),
    /// A `transitions` example: this item, then that one.
    Pair(u32, u32),
}

pub(crate) struct Built {
    /// Shuffled.
    pub train: Vec<(Origin, Example)>,
    /// In sequences-file order.
    pub valid: Vec<(Origin, Example)>,
    pub train_counts: TaskCounts,
    pub valid_counts: TaskCounts,
    pub skipped: Skipped,
}

/// What [`build`] makes besides the always-on tasks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BuildOptions {
    pub titles: bool,
    pub max_history: usize,
    pub seed: u64,
    /// The `transitions` task's threshold: a pair needs this many users.
    pub transition_min_users: Option<u32>,
    /// The `unseen` task's window: how many items before a step the counts look back over.
    pub unseen_window: Option<usize>,
}

pub(crate) fn build(data: &Data, options: BuildOptions) -> Built {
    let BuildOptions {
        titles,
        max_history,
        seed,
        transition_min_users,
        unseen_window,
    } = options;
    let tid_of: HashMap<u32, &Tid> = data.tids.iter().map(|(item, tid)| (*item, tid)).collect();
    let meta_of: HashMap<u32, &ItemMeta> = data.items.iter().map(|(item, meta)| (*item, meta)).collect();
    let title_of = |item: u32| meta_of.get(&item).and_then(|m| m.title.as_deref());
    let line = |item: u32, target: bool| line_segments(tid_of[&item], title_of(item), titles, target);
    let mut skipped = Skipped {
        items_without_tid: data.items.iter().filter(|(item, _)| !tid_of.contains_key(item)).count() as u64,
        ..Skipped::default()
    };
    let mut train = Vec::new();
    let mut valid = Vec::new();
    // Users per consecutive pair of training parts; ordered, so the examples come out the
    // same on every run before the shuffle.
    let mut pair_users: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    // Every user's training part as the `sequence` task keeps it, for the `unseen` task,
    // which needs the steps of all users before it can judge one user's.
    let mut parts: Vec<(u32, Vec<u32>)> = Vec::new();

    let new = &data.new_items;
    for (item, tid) in &data.tids {
        if new.contains(item) {
            skipped.new_items_dropped += 1;
            continue;
        }
        let meta = meta_of.get(item);
        let details = ItemDetails {
            title: meta.and_then(|m| m.title.as_deref()),
            categories: meta.map_or(&[][..], |m| &m.categories[..]),
            brand: meta.and_then(|m| m.brand.as_deref()),
        };
        match prompts::terms(&details, tid) {
            Some(made) => train.push((Origin::Item(*item), from_prompt_answer(Task::Terms, made))),
            None => skipped.items_without_text += 1,
        }
    }

    for sequence in &data.sequences {
        let split = sequence.items.len().saturating_sub(2);
        let (logged, held_out) = sequence.items.split_at(split);
        // The training part as if the new items had never been bought.
        let training_part: Vec<u32> = logged.iter().copied().filter(|item| !new.contains(item)).collect();
        skipped.new_items_dropped += (logged.len() - training_part.len()) as u64;
        let kept: Vec<u32> = training_part
            .iter()
            .copied()
            .filter(|item| !held_out.contains(item))
            .collect();
        skipped.held_out_repeats_dropped += (training_part.len() - kept.len()) as u64;
        if transition_min_users.is_some() {
            let pairs: HashSet<(u32, u32)> = kept.windows(2).map(|w| (w[0], w[1])).filter(|(a, b)| a != b).collect();
            for pair in pairs {
                *pair_users.entry(pair).or_default() += 1;
            }
        }
        if unseen_window.is_some() {
            parts.push((sequence.user, kept.clone()));
        }
        if kept.len() >= 2 {
            let window = &kept[kept.len().saturating_sub(max_history + 1)..];
            let mut segments = vec![header()];
            for (i, &item) in window.iter().enumerate() {
                segments.extend(line(item, i > 0));
            }
            train.push((Origin::User(sequence.user), example(Task::Sequence, segments)));
        } else {
            skipped.users_without_sequence_example += 1;
        }
        // The history inference would show for the validation target: the raw training
        // part, whatever it repeats.
        if let (false, Some(&answer)) = (training_part.is_empty(), held_out.first()) {
            let history = &training_part[training_part.len().saturating_sub(max_history)..];
            let mut segments = vec![header()];
            for &item in history {
                segments.extend(line(item, false));
            }
            segments.extend(line(answer, true));
            valid.push((Origin::User(sequence.user), example(Task::Sequence, segments)));
        } else {
            skipped.users_without_validation_example += 1;
        }
    }

    for row in &data.neighbors {
        if new.contains(&row.anchor) {
            skipped.new_items_dropped += 1;
            continue;
        }
        let known: Vec<u32> = row
            .neighbors
            .iter()
            .copied()
            .filter(|item| !new.contains(item))
            .collect();
        let shown = &known[..known.len().min(NEIGHBORS_PER_ANCHOR)];
        if shown.is_empty() {
            skipped.anchors_without_neighbors += 1;
            continue;
        }
        let tids: Vec<&Tid> = shown.iter().map(|item| tid_of[item]).collect();
        let made = prompts::neighbors(tid_of[&row.anchor], &tids);
        train.push((Origin::Anchor(row.anchor), from_prompt_answer(Task::Neighbors, made)));
    }

    if let Some(min_users) = transition_min_users {
        for (&(from, to), _) in pair_users.iter().filter(|(_, &users)| users >= min_users) {
            let mut segments = vec![header()];
            segments.extend(line(from, false));
            segments.extend(line(to, true));
            train.push((Origin::Pair(from, to), example(Task::Transitions, segments)));
        }
    }

    if let Some(window) = unseen_window {
        let mut steps: HashMap<(u32, u32), u32> = HashMap::new();
        for (_, part) in &parts {
            for pair in part.windows(2) {
                *steps.entry((pair[0], pair[1])).or_default() += 1;
            }
        }
        for (user, part) in &parts {
            let Some(at) = last_unseen_step(part, window, max_history, &steps) else {
                skipped.users_without_unseen_step += 1;
                continue;
            };
            let mut segments = vec![header()];
            for &item in &part[at.saturating_sub(max_history)..at] {
                segments.extend(line(item, false));
            }
            segments.extend(line(part[at], true));
            train.push((Origin::User(*user), example(Task::Unseen, segments)));
        }
    }

    let mut rng = SplitMix64::new(seed);
    for i in (1..train.len()).rev() {
        train.swap(i, rng.below(i + 1));
    }
    Built {
        train_counts: count(train.iter().map(|(_, e)| e)),
        valid_counts: count(valid.iter().map(|(_, e)| e)),
        train,
        valid,
        skipped,
    }
}

/// The last position of a training part whose item no *other* user's training part ever
/// went to in one step from any of the `window` items before it, and which is not among the
/// `max_history` items shown before it (inference leaves the history out). `steps` counts
/// the consecutive pairs of every user's training part, this one's included; subtracting
/// this user's own pairs gives what a prior counted without them would hold, which is
/// where an evaluation target stands: its own step was never counted.
fn last_unseen_step(
    part: &[u32],
    window: usize,
    max_history: usize,
    steps: &HashMap<(u32, u32), u32>,
) -> Option<usize> {
    let mut own: HashMap<(u32, u32), u32> = HashMap::new();
    for pair in part.windows(2) {
        *own.entry((pair[0], pair[1])).or_default() += 1;
    }
    let count = |map: &HashMap<(u32, u32), u32>, pair| map.get(&pair).copied().unwrap_or(0);
    (1..part.len()).rev().find(|&at| {
        let target = part[at];
        let shown = &part[at.saturating_sub(max_history)..at];
        let reached = &part[at.saturating_sub(window)..at];
        !shown.contains(&target)
            && reached
                .iter()
                .all(|&from| count(steps, (from, target)) == count(&own, (from, target)))
    })
}

fn header() -> Segment {
    let h = prompt::header();
    Segment {
        text: h.text,
        begins_text: h.begins_text,
        loss: false,
    }
}

/// One history line, as inference shows it. A target line carries loss on its TID, and on
/// the newline after it unless a title sits between them: the model's answer at inference
/// is the TID alone, so a title is context, never something to learn to write.
fn line_segments(tid: &Tid, title: Option<&str>, titles: bool, target: bool) -> Vec<Segment> {
    let pieces = prompt::item_segments(PromptItem { tid, title }, titles);
    let title_shown = pieces.len() > 2;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, s)| Segment {
            text: s.text,
            begins_text: s.begins_text,
            loss: target && (i == 0 || !title_shown),
        })
        .collect()
}

fn from_prompt_answer(task: Task, made: PromptAnswer) -> Example {
    let with_loss = |loss: bool| {
        move |s: prompt::Segment| Segment {
            text: s.text,
            begins_text: s.begins_text,
            loss,
        }
    };
    let mut segments: Vec<Segment> = made.prompt.into_iter().map(with_loss(false)).collect();
    segments.extend(made.answer.into_iter().map(with_loss(true)));
    example(task, segments)
}

/// An example ends with its last loss segment: anything after it (a title line's tail)
/// would cost tokens and teach nothing.
fn example(task: Task, mut segments: Vec<Segment>) -> Example {
    while segments.last().is_some_and(|s| !s.loss) {
        segments.pop();
    }
    Example { task, segments }
}

/// The answer lines of an example (see [`Example::loss_lines`]).
pub(crate) fn loss_lines(segments: &[Segment]) -> Vec<std::ops::Range<usize>> {
    let mut lines = Vec::new();
    let mut start = None;
    for (i, s) in segments.iter().enumerate() {
        if !s.loss {
            if let Some(begin) = start.take() {
                lines.push(begin..i);
            }
            continue;
        }
        let begin = *start.get_or_insert(i);
        if s.text.ends_with('\n') {
            lines.push(begin..i + 1);
            start = None;
        }
    }
    if let Some(begin) = start {
        lines.push(begin..segments.len());
    }
    lines
}

fn count<'a>(examples: impl Iterator<Item = &'a Example>) -> TaskCounts {
    let mut counts = TaskCounts::default();
    for e in examples {
        match e.task {
            Task::Terms => counts.terms += 1,
            Task::Sequence => counts.sequence += 1,
            Task::Neighbors => counts.neighbors += 1,
            Task::Transitions => counts.transitions += 1,
            Task::Unseen => counts.unseen += 1,
        }
        counts.targets += loss_lines(&e.segments).len() as u64;
    }
    counts
}
