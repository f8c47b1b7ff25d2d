//! A short smoke run of the fuzz corpora (fuzz/corpus/*): each input goes through the same
//! entry point as its fuzz target, so a crash the fuzzer once found stays fixed.

use std::path::Path;

fn each_input(target: &str, f: impl Fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        f(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "empty corpus {}", dir.display());
    n
}

#[test]
fn catalog_open_corpus() {
    each_input("catalog_open", |b| {
        grlm_testkit::fuzz::catalog_open(b);
    });
    // The seeds are valid catalogues: the smoke test would notice if the reader broke.
    for name in ["tiny.grlm", "tiny-trie.grlm", "tiny-prior.grlm"] {
        let seed = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus/catalog_open")
                .join(name),
        )
        .unwrap();
        assert!(grlm_testkit::fuzz::catalog_open(&seed), "{name}");
    }
    // The second seed carries a token trie, so the fuzzer mutates that section too.
    let trie_seed =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/catalog_open/tiny-trie.grlm")).unwrap();
    assert!(grlm::Catalog::from_bytes(trie_seed).unwrap().token_trie().is_some());
    // The third carries the prior as well.
    let prior_seed =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/catalog_open/tiny-prior.grlm")).unwrap();
    assert!(grlm::Catalog::from_bytes(prior_seed).unwrap().transitions().is_some());
}

#[test]
fn tid_parse_corpus() {
    each_input("tid_parse", grlm_testkit::fuzz::tid_parse);
}

#[test]
fn jsonl_input_corpus() {
    each_input("jsonl_input", grlm_testkit::fuzz::jsonl_input);
}

#[test]
fn prior_counts_corpus() {
    each_input("prior_counts", |b| {
        grlm_testkit::fuzz::prior_counts(b);
    });
    // The valid seeds parse; the broken ones do not.
    let seed = |name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus/prior_counts")
                .join(name),
        )
        .unwrap()
    };
    assert!(grlm_testkit::fuzz::prior_counts(&seed("seed-valid.tsv")));
    assert!(grlm_testkit::fuzz::prior_counts(&seed("seed-sums-and-crlf.tsv")));
    assert!(!grlm_testkit::fuzz::prior_counts(&seed("seed-two-fields.tsv")));
    assert!(!grlm_testkit::fuzz::prior_counts(&seed("seed-users-twice.tsv")));
}

#[test]
fn sequences_parse_corpus() {
    each_input("sequences_parse", grlm_testkit::fuzz::sequences_parse);
}

#[test]
fn session_state_corpus() {
    each_input("session_state", |b| {
        grlm_testkit::fuzz::session_state(b);
    });
    // The seed is a valid state, so the fuzzer mutates past the checksum's gate too.
    let seed =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/session_state/small.state")).unwrap();
    assert!(grlm_testkit::fuzz::session_state(&seed));
}
