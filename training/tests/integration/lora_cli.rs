//! `grlm-train sft` and `grlm-train lora` end to end on the tiny model: the adapter trains,
//! resumes to the same bytes after an interruption, loads in the engine, merges, and bad
//! input fails clearly.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use crate::common;
use common::{fails_with, fixture, ok_json, tiny_model, train};

struct Setup {
    dir: tempfile::TempDir,
    model: PathBuf,
    data: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny_model(dir.path());
        let data = dir.path().join("sft");
        let p = |f: &str| fixture(f).display().to_string();
        ok_json(&train(&[
            "sft",
            "--items",
            &p("items.jsonl"),
            "--tids",
            &p("tids.jsonl"),
            "--sequences",
            &p("sequences.txt"),
            "--out",
            data.to_str().unwrap(),
        ]));
        Setup { dir, model, data }
    }

    /// The fixture catalogue with `model`'s token trie, written once into the directory.
    fn catalog(&self, model: &Path, name: &str) -> PathBuf {
        let catalog = self.dir.path().join(name);
        if !catalog.exists() {
            grlm_testkit::fixtures::build_fixture_catalog(&catalog, Some(model));
        }
        catalog
    }

    /// `lora` with small settings; `extra` flags replace the defaults of the same name.
    fn lora(&self, out: &Path, extra: &[&str]) -> Output {
        let defaults = [
            ("--rank", "4"),
            ("--alpha", "8"),
            ("--batch", "2"),
            ("--epochs", "3"),
            ("--lr", "5e-3"),
            ("--warmup", "2"),
            ("--checkpoint-every", "2"),
            ("--valid", "4"),
            ("--threads", "1"),
        ];
        let mut args = vec![
            "lora",
            "--base",
            self.model.to_str().unwrap(),
            "--data",
            self.data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        for (flag, value) in defaults {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend(extra);
        train(&args)
    }
}

#[test]
fn an_adapter_trains_resumes_identically_and_loads_in_the_engine() {
    let s = Setup::new();
    let straight = s.dir.path().join("straight.gguf");
    let summary = ok_json(&s.lora(&straight, &[]));
    assert_eq!(summary["finished"], true);
    let steps = summary["total_steps"].as_u64().unwrap();
    assert!(steps >= 6, "{summary}");
    assert_eq!(summary["steps"], steps);
    let (first, last) = (
        summary["first_loss"].as_f64().unwrap(),
        summary["last_loss"].as_f64().unwrap(),
    );
    assert!(last < first, "training loss {first} -> {last}");
    let (before, after) = (
        summary["valid_loss_before"].as_f64().unwrap(),
        summary["valid_loss_after"].as_f64().unwrap(),
    );
    assert!(after < before, "validation loss {before} -> {after}");
    assert!(summary["train_tokens"].as_u64().unwrap() > 0);

    // Killed after 3 steps (a checkpoint at step 2), then resumed: the same adapter, byte
    // for byte.
    let resumed = s.dir.path().join("resumed.gguf");
    let partial = ok_json(&s.lora(&resumed, &["--stop-after", "3"]));
    assert_eq!(partial["finished"], false);
    assert!(!resumed.exists(), "an unfinished run wrote its adapter");
    fails_with(&s.lora(&resumed, &[]), "pass --resume");
    let done = ok_json(&s.lora(&resumed, &["--resume"]));
    assert_eq!(done["finished"], true);
    assert_eq!(std::fs::read(&resumed).unwrap(), std::fs::read(&straight).unwrap());

    // The engine serves with it.
    let catalog = s.dir.path().join("fixture.grlm");
    let vocab = Arc::new(
        grlm::llm::Model::load(
            &s.model,
            &grlm::llm::ModelParams {
                vocab_only: true,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    grlm::CatalogBuilder::from_jsonl(&fixture("items.jsonl"), &fixture("tids.jsonl"), false)
        .unwrap()
        .with_token_trie(grlm::engine::token_trie_spec(&vocab))
        .write(&catalog)
        .unwrap();
    let mut params = grlm::EngineParams::new(&s.model, &catalog);
    params.lora = Some(straight.clone());
    let engine = grlm::Engine::open(&params).unwrap();
    let mut session = engine
        .session(grlm::SessionParams {
            threads: 1,
            ..Default::default()
        })
        .unwrap();
    let response = session
        .recommend(
            &[1, 2, 3],
            &grlm::RecommendParams {
                k: 3,
                beams: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(response.results.len(), 3);
}

#[test]
fn a_merged_model_loads_and_serves_without_the_adapter() {
    let s = Setup::new();
    let adapter = s.dir.path().join("a.gguf");
    let merged = s.dir.path().join("merged.gguf");
    let summary = ok_json(&s.lora(&adapter, &["--merge-q8", merged.to_str().unwrap()]));
    assert_eq!(summary["merged"], merged.to_str().unwrap());
    // llama.cpp computes with the merged weights what it computes with base + adapter, up
    // to Q8_0 rounding.
    let text = "A shopper's purchases\n[shampoo, color";
    let mut base = grlm::llm::Model::load(&s.model, &grlm::llm::ModelParams::default()).unwrap();
    let lora = base.load_adapter(&adapter).unwrap();
    let base = Arc::new(base);
    let merged = Arc::new(grlm::llm::Model::load(&merged, &grlm::llm::ModelParams::default()).unwrap());
    let tokens = base.tokenize(text, false);
    let want = last_logits(&base, &tokens, Some((&lora, 1.0)));
    let got = last_logits(&merged, &tokens, None);
    let without = last_logits(&base, &tokens, None);
    let diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff(&want, &without) > 1e-2, "the adapter changes nothing");
    assert!(
        diff(&want, &got) < diff(&want, &without) / 4.0,
        "merged {} vs adapter-free {}",
        diff(&want, &got),
        diff(&want, &without)
    );
}

/// llama.cpp's next-token logits after `tokens`.
fn last_logits(
    model: &Arc<grlm::llm::Model>,
    tokens: &[u32],
    lora: Option<(&grlm::llm::LoraAdapter, f32)>,
) -> Vec<f32> {
    let params = grlm::llm::ContextParams {
        n_ctx: 128,
        n_batch: 128,
        n_seq: 1,
        threads: 1,
    };
    let mut ctx = grlm::llm::Context::new(model, params, lora).unwrap();
    let batch: Vec<grlm::llm::BatchToken> = tokens
        .iter()
        .enumerate()
        .map(|(i, &token)| grlm::llm::BatchToken {
            token,
            pos: i as u32,
            seq: 0,
            logits: i + 1 == tokens.len(),
        })
        .collect();
    ctx.decode(&batch).unwrap();
    ctx.logits(tokens.len() - 1).unwrap().to_vec()
}

#[test]
fn the_fast_recipe_trains_resumes_identically_and_records_its_curve() {
    let s = Setup::new();
    let catalog = s.catalog(&s.model, "fixture.grlm");
    let fast = [
        "--catalog",
        catalog.to_str().unwrap(),
        "--train-layers",
        "1",
        "--snapshot-every",
        "2",
    ];
    let straight = s.dir.path().join("fast.gguf");
    let summary = ok_json(&s.lora(&straight, &fast));
    assert_eq!(summary["finished"], true);
    let (before, after) = (
        summary["valid_loss_before"].as_f64().unwrap(),
        summary["valid_loss_after"].as_f64().unwrap(),
    );
    assert!(after < before, "validation loss {before} -> {after}");
    assert_eq!(summary["kernels"], "fused");
    assert_eq!(summary["valid_objective"], "trie");

    // The full softmax in training, measured on the trie objective: the same starting
    // validation loss, another path from it. A time limit of 0 trains nothing.
    let mut full = fast.to_vec();
    full.extend(["--objective", "full"]);
    let other = ok_json(&s.lora(&s.dir.path().join("full.gguf"), &full));
    assert_eq!(other["valid_objective"], "trie");
    assert_eq!(other["valid_loss_before"], summary["valid_loss_before"]);
    assert_ne!(other["valid_loss_after"], summary["valid_loss_after"]);
    let mut timed = fast.to_vec();
    timed.extend(["--time-limit", "0"]);
    let none = ok_json(&s.lora(&s.dir.path().join("timed.gguf"), &timed));
    assert_eq!(
        (none["finished"].as_bool(), none["steps"].as_u64()),
        (Some(false), Some(0))
    );

    // Stopped, resumed (the frozen blocks' output read back from the store): same bytes.
    let resumed = s.dir.path().join("fast-resumed.gguf");
    let mut stop = fast.to_vec();
    stop.extend(["--stop-after", "3"]);
    ok_json(&s.lora(&resumed, &stop));
    let store = s.dir.path().join("fast-resumed.gguf.ckpt/prefix");
    assert!(
        std::fs::read_dir(&store).unwrap().count() > 0,
        "the prefix store is written"
    );
    let mut resume = fast.to_vec();
    resume.push("--resume");
    ok_json(&s.lora(&resumed, &resume));
    assert_eq!(std::fs::read(&resumed).unwrap(), std::fs::read(&straight).unwrap());

    // Only the last block carries an adapter, and the engine loads it.
    let content = {
        let mut f = std::fs::File::open(&straight).unwrap();
        candle_core::quantized::gguf_file::Content::read(&mut f).unwrap()
    };
    let names: Vec<&String> = content.tensor_infos.keys().collect();
    assert!(names.iter().all(|n| n.starts_with("blk.1.")), "{names:?}");
    assert_eq!(names.len(), 14);
    let mut params = grlm::EngineParams::new(&s.model, &catalog);
    params.lora = Some(straight.clone());
    grlm::Engine::open(&params).unwrap();

    // A model of another shape refuses it clearly.
    let narrow = s.dir.path().join("narrow.gguf");
    let spec = grlm_testkit::tiny::TinyModelSpec {
        n_embd: 32,
        n_ff: 64,
        ..Default::default()
    };
    std::fs::write(
        &narrow,
        grlm_testkit::tiny::tiny_model_bytes(&["[a, b, c, d, e]"], &spec),
    )
    .unwrap();
    let mut other = grlm::llm::Model::load(&narrow, &grlm::llm::ModelParams::default()).unwrap();
    let err = other.load_adapter(&straight).unwrap_err().to_string();
    assert!(err.contains("not an adapter for this model"), "{err}");

    // The learning curve: a snapshot and a line every 2 steps.
    let snapshots = s.dir.path().join("fast.gguf.snapshots");
    let curve = std::fs::read_to_string(snapshots.join("curve.jsonl")).unwrap();
    let points: Vec<serde_json::Value> = curve.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let steps = summary["total_steps"].as_u64().unwrap();
    assert_eq!(points.len() as u64, steps / 2);
    for p in &points {
        assert!(p["valid_loss"].as_f64().unwrap() > 0.0);
        assert!(Path::new(p["adapter"].as_str().unwrap()).exists());
    }
}

#[test]
fn bad_input_fails_clearly() {
    let s = Setup::new();
    let out = s.dir.path().join("a.gguf");

    // Not a llama model.
    let mut g = grlm_testkit::gguf::GgufWriter::default();
    g.kv_str("general.architecture", "gpt2");
    let gpt2 = s.dir.path().join("gpt2.gguf");
    std::fs::write(&gpt2, g.finish()).unwrap();
    let mut args = vec!["lora", "--base", gpt2.to_str().unwrap(), "--data"];
    args.extend([s.data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    fails_with(&train(&args), "architecture \"gpt2\" is not supported");

    // Empty data.
    let empty = s.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("train.jsonl"), "").unwrap();
    let o = train(&[
        "lora",
        "--base",
        s.model.to_str().unwrap(),
        "--data",
        empty.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    fails_with(&o, "no training examples");

    // A learning rate that blows up.
    fails_with(&s.lora(&out, &["--lr", "1e30"]), "training diverged");
    std::fs::remove_dir_all(s.dir.path().join("a.gguf.ckpt")).ok();

    // Resuming with another rank: the checkpoint does not fit.
    ok_json(&s.lora(&out, &["--stop-after", "2"]));
    fails_with(&s.lora(&out, &["--resume", "--rank", "2"]), "another run");

    // Resuming with another block set, and a truncated checkpoint: clear errors, the
    // checkpoint left as it was.
    fails_with(&s.lora(&out, &["--resume", "--train-layers", "1"]), "another run");
    let ckpt = s.dir.path().join("a.gguf.ckpt");
    let tensors = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("tensors-"))
        .unwrap();
    let whole = std::fs::read(&tensors).unwrap();
    std::fs::write(&tensors, &whole[..whole.len() / 2]).unwrap();
    let o = s.lora(&out, &["--resume"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&*tensors.file_name().unwrap().to_string_lossy()), "{err}");
    assert_eq!(std::fs::read(&tensors).unwrap(), whole[..whole.len() / 2]);
    assert!(!out.exists());
    std::fs::remove_dir_all(&ckpt).unwrap();

    // Blocks out of range; a catalogue without a token trie, or with another tokenizer's.
    fails_with(
        &s.lora(&out, &["--train-layers", "0"]),
        "0 adapted blocks outside 1..=2",
    );
    fails_with(
        &s.lora(&out, &["--train-layers", "9"]),
        "9 adapted blocks outside 1..=2",
    );
    let no_trie = s.dir.path().join("no-trie.grlm");
    grlm_testkit::fixtures::build_fixture_catalog(&no_trie, None);
    fails_with(
        &s.lora(&out, &["--catalog", no_trie.to_str().unwrap()]),
        "has no token trie",
    );
    let other = s.dir.path().join("other.gguf");
    let spec = grlm_testkit::tiny::TinyModelSpec {
        merges: 50,
        ..Default::default()
    };
    std::fs::write(
        &other,
        grlm_testkit::tiny::tiny_model_bytes(&["[other, words, here]"], &spec),
    )
    .unwrap();
    let foreign = s.catalog(&other, "foreign.grlm");
    fails_with(
        &s.lora(&out, &["--catalog", foreign.to_str().unwrap()]),
        "its token trie is for tokenizer",
    );
    assert!(!out.exists() && !ckpt.join("state.json").exists());

    // Unknown targets and tasks.
    fails_with(&s.lora(&out, &["--targets", "q,zz"]), "unknown target \"zz\"");
    fails_with(&s.lora(&out, &["--tasks", "dance"]), "unknown task");
}
