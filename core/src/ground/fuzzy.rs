//! Finding catalogue terms close to a term the model wrote, through the term fst.
//!
//! Three kinds of match, tried in this order (see [`term_matches`]):
//! - exact: the term is in the dictionary (similarity 1.0); nothing else is searched, so a
//!   correctly spelt term costs one fst lookup;
//! - edit distance: optimal-string-alignment distance (insert, delete, substitute, swap two
//!   adjacent bytes) of 1 for terms of 4–11 bytes and up to 2 for longer ones, with the first
//!   byte fixed; similarity `1 − 0.2 · distance`. An edit-distance automaton is run by hand
//!   over the fst's nodes, so only dictionary paths within the distance are visited, never
//!   the whole vocabulary;
//! - compound: one term is the other plus `-suffix` (`hair` ↔ `hair-mask`), similarity 0.7.
//!
//! At most [`MAX_MATCHES`] matches are kept per term, best similarity first, then by term id.

use crate::catalog::reader::guard_fst;
use crate::catalog::{Catalog, CatalogError};
use crate::tid::MAX_TERM_BYTES;

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
        4..=11 => 1,
        _ => 2,
    }
}

/// Similarity of a match at edit distance `d`.
pub fn edit_similarity(d: u8) -> f32 {
    1.0 - 0.2 * d as f32
}

/// Fills `out` with the catalogue terms matching `query` (already normalised).
pub fn term_matches(catalog: &Catalog, query: &str, out: &mut Vec<TermMatch>) -> Result<(), CatalogError> {
    out.clear();
    guard_fst(|| search(catalog, query, out))?
}

fn search(catalog: &Catalog, query: &str, out: &mut Vec<TermMatch>) -> Result<(), CatalogError> {
    if let Some(term) = catalog.term_id(query)? {
        out.push(TermMatch { term, similarity: 1.0 });
        return Ok(());
    }
    let map = catalog.term_map();
    let edits = max_edits(query.len());
    if edits > 0 && query.len() <= MAX_FUZZY_BYTES {
        osa_search(map.as_fst(), query.as_bytes(), edits, &mut |id, d| {
            if let Ok(term) = u32::try_from(id) {
                push_best(
                    out,
                    TermMatch {
                        term,
                        similarity: edit_similarity(d),
                    },
                );
            }
        });
    }
    // Catalogue terms that extend the query: `hair` → `hair-mask`.
    let fst = map.as_fst();
    let mut taken = 0;
    if let Some((node, output)) = descend(fst, query.as_bytes()).and_then(|(n, o)| {
        let i = n.find_input(b'-')?;
        let t = n.transition(i);
        Some((fst.node(t.addr), o + t.out.value()))
    }) {
        finals(fst, node, output, query.len() + 1, &mut |id| {
            if let Ok(term) = u32::try_from(id) {
                push_best(
                    out,
                    TermMatch {
                        term,
                        similarity: COMPOUND_SIMILARITY,
                    },
                );
            }
            taken += 1;
            taken < MAX_MATCHES
        });
    }
    // Catalogue terms that the query extends: `hair-mask-set` → `hair-mask`, `hair`.
    for (at, _) in query.match_indices('-') {
        if let Some(term) = catalog.term_id(&query[..at])? {
            push_best(
                out,
                TermMatch {
                    term,
                    similarity: COMPOUND_SIMILARITY,
                },
            );
        }
    }
    Ok(())
}

/// The node reached by `bytes` from the root, with the output accumulated on the way.
fn descend<'f>(fst: &'f fst::raw::Fst<impl AsRef<[u8]>>, bytes: &[u8]) -> Option<(fst::raw::Node<'f>, u64)> {
    let mut node = fst.root();
    let mut output = 0u64;
    for &b in bytes {
        let t = node.transition(node.find_input(b)?);
        output += t.out.value();
        node = fst.node(t.addr);
    }
    Some((node, output))
}

