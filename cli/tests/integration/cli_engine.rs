//! `grlm recommend`, `eval` and `bench` from the outside, on a tiny model written at test
//! time and the fixture catalogue: argument forms, JSON shapes, exit codes, error messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use common::{build_catalog, build_fixture_catalog, fixture, grlm, grlm_with};
use grlm_testkit::fixtures::tiny_engine_files;
use grlm_testkit::process::ok_json as json;

/// A command that failed (exit status 1) and said `needle`.
fn fails_with(out: &Output, needle: &str) {
    grlm_testkit::process::fails_with_status(out, 1, needle);
}

/// A tiny model whose tokenizer learned the fixture's TIDs, and catalogues with and without
/// a token trie for it.
struct Setup {
    dir: tempfile::TempDir,
    model: PathBuf,
    catalog: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (model, catalog) = tiny_engine_files(dir.path());
        Setup { dir, model, catalog }
    }

    fn run(&self, command: &str, extra: &[&str]) -> Output {
        grlm_with(&self.model, &self.catalog, command, extra)
    }
}

#[test]
fn build_with_model_records_the_tokenizer() {
    let s = Setup::new();
    let info = json(&grlm(&["catalog", "inspect", "--json", s.catalog.to_str().unwrap()]));
    assert_eq!(info["format_version"], "1.2");
    assert_eq!(info["token_trie"]["tokenizer"], "grlm-tiny");
    assert!(info["token_trie"]["nodes"].as_u64().unwrap() >= 11);
    assert!(grlm(&["catalog", "verify", s.catalog.to_str().unwrap()])
        .status
        .success());
    let text = String::from_utf8(grlm(&["catalog", "inspect", s.catalog.to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains("token trie") && text.contains("grlm-tiny"), "{text}");

    // A model that is not a GGUF: a clear error, and no catalogue written.
    let bad = s.dir.path().join("bad.gguf");
    std::fs::write(&bad, b"not a model").unwrap();
    let out_path = s.dir.path().join("never.grlm");
    let out = build_fixture_catalog(&out_path, Some(&bad));
    fails_with(&out, "not a GGUF file");
    assert!(!out_path.exists());
}

#[test]
fn recommend_prints_the_documented_json() {
    let s = Setup::new();
    let answer = json(&s.run("recommend", &["--history", "3,7,1", "-k", "5", "--json"]));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for r in results {
        let item = r["item"].as_u64().unwrap();
        assert!((1..=12).contains(&item) && ![3, 7, 1].contains(&item));
        assert!(r["score"].as_f64().unwrap() <= 0.0);
        assert!(r["tid"].as_str().unwrap().starts_with('['));
        assert!(r.get("title").is_some());
    }
    assert!(answer["stats"]["prompt_tokens"].as_u64().unwrap() > 0);
    // Text output: one line per item.
    let text = s.run("recommend", &["--history", "3,7,1", "-k", "2", "--beams", "4"]);
    assert!(text.status.success());
    assert_eq!(String::from_utf8(text.stdout).unwrap().lines().count(), 2);
    // Free mode and filters.
    let free = json(&s.run(
        "recommend",
        &["--history", "3", "--mode", "free", "--beams", "3", "-k", "3", "--json"],
    ));
    assert_eq!(free["generated"].as_array().unwrap().len(), 3);
    let allowed = json(&s.run("recommend", &["--history", "3", "--allow", "5,6", "-k", "2", "--json"]));
    let mut got: Vec<u64> = allowed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, vec![5, 6]);
}

#[test]
fn recommend_keeps_its_session_in_a_state_file() {
    let s = Setup::new();
    let state = s.dir.path().join("user-7.state");
    let path = state.to_str().unwrap();
    let ask = |history: &str| {
        json(&s.run(
            "recommend",
            &["--history", history, "-k", "4", "--session-state", path, "--json"],
        ))
    };
    let first = ask("3,7,1");
    assert_eq!(first["stats"]["cached_tokens"], 0, "no state yet: cold");
    assert!(state.is_file());
    // The returning user with one more item: only that item's line is evaluated, and the
    // answer is a session that never stopped's.
    let second = ask("3,7,1,9");
    let cached = second["stats"]["cached_tokens"].as_u64().unwrap();
    assert_eq!(cached, first["stats"]["prompt_tokens"].as_u64().unwrap());
    let cold = json(&s.run("recommend", &["--history", "3,7,1,9", "-k", "4", "--json"]));
    let items = |v: &serde_json::Value| -> Vec<u64> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["item"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(items(&second), items(&cold));
    // A damaged state is reported, the request runs cold, and a good state replaces it.
    let mut bytes = std::fs::read(&state).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&state, &bytes).unwrap();
    let out = s.run(
        "recommend",
        &["--history", "3,7,1,9", "-k", "4", "--session-state", path, "--json"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged saved session state"));
    assert_eq!(json(&out)["stats"]["cached_tokens"], 0);
    assert_eq!(
        ask("3,7,1,9")["stats"]["prompt_tokens"],
        1,
        "the rewritten state is good"
    );
    // Prior mode runs no model, so there is no cache to keep.
    let out = s.run(
        "recommend",
        &["--history", "3", "--mode", "prior", "--session-state", path],
    );
    fails_with(&out, "--mode prior runs no model");
}

#[test]
fn recommend_refuses_bad_requests() {
    let s = Setup::new();
    fails_with(
        &s.run("recommend", &["--history", "3,999"]),
        "item 999 of the history is not in the catalogue",
    );
    fails_with(
        &s.run("recommend", &["--history", "3", "-k", "0"]),
        "k must be at least 1",
    );
    fails_with(
        &s.run("recommend", &["--history", "3", "-k", "13"]),
        "exceeds the catalogue's 12 items",
    );
    fails_with(
        &s.run("recommend", &["--history", "3", "-k", "5", "--beams", "2"]),
        "raise beams",
    );
    fails_with(
        &s.run("recommend", &["--history", "1,2,3", "--n-ctx", "64"]),
        "history too long",
    );
    fails_with(
        &s.run("recommend", &["--history", "1", "--n-ctx", "40"]),
        "n_ctx 40 outside",
    );
    let (model, catalog) = (s.model.to_str().unwrap(), s.catalog.to_str().unwrap());
    let zero_threads = [
        "recommend",
        "--model",
        model,
        "--catalog",
        catalog,
        "--history",
        "1",
        "--threads",
        "0",
    ];
    fails_with(&grlm(&zero_threads), "0 threads");
    let usage = s.run("recommend", &["--history", "x"]);
    assert_eq!(usage.status.code(), Some(2));
    // A catalogue without a token trie.
    let plain = s.dir.path().join("plain.grlm");
    let built = build_fixture_catalog(&plain, None);
    assert!(built.status.success());
    let out = grlm(&[
        "recommend",
        "--model",
        s.model.to_str().unwrap(),
        "--catalog",
        plain.to_str().unwrap(),
        "--history",
        "3",
    ]);
    fails_with(&out, "no token trie");
    // No --model: $GRLM_MODEL is used.
    let out = Command::new(env!("CARGO_BIN_EXE_grlm"))
        .args([
            "recommend",
            "--catalog",
            s.catalog.to_str().unwrap(),
            "--history",
            "3",
            "-k",
            "1",
            "--threads",
            "1",
        ])
        .env("GRLM_MODEL", &s.model)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_grlm"))
        .args(["recommend", "--catalog", s.catalog.to_str().unwrap(), "--history", "3"])
        .env("GRLM_MODEL", s.dir.path().join("nowhere.gguf"))
        .output()
        .unwrap();
    fails_with(&out, "nowhere.gguf");
}

#[test]
fn eval_reports_the_protocol_metrics_and_the_baseline() {
    let s = Setup::new();
    let seqs = fixture("sequences.txt");
    let out = json(&s.run("eval", &["--sequences", &seqs, "--baseline", "popularity", "--json"]));
    for key in [
        "recall@1",
        "recall@5",
        "recall@10",
        "recall@20",
        "ndcg@5",
        "ndcg@10",
        "ndcg@20",
        "valid_rate",
        "direct_hit_rate",
        "users",
        "seconds",
    ] {
        assert!(out.get(key).is_some(), "missing {key}: {out}");
        assert!(out["baseline"]["popularity"].get(key).is_some(), "baseline lacks {key}");
    }
    assert_eq!(out["users"], 5);
    assert_eq!(out["valid_rate"], 1.0);
    // With 12 items and 20 ranked, every target not in its history is found at some rank.
    assert_eq!(out["recall@20"], 1.0);
    assert_eq!(out["ranked"], 12);
    // Three constrained beams rank three items: no hit beyond them.
    let narrow = json(&s.run("eval", &["--sequences", &seqs, "--beams", "3", "--json"]));
    assert_eq!(narrow["ranked"], 3);
    assert_eq!(narrow["recall@20"], narrow["recall@5"]);
    assert!(narrow["recall@20"].as_f64().unwrap() < 1.0, "{narrow}");
    let sampled = json(&s.run("eval", &["--sequences", &seqs, "--users", "2", "--seed", "3", "--json"]));
    assert_eq!(sampled["users"], 2);
    let free = json(&s.run(
        "eval",
        &["--sequences", &seqs, "--users", "2", "--mode", "free", "--json"],
    ));
    assert_eq!(free["mode"], "free");
    assert!(free["valid_rate"].as_f64().unwrap() <= 1.0);

    let bad = s.dir.path().join("bad.txt");
    std::fs::write(&bad, "1 2 3\n4 five\n").unwrap();
    fails_with(&s.run("eval", &["--sequences", bad.to_str().unwrap()]), "bad.txt:2");
}

#[test]
fn eval_journal_resumes_a_stopped_run_to_the_same_numbers() {
    let s = Setup::new();
    let seqs = fixture("sequences.txt");
    let journal = s.dir.path().join("journal.jsonl");
    let eval = |extra: &[&str]| {
        let mut args = vec!["--sequences", &seqs, "--users", "4", "--seed", "7", "--json"];
        args.extend(["--baseline", "popularity"]);
        args.extend_from_slice(extra);
        s.run("eval", &args)
    };
    let without = json(&eval(&[]));
    let journal_arg = journal.to_str().unwrap();
    let first = json(&eval(&["--journal", journal_arg]));
    assert_eq!(first["resumed_users"], 0);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(text.lines().count(), 5, "a header and one line per user: {text}");

    // A run stopped after two users, in the middle of writing the third.
    let mut torn: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    torn.push_str(&text.lines().nth(3).unwrap()[..20]);
    std::fs::write(&journal, torn).unwrap();
    let resumed = json(&eval(&["--journal", journal_arg]));
    assert_eq!(resumed["resumed_users"], 2);
    for out in [&first, &resumed] {
        for key in ["recall@10", "ndcg@10", "recall@20", "valid_rate", "users"] {
            assert_eq!(out[key], without[key], "{key}");
        }
        assert_eq!(out["baseline"], without["baseline"]);
    }
    assert_eq!(std::fs::read_to_string(&journal).unwrap().lines().count(), 5);
    // Done: nothing is evaluated again.
    assert_eq!(json(&eval(&["--journal", journal_arg]))["resumed_users"], 4);

    // Other settings are another run: refused, and the journal is kept as it was.
    let before = std::fs::read(&journal).unwrap();
    fails_with(
        &eval(&["--journal", journal_arg, "--beams", "10"]),
        "beams was 20, is now 10",
    );
    fails_with(
        &eval(&["--journal", journal_arg, "--split", "valid"]),
        "split was \"test\"",
    );
    assert_eq!(std::fs::read(&journal).unwrap(), before);
}

#[test]
fn eval_ranks_file_holds_each_users_outcome() {
    let s = Setup::new();
    let seqs = fixture("sequences.txt");
    let ranks = s.dir.path().join("ranks.jsonl");
    let ranks_arg = ranks.to_str().unwrap();
    let args = [
        "--sequences",
        &seqs,
        "--users",
        "4",
        "--seed",
        "7",
        "--json",
        "--ranks",
        ranks_arg,
    ];
    let with_baseline: Vec<&str> = args.iter().copied().chain(["--baseline", "popularity"]).collect();
    let out = json(&s.run("eval", &with_baseline));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&ranks)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let sequences = std::fs::read_to_string(&seqs).unwrap();
    for line in &lines {
        // The target is the user's last item.
        let user = line["user"].as_u64().unwrap().to_string();
        let row = sequences
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&user))
            .unwrap();
        let last = row.split_whitespace().last().unwrap();
        assert_eq!(line["target"].to_string(), last, "{line}");
        for key in ["rank", "popularity_rank"] {
            let rank = &line[key];
            assert!(
                rank.is_null() || (1..=20).contains(&rank.as_u64().unwrap()),
                "{key}: {line}"
            );
        }
    }
    // The file and the summary agree.
    let share = |key: &str, k: u64| {
        let hits = lines.iter().filter(|l| l[key].as_u64().is_some_and(|r| r <= k)).count();
        hits as f64 / lines.len() as f64
    };
    for k in [1, 5, 10, 20] {
        let name = format!("recall@{k}");
        assert_eq!(out[&name].as_f64().unwrap(), share("rank", k), "{name}");
        assert_eq!(
            out["baseline"]["popularity"][&name].as_f64().unwrap(),
            share("popularity_rank", k)
        );
    }

    // Without a baseline there is no baseline rank; the same users get the same ranks.
    let again = json(&s.run("eval", &args));
    assert_eq!(again["recall@20"], out["recall@20"]);
    let text = std::fs::read_to_string(&ranks).unwrap();
    assert!(!text.contains("popularity_rank"), "{text}");
    let outcome = |l: &serde_json::Value| (l["user"].clone(), l["target"].clone(), l["rank"].clone());
    let rerun: Vec<_> = text
        .lines()
        .map(|l| outcome(&serde_json::from_str(l).unwrap()))
        .collect();
    assert_eq!(rerun, lines.iter().map(outcome).collect::<Vec<_>>());

    // A destination in a missing directory is refused before the run.
    let nowhere = s.dir.path().join("missing-dir/ranks.jsonl");
    let failed = s.run("eval", &["--sequences", &seqs, "--ranks", nowhere.to_str().unwrap()]);
    fails_with(&failed, "missing-dir is not a directory");
    assert!(
        String::from_utf8_lossy(&failed.stderr).lines().count() <= 2,
        "no progress printed"
    );
    assert!(!nowhere.exists());
}

