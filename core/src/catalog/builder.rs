//! Building a catalogue: from items and TIDs to the sections of a `.grlm` file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::{
    align_up, Header, SectionEntry, SectionKind, FORMAT_MAJOR, FORMAT_MINOR, HEADER_LEN, SECTION_ENTRY_LEN,
    SECTION_REQUIRED,
};
use super::input::{read_items, read_tids, InputError};
use super::le::extend_u32;
use super::transitions::{build_section, TransitionCounts, TransitionReport};
use super::trie::{build_trie, TokenTrie, TrieBuildError};
use crate::tid::Tid;
use crate::tokenizer::TokenizerFingerprint;

/// Why a catalogue could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An input file is malformed or unreadable.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The TIDs file gives one item a second TID.
    #[error("{path}:{line}: item {item} already appeared on line {first_line}")]
    DuplicateItem {
        /// The file.
        path: PathBuf,
        /// Line of the repeat.
        line: u64,
        /// Line of the first occurrence.
        first_line: u64,
        /// The item id.
        item: u32,
    },
    /// A TID is given for an item that the items file does not have.
    #[error("{path}:{line}: item {item} is not in the items file")]
    #[allow(missing_docs)] // the fields are named for what they hold
    UnknownItem { path: PathBuf, line: u64, item: u32 },
    /// Items without a TID, while they were not allowed.
    #[error(
        "{path}:{line}: item {item} has no TID ({count} items have none; pass --allow-missing-tids to leave them out)"
    )]
    MissingTid {
        /// The items file.
        path: PathBuf,
        /// Line of the first such item.
        line: u64,
        /// The first such item.
        item: u32,
        /// How many items lack a TID.
        count: usize,
    },
    /// Item added twice through [`CatalogBuilder::add`].
    #[error("item {0} was added twice")]
    DuplicateItemId(u32),
    /// A TID's length differs from the catalogue's.
    #[error("item {item}: TID has {found} terms but the catalogue's TIDs have {expected}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    TidLength { item: u32, expected: usize, found: usize },
    /// Nothing to build.
    #[error("no items: a catalogue needs at least one item with a TID")]
    Empty,
    /// The token trie could not be built with the given tokenizer.
    #[error("token trie: {0}")]
    TokenTrie(#[from] TrieBuildError),
    /// A count or size does not fit the format's 32-bit fields.
    #[error("catalogue too large: {0}")]
    TooLarge(String),
    /// The prior could not be built (a count or size beyond the format).
    #[error("prior: {0}")]
    Prior(String),
    /// Writing the output failed; no partial file is left at the destination.
    #[error("writing {path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Io { path: PathBuf, source: std::io::Error },
}

/// What a build produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BuildReport {
    /// Items in the catalogue.
    pub items: usize,
    /// Distinct TIDs.
    pub unique_tids: usize,
    /// Distinct terms.
    pub unique_terms: usize,
    /// Items of the items file left out because they had no TID.
    pub skipped_without_tid: usize,
    /// Size of the written file.
    pub bytes: u64,
    /// What the prior kept and dropped, when one was built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior: Option<TransitionReport>,
}

struct Entry {
    item: u32,
    tid: Tid,
    title: Option<String>,
}

/// Collects items and writes a catalogue.
///
/// Items may share a TID; all of them are kept. The TID length is taken from the first item
/// unless set with [`CatalogBuilder::with_tid_len`].
#[derive(Default)]
pub struct CatalogBuilder {
    tid_len: Option<usize>,
    entries: Vec<Entry>,
    skipped_without_tid: usize,
    token_trie: Option<TokenTrieSpec>,
    prior: Option<PriorSpec>,
}

/// The counts a prior is built from and how they were made.
struct PriorSpec {
    counts: TransitionCounts,
    holdout: u32,
    max_successors: u32,
}

/// Tokenizes one TID as a model writes it; the error is a message for the build report.
pub type TidTokenizer = Box<dyn FnMut(&Tid) -> Result<Vec<u32>, String>>;

