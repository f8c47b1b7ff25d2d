//! The collaborative prior: how often shoppers went from one item straight to another, and
//! how often each item was bought, counted over the part of every user's sequence that no
//! evaluation target lies in. One optional catalogue section
//! ([`super::format::SectionKind::Prior`], since format 1.2); how a request turns it into a
//! distribution over items is `crate::prior`'s business.
//!
//! ```text
//! offset  size  field (all little-endian)
//!      0     8  magic "GRLMPRIO"
//!      8     4  holdout H: the last H items of every sequence were not counted
//!     12     4  successor cap C: most successors kept per item
//!     16     8  users counted (sequences with at least one counted item)
//!     24     8  steps: sum of the stored successor counts
//!     32     8  occurrences: sum of the stored popularity counts
//!     40     8  fingerprint: FNV-1a of the counted content (see `TransitionTable::fingerprint`)
//!     48     4  stored transitions E
//!     52     4  trie nodes M (0 when the catalogue has no token trie)
//!     56     4  item count N (equals the catalogue's)
//!     60     4  zero (reserved)
//!     64        popularity     u32 × N: occurrences of each item (item-index order)
//!               succ_offsets   u32 × (N+1): item i's successors are entries [i]..[i+1]
//!               succ_items     u32 × E: successor item indices, most frequent first, then
//!                              ascending index; at most C per item
//!               succ_counts    u32 × E: how often each followed (at least 1)
//!               pop_order      u32 × N: item indices by popularity, then ascending index
//!               node_pop       u64 × M: per trie node, Σ (popularity + 1) of its items
//! ```
//! Counts saturate at `u32::MAX`. `pop_order` lets a request rank the items no transition
//! reaches without sorting the catalogue; `node_pop` lets constrained decoding know the
//! prior mass under any trie prefix without visiting its subtree.

use std::io::BufRead;
use std::path::Path;

use rustc_hash::FxHashMap;

use super::input::{for_each_raw_line, InputError};
use super::le::{csr, extend_u32, read_u32, read_u64, u32_slice, u64_slice, Arrays, U32Le, U64Le};
use super::trie::TokenTrie;
use super::CatalogError;
use crate::fnv::Fnv64;
use crate::sequences::Sequence;

/// First bytes of the prior section.
pub const PRIOR_MAGIC: [u8; 8] = *b"GRLMPRIO";
const PRIOR_HEADER_LEN: usize = 64;
const SECTION: &str = "Prior";

/// Most successors kept per item unless the builder is told otherwise: far more than the
/// shared data sets need (Beauty's busiest item has 281 distinct successors, Sports' 629),
/// while bounding the section on logs where a few items are followed by everything.
pub const DEFAULT_MAX_SUCCESSORS: u32 = 1024;

/// Item-to-next-item counts and item popularity, by external item id, before they are
/// matched to a catalogue. Made from sequences ([`TransitionCounts::from_sequences`]) or
/// read from a counts file made where the logs live ([`TransitionCounts::parse_tsv`]);
/// the same counts give the same catalogue bytes either way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransitionCounts {
    users: u64,
    // Fx rather than SipHash: the keys are the caller's own ids, and counting a large log is
    // mostly hashing.
    popularity: FxHashMap<u32, u64>,
    transitions: FxHashMap<(u32, u32), u64>,
}

impl TransitionCounts {
    /// Counts every sequence without its last `holdout` items: each counted item once for
    /// popularity, each pair of consecutive counted items once as a transition. A user is
    /// counted when at least one of their items is.
    pub fn from_sequences(sequences: &[Sequence], holdout: usize) -> Self {
        let mut counts = TransitionCounts::default();
        for sequence in sequences {
            let counted = sequence.counted(holdout);
            if counted.is_empty() {
                continue;
            }
            counts.users += 1;
            for &item in counted {
                *counts.popularity.entry(item).or_default() += 1;
            }
            for pair in counted.windows(2) {
                *counts.transitions.entry((pair[0], pair[1])).or_default() += 1;
            }
        }
        counts
    }