/// Every field path of `value`: objects by key, arrays through their first element as
/// `name[]`; arrays of numbers are leaves.
fn field_paths(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                field_paths(v, &path, out);
            }
        }
        serde_json::Value::Array(items) if items.first().is_some_and(|v| v.is_object()) => {
            field_paths(&items[0], &format!("{prefix}[]"), out)
        }
        _ => out.push(prefix.to_string()),
    }
}

/// The field paths docs/bench.md documents for `grlm bench --json`.
fn documented_bench_fields() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/bench.md")).unwrap();
    let table = doc
        .split("<!-- bench-schema:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- bench-schema:end -->").next())
        .expect("docs/bench.md documents the bench schema between markers");
    // A row names one path, or several with one `{a,b}` group.
    let mut paths = Vec::new();
    for path in table
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
    {
        match (path.find('{'), path.find('}')) {
            (Some(open), Some(close)) => {
                for choice in path[open + 1..close].split(',') {
                    paths.push(format!("{}{choice}{}", &path[..open], &path[close + 1..]));
                }
            }
            _ => paths.push(path.to_string()),
        }
    }
    paths
}

#[test]
fn bench_output_matches_its_documented_schema() {
    let s = Setup::new();
    let svg = s.dir.path().join("latency.svg");
    let args = [
        "--sequences",
        &fixture("sequences.txt"),
        "--history",
        "3",
        "--requests",
        "3",
        "--seed",
        "7",
        "-k",
        "2",
        "--beams",
        "4",
        "--thread-counts",
        "1",
        "--label",
        "test box",
        "--json",
    ];
    let mut with_svg = args.to_vec();
    with_svg.extend(["--svg", svg.to_str().unwrap()]);
    let out = json(&s.run("bench", &with_svg));
    assert_eq!(out["schema"], "grlm-bench/5");
    assert_eq!(out["label"], "test box");
    assert_eq!(out["workload"]["requests"], 3);
    assert_eq!(out["workload"]["seed"], 7);
    assert_eq!(out["workload"]["catalog_items"], 12);
    assert_eq!(out["machine"]["arch"], std::env::consts::ARCH);
    let run = &out["runs"][0];
    assert_eq!(run["threads"], 1);
    assert_eq!(run["beams"], 4);
    assert_eq!(run["samples"]["cold_ms"].as_array().unwrap().len(), 3);
    let cold = &run["cold_ms"];
    let at = |key: &str| cold[key].as_f64().unwrap();
    assert!(0.0 < at("min") && at("min") <= at("p50") && at("p50") <= at("p90"));
    assert!(at("p90") <= at("p99") && at("p99") <= at("max"));
    assert!(run["bare_llama"]["overhead_cold"].as_f64().unwrap() > 0.0);
    assert!(run["prompt_tokens_per_s"]["cold"].as_f64().unwrap() > 0.0);
    assert!(run["generation_tokens_per_s"]["warm"].as_f64().unwrap() > 0.0);
    assert!(run["tokens"]["warm_prompt"].as_f64().unwrap() < run["tokens"]["cold_prompt"].as_f64().unwrap());
    let points: Vec<&str> = out["memory"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["at"].as_str().unwrap())
        .collect();
    assert_eq!(points, ["start", "after_open", "after_first_request", "end"]);
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.contains("<svg") && svg_text.contains("1 thr cold") && svg_text.contains("test box"));

    // Documentation and output name the same fields, both ways.
    let mut produced = Vec::new();
    field_paths(&out, "", &mut produced);
    let documented = documented_bench_fields();
    for path in &produced {
        assert!(documented.contains(path), "docs/bench.md does not document {path}");
    }
    for path in &documented {
        assert!(
            produced.contains(path),
            "docs/bench.md documents {path}, which bench does not write"
        );
    }

    // The same seed draws the same workload; --no-baseline drops the replay.
    let mut again = args.to_vec();
    again.push("--no-baseline");
    let second = json(&s.run("bench", &again));
    assert_eq!(second["workload"], out["workload"]);
    assert!(second["runs"][0]["bare_llama"].is_null());
    assert_eq!(
        second["runs"][0]["tokens"]["cold_prompt"], run["tokens"]["cold_prompt"],
        "same histories"
    );

    // Bad arguments: clear errors, nothing written.
    fails_with(
        &s.run("bench", &["--sequences", &fixture("sequences.txt"), "--requests", "0"]),
        "--requests",
    );
    fails_with(
        &s.run(
            "bench",
            &["--sequences", &fixture("sequences.txt"), "--thread-counts", "0"],
        ),
        "--thread-counts",
    );
    fails_with(
        &s.run("bench", &["--sequences", &fixture("sequences.txt"), "--history", "50"]),
        "more than 50 items",
    );
    let missing_dir = s.dir.path().join("no/such/dir/x.svg");
    fails_with(
        &s.run(
            "bench",
            &[
                "--sequences",
                &fixture("sequences.txt"),
                "--history",
                "3",
                "--requests",
                "1",
                "--thread-counts",
                "1",
                "--svg",
                missing_dir.to_str().unwrap(),
            ],
        ),
        "cannot write",
    );
}

