//! Grounding behaviour: direct order, filters, limits, and exactness of the pruned search
//! against a brute-force scan of every TID.

use proptest::prelude::*;

use super::fuzzy::{term_matches, TermMatch};
use super::structural::DECAY;
use super::*;
use crate::catalog::CatalogBuilder;
use crate::tid::Tid;

fn tid(text: &str) -> Tid {
    Tid::parse(text, None).unwrap()
}

fn catalog(entries: &[(u32, &str)]) -> Catalog {
    let mut b = CatalogBuilder::new();
    for (id, text) in entries {
        b.add(*id, tid(text), None).unwrap();
    }
    Catalog::from_bytes(b.to_bytes().unwrap()).unwrap()
}

fn items(results: &[Grounded]) -> Vec<u32> {
    results.iter().map(|g| g.item).collect()
}

fn small() -> Catalog {
    catalog(&[
        (9, "[shampoo, color, care, treated, preserve]"),
        (3, "[shampoo, color, care, treated, preserve]"),
        (1, "[hair-mask, color-lock, citrus, protein, unisex]"),
        (2, "[hair-mask, repairing, monoi, unisex, intense]"),
        (5, "[body, wash, energizing, citrus, unisex]"),
        (6, "[hair, growth, oil, keratin, unisex]"),
    ])
}

