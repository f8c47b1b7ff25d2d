//! The collaborative prior from the command line: building it from sequences or from counts
//! made in DuckDB (the same bytes), inspecting and verifying it, prior mode without a model,
//! the baselines and splits of `grlm eval`, and every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use common::{fixture, grlm, grlm_with};
use grlm_testkit::fixtures::{tiny_engine_files, workspace_root};
use grlm_testkit::process::{fails_with_status, ok_json as json, output};

/// A command that failed (exit status 1) and said `needle`.
fn fails_with(out: &Output, needle: &str) {
    fails_with_status(out, 1, needle);
}

/// A tiny model, and the fixture catalogue built for it with the prior of the fixture's
/// sequences (holdout `holdout`) through `grlm catalog build --sequences`.
struct Setup {
    dir: tempfile::TempDir,
    model: PathBuf,
    catalog: PathBuf,
}

impl Setup {
    fn new(holdout: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (model, _) = tiny_engine_files(dir.path());
        let catalog = dir.path().join("prior.grlm");
        let out = build(
            &catalog,
            &model,
            &[
                "--sequences",
                &fixture("sequences.txt"),
                "--holdout",
                &holdout.to_string(),
            ],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Setup { dir, model, catalog }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, command: &str, extra: &[&str]) -> Output {
        grlm_with(&self.model, &self.catalog, command, extra)
    }
}

/// `grlm catalog build` of the fixture items and TIDs with a trie for `model`, plus `extra`.
fn build(out: &Path, model: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "catalog",
        "build",
        "--items",
        &fixture_owned("items.jsonl"),
        "--tids",
        &fixture_owned("tids.jsonl"),
        "--out",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ];
    args.extend(extra);
    grlm(&args.iter().map(|s| s.as_ref()).collect::<Vec<&str>>())
}

fn fixture_owned(name: &str) -> &'static str {
    Box::leak(fixture(name).into_boxed_str())
}

