//! The prior against brute force: every probability, ranking and node mass recomputed from
//! the definitions over every eligible item of random catalogues, sequences and filters.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::catalog::tests::byte_trie_spec;
use crate::catalog::{CatalogBuilder, TransitionCounts};
use crate::sequences::Sequence;
use crate::tid::Tid;

/// A catalogue of `n` items (ids 1..=n, some sharing a TID) with a token trie and the prior
/// of `sequences` held out by `holdout`.
fn catalogue(n: u32, sequences: &[Sequence], holdout: usize) -> Catalog {
    let mut b = CatalogBuilder::new().with_token_trie(byte_trie_spec()).with_prior(
        TransitionCounts::from_sequences(sequences, holdout),
        holdout as u32,
        3,
    );
    for id in 1..=n {
        // Every third item shares its TID with the one before: collisions are covered.
        let t = if id % 3 == 0 { id - 1 } else { id };
        let tid = Tid::parse(&format!("[k{}, v{}]", t % 4, t), None).unwrap();
        b.add(id, tid, None).unwrap();
    }
    let c = Catalog::from_bytes(b.to_bytes().unwrap()).unwrap();
    c.verify().unwrap();
    c
}

/// T and P of every item, from the definitions, with plain loops over the sequences.
fn brute_force(
    c: &Catalog,
    sequences: &[Sequence],
    holdout: usize,
    history: &[u32],
    filter: &ItemFilter,
    params: &PriorParams,
) -> HashMap<u32, f64> {
    // Successor counts capped like the catalogue's (3 per item, most frequent, then lower id).
    let mut pairs: HashMap<(u32, u32), u64> = HashMap::new();
    let mut pop: HashMap<u32, u64> = HashMap::new();
    for s in sequences {
        let counted = s.counted(holdout);
        for &i in counted {
            *pop.entry(i).or_default() += 1;
        }
        for w in counted.windows(2) {
            *pairs.entry((w[0], w[1])).or_default() += 1;
        }
    }
    let successors = |from: u32| {
        let mut row: Vec<(u32, u64)> = pairs
            .iter()
            .filter(|(k, _)| k.0 == from)
            .map(|(k, &v)| (k.1, v))
            .collect();
        row.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        row.truncate(3);
        row
    };
    let eligible: Vec<u32> = (0..c.len())
        .map(|i| c.item_id(i).unwrap())
        .filter(|&id| filter.permits(id))
        .collect();
    let mut t: HashMap<u32, f64> = HashMap::new();
    for (i, &h) in history.iter().rev().take(params.window).enumerate() {
        for (j, count) in successors(h) {
            if eligible.contains(&j) {
                *t.entry(j).or_default() += params.decay.powi(i as i32) * count as f64;
            }
        }
    }
    let t_total: f64 = t.values().sum();
    let pop_total: f64 = eligible
        .iter()
        .map(|j| (pop.get(j).copied().unwrap_or(0) + 1) as f64)
        .sum();
    eligible
        .iter()
        .map(|&j| {
            let p = (pop.get(&j).copied().unwrap_or(0) + 1) as f64 / pop_total;
            let tj = t.get(&j).copied().unwrap_or(0.0);
            let prob = if t_total > 0.0 {
                (1.0 - params.smoothing) * tj / t_total + params.smoothing * p
            } else {
                p
            };
            (j, prob)
        })
        .collect()
}

/// A random case: catalogue size, sequences, holdout, history, exclusions, an optional
/// allow-list, and prior parameters.
type Case = (
    u32,
    Vec<Sequence>,
    usize,
    Vec<u32>,
    Vec<u32>,
    Option<Vec<u32>>,
    PriorParams,
);

