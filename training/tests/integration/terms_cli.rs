//! `grlm-train terms` and `grlm-train terms-stats` end to end on the tiny model the engine
//! writes at test time: every item gets exactly N normalised terms, collisions are resolved
//! to unique TIDs, a killed run resumes to the same bytes, a run's own worked examples
//! replace the built-in ones, bad input fails clearly, and the statistics of a hand-made
//! file come out as computed by hand.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Output;

use grlm::tid::normalize_term;

use crate::common;
use common::{fails_with, ok_json, read_tids_output, tiny_model, train};

const TITLES: [&str; 12] = [
    "Phyto Phytocitrus Restructuring Mask for Unisex, 6.7 Ounce",
    "Matrix Biolage Color Care Shampoo and Conditioner Set",
    "Raw African Black Soap from Ghana 1 Lb",
    "NaturOli Soap Nut Shampoo 16oz Organic Natural Hair Care",
    "NaturOli Soft &amp; Soothing Body Lotion",
    "Home Travel 9X/1X Folding Lighted Cosmetic Mirror",
    "Black Plastic Hairpin Clamp Hair Claw Clips 2 Pcs",
    "Urban Decay Eyeshadow Primer Potion",
    "Dove Damage Therapy Daily Moisture Conditioner",
    "Herbal Essences Tousle Me Softly Mousse",
    "Burt's Bees Lip Balm, Pomegranate",
    "OPI Nail Lacquer, Big Apple Red",
];

