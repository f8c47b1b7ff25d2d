//! Full verification: every checksum and every invariant the readers rely on.
//!
//! [`Catalog::open`] checks structure only; `verify` is the opt-in O(file) pass run by
//! `grlm catalog verify`, after downloads, and by the tests. A catalogue that passes
//! `verify` never makes a lookup return [`CatalogError::Corrupt`].

use super::format::SectionKind;
use super::le::U32Le;
use super::{Catalog, CatalogError};
use fst::Streamer;

impl Catalog {
    /// Checks every section CRC, then the invariants between sections.
    pub fn verify(&self) -> Result<(), CatalogError> {
        let known = SectionKind::ALL
            .iter()
            .map(|&k| (k.name(), self.section_bytes(k), self.section_crc(k)));
        let unknown = self
            .unknown_sections()
            .map(|(bytes, crc)| ("unknown optional section", bytes, crc));
        for (section, bytes, stored) in known.chain(unknown) {
            let actual = crc32fast::hash(bytes);
            if stored != actual && !super::SKIP_CHECKSUMS {
                return Err(CatalogError::ChecksumMismatch {
                    section,
                    stored,
                    actual,
                });
            }
        }
        self.term_map()
            .as_fst()
            .verify()
            .map_err(|e| CatalogError::corrupt("TermFst", e.to_string()))?;
        super::reader::guard_fst(|| walk_fst(self.term_map().as_fst()))??;
        self.verify_terms()?;
        self.verify_items_and_tids()?;
        self.verify_postings()?;
        self.verify_titles()?;
        if let Some(trie) = self.token_trie() {
            trie.verify()?;
        }
        match self.transitions() {
            Some(prior) => prior.verify(self.u32s(SectionKind::ItemTid), self.token_trie()),
            None => Ok(()),
        }
    }

    fn verify_terms(&self) -> Result<(), CatalogError> {
        let v = self.term_count();
        let offsets = self.u32s(SectionKind::TermOffsets);
        monotone(offsets, self.section_bytes(SectionKind::TermBytes).len(), "TermOffsets")?;
        let mut stream = self.term_map().stream();
        let mut previous: Option<&str> = None;
        let mut id = 0usize;
        while let Some((key, value)) = stream.next() {
            if id >= v || value != id as u64 {
                return Err(CatalogError::corrupt(
                    "TermFst",
                    format!("term {id} maps to id {value}"),
                ));
            }
            let text = self.term_text(id as u32)?;
            if text.as_bytes() != key {
                return Err(CatalogError::corrupt(
                    "TermBytes",
                    format!("term {id} differs from the dictionary"),
                ));
            }
            if crate::tid::normalize_term(text).as_deref() != Ok(text) {
                return Err(CatalogError::corrupt(
                    "TermBytes",
                    format!("term {text:?} is not normalised"),
                ));
            }
            if previous.is_some_and(|p| p >= text) {
                return Err(CatalogError::corrupt("TermBytes", "terms are not strictly ascending"));
            }
            previous = Some(text);
            id += 1;
        }
        if id != v {
            return Err(CatalogError::corrupt("TermFst", format!("{id} terms, header says {v}")));
        }
        Ok(())
    }