/// What the builder needs to add a token trie: the tokenizer's fingerprint and a function
/// giving the tokens a model writes for a TID (`grlm::prompt` has the text and
/// `grlm::engine::token_trie_spec` makes one from a model).
pub struct TokenTrieSpec {
    /// Stored in the catalogue; the engine refuses a model whose tokenizer differs.
    pub fingerprint: TokenizerFingerprint,
    /// The tokens of one TID as generated output.
    pub tokenize: TidTokenizer,
}

impl CatalogBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires every TID to have `len` terms.
    pub fn with_tid_len(mut self, len: usize) -> Self {
        self.tid_len = Some(len);
        self
    }

    /// Also writes a token trie (section `TokenTrie`) so that the catalogue can drive
    /// constrained decoding with the tokenizer described by `spec`.
    pub fn with_token_trie(mut self, spec: TokenTrieSpec) -> Self {
        self.token_trie = Some(spec);
        self
    }

    /// Also writes the collaborative prior (section `Prior`) from `counts`, which held out
    /// the last `holdout` items of every sequence; each item keeps its `max_successors`
    /// most frequent successors. Counts naming items the catalogue lacks are left out and
    /// reported.
    pub fn with_prior(mut self, counts: TransitionCounts, holdout: u32, max_successors: u32) -> Self {
        self.prior = Some(PriorSpec {
            counts,
            holdout,
            max_successors,
        });
        self
    }

    /// Adds one item. Fails if the TID length differs from the catalogue's; a repeated item id
    /// is reported by [`CatalogBuilder::to_bytes`] / [`CatalogBuilder::write`].
    pub fn add(&mut self, item: u32, tid: Tid, title: Option<String>) -> Result<(), BuildError> {
        let expected = *self.tid_len.get_or_insert(tid.len());
        if tid.len() != expected {
            return Err(BuildError::TidLength {
                item,
                expected,
                found: tid.len(),
            });
        }
        self.entries.push(Entry {
            item,
            tid,
            title: title.filter(|t| !t.is_empty()),
        });
        Ok(())
    }

    /// Whether an item with this id was added.
    pub fn contains(&self, item: u32) -> bool {
        self.entries.iter().any(|e| e.item == item)
    }

    /// Reads `items.jsonl` and `tids.jsonl` (formats in [`super::input`]).
    ///
    /// Every TID must belong to an item of the items file. Items without a TID are an error
    /// unless `allow_missing_tids`, in which case they are left out and counted.
    pub fn from_jsonl(items_path: &Path, tids_path: &Path, allow_missing_tids: bool) -> Result<Self, BuildError> {
        let items = read_items(items_path)?;
        let tids = read_tids(tids_path, None)?;
        // The reader refuses an item listed twice, so every id maps to one record.
        let by_id: HashMap<u32, usize> = items.iter().enumerate().map(|(i, r)| (r.item, i)).collect();
        let mut tid_of: Vec<Option<usize>> = vec![None; items.len()];
        for (index, record) in tids.iter().enumerate() {
            let Some(&item_index) = by_id.get(&record.item) else {
                return Err(BuildError::UnknownItem {
                    path: tids_path.to_owned(),
                    line: record.line,
                    item: record.item,
                });
            };
            if let Some(first) = tid_of[item_index] {
                return Err(BuildError::DuplicateItem {
                    path: tids_path.to_owned(),
                    line: record.line,
                    first_line: tids[first].line,
                    item: record.item,
                });
            }
            tid_of[item_index] = Some(index);
        }
        let missing = tid_of.iter().filter(|t| t.is_none()).count();
        if missing > 0 && !allow_missing_tids {
            let first = tid_of.iter().position(Option::is_none).unwrap_or(0);
            return Err(BuildError::MissingTid {
                path: items_path.to_owned(),
                line: items[first].line,
                item: items[first].item,
                count: missing,
            });
        }
        let mut builder = CatalogBuilder::new();
        let mut tids: Vec<Option<Tid>> = tids.into_iter().map(|r| Some(r.tid)).collect();
        for (record, tid_index) in items.into_iter().zip(tid_of) {
            if let Some(tid) = tid_index.and_then(|i| tids[i].take()) {
                builder.add(record.item, tid, record.title)?;
            }
        }
        builder.skipped_without_tid = missing;
        Ok(builder)
    }

    /// Number of items added so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no item was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The whole file in memory.
    pub fn to_bytes(&mut self) -> Result<Vec<u8>, BuildError> {
        let layout = self.layout()?;
        let mut out = Vec::with_capacity(layout.header.file_len as usize);
        layout.write_to(&mut out).map_err(|source| BuildError::Io {
            path: PathBuf::from("<memory>"),
            source,
        })?;
        Ok(out)
    }

    /// Writes the catalogue to `path` atomically: the bytes go to a temporary file in the same
    /// directory, which is synced and then renamed over `path`. An error or a crash leaves
    /// whatever was at `path` before untouched.
    pub fn write(&mut self, path: &Path) -> Result<BuildReport, BuildError> {
        let layout = self.layout()?;
        crate::atomic_write::write_atomically(path, |w| layout.write_to(w)).map_err(|source| BuildError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(BuildReport {
            items: layout.header.item_count as usize,
            unique_tids: layout.header.tid_count as usize,
            unique_terms: layout.header.term_count as usize,
            skipped_without_tid: self.skipped_without_tid,
            bytes: layout.header.file_len,
            prior: layout.prior,
        })
    }

    fn layout(&mut self) -> Result<Layout, BuildError> {
        if self.entries.is_empty() {
            return Err(BuildError::Empty);
        }
        let too_large = |what: &str| BuildError::TooLarge(what.to_owned());
        let n = self.entries.len();
        let n32 = u32::try_from(n).map_err(|_| too_large("more than 2^32 items"))?;
        self.entries.sort_unstable_by_key(|e| e.item);
        if let Some(w) = self.entries.windows(2).find(|w| w[0].item == w[1].item) {
            return Err(BuildError::DuplicateItemId(w[0].item));
        }
        let l = self.tid_len.unwrap_or(self.entries[0].tid.len());

        // Terms: provisional ids in first-seen order, then ranks in byte order (fst's order).
        let mut provisional: HashMap<&str, u32> = HashMap::new();
        let mut vocab: Vec<&str> = Vec::new();
        let mut flat: Vec<u32> = Vec::with_capacity(n * l);
        for e in &self.entries {
            for term in e.tid.terms() {
                let next = vocab.len() as u32;
                let id = *provisional.entry(term.as_str()).or_insert_with(|| {
                    vocab.push(term.as_str());
                    next
                });
                flat.push(id);
            }
        }
        let v = vocab.len();
        let mut order: Vec<u32> = (0..v as u32).collect();
        order.sort_unstable_by(|&a, &b| vocab[a as usize].cmp(vocab[b as usize]));
        let mut rank = vec![0u32; v];
        for (r, &p) in order.iter().enumerate() {
            rank[p as usize] = r as u32;
        }
        for id in &mut flat {
            *id = rank[*id as usize];
        }
        let sorted_terms: Vec<&str> = order.iter().map(|&p| vocab[p as usize]).collect();

        // Unique TIDs in lexicographic order of their term-id rows; items of one TID ascending.
        let row = |i: usize| &flat[i * l..(i + 1) * l];
        let mut by_tid: Vec<u32> = (0..n32).collect();
        by_tid.sort_unstable_by(|&a, &b| row(a as usize).cmp(row(b as usize)).then(a.cmp(&b)));
        let mut tid_terms: Vec<u32> = Vec::new();
        let mut tid_item_offsets: Vec<u32> = Vec::new();
        let mut item_tid = vec![0u32; n];
        for (pos, &item) in by_tid.iter().enumerate() {
            let new_tid = pos == 0 || row(item as usize) != row(by_tid[pos - 1] as usize);
            if new_tid {
                tid_item_offsets.push(pos as u32);
                tid_terms.extend_from_slice(row(item as usize));
            }
            item_tid[item as usize] = (tid_item_offsets.len() - 1) as u32;
        }
        let t = tid_item_offsets.len();
        tid_item_offsets.push(n32);

        // Inverted lists, filled in TID order so that every list comes out ascending.
        let key_count = l.checked_mul(v).ok_or_else(|| too_large("L × terms overflows"))?;
        if key_count >= u32::MAX as usize || t.checked_mul(l).is_none_or(|x| x >= u32::MAX as usize) {
            return Err(too_large("postings do not fit 32-bit offsets"));
        }
        let mut pos_offsets = vec![0u32; key_count + 1];
        for tid in 0..t {
            for p in 0..l {
                pos_offsets[p * v + tid_terms[tid * l + p] as usize + 1] += 1;
            }
        }
        prefix_sum(&mut pos_offsets);
        let mut cursor = pos_offsets.clone();
        let mut pos_postings = vec![0u32; t * l];
        for tid in 0..t {
            for p in 0..l {
                let key = p * v + tid_terms[tid * l + p] as usize;
                pos_postings[cursor[key] as usize] = tid as u32;
                cursor[key] += 1;
            }
        }
        let mut term_offsets_post = vec![0u32; v + 1];
        let mut distinct = Vec::with_capacity(l);
        let distinct_terms = |tid: usize, buf: &mut Vec<u32>| {
            buf.clear();
            buf.extend_from_slice(&tid_terms[tid * l..(tid + 1) * l]);
            buf.sort_unstable();
            buf.dedup();
        };
        for tid in 0..t {
            distinct_terms(tid, &mut distinct);
            for &term in &distinct {
                term_offsets_post[term as usize + 1] += 1;
            }
        }
        prefix_sum(&mut term_offsets_post);
        let mut cursor = term_offsets_post.clone();
        let mut term_postings = vec![0u32; term_offsets_post[v] as usize];
        for tid in 0..t {
            distinct_terms(tid, &mut distinct);
            for &term in &distinct {
                term_postings[cursor[term as usize] as usize] = tid as u32;
                cursor[term as usize] += 1;
            }
        }

        // Strings.
        let mut fst_builder = fst::MapBuilder::memory();
        for (id, term) in sorted_terms.iter().enumerate() {
            fst_builder
                .insert(term, id as u64)
                .map_err(|e| too_large(&format!("term dictionary: {e}")))?;
        }
        let term_fst = fst_builder
            .into_inner()
            .map_err(|e| too_large(&format!("term dictionary: {e}")))?;
        let (term_offsets, term_bytes) = string_table(sorted_terms.iter().copied(), "term texts")?;
        let (title_offsets, title_bytes) =
            string_table(self.entries.iter().map(|e| e.title.as_deref().unwrap_or("")), "titles")?;

        let u32s = |values: &[u32]| {
            let mut out = Vec::with_capacity(values.len() * 4);
            extend_u32(&mut out, values.iter().copied());
            out
        };
        let sections: Vec<(SectionKind, Vec<u8>)> = vec![
            (SectionKind::TermFst, term_fst),
            (SectionKind::TermOffsets, term_offsets),
            (SectionKind::TermBytes, term_bytes),
            (
                SectionKind::ItemIds,
                u32s(&self.entries.iter().map(|e| e.item).collect::<Vec<_>>()),
            ),
            (SectionKind::ItemTid, u32s(&item_tid)),
            (SectionKind::TidTerms, u32s(&tid_terms)),
            (SectionKind::TidItemOffsets, u32s(&tid_item_offsets)),
            (SectionKind::TidItems, u32s(&by_tid)),
            (SectionKind::PosPostingOffsets, u32s(&pos_offsets)),
            (SectionKind::PosPostings, u32s(&pos_postings)),
            (SectionKind::TermPostingOffsets, u32s(&term_offsets_post)),
            (SectionKind::TermPostings, u32s(&term_postings)),
            (SectionKind::TitleOffsets, title_offsets),
            (SectionKind::TitleBytes, title_bytes),
        ];
        let mut sections = sections;
        if let Some(spec) = &mut self.token_trie {
            let mut texts = Vec::with_capacity(t);
            let mut tokens = Vec::with_capacity(t);
            for tid in 0..t {
                let terms = tid_terms[tid * l..(tid + 1) * l]
                    .iter()
                    .map(|&id| sorted_terms[id as usize]);
                let tid = Tid::from_terms(terms).map_err(|e| BuildError::TooLarge(format!("TID {tid}: {e}")))?;
                let text = tid.to_string();
                let seq = (spec.tokenize)(&tid).map_err(|reason| TrieBuildError::Tokenizer {
                    tid: text.clone(),
                    reason,
                })?;
                texts.push(text);
                tokens.push(seq);
            }
            sections.push((SectionKind::TokenTrie, build_trie(&texts, &tokens, &spec.fingerprint)?));
        }
        let mut prior_report = None;
        if let Some(spec) = &self.prior {
            let trie_bytes = sections
                .iter()
                .find(|(kind, _)| *kind == SectionKind::TokenTrie)
                .map(|(_, bytes)| bytes.as_slice());
            let trie_meta = trie_bytes
                .map(|b| super::trie::parse_meta(b, t))
                .transpose()
                .map_err(|e| BuildError::Prior(e.to_string()))?;
            let trie = trie_meta.as_ref().zip(trie_bytes).map(|(m, b)| TokenTrie::new(m, b));
            let ids: Vec<u32> = self.entries.iter().map(|e| e.item).collect();
            let (bytes, report) = build_section(&spec.counts, spec.holdout, spec.max_successors, &ids, &item_tid, trie)
                .map_err(BuildError::Prior)?;
            sections.push((SectionKind::Prior, bytes));
            prior_report = Some(report);
        }
        let header = Header {
            major: FORMAT_MAJOR,
            minor: FORMAT_MINOR,
            file_len: 0,
            tid_len: l as u32,
            item_count: n32,
            tid_count: t as u32,
            term_count: u32::try_from(v).map_err(|_| too_large("more than 2^32 terms"))?,
        };
        let mut layout = Layout::new(header, sections);
        layout.prior = prior_report;
        Ok(layout)
    }
}

