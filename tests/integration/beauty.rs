//! The real Amazon Beauty catalogue with the paper's reference TIDs (../shared/data/beauty).

use std::path::PathBuf;

use grlm::{Catalog, CatalogBuilder, Grounder, ItemFilter, Method};
use grlm_testkit::perturb::{perturb, Perturbation, SplitMix64};
use grlm_testkit::reference::ReferenceGrounder;

fn data() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/beauty");
    assert!(
        dir.is_dir(),
        "{} is missing: these tests need the shared data beside the repository",
        dir.display()
    );
    dir
}

fn beauty() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("beauty.grlm");
    let mut builder =
        CatalogBuilder::from_jsonl(&data().join("items.jsonl"), &data().join("reference_tids.jsonl"), false).unwrap();
    builder.write(&path).unwrap();
    let catalog = Catalog::open(&path).unwrap();
    (dir, catalog)
}

#[test]
fn builds_with_the_published_numbers_and_verifies() {
    let (_dir, c) = beauty();
    c.verify().unwrap();
    let info = c.info();
    assert_eq!(info.items, 12_101);
    assert_eq!(info.unique_tids, 11_857);
    // 244 items repeat a TID already taken: the reference TIDs' collision rate.
    assert!(
        (info.collision_rate - 244.0 / 12_101.0).abs() < 1e-9,
        "{}",
        info.collision_rate
    );
    assert_eq!(info.items_sharing_tid, 441);
    assert_eq!(
        c.title_of(1).unwrap(),
        Some("Phyto Phytocitrus Restructuring Mask for Unisex, 6.7 Ounce")
    );
}

#[test]
fn every_item_grounds_to_itself_directly() {
    let (_dir, c) = beauty();
    let mut g = Grounder::new(&c);
    let none = ItemFilter::none();
    for index in 0..c.len() {
        let item = c.item_id(index).unwrap();
        let tid = c.tid_of(item).unwrap().unwrap();
        let sharing = c.items_with_tid(&tid).unwrap();
        let results = g.ground(&tid, sharing.len(), &none).unwrap();
        assert!(results.iter().all(|r| r.method == Method::Direct && r.score == 1.0));
        assert_eq!(
            results.iter().map(|r| r.item).collect::<Vec<_>>(),
            sharing,
            "item {item}"
        );
        assert!(sharing.contains(&item));
    }
}

#[test]
fn the_issue_example_finds_item_one() {
    let (_dir, c) = beauty();
    let r = c
        .ground_text(
            "[hair-masks, color-lock, citrus, protien, unisex]",
            10,
            &ItemFilter::none(),
        )
        .unwrap();
    assert_eq!(r[0].item, 1);
    assert_eq!(r[0].method, Method::Structural);
    // Excluding it (say, the user already has it) promotes the next candidate.
    let r2 = c
        .ground_text(
            "[hair-masks, color-lock, citrus, protien, unisex]",
            10,
            &ItemFilter::none().exclude([1]),
        )
        .unwrap();
    assert_eq!(r2[0].item, r[1].item);
}

#[test]
fn perturbed_tids_find_their_item_better_than_the_reference_fallback() {
    let (_dir, c) = beauty();
    let mut ours = Grounder::new(&c);
    let reference = ReferenceGrounder::new(&c).unwrap();
    let mut rng = SplitMix64::new(2026);
    for kind in Perturbation::ALL {
        let (mut our_top1, mut ref_top1, mut our_top10, mut n) = (0, 0, 0, 0);
        for _ in 0..200 {
            let item = c.item_id(rng.below(c.len())).unwrap();
            let Some(query) = perturb(&c.tid_of(item).unwrap().unwrap(), kind, &mut rng) else {
                continue;
            };
            let r = ours.ground(&query, 10, &ItemFilter::none()).unwrap();
            our_top1 += usize::from(r.first().map(|g| g.item) == Some(item));
            our_top10 += usize::from(r.iter().any(|g| g.item == item));
            ref_top1 += usize::from(reference.ground(&query, 1).unwrap().first() == Some(&item));
            n += 1;
        }
        assert!(n >= 150, "{kind:?}: only {n} queries");
        assert!(our_top10 * 100 >= n * 95, "{kind:?}: recall@10 {our_top10}/{n}");
        assert!(
            our_top1 > ref_top1,
            "{kind:?}: top-1 ours {our_top1} vs reference {ref_top1} of {n}"
        );
    }
}
