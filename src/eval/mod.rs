//! Leave-one-out evaluation, the paper's protocol: for each user the last item is the
//! target and everything before it is the history; a hit is the target among the top K.
//!
//! - [`sample_users`]: a seeded sample of users.
//! - [`Metrics`]: Recall@{1,5,10,20}, NDCG@{5,10,20}, and for generated TIDs the valid and
//!   direct-hit rates.
//! - [`Popularity`]: the most-interacted items (over histories only, never targets), the
//!   baseline every model must beat.

use std::collections::HashMap;

use crate::sequences::Sequence;

/// Indices of `n` sequences with a history (two items or more), chosen with `seed`, in file
/// order; all of them when there are at most `n`.
pub fn sample_users(sequences: &[Sequence], n: usize, seed: u64) -> Vec<usize> {
    let eligible: Vec<usize> = (0..sequences.len())
        .filter(|&i| sequences[i].items.len() >= 2)
        .collect();
    crate::rng::sample_sorted(eligible, n, seed)
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
        for (dcg, &k) in self.dcg.iter_mut().zip(&NDCG_AT) {
            if rank < k {
                // One relevant item: the ideal DCG is 1.
                *dcg += 1.0 / (rank as f64 + 2.0).log2();
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
        serde_json::Value::Object(map)
    }
}

/// The popularity baseline: items ranked by how often they occur in histories.
#[derive(Clone, Debug)]
pub struct Popularity {
    ranked: Vec<u32>,
}

impl Popularity {
    /// Counts every item of every sequence except its last (the test target), so that no
    /// target leaks into the ranking. Ties: lower item id first.
    pub fn fit(sequences: &[Sequence]) -> Self {
        let mut counts: HashMap<u32, u64> = HashMap::new();
        for s in sequences {
            for &item in s.history() {
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
    use crate::sequences::parse_sequences;

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
        let pop = Popularity::fit(&seqs);
        // 9 is every user's target: it must not be ranked at all.
        assert_eq!(pop.recommend(&[], 10), vec![5, 6, 7]);
        assert_eq!(pop.recommend(&[5], 1), vec![6]);
    }

    #[test]
    fn sampling_is_seeded_and_skips_single_item_users() {
        let seqs = parse_sequences(b"1 1\n2 1 2\n3 1 2\n4 1 2\n5 1 2\n").unwrap();
        let a = sample_users(&seqs, 2, 7);
        assert_eq!(a, sample_users(&seqs, 2, 7));
        assert_eq!(a.len(), 2);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && !a.contains(&0));
        assert_eq!(sample_users(&seqs, 10, 1), vec![1, 2, 3, 4]);
    }
}