    /// Reads a counts file ([`TransitionCounts::parse_tsv`]).
    pub fn read_tsv(path: &Path) -> Result<Self, InputError> {
        let file = std::fs::File::open(path).map_err(|source| InputError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_tsv(std::io::BufReader::new(file), path)
    }

    /// Parses a counts file: tab-separated rows of three fields, the last a count.
    ///
    /// ```text
    /// ITEM<TAB>NEXT<TAB>COUNT   NEXT directly followed ITEM COUNT times
    /// ITEM<TAB><TAB>COUNT       ITEM occurs COUNT times (its popularity)
    /// <TAB><TAB>USERS           the number of users counted (at most one such row)
    /// ```
    /// The rows of one key add up; blank lines are skipped. `path` only labels errors.
    pub fn parse_tsv(reader: impl BufRead, path: &Path) -> Result<Self, InputError> {
        let mut counts = TransitionCounts::default();
        let mut users_seen = false;
        for_each_raw_line(reader, path, |_, line| {
            if line.trim().is_empty() {
                return Ok(());
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [item, next, count] = fields[..] else {
                return Err(format!(
                    "{} tab-separated fields; a row is ITEM, NEXT (may be empty) and COUNT",
                    fields.len()
                ));
            };
            let id = |text: &str, what: &str| {
                text.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("{what} {text:?} is not an unsigned 32-bit item id"))
            };
            let count: u64 = count
                .trim()
                .parse()
                .map_err(|_| format!("count {count:?} is not an unsigned integer"))?;
            match (item.trim().is_empty(), next.trim().is_empty()) {
                (false, false) => {
                    let key = (id(item, "item")?, id(next, "next item")?);
                    let total = counts.transitions.entry(key).or_default();
                    *total = total.saturating_add(count);
                }
                (false, true) => {
                    let total = counts.popularity.entry(id(item, "item")?).or_default();
                    *total = total.saturating_add(count);
                }
                (true, true) if !users_seen => {
                    users_seen = true;
                    counts.users = count;
                }
                (true, true) => return Err("a second users row (empty ITEM and NEXT)".into()),
                (true, false) => return Err("a NEXT item without an ITEM".into()),
            }
            Ok(())
        })?;
        Ok(counts)
    }

    /// Users counted.
    pub fn users(&self) -> u64 {
        self.users
    }

    /// The number of distinct (item, next) pairs.
    pub fn pairs(&self) -> usize {
        self.transitions.len()
    }
}

/// What building a prior section kept and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TransitionReport {
    /// Users counted.
    pub users: u64,
    /// The last this many items of every sequence were held out.
    pub holdout: u32,
    /// Distinct (item, next) pairs stored.
    pub transitions: u64,
    /// Pairs dropped because their item already had `max_successors` more frequent ones.
    pub capped_transitions: u64,
    /// The successor cap.
    pub max_successors: u32,
    /// Occurrences and pairs naming items the catalogue does not have, left out.
    pub unknown_item_counts: u64,
    /// Size of the section.
    pub bytes: u64,
}

