//! The grounding search (formula and guarantees in the module above).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::fuzzy::{term_matches, TermMatch};
use super::{Grounded, ItemFilter, Method};
use crate::catalog::{Catalog, CatalogError};
use crate::tid::Tid;

/// Credit for a query term found `d` positions away from where the query has it.
pub const DECAY: [f32; 5] = [1.0, 0.7, 0.5, 0.4, 0.3];
const FAR_DECAY: f32 = 0.25;
/// Slack for float rounding when comparing a bound with a score summed in another order.
const SCORE_EPSILON: f32 = 1e-5;

fn decay(d: usize) -> f32 {
    DECAY.get(d).copied().unwrap_or(FAR_DECAY)
}

/// Grounds queries against one catalogue, reusing its scratch memory between calls.
///
/// Not `Sync`: use one per thread (it is cheap; the catalogue itself is shared).
pub struct Grounder<'c> {
    catalog: &'c Catalog,
    /// Per-TID stamp: equal to `generation` when the TID was already scored in this query.
    seen: Vec<u32>,
    generation: u32,
    matches: Vec<Vec<TermMatch>>,
    scratch: Vec<TermMatch>,
}

/// A kept result; the heap's top is the worst (lowest score, then highest item id).
#[derive(Clone, Copy, PartialEq)]
struct Ranked {
    score: f32,
    item: u32,
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then(self.item.cmp(&other.item))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<'c> Grounder<'c> {
    /// A grounder for `catalog`.
    pub fn new(catalog: &'c Catalog) -> Self {
        Grounder { catalog, seen: Vec::new(), generation: 0, matches: Vec::new(), scratch: Vec::new() }
    }

    /// The catalogue this grounder reads.
    pub fn catalog(&self) -> &'c Catalog {
        self.catalog
    }

    /// At most `k` eligible items for `query`, best first: direct matches, then structural
    /// ones by descending score and ascending item id. Deterministic for a given catalogue.
    pub fn ground(&mut self, query: &Tid, k: usize, filter: &ItemFilter) -> Result<Vec<Grounded>, CatalogError> {
        let mut out = Vec::new();
        if k == 0 {
            return Ok(out);
        }
        self.next_generation();
        self.resolve_terms(query);

        // Direct mapping.
        let exact: Option<Vec<u32>> = self
            .matches
            .iter()
            .map(|m| m.first().filter(|m| m.similarity == 1.0).map(|m| m.term))
            .collect();
        if let Some(tid) = exact.and_then(|ids| self.catalog.find_tid(&ids)) {
            self.seen[tid] = self.generation;
            for &index in self.catalog.tid_items(tid)? {
                let item = self.item_id(index.get())?;
                if filter.permits(item) && out.len() < k {
                    out.push(Grounded { item, score: 1.0, method: Method::Direct });
                }
            }
        }
        if out.len() < k {
            self.structural(k - out.len(), filter, &mut out)?;
        }
        Ok(out)
    }

    fn next_generation(&mut self) {
        let t = self.catalog.tid_count();
        if self.seen.len() != t || self.generation == u32::MAX {
            self.seen.clear();
            self.seen.resize(t, 0);
            self.generation = 0;
        }
        self.generation += 1;
    }

    fn resolve_terms(&mut self, query: &Tid) {
        let n = query.len();
        self.matches.resize_with(n, Vec::new);
        self.matches.truncate(n);
        for (i, term) in query.terms().iter().enumerate() {
            term_matches(self.catalog, term.as_str(), &mut self.scratch);
            self.matches[i].clear();
            self.matches[i].extend_from_slice(&self.scratch);
        }
    }

    fn item_id(&self, index: u32) -> Result<u32, CatalogError> {
        self.catalog
            .item_id(index as usize)
            .ok_or_else(|| CatalogError::corrupt("TidItems", format!("item index {index} out of range")))
    }

    /// Exact score of TID `tid` (formula in the module docs), before normalisation.
    fn raw_score(&self, tid: usize) -> Result<f32, CatalogError> {
        let row = self.catalog.tid_row(tid)?;
        let mut total = 0.0f32;
        for (i, matches) in self.matches.iter().enumerate() {
            let mut best = 0.0f32;
            for (j, term) in row.iter().enumerate() {
                let term = term.get();
                if let Some(m) = matches.iter().find(|m| m.term == term) {
                    best = best.max(m.similarity * decay(i.abs_diff(j)));
                }
            }
            total += best;
        }
        Ok(total)
    }

    fn structural(&mut self, k: usize, filter: &ItemFilter, out: &mut Vec<Grounded>) -> Result<(), CatalogError> {
        let norm = self.matches.len().max(self.catalog.tid_len()) as f32;
        // One candidate source per query term: the union of its matches' postings; its upper
        // bound is the best similarity among them (decay ≤ 1).
        let mut sources: Vec<(usize, usize, f32)> = Vec::with_capacity(self.matches.len());
        for (i, matches) in self.matches.iter().enumerate() {
            if matches.is_empty() {
                continue;
            }
            let mut len = 0usize;
            for m in matches {
                len += self.catalog.term_postings(m.term)?.len();
            }
            let bound = matches.iter().map(|m| m.similarity).fold(0.0, f32::max);
            sources.push((len, i, bound));
        }
        sources.sort_by_key(|&(len, i, _)| (len, i));

        let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
        for (next, &(_, i, _)) in sources.iter().enumerate() {
            if let (true, Some(worst)) = (heap.len() >= k, heap.peek()) {
                // The best an unseen TID can reach: it holds none of the terms processed so far.
                let reachable: f32 = sources[next..].iter().map(|s| s.2).sum::<f32>() / norm;
                if reachable + SCORE_EPSILON < worst.score {
                    break;
                }
            }
            for m_index in 0..self.matches[i].len() {
                let term = self.matches[i][m_index].term;
                for &tid in self.catalog.term_postings(term)? {
                    let tid = tid.get() as usize;
                    match self.seen.get_mut(tid) {
                        Some(stamp) if *stamp != self.generation => *stamp = self.generation,
                        Some(_) => continue,
                        None => return Err(CatalogError::corrupt("TermPostings", format!("TID {tid} out of range"))),
                    }
                    let score = self.raw_score(tid)? / norm;
                    if heap.len() >= k && heap.peek().is_some_and(|w| score < w.score) {
                        continue;
                    }
                    for &index in self.catalog.tid_items(tid)? {
                        let item = self.item_id(index.get())?;
                        if !filter.permits(item) {
                            continue;
                        }
                        let candidate = Ranked { score, item };
                        if heap.len() < k {
                            heap.push(candidate);
                        } else if heap.peek().is_some_and(|w| candidate < *w) {
                            heap.pop();
                            heap.push(candidate);
                        }
                    }
                }
            }
        }
        let mut ranked = heap.into_vec();
        ranked.sort();
        out.extend(ranked.into_iter().map(|r| Grounded { item: r.item, score: r.score, method: Method::Structural }));
        Ok(())
    }
}
