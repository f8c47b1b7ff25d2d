use std::path::{Path, PathBuf};

use grlm::tid::Tid;
use proptest::prelude::*;

use super::build::{build, BuildOptions, Origin};
use super::input::{Data, ItemMeta, Neighbors, UserSequence};
use super::llamafactory::{self, Record};
use super::*;

/// Item `n`'s TID in fixtures: `[iN, x]`, so that item ids can be read back from text.
fn tid(n: u32) -> Tid {
    Tid::from_terms(&[format!("i{n}"), "x".to_owned()]).unwrap()
}

/// The item ids of every TID in `text`, in order.
fn items_in(text: &str) -> Vec<u32> {
    text.split("[i")
        .skip(1)
        .map(|rest| rest[..rest.find(", x]").expect("a fixture TID")].parse().unwrap())
        .collect()
}

/// Input files in a temp dir; `items` ids get titles, every id in `tids` gets a TID.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(items: &str, tids: &[u32], sequences: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("items.jsonl"), items).unwrap();
        let tids: String = tids
            .iter()
            .map(|n| format!("{{\"item\": {n}, \"terms\": [\"i{n}\", \"x\"]}}\n"))
            .collect();
        std::fs::write(dir.path().join("tids.jsonl"), tids).unwrap();
        std::fs::write(dir.path().join("sequences.txt"), sequences).unwrap();
        Fixture { dir }
    }

    /// Items 1..=n with a title each, TIDs for all, and `sequences`.
    fn simple(n: u32, sequences: &str) -> Self {
        let items: String = (1..=n)
            .map(|i| format!("{{\"item\": {i}, \"title\": \"Title {i}\", \"brand\": null}}\n"))
            .collect();
        Self::new(&items, &(1..=n).collect::<Vec<_>>(), sequences)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn args(&self, out: &str) -> SftArgs {
        SftArgs {
            items: self.path("items.jsonl"),
            tids: self.path("tids.jsonl"),
            sequences: self.path("sequences.txt"),
            neighbors: None,
            new_items: None,
            transitions: None,
            unseen: None,
            titles: false,
            max_history: NonZeroU32::new(20).unwrap(),
            format: Format::Native,
            seed: DEFAULT_SEED,
            out: self.path(out),
        }
    }
}

/// Reads what `sft` wrote with the trainer's own reader, so every test also checks that
/// the trainer accepts it.
fn read_examples(path: &Path) -> Vec<Example> {
    crate::lora::data::read_examples(path, &Task::ALL).unwrap()
}

fn answer_texts(example: &Example) -> Vec<String> {
    example
        .loss_lines()
        .into_iter()
        .map(|r| example.segments[r].iter().map(|s| s.text.as_str()).collect())
        .collect()
}

fn data_for(users: &[Vec<u32>], pool: u32) -> Data {
    Data {
        items: (1..=pool)
            .map(|i| {
                let meta = ItemMeta {
                    title: Some(format!("Title {i}")),
                    ..ItemMeta::default()
                };
                (i, meta)
            })
            .collect(),
        tids: (1..=pool).map(|i| (i, tid(i))).collect(),
        sequences: users
            .iter()
            .enumerate()
            .map(|(u, items)| UserSequence {
                user: u as u32,
                items: items.clone(),
            })
            .collect(),
        neighbors: Vec::new(),
        new_items: std::collections::BTreeSet::new(),
    }
}

