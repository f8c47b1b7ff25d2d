//! The grounding search (formula and guarantees in the module above).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::fuzzy::{term_matches, TermMatch};
use super::{Grounded, Method};
use crate::catalog::format::SectionKind;
use crate::catalog::le::U32Le;
use crate::catalog::{Catalog, CatalogError};
use crate::filter::ItemFilter;
use crate::tid::{Tid, MAX_TID_LEN};

/// Credit for a query term found `d` positions away from where the query has it.
pub const DECAY: [f32; 5] = [1.0, 0.7, 0.5, 0.4, 0.3];
const FAR_DECAY: f32 = 0.25;
/// TIDs read from a list per batch.
const BATCH: usize = 32;
/// Lists at least this long are swept for pairs rather than scored entry by entry, once
/// the threshold allows it.
const PAIR_MODE_MIN_LEN: usize = 256;
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
    /// TIDs already scored in this query.
    seen: BitSet,
    /// TIDs met once in the pair sweep.
    once: BitSet,
    matches: Vec<Vec<TermMatch>>,
    /// All matches of all query terms in one list, for scoring a TID in one pass.
    flat: Vec<FlatMatch>,
    scratch: Vec<TermMatch>,
    /// Queries that switched to the pair sweep, so that tests can tell that they reached it.
    pair_sweeps: usize,
}

#[derive(Clone, Copy)]
struct FlatMatch {
    term: u32,
    query_position: usize,
    similarity: f32,
}

/// One bit per TID. A bitset rather than per-TID stamps so that it stays in cache on large
/// catalogues (1M TIDs: 125 KiB); `touched` lists the words to clear for the next query.
struct BitSet {
    words: Vec<u64>,
    touched: Vec<u32>,
}

impl BitSet {
    fn new(bits: usize) -> Self {
        BitSet {
            words: vec![0; bits.div_ceil(64)],
            touched: Vec::new(),
        }
    }

    /// Clears every bit, resizing for `bits` bits.
    fn reset(&mut self, bits: usize) {
        if self.words.len() != bits.div_ceil(64) {
            *self = BitSet::new(bits);
        }
        for &w in &self.touched {
            self.words[w as usize] = 0;
        }
        self.touched.clear();
    }

    /// Sets bit `i` (which must be in range); returns whether it was already set.
    #[inline]
    fn insert(&mut self, i: usize) -> bool {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        let w = &mut self.words[word];
        let was = *w & bit != 0;
        if *w == 0 {
            self.touched.push(word as u32);
        }
        *w |= bit;
        was
    }

    #[inline]
    fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1u64 << (i % 64)) != 0
    }
}

/// The catalogue tables the search reads in its inner loops, taken once per query, and the
/// query's score divisor.
struct Tables<'c> {
    /// The score divisor of this query: `max(query terms, TID length)`.
    norm: f32,
    tid_len: usize,
    tid_count: usize,
    rows: &'c [U32Le],
    catalog: &'c Catalog,
}

impl<'c> Tables<'c> {
    fn new(catalog: &'c Catalog, query_len: usize) -> Self {
        Tables {
            norm: query_len.max(catalog.tid_len()) as f32,
            tid_len: catalog.tid_len(),
            tid_count: catalog.tid_count(),
            rows: catalog.u32s(SectionKind::TidTerms),
            catalog,
        }
    }

    /// `tid` if it is a valid TID index, else the error for a corrupt postings list.
    fn check(&self, tid: usize) -> Result<usize, CatalogError> {
        if tid < self.tid_count {
            Ok(tid)
        } else {
            Err(corrupt("PosPostings", tid))
        }
    }

    /// External ids of the items carrying `tid`.
    fn items_of(&self, tid: usize) -> Result<impl Iterator<Item = u32> + 'c, CatalogError> {
        Ok(self.catalog.tid_members(tid)?.map(|(_, id)| id))
    }
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

/// The best `k` eligible items found so far, ranked by score then ascending item id.
struct TopK<'f> {
    k: usize,
    filter: &'f ItemFilter,
    heap: BinaryHeap<Ranked>,
}