/// Calls `f` with the value of each key below `node` in key order, until `f` returns false.
/// Returns false once stopped. Goes at most [`MAX_TERM_BYTES`] deep: no term is longer, and
/// the bound keeps a malformed (cyclic) dictionary from recursing without end.
fn finals(
    fst: &fst::raw::Fst<impl AsRef<[u8]>>,
    node: fst::raw::Node<'_>,
    output: u64,
    depth: usize,
    f: &mut impl FnMut(u64) -> bool,
) -> bool {
    if node.is_final() && !f(output.wrapping_add(node.final_output().value())) {
        return false;
    }
    if depth >= MAX_TERM_BYTES {
        return true;
    }
    for t in node.transitions() {
        if !finals(fst, fst.node(t.addr), output.wrapping_add(t.out.value()), depth + 1, f) {
            return false;
        }
    }
    true
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

/// Dictionary terms within `k` optimal-string-alignment edits of `query` (swapping two
/// adjacent bytes is one edit), with the first byte fixed. Calls `found(term id, distance)`.
///
/// A depth-first walk over the fst's nodes that carries two dynamic-programming columns (the
/// swap looks two back) and abandons a branch once no extension can come within `k`. This
/// is the classic Levenshtein-automaton intersection, done by hand on the raw fst so that
/// each step costs a few dozen byte operations and no allocation.
fn osa_search(fst: &fst::raw::Fst<impl AsRef<[u8]>>, query: &[u8], k: u8, found: &mut impl FnMut(u64, u8)) {
    let Some(&first) = query.first() else { return };
    if query.len() > MAX_FUZZY_BYTES {
        return;
    }
    let root = fst.root();
    let Some(index) = root.find_input(first) else {
        return;
    };
    let t = root.transition(index);
    let start = start_column(query, k);
    let mut next = [k + 1; ROW];
    if step(query, k, 1, &[k + 1; ROW], &start, None, first, &mut next) {
        walk(
            fst,
            fst.node(t.addr),
            query,
            k,
            1,
            &start,
            &next,
            first,
            t.out.value(),
            found,
        );
    }
}

/// Visits `node`, reached by a candidate prefix of `depth` bytes whose last table columns
/// are `prev` and `cur` and whose last byte is `last`.
#[allow(clippy::too_many_arguments)]
fn walk(
    fst: &fst::raw::Fst<impl AsRef<[u8]>>,
    node: fst::raw::Node<'_>,
    query: &[u8],
    k: u8,
    depth: usize,
    prev: &[u8; ROW],
    cur: &[u8; ROW],
    last: u8,
    output: u64,
    found: &mut impl FnMut(u64, u8),
) {
    let m = query.len();
    if node.is_final() && cur[m] <= k {
        found(output + node.final_output().value(), cur[m]);
    }
    // Every sibling shares the band of cells it writes, so cells outside it stay at the cap.
    let mut next = [k + 1; ROW];
    let j = depth + 1;
    let (lo, hi) = (j.saturating_sub(k as usize), (j + k as usize).min(m));
    if lo > m {
        return;
    }
    let mut visit = |t: fst::raw::Transition, next: &mut [u8; ROW]| {
        if step(query, k, j, prev, cur, Some(last), t.inp, next) {
            walk(
                fst,
                fst.node(t.addr),
                query,
                k,
                j,
                cur,
                next,
                t.inp,
                output + t.out.value(),
                found,
            );
        }
    };
    let budget_left = cur[lo.saturating_sub(1)..=hi].iter().any(|&c| c < k);
    if budget_left {
        for t in node.transitions() {
            visit(t, &mut next);
        }
    } else {
        // No edit left: only a byte of the query near this column (matched, or completing a
        // swap) can keep the candidate within `k`, so look those up instead of decoding every
        // transition of the node.
        let window = &query[lo.saturating_sub(2)..hi];
        for (n, &b) in window.iter().enumerate() {
            if window[..n].contains(&b) {
                continue;
            }
            if let Some(i) = node.find_input(b) {
                visit(node.transition(i), &mut next);
            }
        }
    }
}

/// Column 0 of the table: the empty candidate is `i` edits from a query prefix of length `i`.
fn start_column(query: &[u8], k: u8) -> [u8; ROW] {
    let mut col = [k + 1; ROW];
    for (i, c) in col.iter_mut().enumerate().take(query.len() + 1) {
        *c = (i as u8).min(k + 1);
    }
    col
}

/// Computes column `j` of the table (the candidate's first `j` bytes, the last being
/// `byte`) from columns `j − 1` (`cur`) and `j − 2` (`prev`); `last` is byte `j − 1`. Only
/// cells within `k` of the diagonal can be `≤ k`, so only those are computed; all others
/// must already hold the cap `k + 1`. Returns false when no extension of this candidate
/// prefix can end within `k` edits.
#[allow(clippy::too_many_arguments)]
fn step(
    query: &[u8],
    k: u8,
    j: usize,
    prev: &[u8; ROW],
    cur: &[u8; ROW],
    last: Option<u8>,
    byte: u8,
    next: &mut [u8; ROW],
) -> bool {
    let (m, cap) = (query.len(), k + 1);
    let lo = j.saturating_sub(k as usize);
    let hi = (j + k as usize).min(m);
    if lo > m {
        return false;
    }
    let mut best = cap;
    for i in lo..=hi {
        let d = if i == 0 {
            cur[0].saturating_add(1)
        } else {
            let q = query[i - 1];
            let mut d = (cur[i] + 1).min(next[i - 1] + 1).min(cur[i - 1] + u8::from(q != byte));
            if i > 1 && last == Some(q) && query[i - 2] == byte {
                d = d.min(prev[i - 2] + 1);
            }
            d
        };
        next[i] = d.min(cap);
        best = best.min(next[i]);
    }
    // A swap reads two columns back, so `cur` can still lead to a match one step later.
    best <= k || cur[lo.saturating_sub(1)..=hi.min(m)].iter().any(|&c| c < k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the column steps along `b`, as the fst walk does along one path.
    fn osa_distance(a: &str, b: &str, k: u8) -> Option<u8> {
        let (q, m) = (a.as_bytes(), a.len());
        let (mut prev, mut cur) = ([k + 1; ROW], start_column(q, k));
        let mut last = None;
        for (j, &byte) in b.as_bytes().iter().enumerate() {
            if j == 0 && q.first() != Some(&byte) {
                return None;
            }
            let mut next = [k + 1; ROW];
            if !step(q, k, j + 1, &prev, &cur, last, byte, &mut next) {
                return None;
            }
            (prev, cur, last) = (cur, next, Some(byte));
        }
        (cur[m] <= k).then_some(cur[m])
    }

    #[test]
    fn fst_walk_finds_exactly_the_close_terms() {
        let words = [
            "citrus", "citrux", "cirtus", "citru", "citruss", "protein", "protien", "zzz",
        ];
        let mut sorted = words.to_vec();
        sorted.sort_unstable();
        let map = fst::Map::from_iter(sorted.iter().enumerate().map(|(i, w)| (*w, i as u64))).unwrap();
        for query in ["citrus", "protein", "ctirus"] {
            let mut got = Vec::new();
            osa_search(map.as_fst(), query.as_bytes(), 1, &mut |id, d| {
                got.push((sorted[id as usize], d))
            });
            got.sort_unstable();
            let mut want: Vec<(&str, u8)> = sorted
                .iter()
                .filter_map(|w| osa_distance(query, w, 1).map(|d| (*w, d)))
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "query {query}");
        }
    }

    /// Plain O(n·m) optimal string alignment distance, the reference for the automaton.
    fn reference(a: &[u8], b: &[u8]) -> usize {
        let (n, m) = (a.len(), b.len());
        let mut d = vec![vec![0usize; m + 1]; n + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        d[0] = (0..=m).collect();
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
        let words = [
            "protein",
            "protien",
            "hair-mask",
            "hair-masks",
            "air-mask",
            "citrus",
            "cirtus",
            "ab",
            "ba",
            "abc",
            "",
            "unisex",
            "uni-sex",
            "xyz",
        ];
        for a in words {
            for b in words {
                for k in 0..=2u8 {
                    let want = reference(a.as_bytes(), b.as_bytes());
                    let got = osa_distance(a, b, k);
                    let same_first = a.as_bytes().first() == b.as_bytes().first() || b.is_empty();
                    let expect = (want <= k as usize && same_first).then_some(want as u8);
                    assert_eq!(got, expect, "{a:?} vs {b:?} k={k}");
                }
            }
        }
    }

    #[test]
    fn similarity_schedule() {
        assert_eq!(max_edits(3), 0);
        assert_eq!(max_edits(4), 1);
        assert_eq!(max_edits(11), 1);
        assert_eq!(max_edits(12), 2);
        assert!(edit_similarity(1) > edit_similarity(2) && edit_similarity(2) > 0.0);
        const { assert!(COMPOUND_SIMILARITY < 1.0) };
    }
}
