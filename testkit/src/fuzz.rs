//! The entry points of the fuzz targets under `fuzz/`: each feeds arbitrary bytes through
//! one of libgrlm's parsers and uses whatever parsed. Errors are the expected outcome for
//! most inputs; a panic is a bug. The test suite replays the committed corpora through the
//! same functions, so a crash the fuzzer once found stays fixed.

use std::path::Path;

use grlm::catalog::input::{parse_items, parse_tids};
use grlm::eval::{sample_users, Metrics, Popularity};
use grlm::sequences::{parse_sequences, Split};
use grlm::tid::{normalize_term, DEFAULT_TID_LEN};
use grlm::{Catalog, ItemFilter, Tid};

/// Opens `bytes` as a catalogue and reads it every way. Returns whether the bytes opened and
/// verified (the corpus test uses that to check that its valid seeds stay valid).
pub fn catalog_open(bytes: &[u8]) -> bool {
    let Ok(catalog) = Catalog::from_bytes(bytes.to_vec()) else {
        return false;
    };
    let verified = catalog.verify().is_ok();
    let _ = catalog.info();
    let n = catalog.len();
    for index in [0, n / 2, n.saturating_sub(1), n] {
        if let Some(item) = catalog.item_id(index) {
            let _ = catalog.title_of(item);
            if let Ok(Some(tid)) = catalog.tid_of(item) {
                let _ = catalog.items_with_tid(&tid);
                let _ = catalog.ground(&tid, 3, &ItemFilter::none());
            }
        }
    }
    if let Some(trie) = catalog.token_trie() {
        let _ = trie.fingerprint();
        for node in [0, 1, trie.node_count() as u32 / 2, trie.node_count() as u32] {
            if let Ok((tokens, _)) = trie.children(node) {
                if let Some(token) = tokens.first() {
                    let _ = trie.child(node, token.get());
                }
            }
            let _ = trie.leaf_tid(node);
            let _ = trie.parent(node);
        }
        let _ = trie.leaf_of(0);
    }
    for text in ["[a, b, c, d, e]", "[hair-mask, citrus]", "[zzzz, abcd, x]"] {
        let _ = catalog.ground_text(text, 5, &ItemFilter::none().exclude([1]));
    }
    verified
}

/// Parses `bytes` (if UTF-8) as TID text. Panics if a parsed TID does not print back to
/// itself.
pub fn tid_parse(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    for expected in [None, Some(DEFAULT_TID_LEN)] {
        if let Ok(tid) = Tid::parse(text, expected) {
            let printed = tid.to_string();
            assert_eq!(
                Tid::parse(&printed, expected).as_ref(),
                Ok(&tid),
                "round trip of {text:?}"
            );
        }
    }
    let _ = normalize_term(text);
}

/// Runs both JSONL parsers of `grlm catalog build` on `bytes`.
pub fn jsonl_input(bytes: &[u8]) {
    let _ = parse_items(bytes, Path::new("fuzz"));
    let _ = parse_tids(bytes, Path::new("fuzz"), None);
    let _ = parse_tids(bytes, Path::new("fuzz"), Some(5));
}

/// Parses `bytes` as a sequences file and evaluates the popularity baseline on what parsed.
pub fn sequences_parse(bytes: &[u8]) {
    let Ok(sequences) = parse_sequences(bytes) else { return };
    for s in &sequences {
        assert!(!s.items.is_empty());
        assert_eq!(s.history().len() + 1, s.items.len());
    }
    let chosen = sample_users(&sequences, 3, 1, Split::Test);
    assert!(chosen.iter().all(|&i| sequences[i].items.len() >= 2));
    let popularity = Popularity::fit(&sequences, 1);
    let mut metrics = Metrics::default();
    for &i in &chosen {
        let s = &sequences[i];
        let ranked = popularity.recommend(s.history(), 20);
        metrics.add(ranked.iter().position(|&x| Some(x) == s.target()));
    }
    assert!((0.0..=1.0).contains(&metrics.recall(20)));
}