/// 30 items: 26 with distinct text, 3 repeating item 100's text exactly (so their first
/// TIDs collide), and one without any text.
fn items_jsonl() -> String {
    let mut lines = Vec::new();
    for i in 0..26u32 {
        let title = TITLES[i as usize % TITLES.len()];
        let variant = i / TITLES.len() as u32;
        let categories = ["Hair Care", "Skin Care", "Makeup"][i as usize % 3];
        lines.push(format!(
            r#"{{"item": {}, "title": "{title} v{variant}", "brand": null, "categories": [["Beauty", "{categories}"]]}}"#,
            100 + i
        ));
    }
    let same = r#""title": "Argan Oil Hair Mask", "categories": [["Beauty", "Hair Care"]]"#;
    lines.insert(3, format!(r#"{{"item": 90, {same}}}"#));
    lines.insert(12, format!(r#"{{"item": 91, {same}}}"#));
    lines.push(format!(r#"{{"item": 92, {same}}}"#));
    lines.insert(5, r#"{"item": 93, "title": "  ", "brand": null}"#.to_owned());
    lines.join("\n") + "\n"
}

struct Setup {
    dir: tempfile::TempDir,
    model: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny_model(dir.path());
        std::fs::write(dir.path().join("items.jsonl"), items_jsonl()).unwrap();
        Setup { dir, model }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `terms` on items.jsonl into `out`, with 1 thread and groups of 4.
    fn terms(&self, out: &str, extra: &[&str]) -> Output {
        self.terms_on("items.jsonl", out, extra)
    }

    fn terms_on(&self, items: &str, out: &str, extra: &[&str]) -> Output {
        let (items, out) = (self.path(items), self.path(out));
        let mut args = vec![
            "terms",
            "--items",
            items.to_str().unwrap(),
            "--model",
            self.model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            "1",
        ];
        if !extra.contains(&"--parallel") {
            args.extend(["--parallel", "4"]);
        }
        args.extend_from_slice(extra);
        train(&args)
    }
}

#[test]
fn every_item_gets_n_normalised_terms_and_a_unique_tid() {
    let setup = Setup::new();
    let out = setup.terms("tids.jsonl", &[]);
    let summary = ok_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("items.jsonl:6: item 93 has no title"), "{stderr}");
    assert!(stderr.contains("items/s") && stderr.contains("ETA"), "{stderr}");
    assert_eq!(summary["items"], 29);
    assert_eq!(summary["skipped_no_text"], 1);
    assert_eq!(summary["generated"], 29);
    assert_eq!(summary["resumed"], 0);
    assert!(summary["items_per_s"].as_f64().unwrap() > 0.0);

    let lines = read_tids_output(&setup.path("tids.jsonl"));
    let expected: Vec<u64> = items_jsonl()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["item"]
                .as_u64()
                .unwrap()
        })
        .filter(|&id| id != 93)
        .collect();
    assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), expected, "input order");
    let mut seen = HashSet::new();
    for (item, terms, _) in &lines {
        assert_eq!(terms.len(), 5, "item {item}: {terms:?}");
        for t in terms {
            assert!(!t.is_empty() && t.len() <= 32, "item {item}: {t:?}");
            assert_eq!(normalize_term(t).as_deref(), Ok(t.as_str()), "item {item}");
        }
        let tid = grlm::Tid::from_terms(terms).expect("the engine takes every TID");
        assert_eq!(grlm::Tid::parse(&tid.to_string(), Some(5)).unwrap(), tid);
        assert!(seen.insert(terms.clone()), "item {item}: duplicate TID {terms:?}");
    }
    // Every TID keeps the rules for its item's text, but a numeric suffix (the counted
    // last resort of collision resolution).
    let texts = grlm_train::neighbors::text::read_items(&setup.path("items.jsonl"), None)
        .unwrap()
        .items;
    for (item, terms, resolved) in &lines {
        let text = &texts.iter().find(|t| u64::from(t.item) == *item).unwrap().text;
        if resolved != "suffix" {
            let rules = grlm_train::terms::rules::ItemRules::for_text(text);
            assert_eq!(
                grlm_train::terms::rules::check(terms, &rules),
                Ok(()),
                "item {item}: {terms:?}"
            );
        }
    }
    // The file is what `grlm catalog build --tids` reads.
    let records = grlm::catalog::input::read_tids(&setup.path("tids.jsonl"), Some(5)).unwrap();
    assert_eq!(records.len(), 29);

    // The three items with item 90's text wrote its TID first and had to be resolved.
    let collisions = summary["collisions_before_resolution"].as_u64().unwrap();
    assert!(collisions >= 2, "{summary}");
    let resolved = &summary["resolved"];
    let none = resolved["none"].as_u64().unwrap();
    let others = ["regenerated", "own_text", "suffix"].map(|k| resolved[k].as_u64().unwrap());
    assert_eq!(none + others.iter().sum::<u64>(), 29);
    assert_eq!(29 - none, collisions);
    assert_eq!(summary["collision_rate"], 0.0);
    let paths: Vec<&str> = lines
        .iter()
        .filter(|l| [90, 91, 92].contains(&l.0))
        .map(|l| l.2.as_str())
        .collect();
    assert_eq!(paths[0], "none");
    assert!(paths[1..].iter().all(|p| *p != "none"), "{paths:?}");
    let same_prefix: HashSet<&[String]> = lines
        .iter()
        .filter(|l| [90, 91, 92].contains(&l.0) && l.2 == "regenerated")
        .map(|l| &l.1[..4])
        .collect();
    assert!(same_prefix.len() <= 1, "regeneration keeps the first four terms");

    // Same input, same bytes: decoding is greedy and deterministic.
    ok_json(&setup.terms("again.jsonl", &[]));
    assert_eq!(
        std::fs::read(setup.path("again.jsonl")).unwrap(),
        std::fs::read(setup.path("tids.jsonl")).unwrap()
    );
    assert!(!setup.path("tids.jsonl.partial").exists());
}

#[test]
fn a_tuned_adapter_writes_tids_with_its_training_prompt() {
    let setup = Setup::new();
    let adapter = setup.path("tuned.gguf");
    let spec = grlm_testkit::tiny::TinyModelSpec::default();
    std::fs::write(&adapter, grlm_testkit::tiny::tiny_lora_bytes(&spec, 4, 9)).unwrap();
    let lora = adapter.to_str().unwrap();
    let summary = ok_json(&setup.terms("tuned.jsonl", &["--lora", lora]));
    assert_eq!(summary["items"], 29);
    let tuned = read_tids_output(&setup.path("tuned.jsonl"));
    let mut seen = HashSet::new();
    for (item, terms, _) in &tuned {
        assert_eq!(terms.len(), 5, "item {item}: {terms:?}");
        for t in terms {
            assert_eq!(normalize_term(t).as_deref(), Ok(t.as_str()), "item {item}");
        }
        assert!(seen.insert(terms.clone()), "item {item}: duplicate TID {terms:?}");
    }
    // Another prompt and another model: not the untuned writer's TIDs.
    ok_json(&setup.terms("untuned.jsonl", &[]));
    let untuned = read_tids_output(&setup.path("untuned.jsonl"));
    assert_ne!(
        tuned.iter().map(|t| &t.1).collect::<Vec<_>>(),
        untuned.iter().map(|t| &t.1).collect::<Vec<_>>()
    );
    // A run with the adapter does not resume one without it, nor the other way round.
    let out = setup.terms("tuned.jsonl", &["--stop-after-groups", "1"]);
    assert!(!out.status.success());
    let out = setup.terms("tuned.jsonl", &["--lora", lora, "--resume"]);
    fails_with(&out, "made by a run with other settings");
    // An adapter for another model is refused, and the adapter needs --model.
    let other = setup.path("other.gguf");
    let wide = grlm_testkit::tiny::TinyModelSpec {
        n_embd: spec.n_embd * 2,
        ..spec.clone()
    };
    std::fs::write(&other, grlm_testkit::tiny::tiny_lora_bytes(&wide, 4, 9)).unwrap();
    let out = setup.terms("refused.jsonl", &["--lora", other.to_str().unwrap()]);
    fails_with(&out, "cannot load the LoRA adapter");
    let items = setup.path("items.jsonl");
    let out = train(&[
        "terms",
        "--items",
        items.to_str().unwrap(),
        "--endpoint",
        "http://127.0.0.1:9/v1",
        "--lora",
        lora,
        "--out",
        setup.path("x.jsonl").to_str().unwrap(),
    ]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--lora"));
}

#[test]
fn new_items_of_a_catalogue_take_its_words_and_their_own() {
    let setup = Setup::new();
    let catalog = setup.path("existing.grlm");
    let mut builder = grlm::CatalogBuilder::new();
    for (id, terms) in [
        (1, "[conditioner, hair, repair, daily, women]"),
        (2, "[shampoo, color, care, treated, salon]"),
        (3, "[soap, body, natural, organic, vegan]"),
    ] {
        builder
            .add(id, grlm::Tid::parse(terms, Some(5)).unwrap(), None)
            .unwrap();
    }
    builder.write(&catalog).unwrap();
    let summary = ok_json(&setup.terms("new.jsonl", &["--catalog", catalog.to_str().unwrap()]));
    assert_eq!(summary["items"], 29);
    let catalogue_words: HashSet<&str> =
        "conditioner hair repair daily women shampoo color care treated salon soap body natural organic vegan"
            .split(' ')
            .collect();
    let texts: std::collections::HashMap<u64, String> = items_jsonl()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["item"].as_u64().unwrap(), l.to_ascii_lowercase())
        })
        .collect();
    let mut own_words_used = 0;
    for (item, terms, resolved) in read_tids_output(&setup.path("new.jsonl")) {
        if resolved == "suffix" {
            continue; // the last resort adds a number of its own
        }
        let own: HashSet<String> = texts[&item]
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        for word in terms.iter().flat_map(|t| t.split('-')) {
            let ours = own.contains(word);
            own_words_used += usize::from(ours && !catalogue_words.contains(word));
            assert!(
                catalogue_words.contains(word) || ours,
                "item {item}: {word:?} is neither the catalogue's nor its own ({terms:?})"
            );
        }
    }
    assert!(own_words_used > 0, "the items' own words are allowed and used");

    // A catalogue that already has the TID the first item wrote: that item writes another.
    let (first, first_terms, _) = read_tids_output(&setup.path("new.jsonl")).remove(0);
    let taken = setup.path("taken.grlm");
    builder
        .add(4, grlm::Tid::from_terms(&first_terms).unwrap(), None)
        .unwrap();
    builder.write(&taken).unwrap();
    ok_json(&setup.terms("again.jsonl", &["--catalog", taken.to_str().unwrap()]));
    let again = read_tids_output(&setup.path("again.jsonl"));
    let (item, terms, resolved) = &again[0];
    assert_eq!(*item, first);
    assert!(*terms != first_terms && resolved != "none", "{terms:?} ({resolved})");
    let catalogue_tids: HashSet<Vec<String>> = [
        "conditioner hair repair daily women",
        "shampoo color care treated salon",
        "soap body natural organic vegan",
    ]
    .iter()
    .map(|t| t.split(' ').map(str::to_owned).collect())
    .chain([first_terms])
    .collect();
    assert!(again.iter().all(|(_, terms, _)| !catalogue_tids.contains(terms)));

    // Items the catalogue has, and TIDs of another length, are refused.
    builder
        .add(100, grlm::Tid::parse("[a, b, c, d, e]", Some(5)).unwrap(), None)
        .unwrap();
    let holding = setup.path("holding.grlm");
    builder.write(&holding).unwrap();
    let out = setup.terms("holding.jsonl", &["--catalog", holding.to_str().unwrap()]);
    fails_with(&out, "item 100 is already in it");
    let out = setup.terms("four.jsonl", &["--catalog", catalog.to_str().unwrap(), "--terms", "4"]);
    fails_with(&out, "its TIDs have 5 terms, --terms asks for 4");
    // --words any allows every word, which --catalog does not.
    let out = setup.terms("any.jsonl", &["--catalog", catalog.to_str().unwrap(), "--words", "any"]);
    fails_with(&out, "--words any allows every word");
}

