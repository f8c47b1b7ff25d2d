//! Round trips, corruption and version handling of the catalogue file.

use proptest::prelude::*;

use super::format::SectionKind;
use super::format::{Header, SectionEntry, HEADER_LEN, SECTION_ENTRY_LEN, SECTION_REQUIRED};
use super::trie::TokenTrie;
use super::*;
use crate::tid::Tid;
use crate::tokenizer::TokenizerFingerprint;

fn tid(text: &str) -> Tid {
    Tid::parse(text, None).unwrap()
}

/// A small catalogue with a collision (items 3 and 9) and an item without a title.
pub(crate) fn sample_bytes() -> Vec<u8> {
    let mut b = CatalogBuilder::new();
    b.add(
        9,
        tid("[shampoo, color, care, treated, preserve]"),
        Some("Shampoo B".into()),
    )
    .unwrap();
    b.add(
        1,
        tid("[hair-mask, color-lock, citrus, protein, unisex]"),
        Some("Mask".into()),
    )
    .unwrap();
    b.add(
        3,
        tid("[shampoo, color, care, treated, preserve]"),
        Some("Shampoo A".into()),
    )
    .unwrap();
    b.add(4, tid("[soap, raw, ghana, deep-clean, traditional]"), None)
        .unwrap();
    b.add(
        7,
        tid("[hair-mask, repairing, monoi, unisex, intense]"),
        Some("Ünïcode ✓".into()),
    )
    .unwrap();
    b.to_bytes().unwrap()
}

#[test]
fn sample_round_trips() {
    let c = Catalog::from_bytes(sample_bytes()).unwrap();
    c.verify().unwrap();
    assert_eq!((c.len(), c.tid_count(), c.tid_len()), (5, 4, 5));
    assert_eq!(
        c.tid_of(1).unwrap().unwrap().to_string(),
        "[hair-mask, color-lock, citrus, protein, unisex]"
    );
    assert_eq!(c.title_of(7).unwrap(), Some("Ünïcode ✓"));
    assert_eq!(c.title_of(4).unwrap(), None);
    assert_eq!(c.tid_of(2).unwrap(), None, "unknown item");
    assert_eq!(
        c.items_with_tid(&tid("[shampoo, color, care, treated, preserve]"))
            .unwrap(),
        [3, 9]
    );
    assert!(c
        .items_with_tid(&tid("[shampoo, color, care, treated, x]"))
        .unwrap()
        .is_empty());
    let info = c.info();
    assert_eq!(
        (
            info.items,
            info.unique_tids,
            info.items_sharing_tid,
            info.max_items_per_tid
        ),
        (5, 4, 2, 2)
    );
    assert!((info.collision_rate - 0.2).abs() < 1e-9);
}

#[test]
fn builder_rejects_bad_input() {
    assert!(matches!(CatalogBuilder::new().to_bytes(), Err(BuildError::Empty)));
    let mut b = CatalogBuilder::new();
    b.add(1, tid("[a, b]"), None).unwrap();
    assert!(matches!(
        b.add(2, tid("[a, b, c]"), None),
        Err(BuildError::TidLength {
            item: 2,
            expected: 2,
            found: 3
        })
    ));
    b.add(1, tid("[c, d]"), None).unwrap();
    assert!(matches!(b.to_bytes(), Err(BuildError::DuplicateItemId(1))));
}

#[test]
fn written_file_is_mapped_and_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.grlm");
    let mut b = CatalogBuilder::new();
    b.add(5, tid("[a, b]"), None).unwrap();
    let report = b.write(&path).unwrap();
    let old = Catalog::open(&path).unwrap();
    // Rewriting while a reader has the old file mapped: the reader keeps its bytes.
    let mut b = CatalogBuilder::new();
    b.add(6, tid("[c, d]"), None).unwrap();
    b.write(&path).unwrap();
    assert_eq!(old.tid_of(5).unwrap().unwrap().to_string(), "[a, b]");
    old.verify().unwrap();
    let new = Catalog::open(&path).unwrap();
    assert!(new.contains(6) && !new.contains(5));
    assert_eq!(report.bytes, std::fs::metadata(&path).unwrap().len().max(report.bytes));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "only the catalogue remains: {leftovers:?}");
}

#[test]
fn failed_write_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("c.grlm");
    let mut b = CatalogBuilder::new();
    b.add(5, tid("[a, b]"), None).unwrap();
    assert!(matches!(b.write(&path), Err(BuildError::Io { .. })));
    assert!(!path.exists());
}