#[test]
fn a_catalogue_with_a_prior_reports_and_verifies_it() {
    let s = Setup::new(1);
    let info = json(&grlm(&["catalog", "inspect", "--json", s.catalog.to_str().unwrap()]));
    assert_eq!(info["format_version"], "1.2");
    let prior = &info["prior"];
    assert_eq!(prior["users"], 5, "every fixture user has a counted item");
    assert_eq!(prior["holdout"], 1);
    assert_eq!(prior["transitions"], 10);
    assert!(prior["bytes"].as_u64().unwrap() > 64);
    assert!(info["sections"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "Prior"));
    assert!(grlm(&["catalog", "verify", s.catalog.to_str().unwrap()])
        .status
        .success());
    let text = String::from_utf8(grlm(&["catalog", "inspect", s.catalog.to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains("prior          5 users, 10 transitions"), "{text}");
    // Without --sequences there is no prior, and inspect says how to get one.
    let plain = s.path("plain.grlm");
    assert!(build(&plain, &s.model, &[]).status.success());
    let info = json(&grlm(&["catalog", "inspect", "--json", plain.to_str().unwrap()]));
    assert!(info["prior"].is_null());
}

/// The fixture's sequences as an events table (user, item, ts) in CSV.
fn events_csv(path: &Path) {
    let sequences = std::fs::read_to_string(fixture("sequences.txt")).unwrap();
    let mut csv = String::new();
    for line in sequences.lines() {
        let mut fields = line.split_whitespace();
        let user = fields.next().unwrap();
        for (ts, item) in fields.enumerate() {
            csv.push_str(&format!("{user},{item},{ts}\n"));
        }
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn counts_made_in_duckdb_give_the_same_catalogue_bytes_as_sequences() {
    let s = Setup::new(1);
    let python = workspace_root().join(".venv-duckdb/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-duckdb.sh (the test command does)",
        python.display()
    );
    let sql = std::fs::read_to_string(workspace_root().join("scripts/transition-counts.sql")).unwrap();
    // The query users are shown is the one tested.
    let docs = std::fs::read_to_string(workspace_root().join("docs/prior.md")).unwrap();
    let body = sql
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        docs.contains(body.trim()),
        "docs/prior.md does not show scripts/transition-counts.sql"
    );

    events_csv(&s.path("events.csv"));
    let script = format!(
        "import duckdb\ncon = duckdb.connect()\ncon.execute(\"CREATE TABLE events AS SELECT column0 AS \\\"user\\\", column1 AS item, column2 AS ts FROM read_csv('events.csv', header=false)\")\ncon.execute(open({:?}).read())\n",
        workspace_root().join("scripts/transition-counts.sql").display().to_string()
    );
    let out = output(Command::new(&python).arg("-c").arg(script).current_dir(s.dir.path()));
    assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
    let from_counts = s.path("from-counts.grlm");
    let counts = s.path("counts.tsv");
    let built = build(
        &from_counts,
        &s.model,
        &["--transitions", counts.to_str().unwrap(), "--holdout", "1"],
    );
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    assert_eq!(
        std::fs::read(&from_counts).unwrap(),
        std::fs::read(&s.catalog).unwrap(),
        "the same counts must give the same catalogue"
    );
}

#[test]
fn bad_prior_inputs_are_clear_errors_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = tiny_engine_files(dir.path());
    let out = dir.path().join("out.grlm");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--sequences".into(), write("empty-user.txt", "1 1 2\n2\n")],
            "user 2 has no items",
        ),
        (
            vec!["--sequences".into(), write("bad-id.txt", "1 1 x\n")],
            "\"x\" is not an unsigned",
        ),
        (
            vec![
                "--sequences".into(),
                write("short.txt", "1 1 2\n2 3\n"),
                "--holdout".into(),
                "2".into(),
            ],
            "leaves nothing to count",
        ),
        (
            vec!["--transitions".into(), write("two-fields.tsv", "1\t2\n")],
            "two-fields.tsv:1: 2 tab-separated fields",
        ),
        (
            vec!["--transitions".into(), write("negative.tsv", "1\t2\t-3\n")],
            "count \"-3\"",
        ),
        (
            vec!["--transitions".into(), write("users-twice.tsv", "\t\t2\n\t\t3\n")],
            "users-twice.tsv:2: a second users row",
        ),
        (
            vec![
                "--sequences".into(),
                write("ok.txt", "1 1 2 3\n"),
                "--max-successors".into(),
                "0".into(),
            ],
            "--max-successors must be at least 1",
        ),
        (
            vec![
                "--transitions".into(),
                dir.path().join("missing.tsv").display().to_string(),
            ],
            "missing.tsv",
        ),
    ];
    for (extra, needle) in cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        fails_with(&build(&out, &model, &extra), needle);
        assert!(!out.exists(), "{extra:?}: a failed build left {}", out.display());
    }
    // --sequences and --transitions together: a usage error.
    let both = build(&out, &model, &["--sequences", "a", "--transitions", "b"]);
    assert_eq!(both.status.code(), Some(2));

    // Unknown items and one-item sequences are counted and reported, not refused.
    let odd = write("odd.txt", "1 1 2 999 3\n2 4\n3 5 6 7\n");
    let report = json(&build(&out, &model, &["--sequences", &odd, "--json"]));
    let prior = &report["report"]["prior"];
    assert!(prior["unknown_item_counts"].as_u64().unwrap() >= 2, "{prior}");
    assert_eq!(prior["users"], 2, "user 2's only item is held out");
    assert!(grlm(&["catalog", "verify", out.to_str().unwrap()]).status.success());
}

