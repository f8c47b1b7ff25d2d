//! Leave-one-out evaluation, the paper's protocol: for each user the target is the last item
//! (test split) or the one before it (validation split) and everything before the target is
//! the history; a hit is the target among the top K.
//!
//! - [`sample_users`]: a seeded sample of users.
//! - [`Metrics`]: Recall@{1,5,10,20}, NDCG@{5,10,20} with 95% intervals, and for generated
//!   TIDs the valid and direct-hit rates.
//! - [`mcnemar`]: the paired test of two methods on the same users.
//! - [`Popularity`]: the most-interacted items (counted without any target), the baseline
//!   every model must beat.
//! - [`check_prior`]: refuses a catalogue whose prior counted the targets a split scores.

#![deny(missing_docs)]

use std::collections::{BTreeSet, HashMap};

use grlm_core::catalog::transitions::counts_fingerprint;
use grlm_core::catalog::{Catalog, TransitionCounts};
use grlm_core::sequences::{without_items, Sequence, Split};

/// Indices of `n` sequences long enough for `split` (a history and a target), chosen with
/// `seed`, in file order; all of them when there are at most `n`. On data where every user
/// has three items or more, both splits draw the same users.
pub fn sample_users(sequences: &[Sequence], n: usize, seed: u64, split: Split) -> Vec<usize> {
    let eligible: Vec<usize> = (0..sequences.len())
        .filter(|&i| sequences[i].split(split).is_some())
        .collect();
    grlm_core::rng::sample_sorted(eligible, n, seed)
}

/// Why a catalogue's prior may not score a split's targets.
#[derive(Debug, thiserror::Error)]
pub enum PriorCheckError {
    /// The prior counted items the split uses as targets.
    #[error("the catalogue's prior held out only the last {held_out} item(s) of each sequence, but the {split} split's targets are its last {needed}: rebuild the catalogue with --holdout {needed}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    HoldoutTooSmall {
        held_out: u32,
        split: &'static str,
        needed: usize,
    },
    /// The prior was counted from other sequences.
    #[error("the catalogue's prior was not counted from these sequences (fingerprint {stored:016x}, these give {actual:016x}): build the catalogue with --sequences from the file you evaluate on")]
    #[allow(missing_docs)] // the fields are named for what they hold
    OtherSequences { stored: u64, actual: u64 },
}

/// Checks that the catalogue's prior (if it has one) never counted a target of `split`: it
/// held out at least the split's items and was counted from exactly these `sequences`, read
/// as if `new_items` had never been bought (as `grlm catalog build --new-items` counts
/// them; empty when there are none). Costs one counting pass over the sequences.
pub fn check_prior(
    catalog: &Catalog,
    sequences: &[Sequence],
    split: Split,
    new_items: &BTreeSet<u32>,
) -> Result<(), PriorCheckError> {
    let Some(prior) = catalog.transitions() else {
        return Ok(());
    };
    if (prior.holdout() as usize) < split.holdout() {
        return Err(PriorCheckError::HoldoutTooSmall {
            held_out: prior.holdout(),
            split: split.name(),
            needed: split.holdout(),
        });
    }
    let holdout = prior.holdout() as usize;
    let counts = TransitionCounts::from_sequences(&without_items(sequences, holdout, new_items), holdout);
    let ids: Vec<u32> = (0..catalog.len()).filter_map(|i| catalog.item_id(i)).collect();
    let actual = counts_fingerprint(&counts, &ids, prior.max_successors());
    if actual != prior.fingerprint() {
        return Err(PriorCheckError::OtherSequences {
            stored: prior.fingerprint(),
            actual,
        });
    }
    Ok(())
}

/// McNemar's exact test of two methods on the same users: `only_a` users only the first one
/// hits, `only_b` only the second. The two-sided p-value of a binomial test on those
/// discordant users (1 when there are none).
pub fn mcnemar(only_a: u64, only_b: u64) -> f64 {
    let n = only_a + only_b;
    if n == 0 {
        return 1.0;
    }
    // ln C(n, i) summed in log space: exact for any n a run produces.
    let ln_choose = |i: u64| -> f64 { ln_factorial(n) - ln_factorial(i) - ln_factorial(n - i) };
    let tail: f64 = (0..=only_a.min(only_b))
        .map(|i| (ln_choose(i) - n as f64 * std::f64::consts::LN_2).exp())
        .sum();
    (2.0 * tail).min(1.0)
}

fn ln_factorial(n: u64) -> f64 {
    (2..=n).map(|i| (i as f64).ln()).sum()
}

