//! Item text, exact top-k against brute force, and the embedding cache's file format.

use std::collections::HashSet;
use std::path::Path;

use proptest::prelude::*;
use serde_json::json;

use super::cache::{text_hash, CacheStatus, EmbeddingCache, MAGIC};
use super::text::item_text;
use super::top_k::{top_k, top_k_blocked};
use super::NeighborsError;

// ---- item text ----

/// The item of one `items.jsonl` line, read by the one items reader.
fn item(line: &serde_json::Value) -> grlm::catalog::input::ItemRecord {
    let text = line.to_string();
    let mut records = grlm::catalog::input::parse_items(text.as_bytes(), Path::new("items.jsonl")).unwrap();
    records.remove(0)
}

#[test]
fn item_text_uses_every_field_the_item_has() {
    let beauty = json!({"item": 3, "asin": "B0036LJ0HO", "title": "Raw African Black Soap &amp; Shea",
        "categories": [["Beauty", "Bath & Body", "Soaps"], ["Beauty", "Bath & Body", "Soaps"], ["Beauty", "Skin Care"]],
        "brand": null});
    assert_eq!(
        item_text(&item(&beauty)).as_deref(),
        Some("Raw African Black Soap & Shea. Categories: Beauty > Bath & Body > Soaps; Beauty > Skin Care")
    );
    let full = json!({"item": 1, "title": " Mask ", "brand": "Phyto", "categories": ["Hair", ""],
        "description": ["Restores.", "", "Citrus &#39;scent&#39;."]});
    assert_eq!(
        item_text(&item(&full)).as_deref(),
        Some("Mask. Brand: Phyto. Categories: Hair. Restores. Citrus 'scent'.")
    );
    let brand_only = json!({"item": 2, "title": null, "brand": "Floxite", "categories": []});
    assert_eq!(item_text(&item(&brand_only)).as_deref(), Some("Brand: Floxite"));
}

#[test]
fn item_without_text_has_none() {
    for line in [
        json!({"item": 1}),
        json!({"item": 1, "title": "  ", "brand": null, "categories": [[], [""]], "description": ""}),
    ] {
        assert_eq!(item_text(&item(&line)), None, "{line}");
    }
}

// ---- top-k ----

/// Reference: every other item, sorted by score descending then index, first `k`.
fn brute_force(v: &[Vec<f32>], k: usize) -> Vec<Vec<(u32, f32)>> {
    (0..v.len())
        .map(|i| {
            let mut all: Vec<(u32, f32)> = (0..v.len())
                .filter(|&j| j != i)
                .map(|j| (j as u32, v[i].iter().zip(&v[j]).map(|(a, b)| a * b).sum::<f32>() + 0.0))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            all
        })
        .collect()
}

fn small_int_vectors() -> impl Strategy<Value = Vec<Vec<f32>>> {
    // Small integer components make every dot product exact in f32, whatever the order of
    // summation, so ties are real ties and the comparison can be exact.
    (1usize..5)
        .prop_flat_map(|dim| prop::collection::vec(prop::collection::vec((-2i8..=2).prop_map(f32::from), dim), 0..14))
}

proptest! {
    #[test]
    fn top_k_equals_brute_force_with_ties(v in small_int_vectors(), k in 0usize..16, block in 1usize..40) {
        let got = top_k_blocked(&v, k, block).unwrap();
        prop_assert_eq!(got, brute_force(&v, k));
    }

    #[test]
    fn top_k_on_unit_vectors_matches_brute_force_scores(
        raw in prop::collection::vec(prop::collection::vec(-1f32..1.0, 8), 2..30),
        k in 1usize..6,
    ) {
        let v: Vec<Vec<f32>> = raw
            .into_iter()
            .map(|x| {
                let n = x.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-6);
                x.into_iter().map(|a| a / n).collect()
            })
            .collect();
        let got = top_k(&v, k).unwrap();
        let want = brute_force(&v, k);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(g.len(), w.len());
            let ids: HashSet<u32> = g.iter().map(|p| p.0).collect();
            prop_assert!(!ids.contains(&(i as u32)) && ids.len() == g.len());
            for ((_, gs), (_, ws)) in g.iter().zip(w) {
                // Rank by rank the same scores (the gemm may round differently, so near-ties
                // may swap items, never scores).
                prop_assert!((gs - ws).abs() < 1e-5, "row {}: {:?} vs {:?}", i, g, w);
            }
            prop_assert!(g.windows(2).all(|p| p[0].1 >= p[1].1));
        }
    }
}

#[test]
fn top_k_edge_cases() {
    assert!(top_k(&[], 3).unwrap().is_empty());
    assert_eq!(top_k(&[vec![1.0, 0.0]], 3).unwrap(), vec![vec![]]);
    let v = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]];
    // k ≥ n lists everyone else; the exact duplicate comes first, and ties go by index.
    assert_eq!(
        top_k(&v, 10).unwrap(),
        vec![
            vec![(2, 1.0), (1, 0.0)],
            vec![(0, 0.0), (2, 0.0)],
            vec![(0, 1.0), (1, 0.0)]
        ]
    );
    let err = top_k(&[vec![1.0, 0.0], vec![1.0]], 1).unwrap_err();
    assert!(
        matches!(
            err,
            NeighborsError::Dimension {
                actual: 1,
                expected: 2,
                ..
            }
        ),
        "{err}"
    );
    // NaN ranks last rather than first.
    let nan = vec![vec![1.0], vec![f32::NAN], vec![0.5]];
    assert_eq!(top_k(&nan, 1).unwrap()[0], vec![(2, 0.5)]);
}