#[test]
fn typed_errors_for_bad_files() {
    let good = sample_bytes();
    assert!(matches!(Catalog::from_bytes(Vec::new()), Err(CatalogError::Empty)));
    assert!(matches!(
        Catalog::from_bytes(b"GRLM".to_vec()),
        Err(CatalogError::Truncated { .. })
    ));
    assert!(matches!(
        Catalog::from_bytes(b"PK\x03\x04 not a catalogue".to_vec()),
        Err(CatalogError::BadMagic)
    ));
    assert!(matches!(
        Catalog::from_bytes(good[..good.len() - 64].to_vec()),
        Err(CatalogError::Truncated { .. })
    ));
    assert!(matches!(
        Catalog::from_bytes(good[..100].to_vec()),
        Err(CatalogError::Truncated { .. })
    ));
    let mut flipped = good.clone();
    flipped[20] ^= 1;
    assert!(matches!(
        Catalog::from_bytes(flipped),
        Err(CatalogError::ChecksumMismatch { section: "header", .. })
    ));
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 64]);
    assert!(matches!(Catalog::from_bytes(longer), Err(CatalogError::Corrupt { .. })));
}

/// Re-encodes the header of `bytes` after `edit`, with a valid CRC, so that checks behind
/// the CRC are reached.
fn reheader(bytes: &[u8], edit: impl FnOnce(&mut Header, &mut Vec<SectionEntry>)) -> Vec<u8> {
    let (mut header, mut sections) = Header::decode(bytes).unwrap();
    edit(&mut header, &mut sections);
    let head = header.encode(&sections);
    let mut out = bytes.to_vec();
    out[..head.len()].copy_from_slice(&head);
    out
}

/// `bytes` with one more section of unknown kind 99 (8 bytes) and flags `flags`, as a newer
/// writer would add it: the table grows by one entry and everything after it moves by 64.
fn with_section(bytes: &[u8], flags: u32) -> Vec<u8> {
    let (mut header, sections) = Header::decode(bytes).unwrap();
    let old_start = format::align_up(HEADER_LEN + sections.len() * SECTION_ENTRY_LEN);
    let mut moved: Vec<SectionEntry> = sections
        .iter()
        .map(|s| SectionEntry {
            offset: s.offset + 64,
            ..*s
        })
        .collect();
    let extra_at = header.file_len + 64;
    moved.push(SectionEntry {
        kind: 99,
        flags,
        offset: extra_at,
        len: 8,
        crc: crc32fast::hash(b"future!!"),
    });
    header.file_len += 128;
    let mut out = header.encode(&moved);
    out.resize(old_start + 64, 0);
    out.extend_from_slice(&bytes[old_start..]);
    out.extend_from_slice(b"future!!");
    out.resize(header.file_len as usize, 0);
    out
}

#[test]
fn versions_and_sections() {
    let good = sample_bytes();
    let newer_major = reheader(&good, |h, _| h.major = 2);
    assert!(matches!(
        Catalog::from_bytes(newer_major),
        Err(CatalogError::UnsupportedVersion {
            major: 2,
            minor: super::format::FORMAT_MINOR,
            supported_major: 1
        })
    ));
    // 1.0 files (no token trie yet) still open; the trie is simply absent.
    let older_minor = Catalog::from_bytes(reheader(&good, |h, _| h.minor = 0)).unwrap();
    older_minor.verify().unwrap();
    assert!(older_minor.token_trie().is_none());
    let newer_minor = reheader(&good, |h, _| h.minor = 7);
    Catalog::from_bytes(newer_minor).unwrap().verify().unwrap();

    // An optional section of unknown kind (a later minor version) is skipped, but a required
    // one is refused.
    let c = Catalog::from_bytes(with_section(&good, 0)).unwrap();
    c.verify().unwrap();
    assert_eq!(c.info().unknown_optional_sections, 1);
    // Its bytes are still covered by verify.
    let mut damaged = with_section(&good, 0);
    let at = damaged.len() - 128 + 64;
    damaged[at] ^= 1;
    let c = Catalog::from_bytes(damaged).unwrap();
    assert!(matches!(
        c.verify(),
        Err(CatalogError::ChecksumMismatch {
            section: "unknown optional section",
            ..
        })
    ));
    assert!(matches!(
        Catalog::from_bytes(with_section(&good, SECTION_REQUIRED)),
        Err(CatalogError::UnknownRequiredSection { kind: 99 })
    ));
    let missing = reheader(&good, |_, s| {
        s.remove(3);
    });
    assert!(matches!(
        Catalog::from_bytes(missing),
        Err(CatalogError::MissingSection("ItemIds"))
    ));
}