/// The Wilson score interval (95%) of a proportion of `hits` in `n`.
pub fn wilson_interval(hits: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, n) = (1.959_963_984_540_054, n as f64);
    let p = hits as f64 / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The cut-offs reported.
pub const RECALL_AT: [usize; 4] = [1, 5, 10, 20];
/// The NDCG cut-offs reported.
pub const NDCG_AT: [usize; 3] = [5, 10, 20];

/// Accumulated leave-one-out metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    users: usize,
    hits: [usize; 4],
    dcg: [f64; 3],
    /// Σ of each user's DCG squared, for the interval.
    dcg_squares: [f64; 3],
    generated: usize,
    valid: usize,
    direct: usize,
}

impl Metrics {
    /// Records one user: the 0-based rank of the target in the returned list, if present.
    pub fn add(&mut self, rank: Option<usize>) {
        self.users += 1;
        let Some(rank) = rank else { return };
        for (hits, &k) in self.hits.iter_mut().zip(&RECALL_AT) {
            if rank < k {
                *hits += 1;
            }
        }
        for ((dcg, squares), &k) in self.dcg.iter_mut().zip(&mut self.dcg_squares).zip(&NDCG_AT) {
            if rank < k {
                // One relevant item: the ideal DCG is 1.
                let gain = 1.0 / (rank as f64 + 2.0).log2();
                *dcg += gain;
                *squares += gain * gain;
            }
        }
    }

    /// Records generated TIDs (free mode): how many, how many parse, how many name a
    /// catalogue TID exactly.
    pub fn add_generated(&mut self, generated: usize, valid: usize, direct: usize) {
        self.generated += generated;
        self.valid += valid;
        self.direct += direct;
    }

    /// Users recorded.
    pub fn users(&self) -> usize {
        self.users
    }

    /// Recall (hit rate) at `k`, one of [`RECALL_AT`].
    pub fn recall(&self, k: usize) -> f64 {
        let i = RECALL_AT.iter().position(|&x| x == k).unwrap_or(0);
        self.hits[i] as f64 / self.users.max(1) as f64
    }

    /// NDCG at `k`, one of [`NDCG_AT`].
    pub fn ndcg(&self, k: usize) -> f64 {
        let i = NDCG_AT.iter().position(|&x| x == k).unwrap_or(0);
        self.dcg[i] / self.users.max(1) as f64
    }

    /// The 95% interval of recall at `k` (Wilson).
    pub fn recall_interval(&self, k: usize) -> (f64, f64) {
        let i = RECALL_AT.iter().position(|&x| x == k).unwrap_or(0);
        wilson_interval(self.hits[i], self.users)
    }

    /// The 95% interval of NDCG at `k` (normal approximation over users).
    pub fn ndcg_interval(&self, k: usize) -> (f64, f64) {
        let i = NDCG_AT.iter().position(|&x| x == k).unwrap_or(0);
        let n = self.users.max(1) as f64;
        let mean = self.dcg[i] / n;
        let variance = (self.dcg_squares[i] / n - mean * mean).max(0.0);
        let half = 1.959_963_984_540_054 * (variance / n).sqrt();
        ((mean - half).max(0.0), (mean + half).min(1.0))
    }

    /// Share of generated TIDs that parse as TIDs of the catalogue's length (1 when nothing
    /// was generated freely: constrained decoding only writes catalogue TIDs).
    pub fn valid_rate(&self) -> f64 {
        if self.generated == 0 {
            1.0
        } else {
            self.valid as f64 / self.generated as f64
        }
    }

    /// Share of generated TIDs that name a catalogue TID exactly (1 for constrained).
    pub fn direct_hit_rate(&self) -> f64 {
        if self.generated == 0 {
            1.0
        } else {
            self.direct as f64 / self.generated as f64
        }
    }

    /// The metrics as a JSON object with the keys `grlm eval` prints.
    pub fn to_json(&self, seconds: f64) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for k in RECALL_AT {
            map.insert(format!("recall@{k}"), self.recall(k).into());
        }
        for k in NDCG_AT {
            map.insert(format!("ndcg@{k}"), self.ndcg(k).into());
        }
        map.insert("valid_rate".into(), self.valid_rate().into());
        map.insert("direct_hit_rate".into(), self.direct_hit_rate().into());
        map.insert("users".into(), self.users.into());
        map.insert("seconds".into(), seconds.into());
        let mut intervals = serde_json::Map::new();
        for k in RECALL_AT {
            let (lo, hi) = self.recall_interval(k);
            intervals.insert(format!("recall@{k}"), serde_json::json!([lo, hi]));
        }
        for k in NDCG_AT {
            let (lo, hi) = self.ndcg_interval(k);
            intervals.insert(format!("ndcg@{k}"), serde_json::json!([lo, hi]));
        }
        map.insert("ci95".into(), serde_json::Value::Object(intervals));
        serde_json::Value::Object(map)
    }
}

