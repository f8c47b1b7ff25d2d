//! `grlm-train neighbors` end to end with the real all-MiniLM-L6-v2 (scripts/fetch-model.sh):
//! neighbours make sense, items without text are skipped, a rerun is served by the cache
//! and writes the same bytes, a changed text is re-embedded alone, bad input fails with the
//! file and line.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common;
use common::{embedder_dir, fails_with, ok_json};

const ITEMS: &str = r#"{"item": 10, "title": "Argan Oil Repair Hair Mask for Dry Hair", "brand": "Phyto", "categories": [["Beauty", "Hair Care", "Conditioners"]]}
{"item": 20, "title": "Argan oil conditioner for damaged hair &amp; split ends", "brand": null, "categories": [["Beauty", "Hair Care"]]}
{"item": 30, "title": "Matte Red Lipstick, long lasting", "categories": [["Beauty", "Makeup", "Lips", "Lipstick"]]}

{"item": 40, "title": "Pink Shimmer Lip Gloss", "categories": [["Beauty", "Makeup", "Lips", "Lip Gloss"]]}
{"item": 50, "brand": null, "categories": []}
{"item": 60, "title": "Men's trail running shoes", "description": "Lightweight and breathable."}
"#;

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new(items: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("items.jsonl"), items).unwrap();
        Run { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn neighbors(&self, extra: &[&str]) -> Output {
        self.neighbors_with(&embedder_dir(), extra)
    }

    /// `grlm-train neighbors` on this run's items with the embedder in `embedder`.
    fn neighbors_with(&self, embedder: &Path, extra: &[&str]) -> Output {
        let items = self.path("items.jsonl");
        let out = self.path("n.jsonl");
        let mut args = vec![
            "neighbors",
            "--items",
            items.to_str().unwrap(),
            "--embedder",
            embedder.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        if !extra.contains(&"-k") {
            args.extend(["-k", "2"]);
        }
        args.extend_from_slice(extra);
        common::train(&args)
    }
}

/// Output lines as (item, [(neighbour, cosine)]).
fn read_output(path: &Path) -> Vec<(u64, Vec<(u64, f64)>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let list = v["neighbors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| (n["item"].as_u64().unwrap(), n["cosine"].as_f64().unwrap()))
                .collect();
            (v["item"].as_u64().unwrap(), list)
        })
        .collect()
}