/// Builds the section for a catalogue whose external ids, in item-index order, are
/// `item_ids`. `item_tid` gives each item's TID index and `trie` the catalogue's token trie
/// bytes (when it has one), so that every trie node gets the popularity below it.
pub(crate) fn build_section(
    counts: &TransitionCounts,
    holdout: u32,
    max_successors: u32,
    item_ids: &[u32],
    item_tid: &[u32],
    trie: Option<TokenTrie<'_>>,
) -> Result<(Vec<u8>, TransitionReport), String> {
    let n = item_ids.len();
    // A hash lookup, not a binary search of the ids: one per pair end, 18M on a large log.
    let index: FxHashMap<u32, u32> = item_ids.iter().zip(0u32..).map(|(&id, i)| (id, i)).collect();
    let index_of = |id: u32| index.get(&id).copied();
    let saturate = |c: u64| u32::try_from(c).unwrap_or(u32::MAX);
    let mut report = TransitionReport {
        users: counts.users,
        holdout,
        max_successors,
        ..TransitionReport::default()
    };
    let mut popularity = vec![0u32; n];
    for (&id, &count) in &counts.popularity {
        match index_of(id) {
            Some(i) => popularity[i as usize] = saturate(count),
            None => report.unknown_item_counts += 1,
        }
    }
    // One flat list sorted into rows, rather than a vector per item: on a 1M-item catalogue
    // with 9M pairs, a million small allocations cost more than the sort.
    let mut pairs: Vec<(u32, u32, u32)> = Vec::with_capacity(counts.transitions.len());
    for (&(from, to), &count) in &counts.transitions {
        match (index_of(from), index_of(to)) {
            (Some(a), Some(b)) if count > 0 => pairs.push((a, b, saturate(count))),
            (Some(_), Some(_)) => {}
            _ => report.unknown_item_counts += 1,
        }
    }
    // Each row: most frequent successor first, then ascending index.
    pairs.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.2.cmp(&x.2)).then(x.1.cmp(&y.1)));
    let mut offsets = Vec::with_capacity(n + 1);
    let (mut succ_items, mut succ_counts) = (Vec::with_capacity(pairs.len()), Vec::with_capacity(pairs.len()));
    offsets.push(0u32);
    let mut rest = &pairs[..];
    for item in 0..n as u32 {
        let len = rest.iter().take_while(|pair| pair.0 == item).count();
        let (row, tail) = rest.split_at(len);
        rest = tail;
        let kept = len.min(max_successors as usize);
        report.capped_transitions += (len - kept) as u64;
        for &(_, successor, count) in &row[..kept] {
            succ_items.push(successor);
            succ_counts.push(count);
        }
        offsets.push(u32::try_from(succ_items.len()).map_err(|_| "more than 2^32 stored transitions".to_owned())?);
    }
    report.transitions = succ_items.len() as u64;
    let mut pop_order: Vec<u32> = (0..n as u32).collect();
    pop_order.sort_by(|&a, &b| popularity[b as usize].cmp(&popularity[a as usize]).then(a.cmp(&b)));
    let node_pop = match trie {
        Some(trie) => node_popularity(&trie, &popularity, item_tid).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };

    let steps: u64 = succ_counts.iter().map(|&c| u64::from(c)).sum();
    let occurrences: u64 = popularity.iter().map(|&c| u64::from(c)).sum();
    let fingerprint = fingerprint(counts.users, &popularity, &offsets, &succ_items, &succ_counts);
    let mut out = Vec::with_capacity(PRIOR_HEADER_LEN + 4 * (3 * n + 1 + 2 * succ_items.len()) + 8 * node_pop.len());
    out.extend_from_slice(&PRIOR_MAGIC);
    extend_u32(&mut out, [holdout, max_successors]);
    for value in [counts.users, steps, occurrences, fingerprint] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    let e = succ_items.len() as u32;
    let m = u32::try_from(node_pop.len()).map_err(|_| "too many trie nodes".to_owned())?;
    extend_u32(&mut out, [e, m, n as u32, 0]);
    for array in [&popularity, &offsets, &succ_items, &succ_counts, &pop_order] {
        extend_u32(&mut out, array.iter().copied());
    }
    for value in node_pop {
        out.extend_from_slice(&value.to_le_bytes());
    }
    report.bytes = out.len() as u64;
    Ok((out, report))
}

/// Σ (popularity + 1) of the items below every trie node, by walking each item's leaf up to
/// the root. The `+ 1` is the prior's add-one smoothing: no item has zero mass.
fn node_popularity(trie: &TokenTrie<'_>, popularity: &[u32], item_tid: &[u32]) -> Result<Vec<u64>, CatalogError> {
    let mut sums = vec![0u64; trie.node_count()];
    for (index, &tid) in item_tid.iter().enumerate() {
        let mass = u64::from(popularity[index]) + 1;
        let mut node = Some(trie.leaf_of(tid)?);
        while let Some(n) = node {
            let slot = sums
                .get_mut(n as usize)
                .ok_or_else(|| CatalogError::corrupt(SECTION, format!("trie node {n} out of range")))?;
            *slot += mass;
            node = trie.parent(n)?;
        }
    }
    Ok(sums)
}