// ---- cache ----

fn cache_strategy() -> impl Strategy<Value = EmbeddingCache> {
    (1usize..6, any::<u64>()).prop_flat_map(|(dim, fingerprint)| {
        prop::collection::btree_map(
            any::<u32>(),
            (any::<u64>(), prop::collection::vec(-10f32..10.0, dim)),
            0..8,
        )
        .prop_map(move |entries| {
            let mut c = EmbeddingCache::new(fingerprint, dim);
            for (item, (hash, v)) in entries {
                c.insert(item, hash, v).unwrap();
            }
            c
        })
    })
}

proptest! {
    #[test]
    fn cache_round_trips(cache in cache_strategy()) {
        let bytes = cache.to_bytes();
        let back = EmbeddingCache::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &cache);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn cache_rejects_any_truncation(cache in cache_strategy(), cut in any::<prop::sample::Index>()) {
        let bytes = cache.to_bytes();
        let len = cut.index(bytes.len());
        prop_assert!(EmbeddingCache::parse(&bytes[..len]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(EmbeddingCache::parse(&longer).is_err());
    }
}

fn sample_cache() -> EmbeddingCache {
    let mut c = EmbeddingCache::new(0xfeed, 3);
    c.insert(7, text_hash("seven"), vec![0.6, 0.8, 0.0]).unwrap();
    c.insert(2, text_hash("two"), vec![1.0, 0.0, 0.0]).unwrap();
    c
}

#[test]
fn every_single_bit_flip_is_detected() {
    let bytes = sample_cache().to_bytes();
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(
            EmbeddingCache::parse(&flipped).is_err(),
            "bit {bit} flipped was accepted"
        );
    }
}

#[test]
fn cache_errors_say_what_is_wrong() {
    let bytes = sample_cache().to_bytes();
    let reason = |b: &[u8]| EmbeddingCache::parse(b).unwrap_err();
    assert!(reason(&bytes[..10]).contains("truncated"));
    assert!(reason(&bytes[..bytes.len() - 1]).contains("truncated or corrupt"));
    let mut other = bytes.clone();
    other[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert!(reason(&other).contains("format version 2"));
    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert!(reason(&magic).contains("bad magic"));
    let mut huge = bytes.clone();
    huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(reason(&huge).contains("more than can be addressed"));
    let mut crc = bytes.clone();
    let last = crc.len() - 1;
    crc[last] ^= 0x80;
    assert!(reason(&crc).contains("checksum"));
    assert_eq!(&bytes[..8], &MAGIC);
}

#[test]
fn cache_lookups_need_the_same_text() {
    let c = sample_cache();
    assert_eq!(c.get(7, text_hash("seven")), Some(&[0.6, 0.8, 0.0][..]));
    assert_eq!(c.get(7, text_hash("seven!")), None);
    assert_eq!(c.get(8, text_hash("seven")), None);
    let err = sample_cache().insert(1, 0, vec![1.0]).unwrap_err();
    assert!(err.to_string().contains("dimension 1, expected 3"), "{err}");
}

#[test]
fn cache_files_follow_the_reuse_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.jsonl.emb");
    let (empty, status) = EmbeddingCache::open_for(&path, 0xfeed, 3).unwrap();
    assert_eq!((empty.len(), status), (0, CacheStatus::Absent));

    sample_cache().save(&path).unwrap();
    let (same, status) = EmbeddingCache::open_for(&path, 0xfeed, 3).unwrap();
    assert_eq!((same, status), (sample_cache(), CacheStatus::Reused));

    let (fresh, status) = EmbeddingCache::open_for(&path, 0xbeef, 3).unwrap();
    assert_eq!(
        (fresh.len(), fresh.fingerprint(), status),
        (0, 0xbeef, CacheStatus::OtherModel { entries: 2 })
    );

    let err = EmbeddingCache::open_for(&path, 0xfeed, 384).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            NeighborsError::Dimension {
                actual: 384,
                expected: 3,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.starts_with("embedding model has dimension 384, expected 3"),
        "{text}"
    );
    assert!(text.contains("n.jsonl.emb"), "{text}");

    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&path, &bytes).unwrap();
    let err = EmbeddingCache::open_for(&path, 0xfeed, 3).unwrap_err();
    assert!(matches!(err, NeighborsError::Cache { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("n.jsonl.emb") && text.contains("delete the file"),
        "{text}"
    );
    assert!(EmbeddingCache::load(Path::new("/nonexistent/dir/x.emb"))
        .unwrap()
        .is_none());
    let err = EmbeddingCache::new(1, 0).save(&path).unwrap_err();
    assert!(err.to_string().contains("cannot store 0-dimensional vectors"), "{err}");
}
