//! Finding catalogue terms close to a term the model wrote, through the term fst.
//!
//! Three kinds of match, tried in this order (see [`term_matches`]):
//! - exact: the term is in the dictionary (similarity 1.0); nothing else is searched, so a
//!   correctly spelt term costs one fst lookup;
//! - edit distance: optimal-string-alignment distance (insert, delete, substitute, swap two
//!   adjacent bytes) of 1 for terms of 4–7 bytes and up to 2 for longer ones; similarity
//!   `1 − 0.2 · distance`. An automaton walks the fst, so only dictionary paths within the
//!   distance are visited, never the whole vocabulary;
//! - compound: one term is the other plus `-suffix` (`hair` ↔ `hair-mask`), similarity 0.7.
//!
//! At most [`MAX_MATCHES`] matches are kept per term, best similarity first, then by term id.

use fst::automaton::{Automaton, Str};
use fst::{IntoStreamer, Streamer};

use crate::catalog::Catalog;

/// Matches kept per query term.
pub const MAX_MATCHES: usize = 8;
/// Similarity of a compound (hyphen-prefix) match.
pub const COMPOUND_SIMILARITY: f32 = 0.7;
/// Longest query term searched by edit distance; longer ones only match exactly or as compounds.
const MAX_FUZZY_BYTES: usize = 48;

/// A catalogue term matched to a query term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TermMatch {
    /// Catalogue term id.
    pub term: u32,
    /// Similarity in (0, 1].
    pub similarity: f32,
}

/// Edit distance allowed for a query term of `len` bytes.
pub fn max_edits(len: usize) -> u8 {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Similarity of a match at edit distance `d`.
pub fn edit_similarity(d: u8) -> f32 {
    1.0 - 0.2 * d as f32
}

/// Appends to `out` the catalogue terms matching `query` (already normalised).
pub fn term_matches(catalog: &Catalog, query: &str, out: &mut Vec<TermMatch>) {
    out.clear();
    if let Some(term) = catalog.term_id(query) {
        out.push(TermMatch { term, similarity: 1.0 });
        return;
    }
    let map = catalog.term_map();
    let edits = max_edits(query.len());
    if edits > 0 && query.len() <= MAX_FUZZY_BYTES {
        let automaton = Osa::new(query.as_bytes(), edits);
        let mut stream = map.search_with_state(&automaton).into_stream();
        while let Some((_, id, state)) = stream.next() {
            if let (Ok(term), Some(d)) = (u32::try_from(id), automaton.distance(&state)) {
                push_best(out, TermMatch { term, similarity: edit_similarity(d) });
            }
        }
    }
    // Catalogue terms that extend the query: `hair` → `hair-mask`.
    let prefix = format!("{query}-");
    let mut stream = map.search(Str::new(&prefix).starts_with()).into_stream();
    let mut taken = 0;
    while let Some((_, id)) = stream.next() {
        if let Ok(term) = u32::try_from(id) {
            push_best(out, TermMatch { term, similarity: COMPOUND_SIMILARITY });
        }
        taken += 1;
        if taken >= MAX_MATCHES {
            break;
        }
    }
    // Catalogue terms that the query extends: `hair-mask-set` → `hair-mask`, `hair`.
    for (at, _) in query.match_indices('-') {
        if let Some(term) = catalog.term_id(&query[..at]) {
            push_best(out, TermMatch { term, similarity: COMPOUND_SIMILARITY });
        }
    }
}

/// Inserts `m`, keeping the best [`MAX_MATCHES`] (similarity desc, then term id asc) and
/// one entry per term.
fn push_best(out: &mut Vec<TermMatch>, m: TermMatch) {
    if let Some(existing) = out.iter_mut().find(|x| x.term == m.term) {
        existing.similarity = existing.similarity.max(m.similarity);
    } else {
        out.push(m);
    }
    out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.term.cmp(&b.term)));
    out.truncate(MAX_MATCHES);
}

const ROW: usize = MAX_FUZZY_BYTES + 1;