#[test]
fn neighbours_skip_cache_and_rerun() {
    let run = Run::new(ITEMS.as_bytes());
    let first = run.neighbors(&["--batch", "2", "--threads", "1"]);
    let summary = ok_json(&first);
    assert_eq!(summary["items"], 5);
    assert_eq!(summary["skipped_no_text"], 1);
    assert_eq!(summary["embedded"], 5);
    assert_eq!(summary["cache_hits"], 0);
    assert_eq!(summary["cache"], "absent");
    assert!(summary["items_per_s"].as_f64().unwrap() > 0.0);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("items.jsonl:6: item 50 has no title"), "{stderr}");
    assert!(
        stderr.contains("embedded 5/5 items") && stderr.contains("ETA"),
        "{stderr}"
    );

    let lines = read_output(&run.path("n.jsonl"));
    let ids: Vec<u64> = lines.iter().map(|l| l.0).collect();
    assert_eq!(ids, [10, 20, 30, 40, 60], "input order, the item without text left out");
    for (item, list) in &lines {
        assert_eq!(list.len(), 2);
        assert!(list
            .iter()
            .all(|&(n, c)| n != *item && n != 50 && (-1.0..=1.0001).contains(&c)));
        assert!(list[0].1 >= list[1].1, "{item}: {list:?}");
    }
    let first_of = |item: u64| lines.iter().find(|l| l.0 == item).unwrap().1[0].0;
    assert_eq!(first_of(10), 20, "the two argan hair products are closest");
    assert_eq!(first_of(20), 10);
    assert_eq!(first_of(30), 40, "the two lip products are closest");
    assert_eq!(first_of(40), 30);

    let output = std::fs::read(run.path("n.jsonl")).unwrap();
    let cache = std::fs::read(run.path("n.jsonl.emb")).unwrap();
    let again = ok_json(&run.neighbors(&[]));
    assert_eq!(
        (again["cache_hits"].as_u64(), again["embedded"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(again["cache"], "reused");
    assert!(again["items_per_s"].is_null());
    assert_eq!(
        std::fs::read(run.path("n.jsonl")).unwrap(),
        output,
        "rerun output differs"
    );
    assert_eq!(
        std::fs::read(run.path("n.jsonl.emb")).unwrap(),
        cache,
        "rerun rewrote the cache"
    );

    // A changed text is embedded again, alone.
    std::fs::write(
        run.path("items.jsonl"),
        ITEMS.replace("Pink Shimmer Lip Gloss", "Glitter nail polish"),
    )
    .unwrap();
    let changed = ok_json(&run.neighbors(&[]));
    assert_eq!(
        (changed["cache_hits"].as_u64(), changed["embedded"].as_u64()),
        (Some(4), Some(1))
    );

    // --limit reads only the first items; the cache keeps the others for later runs.
    let limited = ok_json(&run.neighbors(&["--limit", "3"]));
    assert_eq!(
        (limited["items"].as_u64(), limited["cache_hits"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(read_output(&run.path("n.jsonl")).len(), 3);
    let full = ok_json(&run.neighbors(&[]));
    assert_eq!(full["embedded"], 0);
}

#[test]
fn a_corrupt_cache_is_an_error_not_reused() {
    let run = Run::new(ITEMS.as_bytes());
    ok_json(&run.neighbors(&[]));
    let cache = run.path("n.jsonl.emb");
    let mut bytes = std::fs::read(&cache).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&cache, &bytes).unwrap();
    fails_with(&run.neighbors(&[]), "checksum mismatch");
    std::fs::write(&cache, &bytes[..100]).unwrap();
    fails_with(&run.neighbors(&[]), "truncated or corrupt (delete the file");
}

#[test]
fn bad_input_names_file_and_line() {
    let dup = ITEMS.replace("\"item\": 30", "\"item\": 10");
    fails_with(
        &Run::new(dup.as_bytes()).neighbors(&[]),
        "items.jsonl:3: item 10 is already listed on line 1",
    );

    let bad_json = ITEMS.replace("{\"item\": 20", "{\"item\" 20");
    fails_with(&Run::new(bad_json.as_bytes()).neighbors(&[]), "items.jsonl:2: not JSON");

    let mut latin1 = ITEMS.as_bytes().to_vec();
    let at = ITEMS.find("Matte").unwrap();
    latin1[at] = 0xe9;
    fails_with(&Run::new(&latin1).neighbors(&[]), "items.jsonl:3: invalid UTF-8");

    let no_id = ITEMS.replace("{\"item\": 40,", "{\"id\": 40,");
    fails_with(
        &Run::new(no_id.as_bytes()).neighbors(&[]),
        "items.jsonl:5: missing field `item`",
    );

    let run = Run::new(ITEMS.as_bytes());
    let out = run.path("n.jsonl");
    fails_with(
        &run.neighbors_with(&run.path("no-model"), &[]),
        "run scripts/fetch-model.sh",
    );
    fails_with(
        &run.neighbors(&["-k", "0"]),
        "-k, --batch and --threads must be at least 1",
    );
    assert!(!out.exists(), "a failed run wrote output");
}

#[test]
fn a_cache_of_another_model_is_recomputed_whole() {
    let run = Run::new(ITEMS.as_bytes());
    ok_json(&run.neighbors(&[]));
    let output = std::fs::read(run.path("n.jsonl")).unwrap();

    // The same weights under a config.json that differs by one space: another fingerprint.
    let other = run.path("other-model");
    std::fs::create_dir(&other).unwrap();
    for name in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(embedder_dir().join(name), other.join(name)).unwrap();
    }
    let config = std::fs::read_to_string(embedder_dir().join("config.json")).unwrap();
    std::fs::write(other.join("config.json"), format!("{config} ")).unwrap();

    let out = run.path("n.jsonl");
    let rerun = run.neighbors_with(&other, &[]);
    let summary = ok_json(&rerun);
    assert_eq!(summary["cache"], "other_model");
    assert_eq!(
        (summary["embedded"].as_u64(), summary["cache_hits"].as_u64()),
        (Some(5), Some(0))
    );
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(
        stderr.contains("made with another embedding model; its 5 vectors are recomputed"),
        "{stderr}"
    );
    // Same weights, so the same neighbours (cosines may differ in the last bits).
    let ids = |bytes: &[u8]| -> Vec<Vec<u64>> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["neighbors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["item"].as_u64().unwrap())
                    .collect()
            })
            .collect()
    };
    assert_eq!(ids(&std::fs::read(&out).unwrap()), ids(&output));
    // The original model now finds the cache stale in turn.
    assert_eq!(ok_json(&run.neighbors(&[]))["cache"], "other_model");
}
