//! The real backbone (SmolLM2-135M-Instruct Q4_1, fetched by scripts/fetch-model.sh): the
//! candle forward against llama.cpp on the same file and a fixed text, the same backbone
//! requantized to Q4_0 against the original, and the adapter the product ships (adapters/)
//! against the untuned backbone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{Device, Tensor};
use grlm::llm::{BatchToken, Context, ContextParams, Model, ModelParams};
use grlm_train::llama::Llama;

use crate::common;
use common::{ok_json, read_tids_output, train};

fn model_path() -> PathBuf {
    let path = std::env::var_os("GRLM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-model.sh (the test command does)",
        path.display()
    );
    path
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let mb = b.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    cov / (va * vb).sqrt()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap()
}

/// A history of two TIDs and the start of the next, in the engine's prompt.
fn prompt_text() -> String {
    grlm::prompt::HEADER.to_owned()
        + "[hair-mask, color-lock, citrus, protein, unisex]\n[shampoo, color, care, treated, preserve]\n["
}

/// llama.cpp's logits at every position of `text` under the model at `path`, and the tokens.
fn llama_cpp_logits(path: &Path, text: &str) -> (Vec<u32>, Vec<Vec<f32>>) {
    let model = Arc::new(Model::load(path, &ModelParams::default()).unwrap());
    let tokens = model.tokenize(text, true);
    let params = ContextParams {
        n_ctx: 256,
        n_batch: 256,
        n_seq: 1,
        threads: 1,
    };
    let mut ctx = Context::new(&model, params, None).unwrap();
    let batch: Vec<BatchToken> = tokens
        .iter()
        .enumerate()
        .map(|(i, &token)| BatchToken {
            token,
            pos: i as u32,
            seq: 0,
            logits: true,
        })
        .collect();
    ctx.decode(&batch).unwrap();
    let logits = (0..tokens.len()).map(|i| ctx.logits(i).unwrap().to_vec()).collect();
    (tokens, logits)
}

#[test]
fn candle_matches_llama_cpp_on_the_real_backbone() {
    let path = model_path();
    let (tokens, llama_cpp) = llama_cpp_logits(&path, &prompt_text());

    let llama = Llama::load(&path, &Device::Cpu).unwrap();
    assert_eq!(llama.config.n_vocab, llama_cpp[0].len());
    let input = Tensor::new(tokens.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let hidden = llama.hidden(&input).unwrap().squeeze(0).unwrap();
    let ours: Vec<Vec<f32>> = llama.logits(&hidden).unwrap().to_vec2().unwrap();

    let (mut worst, mut sum, mut same_top) = (1.0f64, 0.0f64, 0usize);
    for (row, theirs) in ours.iter().zip(&llama_cpp) {
        let r = correlation(theirs, row);
        worst = worst.min(r);
        sum += r;
        same_top += usize::from(argmax(theirs) == argmax(row));
    }
    let mean = sum / ours.len() as f64;
    // llama.cpp multiplies Q4_1 weights by activations rounded to 8 bits; candle uses the
    // dequantized f32 weights: close, not equal (measured: mean 0.9992, lowest 0.9958, the
    // same top-1 at 51 of 56 positions, the others near ties).
    assert!(mean >= 0.999, "mean per-position correlation {mean}");
    assert!(worst >= 0.99, "lowest per-position correlation {worst}");
    assert!(
        same_top * 10 >= ours.len() * 8,
        "same top-1 at {same_top} of {} positions",
        ours.len()
    );
    let last = tokens.len() - 1;
    assert_eq!(argmax(&llama_cpp[last]), argmax(&ours[last]), "top-1 of the next token");
}

#[test]
fn the_requantized_backbone_runs_in_llama_cpp_close_to_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let q4_0 = dir.path().join("q4_0.gguf");
    let args = grlm_train::requantize::RequantizeArgs {
        model: model_path(),
        out: q4_0.clone(),
    };
    let summary = grlm_train::requantize::run(&args).unwrap();
    assert_eq!((summary.converted, summary.copied), (210, 62), "{summary:?}");
    let (tokens, original) = llama_cpp_logits(&model_path(), &prompt_text());
    let (same_tokens, requantized) = llama_cpp_logits(&q4_0, &prompt_text());
    assert_eq!(tokens, same_tokens, "the tokenizer is copied");
    let rs: Vec<f64> = original
        .iter()
        .zip(&requantized)
        .map(|(a, b)| correlation(a, b))
        .collect();
    let mean = rs.iter().sum::<f64>() / rs.len() as f64;
    // One more 4-bit rounding of every block matrix (7.6% of each matrix's norm): the same
    // model, visibly perturbed (ggml's own scale per block, 8.7%, gave 0.926).
    assert!(mean >= 0.9, "mean per-position correlation {mean}");
    let last = tokens.len() - 1;
    assert_eq!(
        argmax(&original[last]),
        argmax(&requantized[last]),
        "top-1 of the next token"
    );
}

/// Of `written`'s TIDs, the share of terms equal to the reference TID's term in the same place.
fn agreement(written: &[(u64, Vec<String>, String)], reference: &std::collections::HashMap<u64, Vec<String>>) -> f64 {
    let same: usize = written
        .iter()
        .map(|(item, terms, _)| terms.iter().zip(&reference[item]).filter(|(a, b)| a == b).count())
        .sum();
    same as f64 / (5 * written.len()) as f64
}

#[test]
fn the_shipped_adapter_writes_the_catalogues_terms_and_the_untuned_backbone_does_not() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = root.join("../shared/data/beauty");
    let adapter = root.join("adapters/beauty-smollm2-135m.gguf");
    // The `terms` task it was trained on, for the first 30 Beauty items: their metadata in,
    // their TIDs out.
    let dir = tempfile::tempdir().unwrap();
    let items = dir.path().join("items.jsonl");
    let all = std::fs::read_to_string(data.join("items.jsonl")).unwrap();
    std::fs::write(
        &items,
        all.lines().take(30).map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let reference: std::collections::HashMap<u64, Vec<String>> =
        grlm::catalog::input::read_tids(&data.join("reference_tids.jsonl"), Some(5))
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    u64::from(r.item),
                    r.tid.terms().iter().map(|t| t.as_str().to_owned()).collect(),
                )
            })
            .collect();
    let write = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let model = model_path();
        let mut args = vec![
            "terms",
            "--items",
            items.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ];
        args.extend(["--out", out.to_str().unwrap(), "--threads", "1"]);
        args.extend_from_slice(extra);
        ok_json(&train(&args));
        read_tids_output(&out)
    };
    let tuned = write("tuned.jsonl", &["--lora", adapter.to_str().unwrap()]);
    let untuned = write("untuned.jsonl", &[]);
    assert_eq!((tuned.len(), untuned.len()), (30, 30));
    // Measured when it shipped: 0.29 of the terms in place against 0.007 untuned.
    let (tuned, untuned) = (agreement(&tuned, &reference), agreement(&untuned, &reference));
    assert!(
        tuned >= 0.2 && untuned <= 0.05,
        "terms in place: tuned {tuned:.3}, untuned {untuned:.3}"
    );
}