#[test]
fn a_killed_run_resumes_to_the_same_bytes() {
    let setup = Setup::new();
    // Each item's neighbours: the two items before it, and an id nobody has.
    let ids: Vec<u64> = items_jsonl()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["item"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut neighbors = String::new();
    for (i, id) in ids.iter().enumerate() {
        let list: Vec<String> = ids[i.saturating_sub(2)..i]
            .iter()
            .map(|n| format!(r#"{{"item": {n}, "cosine": 0.5}}"#))
            .chain([r#"{"item": 999999, "cosine": 0.1}"#.to_owned()])
            .collect();
        neighbors.push_str(&format!("{{\"item\": {id}, \"neighbors\": [{}]}}\n", list.join(", ")));
    }
    neighbors.push_str("{\"item\": 424242, \"neighbors\": []}\n");
    let nb = setup.path("neighbors.jsonl");
    std::fs::write(&nb, neighbors).unwrap();
    let nb = nb.to_str().unwrap();

    let whole = ok_json(&setup.terms("whole.jsonl", &["--neighbors", nb]));
    // 29 references to 999999, 2 to item 93 (no text), and the lines of 93 and 424242.
    assert_eq!(whole["neighbors_unknown"], 33);

    let stopped = setup.terms("resumed.jsonl", &["--neighbors", nb, "--stop-after-groups", "3"]);
    fails_with(&stopped, "stopped after 3 groups");
    let partial = setup.path("resumed.jsonl.partial");
    assert!(partial.exists() && !setup.path("resumed.jsonl").exists());
    // A crash in the middle of the next group's write leaves a torn line.
    let mut bytes = std::fs::read(&partial).unwrap();
    bytes.extend_from_slice(b"0badc0de {\"item\": 1");
    std::fs::write(&partial, &bytes).unwrap();

    fails_with(&setup.terms("resumed.jsonl", &["--neighbors", nb]), "--resume");
    fails_with(
        &setup.terms("resumed.jsonl", &["--neighbors", nb, "--resume", "--parallel", "3"]),
        "parallel was 4 and is now 3",
    );
    fails_with(&setup.terms("resumed.jsonl", &["--resume"]), "neighbors was");
    fails_with(
        &setup.terms("resumed.jsonl", &["--neighbors", nb, "--resume", "--limit", "20"]),
        "items was 29 and is now 19",
    );
    let resumed = ok_json(&setup.terms("resumed.jsonl", &["--neighbors", nb, "--resume"]));
    assert_eq!(resumed["resumed"], 12, "three groups of four");
    assert_eq!(resumed["generated"], 17);
    for key in ["collisions_before_resolution", "resolved", "collision_rate", "items"] {
        assert_eq!(resumed[key], whole[key], "{key}");
    }
    assert_eq!(
        std::fs::read(setup.path("resumed.jsonl")).unwrap(),
        std::fs::read(setup.path("whole.jsonl")).unwrap()
    );
    assert!(!partial.exists());
}

#[test]
fn bad_input_fails_naming_file_and_line() {
    let setup = Setup::new();
    let write = |name: &str, bytes: &[u8]| std::fs::write(setup.path(name), bytes).unwrap();
    let good = r#"{"item": 1, "title": "Soap"}"#;
    write("badjson.jsonl", format!("{good}\n{{\"item\": 2,\n").as_bytes());
    fails_with(
        &setup.terms_on("badjson.jsonl", "o.jsonl", &[]),
        "badjson.jsonl:2: not JSON",
    );
    write(
        "utf8.jsonl",
        [good.as_bytes(), b"\n{\"item\": 2, \"title\": \"\xff\"}\n"]
            .concat()
            .as_slice(),
    );
    fails_with(
        &setup.terms_on("utf8.jsonl", "o.jsonl", &[]),
        "utf8.jsonl:2: invalid UTF-8",
    );
    write(
        "dup.jsonl",
        format!("{good}\n{{\"item\": 2, \"title\": \"x\"}}\n{{\"item\": 1, \"title\": \"y\"}}\n").as_bytes(),
    );
    fails_with(
        &setup.terms_on("dup.jsonl", "o.jsonl", &[]),
        "dup.jsonl:3: item 1 is already listed on line 1",
    );
    let not_gguf = setup.path("model.txt");
    std::fs::write(&not_gguf, "not a model").unwrap();
    let items = setup.path("items.jsonl");
    let out = setup.path("o.jsonl");
    fails_with(
        &train(&[
            "terms",
            "--items",
            items.to_str().unwrap(),
            "--model",
            not_gguf.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]),
        "not a GGUF file",
    );
    write(
        "nb.jsonl",
        b"{\"item\": 100, \"neighbors\": [{\"item\": 101}]}\n{\"item\": 100, \"neighbors\": []}\n",
    );
    let nb = setup.path("nb.jsonl");
    fails_with(
        &setup.terms("o.jsonl", &["--neighbors", nb.to_str().unwrap()]),
        "nb.jsonl:2: item 100 is already listed on line 1",
    );
    fails_with(&setup.terms("o.jsonl", &["--terms", "0"]), "1 to 16 terms");
    assert!(!out.exists(), "no output from a failed run");
}

#[test]
fn a_runs_own_examples_replace_the_built_in_ones() {
    let setup = Setup::new();
    let examples = setup.path("examples.jsonl");
    std::fs::write(
        &examples,
        concat!(
            "{\"item\": 102, \"terms\": [\"black-soap\", \"cleanse\", \"african\", \"ghana\", \"natural\"]}\n",
            "{\"item\": 100, \"terms\": [\"hair-mask\", \"restructuring\", \"citrus\", \"unisex\", \"phyto\"]}\n",
        ),
    )
    .unwrap();
    let examples = examples.to_str().unwrap();
    let summary = ok_json(&setup.terms("tids.jsonl", &["--examples", examples]));
    assert_eq!(summary["items"], 29);
    let lines = read_tids_output(&setup.path("tids.jsonl"));
    let unique: HashSet<&Vec<String>> = lines.iter().map(|l| &l.1).collect();
    assert_eq!((lines.len(), unique.len()), (29, 29));

    // The examples are part of the prompt: a run cannot be resumed with others.
    fails_with(
        &setup.terms("part.jsonl", &["--examples", examples, "--stop-after-groups", "1"]),
        "stopped after 1 groups",
    );
    fails_with(&setup.terms("part.jsonl", &["--resume"]), "prompt was");

    let bad = setup.path("bad.jsonl");
    std::fs::write(&bad, "{\"item\": 5, \"terms\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}\n").unwrap();
    fails_with(
        &setup.terms("o.jsonl", &["--examples", bad.to_str().unwrap()]),
        "bad.jsonl: line 1: item 5 is not in",
    );
    fails_with(
        &setup.terms("o.jsonl", &["--examples", examples, "--terms", "3"]),
        "TID has 5 terms, expected 3",
    );
    assert!(!setup.path("o.jsonl").exists(), "no output from a failed run");
}

const STATS_TIDS: &str = r#"{"item": 1, "terms": ["a", "b", "c", "d", "e"]}
{"item": 2, "terms": ["a", "b", "c", "d", "e"]}
{"item": 3, "terms": ["a", "x", "y", "z", "w"]}
{"item": 4, "terms": ["Hair Mask", "b", "c", "d", "f"]}
{"item": 5, "terms": ["a", "b"]}
"#;

#[test]
fn terms_stats_on_a_hand_made_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(path("t.jsonl"), STATS_TIDS).unwrap();
    std::fs::write(
        path("ref.jsonl"),
        "{\"item\": 1, \"terms\": [\"a\", \"b\", \"q\", \"r\", \"s\"]}\n{\"item\": 3, \"terms\": [\"w\", \"z\", \"y\", \"x\", \"a\"]}\n{\"item\": 5, \"terms\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}\n{\"item\": 9, \"terms\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}\n",
    )
    .unwrap();
    std::fs::write(
        path("nb.jsonl"),
        "{\"item\": 1, \"neighbors\": [{\"item\": 2, \"cosine\": 0.9}, {\"item\": 3, \"cosine\": 0.5}]}\n{\"item\": 3, \"neighbors\": [{\"item\": 77}]}\n{\"item\": 4, \"neighbors\": [5]}\n",
    )
    .unwrap();
    let items: String = (1..=6)
        .map(|i| format!("{{\"item\": {i}, \"title\": \"t{i}\"}}\n"))
        .collect();
    std::fs::write(path("items.jsonl"), items + "{\"item\": 7}\n").unwrap();

    let (t, r, n, i) = (
        path("t.jsonl"),
        path("ref.jsonl"),
        path("nb.jsonl"),
        path("items.jsonl"),
    );
    let args = [
        "terms-stats",
        t.as_str(),
        "--reference",
        r.as_str(),
        "--neighbors",
        n.as_str(),
        "--items",
        i.as_str(),
        "--json",
    ];
    let stats = ok_json(&train(&args));
    assert_eq!(stats["items"], 5);
    assert_eq!(stats["valid"], 4);
    assert_eq!(stats["validity"], 0.8);
    assert_eq!(stats["normalised"], 0.6);
    assert_eq!(stats["unique_tids"], 3);
    assert_eq!(stats["unique_terms"], 11);
    assert_eq!(stats["unique_terms_per_position"], serde_json::json!([2, 2, 2, 2, 3]));
    assert_eq!(stats["collision_rate"], 0.5);
    let coverage = &stats["coverage"];
    assert_eq!(
        (coverage["items_with_text"].as_u64(), coverage["with_tid"].as_u64()),
        (Some(6), Some(4))
    );
    let nb = &stats["neighbors"];
    assert_eq!(nb["items"], 1);
    assert_eq!(nb["mean_shared_terms"], 3.0);
    assert_eq!(nb["unrelated_mean_shared_terms"], 2.0);
    assert_eq!(nb["unknown"], 2);
    let agreement = &stats["reference"];
    assert_eq!(agreement["items"], 2);
    assert_eq!(agreement["share_at_least_1"], 1.0);
    assert_eq!(agreement["share_at_least_3"], 0.5);
    assert_eq!(agreement["mean_shared_terms"], 3.5);
    assert_eq!(agreement["exact"], 0.0);

    let ours = &stats["properties"];
    assert_eq!(ours["tids"], 4);
    assert_eq!(ours["function_words"], 0.15, "\"a\" in three TIDs");
    assert_eq!(ours["words_per_term"], 1.05);
    assert_eq!(ours["breaking_rules"], 0.75);
    assert_eq!(
        stats["reference_properties"]["tids"], 2,
        "the reference's TIDs of items 1 and 3"
    );

    let text = train(&["terms-stats", &t]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("valid: 4 (80.00%)") && text.contains("collision rate: 50.0000%"),
        "{text}"
    );

    std::fs::write(
        path("dup.jsonl"),
        format!("{STATS_TIDS}{{\"item\": 2, \"terms\": []}}\n"),
    )
    .unwrap();
    fails_with(
        &train(&["terms-stats", &path("dup.jsonl")]),
        "dup.jsonl:6: item 2 is already listed on line 2",
    );
    std::fs::write(path("bad.jsonl"), "{\"item\": 1, \"terms\": [\"a\"]}\nnope\n").unwrap();
    fails_with(&train(&["terms-stats", &path("bad.jsonl")]), "bad.jsonl:2: not JSON");
}

#[test]
fn terms_stats_measures_what_a_person_would_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(
        path("t.jsonl"),
        "{\"item\": 1, \"terms\": [\"comedy-relief\", \"comedy-relief1996\", \"drama\", \"the-end\", \"x\"]}\n\
         {\"item\": 2, \"terms\": [\"children\", \"childrens\", \"spf15\", \"toys\", \"y\"]}\n",
    )
    .unwrap();
    std::fs::write(
        path("items.jsonl"),
        "{\"item\": 1, \"title\": \"Comedy Relief (1996)\"}\n{\"item\": 2, \"title\": \"SPF15 toys for children\"}\n",
    )
    .unwrap();
    let stats = ok_json(&train(&[
        "terms-stats",
        &path("t.jsonl"),
        "--items",
        &path("items.jsonl"),
        "--json",
    ]));
    let p = &stats["properties"];
    assert_eq!(p["word_reuse"], 1.0, "comedy twice; children and childrens");
    assert_eq!(p["extends_earlier_term"], 1.0);
    assert_eq!(p["glued_digits"], 0.2, "relief1996 and spf15");
    assert_eq!(p["function_words"], 0.1);
    assert_eq!(p["words_per_term"], 1.3);
    assert_eq!(p["numbers_not_in_text"], 0.1, "relief1996; spf15 is a word of the text");
    assert_eq!(p["terms_in_own_text"], 0.5);
    assert_eq!(p["breaking_rules"], 1.0);
    let text = String::from_utf8_lossy(&train(&["terms-stats", &path("t.jsonl")]).stdout).into_owned();
    assert!(
        text.contains("TIDs repeating a word") && text.contains("100.0%"),
        "{text}"
    );

    // Words borrowed from another item's text: item 1 takes "rose" from item 2; "hair",
    // "floral" and "gift" are nobody's.
    assert_eq!(p["borrowed_words"], 0.0);
    std::fs::write(
        path("items.jsonl"),
        "{\"item\": 1, \"title\": \"Argan oil mask\"}\n{\"item\": 2, \"title\": \"Rose soap bar\"}\n",
    )
    .unwrap();
    std::fs::write(
        path("t.jsonl"),
        "{\"item\": 1, \"terms\": [\"mask\", \"argan\", \"rose\", \"oil\", \"hair\"]}\n{\"item\": 2, \"terms\": [\"soap\", \"bar\", \"rose\", \"floral\", \"gift\"]}\n",
    )
    .unwrap();
    let args = [
        "terms-stats",
        &path("t.jsonl"),
        "--items",
        &path("items.jsonl"),
        "--json",
    ];
    assert_eq!(
        ok_json(&train(&args))["properties"]["borrowed_words"],
        0.1,
        "1 term of 10"
    );
    let without = ok_json(&train(&["terms-stats", &path("t.jsonl"), "--json"]));
    assert!(without["properties"]["borrowed_words"].is_null());
}
