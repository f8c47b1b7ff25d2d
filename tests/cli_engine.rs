//! `grlm recommend`, `eval` and `bench` from the outside, on a tiny model written at test
//! time and the fixture catalogue: argument forms, JSON shapes, exit codes, error messages.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::{build_fixture_catalog, fixture, grlm, json, tiny_engine_files};

fn fails_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
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
        let mut args = vec![
            command,
            "--model",
            self.model.to_str().unwrap(),
            "--catalog",
            self.catalog.to_str().unwrap(),
            "--threads",
            "1",
        ];
        args.extend(extra);
        grlm(&args)
    }
}

#[test]
fn build_with_model_records_the_tokenizer() {
    let s = Setup::new();
    let info = json(&grlm(&["catalog", "inspect", "--json", s.catalog.to_str().unwrap()]));
    assert_eq!(info["format_version"], "1.1");
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
fn bench_compares_against_bare_llama_cpp() {
    let s = Setup::new();
    let out = json(&s.run(
        "bench",
        &[
            "--sequences",
            &fixture("sequences.txt"),
            "--history",
            "3",
            "--users",
            "2",
            "-k",
            "2",
            "--beams",
            "4",
            "--thread-counts",
            "1",
            "--json",
        ],
    ));
    let run = &out["runs"][0];
    assert_eq!(run["threads"], 1);
    assert!(run["cold_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(run["overhead_cold"].as_f64().unwrap() > 0.0);
    assert!(run["where_the_time_goes"]["warm_prompt_tokens"].as_f64().unwrap() > 0.0);
    assert_eq!(out["users"], 2);
}