/// A user's held-out items (the last two) and training part without them, as the
/// builder is specified to split a sequence.
fn split_user(items: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let n = items.len();
    let held = items[n.saturating_sub(2)..].to_vec();
    let kept = items[..n.saturating_sub(2)]
        .iter()
        .copied()
        .filter(|i| !held.contains(i))
        .collect();
    (held, kept)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The core guarantee: a user's validation and test items are never a target, nor
    /// anywhere, in that user's training example; valid.jsonl holds exactly the validation
    /// targets, with the history inference would show.
    #[test]
    fn held_out_items_never_reach_training(
        users in prop::collection::vec(prop::collection::vec(1u32..=12, 1..14), 1..12),
        max_history in 1u32..6,
        titles in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let data = data_for(&users, 12);
        let built = build(&data, BuildOptions { titles, max_history: max_history as usize, seed, transition_min_users: None, unseen_window: None });
        let mh = max_history as usize;
        for (u, items) in users.iter().enumerate() {
            let (held, kept) = split_user(items);
            let mine: Vec<&Example> = built.train.iter()
                .filter(|(o, _)| *o == Origin::User(u as u32)).map(|(_, e)| e).collect();
            if kept.len() < 2 {
                prop_assert!(mine.is_empty());
                continue;
            }
            prop_assert_eq!(mine.len(), 1);
            let example = mine[0];
            let shown = items_in(&example.text());
            prop_assert!(shown.iter().all(|i| !held.contains(i)), "user {u}: {shown:?} shows {held:?}");
            let window = &kept[kept.len().saturating_sub(mh + 1)..];
            prop_assert_eq!(&shown[..], window);
            let targets: Vec<u32> = answer_texts(example).iter().flat_map(|t| items_in(t)).collect();
            prop_assert_eq!(&targets[..], &window[1..]);
        }

        // Through the files: valid.jsonl in user order, one per user with a training part.
        let fixture = Fixture::simple(12, "");
        let sequences: String = users.iter().enumerate()
            .map(|(u, items)| format!("{u} {}\n", items.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")))
            .collect();
        std::fs::write(fixture.path("sequences.txt"), sequences).unwrap();
        let mut args = fixture.args("out");
        args.max_history = NonZeroU32::new(max_history).unwrap();
        args.titles = titles;
        args.seed = seed;
        let summary = run(&args).unwrap();
        let valid = read_examples(&args.out.join("valid.jsonl"));
        let expected: Vec<(&[u32], u32)> = users.iter().filter(|s| s.len() >= 3)
            .map(|s| {
                let part = &s[..s.len() - 2];
                (&part[part.len().saturating_sub(mh)..], s[s.len() - 2])
            })
            .collect();
        prop_assert_eq!(valid.len(), expected.len());
        prop_assert_eq!(summary.valid.sequence as usize, expected.len());
        for (example, (history, target)) in valid.iter().zip(&expected) {
            let answers = answer_texts(example);
            prop_assert_eq!(answers.len(), 1);
            prop_assert_eq!(items_in(&answers[0]), vec![*target]);
            let all = items_in(&example.text());
            prop_assert_eq!(&all[..all.len() - 1], *history);
        }
        let train = read_examples(&args.out.join("train.jsonl"));
        prop_assert_eq!(train.len(), built.train.len());
    }

    /// New items (`--new-items`) are taught nowhere: no training example of any task
    /// shows one, no validation history shows one, and everything else is as it was
    /// without them.
    #[test]
    fn new_items_appear_in_no_training_example(
        users in prop::collection::vec(prop::collection::vec(1u32..=8, 1..12), 1..12),
        new in prop::collection::btree_set(1u32..=8, 1..4),
        seed in any::<u64>(),
    ) {
        let mut data = data_for(&users, 8);
        data.neighbors = (1..=8).map(|anchor| Neighbors { anchor, neighbors: (1..=8).filter(|&n| n != anchor).collect() }).collect();
        data.new_items = new.clone();
        let options = BuildOptions { titles: false, max_history: 4, seed, transition_min_users: Some(1), unseen_window: Some(2) };
        let built = build(&data, options);
        for (origin, example) in &built.train {
            if let Origin::Item(item) = origin {
                prop_assert!(!new.contains(item), "a terms example of new item {item}");
                continue;
            }
            let shown = items_in(&example.text());
            prop_assert!(shown.iter().all(|i| !new.contains(i)), "{origin:?} shows a new item: {shown:?}");
        }
        for (_, example) in &built.valid {
            let shown = items_in(&example.text());
            prop_assert!(shown[..shown.len() - 1].iter().all(|i| !new.contains(i)));
        }
        // The same users without the new items in their training parts build the same
        // sequence examples.
        let forgotten: Vec<Vec<u32>> = users.iter().map(|items| {
            let at = items.len().saturating_sub(2);
            items[..at].iter().copied().filter(|i| !new.contains(i)).chain(items[at..].iter().copied()).collect()
        }).collect();
        let plain = build(&data_for(&forgotten, 8), BuildOptions { transition_min_users: None, unseen_window: None, ..options });
        let sequences = |b: &build::Built| -> Vec<Example> {
            let mut v: Vec<Example> = b.train.iter().filter(|(_, e)| e.task == Task::Sequence).map(|(_, e)| e.clone()).collect();
            v.sort_by_key(Example::text);
            v
        };
        prop_assert_eq!(sequences(&built), sequences(&plain));
        prop_assert_eq!(&built.valid.iter().map(|(_, e)| e.text()).collect::<Vec<_>>(), &plain.valid.iter().map(|(_, e)| e.text()).collect::<Vec<_>>());
    }

    /// Transitions come from training parts only: each example is a pair of different
    /// items that follow each other in at least `min_users` users' training parts (held-out
    /// items dropped as for the `sequence` task), every such pair has exactly one example,
    /// and it shows the first item as context and the second as the only target.
    #[test]
    fn transitions_are_the_frequent_steps_of_training_parts(
        users in prop::collection::vec(prop::collection::vec(1u32..=6, 1..10), 1..16),
        min_users in 1u32..4,
        titles in any::<bool>(),
    ) {
        let data = data_for(&users, 6);
        let options = BuildOptions { titles, max_history: 20, seed: 5, transition_min_users: Some(min_users), unseen_window: None };
        let built = build(&data, options);
        let mut expected = std::collections::BTreeMap::<(u32, u32), u32>::new();
        for items in &users {
            let (_, kept) = split_user(items);
            let mut mine: Vec<(u32, u32)> = kept.windows(2).map(|w| (w[0], w[1])).filter(|(a, b)| a != b).collect();
            mine.sort_unstable();
            mine.dedup();
            for pair in mine {
                *expected.entry(pair).or_default() += 1;
            }
        }
        expected.retain(|_, users| *users >= min_users);
        let mut found = Vec::new();
        for (origin, example) in &built.train {
            if example.task != Task::Transitions {
                continue;
            }
            let Origin::Pair(a, b) = *origin else { panic!("{origin:?}") };
            prop_assert_eq!(items_in(&example.text()), vec![a, b]);
            let answers = answer_texts(example);
            prop_assert_eq!(answers.len(), 1);
            prop_assert_eq!(items_in(&answers[0]), vec![b]);
            prop_assert!(example.text().starts_with(grlm::prompt::HEADER));
            found.push((a, b));
        }
        found.sort_unstable();
        prop_assert_eq!(found, expected.keys().copied().collect::<Vec<_>>());
        prop_assert_eq!(built.train_counts.transitions as usize, expected.len());
        let without = build(&data, BuildOptions { transition_min_users: None, ..options });
        prop_assert!(without.train.iter().all(|(_, e)| e.task != Task::Transitions));
    }

    /// `unseen` examples, against a brute force over the users: each user has at most one,
    /// for the last step of their training part whose item no other user's training part
    /// takes in one step from any of the `window` items before it and that is not among the
    /// `max_history` items shown before it. Those items are its context and it is the only
    /// target; no held-out item appears.
    #[test]
    fn unseen_examples_are_each_users_last_step_no_other_user_took(
        users in prop::collection::vec(prop::collection::vec(1u32..=6, 1..10), 1..16),
        window in 1usize..4,
        max_history in 1usize..6,
    ) {
        let data = data_for(&users, 6);
        let options = BuildOptions {
            titles: false, max_history, seed: 5, transition_min_users: None, unseen_window: Some(window),
        };
        let built = build(&data, options);
        let parts: Vec<Vec<u32>> = users.iter().map(|items| split_user(items).1).collect();
        let mut with_example = 0;
        for (u, part) in parts.iter().enumerate() {
            let taken_by_others = |from: u32, to: u32| {
                parts.iter().enumerate().any(|(v, p)| v != u && p.windows(2).any(|w| w == [from, to]))
            };
            let expected = (1..part.len()).rev().find(|&at| {
                !part[at.saturating_sub(max_history)..at].contains(&part[at])
                    && part[at.saturating_sub(window)..at].iter().all(|&from| !taken_by_others(from, part[at]))
            });
            let mine: Vec<&Example> = built.train.iter()
                .filter(|(o, e)| *o == Origin::User(u as u32) && e.task == Task::Unseen)
                .map(|(_, e)| e)
                .collect();
            let Some(at) = expected else {
                prop_assert!(mine.is_empty(), "user {u}: {mine:?}");
                continue;
            };
            with_example += 1;
            prop_assert_eq!(mine.len(), 1);
            let shown = items_in(&mine[0].text());
            prop_assert_eq!(&shown[..], &part[at.saturating_sub(max_history)..=at]);
            let (held, _) = split_user(&users[u]);
            prop_assert!(shown.iter().all(|i| !held.contains(i)), "user {u}: {shown:?} shows {held:?}");
            let answers = answer_texts(mine[0]);
            prop_assert_eq!(answers.len(), 1);
            prop_assert_eq!(items_in(&answers[0]), vec![part[at]]);
        }
        prop_assert_eq!(built.train_counts.unseen, with_example);
        prop_assert_eq!(built.skipped.users_without_unseen_step, users.len() as u64 - with_example);
        let without = build(&data, BuildOptions { unseen_window: None, ..options });
        prop_assert!(without.train.iter().all(|(_, e)| e.task != Task::Unseen));
    }
}

#[test]
fn sequence_examples_are_the_engine_prompt_with_loss_on_every_line_but_the_first() {
    let fixture = Fixture::simple(30, "7 1 2 3 4 5 6 7 8 9 10\n8 11 12 13\n9 14 15 16 17\n");
    let mut args = fixture.args("out");
    args.max_history = NonZeroU32::new(3).unwrap();
    let summary = run(&args).unwrap();
    let train = read_examples(&args.out.join("train.jsonl"));
    let sequences: Vec<&Example> = train.iter().filter(|e| e.task == Task::Sequence).collect();
    // User 8's training part is one item; the others keep the last max_history + 1.
    assert_eq!(sequences.len(), 2);
    let long = sequences.iter().find(|e| e.text().contains("[i8, x]")).unwrap();
    let history: Vec<grlm::prompt::PromptItem> = [5, 6, 7, 8]
        .iter()
        .map(|&i| grlm::prompt::PromptItem {
            tid: Box::leak(Box::new(tid(i))),
            title: None,
        })
        .collect();
    let engine = grlm::prompt::segments(&history, false);
    assert_eq!(long.segments.len(), engine.len());
    for (mine, theirs) in long.segments.iter().zip(&engine) {
        assert_eq!((&mine.text, mine.begins_text), (&theirs.text, theirs.begins_text));
    }
    let loss: Vec<bool> = long.segments.iter().map(|s| s.loss).collect();
    assert_eq!(loss, [false, false, false, true, true, true, true, true, true]);
    assert_eq!(answer_texts(long), ["[i6, x]\n", "[i7, x]\n", "[i8, x]\n"]);
    assert_eq!(summary.train.sequence, 2);
    assert_eq!(summary.train.targets, 30 + 3 + 1);
    assert_eq!(summary.skipped.users_without_sequence_example, 1);
    assert_eq!(summary.valid.sequence, 3);
    // The validation history is the last max_history items of the training part.
    let valid = read_examples(&args.out.join("valid.jsonl"));
    assert_eq!(items_in(&valid[0].text()), [6, 7, 8, 9]);
    assert_eq!(items_in(&valid[1].text()), [11, 12]);
}

#[test]
fn with_titles_only_the_tid_of_a_target_line_carries_loss() {
    let fixture = Fixture::simple(4, "1 1 2 3 4\n");
    let mut args = fixture.args("out");
    args.titles = true;
    run(&args).unwrap();
    let train = read_examples(&args.out.join("train.jsonl"));
    let sequence = train.iter().find(|e| e.task == Task::Sequence).unwrap();
    assert_eq!(
        sequence.text(),
        format!("{}[i1, x] Title 1\n[i2, x]", grlm::prompt::HEADER)
    );
    assert_eq!(answer_texts(sequence), ["[i2, x]"]);
    let valid = read_examples(&args.out.join("valid.jsonl"));
    assert_eq!(
        valid[0].text(),
        format!("{}[i1, x] Title 1\n[i2, x] Title 2\n[i3, x]", grlm::prompt::HEADER)
    );
}

#[test]
fn skipped_items_and_users_are_counted() {
    let items = concat!(
        "{\"item\": 1, \"title\": \"A\"}\n",
        "{\"item\": 2, \"title\": null, \"categories\": [[\"Beauty\", \"Hair\"]], \"brand\": null}\n",
        "{\"item\": 3, \"title\": \"\", \"categories\": [], \"brand\": null}\n",
        "{\"item\": 4, \"brand\": \"B\"}\n",
        "{\"item\": 9, \"title\": \"no TID\"}\n",
        "\n",
        "{\"item\": 10, \"title\": \"no TID either\", \"categories\": [\"Flat\"]}\n",
    );
    // Item 5 has a TID but no line in the items file.
    let fixture = Fixture::new(items, &[1, 2, 3, 4, 5], "1 1\n2 1 2\n3 1 2 3\n4 1 2 3 4\n5 4 1 2 4 1\n");
    let summary = run(&fixture.args("out")).unwrap();
    assert_eq!(summary.items, 5);
    assert_eq!(summary.train.terms, 3);
    assert_eq!(summary.skipped.items_without_text, 2);
    assert_eq!(summary.skipped.items_without_tid, 2);
    // Users 1-4 have training parts of 0, 0, 1, 2 items; user 5 repeats both held-out
    // items (4 and 1) in a training part of three, leaving one item: no example.
    assert_eq!(summary.train.sequence, 1);
    assert_eq!(summary.skipped.users_without_sequence_example, 4);
    assert_eq!(summary.skipped.held_out_repeats_dropped, 2);
    assert_eq!(summary.valid.sequence, 3);
    assert_eq!(summary.skipped.users_without_validation_example, 2);
    let train = read_examples(&fixture.path("out/train.jsonl"));
    let terms: Vec<String> = train
        .iter()
        .filter(|e| e.task == Task::Terms)
        .map(Example::text)
        .collect();
    assert!(terms.contains(&format!(
        "{}Category: Beauty > Hair\n[i2, x]\n",
        crate::prompts::TERMS_HEADER
    )));
    assert!(terms.contains(&format!("{}Brand: B\n[i4, x]\n", crate::prompts::TERMS_HEADER)));
    let meta: SftSummary = serde_json::from_slice(&std::fs::read(fixture.path("out/meta.json")).unwrap()).unwrap();
    assert_eq!(meta, summary);
}

#[test]
fn neighbors_show_the_first_five_and_skip_empty_rows() {
    let fixture = Fixture::simple(10, "1 1 2 3 4\n");
    std::fs::write(
        fixture.path("nb.tsv"),
        "anchor\ttop1\ttop2\n1\t2\t3\t4\t5\t6\t7\t8\n2\n3\t1\n",
    )
    .unwrap();
    let mut args = fixture.args("out");
    args.neighbors = Some(fixture.path("nb.tsv"));
    let summary = run(&args).unwrap();
    assert_eq!(summary.train.neighbors, 2);
    assert_eq!(summary.skipped.anchors_without_neighbors, 1);
    let train = read_examples(&args.out.join("train.jsonl"));
    let first = train
        .iter()
        .find(|e| e.task == Task::Neighbors && e.text().contains("bought, one per line.\n[i1, x]"))
        .unwrap();
    assert_eq!(items_in(&first.text()), [1, 2, 3, 4, 5, 6]);
    assert_eq!(answer_texts(first).len(), NEIGHBORS_PER_ANCHOR);
}

#[test]
fn same_inputs_and_seed_give_identical_bytes() {
    let users: String = (0..40)
        .map(|u| {
            format!(
                "{u} {}\n",
                (0..2 + u % 7)
                    .map(|k| (u * 3 + k) % 25 + 1)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
        .collect();
    let fixture = Fixture::simple(25, &users);
    for format in [Format::Native, Format::Llamafactory] {
        let files = |out: &str, seed: u64| {
            let mut args = fixture.args(out);
            args.format = format;
            args.seed = seed;
            let summary = run(&args).unwrap();
            let mut names = summary.files.clone();
            names.push("meta.json".to_owned());
            names
                .iter()
                .map(|n| std::fs::read(args.out.join(n)).unwrap())
                .collect::<Vec<_>>()
        };
        let a = files("a", 7);
        assert_eq!(a, files("b", 7), "{format:?}");
        assert_ne!(a[0], files("c", 8)[0], "{format:?}: another seed, another order");
    }
    // No temporary file is left beside the outputs.
    let left: Vec<_> = std::fs::read_dir(fixture.path("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")), "{left:?}");
}

#[test]
fn llamafactory_records_round_trip_every_loss_line() {
    let users: String = (0..30)
        .map(|u| {
            format!(
                "{u} {}\n",
                (0..3 + u % 9)
                    .map(|k| (u * 5 + k) % 20 + 1)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
        .collect();
    let fixture = Fixture::simple(20, &users);
    std::fs::write(fixture.path("nb.tsv"), "1 2 3\n4 5 6 7 8 9 10 11\n").unwrap();
    for titles in [false, true] {
        let mut native = fixture.args("native");
        native.neighbors = Some(fixture.path("nb.tsv"));
        native.titles = titles;
        native.max_history = NonZeroU32::new(4).unwrap();
        let mut alpaca = native.clone();
        alpaca.format = Format::Llamafactory;
        alpaca.out = fixture.path("alpaca");
        let n = run(&native).unwrap();
        let a = run(&alpaca).unwrap();
        assert_eq!((n.train.clone(), n.valid.clone()), (a.train.clone(), a.valid.clone()));
        for (jsonl, json, count) in [
            ("train.jsonl", llamafactory::TRAIN_FILE, a.train.targets),
            ("valid.jsonl", llamafactory::VALID_FILE, a.valid.targets),
        ] {
            let examples = read_examples(&native.out.join(jsonl));
            let records: Vec<Record> = serde_json::from_slice(&std::fs::read(alpaca.out.join(json)).unwrap()).unwrap();
            let mut expected = Vec::new();
            for e in &examples {
                for line in e.loss_lines() {
                    let before: String = e.segments[..line.start].iter().map(|s| s.text.as_str()).collect();
                    let output: String = e.segments[line].iter().map(|s| s.text.as_str()).collect();
                    expected.push(Record {
                        instruction: before,
                        output,
                    });
                }
            }
            assert_eq!(records, expected, "{json}, titles {titles}");
            assert_eq!(records.len() as u64, count);
            assert_eq!(
                a.llamafactory_records
                    .map(|(t, v)| if jsonl == "train.jsonl" { t } else { v }),
                Some(count)
            );
            // Every output is one answer: a TID, and its newline unless a title follows.
            for r in &records {
                assert_eq!(items_in(&r.output).len(), 1, "{r:?}");
                assert!(r.output.starts_with('[') && !r.instruction.is_empty());
            }
        }
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(alpaca.out.join(llamafactory::DATASET_INFO_FILE)).unwrap()).unwrap();
        assert_eq!(info, llamafactory::dataset_info());
        assert_eq!(info["grlm_train"]["formatting"], "alpaca");
        assert_eq!(info["grlm_valid"]["file_name"], llamafactory::VALID_FILE);
        assert_eq!(info["grlm_train"]["columns"]["response"], "output");
    }
}

fn error_of(fixture: &Fixture, args: &SftArgs) -> String {
    let message = run(args).unwrap_err().to_string();
    assert!(!fixture.path("out/meta.json").exists(), "{message}");
    message
}

#[test]
fn bad_inputs_are_clear_errors_naming_file_and_line() {
    let fixture = Fixture::simple(5, "1 1 2 3\n\n2 3 4 5\n");
    let args = fixture.args("out");

    let mut missing = args.clone();
    missing.sequences = fixture.path("nope.txt");
    let message = error_of(&fixture, &missing);
    assert!(
        message.starts_with(&format!("{}: ", missing.sequences.display())),
        "{message}"
    );

    let cases: Vec<(&str, &[u8], &str)> = vec![
        (
            "items.jsonl",
            b"{\"item\": 1}\n{\"item\": 2, \"title\": \"\xff\"}\n",
            "items.jsonl:2: invalid UTF-8",
        ),
        (
            "items.jsonl",
            b"{\"item\": 1}\n\n{\"item\": 1}\n",
            "items.jsonl:3: item 1 is already listed on line 1",
        ),
        ("items.jsonl", b"{\"item\": 1, \"categories\": 3}\n", "items.jsonl:1: "),
        (
            "tids.jsonl",
            b"{\"item\": 1, \"terms\": [\"a\"]}\n{\"item\": 1, \"terms\": [\"b\"]}\n",
            "tids.jsonl:2: item 1 already has a TID on line 1",
        ),
        (
            "tids.jsonl",
            b"{\"item\": 1, \"terms\": [\"\xc3\"]}\n",
            "tids.jsonl:1: invalid UTF-8",
        ),
        ("sequences.txt", b"1 1 2\n\n2 3 \xff\n", "sequences.txt:3: "),
        ("sequences.txt", b"1 1 2\n\n2 3 x\n", "sequences.txt:3: "),
        (
            "sequences.txt",
            b"1 1 2\n\n\n2 3 99\n",
            "sequences.txt:4: item 99 has no TID in ",
        ),
        (
            "sequences.txt",
            b"1 1 2\n1 3 4\n",
            "sequences.txt:2: user 1 is already listed on line 1",
        ),
    ];
    for (file, bytes, want) in cases {
        let fixture = Fixture::simple(5, "1 1 2 3\n");
        std::fs::write(fixture.path(file), bytes).unwrap();
        let message = error_of(&fixture, &fixture.args("out"));
        let want = format!("{}", fixture.path(want).display());
        assert!(message.starts_with(&want), "{message:?} should start with {want:?}");
    }

    for (bytes, want) in [
        ("anchor top1\n1 2 3\n4 1 77\n", "nb.tsv:3: item 77 has no TID in "),
        ("1 2\n1 3\n", "nb.tsv:2: anchor 1 is already listed on line 1"),
        ("1 2\nanchor top1\n", "nb.tsv:2: \"anchor\" is not"),
    ] {
        std::fs::write(fixture.path("nb.tsv"), bytes).unwrap();
        let mut with = args.clone();
        with.neighbors = Some(fixture.path("nb.tsv"));
        let message = error_of(&fixture, &with);
        let want = format!("{}", fixture.path(want).display());
        assert!(message.starts_with(&want), "{message:?} should start with {want:?}");
    }
}

#[cfg(feature = "cli")]
#[test]
fn args_parse_with_their_defaults() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        sft: SftArgs,
    }
    let cli = Cli::try_parse_from(["sft", "--items", "i", "--tids", "t", "--sequences", "s", "--out", "o"]).unwrap();
    assert_eq!(
        (cli.sft.max_history.get(), cli.sft.seed, cli.sft.format),
        (20, DEFAULT_SEED, Format::Native)
    );
    assert!(!cli.sft.titles && cli.sft.neighbors.is_none());
    let cli = Cli::try_parse_from([
        "sft",
        "--items",
        "i",
        "--tids",
        "t",
        "--sequences",
        "s",
        "--out",
        "o",
        "--format",
        "llamafactory",
        "--titles",
        "--neighbors",
        "n",
        "--transitions",
        "2",
        "--max-history",
        "5",
        "--seed",
        "3",
    ])
    .unwrap();
    assert_eq!(
        (cli.sft.format, cli.sft.transitions),
        (Format::Llamafactory, NonZeroU32::new(2))
    );
    // Each of these must be at least 1.
    for zero in ["--transitions", "--max-history"] {
        let required = ["sft", "--items", "i", "--tids", "t", "--sequences", "s", "--out", "o"];
        assert!(
            Cli::try_parse_from(required.iter().chain(&[zero, "0"])).is_err(),
            "{zero} 0"
        );
    }
}

/// The real Beauty data (CI has `../shared`): counts and the validation split.
#[test]
fn beauty_builds_with_the_expected_counts() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/beauty");
    let out = tempfile::tempdir().unwrap();
    let args = SftArgs {
        items: data.join("items.jsonl"),
        tids: data.join("reference_tids.jsonl"),
        sequences: data.join("sequences.txt"),
        neighbors: Some(data.join("collaborative_neighbors.tsv")),
        new_items: None,
        transitions: NonZeroU32::new(3),
        unseen: None,
        titles: false,
        max_history: NonZeroU32::new(20).unwrap(),
        format: Format::Native,
        seed: DEFAULT_SEED,
        out: out.path().to_owned(),
    };
    let summary = run(&args).unwrap();
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    let sequences = grlm::sequences::read_sequences(&args.sequences).unwrap();
    let tids: std::collections::HashMap<u32, Tid> = grlm::catalog::input::read_tids(&args.tids, None)
        .unwrap()
        .into_iter()
        .map(|r| (r.item, r.tid))
        .collect();
    assert_eq!(summary.users, 22_363);
    assert_eq!(summary.items, 12_101);
    assert_eq!(
        summary.train.terms, 12_101,
        "every Beauty item has a title or a category"
    );
    // Every Beauty user has 5 items or more, none repeated.
    assert_eq!(summary.train.sequence, 22_363);
    assert_eq!(summary.train.neighbors, 12_101);
    // Pairs that 3 or more users' training parts share (measured: see the README).
    assert_eq!(summary.train.transitions, 2_671);
    assert_eq!(summary.skipped, Skipped::default());
    let expected_targets: u64 = sequences
        .iter()
        .map(|s| (s.items.len() - 2).min(21) as u64 - 1)
        .sum::<u64>()
        + 12_101
        + 12_101 * NEIGHBORS_PER_ANCHOR as u64
        + summary.train.transitions;
    assert_eq!(summary.train.targets, expected_targets);
    let valid = read_examples(&out.path().join("valid.jsonl"));
    assert_eq!(valid.len(), sequences.len());
    for (example, sequence) in valid.iter().zip(&sequences) {
        let answers = answer_texts(example);
        let second_to_last = sequence.items[sequence.items.len() - 2];
        assert_eq!(
            answers,
            [format!("{}\n", tids[&second_to_last])],
            "user {}",
            sequence.user
        );
    }
}

/// One items file, read by the catalogue builder, by `sft` and by term generation: the same
/// item has the same title, brand and categories in each, entities decoded.
#[test]
fn an_item_reads_the_same_in_the_catalogue_sft_and_term_generation() {
    let dir = tempfile::tempdir().unwrap();
    let items = dir.path().join("items.jsonl");
    let tids = dir.path().join("tids.jsonl");
    std::fs::write(
        &items,
        concat!(
            r#"{"item": 7, "title": " Soap &amp; Shea&reg; ", "brand": "Caf&eacute;", "#,
            r#""categories": [["Beauty", "Bath &amp; Body"], "Soaps"], "asin": "B1"}"#,
            "\n",
            r#"{"item": 8, "title": null, "description": ["Plain."]}"#,
            "\n",
        ),
    )
    .unwrap();
    std::fs::write(
        &tids,
        "{\"item\": 7, \"terms\": [\"a\", \"b\"]}\n{\"item\": 8, \"terms\": [\"c\", \"d\"]}\n",
    )
    .unwrap();

    let catalogue = dir.path().join("c.grlm");
    grlm::CatalogBuilder::from_jsonl(&items, &tids, false)
        .unwrap()
        .write(&catalogue)
        .unwrap();
    let catalogue = grlm::Catalog::open(&catalogue).unwrap();
    let details = read_item_details(&items).unwrap();
    let texts = crate::neighbors::text::read_items(&items, None).unwrap();

    let title = "Soap & Shea®";
    assert_eq!(catalogue.title_of(7).unwrap(), Some(title));
    assert_eq!(catalogue.title_of(8).unwrap(), None);
    let expected = ItemMeta {
        title: Some(title.into()),
        categories: vec![vec!["Beauty".into(), "Bath & Body".into()], vec!["Soaps".into()]],
        brand: Some("Café".into()),
    };
    assert_eq!(details[0], (7, expected));
    assert_eq!(details[1], (8, ItemMeta::default()));
    assert_eq!(
        texts.items[0].text,
        "Soap & Shea®. Brand: Café. Categories: Beauty > Bath & Body; Soaps"
    );
    assert_eq!((texts.items[1].item, texts.items[1].text.as_str()), (8, "Plain."));
}

/// A new-items list must name items with a TID, and not all of them.
#[test]
fn new_items_must_be_known_and_not_everything() {
    let fixture = Fixture::simple(3, "1 1 2 3\n2 3 2 1\n");
    let mut args = fixture.args("out");
    args.new_items = Some(fixture.path("new.txt"));
    let error_with = |list: &str| {
        std::fs::write(fixture.path("new.txt"), list).unwrap();
        run(&args).unwrap_err().to_string()
    };
    assert!(error_with("2\n9\n").contains("new item 9 has no TID in"));
    assert!(error_with("1\n2\n3\n").contains("every item with a TID in"));
    std::fs::write(fixture.path("new.txt"), "3\n").unwrap();
    assert!(run(&args).is_ok());
}