fn arb_case() -> impl Strategy<Value = Case> {
    (6u32..24).prop_flat_map(|n| {
        let item = 1..=n;
        (
            Just(n),
            prop::collection::vec(prop::collection::vec(item.clone(), 1..8), 1..30).prop_map(|rows| {
                rows.into_iter()
                    .enumerate()
                    .map(|(u, items)| Sequence { user: u as u32, items })
                    .collect::<Vec<_>>()
            }),
            1usize..3,
            prop::collection::vec(item.clone(), 1..7),
            prop::collection::vec(item.clone(), 0..4),
            prop::option::of(prop::collection::vec(item, 0..10)),
            (1usize..6, 0.1f64..=1.0, prop_oneof![Just(0.0), 0.0f64..=1.0]).prop_map(|(window, decay, smoothing)| {
                PriorParams {
                    weight: None,
                    window,
                    decay,
                    smoothing,
                    ..PriorParams::default()
                }
            }),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// P is the defined distribution over the eligible items: each item's probability, the
    /// ranking, and the mass below every trie node agree with brute force.
    #[test]
    fn probabilities_rankings_and_node_masses_follow_the_definition(
        (n, sequences, holdout, history, exclude, allow, params) in arb_case()
    ) {
        let c = catalogue(n, &sequences, holdout);
        let mut filter = ItemFilter::none().exclude(exclude).exclude(history.iter().copied());
        if let Some(allow) = allow {
            filter = filter.allow(allow);
        }
        let prior = HistoryPrior::new(&c, &history, &filter, &params).unwrap();
        let want = brute_force(&c, &sequences, holdout, &history, &filter, &params);
        let mut total = 0.0;
        for index in 0..c.len() {
            let id = c.item_id(index).unwrap();
            let got = prior.probability(index).unwrap();
            let expected = want.get(&id).copied().unwrap_or(0.0);
            prop_assert!((got - expected).abs() < 1e-12, "item {}: {} vs {}", id, got, expected);
            total += got;
        }
        if !want.is_empty() {
            prop_assert!((total - 1.0).abs() < 1e-9, "probabilities sum to {}", total);
        }
        let reached = (0..c.len()).filter(|&index| prior.transition_mass(index) > 0.0).count();
        prop_assert_eq!(prior.successors(), reached);

        // Ranking: every eligible item of positive probability, by P, then popularity, then id.
        let table = c.transitions().unwrap();
        let mut expected: Vec<(u32, f64, u32)> = want
            .iter()
            .filter(|(_, &p)| p > 0.0)
            .map(|(&id, &p)| (id, p, table.popularity(c.item_index(id).unwrap()).unwrap()))
            .collect();
        expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        for k in [1, 3, n as usize] {
            let got: Vec<u32> = prior.rank(k).unwrap().iter().map(|r| r.item).collect();
            let want_ids: Vec<u32> = expected.iter().take(k).map(|e| e.0).collect();
            prop_assert_eq!(got, want_ids);
        }

        // Node masses: the sum of P over the eligible items below each node.
        let trie = c.token_trie().unwrap();
        let masses = prior.node_masses(&trie).unwrap();
        let mut below: HashMap<u32, f64> = HashMap::new();
        for index in 0..c.len() {
            let p = prior.probability(index).unwrap();
            let mut node = Some(trie.leaf_of(c.item_tid_index(index).unwrap() as u32).unwrap());
            while let Some(x) = node {
                *below.entry(x).or_default() += p;
                node = trie.parent(x).unwrap();
            }
        }
        for node in 0..trie.node_count() as u32 {
            let got = masses.mass(node).unwrap();
            let expected = below.get(&node).copied().unwrap_or(0.0);
            prop_assert!((got - expected).abs() < 1e-9, "node {}: {} vs {}", node, got, expected);
        }
    }

    /// An item seen only among users' held-out items never gets transition mass: it is no
    /// stored successor, and no history leads to it.
    #[test]
    fn items_seen_only_in_held_out_positions_get_no_transition_mass(
        (n, sequences, holdout, history, _, _, params) in arb_case()
    ) {
        let c = catalogue(n, &sequences, holdout);
        let counted: std::collections::HashSet<u32> =
            sequences.iter().flat_map(|s| s.counted(holdout).iter().copied()).collect();
        let table = c.transitions().unwrap();
        let filter = ItemFilter::none();
        let prior = HistoryPrior::new(&c, &history, &filter, &params).unwrap();
        for index in 0..c.len() {
            let id = c.item_id(index).unwrap();
            if counted.contains(&id) {
                continue;
            }
            prop_assert_eq!(prior.transition_mass(index), 0.0, "item {}", id);
            prop_assert_eq!(table.popularity(index).unwrap(), 0);
            for from in 0..c.len() {
                let (items, _) = table.successors(from).unwrap();
                prop_assert!(items.iter().all(|j| j.get() as usize != index));
            }
        }
    }
}

#[test]
fn parameters_out_of_range_are_refused_by_name() {
    let ok = PriorParams::default();
    assert!(ok.validate().is_ok());
    for (params, needle) in [
        (
            PriorParams {
                weight: Some(-1.0),
                ..ok
            },
            "weight",
        ),
        (
            PriorParams {
                weight: Some(f64::NAN),
                ..ok
            },
            "weight",
        ),
        (
            PriorParams {
                weight: Some(f64::INFINITY),
                ..ok
            },
            "weight",
        ),
        (PriorParams { window: 0, ..ok }, "window"),
        (PriorParams { decay: 0.0, ..ok }, "decay"),
        (PriorParams { decay: 1.5, ..ok }, "decay"),
        (PriorParams { decay: f64::NAN, ..ok }, "decay"),
        (PriorParams { smoothing: -0.1, ..ok }, "smoothing"),
        (
            PriorParams {
                smoothing: f64::NAN,
                ..ok
            },
            "smoothing",
        ),
        (PriorParams { evidence: -0.5, ..ok }, "evidence"),
        (
            PriorParams {
                evidence: f64::NAN,
                ..ok
            },
            "evidence",
        ),
        (
            PriorParams {
                cold_margin: f64::NAN,
                ..ok
            },
            "cold margin",
        ),
    ] {
        let e = params.validate().unwrap_err();
        assert!(e.contains(needle), "{params:?}: {e}");
    }
    // Either infinite margin is a rule: the slots always open, or never take a filled place.
    for cold_margin in [f64::NEG_INFINITY, f64::INFINITY] {
        assert!(PriorParams { cold_margin, ..ok }.validate().is_ok());
    }
    assert_eq!(ok.weight_for(true), Some(DEFAULT_WEIGHT));
    assert_eq!(ok.weight_for(false), Some(0.0));
    let asked = PriorParams {
        weight: Some(2.0),
        ..ok
    };
    assert_eq!(
        asked.weight_for(false),
        None,
        "a weight asked of a catalogue without a prior"
    );
    assert_eq!(
        PriorParams {
            weight: Some(0.0),
            ..ok
        }
        .weight_for(false),
        Some(0.0)
    );
}

#[test]
fn the_evidence_scale_shrinks_the_prior_part_with_the_transition_mass() {
    let constant = PriorParams::default();
    let product = |weight| Some(Combine::Product { weight });
    assert_eq!(
        constant.combine(32.0, 0.0),
        product(32.0),
        "κ = 0 keeps λ whatever the evidence"
    );
    assert_eq!(constant.combine(0.0, 5.0), None, "λ = 0: the model alone");
    let scaled = PriorParams {
        evidence: 4.0,
        ..constant
    };
    assert_eq!(scaled.combine(32.0, 0.0), None, "no evidence: the model alone");
    assert_eq!(scaled.combine(32.0, 4.0), product(16.0), "half the weight at ΣT = κ");
    assert!(matches!(scaled.combine(32.0, 1e9), Some(Combine::Product { weight }) if weight > 31.99));

    let mixture = PriorParams {
        fusion: Fusion::Mixture,
        model_share: 0.25,
        ..constant
    };
    let share = |prior_share| Some(Combine::Mixture { prior_share });
    assert_eq!(mixture.combine(32.0, 0.0), share(0.75), "λ only switches the prior on");
    assert_eq!(mixture.combine(1.0, 0.0), share(0.75));
    assert_eq!(mixture.combine(0.0, 3.0), None);
    assert_eq!(
        PriorParams {
            model_share: 1.0,
            ..mixture
        }
        .combine(32.0, 3.0),
        None
    );
    let scaled = PriorParams {
        evidence: 4.0,
        ..mixture
    };
    assert_eq!(scaled.combine(32.0, 4.0), share(0.375));
    assert_eq!(scaled.combine(32.0, 0.0), None);
    for bad in [-0.1, 1.5, f64::NAN] {
        let e = PriorParams {
            model_share: bad,
            ..mixture
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("model share"), "{e}");
    }
}

#[test]
fn a_catalogue_without_a_prior_says_so() {
    let mut b = CatalogBuilder::new();
    b.add(1, Tid::parse("[a, b]", None).unwrap(), None).unwrap();
    let c = Catalog::from_bytes(b.to_bytes().unwrap()).unwrap();
    let filter = ItemFilter::none();
    let e = HistoryPrior::new(&c, &[1], &filter, &PriorParams::default()).unwrap_err();
    assert!(matches!(e, CatalogError::MissingSection("Prior")), "{e}");
}