/// The popularity baseline: items ranked by how often they occur in histories.
#[derive(Clone, Debug)]
pub struct Popularity {
    ranked: Vec<u32>,
}

impl Popularity {
    /// Counts every item of every sequence except its last `holdout` (the split's target
    /// and anything after it), so that no target leaks into the ranking. Ties: lower item
    /// id first.
    pub fn fit(sequences: &[Sequence], holdout: usize) -> Self {
        let mut counts: HashMap<u32, u64> = HashMap::new();
        for s in sequences {
            for &item in s.counted(holdout) {
                *counts.entry(item).or_default() += 1;
            }
        }
        let mut ranked: Vec<(u32, u64)> = counts.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Popularity {
            ranked: ranked.into_iter().map(|(item, _)| item).collect(),
        }
    }

    /// The `k` most popular items not in `exclude`.
    pub fn recommend(&self, exclude: &[u32], k: usize) -> Vec<u32> {
        self.ranked
            .iter()
            .copied()
            .filter(|item| !exclude.contains(item))
            .take(k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grlm_core::sequences::parse_sequences;

    #[test]
    fn mcnemar_matches_the_binomial_test() {
        assert_eq!(mcnemar(0, 0), 1.0);
        // 2 · P(X <= 1) for X ~ Bin(10, 1/2) = 2 · 11/1024.
        assert!((mcnemar(9, 1) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar(1, 9), mcnemar(9, 1));
        assert_eq!(mcnemar(5, 5), 1.0);
        // The quality run's numbers: 18 against 7 gives 0.043.
        assert!((mcnemar(18, 7) - 0.0433).abs() < 5e-4, "{}", mcnemar(18, 7));
        assert!(mcnemar(600, 400) < 1e-9);
    }

    #[test]
    fn intervals_cover_the_estimate_and_shrink_with_users() {
        let (lo, hi) = wilson_interval(22, 1000);
        assert!(lo < 0.022 && 0.022 < hi && lo > 0.013 && hi < 0.034, "{lo} {hi}");
        let (lo2, hi2) = wilson_interval(220, 10000);
        assert!(hi2 - lo2 < hi - lo);
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
        let mut m = Metrics::default();
        for r in [Some(0), None, Some(3), None, None] {
            m.add(r);
        }
        let (lo, hi) = m.ndcg_interval(10);
        assert!(lo <= m.ndcg(10) && m.ndcg(10) <= hi);
    }

    #[test]
    fn metrics_follow_the_definitions() {
        let mut m = Metrics::default();
        m.add(Some(0));
        m.add(Some(4));
        m.add(Some(12));
        m.add(None);
        assert_eq!(m.users(), 4);
        assert_eq!(m.recall(1), 0.25);
        assert_eq!(m.recall(5), 0.5);
        assert_eq!(m.recall(10), 0.5);
        assert_eq!(m.recall(20), 0.75);
        let ndcg5 = (1.0 + 1.0 / 6f64.log2()) / 4.0;
        assert!((m.ndcg(5) - ndcg5).abs() < 1e-12);
        assert!((m.ndcg(20) - (ndcg5 + 1.0 / 14f64.log2() / 4.0)).abs() < 1e-12);
        assert_eq!(m.valid_rate(), 1.0);
        m.add_generated(10, 9, 7);
        assert_eq!((m.valid_rate(), m.direct_hit_rate()), (0.9, 0.7));
    }

    #[test]
    fn popularity_never_counts_targets() {
        let seqs = parse_sequences(b"1 5 6 9\n2 5 9\n3 6 7 9\n").unwrap();
        let pop = Popularity::fit(&seqs, 1);
        // 9 is every user's target: it must not be ranked at all.
        assert_eq!(pop.recommend(&[], 10), vec![5, 6, 7]);
        assert_eq!(pop.recommend(&[5], 1), vec![6]);
    }

    #[test]
    fn sampling_is_seeded_and_skips_single_item_users() {
        let seqs = parse_sequences(b"1 1\n2 1 2\n3 1 2\n4 1 2\n5 1 2\n").unwrap();
        let a = sample_users(&seqs, 2, 7, Split::Test);
        assert_eq!(a, sample_users(&seqs, 2, 7, Split::Test));
        assert_eq!(a.len(), 2);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && !a.contains(&0));
        assert_eq!(sample_users(&seqs, 10, 1, Split::Test), vec![1, 2, 3, 4]);
    }
}
