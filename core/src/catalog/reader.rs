//! Opening a catalogue and reading it in place.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::format::{
    Header, SectionEntry, SectionKind, HEADER_LEN, SECTION_ALIGN, SECTION_ENTRY_LEN, SECTION_REQUIRED,
};
use super::le::{csr, u32_slice, U32Le};
use super::transitions::{TransitionMeta, TransitionTable};
use super::trie::{TokenTrie, TrieMeta};
use super::CatalogError;
use crate::tid::{Term, Tid, MAX_TID_LEN};

enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// A byte range of the backing store that the fst crate can own.
#[derive(Clone)]
pub(crate) struct SectionBytes {
    data: Arc<Backing>,
    range: Range<usize>,
}

impl AsRef<[u8]> for SectionBytes {
    fn as_ref(&self) -> &[u8] {
        // The range was bounds-checked when the catalogue was opened.
        self.data.bytes().get(self.range.clone()).unwrap_or(&[])
    }
}

const KIND_COUNT: usize = SectionKind::ALL.len();

/// An open, immutable catalogue.
///
/// `Catalog` is `Send + Sync`: share one (e.g. in an `Arc`) between threads. Opening checks
/// the structure only — header CRC, version, section bounds and sizes, and the term
/// dictionary's CRC (the fst crate trusts its bytes) — in time independent of the item
/// count. Every later read is bounds-checked, so a corrupt section yields
/// [`CatalogError::Corrupt`] rather than a panic; [`Catalog::verify`] checks all of it up
/// front.
///
/// The file must not be modified while it is open (mapped files change under the reader);
/// [`super::CatalogBuilder::write`] replaces files by rename, which is safe.
pub struct Catalog {
    data: Arc<Backing>,
    header: Header,
    sections: [Range<usize>; KIND_COUNT],
    crcs: [u32; KIND_COUNT],
    /// Optional sections of a newer minor version: skipped, but checked by `verify`.
    unknown_sections: Vec<(Range<usize>, u32)>,
    terms: fst::Map<SectionBytes>,
    trie: Option<TrieMeta>,
    prior: Option<TransitionMeta>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

fn index_of(kind: SectionKind) -> usize {
    kind as usize - 1
}

impl Catalog {
    /// Maps and opens the catalogue at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CatalogError> {
        let path = path.as_ref();
        let io_err = |source| CatalogError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        if file.metadata().map_err(io_err)?.len() == 0 {
            return Err(CatalogError::Empty);
        }
        // SAFETY: the map is read-only and lives as long as the `Arc<Backing>` that owns it.
        // Catalogue files are immutable once written (the builder replaces them by rename, so
        // an open map keeps the old inode); the remaining hazard, another process truncating
        // the file in place, is documented on `Catalog`.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?;
        // Lookups are binary searches and trie walks: without this, each page fault on a
        // cold cache reads ahead around it (measured on a 1M-item catalogue: 20 MB resident
        // after two requests, 12 MB with it). Only a hint, so a refusal is harmless.
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Random);
        Self::from_backing(Backing::Mapped(map))
    }

    /// Opens a catalogue held in memory (tests, fuzzing, embedded assets).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CatalogError> {
        Self::from_backing(Backing::Owned(bytes))
    }

    fn from_backing(backing: Backing) -> Result<Self, CatalogError> {
        let data = Arc::new(backing);
        let bytes = data.bytes();
        let (header, entries) = Header::decode(bytes)?;
        check_counts(&header)?;
        let layout = SectionLayout::read(&header, &entries)?;
        check_lengths(&header, &layout.ranges)?;
        let terms = open_terms(&data, &layout)?;
        if terms.len() as u64 != u64::from(header.term_count) {
            return Err(CatalogError::corrupt(
                "TermFst",
                format!("{} terms, header says {}", terms.len(), header.term_count),
            ));
        }
        let trie = if layout.present(SectionKind::TokenTrie) {
            let range = layout.ranges[index_of(SectionKind::TokenTrie)].clone();
            Some(super::trie::parse_meta(&bytes[range], header.tid_count as usize)?)
        } else {
            None
        };
        let prior = if layout.present(SectionKind::Prior) {
            let range = layout.ranges[index_of(SectionKind::Prior)].clone();
            let nodes = trie.as_ref().map_or(0, |t| t.nodes);
            Some(super::transitions::parse_meta(
                &bytes[range],
                header.item_count as usize,
                nodes,
            )?)
        } else {
            None
        };
        let SectionLayout {
            ranges, crcs, unknown, ..
        } = layout;
        Ok(Catalog {
            data,
            header,
            sections: ranges,
            crcs,
            unknown_sections: unknown,
            terms,
            trie,
            prior,
        })
    }

    pub(crate) fn section_bytes(&self, kind: SectionKind) -> &[u8] {
        // Ranges were checked against the length at open.
        self.data
            .bytes()
            .get(self.sections[index_of(kind)].clone())
            .unwrap_or(&[])
    }

    /// Byte ranges and stored CRCs of the optional sections this version does not know.
    pub(crate) fn unknown_sections(&self) -> impl Iterator<Item = (&[u8], u32)> {
        self.unknown_sections
            .iter()
            .map(|(range, crc)| (self.data.bytes().get(range.clone()).unwrap_or(&[]), *crc))
    }

    pub(crate) fn section_crc(&self, kind: SectionKind) -> u32 {
        self.crcs[index_of(kind)]
    }

    pub(crate) fn u32s(&self, kind: SectionKind) -> &[U32Le] {
        // Lengths were checked to be multiples of 4 at open.
        u32_slice(self.section_bytes(kind)).unwrap_or(&[])
    }

    /// Equal for catalogues with the same content, from the CRCs stored for every section
    /// (so computing it reads no section): what state saved against one catalogue is bound
    /// to.
    pub fn content_fingerprint(&self) -> u64 {
        let mut hash = crate::fnv::Fnv64::new();
        for &crc in &self.crcs {
            hash.write_u32(crc);
        }
        for (range, crc) in &self.unknown_sections {
            hash.write_u64(range.len() as u64);
            hash.write_u32(*crc);
        }
        hash.write_u64(self.data.bytes().len() as u64);
        hash.finish()
    }

    /// The token trie for constrained decoding, if the catalogue was built with a model.
    pub fn token_trie(&self) -> Option<TokenTrie<'_>> {
        self.trie
            .as_ref()
            .map(|meta| TokenTrie::new(meta, self.section_bytes(SectionKind::TokenTrie)))
    }

    /// The transition counts behind the collaborative prior, if the catalogue was built
    /// with sequences or counts.
    pub fn transitions(&self) -> Option<TransitionTable<'_>> {
        self.prior
            .as_ref()
            .map(|meta| TransitionTable::new(meta, self.section_bytes(SectionKind::Prior), self.len()))
    }

    pub(crate) fn term_map(&self) -> &fst::Map<SectionBytes> {
        &self.terms
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.header.item_count as usize
    }

    /// Always false: an open catalogue has at least one item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Terms per TID.
    pub fn tid_len(&self) -> usize {
        self.header.tid_len as usize
    }

    /// Number of distinct TIDs.
    pub fn tid_count(&self) -> usize {
        self.header.tid_count as usize
    }

    /// Number of distinct terms.
    pub fn term_count(&self) -> usize {
        self.header.term_count as usize
    }

    /// Size of the file in bytes.
    pub fn byte_len(&self) -> u64 {
        self.header.file_len
    }

    /// The item index (0..len) of an external item id; `None` if the item is not here.
    pub fn item_index(&self, item: u32) -> Option<usize> {
        self.u32s(SectionKind::ItemIds)
            .binary_search_by_key(&item, |x| x.get())
            .ok()
    }

    /// The external id of the item at `index`.
    pub fn item_id(&self, index: usize) -> Option<u32> {
        self.u32s(SectionKind::ItemIds).get(index).map(|x| x.get())
    }

    /// Whether the catalogue has `item`.
    pub fn contains(&self, item: u32) -> bool {
        self.item_index(item).is_some()
    }

    /// The TID index of the item at item index `index` (its position in id order), as the
    /// token trie's leaves and the transition counts number them.
    pub fn item_tid_index(&self, index: usize) -> Result<usize, CatalogError> {
        let tid = self
            .u32s(SectionKind::ItemTid)
            .get(index)
            .ok_or_else(|| CatalogError::corrupt("ItemTid", format!("no entry for item index {index}")))?
            .get() as usize;
        if tid >= self.tid_count() {
            return Err(CatalogError::corrupt(
                "ItemTid",
                format!("TID index {tid} out of range"),
            ));
        }
        Ok(tid)
    }

    /// The term ids of TID `tid`.
    pub(crate) fn tid_row(&self, tid: usize) -> Result<&[U32Le], CatalogError> {
        let l = self.tid_len();
        tid.checked_mul(l)
            .and_then(|start| self.u32s(SectionKind::TidTerms).get(start..start + l))
            .ok_or_else(|| CatalogError::corrupt("TidTerms", format!("no row for TID index {tid}")))
    }

    /// Item indices (positions in id order, see [`Catalog::item_id`]) that carry the TID
    /// with index `tid` (`0..tid_count()`), ascending.
    pub fn tid_items(&self, tid: usize) -> Result<&[U32Le], CatalogError> {
        csr(
            self.u32s(SectionKind::TidItemOffsets),
            self.u32s(SectionKind::TidItems),
            tid,
            "TidItems",
        )
    }

    /// Indices of the TIDs holding term id `term` at `position`, ascending: the inverted
    /// lists structural grounding starts from.
    pub fn pos_postings(&self, position: usize, term: u32) -> Result<&[U32Le], CatalogError> {
        let key = position
            .checked_mul(self.term_count())
            .and_then(|k| k.checked_add(term as usize))
            .ok_or_else(|| CatalogError::corrupt("PosPostings", "key overflows"))?;
        csr(
            self.u32s(SectionKind::PosPostingOffsets),
            self.u32s(SectionKind::PosPostings),
            key,
            "PosPostings",
        )
    }

    /// TIDs holding `term` at any position, ascending.
    pub(crate) fn term_postings(&self, term: u32) -> Result<&[U32Le], CatalogError> {
        csr(
            self.u32s(SectionKind::TermPostingOffsets),
            self.u32s(SectionKind::TermPostings),
            term as usize,
            "TermPostings",
        )
    }

    /// The id of an exact (already normalised) term; `Ok(None)` when the catalogue lacks it.
    pub fn term_id(&self, term: &str) -> Result<Option<u32>, CatalogError> {
        guard_fst(|| self.terms.get(term).and_then(|id| u32::try_from(id).ok()))
    }

    /// The text of term `id`.
    pub fn term_text(&self, id: u32) -> Result<&str, CatalogError> {
        string_at(
            self.u32s(SectionKind::TermOffsets),
            self.section_bytes(SectionKind::TermBytes),
            id as usize,
            "TermBytes",
        )
    }

    /// The index of the TID with exactly these term ids.
    pub(crate) fn find_tid(&self, term_ids: &[u32]) -> Option<usize> {
        let l = self.tid_len();
        if term_ids.len() != l {
            return None;
        }
        let rows = self.u32s(SectionKind::TidTerms);
        let (mut lo, mut hi) = (0usize, self.tid_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let row = rows.get(mid * l..mid * l + l)?;
            match row.iter().map(|x| x.get()).cmp(term_ids.iter().copied()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The TID with index `tid` (`0..tid_count()`; the token trie's leaves name TIDs by
    /// index).
    pub fn tid_at(&self, tid: usize) -> Result<Tid, CatalogError> {
        let mut terms = Vec::with_capacity(self.tid_len());
        for id in self.tid_row(tid)? {
            let text = self.term_text(id.get())?;
            terms.push(Term::new(text).map_err(|e| CatalogError::corrupt("TermBytes", format!("term {text:?}: {e}")))?);
        }
        Tid::from_terms(terms.iter().map(Term::as_str)).map_err(|e| CatalogError::corrupt("TidTerms", e.to_string()))
    }

    /// The TID of `item`; `Ok(None)` when the catalogue does not have the item.
    pub fn tid_of(&self, item: u32) -> Result<Option<Tid>, CatalogError> {
        match self.item_index(item) {
            None => Ok(None),
            Some(index) => self.tid_at(self.item_tid_index(index)?).map(Some),
        }
    }

    /// The title of `item`; `Ok(None)` when the item has no title or is not in the catalogue.
    pub fn title_of(&self, item: u32) -> Result<Option<&str>, CatalogError> {
        match self.item_index(item) {
            None => Ok(None),
            Some(index) => self.title_at(index),
        }
    }

    /// The title of the item at item index `index`, `None` when it has none.
    pub fn title_at(&self, index: usize) -> Result<Option<&str>, CatalogError> {
        let title = string_at(
            self.u32s(SectionKind::TitleOffsets),
            self.section_bytes(SectionKind::TitleBytes),
            index,
            "TitleBytes",
        )?;
        Ok(Some(title).filter(|t| !t.is_empty()))
    }

    /// The items that carry exactly `tid`, ascending by id. Empty when no item has it.
    pub fn items_with_tid(&self, tid: &Tid) -> Result<Vec<u32>, CatalogError> {
        let mut ids = Vec::with_capacity(tid.len());
        for term in tid.terms() {
            match self.term_id(term.as_str())? {
                Some(id) => ids.push(id),
                None => return Ok(Vec::new()),
            }
        }
        let Some(t) = self.find_tid(&ids) else {
            return Ok(Vec::new());
        };
        Ok(self.tid_members(t)?.map(|(_, id)| id).collect())
    }

    /// The items of TID index `tid` as (item index, external id), ascending.
    pub fn tid_members(&self, tid: usize) -> Result<impl Iterator<Item = (usize, u32)> + '_, CatalogError> {
        let indices = self.tid_items(tid)?;
        let ids = self.u32s(SectionKind::ItemIds);
        if let Some(bad) = indices.iter().find(|i| i.get() as usize >= ids.len()) {
            return Err(CatalogError::corrupt(
                "TidItems",
                format!("item index {} out of range", bad.get()),
            ));
        }
        Ok(indices
            .iter()
            .map(move |i| (i.get() as usize, ids[i.get() as usize].get())))
    }

    /// Summary numbers (`grlm catalog inspect`). O(TIDs): it counts shared TIDs.
    pub fn info(&self) -> CatalogInfo {
        let offsets = self.u32s(SectionKind::TidItemOffsets);
        let (mut shared_items, mut max_items_per_tid) = (0u64, 0u64);
        for w in offsets.windows(2) {
            let size = w[1].get().saturating_sub(w[0].get()) as u64;
            if size > 1 {
                shared_items += size;
            }
            max_items_per_tid = max_items_per_tid.max(size);
        }
        let n = self.len() as f64;
        CatalogInfo {
            format_version: format!("{}.{}", self.header.major, self.header.minor),
            items: self.len(),
            unique_tids: self.tid_count(),
            unique_terms: self.term_count(),
            tid_len: self.tid_len(),
            collision_rate: 1.0 - self.tid_count() as f64 / n,
            items_sharing_tid: shared_items,
            max_items_per_tid,
            bytes: self.byte_len(),
            bytes_per_item: self.byte_len() as f64 / n,
            unknown_optional_sections: self.unknown_sections.len(),
            token_trie: self.token_trie().map(|t| TokenTrieInfo {
                tokenizer: t.fingerprint().name.clone(),
                vocab_size: t.fingerprint().vocab_size,
                fingerprint: format!("{:016x}", t.fingerprint().hash),
                nodes: t.node_count(),
                depth: t.depth(),
            }),
            prior: self.transitions().map(|p| PriorInfo {
                users: p.users(),
                transitions: p.transitions() as u64,
                steps: p.steps(),
                holdout: p.holdout(),
                max_successors: p.max_successors(),
                fingerprint: format!("{:016x}", p.fingerprint()),
                bytes: self.sections[index_of(SectionKind::Prior)].len() as u64,
            }),
            sections: SectionKind::ALL
                .iter()
                .filter(|&&k| k.is_required() || !self.sections[index_of(k)].is_empty())
                .map(|&k| SectionInfo {
                    name: k.name(),
                    bytes: self.sections[index_of(k)].len() as u64,
                })
                .collect(),
        }
    }
}

/// The header's counts are possible for a catalogue.
fn check_counts(header: &Header) -> Result<(), CatalogError> {
    let corrupt = |reason: String| CatalogError::corrupt("header", reason);
    if header.tid_len == 0 || header.tid_len as usize > MAX_TID_LEN {
        return Err(corrupt(format!(
            "TID length {} outside 1..={MAX_TID_LEN}",
            header.tid_len
        )));
    }
    if header.item_count == 0 || header.tid_count == 0 || header.term_count == 0 {
        return Err(corrupt("a catalogue holds at least one item, TID and term".into()));
    }
    if header.tid_count > header.item_count {
        return Err(corrupt(format!(
            "{} TIDs for {} items",
            header.tid_count, header.item_count
        )));
    }
    Ok(())
}

/// Where each known section lies (an absent optional one reads as empty), with its stored
/// CRC, and the optional sections of newer minor versions this reader skips.
struct SectionLayout {
    ranges: [Range<usize>; KIND_COUNT],
    crcs: [u32; KIND_COUNT],
    found: [bool; KIND_COUNT],
    unknown: Vec<(Range<usize>, u32)>,
}

impl SectionLayout {
    /// Checks every table entry against the file: in bounds, aligned, after the table, not
    /// repeated; a required kind this version does not know is refused.
    fn read(header: &Header, entries: &[SectionEntry]) -> Result<Self, CatalogError> {
        let table_end = (HEADER_LEN + entries.len() * SECTION_ENTRY_LEN) as u64;
        let mut layout = SectionLayout {
            ranges: Default::default(),
            crcs: [0; KIND_COUNT],
            found: [false; KIND_COUNT],
            unknown: Vec::new(),
        };
        for entry in entries {
            let kind = SectionKind::from_u32(entry.kind);
            if kind.is_none() && entry.flags & SECTION_REQUIRED != 0 {
                return Err(CatalogError::UnknownRequiredSection { kind: entry.kind });
            }
            let name = kind.map_or("unknown optional section", SectionKind::name);
            let end = entry.offset.checked_add(entry.len).filter(|&e| e <= header.file_len);
            let Some(end) = end else {
                return Err(CatalogError::corrupt(
                    name,
                    format!(
                        "range {}+{} exceeds the file ({} bytes)",
                        entry.offset, entry.len, header.file_len
                    ),
                ));
            };
            if entry.offset < table_end || entry.offset % SECTION_ALIGN as u64 != 0 {
                return Err(CatalogError::corrupt(
                    name,
                    format!("misplaced at offset {}", entry.offset),
                ));
            }
            // Both ends are <= file_len, which equals the in-memory length: they fit usize.
            let range = entry.offset as usize..end as usize;
            let Some(kind) = kind else {
                layout.unknown.push((range, entry.crc));
                continue;
            };
            let at = index_of(kind);
            if layout.found[at] {
                return Err(CatalogError::corrupt(kind.name(), "section appears twice"));
            }
            layout.found[at] = true;
            layout.ranges[at] = range;
            layout.crcs[at] = entry.crc;
        }
        if let Some(missing) = SectionKind::ALL
            .iter()
            .find(|k| k.is_required() && !layout.found[index_of(**k)])
        {
            return Err(CatalogError::MissingSection(missing.name()));
        }
        Ok(layout)
    }

    fn present(&self, kind: SectionKind) -> bool {
        self.found[index_of(kind)]
    }
}

/// Every array section has the length the header's counts imply.
fn check_lengths(header: &Header, ranges: &[Range<usize>; KIND_COUNT]) -> Result<(), CatalogError> {
    let (n, t, v, l) = (
        header.item_count as u64,
        header.tid_count as u64,
        header.term_count as u64,
        header.tid_len as u64,
    );
    let expect_len = |kind: SectionKind, words: u64| -> Result<(), CatalogError> {
        let len = ranges[index_of(kind)].len() as u64;
        if Some(len) != words.checked_mul(4) {
            return Err(CatalogError::corrupt(
                kind.name(),
                format!("{len} bytes, expected {words} u32 values"),
            ));
        }
        Ok(())
    };
    // n, t, v < 2^32 and l <= 16: none of these products overflow u64.
    expect_len(SectionKind::TermOffsets, v + 1)?;
    expect_len(SectionKind::ItemIds, n)?;
    expect_len(SectionKind::ItemTid, n)?;
    expect_len(SectionKind::TidTerms, t * l)?;
    expect_len(SectionKind::TidItemOffsets, t + 1)?;
    expect_len(SectionKind::TidItems, n)?;
    expect_len(SectionKind::PosPostingOffsets, l * v + 1)?;
    expect_len(SectionKind::PosPostings, t * l)?;
    expect_len(SectionKind::TermPostingOffsets, v + 1)?;
    expect_len(SectionKind::TitleOffsets, n + 1)?;
    if ranges[index_of(SectionKind::TermPostings)].len() % 4 != 0 {
        return Err(CatalogError::corrupt("TermPostings", "length is not a multiple of 4"));
    }
    Ok(())
}

/// The term dictionary, after checking its CRC: the fst decoder is the one reader that
/// trusts its bytes, so its checksum is checked at open, even in fuzzing builds.
fn open_terms(data: &Arc<Backing>, layout: &SectionLayout) -> Result<fst::Map<SectionBytes>, CatalogError> {
    let range = layout.ranges[index_of(SectionKind::TermFst)].clone();
    let stored = layout.crcs[index_of(SectionKind::TermFst)];
    let actual = crc32fast::hash(&data.bytes()[range.clone()]);
    if stored != actual {
        return Err(CatalogError::ChecksumMismatch {
            section: "TermFst",
            stored,
            actual,
        });
    }
    guard_fst(|| {
        fst::Map::new(SectionBytes {
            data: Arc::clone(data),
            range,
        })
    })?
    .map_err(|e| CatalogError::corrupt("TermFst", e.to_string()))
}

/// Runs an operation on the term fst, turning a panic inside the fst crate into an error.
///
/// The fst decoder trusts its bytes and indexes out of bounds (a panic, not UB: it is safe
/// code) on malformed input. `open` checks the section's CRC, so accidental corruption never
/// gets here; this guard covers a hand-crafted file whose CRC was forged. Builds with
/// `panic = "abort"` lose the guard: run [`Catalog::verify`] on catalogues of unknown origin,
/// which walks the whole dictionary.
pub(crate) fn guard_fst<T>(f: impl FnOnce() -> T) -> Result<T, CatalogError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| CatalogError::corrupt("TermFst", "malformed term dictionary"))
}

