//! The grounding search (formula and guarantees in the module above).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::fuzzy::{term_matches, TermMatch};
use super::{Grounded, ItemFilter, Method};
use crate::catalog::format::SectionKind;
use crate::catalog::{Catalog, CatalogError};
use crate::tid::{Tid, MAX_TID_LEN};

/// Credit for a query term found `d` positions away from where the query has it.
pub const DECAY: [f32; 5] = [1.0, 0.7, 0.5, 0.4, 0.3];
const FAR_DECAY: f32 = 0.25;
/// TIDs read from a list per batch.
const BATCH: usize = 32;
/// Slack for float rounding when comparing a bound with a score summed in another order.
const SCORE_EPSILON: f32 = 1e-5;

fn corrupt(section: &'static str, tid: usize) -> CatalogError {
    CatalogError::corrupt(section, format!("bad entry for TID {tid}"))
}

fn decay(d: usize) -> f32 {
    DECAY.get(d).copied().unwrap_or(FAR_DECAY)
}

/// Grounds queries against one catalogue, reusing its scratch memory between calls.
///
/// [`Grounder::ground`] takes `&mut self`: give each thread its own grounder (it is cheap;
/// the catalogue itself is shared).
pub struct Grounder<'c> {
    catalog: &'c Catalog,
    /// One bit per TID, set once the TID was scored in this query. A bitset (not stamps)
    /// so that it stays in cache on large catalogues; `touched` lists the words to clear.
    seen: Vec<u64>,
    touched: Vec<u32>,
    matches: Vec<Vec<TermMatch>>,
    /// All matches of all query terms in one list, for scoring a TID in one pass.
    flat: Vec<FlatMatch>,
    scratch: Vec<TermMatch>,
}

#[derive(Clone, Copy)]
struct FlatMatch {
    term: u32,
    query_position: usize,
    similarity: f32,
}

/// One inverted list a query term reads, and the most a TID found in it can score there.
#[derive(Clone, Copy)]
struct Source {
    term: u32,
    position: usize,
    len: usize,
    bound: f32,
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
        Grounder {
            catalog,
            seen: Vec::new(),
            touched: Vec::new(),
            matches: Vec::new(),
            flat: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The catalogue this grounder reads.
    pub fn catalog(&self) -> &'c Catalog {
        self.catalog
    }

    /// At most `k` eligible items for `query`, best first: direct matches, then structural
    /// ones by descending score and ascending item id. Deterministic for a given catalogue.
    pub fn ground(&mut self, query: &Tid, k: usize, filter: &ItemFilter) -> Result<Vec<Grounded>, CatalogError> {
        let mut out = Vec::new();
        // No query can return more items than the catalogue has; clamping keeps an absurd
        // `k` from sizing any allocation.
        let k = k.min(self.catalog.len());
        if k == 0 {
            return Ok(out);
        }
        self.reset_seen();
        self.resolve_terms(query)?;

        // Direct mapping.
        let exact: Option<Vec<u32>> = self
            .matches
            .iter()
            .map(|m| m.first().filter(|m| m.similarity == 1.0).map(|m| m.term))
            .collect();
        if let Some(tid) = exact.and_then(|ids| self.catalog.find_tid(&ids)) {
            self.mark_seen(tid);
            for &index in self.catalog.tid_items(tid)? {
                let item = self.item_id(index.get())?;
                if filter.permits(item) && out.len() < k {
                    out.push(Grounded {
                        item,
                        score: 1.0,
                        method: Method::Direct,
                    });
                }
            }
        }
        if out.len() < k {
            self.structural(k - out.len(), filter, &mut out)?;
        }
        Ok(out)
    }

    fn reset_seen(&mut self) {
        let words = self.catalog.tid_count().div_ceil(64);
        if self.seen.len() != words {
            self.seen = vec![0; words];
        } else {
            for &w in &self.touched {
                self.seen[w as usize] = 0;
            }
        }
        self.touched.clear();
    }

    /// Marks `tid` as scored; returns false if it already was. `tid < tid_count`.
    #[inline]
    fn mark_seen(&mut self, tid: usize) -> bool {
        let (word, bit) = (tid / 64, 1u64 << (tid % 64));
        let w = &mut self.seen[word];
        if *w & bit != 0 {
            return false;
        }
        if *w == 0 {
            self.touched.push(word as u32);
        }
        *w |= bit;
        true
    }

    fn resolve_terms(&mut self, query: &Tid) -> Result<(), CatalogError> {
        let n = query.len();
        self.matches.resize_with(n, Vec::new);
        self.matches.truncate(n);
        for (i, term) in query.terms().iter().enumerate() {
            term_matches(self.catalog, term.as_str(), &mut self.scratch)?;
            self.matches[i].clear();
            self.matches[i].extend_from_slice(&self.scratch);
        }
        self.flat.clear();
        for (i, matches) in self.matches.iter().enumerate() {
            self.flat.extend(matches.iter().map(|m| FlatMatch {
                term: m.term,
                query_position: i,
                similarity: m.similarity,
            }));
        }
        Ok(())
    }