#[test]
fn huge_declared_sizes_are_refused() {
    let good = sample_bytes();
    for edit in [
        (|h: &mut Header, _: &mut Vec<SectionEntry>| h.item_count = u32::MAX)
            as fn(&mut Header, &mut Vec<SectionEntry>),
        |h, _| h.term_count = u32::MAX,
        |h, _| h.tid_len = 1_000_000,
        |h, _| h.tid_count = 0,
        |_, s| s[0].len = u64::MAX,
        |_, s| s[4].offset = u64::MAX - 3,
        |_, s| s[2].offset += 1,
    ] {
        let bytes = reheader(&good, edit);
        assert!(matches!(Catalog::from_bytes(bytes), Err(CatalogError::Corrupt { .. })));
    }
}

/// Whether `bytes` open as a catalogue that passes `verify`.
fn opens_and_verifies(bytes: &[u8]) -> bool {
    Catalog::from_bytes(bytes.to_vec()).is_ok_and(|c| c.verify().is_ok())
}

#[test]
fn every_truncation_and_many_bit_flips_fail_cleanly() {
    let good = sample_bytes();
    for len in 0..good.len() {
        assert!(
            !opens_and_verifies(&good[..len]),
            "prefix of {len} bytes must not verify"
        );
    }
    let mut verified_flips = 0;
    for at in (0..good.len()).step_by(3) {
        for bit in [0, 3, 7] {
            let mut bytes = good.clone();
            bytes[at] ^= 1 << bit;
            // Flips inside padding are harmless; anything else must fail, never panic.
            if opens_and_verifies(&bytes) {
                verified_flips += 1;
            }
        }
    }
    let padding = good.len()
        - Catalog::from_bytes(good.clone())
            .unwrap()
            .info()
            .sections
            .iter()
            .map(|s| s.bytes)
            .sum::<u64>() as usize;
    assert!(
        verified_flips <= padding,
        "{verified_flips} flips verified, only {padding} padding bytes"
    );
}

fn arb_catalogue() -> impl Strategy<Value = Vec<(u32, Vec<String>, Option<String>)>> {
    let term =
        prop::sample::select(vec!["a", "b", "hair mask", "Citrus", "x-y", "élan", "zz", "q"]).prop_map(str::to_owned);
    let title = prop::option::of("[a-zA-Z &;é✓]{0,12}");
    prop::collection::btree_map(any::<u32>(), (prop::collection::vec(term, 3), title), 1..40)
        .prop_map(|m| m.into_iter().map(|(id, (terms, title))| (id, terms, title)).collect())
}

/// A byte-level tokenizer (token = byte): enough to exercise the token-trie section
/// without a model; the engine tests use real llama.cpp tokenizers.
pub(crate) fn byte_trie_spec() -> TokenTrieSpec {
    TokenTrieSpec {
        fingerprint: TokenizerFingerprint {
            hash: 0x0123_4567_89ab_cdef,
            vocab_size: 256,
            name: "bytes".into(),
        },
        tokenize: Box::new(|tid| Ok(tid.to_string().bytes().map(u32::from).collect())),
    }
}

/// The TID index a token sequence leads to, walking the trie until a leaf.
fn walk(trie: &TokenTrie<'_>, text: &[u8]) -> Option<u32> {
    let mut node = TokenTrie::ROOT;
    for &t in text {
        if let Some(tid) = trie.leaf_tid(node).unwrap() {
            return Some(tid);
        }
        node = trie.child(node, u32::from(t)).unwrap()?;
    }
    trie.leaf_tid(node).unwrap()
}