impl<'f> TopK<'f> {
    fn new(k: usize, filter: &'f ItemFilter) -> Self {
        TopK {
            k,
            filter,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// The k-th score once `k` items are held: what a new item must reach.
    fn threshold(&self) -> Option<f32> {
        self.heap.peek().filter(|_| self.heap.len() >= self.k).map(|w| w.score)
    }

    /// Offers the eligible items of TID `tid`, all scoring `score`.
    fn offer(&mut self, tid: usize, score: f32, tables: &Tables<'_>) -> Result<(), CatalogError> {
        if self.threshold().is_some_and(|t| score < t) {
            return Ok(());
        }
        for item in tables.items_of(tid)? {
            if !self.filter.permits(item) {
                continue;
            }
            let candidate = Ranked { score, item };
            if self.heap.len() < self.k {
                self.heap.push(candidate);
            } else if self.heap.peek().is_some_and(|w| candidate < *w) {
                self.heap.pop();
                self.heap.push(candidate);
            }
        }
        Ok(())
    }

    /// The kept items, best first.
    fn into_sorted(self) -> Vec<Ranked> {
        let mut ranked = self.heap.into_vec();
        ranked.sort();
        ranked
    }
}

impl<'c> Grounder<'c> {
    /// A grounder for `catalog`.
    pub fn new(catalog: &'c Catalog) -> Self {
        Grounder {
            catalog,
            seen: BitSet::new(0),
            once: BitSet::new(0),
            matches: Vec::new(),
            flat: Vec::new(),
            scratch: Vec::new(),
            pair_sweeps: 0,
        }
    }

    /// How many of this grounder's queries so far swept long lists for pairs (see
    /// `structural`): a diagnostic of how often a catalogue's lists are long enough to need it.
    pub fn pair_sweeps(&self) -> usize {
        self.pair_sweeps
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
        self.seen.reset(self.catalog.tid_count());
        self.resolve_terms(query)?;

        // Direct mapping.
        let exact: Option<Vec<u32>> = self
            .matches
            .iter()
            .map(|m| m.first().filter(|m| m.similarity == 1.0).map(|m| m.term))
            .collect();
        if let Some(tid) = exact.and_then(|ids| self.catalog.find_tid(&ids)) {
            self.seen.insert(tid);
            for item in Tables::new(self.catalog, query.len()).items_of(tid)? {
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

    /// Marks `tid` as scored; returns false if it already was.
    #[inline]
    fn mark_seen(&mut self, tid: usize) -> bool {
        !self.seen.insert(tid)
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

    /// Scores `tids` (at most [`BATCH`], all unseen until now) and offers their items to
    /// `top`. The rows are gathered first so that their cache misses overlap instead of
    /// following one another.
    fn score_batch(&self, tids: &[usize], tables: &Tables<'_>, top: &mut TopK<'_>) -> Result<(), CatalogError> {
        let l = tables.tid_len;
        let mut rows = [0u32; BATCH * MAX_TID_LEN];
        for (b, &tid) in tids.iter().enumerate() {
            let row = tables
                .rows
                .get(tid * l..(tid + 1) * l)
                .ok_or_else(|| corrupt("TidTerms", tid))?;
            for (slot, term) in rows[b * l..].iter_mut().zip(row) {
                *slot = term.get();
            }
        }
        for (b, &tid) in tids.iter().enumerate() {
            top.offer(tid, self.row_score(&rows[b * l..(b + 1) * l]) / tables.norm, tables)?;
        }
        Ok(())
    }

    /// Pair mode: scores the unseen TIDs of `list` that were already met in a list swept
    /// before (in this query), and remembers the others as met once.
    fn sweep_for_pairs(&mut self, list: &[U32Le], tables: &Tables<'_>, top: &mut TopK<'_>) -> Result<(), CatalogError> {
        let mut fresh = Vec::with_capacity(BATCH);
        for &tid in list {
            let tid = tables.check(tid.get() as usize)?;
            let met_before = self.once.insert(tid);
            if !met_before || self.seen.contains(tid) {
                continue;
            }
            self.seen.insert(tid);
            fresh.push(tid);
            if fresh.len() == BATCH {
                self.score_batch(&fresh, tables, top)?;
                fresh.clear();
            }
        }
        self.score_batch(&fresh, tables, top)
    }

    /// MaxScore over (term, position) lists, then pair detection for the long tail.
    ///
    /// Each list is bounded by what a TID found there can score for its query term
    /// (`similarity · DECAY[|i − j|]`). Per query term the lists are taken in descending
    /// bound order, so an unseen TID scores at most Σ_i (first unprocessed bound of i): once
    /// that falls below the k-th score, the search stops. Lists are read shortest first and
    /// every new TID is scored exactly from its stored terms.
    ///
    /// When the next list is long and no single remaining list can lift an unseen TID to the
    /// k-th score, an unseen TID that matters must appear in at least two remaining lists.
    /// From then on lists are only swept (one bit per TID, in cache) and a TID is scored when
    /// met a second time: a sequential scan instead of a random row read per entry. The stop
    /// rule then also covers TIDs met once: their swept bound plus the unread lists' bounds.
    fn structural(&mut self, k: usize, filter: &ItemFilter, out: &mut Vec<Grounded>) -> Result<(), CatalogError> {
        let catalog = self.catalog;
        let tables = Tables::new(catalog, self.matches.len());
        let norm = tables.norm;
        let mut sources: Vec<Vec<Source>> = Vec::with_capacity(self.matches.len());
        for (i, matches) in self.matches.iter().enumerate() {
            let mut list = Vec::new();
            for m in matches {
                for j in 0..catalog.tid_len() {
                    let len = catalog.pos_postings(j, m.term)?.len();
                    if len > 0 {
                        let bound = m.similarity * decay(i.abs_diff(j));
                        list.push(Source {
                            term: m.term,
                            position: j,
                            len,
                            bound,
                        });
                    }
                }
            }
            list.sort_by(|a, b| b.bound.total_cmp(&a.bound).then(a.len.cmp(&b.len)));
            sources.push(list);
        }
        let mut next = vec![0usize; sources.len()];
        let mut top = TopK::new(k, filter);
        let mut fresh = Vec::with_capacity(BATCH);
        // Pair mode, once entered: per query term, the largest bound of its lists swept so far.
        let mut swept: Option<Vec<f32>> = None;
        loop {
            // Of the sources that bound their query term now, process the shortest.
            let frontier = (0..sources.len())
                .filter_map(|i| sources[i].get(next[i]).map(|s| (s.len, i)))
                .min();
            let Some((len, i)) = frontier else { break };
            if let Some(threshold) = top.threshold() {
                let unread = |i: usize| sources[i].get(next[i]).map_or(0.0, |s| s.bound / norm);
                let reachable: f32 = (0..sources.len()).map(unread).sum();
                // An unseen TID met once, in a swept list of term i, holds at most that list's
                // bound for term i (lists of a term are read in descending bound order) plus
                // the unread bounds of the other terms.
                let met_once = swept.as_ref().map_or(0.0, |max| {
                    (0..sources.len())
                        .filter(|&i| max[i] > 0.0)
                        .map(|i| max[i] + reachable - unread(i))
                        .fold(0.0, f32::max)
                });
                if reachable.max(met_once) + SCORE_EPSILON < threshold {
                    break;
                }
                let single = (0..sources.len()).map(unread).fold(0.0, f32::max);
                if swept.is_none() && len >= PAIR_MODE_MIN_LEN && single + SCORE_EPSILON < threshold {
                    swept = Some(vec![0.0; sources.len()]);
                    self.once.reset(tables.tid_count);
                    self.pair_sweeps += 1;
                }
            }
            let source = sources[i][next[i]];
            next[i] += 1;
            let list = catalog.pos_postings(source.position, source.term)?;
            if let Some(max) = swept.as_mut() {
                max[i] = max[i].max(source.bound / norm);
                self.sweep_for_pairs(list, &tables, &mut top)?;
                continue;
            }
            for chunk in list.chunks(BATCH) {
                fresh.clear();
                for &tid in chunk {
                    let tid = tables.check(tid.get() as usize)?;
                    if self.mark_seen(tid) {
                        fresh.push(tid);
                    }
                }
                self.score_batch(&fresh, &tables, &mut top)?;
            }
        }
        out.extend(top.into_sorted().into_iter().map(|r| Grounded {
            item: r.item,
            score: r.score,
            method: Method::Structural,
        }));
        Ok(())
    }
}