    fn item_id(&self, index: u32) -> Result<u32, CatalogError> {
        self.catalog
            .item_id(index as usize)
            .ok_or_else(|| CatalogError::corrupt("TidItems", format!("item index {index} out of range")))
    }

    /// Exact score of a TID with term ids `row` (formula in the module docs), before
    /// normalisation.
    fn row_score(&self, row: &[u32]) -> f32 {
        let mut best = [0.0f32; MAX_TID_LEN];
        for (j, &term) in row.iter().enumerate() {
            for q in self.flat.iter().filter(|q| q.term == term) {
                let credit = q.similarity * decay(q.query_position.abs_diff(j));
                let slot = &mut best[q.query_position];
                *slot = slot.max(credit);
            }
        }
        // Summed in query order, so a score never depends on how its TID was found.
        best[..self.matches.len()].iter().sum()
    }

    fn structural(&mut self, k: usize, filter: &ItemFilter, out: &mut Vec<Grounded>) -> Result<(), CatalogError> {
        let catalog = self.catalog;
        let norm = self.matches.len().max(catalog.tid_len()) as f32;
        let l = catalog.tid_len();
        let tid_count = catalog.tid_count();
        // The hot loop reads these tables directly rather than through per-call accessors.
        let rows_table = catalog.u32s(SectionKind::TidTerms);
        let (item_offsets, tid_items) = (
            catalog.u32s(SectionKind::TidItemOffsets),
            catalog.u32s(SectionKind::TidItems),
        );
        let item_ids = catalog.u32s(SectionKind::ItemIds);
        // Sources: one (term, position) list per query term, match and catalogue position,
        // bounded by what a TID found there can score for that query term. Per query term
        // they are kept in descending bound order; a TID not yet seen can only score through
        // each term's unprocessed sources, so Σ_i (first unprocessed bound of i) bounds it.
        let mut sources: Vec<Vec<Source>> = Vec::with_capacity(self.matches.len());
        for (i, matches) in self.matches.iter().enumerate() {
            let mut list = Vec::new();
            for m in matches {
                for j in 0..self.catalog.tid_len() {
                    let len = self.catalog.pos_postings(j, m.term)?.len();
                    if len > 0 {
                        list.push(Source {
                            term: m.term,
                            position: j,
                            len,
                            bound: m.similarity * decay(i.abs_diff(j)),
                        });
                    }
                }
            }
            list.sort_by(|a, b| b.bound.total_cmp(&a.bound).then(a.len.cmp(&b.len)));
            sources.push(list);
        }
        let mut next = vec![0usize; sources.len()];
        let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
        loop {
            // Of the sources that bound their query term now, process the shortest.
            let frontier = (0..sources.len())
                .filter_map(|i| sources[i].get(next[i]).map(|s| (s.len, i)))
                .min();
            let Some((_, i)) = frontier else { break };
            if let (true, Some(worst)) = (heap.len() >= k, heap.peek()) {
                let reachable: f32 = (0..sources.len())
                    .filter_map(|i| sources[i].get(next[i]).map(|s| s.bound))
                    .sum::<f32>()
                    / norm;
                if reachable + SCORE_EPSILON < worst.score {
                    break;
                }
            }
            let source = sources[i][next[i]];
            next[i] += 1;
            let list = self.catalog.pos_postings(source.position, source.term)?;
            for chunk in list.chunks(BATCH) {
                // In batches, so that the random reads of many TIDs (their stamps, then their
                // rows) are in flight at once instead of one cache miss after another.
                let mut fresh = [0usize; BATCH];
                let mut n = 0;
                for &tid in chunk {
                    let tid = tid.get() as usize;
                    if tid >= tid_count {
                        return Err(corrupt("PosPostings", tid));
                    }
                    if !self.mark_seen(tid) {
                        continue;
                    }
                    fresh[n] = tid;
                    n += 1;
                }
                let mut rows = [0u32; BATCH * MAX_TID_LEN];
                for (b, &tid) in fresh[..n].iter().enumerate() {
                    let row = rows_table
                        .get(tid * l..(tid + 1) * l)
                        .ok_or_else(|| corrupt("TidTerms", tid))?;
                    for (slot, term) in rows[b * l..].iter_mut().zip(row) {
                        *slot = term.get();
                    }
                }
                for (b, &tid) in fresh[..n].iter().enumerate() {
                    let score = self.row_score(&rows[b * l..(b + 1) * l]) / norm;
                    if heap.len() >= k && heap.peek().is_some_and(|w| score < w.score) {
                        continue;
                    }
                    let start = item_offsets
                        .get(tid)
                        .ok_or_else(|| corrupt("TidItemOffsets", tid))?
                        .get() as usize;
                    let end = item_offsets
                        .get(tid + 1)
                        .ok_or_else(|| corrupt("TidItemOffsets", tid))?
                        .get() as usize;
                    for index in tid_items.get(start..end).ok_or_else(|| corrupt("TidItems", tid))? {
                        let index = index.get() as usize;
                        let item = item_ids.get(index).ok_or_else(|| corrupt("TidItems", tid))?.get();
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
        out.extend(ranked.into_iter().map(|r| Grounded {
            item: r.item,
            score: r.score,
            method: Method::Structural,
        }));
        Ok(())
    }
}