/// FNV-1a over the users count and the stored counts: equal for equal counts, however
/// they were made, so `grlm eval` can tell whether a catalogue's prior came from the
/// sequences it is asked to score.
fn fingerprint(users: u64, popularity: &[u32], offsets: &[u32], items: &[u32], counts: &[u32]) -> u64 {
    let mut h = Fnv64::new();
    h.write_u64(users);
    for array in [popularity, offsets, items, counts] {
        h.write_u64(array.len() as u64);
        for &value in array {
            h.write_u32(value);
        }
    }
    h.finish()
}

/// The parsed header of a prior section; the arrays stay in the mapped file.
#[derive(Clone, Debug)]
pub(crate) struct TransitionMeta {
    pub holdout: u32,
    pub max_successors: u32,
    pub users: u64,
    pub steps: u64,
    pub occurrences: u64,
    pub fingerprint: u64,
    pub transitions: usize,
    pub nodes: usize,
}

/// Checks the header and the array lengths, in O(1). `items` and `trie_nodes` are the
/// catalogue's.
pub(crate) fn parse_meta(bytes: &[u8], items: usize, trie_nodes: usize) -> Result<TransitionMeta, CatalogError> {
    let corrupt = |reason: String| CatalogError::corrupt(SECTION, reason);
    if bytes.len() < PRIOR_HEADER_LEN || bytes[..8] != PRIOR_MAGIC {
        return Err(corrupt("missing prior header".into()));
    }
    let meta = TransitionMeta {
        holdout: read_u32(bytes, 8),
        max_successors: read_u32(bytes, 12),
        users: read_u64(bytes, 16),
        steps: read_u64(bytes, 24),
        occurrences: read_u64(bytes, 32),
        fingerprint: read_u64(bytes, 40),
        transitions: read_u32(bytes, 48) as usize,
        nodes: read_u32(bytes, 52) as usize,
    };
    let n = read_u32(bytes, 56) as usize;
    if n != items {
        return Err(corrupt(format!("{n} items, the catalogue has {items}")));
    }
    if meta.nodes != 0 && meta.nodes != trie_nodes {
        return Err(corrupt(format!(
            "{} trie nodes, the catalogue's trie has {trie_nodes}",
            meta.nodes
        )));
    }
    // n, transitions, nodes < 2^32: the sums below fit u64 and are compared before slicing.
    let words = 3 * n as u64 + 1 + 2 * meta.transitions as u64;
    let expected = words * 4 + meta.nodes as u64 * 8;
    if (bytes.len() - PRIOR_HEADER_LEN) as u64 != expected {
        return Err(corrupt(format!(
            "{} bytes of arrays, expected {expected} for {n} items, {} transitions and {} trie nodes",
            bytes.len() - PRIOR_HEADER_LEN,
            meta.transitions,
            meta.nodes
        )));
    }
    Ok(meta)
}

/// A view of a catalogue's prior section. Every accessor is bounds-checked: on a corrupt
/// file they return an error, never panic; `Catalog::verify` proves the whole section once.
#[derive(Clone, Copy, Debug)]
pub struct TransitionTable<'a> {
    meta: &'a TransitionMeta,
    popularity: &'a [U32Le],
    succ_offsets: &'a [U32Le],
    succ_items: &'a [U32Le],
    succ_counts: &'a [U32Le],
    pop_order: &'a [U32Le],
    node_pop: &'a [U64Le],
}

impl<'a> TransitionTable<'a> {
    pub(crate) fn new(meta: &'a TransitionMeta, bytes: &'a [u8], items: usize) -> Self {
        let all = bytes.get(PRIOR_HEADER_LEN..).unwrap_or(&[]);
        // The u32 arrays, then the u64 per-node sums.
        let (words, sums) = all.split_at(all.len().saturating_sub(meta.nodes * 8));
        let mut arrays = Arrays(u32_slice(words).unwrap_or(&[]));
        TransitionTable {
            meta,
            popularity: arrays.take(items),
            succ_offsets: arrays.take(items + 1),
            succ_items: arrays.take(meta.transitions),
            succ_counts: arrays.take(meta.transitions),
            pop_order: arrays.take(items),
            node_pop: u64_slice(sums).unwrap_or(&[]),
        }
    }

    /// The last this many items of every sequence were held out of the counts.
    pub fn holdout(&self) -> u32 {
        self.meta.holdout
    }