#[test]
fn direct_items_come_first_in_id_order() {
    let c = small();
    let r = c
        .ground(
            &tid("[shampoo, color, care, treated, preserve]"),
            10,
            &ItemFilter::none(),
        )
        .unwrap();
    assert_eq!(items(&r[..2]), [3, 9]);
    assert!(r[..2].iter().all(|g| g.method == Method::Direct && g.score == 1.0));
    assert!(r[2..].iter().all(|g| g.method == Method::Structural && g.score < 1.0));
    assert!(r.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn misspelt_and_inflected_terms_still_find_the_item() {
    let c = small();
    let r = c
        .ground_text(
            "[hair-masks, color-lock, citrus, protien, unisex]",
            3,
            &ItemFilter::none(),
        )
        .unwrap();
    assert_eq!(r[0].item, 1);
    assert_eq!(r[0].method, Method::Structural);
    // A term the catalogue has matches only itself, not its compounds.
    let r = c.ground_text("[hair, x, y, z, w]", 10, &ItemFilter::none()).unwrap();
    assert_eq!(items(&r), [6]);
    // An unknown compound falls back to the known term it extends.
    let r = c
        .ground_text("[x, y, monoi-oil, z, w]", 10, &ItemFilter::none())
        .unwrap();
    assert_eq!(items(&r), [2]);
    assert!((r[0].score - fuzzy::COMPOUND_SIMILARITY / 5.0).abs() < 1e-6);
}

#[test]
fn filters_limits_and_empty_results() {
    let c = small();
    let q = tid("[shampoo, color, care, treated, preserve]");
    let none = ItemFilter::none();
    assert!(c.ground(&q, 0, &none).unwrap().is_empty());
    assert_eq!(items(&c.ground(&q, 1, &none).unwrap()), [3]);
    let excluded = c.ground(&q, 10, &ItemFilter::none().exclude([3])).unwrap();
    assert_eq!(excluded[0].item, 9);
    assert!(!items(&excluded).contains(&3));
    let allowed = c.ground(&q, 10, &ItemFilter::none().allow([9, 6])).unwrap();
    assert_eq!(items(&allowed), [9]);
    let huge = c.ground(&tid("[citrus]"), usize::MAX, &none).unwrap();
    assert_eq!(items(&huge), [1, 5]);
    assert!(c.ground(&tid("[nothing, alike]"), 10, &none).unwrap().is_empty());
    assert!(matches!(
        c.ground_text("[a, , b]", 3, &none),
        Err(GroundError::Parse(_))
    ));
}

/// The score of every TID by the documented formula, written independently of the search.
fn brute_force(c: &Catalog, query: &Tid, k: usize, filter: &ItemFilter) -> Vec<(u32, f32)> {
    let mut matches: Vec<Vec<TermMatch>> = Vec::new();
    for term in query.terms() {
        let mut m = Vec::new();
        term_matches(c, term.as_str(), &mut m).unwrap();
        matches.push(m);
    }
    let exact: Option<Vec<u32>> = matches
        .iter()
        .map(|m| m.first().filter(|m| m.similarity == 1.0).map(|m| m.term))
        .collect();
    let direct = exact.and_then(|ids| c.find_tid(&ids));
    let norm = query.len().max(c.tid_len()) as f32;
    let mut out = Vec::new();
    if let Some(t) = direct {
        for &i in c.tid_items(t).unwrap() {
            out.push((c.item_id(i.get() as usize).unwrap(), 1.0));
        }
    }
    let mut scored = Vec::new();
    for t in (0..c.tid_count()).filter(|&t| Some(t) != direct) {
        let row = c.tid_row(t).unwrap();
        let mut total = 0.0f32;
        for (i, m) in matches.iter().enumerate() {
            let mut best = 0.0f32;
            for (j, term) in row.iter().enumerate() {
                for x in m.iter().filter(|x| x.term == term.get()) {
                    best = best.max(x.similarity * DECAY.get(i.abs_diff(j)).copied().unwrap_or(0.25));
                }
            }
            total += best;
        }
        if total > 0.0 {
            for &i in c.tid_items(t).unwrap() {
                scored.push((c.item_id(i.get() as usize).unwrap(), total / norm));
            }
        }
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.extend(scored);
    out.retain(|(item, _)| filter.permits(*item));
    out.truncate(k);
    out
}

fn arb_case() -> impl Strategy<Value = (Vec<Vec<&'static str>>, Vec<&'static str>, usize, Vec<u32>)> {
    let words = vec![
        "serum",
        "serums",
        "hair",
        "hair-mask",
        "oil",
        "citrus",
        "citrsu",
        "unisex",
        "men",
        "gel",
        "gels",
        "soap",
    ];
    let term = prop::sample::select(words);
    (
        prop::collection::vec(prop::collection::vec(term.clone(), 4), 1..60),
        prop::collection::vec(term, 1..7),
        1usize..12,
        prop::collection::vec(1u32..60, 0..5),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Pruning never changes the answer: the same items, in the same order, with the same
    /// scores as scoring every TID.
    #[test]
    fn search_equals_brute_force((rows, query, k, excluded) in arb_case()) {
        let mut b = CatalogBuilder::new();
        for (i, row) in rows.iter().enumerate() {
            b.add(i as u32 + 1, Tid::from_terms(row).unwrap(), None).unwrap();
        }
        let c = Catalog::from_bytes(b.to_bytes().unwrap()).unwrap();
        let query = Tid::from_terms(&query).unwrap();
        let filter = ItemFilter::none().exclude(excluded);
        let got: Vec<(u32, f32)> = c.ground(&query, k, &filter).unwrap().iter().map(|g| (g.item, g.score)).collect();
        let want = brute_force(&c, &query, k, &filter);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g.0, w.0, "got {:?} want {:?}", got, want);
            prop_assert!((g.1 - w.1).abs() < 1e-5);
        }
    }
}

/// Catalogues of hundreds of TIDs that share their first terms (as the commonest terms of
/// real TIDs are shared), plus a few rare ones: lists longer than the pair sweep's threshold,
/// so the search takes the path large catalogues take.
fn arb_long_lists() -> impl Strategy<Value = (Vec<Vec<String>>, Vec<&'static str>, usize)> {
    let common = (300usize..700).prop_flat_map(|n| {
        prop::collection::vec(prop::sample::select(vec!["oil", "gel", "serum"]), n).prop_map(|thirds| {
            thirds
                .iter()
                .enumerate()
                .map(|(i, t)| vec!["hair".to_owned(), "unisex".to_owned(), t.to_string(), format!("k{i}")])
                .collect::<Vec<_>>()
        })
    });
    let rare = prop::collection::vec(prop::sample::select(vec!["citrus", "mask", "argan"]), 3..20).prop_map(|rares| {
        rares
            .iter()
            .enumerate()
            .map(|(i, r)| vec!["hair".to_owned(), format!("z{i}"), "w".to_owned(), r.to_string()])
            .collect::<Vec<_>>()
    });
    let word = prop::sample::select(vec!["hair", "unisex", "oil", "gel", "citrus", "mask", "serums"]);
    // Half the queries have the shape that sends the search to the pair sweep: a rare term
    // fills the top k, then three common ones remain (see `long_lists_are_swept_for_pairs`).
    let shaped = (
        prop::sample::select(vec!["oil", "gel", "serum"]),
        prop::sample::select(vec!["citrus", "mask", "argan"]),
    )
        .prop_map(|(third, rare)| vec!["hair", "unisex", third, rare]);
    (
        (common, rare).prop_map(|(mut a, b)| {
            a.extend(b);
            a
        }),
        prop_oneof![shaped, prop::collection::vec(word, 3..6)],
        1usize..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The same exactness on long lists, where the search sweeps for pairs.
    #[test]
    fn search_equals_brute_force_on_long_lists((rows, query, k) in arb_long_lists()) {
        let mut b = CatalogBuilder::new();
        for (i, row) in rows.iter().enumerate() {
            b.add(i as u32 + 1, Tid::from_terms(row).unwrap(), None).unwrap();
        }
        let c = Catalog::from_bytes(b.to_bytes().unwrap()).unwrap();
        let query = Tid::from_terms(&query).unwrap();
        let filter = ItemFilter::none();
        let mut grounder = Grounder::new(&c);
        let got: Vec<(u32, f32)> = grounder.ground(&query, k, &filter).unwrap().iter().map(|g| (g.item, g.score)).collect();
        let want = brute_force(&c, &query, k, &filter);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g.0, w.0, "got {:?} want {:?}", got, want);
            prop_assert!((g.1 - w.1).abs() < 1e-5);
        }
    }
}

#[test]
fn long_lists_are_swept_for_pairs() {
    // 600 TIDs [hair, unisex, oil, …] and 10 [hair, …, citrus]. The short citrus list fills
    // the top 5 at 2/4; then three long lists remain, no one of which can lift an unseen
    // TID to 2/4 alone (1/4 each) while together they can: they are swept for TIDs met
    // twice, and the TIDs holding all three come out on top.
    let mut b = CatalogBuilder::new();
    for i in 0..600u32 {
        b.add(i + 1, tid(&format!("[hair, unisex, oil, k{i}]")), None).unwrap();
    }
    for i in 0..10u32 {
        b.add(1000 + i, tid(&format!("[hair, z{i}, w, citrus]")), None).unwrap();
    }
    let c = Catalog::from_bytes(b.to_bytes().unwrap()).unwrap();
    let query = tid("[hair, unisex, oil, citrus]");
    let mut grounder = Grounder::new(&c);
    let got = grounder.ground(&query, 5, &ItemFilter::none()).unwrap();
    assert!(grounder.pair_sweeps() > 0, "the pair sweep was not reached");
    let want = brute_force(&c, &query, 5, &ItemFilter::none());
    assert_eq!(items(&got), want.iter().map(|w| w.0).collect::<Vec<_>>());
    assert!(got.iter().all(|g| g.item <= 600), "the three-term TIDs win");
}
