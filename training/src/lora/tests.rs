//! Adapters: gradients reach every parameter, training lowers the loss, and llama.cpp
//! loading the saved adapter computes what candle computes.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use grlm::llm::{Model, ModelParams};

use super::optim::{AdamW, AdamWConfig};
use super::{attach, save_adapter, LoraConfig, Target};
use crate::llama::tests::{argmax, candle_logits, correlation, llama_cpp_logits, tiny_files};
use crate::llama::Llama;

/// A next-token task on a few token ids: positions 0..n-1 predict tokens 1..n.
fn batch(tokens: &[u32]) -> (Tensor, Tensor, Tensor) {
    let n = tokens.len();
    let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let positions = Tensor::arange(0u32, (n - 1) as u32, &Device::Cpu).unwrap();
    let targets = Tensor::new(&tokens[1..], &Device::Cpu).unwrap();
    (input, positions, targets)
}

#[test]
fn gradients_reach_every_adapter_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let mut llama = Llama::load(&tiny_files(dir.path()), &Device::Cpu).unwrap();
    let config = LoraConfig {
        rank: 4,
        ..Default::default()
    };
    let vars = attach(&mut llama, &config, 1).unwrap();
    assert_eq!(vars.len(), 2 * 7 * llama.blocks.len());
    // B starts at zero, which zeroes A's gradient; give B values so both must receive one.
    for pair in vars.chunks(2) {
        let b = &pair[1];
        b.set(&(b.as_tensor().ones_like().unwrap() * 0.01).unwrap()).unwrap();
    }
    let (input, positions, targets) = batch(&[5, 9, 17, 3, 40, 41, 42, 7]);
    let loss = llama.loss(&input, &positions, &targets).unwrap();
    let grads = loss.backward().unwrap();
    for (i, var) in vars.iter().enumerate() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("variable {i} received no gradient"));
        let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(norm > 0.0 && norm.is_finite(), "variable {i}: gradient norm {norm}");
    }
}

#[test]
fn a_fresh_adapter_changes_nothing_and_training_lowers_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_files(dir.path());
    let base = Llama::load(&path, &Device::Cpu).unwrap();
    let mut llama = base.clone();
    let config = LoraConfig {
        rank: 4,
        alpha: 8.0,
        targets: vec![Target::Q, Target::V, Target::Down],
        layers: None,
    };
    let vars = attach(&mut llama, &config, 7).unwrap();
    let tokens = [5u32, 9, 17, 3, 40, 41, 42, 7, 5, 9];
    assert_eq!(candle_logits(&base, &tokens), candle_logits(&llama, &tokens));

    let (input, positions, targets) = batch(&tokens);
    let first: f32 = llama.loss(&input, &positions, &targets).unwrap().to_scalar().unwrap();
    let mut adam = AdamW::new(&vars, AdamWConfig::default()).unwrap();
    let mut last = first;
    for _ in 0..20 {
        let loss = llama.loss(&input, &positions, &targets).unwrap();
        last = loss.to_scalar().unwrap();
        let grads = loss.backward().unwrap();
        let g: Vec<Tensor> = vars.iter().map(|v| grads.get(v.as_tensor()).unwrap().clone()).collect();
        adam.step(&vars, &g, 1e-2).unwrap();
    }
    assert!(last < first * 0.8, "loss {first} -> {last}");
}

#[test]
fn llama_cpp_computes_what_candle_computes_with_the_saved_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_files(dir.path());
    let mut llama = Llama::load(&path, &Device::Cpu).unwrap();
    let config = LoraConfig {
        rank: 4,
        alpha: 8.0,
        ..Default::default()
    };
    let vars = attach(&mut llama, &config, 3).unwrap();
    // A few real steps, so the adapter is not the zero update it starts as.
    let tokens = [5u32, 9, 17, 3, 40, 41, 42, 7, 5, 9, 12, 13];
    let (input, positions, targets) = batch(&tokens);
    let mut adam = AdamW::new(&vars, AdamWConfig::default()).unwrap();
    for _ in 0..5 {
        let grads = llama.loss(&input, &positions, &targets).unwrap().backward().unwrap();
        let g: Vec<Tensor> = vars.iter().map(|v| grads.get(v.as_tensor()).unwrap().clone()).collect();
        adam.step(&vars, &g, 5e-2).unwrap();
    }
    let adapter = dir.path().join("adapter.gguf");
    save_adapter(&llama, &config, &adapter).unwrap();

    let mut model = Model::load(&path, &ModelParams::default()).unwrap();
    let lora = model.load_adapter(&adapter).unwrap();
    let model = Arc::new(model);
    let want = candle_logits(&llama, &tokens);
    let got = llama_cpp_logits(&model, &tokens, Some((&lora, 1.0)));
    let base = llama_cpp_logits(&model, &tokens, None);
    let mut moved = 0.0f32;
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let r = correlation(w, g);
        assert!(r > 0.999, "position {i}: correlation {r}");
        assert_eq!(argmax(w), argmax(g), "position {i}");
        moved = moved.max(g.iter().zip(&base[i]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max));
    }
    assert!(moved > 1e-2, "the adapter did not change llama.cpp's logits ({moved})");
}