fn string_at<'a>(offsets: &[U32Le], bytes: &'a [u8], i: usize, section: &'static str) -> Result<&'a str, CatalogError> {
    let bad = || CatalogError::corrupt(section, format!("bad offsets for string {i}"));
    let start = offsets.get(i).ok_or_else(bad)?.get() as usize;
    let end = offsets.get(i + 1).ok_or_else(bad)?.get() as usize;
    let raw = bytes.get(start..end).ok_or_else(bad)?;
    std::str::from_utf8(raw).map_err(|_| CatalogError::corrupt(section, format!("string {i} is not UTF-8")))
}

/// What `grlm catalog inspect` prints.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CatalogInfo {
    /// `major.minor` of the file.
    pub format_version: String,
    /// Items.
    pub items: usize,
    /// Distinct TIDs.
    pub unique_tids: usize,
    /// Distinct terms.
    pub unique_terms: usize,
    /// Terms per TID.
    pub tid_len: usize,
    /// Share of items whose TID is already taken by another item: `1 − unique_tids / items`.
    pub collision_rate: f64,
    /// Items whose TID is shared with at least one other item.
    pub items_sharing_tid: u64,
    /// Largest number of items with one TID.
    pub max_items_per_tid: u64,
    /// File size.
    pub bytes: u64,
    /// File size per item.
    pub bytes_per_item: f64,
    /// Optional sections from a newer minor version, skipped by this reader.
    pub unknown_optional_sections: usize,
    /// The token trie, if the catalogue has one.
    pub token_trie: Option<TokenTrieInfo>,
    /// The collaborative prior, if the catalogue has one.
    pub prior: Option<PriorInfo>,
    /// Size of each section present.
    pub sections: Vec<SectionInfo>,
}

/// The token trie in [`CatalogInfo`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenTrieInfo {
    /// Name of the model whose tokenizer built it.
    pub tokenizer: String,
    /// That tokenizer's vocabulary size.
    pub vocab_size: u32,
    /// Its fingerprint, hex.
    pub fingerprint: String,
    /// Trie nodes (single-TID subtrees are cut to one leaf).
    pub nodes: usize,
    /// Most tokens before a prefix names one TID.
    pub depth: u32,
}

/// The prior in [`CatalogInfo`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct PriorInfo {
    /// Users whose sequences were counted.
    pub users: u64,
    /// Distinct (item, next item) pairs stored.
    pub transitions: u64,
    /// Sum of their counts.
    pub steps: u64,
    /// The last this many items of every sequence were not counted.
    pub holdout: u32,
    /// Most successors stored per item.
    pub max_successors: u32,
    /// Hash of the counts, hex: equal for equal counts.
    pub fingerprint: String,
    /// Size of the section.
    pub bytes: u64,
}

/// One section in [`CatalogInfo`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct SectionInfo {
    /// Section name.
    pub name: &'static str,
    /// Its length.
    pub bytes: u64,
}