/// A `grlm bench` memory figure, in MB, at one of its points.
fn memory_at(out: &serde_json::Value, at: &str, key: &str) -> f64 {
    let point = out["memory"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["at"] == at)
        .unwrap_or_else(|| panic!("no memory point {at}"));
    point[key].as_f64().unwrap_or_else(|| panic!("no {key} at {at}"))
}

/// `grlm bench` of two requests of a 20-item history on `catalog`.
fn bench_memory(model: &Path, catalog: &Path, sequences: &Path) -> serde_json::Value {
    json(&grlm(&[
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
        "--sequences",
        sequences.to_str().unwrap(),
        "--requests",
        "2",
        "--history",
        "3",
        "--beams",
        "4",
        "-k",
        "2",
        "--thread-counts",
        "1",
        "--no-baseline",
        "--json",
    ]))
}

#[test]
fn a_large_catalogue_is_mapped_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (model, small) = tiny_engine_files(d);
    let synth = grlm(&[
        "catalog",
        "synth",
        "--items",
        "200000",
        "--users",
        "20",
        "--out-dir",
        d.to_str().unwrap(),
    ]);
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    let catalog = d.join("big.grlm");
    let (items, tids) = (d.join("items.jsonl"), d.join("tids.jsonl"));
    let built = build_catalog(&items, &tids, &catalog, &["--model", model.to_str().unwrap()]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let catalog_mb = std::fs::metadata(&catalog).unwrap().len() as f64 / (1 << 20) as f64;
    assert!(catalog_mb > 20.0, "a catalogue worth measuring: {catalog_mb} MB");

    let big = bench_memory(&model, &catalog, &d.join("sequences.txt"));
    let grown = |at: &str, key: &str| memory_at(&big, at, key) - memory_at(&big, "start", key);
    // Opening checks headers and section bounds: a few pages of the file become resident
    // and nothing is copied into the heap.
    assert!(
        grown("after_open", "anon_mb") < 8.0,
        "opening grew the heap by {} MB",
        grown("after_open", "anon_mb")
    );
    let mapped = memory_at(&big, "after_open", "catalog_mb");
    assert!(
        mapped < catalog_mb / 4.0,
        "opening made {mapped} of {catalog_mb} MB resident"
    );
    // Requests need the same heap (KV cache, llama.cpp's buffers) with 200,000 items as
    // with the 12 of the fixture catalogue.
    let fixture = bench_memory(&model, &small, Path::new(&fixture("sequences.txt")));
    let heap = |out: &serde_json::Value| memory_at(out, "after_first_request", "anon_mb");
    assert!(
        (heap(&big) - heap(&fixture)).abs() < 8.0,
        "heap after a request: {} MB with 200,000 items, {} MB with 12",
        heap(&big),
        heap(&fixture)
    );
}