    /// Most successors stored per item.
    pub fn max_successors(&self) -> u32 {
        self.meta.max_successors
    }

    /// Users counted.
    pub fn users(&self) -> u64 {
        self.meta.users
    }

    /// Distinct (item, next) pairs stored.
    pub fn transitions(&self) -> usize {
        self.meta.transitions
    }

    /// Sum of the stored transition counts.
    pub fn steps(&self) -> u64 {
        self.meta.steps
    }

    /// Σ (popularity + 1) over every item: the popularity part's normaliser before any
    /// item is excluded.
    pub fn popularity_mass(&self) -> u64 {
        self.meta.occurrences + self.popularity.len() as u64
    }

    /// A hash of the counted content: equal for equal counts, however they were made.
    pub fn fingerprint(&self) -> u64 {
        self.meta.fingerprint
    }

    /// How often the item at `index` occurs in the counted parts.
    pub fn popularity(&self, index: usize) -> Result<u32, CatalogError> {
        self.popularity
            .get(index)
            .map(|c| c.get())
            .ok_or_else(|| CatalogError::corrupt(SECTION, format!("no popularity for item index {index}")))
    }

    /// The items that directly followed the item at `index`, as item indices and counts,
    /// most frequent first.
    pub fn successors(&self, index: usize) -> Result<(&'a [U32Le], &'a [U32Le]), CatalogError> {
        let items = csr(self.succ_offsets, self.succ_items, index, SECTION)?;
        let counts = csr(self.succ_offsets, self.succ_counts, index, SECTION)?;
        Ok((items, counts))
    }

    /// Every item index, most popular first (ties: ascending index).
    pub fn by_popularity(&self) -> &'a [U32Le] {
        self.pop_order
    }

    /// Σ (popularity + 1) of the items below trie node `node`; `None` when the section has
    /// no per-node sums (the catalogue was built without a token trie).
    pub fn node_popularity(&self, node: u32) -> Result<Option<u64>, CatalogError> {
        if self.meta.nodes == 0 {
            return Ok(None);
        }
        self.node_pop
            .get(node as usize)
            .map(|v| Some(v.get()))
            .ok_or_else(|| CatalogError::corrupt(SECTION, format!("no popularity for trie node {node}")))
    }

    /// Checks every invariant the scorer relies on and the stored fingerprint: O(section).
    pub(crate) fn verify(&self, item_tid: &[U32Le], trie: Option<TokenTrie<'_>>) -> Result<(), CatalogError> {
        let corrupt = |reason: String| CatalogError::corrupt(SECTION, reason);
        let n = self.popularity.len();
        let offsets: Vec<u32> = self.succ_offsets.iter().map(|x| x.get()).collect();
        if offsets.first() != Some(&0)
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets.last().map(|&o| o as usize) != Some(self.meta.transitions)
        {
            return Err(corrupt(
                "successor offsets do not run from 0 up to the transitions".into(),
            ));
        }
        for index in 0..n {
            let (items, counts) = self.successors(index)?;
            if items.len() > self.meta.max_successors as usize {
                return Err(corrupt(format!("item index {index} has more successors than the cap")));
            }
            for (k, (item, count)) in items.iter().zip(counts).enumerate() {
                if item.get() as usize >= n || count.get() == 0 {
                    return Err(corrupt(format!("item index {index}: bad successor entry {k}")));
                }
                if k > 0 {
                    let (p_item, p_count) = (items[k - 1].get(), counts[k - 1].get());
                    if (count.get(), std::cmp::Reverse(item.get())) >= (p_count, std::cmp::Reverse(p_item)) {
                        return Err(corrupt(format!("item index {index}: successors out of order")));
                    }
                }
            }
        }
        let steps: u64 = self.succ_counts.iter().map(|c| u64::from(c.get())).sum();
        let occurrences: u64 = self.popularity.iter().map(|c| u64::from(c.get())).sum();
        if steps != self.meta.steps || occurrences != self.meta.occurrences {
            return Err(corrupt("the header's totals disagree with the counts".into()));
        }
        let mut seen = vec![false; n];
        for (k, index) in self.pop_order.iter().enumerate() {
            let i = index.get() as usize;
            if i >= n || std::mem::replace(&mut seen[i], true) {
                return Err(corrupt(format!("popularity order entry {k} is not a new item index")));
            }
            if k > 0 {
                let prev = self.pop_order[k - 1].get() as usize;
                if (self.popularity[i].get(), std::cmp::Reverse(i))
                    >= (self.popularity[prev].get(), std::cmp::Reverse(prev))
                {
                    return Err(corrupt(format!("popularity order breaks at entry {k}")));
                }
            }
        }
        if self.meta.nodes > 0 {
            let trie = trie.ok_or_else(|| corrupt("per-node sums without a token trie".into()))?;
            let tids: Vec<u32> = item_tid.iter().map(|t| t.get()).collect();
            let popularity: Vec<u32> = self.popularity.iter().map(|c| c.get()).collect();
            let expected = node_popularity(&trie, &popularity, &tids)?;
            if expected.iter().zip(self.node_pop).any(|(a, b)| *a != b.get()) {
                return Err(corrupt("per-node popularity sums are wrong".into()));
            }
        }
        let popularity: Vec<u32> = self.popularity.iter().map(|c| c.get()).collect();
        let items: Vec<u32> = self.succ_items.iter().map(|c| c.get()).collect();
        let counts: Vec<u32> = self.succ_counts.iter().map(|c| c.get()).collect();
        if fingerprint(self.meta.users, &popularity, &offsets, &items, &counts) != self.meta.fingerprint {
            return Err(corrupt("the fingerprint does not match the counts".into()));
        }
        Ok(())
    }
}