#[test]
fn prior_mode_needs_no_model_and_matches_the_engine() {
    let s = Setup::new(1);
    let history = "3,7,1,9";
    let catalog_only = grlm(&[
        "recommend",
        "--catalog",
        s.catalog.to_str().unwrap(),
        "--model",
        "/nonexistent/model.gguf",
        "--history",
        history,
        "-k",
        "5",
        "--mode",
        "prior",
        "--json",
    ]);
    let without_model = json(&catalog_only);
    let items: Vec<u64> = without_model["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"].as_u64().unwrap())
        .collect();
    assert_eq!(items.len(), 5);
    assert!(!items.iter().any(|i| [3, 7, 1, 9].contains(&(*i as u32))));
    // Counted (holdout 1), 9 leads nowhere (9 -> 12 is user 4's target), 1 led to 2 and 9,
    // 7 to 8 and 1: of those not in the history, 2 (weight 0.5) comes before 8 (0.25).
    assert_eq!(items[..2], [2, 8], "{items:?}");

    // With bad prior parameters: clear errors.
    for (flag, value, needle) in [
        ("--prior-window", "0", "window"),
        ("--prior-decay", "0", "decay"),
        ("--prior-decay", "1.5", "decay"),
        ("--prior-smoothing", "-1", "smoothing"),
        ("--prior-smoothing", "NaN", "smoothing"),
        ("--prior-weight", "-2", "weight"),
        ("--prior-weight", "inf", "weight"),
    ] {
        let out = s.run("recommend", &["--history", history, "--mode", "prior", flag, value]);
        fails_with(&out, needle);
    }
    // A prior asked of a catalogue without one.
    let plain = s.path("plain.grlm");
    assert!(build(&plain, &s.model, &[]).status.success());
    let out = grlm(&[
        "recommend",
        "--catalog",
        plain.to_str().unwrap(),
        "--history",
        history,
        "--mode",
        "prior",
    ]);
    fails_with(&out, "has no prior");
    let out = grlm(&[
        "recommend",
        "--catalog",
        plain.to_str().unwrap(),
        "--model",
        s.model.to_str().unwrap(),
        "--threads",
        "1",
        "--history",
        history,
        "--prior-weight",
        "1",
    ]);
    fails_with(&out, "has no prior");
}