#[test]
fn token_trie_section_round_trips_and_is_checked() {
    let mut b = CatalogBuilder::new().with_token_trie(byte_trie_spec());
    for (id, text) in [
        (1, "[hair-mask, color-lock, citrus, protein, unisex]"),
        (2, "[hair-mask, color-lock, citrus, protein, women]"),
        (3, "[soap, raw, ghana, deep-clean, traditional]"),
        (4, "[hair-mask, color-lock, citrus, protein, unisex]"),
    ] {
        b.add(id, tid(text), None).unwrap();
    }
    let bytes = b.to_bytes().unwrap();
    let c = Catalog::from_bytes(bytes.clone()).unwrap();
    c.verify().unwrap();
    assert_eq!(c.info().format_version, "1.2");
    let trie = c.token_trie().unwrap();
    assert_eq!(trie.fingerprint().name, "bytes");
    // Items 1 and 4 share a TID: one leaf; the walk stops as soon as the prefix is unique.
    let leaf_tid = walk(&trie, b"[hair-mask, color-lock, citrus, protein, u").unwrap();
    assert_eq!(
        c.tid_at(leaf_tid as usize).unwrap(),
        tid("[hair-mask, color-lock, citrus, protein, unisex]")
    );
    assert_eq!(walk(&trie, b"[s"), Some(walk(&trie, b"[soap").unwrap()));
    assert_eq!(
        trie.depth() as usize,
        "[hair-mask, color-lock, citrus, protein, ".len() + 1
    );

    // A flipped byte inside the trie: open still succeeds (structure only), verify names it.
    let entry = Header::decode(&bytes)
        .unwrap()
        .1
        .into_iter()
        .find(|e| e.kind == SectionKind::TokenTrie as u32)
        .unwrap();
    assert_eq!(
        entry.flags & SECTION_REQUIRED,
        0,
        "the trie is optional: 1.0 readers skip it"
    );
    let mut damaged = bytes.clone();
    damaged[entry.offset as usize + 100] ^= 0x10;
    let c = Catalog::from_bytes(damaged).unwrap();
    let e = c.verify().unwrap_err().to_string();
    assert!(e.contains("TokenTrie"), "{e}");
    // A trie whose TID count disagrees with the header is refused at open.
    let mut wrong = bytes.clone();
    wrong[entry.offset as usize + 24] ^= 1;
    let fixed = reheader(&wrong, |_, sections| {
        for s in sections.iter_mut().filter(|s| s.kind == SectionKind::TokenTrie as u32) {
            s.crc = crc32fast::hash(&wrong[s.offset as usize..(s.offset + s.len) as usize]);
        }
    });
    assert!(Catalog::from_bytes(fixed)
        .unwrap_err()
        .to_string()
        .contains("TokenTrie"));

    // A tokenizer that makes two TIDs identical, or fails, is a build error.
    let mut b = CatalogBuilder::new().with_token_trie(TokenTrieSpec {
        fingerprint: byte_trie_spec().fingerprint,
        tokenize: Box::new(|_| Ok(vec![1, 2])),
    });
    b.add(1, tid("[a, b]"), None).unwrap();
    b.add(2, tid("[c, d]"), None).unwrap();
    assert!(matches!(b.to_bytes().unwrap_err(), BuildError::TokenTrie(_)));
    let mut b = CatalogBuilder::new().with_token_trie(TokenTrieSpec {
        fingerprint: byte_trie_spec().fingerprint,
        tokenize: Box::new(|_| Err("no vocabulary".into())),
    });
    b.add(1, tid("[a, b]"), None).unwrap();
    assert!(b.to_bytes().unwrap_err().to_string().contains("no vocabulary"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_catalogue_with_a_token_trie_round_trips(entries in arb_catalogue()) {
        let mut b = CatalogBuilder::new().with_token_trie(byte_trie_spec());
        for (id, terms, title) in &entries {
            b.add(*id, Tid::from_terms(terms).unwrap(), title.clone()).unwrap();
        }
        let c = Catalog::from_bytes(b.to_bytes().unwrap()).unwrap();
        c.verify().unwrap();
        let trie = c.token_trie().unwrap();
        for (id, terms, _) in &entries {
            let want = Tid::from_terms(terms).unwrap();
            let leaf = walk(&trie, want.to_string().as_bytes()).unwrap();
            prop_assert_eq!(c.tid_at(leaf as usize).unwrap(), want);
            prop_assert!(c.items_with_tid(&c.tid_at(leaf as usize).unwrap()).unwrap().contains(id));
        }
    }

    #[test]
    fn any_catalogue_round_trips(entries in arb_catalogue()) {
        let mut b = CatalogBuilder::new();
        for (id, terms, title) in &entries {
            b.add(*id, Tid::from_terms(terms).unwrap(), title.clone()).unwrap();
        }
        let c = Catalog::from_bytes(b.to_bytes().unwrap()).unwrap();
        c.verify().unwrap();
        prop_assert_eq!(c.len(), entries.len());
        for (id, terms, title) in &entries {
            let want = Tid::from_terms(terms).unwrap();
            prop_assert_eq!(c.tid_of(*id).unwrap(), Some(want.clone()));
            let want_title = title.as_deref().filter(|t| !t.is_empty());
            prop_assert_eq!(c.title_of(*id).unwrap(), want_title);
            let sharing = c.items_with_tid(&want).unwrap();
            prop_assert!(sharing.contains(id));
            prop_assert!(sharing.windows(2).all(|w| w[0] < w[1]));
        }
    }
}

#[test]
fn catalog_is_shareable_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Catalog>();
    let c = std::sync::Arc::new(Catalog::from_bytes(sample_bytes()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = std::sync::Arc::clone(&c);
            std::thread::spawn(move || c.tid_of(1).unwrap().unwrap().to_string())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), "[hair-mask, color-lock, citrus, protein, unisex]");
    }
}