/// The fingerprint the prior section would have if built from `counts` for a catalogue
/// with these item ids (ascending) and cap: what `grlm eval` compares with a catalogue's.
pub fn counts_fingerprint(counts: &TransitionCounts, item_ids: &[u32], max_successors: u32) -> u64 {
    let empty: Vec<u32> = vec![0; item_ids.len()];
    match build_section(counts, 0, max_successors, item_ids, &empty, None) {
        Ok((bytes, _)) => read_u64(&bytes, 40),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sequences::parse_sequences;

    fn tsv(text: &str) -> Result<TransitionCounts, InputError> {
        TransitionCounts::parse_tsv(text.as_bytes(), Path::new("counts.tsv"))
    }

    #[test]
    fn sequences_are_counted_without_their_held_out_items() {
        let seqs = parse_sequences(b"1 5 6 9\n2 5 9\n3 6 7 9 8\n4 7\n").unwrap();
        let c = TransitionCounts::from_sequences(&seqs, 1);
        assert_eq!(c.users(), 3, "user 4's only item is held out");
        assert_eq!(c.popularity[&5], 2);
        assert_eq!(c.popularity.get(&8), None);
        assert_eq!(c.transitions[&(5, 6)], 1);
        assert_eq!(c.transitions[&(7, 9)], 1);
        assert_eq!(c.transitions.get(&(9, 8)), None);
        assert_eq!(c.pairs(), 3);
        let c2 = TransitionCounts::from_sequences(&seqs, 2);
        assert_eq!(c2.transitions.get(&(7, 9)), None);
        assert_eq!(c2.users(), 2);
    }

    #[test]
    fn counts_files_read_rows_of_three_kinds() {
        let c = tsv("5\t6\t2\n5\t6\t1\n5\t\t7\n\t\t12\n\n6\t\t1\r\n").unwrap();
        assert_eq!(c.transitions[&(5, 6)], 3, "rows of one key add up");
        assert_eq!(c.popularity[&5], 7);
        assert_eq!(c.popularity[&6], 1);
        assert_eq!(c.users(), 12);
        for (bad, needle) in [
            ("5\t6\n", "2 tab-separated fields"),
            ("5\t6\t-1\n", "count \"-1\""),
            ("x\t6\t1\n", "item \"x\""),
            ("5\t99999999999\t1\n", "next item"),
            ("\t6\t1\n", "NEXT item without an ITEM"),
            ("\t\t1\n\t\t2\n", "second users row"),
        ] {
            let e = tsv(bad).unwrap_err().to_string();
            assert!(e.contains("counts.tsv:") && e.contains(needle), "{bad:?}: {e}");
        }
    }
}
