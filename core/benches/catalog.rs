//! Catalogue and grounding benchmarks.
//!
//! `cargo bench -p grlm-core --bench catalog` (needs ../shared/data/beauty; builds without
//! llama.cpp). Groups:
//! - `build`: Beauty from JSONL to a written catalogue;
//! - `open`: mapping and structurally checking a catalogue (Beauty, synthetic 1M);
//! - `direct`: exact-TID lookups (the lookup alone, and `ground` with k = 1);
//! - `structural/<kind>`: perturbed TIDs (a term dropped, misspelt or two swapped) grounded by
//!   ours at k = 1 and 10 and by the paper's reference fallback, in the same run, so the
//!   ratio is measured on the same machine state;
//! - `scale`: a synthetic 1,000,000-item catalogue (built once, a few seconds).
//!
//! Each iteration grounds the next query of a fixed, seeded list, so a sample's time is the
//! mean over many different queries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use grlm_core::{Catalog, CatalogBuilder, Grounder, ItemFilter, Tid};
use grlm_testkit::perturb::{perturb, Perturbation, SplitMix64};
use grlm_testkit::reference::ReferenceGrounder;
use grlm_testkit::synth;

fn beauty_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/beauty")
}

fn build_beauty(out: &Path) {
    let dir = beauty_dir();
    let mut b = CatalogBuilder::from_jsonl(&dir.join("items.jsonl"), &dir.join("reference_tids.jsonl"), false)
        .expect("Beauty data");
    b.write(out).unwrap();
}

fn queries(c: &Catalog, kind: Option<Perturbation>, n: usize, seed: u64) -> Vec<Tid> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let item = c.item_id(rng.below(c.len())).unwrap();
        let tid = c.tid_of(item).unwrap().unwrap();
        match kind {
            None => out.push(tid),
            Some(kind) => out.extend(perturb(&tid, kind, &mut rng)),
        }
    }
    out
}

fn cycle<'a>(qs: &'a [Tid], i: &mut usize) -> &'a Tid {
    *i = (*i + 1) % qs.len();
    &qs[*i]
}

fn bench_beauty(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("beauty.grlm");
    // Built up front: a filtered run (`cargo bench -- direct`) skips the build benchmark.
    build_beauty(&path);
    let rebuilt = tmp.path().join("rebuilt.grlm");

    let mut group = c.benchmark_group("build");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(12_101));
    group.bench_function("beauty", |b| b.iter(|| build_beauty(&rebuilt)));
    group.finish();

    let catalog = Catalog::open(&path).unwrap();
    let none = ItemFilter::none();
    c.benchmark_group("open")
        .bench_function("beauty", |b| b.iter(|| Catalog::open(&path).unwrap()));

    let exact = queries(&catalog, None, 1000, 1);
    let mut g = Grounder::new(&catalog);
    let mut i = 0;
    let mut group = c.benchmark_group("direct");
    group.bench_function("beauty/items_with_tid", |b| {
        b.iter(|| catalog.items_with_tid(cycle(&exact, &mut i)).unwrap())
    });
    group.bench_function("beauty/ground_k1", |b| {
        b.iter(|| g.ground(cycle(&exact, &mut i), 1, &none).unwrap())
    });
    group.finish();

    let reference = ReferenceGrounder::new(&catalog).unwrap();
    for kind in Perturbation::ALL {
        let qs = queries(&catalog, Some(kind), 1000, 2);
        let mut group = c.benchmark_group(format!("structural/{kind:?}").to_lowercase());
        for k in [1usize, 10] {
            group.bench_with_input(BenchmarkId::new("ours", k), &k, |b, &k| {
                b.iter(|| g.ground(cycle(&qs, &mut i), k, &none).unwrap())
            });
        }
        group.bench_function(BenchmarkId::new("reference", 10), |b| {
            b.iter(|| reference.ground(cycle(&qs, &mut i), 10).unwrap())
        });
        group.finish();
    }
}

fn bench_scale(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("synth1m.grlm");
    let mut b = CatalogBuilder::new();
    for item in synth::generate(1_000_000, 5, 7) {
        b.add(item.item, item.tid, Some(item.title)).unwrap();
    }
    b.write(&path).unwrap();
    let catalog = Catalog::open(&path).unwrap();
    let none = ItemFilter::none();
    let mut group = c.benchmark_group("scale");
    group.bench_function("open/1m", |b| b.iter(|| Catalog::open(&path).unwrap()));
    let mut g = Grounder::new(&catalog);
    let mut i = 0;
    let exact = queries(&catalog, None, 1000, 1);
    group.bench_function("direct/1m/items_with_tid", |b| {
        b.iter(|| catalog.items_with_tid(cycle(&exact, &mut i)).unwrap())
    });
    group.bench_function("direct/1m/ground_k1", |b| {
        b.iter(|| g.ground(cycle(&exact, &mut i), 1, &none).unwrap())
    });
    let mut mixed = Vec::new();
    for kind in Perturbation::ALL {
        mixed.extend(queries(&catalog, Some(kind), 300, 3));
    }
    for k in [1usize, 10] {
        group.bench_with_input(BenchmarkId::new("structural/1m", k), &k, |b, &k| {
            b.iter(|| g.ground(cycle(&mixed, &mut i), k, &none).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_beauty, bench_scale);
criterion_main!(benches);