/// Random catalogues (ids 1..=n, a token trie) with random sequences over them and a few
/// unknown ids.
fn arb_prior_case() -> impl Strategy<Value = (u32, Vec<Vec<u32>>, u32, u32)> {
    (3u32..20).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec(prop::collection::vec(1..=n + 2, 1..9), 0..25),
            0u32..3,
            1u32..5,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The prior section round-trips: what the reader serves is what was counted (capped
    /// and without unknown items), it verifies, and the same counts written as a counts
    /// file give the same catalogue bytes.
    #[test]
    fn prior_section_round_trips((n, rows, holdout, cap) in arb_prior_case()) {
        let sequences: Vec<crate::sequences::Sequence> = rows
            .iter()
            .enumerate()
            .map(|(u, items)| crate::sequences::Sequence { user: u as u32, items: items.clone() })
            .collect();
        let build = |counts: TransitionCounts| {
            let mut b = CatalogBuilder::new()
                .with_token_trie(byte_trie_spec())
                .with_prior(counts, holdout, cap);
            for id in 1..=n {
                b.add(id, tid(&format!("[t{}, u{id}]", id % 3)), None).unwrap();
            }
            b.to_bytes().unwrap()
        };
        let counts = TransitionCounts::from_sequences(&sequences, holdout as usize);
        let bytes = build(counts.clone());
        let c = Catalog::from_bytes(bytes.clone()).unwrap();
        c.verify().unwrap();
        let prior = c.transitions().unwrap();
        prop_assert_eq!(prior.holdout(), holdout);
        prop_assert_eq!(prior.max_successors(), cap);

        // Brute-force counts of the known items.
        let mut pop = std::collections::HashMap::<u32, u32>::new();
        let mut pairs = std::collections::HashMap::<(u32, u32), u32>::new();
        let mut users = 0u64;
        for s in &sequences {
            let counted = s.counted(holdout as usize);
            users += u64::from(!counted.is_empty());
            for &i in counted {
                *pop.entry(i).or_default() += 1;
            }
            for w in counted.windows(2) {
                *pairs.entry((w[0], w[1])).or_default() += 1;
            }
        }
        prop_assert_eq!(prior.users(), users);
        for index in 0..c.len() {
            let id = c.item_id(index).unwrap();
            prop_assert_eq!(prior.popularity(index).unwrap(), pop.get(&id).copied().unwrap_or(0));
            let mut want: Vec<(u32, u32)> = pairs
                .iter()
                .filter(|((a, b), _)| *a == id && *b <= n)
                .map(|((_, b), &count)| (*b, count))
                .collect();
            want.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            want.truncate(cap as usize);
            let (items, counts) = prior.successors(index).unwrap();
            let got: Vec<(u32, u32)> = items
                .iter()
                .zip(counts)
                // Ids are 1..=n, so the item at index i is i + 1.
                .map(|(i, c)| (i.get() + 1, c.get()))
                .collect();
            prop_assert_eq!(got, want);
        }

        // The same counts as a counts file: the same bytes.
        let mut tsv = String::new();
        for ((a, b), count) in &pairs {
            tsv.push_str(&format!("{a}\t{b}\t{count}\n"));
        }
        for (item, count) in &pop {
            tsv.push_str(&format!("{item}\t\t{count}\n"));
        }
        tsv.push_str(&format!("\t\t{users}\n"));
        let parsed = TransitionCounts::parse_tsv(tsv.as_bytes(), std::path::Path::new("counts.tsv")).unwrap();
        prop_assert_eq!(build(parsed), bytes);
    }
}