    fn verify_items_and_tids(&self) -> Result<(), CatalogError> {
        let (n, t, l, v) = (self.len(), self.tid_count(), self.tid_len(), self.term_count() as u32);
        let ids = self.u32s(SectionKind::ItemIds);
        if ids.windows(2).any(|w| w[0].get() >= w[1].get()) {
            return Err(CatalogError::corrupt("ItemIds", "item ids are not strictly ascending"));
        }
        let rows = self.u32s(SectionKind::TidTerms);
        if rows.iter().any(|x| x.get() >= v) {
            return Err(CatalogError::corrupt("TidTerms", "term id out of range"));
        }
        for tid in 1..t {
            let (a, b) = (&rows[(tid - 1) * l..tid * l], &rows[tid * l..(tid + 1) * l]);
            if a.iter().map(|x| x.get()).cmp(b.iter().map(|x| x.get())) != std::cmp::Ordering::Less {
                return Err(CatalogError::corrupt(
                    "TidTerms",
                    format!("rows {} and {tid} out of order", tid - 1),
                ));
            }
        }
        monotone(self.u32s(SectionKind::TidItemOffsets), n, "TidItemOffsets")?;
        let mut seen = vec![false; n];
        for tid in 0..t {
            let items = self.tid_items(tid)?;
            if items.is_empty() {
                return Err(CatalogError::corrupt("TidItems", format!("TID {tid} has no items")));
            }
            for (k, item) in items.iter().enumerate() {
                let index = item.get() as usize;
                if index >= n || seen[index] || (k > 0 && items[k - 1].get() >= item.get()) {
                    return Err(CatalogError::corrupt(
                        "TidItems",
                        format!("bad item index {index} under TID {tid}"),
                    ));
                }
                seen[index] = true;
                if self.item_tid_index(index)? != tid {
                    return Err(CatalogError::corrupt(
                        "ItemTid",
                        format!("item index {index} disagrees with TidItems"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn verify_postings(&self) -> Result<(), CatalogError> {
        let (t, l, v) = (self.tid_count(), self.tid_len(), self.term_count());
        let rows = self.u32s(SectionKind::TidTerms);
        let offsets = self.u32s(SectionKind::PosPostingOffsets);
        monotone(offsets, t * l, "PosPostingOffsets")?;
        for position in 0..l {
            for term in 0..v as u32 {
                let list = self.pos_postings(position, term)?;
                check_list(list, t, "PosPostings", |tid| rows[tid * l + position].get() == term)?;
            }
        }
        let total = self.u32s(SectionKind::TermPostings).len();
        monotone(self.u32s(SectionKind::TermPostingOffsets), total, "TermPostingOffsets")?;
        let mut expected_total = 0usize;
        for tid in 0..t {
            let mut row: Vec<u32> = rows[tid * l..(tid + 1) * l].iter().map(|x| x.get()).collect();
            row.sort_unstable();
            row.dedup();
            expected_total += row.len();
        }
        if expected_total != total {
            return Err(CatalogError::corrupt(
                "TermPostings",
                format!("{total} entries, expected {expected_total}"),
            ));
        }
        for term in 0..v as u32 {
            let list = self.term_postings(term)?;
            check_list(list, t, "TermPostings", |tid| {
                rows[tid * l..(tid + 1) * l].iter().any(|x| x.get() == term)
            })?;
        }
        Ok(())
    }

    fn verify_titles(&self) -> Result<(), CatalogError> {
        monotone(
            self.u32s(SectionKind::TitleOffsets),
            self.section_bytes(SectionKind::TitleBytes).len(),
            "TitleOffsets",
        )?;
        for index in 0..self.len() {
            self.title_at(index)?;
        }
        Ok(())
    }
}

/// Decodes every node of the fst and checks that looking up each transition's byte finds
/// that transition, so the lookups that grounding makes (which may read index tables that
/// plain iteration does not) stay within bounds too. Nodes are written children first, so
/// every transition must point to a lower address: that rules out cycles, on which the
/// fst's own stream (used next, by `verify_terms`) would never end.
fn walk_fst(fst: &fst::raw::Fst<impl AsRef<[u8]>>) -> Result<(), CatalogError> {
    let mut stack = vec![fst.root().addr()];
    let mut seen = std::collections::HashSet::new();
    while let Some(addr) = stack.pop() {
        if !seen.insert(addr) {
            continue;
        }
        let node = fst.node(addr);
        for (i, t) in node.transitions().enumerate() {
            if t.addr >= addr || node.find_input(t.inp) != Some(i) {
                return Err(CatalogError::corrupt(
                    "TermFst",
                    format!("node {addr}: inconsistent transition {i}"),
                ));
            }
            stack.push(t.addr);
        }
    }
    Ok(())
}

/// Offsets start at 0, never decrease and end at `total`.
fn monotone(offsets: &[U32Le], total: usize, section: &'static str) -> Result<(), CatalogError> {
    let ok = offsets.first().map(|x| x.get()) == Some(0)
        && offsets.windows(2).all(|w| w[0].get() <= w[1].get())
        && offsets.last().map(|x| x.get() as usize) == Some(total);
    if ok {
        Ok(())
    } else {
        Err(CatalogError::corrupt(
            section,
            "offsets do not run from 0 up to the section's end",
        ))
    }
}

/// A postings list is strictly ascending, in range, and every entry satisfies `holds`.
fn check_list(
    list: &[U32Le],
    t: usize,
    section: &'static str,
    holds: impl Fn(usize) -> bool,
) -> Result<(), CatalogError> {
    for (k, entry) in list.iter().enumerate() {
        let tid = entry.get() as usize;
        if tid >= t || (k > 0 && list[k - 1].get() >= entry.get()) || !holds(tid) {
            return Err(CatalogError::corrupt(section, format!("bad entry {tid}")));
        }
    }
    Ok(())
}
