//! The candle forward against llama.cpp on the same tiny GGUF.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use grlm::llm::{BatchToken, Context, ContextParams, Model, ModelParams};
use grlm_testkit::tiny::{tiny_model_bytes, TinyModelSpec};

use super::Llama;

const TEXT: &str = "[hair-mask, color-lock, citrus, protein, unisex]\n[shampoo, color, care";

/// llama.cpp's logits for every position of `tokens`.
pub(crate) fn llama_cpp_logits(
    model: &Arc<Model>,
    tokens: &[u32],
    lora: Option<(&grlm::llm::LoraAdapter, f32)>,
) -> Vec<Vec<f32>> {
    let params = ContextParams {
        n_ctx: 256,
        n_batch: 256,
        n_seq: 1,
        threads: 1,
    };
    let mut ctx = Context::new(model, params, lora).unwrap();
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
    (0..tokens.len()).map(|i| ctx.logits(i).unwrap().to_vec()).collect()
}

/// candle's logits for every position of `tokens`.
pub(crate) fn candle_logits(llama: &Llama, tokens: &[u32]) -> Vec<Vec<f32>> {
    let input = Tensor::new(tokens, llama.device()).unwrap().unsqueeze(0).unwrap();
    let hidden = llama.hidden(&input).unwrap().squeeze(0).unwrap();
    llama.logits(&hidden).unwrap().to_vec2().unwrap()
}

pub(crate) fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
        b.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
    );
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    cov / (va * vb).sqrt()
}

pub(crate) fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap()
}

pub(crate) fn tiny_files(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tiny.gguf");
    std::fs::write(&path, tiny_model_bytes(&[TEXT], &TinyModelSpec::default())).unwrap();
    path
}

#[test]
fn forward_matches_llama_cpp_on_every_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_files(dir.path());
    let model = Arc::new(Model::load(&path, &ModelParams::default()).unwrap());
    let tokens = model.tokenize(TEXT, false);
    assert!(tokens.len() > 10);
    let want = llama_cpp_logits(&model, &tokens, None);
    let llama = Llama::load(&path, &Device::Cpu).unwrap();
    let got = candle_logits(&llama, &tokens);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let r = correlation(w, g);
        assert!(r > 0.9999, "position {i}: correlation {r}");
        assert_eq!(argmax(w), argmax(g), "position {i}");
    }
}

#[test]
fn a_batch_of_padded_rows_equals_each_row_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_files(dir.path());
    let llama = Llama::load(&path, &Device::Cpu).unwrap();
    let long: Vec<u32> = (1..13).collect();
    let short: Vec<u32> = (20..27).collect();
    let mut padded = short.clone();
    padded.resize(long.len(), 0);
    let flat: Vec<u32> = long.iter().chain(&padded).copied().collect();
    let batch = Tensor::from_vec(flat, (2, long.len()), &Device::Cpu).unwrap();
    let hidden = llama.hidden(&batch).unwrap();
    let alone = llama
        .hidden(&Tensor::new(&short[..], &Device::Cpu).unwrap().unsqueeze(0).unwrap())
        .unwrap();
    let row: Vec<Vec<f32>> = hidden
        .get(1)
        .unwrap()
        .narrow(0, 0, short.len())
        .unwrap()
        .to_vec2()
        .unwrap();
    let want: Vec<Vec<f32>> = alone.squeeze(0).unwrap().to_vec2().unwrap();
    for (a, b) in row.iter().flatten().zip(want.iter().flatten()) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn other_architectures_and_broken_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"not a gguf at all").unwrap();
    let e = Llama::load(&garbage, &Device::Cpu).unwrap_err();
    assert!(e.to_string().contains("not a readable GGUF"), "{e}");
    let e = Llama::load(&dir.path().join("missing.gguf"), &Device::Cpu).unwrap_err();
    assert!(matches!(e, super::LlamaError::Io { .. }), "{e}");

    let mut g = grlm_testkit::gguf::GgufWriter::default();
    g.kv_str("general.architecture", "gpt2");
    let other = dir.path().join("gpt2.gguf");
    std::fs::write(&other, g.finish()).unwrap();
    let e = Llama::load(&other, &Device::Cpu).unwrap_err();
    assert!(e.to_string().contains("\"gpt2\" is not supported"), "{e}");
}