/// Optimal-string-alignment automaton over bytes: accepts strings within `k` edits of the
/// query, where swapping two adjacent bytes is one edit.
struct Osa<'q> {
    query: &'q [u8],
    k: u8,
}

/// Two dynamic-programming columns (the swap looks two back) and the last byte read.
#[derive(Clone)]
struct OsaState {
    prev: [u8; ROW],
    cur: [u8; ROW],
    last: Option<u8>,
}

impl<'q> Osa<'q> {
    fn new(query: &'q [u8], k: u8) -> Self {
        Osa { query, k }
    }

    fn distance(&self, state: &Option<OsaState>) -> Option<u8> {
        let s = state.as_ref()?;
        let d = s.cur[self.query.len()];
        (d <= self.k).then_some(d)
    }
}

impl Automaton for Osa<'_> {
    type State = Option<OsaState>;

    fn start(&self) -> Self::State {
        let mut cur = [u8::MAX; ROW];
        for (i, c) in cur.iter_mut().enumerate().take(self.query.len() + 1) {
            *c = (i as u8).min(self.k + 1);
        }
        Some(OsaState { prev: [self.k + 1; ROW], cur, last: None })
    }

    fn is_match(&self, state: &Self::State) -> bool {
        self.distance(state).is_some()
    }

    fn can_match(&self, state: &Self::State) -> bool {
        state.is_some()
    }

    fn accept(&self, state: &Self::State, byte: u8) -> Self::State {
        let s = state.as_ref()?;
        let (m, cap) = (self.query.len(), self.k + 1);
        let mut next = [u8::MAX; ROW];
        next[0] = s.cur[0].saturating_add(1).min(cap);
        let mut best = next[0];
        for i in 1..=m {
            let q = self.query[i - 1];
            let mut d = (s.cur[i] + 1).min(next[i - 1] + 1).min(s.cur[i - 1] + u8::from(q != byte));
            if i > 1 && s.last == Some(q) && self.query[i - 2] == byte {
                d = d.min(s.prev[i - 2] + 1);
            }
            next[i] = d.min(cap);
            best = best.min(next[i]);
        }
        // A swap reads two columns back, so the old column can still lead to a match.
        let prev_best = s.cur[..=m].iter().copied().min().unwrap_or(cap);
        if best > self.k && prev_best >= self.k {
            return None;
        }
        Some(OsaState { prev: s.cur, cur: next, last: Some(byte) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn osa_distance(a: &str, b: &str, k: u8) -> Option<u8> {
        let aut = Osa::new(a.as_bytes(), k);
        let mut state = aut.start();
        for &byte in b.as_bytes() {
            state = aut.accept(&state, byte);
        }
        aut.distance(&state)
    }

    /// Plain O(n·m) optimal string alignment distance, the reference for the automaton.
    fn reference(a: &[u8], b: &[u8]) -> usize {
        let (n, m) = (a.len(), b.len());
        let mut d = vec![vec![0usize; m + 1]; n + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for j in 0..=m {
            d[0][j] = j;
        }
        for i in 1..=n {
            for j in 1..=m {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
                }
            }
        }
        d[n][m]
    }

    #[test]
    fn automaton_agrees_with_reference_distance() {
        let words = ["protein", "protien", "hair-mask", "hair-masks", "air-mask", "citrus", "cirtus", "ab", "ba", "abc", "", "unisex", "uni-sex", "xyz"];
        for a in words {
            for b in words {
                for k in 0..=2u8 {
                    let want = reference(a.as_bytes(), b.as_bytes());
                    let got = osa_distance(a, b, k);
                    let expect = (want <= k as usize).then_some(want as u8);
                    assert_eq!(got, expect, "{a:?} vs {b:?} k={k}");
                }
            }
        }
    }

    #[test]
    fn similarity_schedule() {
        assert_eq!(max_edits(3), 0);
        assert_eq!(max_edits(7), 1);
        assert_eq!(max_edits(8), 2);
        assert!(edit_similarity(1) > edit_similarity(2) && edit_similarity(2) > 0.0);
        assert!(COMPOUND_SIMILARITY < 1.0);
    }
}
