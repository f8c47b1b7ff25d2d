//! A short smoke run of grlm-train's fuzz corpora (fuzz/corpus/*): each input goes through
//! the same function as its fuzz target, so a crash the fuzzer once found stays fixed.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn each_input(target: &str, f: impl Fn(&[u8]) -> bool) -> Vec<(String, bool)> {
    let dir = corpus(target);
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        seen.push((name, f(&std::fs::read(&path).unwrap())));
    }
    assert!(!seen.is_empty(), "empty corpus {}", dir.display());
    seen
}

fn outcome(seen: &[(String, bool)], name: &str) -> bool {
    seen.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("seed {name} is missing"))
        .1
}

#[test]
fn emb_cache_parse_corpus() {
    let seen = each_input("emb_cache_parse", grlm_train::fuzz::emb_cache_parse);
    // The seeds keep the fuzzer starting from real caches; the smoke test notices if the
    // reader stopped reading them.
    assert!(outcome(&seen, "two-entries") && outcome(&seen, "empty"));
    assert!(!outcome(&seen, "not-a-cache"));
}

#[test]
fn tid_grammar_corpus() {
    let seen = each_input("tid_grammar", grlm_train::fuzz::tid_grammar);
    assert!(outcome(&seen, "five-terms") && outcome(&seen, "one-term"));
    for refused in ["unfinished", "upper-case", "utf8"] {
        assert!(!outcome(&seen, refused), "{refused}");
    }
}

#[test]
fn endpoint_reply_corpus() {
    let seen = each_input("endpoint_reply", grlm_train::fuzz::endpoint_reply);
    for accepted in ["chatty-five-terms", "one-term", "response-body"] {
        assert!(outcome(&seen, accepted), "{accepted}");
    }
    for refused in ["four-of-five", "repeated-term", "no-brackets"] {
        assert!(!outcome(&seen, refused), "{refused}");
    }
}

#[test]
fn terms_partial_corpus() {
    let seen = each_input("terms_partial", grlm_train::fuzz::terms_partial);
    for accepted in ["two-groups", "torn-tail", "crc-fixed-up"] {
        assert!(outcome(&seen, accepted), "{accepted}");
    }
    for refused in ["other-config", "not-partial"] {
        assert!(!outcome(&seen, refused), "{refused}");
    }
}

#[test]
fn sft_inputs_corpus() {
    let items = each_input("sft_inputs", |b| grlm_train::fuzz::sft_inputs(b)[0]);
    let sequences = each_input("sft_inputs", |b| grlm_train::fuzz::sft_inputs(b)[1]);
    let neighbors = each_input("sft_inputs", |b| grlm_train::fuzz::sft_inputs(b)[2]);
    assert!(outcome(&items, "items-amazon") && !outcome(&items, "duplicate-item"));
    assert!(outcome(&sequences, "sequences") && !outcome(&sequences, "duplicate-user"));
    assert!(outcome(&neighbors, "neighbors-header") && outcome(&neighbors, "sequences"));
    assert!(!outcome(&neighbors, "duplicate-user"));
}

#[test]
fn sft_examples_corpus() {
    let seen = each_input("sft_examples", grlm_train::fuzz::sft_examples);
    for accepted in ["terms", "sequence", "transitions", "two-tasks"] {
        assert!(outcome(&seen, accepted), "{accepted}");
    }
    for refused in ["no-loss", "late-begins-text"] {
        assert!(!outcome(&seen, refused), "{refused}");
    }
}

#[test]
fn prefix_chunk_corpus() {
    let seen = each_input("prefix_chunk", grlm_train::fuzz::prefix_chunk);
    assert!(outcome(&seen, "three-examples"));
    for refused in ["truncated", "bad-checksum", "wrong-magic"] {
        assert!(!outcome(&seen, refused), "{refused}");
    }
}