/// The `--ranks` lines of a run, as JSON values.
fn ranks(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn eval_scores_baselines_and_slices_and_jobs_change_nothing() {
    let s = Setup::new(1);
    let seqs = fixture("sequences.txt");
    let one = s.path("one.jsonl");
    let two = s.path("two.jsonl");
    let args = |ranks: &Path, jobs: &str| {
        vec![
            "--sequences".to_owned(),
            seqs.clone(),
            "--baseline".into(),
            "popularity,transitions".into(),
            "--prior-weight".into(),
            "1.5".into(),
            "--also".into(),
            "alone,mixture:0.4,product:1.5:2".into(),
            "--jobs".into(),
            jobs.into(),
            "--ranks".into(),
            ranks.display().to_string(),
            "--json".into(),
        ]
    };
    let run = |ranks: &Path, jobs: &str| {
        let a = args(ranks, jobs);
        json(&s.run("eval", &a.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    let summary = run(&one, "1");
    let parallel = run(&two, "2");
    assert_eq!(ranks(&one), ranks(&two), "--jobs 2 gives the same outcomes");
    for key in ["recall@10", "ndcg@10", "users"] {
        assert_eq!(summary[key], parallel[key], "{key}");
    }
    assert_eq!(summary["split"], "test");
    assert_eq!(summary["prior_weight"], 1.5);
    // The library's default: one place in ten of the 12 ranked (the whole catalogue).
    assert_eq!(
        (summary["ranked"].as_u64(), summary["cold_slots"].as_u64()),
        (Some(12), Some(1))
    );
    let ci = &summary["ci95"]["recall@10"];
    let r = summary["recall@10"].as_f64().unwrap();
    assert!(ci[0].as_f64().unwrap() <= r && r <= ci[1].as_f64().unwrap());
    for line in ranks(&one) {
        assert!(
            line.get("popularity_rank").is_some() && line.get("transitions_rank").is_some(),
            "{line}"
        );
        assert!(line["seen"].is_boolean(), "{line}");
        // A target the window reaches is one of the items it reaches.
        let successors = line["successors"].as_u64().unwrap_or_else(|| panic!("{line}"));
        assert!(
            successors >= u64::from(line["seen"] == true) && successors < 12,
            "{line}"
        );
    }
    // An --also setting scores exactly as a run of its own (its own session, cold): the
    // run's summary and every user's rank.
    let own_run = |name: &str, flags: &[&str]| {
        let path = s.path(name);
        let mut args = vec!["--sequences", seqs.as_str()];
        args.extend(flags);
        args.extend(["--ranks", path.to_str().unwrap(), "--json"]);
        let summary = json(&s.run("eval", &args));
        let ranks: Vec<_> = ranks(&path).iter().map(|l| l["rank"].clone()).collect();
        (summary, ranks)
    };
    let column = |key: &str| -> Vec<_> { ranks(&one).iter().map(|l| l[key].clone()).collect() };
    let (alone_summary, by_run) = own_run("alone.jsonl", &["--prior-weight", "0"]);
    assert_eq!(column("alone_rank"), by_run);
    // --lists: each model list with the model's own scores, placing the target at its rank;
    // alone, the model's scores are the ranking's, so they never rise down the list.
    let listed = s.path("lists.jsonl");
    own_run("lists.jsonl", &["--prior-weight", "1.5", "--also", "alone", "--lists"]);
    for line in ranks(&listed) {
        for (list, rank) in [("run", "rank"), ("alone", "alone_rank")] {
            let entries = line["lists"][list].as_array().unwrap_or_else(|| panic!("{line}"));
            let place = entries
                .iter()
                .position(|e| e[0] == line["target"])
                .map(|p| p as u64 + 1);
            assert_eq!(place, line[rank].as_u64(), "{line}");
            assert!(entries.iter().all(|e| e[1].is_f64()), "{line}");
        }
        let alone: Vec<f64> = line["lists"]["alone"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[1].as_f64().unwrap())
            .collect();
        assert!(alone.windows(2).all(|w| w[0] >= w[1]), "{line}");
    }
    // `product:λ:κ` is the product at λ with the evidence scale κ.
    let (_, by_run) = own_run("evidence.jsonl", &["--prior-weight", "1.5", "--prior-evidence", "2"]);
    assert_eq!(column("product:1.5:2_rank"), by_run);
    assert_eq!(summary["also"]["alone"]["recall@20"], alone_summary["recall@20"]);
    assert!(summary["also"]["mixture:0.4"]["ndcg@10"].is_number());
    assert!(summary["paired"]["mixture:0.4"]["mcnemar_p"].is_number());
    let baselines = &summary["baseline"];
    assert!(baselines["popularity"]["recall@20"].is_number());
    assert!(baselines["transitions"]["recall@20"].is_number());
    let slices = &summary["slices"];
    let users: u64 = ["seen", "unseen"]
        .iter()
        .filter_map(|s| slices[s]["users"].as_u64())
        .sum();
    assert_eq!(users, summary["users"].as_u64().unwrap());
    for slice in ["seen", "unseen"].iter().filter(|s| slices[**s].is_object()) {
        let sliced = &slices[*slice];
        for method in ["model", "mixture:0.4", "popularity", "transitions"] {
            assert_eq!(sliced[method]["users"], sliced["users"], "{slice} {method}");
            assert!(sliced[method]["ndcg@10"].is_number(), "{slice} {method}");
        }
        let p = sliced["paired"]["transitions"]["mcnemar_p"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{sliced}");
    }
    // Paired over all users: the discordant counts agree with the ranks.
    let hit = |r: &serde_json::Value| r.as_u64().is_some_and(|r| r <= 10);
    let lines = ranks(&one);
    let only_model = lines
        .iter()
        .filter(|l| hit(&l["rank"]) && !hit(&l["transitions_rank"]))
        .count();
    assert_eq!(summary["paired"]["transitions"]["only_run@10"], only_model);

    // Prior mode needs no model, and equals the transitions baseline user by user.
    let prior_only = s.path("prior.jsonl");
    let out = grlm(&[
        "eval",
        "--catalog",
        s.catalog.to_str().unwrap(),
        "--sequences",
        &seqs,
        "--mode",
        "prior",
        "--prior-weight",
        "1.5",
        "--ranks",
        prior_only.to_str().unwrap(),
        "--json",
    ]);
    json(&out);
    let by_prior: Vec<_> = ranks(&prior_only).iter().map(|l| l["rank"].clone()).collect();
    assert_eq!(by_prior, column("transitions_rank"));
}

#[test]
fn new_items_get_no_counts_and_their_own_slice() {
    let s = Setup::new(1);
    let seqs = fixture("sequences.txt");
    // 2 is user 3's test target and follows 1 in user 1's counted part; 12 is user 4's.
    let new = s.path("new.txt");
    std::fs::write(&new, "# new this week\n2\n12\n").unwrap();
    let catalog = s.path("new.grlm");
    let out = build(
        &catalog,
        &s.model,
        &["--sequences", &seqs, "--new-items", new.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let prior_top = |catalog: &Path| {
        let out = grlm(&[
            "recommend",
            "--catalog",
            catalog.to_str().unwrap(),
            "--mode",
            "prior",
            "--history",
            "1",
            "-k",
            "1",
            "--json",
        ]);
        json(&out)["results"][0]["item"].as_u64().unwrap()
    };
    assert_eq!(prior_top(&s.catalog), 2, "1 led to 2");
    assert_eq!(prior_top(&catalog), 3, "with 2 never bought, 1 led to 3");

    let with_new = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--catalog",
            catalog.to_str().unwrap(),
            "--model",
            s.model.to_str().unwrap(),
            "--sequences",
            &seqs,
            "--baseline",
            "popularity,transitions",
            "--new-items",
            new.to_str().unwrap(),
        ];
        args.extend(extra);
        grlm(&args)
    };
    let ranked = s.path("new.jsonl");
    let summary = json(&with_new(&["--ranks", ranked.to_str().unwrap(), "--json"]));
    assert_eq!(summary["new_items"], 2);
    let slices = &summary["slices"];
    assert_eq!(slices["new"]["users"], 2, "users 3 and 4 buy a new item: {slices}");
    let users = summary["users"].as_u64().unwrap();
    assert_eq!(slices["known"]["users"].as_u64().unwrap() + 2, users);
    for line in ranks(&ranked) {
        let target = line["target"].as_u64().unwrap();
        assert_eq!(line["new"], target == 2 || target == 12, "{line}");
    }
    assert_eq!(
        slices["new"]["popularity"]["recall@20"], 0.0,
        "popularity never counted them"
    );
    // Every item keeps a popularity of at least one, so on 12 items the prior's list reaches
    // the never-bought ones at its tail (8th here), after every item it has counts of.
    assert_eq!(
        slices["new"]["transitions"]["recall@5"], 0.0,
        "the prior alone ranks a new item below every counted one"
    );
    // --slice new: the whole run's new slice, user by user.
    let only_new = s.path("only-new.jsonl");
    let sliced = json(&with_new(&[
        "--slice",
        "new",
        "--ranks",
        only_new.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!((&sliced["users"], &sliced["slice"]), (&2.into(), &"new".into()));
    assert_eq!(sliced["sampled_users"], summary["users"]);
    let new_lines: Vec<_> = ranks(&ranked).into_iter().filter(|l| l["new"] == true).collect();
    assert_eq!(ranks(&only_new), new_lines);
    let out = s.run("eval", &["--sequences", &seqs, "--slice", "known"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--new-items"));
    // The table a reader sees, with the JSON kept beside it.
    let kept = s.path("summary.json");
    let table = String::from_utf8(with_new(&["--summary", kept.to_str().unwrap()]).stdout).unwrap();
    let kept: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(kept["slices"], summary["slices"]);
    assert!(
        table.contains("R@10 (95%)") && table.contains("new: 2 users"),
        "{table}"
    );
    assert!(table.contains("McNemar p"), "{table}");

    // The list must be the one the catalogue was counted with, and name catalogue items.
    let out = s.run("eval", &["--sequences", &seqs, "--new-items", new.to_str().unwrap()]);
    fails_with(&out, "not counted from these sequences");
    std::fs::write(s.path("unknown.txt"), "2\n99\n").unwrap();
    let unknown = s.path("unknown.txt");
    let out = s.run(
        "eval",
        &["--sequences", &seqs, "--new-items", unknown.to_str().unwrap()],
    );
    fails_with(&out, "item 99 is not in the catalogue");
    let out = build(
        &s.path("refused.grlm"),
        &s.model,
        &["--sequences", &seqs, "--new-items", unknown.to_str().unwrap()],
    );
    fails_with(&out, "item 99 is not in the catalogue");
    assert!(!s.path("refused.grlm").exists());
    let every: String = (1..=12).map(|item| format!("{item}\n")).collect();
    for (name, list, needle) in [
        ("twice.txt", "2\n2\n".to_owned(), "twice.txt:2: item 2 is listed twice"),
        ("every.txt", every, "every item of the catalogue is new"),
    ] {
        std::fs::write(s.path(name), list).unwrap();
        let list = s.path(name);
        let out = build(
            &s.path("refused.grlm"),
            &s.model,
            &["--sequences", &seqs, "--new-items", list.to_str().unwrap()],
        );
        fails_with(&out, needle);
        assert!(!s.path("refused.grlm").exists());
    }
    let out = build(
        &s.path("refused.grlm"),
        &s.model,
        &["--new-items", new.to_str().unwrap()],
    );
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--sequences"));
    // --also: bad settings and modes are refused before any decoding.
    for (also, needle) in [
        ("product:x", "\"x\" is not a number"),
        ("mixture:1.5", "model share"),
        ("blend:3", "not `alone`, `product:λ[:κ][@N]` or `mixture:β[:κ][@N]`"),
        ("alone@2", "the model alone has no cold slots"),
        ("product:32@x", "\"x\" is not a number of cold slots"),
        ("model", "not `alone`"),
        ("product:1:x", "\"x\" is not a number"),
        ("mixture:0.5:-1", "evidence"),
        ("alone:1:2", "not `alone`"),
    ] {
        let out = s.run("eval", &["--sequences", &seqs, "--also", also]);
        fails_with(&out, needle);
    }
    let out = s.run("eval", &["--sequences", &seqs, "--also", "alone,alone"]);
    fails_with(&out, "already a method of the run");
    let out = s.run("eval", &["--sequences", &seqs, "--mode", "free", "--also", "alone"]);
    fails_with(&out, "--also needs --mode constrained");
}

#[test]
fn eval_refuses_a_prior_that_counted_its_targets() {
    let s = Setup::new(1);
    let seqs = fixture("sequences.txt");
    // The validation split's targets are the second-to-last items: holdout 1 counted them.
    let out = s.run("eval", &["--sequences", &seqs, "--split", "valid"]);
    fails_with(&out, "rebuild the catalogue with --holdout 2");
    // With the model alone the prior is not used, so nothing is refused.
    let out = s.run(
        "eval",
        &[
            "--sequences",
            &seqs,
            "--split",
            "valid",
            "--prior-weight",
            "0",
            "--json",
        ],
    );
    assert_eq!(json(&out)["split"], "valid");
    // A holdout-2 catalogue serves both splits.
    let both = Setup::new(2);
    for split in ["valid", "test"] {
        let out = both.run(
            "eval",
            &[
                "--sequences",
                &seqs,
                "--split",
                split,
                "--baseline",
                "transitions",
                "--json",
            ],
        );
        assert_eq!(json(&out)["split"], split);
    }
    // Other sequences than those the prior counted.
    let other = s.path("other.txt");
    std::fs::write(&other, "1 1 2 3 4\n2 5 6 7 8 9\n3 10 11 12 2\n4 3 7 1 9 12\n5 2 4 6\n").unwrap();
    let out = s.run(
        "eval",
        &["--sequences", other.to_str().unwrap(), "--baseline", "transitions"],
    );
    fails_with(&out, "not counted from these sequences");
}

#[test]
fn bench_times_the_model_alone_and_fused_in_one_run() {
    let s = Setup::new(1);
    let sequences = fixture("sequences.txt");
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "--sequences",
            sequences.as_str(),
            "--history",
            "2",
            "--requests",
            "2",
            "-k",
            "2",
            "--thread-counts",
            "1",
            "--prior-weights",
            "0,1",
            "--no-baseline",
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&s.run("bench", &args))
    };
    let runs = |out: &serde_json::Value, field: &str| -> Vec<f64> {
        out["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[field].as_f64().unwrap())
            .collect()
    };
    let out = bench(&["--beams", "4"]);
    assert_eq!(out["workload"]["catalog_has_prior"], true);
    assert_eq!(runs(&out, "prior_weight"), [0.0, 1.0]);
    assert_eq!(runs(&out, "beams"), [4.0, 4.0]);
    assert_eq!(out["workload"]["beams"], 4);
    // Without --beams each weight gets its own default width: 20 alone, 10 fused.
    let defaults = bench(&[]);
    assert_eq!(runs(&defaults, "beams"), [20.0, 10.0]);
    assert!(defaults["workload"]["beams"].is_null());
    // Cold slots are timed with the fused requests; more than -k are refused.
    assert_eq!(bench(&["--cold-slots", "1"])["workload"]["cold_slots"], 1);
    let out = s.run(
        "bench",
        &[
            "--sequences",
            &sequences,
            "--history",
            "2",
            "--requests",
            "1",
            "-k",
            "2",
            "--prior-weights",
            "1",
            "--cold-slots",
            "3",
        ],
    );
    fails_with(&out, "cold_slots = 3 exceeds k = 2");
    let bad = s.run(
        "bench",
        &["--sequences", &fixture("sequences.txt"), "--prior-weights", "-1"],
    );
    fails_with(&bad, "--prior-weights");
}
