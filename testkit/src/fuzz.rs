//! The entry points of the fuzz targets under `fuzz/`: each feeds arbitrary bytes through
//! one of libgrlm's parsers and uses whatever parsed. Errors are the expected outcome for
//! most inputs; a panic is a bug. The test suite replays the committed corpora through the
//! same functions, so a crash the fuzzer once found stays fixed.

use std::collections::BTreeSet;
use std::path::Path;

use grlm_core::catalog::input::{parse_items, parse_tids};
use grlm_core::catalog::TransitionCounts;
use grlm_core::prior::{HistoryPrior, PriorParams};
use grlm_core::sequences::{parse_item_list, parse_sequences, without_items, Split};
use grlm_core::tid::{normalize_term, DEFAULT_TID_LEN};
use grlm_core::{Catalog, CatalogBuilder, ItemFilter, Tid};
use grlm_eval::{sample_users, Metrics, Popularity};

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
    if catalog.transitions().is_some() {
        let history: Vec<u32> = [0, n / 2].iter().filter_map(|&i| catalog.item_id(i)).collect();
        for filter in [
            ItemFilter::none().exclude(history.iter().copied()),
            ItemFilter::none().allow(history.iter().copied()),
        ] {
            if let Ok(prior) = HistoryPrior::new(&catalog, &history, &filter, &PriorParams::default()) {
                let _ = prior.rank(5);
                let _ = prior.tid_items(0);
                if let Some(trie) = catalog.token_trie() {
                    if let Ok(masses) = prior.node_masses(&trie) {
                        let _ = masses.mass(0);
                        let _ = masses.mass(1);
                    }
                }
            }
        }
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

/// Parses `bytes` as a sequences file and as an item list (`--new-items`), evaluates the
/// popularity baseline on the sequences that parsed and forgets some of their items.
pub fn sequences_parse(bytes: &[u8]) {
    // The same bytes as a `--new-items` list.
    if let Ok(items) = parse_item_list(bytes) {
        assert!(!items.is_empty());
    }
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
    // Forgetting items (`--new-items`, here the odd ids) leaves none of them before the
    // held-out part and the held-out part untouched.
    let odd: BTreeSet<u32> = sequences
        .iter()
        .flat_map(|s| s.items.iter().copied())
        .filter(|i| i % 2 == 1)
        .collect();
    for (before, after) in sequences.iter().zip(without_items(&sequences, 1, &odd)) {
        assert_eq!(before.items.last(), after.items.last());
        let kept: Vec<u32> = before.counted(1).iter().copied().filter(|i| i % 2 == 0).collect();
        assert_eq!(after.counted(1), &kept[..]);
    }
}

/// Parses `bytes` as a prior counts file and builds a small catalogue's prior from what
/// parsed: whatever counts parse must build, open, verify and score. Returns whether the
/// bytes parsed.
pub fn prior_counts(bytes: &[u8]) -> bool {
    let Ok(counts) = TransitionCounts::parse_tsv(bytes, Path::new("fuzz")) else {
        return false;
    };
    let mut builder = CatalogBuilder::new().with_prior(counts, 1, 4);
    for id in 1..=6u32 {
        let tid = Tid::parse(&format!("[c{}, i{id}]", id % 2), None).expect("a valid TID");
        builder.add(id, tid, None).expect("a new item");
    }
    let catalog =
        Catalog::from_bytes(builder.to_bytes().expect("parsed counts build")).expect("a built catalogue opens");
    catalog.verify().expect("a built prior verifies");
    let filter = ItemFilter::none().exclude([2]);
    let prior = HistoryPrior::new(&catalog, &[1, 2], &filter, &PriorParams::default()).expect("the prior scores");
    let ranked = prior.rank(6).expect("the prior ranks");
    assert!(ranked.iter().all(|r| r.item != 2 && r.probability > 0.0));
    let total: f64 = (0..catalog.len())
        .map(|i| prior.probability(i).expect("a probability"))
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "probabilities sum to {total}");
    true
}

/// Parses `bytes` as a saved session state: what parses must write back to the same bytes.
/// Returns whether the bytes parsed.
#[cfg(feature = "engine")]
pub fn session_state(bytes: &[u8]) -> bool {
    let Ok(state) = grlm::engine::state::SavedState::parse(bytes) else {
        return false;
    };
    assert_eq!(state.to_bytes().expect("a parsed state writes"), bytes);
    true
}
