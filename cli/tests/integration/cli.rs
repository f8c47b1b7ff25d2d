//! The `grlm` command line, driven as other tools drive it: exact argument forms, JSON
//! shapes, exit codes, and what is left on disk after a failure.

use std::path::{Path, PathBuf};

use crate::common;
use common::{build_catalog, fixture, grlm};
use grlm_testkit::process::ok_json as json;

/// The item ids of a `ground --json` answer, in order.
fn result_items(answer: &serde_json::Value) -> Vec<u64> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["item"].as_u64().unwrap())
        .collect()
}

fn build_fixture(dir: &Path) -> PathBuf {
    let out = dir.join("tiny.grlm");
    let o = build_catalog(
        Path::new(&fixture("items.jsonl")),
        Path::new(&fixture("tids.jsonl")),
        &out,
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn build_inspect_verify_ground() {
    let dir = tempfile::tempdir().unwrap();
    let file = build_fixture(dir.path());
    let path = file.to_str().unwrap();

    let info = json(&grlm(&["catalog", "inspect", path, "--json"]));
    assert_eq!(info["items"], 12);
    assert_eq!(info["unique_tids"], 11, "items 2 and 12 share a TID");
    assert!(info["unique_terms"].as_u64().unwrap() > 40);
    assert!((info["collision_rate"].as_f64().unwrap() - 1.0 / 12.0).abs() < 1e-9);
    assert_eq!(info["bytes"].as_u64().unwrap(), std::fs::metadata(&file).unwrap().len());

    let v = grlm(&["catalog", "verify", path]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));

    let r = json(&grlm(&[
        "ground",
        path,
        "[shampoo, color, care, treated, preserve]",
        "-k",
        "3",
        "--json",
    ]));
    let results = r["results"].as_array().unwrap();
    // Two items carry the TID and no other item shares a term with it: fewer than k.
    assert_eq!(results.len(), 2, "{r}");
    assert_eq!(
        (results[0]["item"].as_u64(), results[0]["method"].as_str()),
        (Some(2), Some("direct"))
    );
    assert_eq!(
        (results[1]["item"].as_u64(), results[1]["method"].as_str()),
        (Some(12), Some("direct"))
    );
    assert_eq!(results[0]["score"], 1.0);
    assert_eq!(results[0]["tid"], "[shampoo, color, care, treated, preserve]");

    let r = json(&grlm(&[
        "ground",
        path,
        "[conditioner, repair, sulfate-free, hair, smooth]",
        "-k",
        "3",
        "--json",
    ]));
    let items = result_items(&r);
    assert_eq!(items, [9, 10, 11], "{r}");
    assert!(r["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["method"] == "structural"));
    assert!(results[0]["title"].as_str().unwrap().contains("Biolage"));

    let r = json(&grlm(&[
        "ground",
        path,
        "[hair-masks, color-lock, citrus, protien, unisex]",
        "-k",
        "1",
        "--json",
    ]));
    assert_eq!(r["results"][0]["item"], 1);
    assert_eq!(r["results"][0]["method"], "structural");

    let r = json(&grlm(&[
        "ground",
        path,
        "[shampoo, color, care, treated, preserve]",
        "-k",
        "5",
        "--exclude",
        "2,3",
        "--json",
    ]));
    let items = result_items(&r);
    assert_eq!(items, [12]);
    let r = json(&grlm(&[
        "ground",
        path,
        "[conditioner, repair, sulfate-free, hair, smooth]",
        "-k",
        "5",
        "--allow",
        "10,11,3",
        "--json",
    ]));
    let items = result_items(&r);
    assert_eq!(items, [10, 11]);
}

#[test]
fn verify_fails_on_damage_and_reports_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = build_fixture(dir.path());
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 200;
    bytes[at] ^= 0x40;
    let damaged = dir.path().join("damaged.grlm");
    std::fs::write(&damaged, &bytes).unwrap();
    let o = grlm(&["catalog", "verify", damaged.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("checksum mismatch"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let truncated = dir.path().join("truncated.grlm");
    std::fs::write(&truncated, &bytes[..1000]).unwrap();
    let o = grlm(&["catalog", "inspect", truncated.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("truncated"));

    let missing = grlm(&["catalog", "verify", "/nonexistent/x.grlm"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.grlm"));
}

#[test]
fn malformed_input_names_file_and_line_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let items = dir.path().join("items.jsonl");
    let tids = dir.path().join("tids.jsonl");
    let out = dir.path().join("out.grlm");
    std::fs::write(
        &items,
        "{\"item\": 1, \"title\": \"a\"}\n{\"item\": 2, \"title\": \"b\"}\n",
    )
    .unwrap();
    let cases: [(&str, &str); 5] = [
        (
            "{\"item\": 1, \"terms\": [\"a\",\"b\"]}\n{\"item\": 2, \"terms\": [\"a\", \"b\"",
            "tids.jsonl:2:",
        ),
        (
            "{\"item\": 1, \"terms\": [\"a\",\"b\"]}\n{\"item\": 7, \"terms\": [\"a\", \"b\"]}",
            "tids.jsonl:2: item 7 is not in the items file",
        ),
        (
            "{\"item\": 1, \"terms\": [\"a\",\"b\"]}\n{\"item\": 1, \"terms\": [\"a\", \"c\"]}",
            "tids.jsonl:2: item 1 already appeared on line 1",
        ),
        (
            "{\"item\": 1, \"terms\": [\"a\",\"b\"]}\n",
            "items.jsonl:2: item 2 has no TID",
        ),
        (
            "{\"item\": 1, \"terms\": [\"a\",\"b\"]}\n{\"item\": 2, \"terms\": [\"a\", \"b\", \"c\"]}",
            "item 2: TID has 3 terms but the catalogue's TIDs have 2",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&tids, text).unwrap();
        let o = build_catalog(&items, &tids, &out, &[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(want), "{stderr:?} should contain {want:?}");
        assert!(!out.exists(), "no output after a failed build");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
    }
    // With --allow-missing-tids the item without a TID is left out and counted.
    std::fs::write(&tids, "{\"item\": 1, \"terms\": [\"a\",\"b\"]}\n").unwrap();
    let o = build_catalog(&items, &tids, &out, &["--allow-missing-tids", "--json"]);
    let report = json(&o);
    assert_eq!(report["report"]["items"], 1);
    assert_eq!(report["report"]["skipped_without_tid"], 1);
}

#[test]
fn bad_queries_and_usage() {
    let dir = tempfile::tempdir().unwrap();
    let file = build_fixture(dir.path());
    let o = grlm(&["ground", file.to_str().unwrap(), "[a, , b]", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("term 2"));
    let o = grlm(&["ground", file.to_str().unwrap(), "[soap]", "-k", "0", "--json"]);
    assert_eq!(json(&o)["results"].as_array().unwrap().len(), 0);
    let o = grlm(&["catalog", "build", "--items", "x"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn synth_then_build_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for run in ["a", "b"] {
        let d = dir.path().join(run);
        let o = grlm(&[
            "catalog",
            "synth",
            "--items",
            "3000",
            "--seed",
            "11",
            "--users",
            "50",
            "--out-dir",
            d.to_str().unwrap(),
        ]);
        assert!(o.status.success());
        let sequences = grlm::sequences::read_sequences(&d.join("sequences.txt")).unwrap();
        assert_eq!(sequences.len(), 50);
        assert!(sequences
            .iter()
            .all(|s| (21..=40).contains(&s.items.len()) && s.items.iter().all(|&i| (1..=3000).contains(&i))));
        bytes.push(std::fs::read(d.join("sequences.txt")).unwrap());
        let out = d.join("c.grlm");
        let items = d.join("items.jsonl");
        let tids = d.join("tids.jsonl");
        let o = build_catalog(&items, &tids, &out, &[]);
        assert!(o.status.success());
        bytes.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(bytes[0], bytes[2], "same seed, same sequences");
    assert_eq!(bytes[1], bytes[3], "same seed, same catalogue bytes");
}