#[test]
fn bad_configurations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut llama = Llama::load(&tiny_files(dir.path()), &Device::Cpu).unwrap();
    for (config, needle) in [
        (
            LoraConfig {
                rank: 0,
                ..Default::default()
            },
            "rank 0",
        ),
        (
            LoraConfig {
                rank: 100_000,
                ..Default::default()
            },
            "rank 100000",
        ),
        (
            LoraConfig {
                alpha: f64::NAN,
                ..Default::default()
            },
            "alpha",
        ),
        (
            LoraConfig {
                targets: vec![],
                ..Default::default()
            },
            "no target",
        ),
    ] {
        let e = attach(&mut llama, &config, 1).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
    let e = save_adapter(&llama, &LoraConfig::default(), &dir.path().join("a.gguf")).unwrap_err();
    assert!(e.to_string().contains("no adapter"), "{e}");
}

/// Sets every B of an adapter to `value`: B starts at zero, which zeroes A's gradient.
pub(crate) fn liven(vars: &[candle_core::Var], value: f64) {
    for pair in vars.chunks(2) {
        let b = &pair[1];
        b.set(&(b.as_tensor().ones_like().unwrap() * value).unwrap()).unwrap();
    }
}

/// The largest difference between two lists of gradients, relative to the largest value
/// of the first.
pub(crate) fn relative_gap(a: &[Tensor], b: &[Tensor]) -> f32 {
    let max = |t: Tensor| -> f32 { t.abs().unwrap().max_all().unwrap().to_scalar().unwrap() };
    let (mut gap, mut size) = (0f32, 0f32);
    for (a, b) in a.iter().zip(b) {
        gap = gap.max(max((a - b).unwrap()));
        size = size.max(max(a.clone()));
    }
    gap / size.max(1e-12)
}

/// Loss and gradients of a fixed batch with every adapter parameter live.
fn loss_and_gradients(llama: &Llama, vars: &[candle_core::Var]) -> (f32, Vec<Tensor>) {
    let (input, positions, targets) = batch(&[5, 9, 17, 3, 40, 41, 42, 7, 12, 30, 31, 2]);
    let loss = llama.loss(&input, &positions, &targets).unwrap();
    let grads = loss.backward().unwrap();
    let g = vars.iter().map(|v| grads.get(v.as_tensor()).unwrap().clone()).collect();
    (loss.to_scalar().unwrap(), g)
}

#[test]
fn fused_kernels_compute_what_the_plain_ops_compute() {
    let dir = tempfile::tempdir().unwrap();
    let mut llama = Llama::load(&tiny_files(dir.path()), &Device::Cpu).unwrap();
    let vars = attach(&mut llama, &LoraConfig::default().with_rank(4), 3).unwrap();
    liven(&vars, 0.02);
    let (plain, g_plain) = loss_and_gradients(&llama, &vars);
    let gap = |g: &[Tensor]| relative_gap(&g_plain, g);
    assert!(!llama.set_kernels(crate::llama::Kernels::Fused, false).unwrap());
    let (fused, g_fused) = loss_and_gradients(&llama, &vars);
    assert!((plain - fused).abs() < 1e-5 * plain, "{plain} vs {fused}");
    assert!(gap(&g_fused) < 1e-4, "fused f32 gradients differ by {}", gap(&g_fused));
    // bf16 products where oneDNN is installed: within bf16's precision (8 bits).
    if llama.set_kernels(crate::llama::Kernels::Fused, true).unwrap() {
        let (bf16, g_bf16) = loss_and_gradients(&llama, &vars);
        assert!((plain - bf16).abs() < 1e-2 * plain, "{plain} vs {bf16}");
        assert!(gap(&g_bf16) < 5e-2, "bf16 gradients differ by {}", gap(&g_bf16));
    } else {
        eprintln!("oneDNN (libdnnl.so.2) not found: the bf16 path is not tested here");
    }
}