fn prefix_sum(counts: &mut [u32]) {
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
}

/// Offsets (`u32 × (count+1)`) and concatenated bytes of a list of strings.
fn string_table<'a>(strings: impl Iterator<Item = &'a str>, what: &str) -> Result<(Vec<u8>, Vec<u8>), BuildError> {
    let mut offsets = Vec::new();
    let mut bytes = Vec::new();
    extend_u32(&mut offsets, [0]);
    for s in strings {
        bytes.extend_from_slice(s.as_bytes());
        let end = u32::try_from(bytes.len()).map_err(|_| BuildError::TooLarge(format!("{what} exceed 4 GiB")))?;
        extend_u32(&mut offsets, [end]);
    }
    Ok((offsets, bytes))
}

/// Sections placed at their aligned offsets, with the header that describes them.
struct Layout {
    header: Header,
    entries: Vec<SectionEntry>,
    sections: Vec<Vec<u8>>,
    prior: Option<TransitionReport>,
}

impl Layout {
    fn new(mut header: Header, sections: Vec<(SectionKind, Vec<u8>)>) -> Self {
        let mut offset = align_up(HEADER_LEN + sections.len() * SECTION_ENTRY_LEN);
        let mut entries = Vec::with_capacity(sections.len());
        for (kind, bytes) in &sections {
            entries.push(SectionEntry {
                kind: *kind as u32,
                flags: if kind.is_required() { SECTION_REQUIRED } else { 0 },
                offset: offset as u64,
                len: bytes.len() as u64,
                crc: crc32fast::hash(bytes),
            });
            offset = align_up(offset + bytes.len());
        }
        header.file_len = offset as u64;
        Layout {
            header,
            entries,
            sections: sections.into_iter().map(|(_, b)| b).collect(),
            prior: None,
        }
    }

    fn write_to(&self, out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
        let head = self.header.encode(&self.entries);
        out.write_all(&head)?;
        let mut written = head.len();
        let zeros = [0u8; 64];
        for (entry, bytes) in self.entries.iter().zip(&self.sections) {
            out.write_all(&zeros[..entry.offset as usize - written])?;
            out.write_all(bytes)?;
            written = entry.offset as usize + bytes.len();
        }
        out.write_all(&zeros[..self.header.file_len as usize - written])?;
        Ok(())
    }
}
