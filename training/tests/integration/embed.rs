//! The Rust sentence embedder against sentence-transformers (the fixture written by
//! `fixtures/minilm_reference.py`), on the real all-MiniLM-L6-v2 fetched by
//! scripts/fetch-model.sh; and its load-time errors on small synthetic models.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use grlm_train::neighbors::cache::EmbeddingCache;
use grlm_train::neighbors::embed::{SentenceEmbedder, MAX_SEQ_LEN};
use grlm_train::neighbors::NeighborsError;

use crate::common;
use common::embedder_dir;

struct Reference {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = json["cases"].as_array().unwrap();
    Reference {
        texts: cases.iter().map(|c| c["text"].as_str().unwrap().to_owned()).collect(),
        vectors: cases
            .iter()
            .map(|c| {
                c["embedding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect(),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// For each vector, the others in order of decreasing cosine.
fn neighbour_order(v: &[Vec<f32>]) -> Vec<Vec<usize>> {
    (0..v.len())
        .map(|i| {
            let mut others: Vec<usize> = (0..v.len()).filter(|&j| j != i).collect();
            others.sort_by(|&a, &b| cosine(&v[i], &v[b]).total_cmp(&cosine(&v[i], &v[a])));
            others
        })
        .collect()
}

#[test]
fn matches_sentence_transformers() {
    let embedder = SentenceEmbedder::load(&embedder_dir()).unwrap();
    assert_eq!(embedder.dimension(), 384);
    let r = reference();
    let ours = embedder.embed(&r.texts).unwrap();
    assert_eq!(ours.len(), r.texts.len());
    let mut worst = f64::INFINITY;
    for (i, (a, b)) in ours.iter().zip(&r.vectors).enumerate() {
        let c = cosine(a, b);
        worst = worst.min(c);
        assert!(
            c >= 0.9999,
            "sentence {i} ({:.40}…): cosine {c} with the reference",
            r.texts[i]
        );
        let norm = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "sentence {i}: norm {norm}");
    }
    let max_diff = ours
        .iter()
        .flatten()
        .zip(r.vectors.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!(
        "against sentence-transformers: 1 - worst cosine = {:.2e}, largest component difference {max_diff:.2e}",
        1.0 - worst
    );
    assert_eq!(neighbour_order(&ours), neighbour_order(&r.vectors));

    // The long sentence is cut at 256 tokens, [CLS] and [SEP] included.
    let long = r.texts.iter().max_by_key(|t| t.len()).unwrap();
    assert_eq!(embedder.tokenize(long).unwrap().len(), MAX_SEQ_LEN);
}

#[test]
fn batching_and_order_do_not_change_vectors() {
    let embedder = SentenceEmbedder::load(&embedder_dir()).unwrap();
    let r = reference();
    let together = embedder.embed(&r.texts).unwrap();
    let mut reversed: Vec<String> = r.texts.clone();
    reversed.reverse();
    // One text per batch: no padding at all.
    let alone = embedder.embed_batched(&reversed, 1, |_, _| {}).unwrap();
    for (i, v) in together.iter().enumerate() {
        let c = cosine(v, &alone[r.texts.len() - 1 - i]);
        assert!(c > 0.999_999, "sentence {i}: cosine {c} between batched and alone");
    }
    assert!(embedder.embed(&[]).unwrap().is_empty());
}

// ---- synthetic models for the error paths ----

fn config_json(hidden: usize, heads: usize) -> String {
    format!(
        r#"{{"hidden_size": {hidden}, "num_hidden_layers": 1, "num_attention_heads": {heads},
            "intermediate_size": 16, "max_position_embeddings": 512, "layer_norm_eps": 1e-12,
            "vocab_size": 30522, "type_vocab_size": 2, "hidden_act": "gelu"}}"#
    )
}

/// A one-layer BERT of width `hidden` with small pseudo-random weights and the real
/// tokenizer; `bad_shape` gives one tensor a wrong shape.
fn tiny_model(dir: &Path, hidden: usize, bad_shape: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config_json(hidden, 2)).unwrap();
    std::fs::copy(embedder_dir().join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("embeddings.word_embeddings.weight".into(), vec![30522, hidden]),
        ("embeddings.position_embeddings.weight".into(), vec![512, hidden]),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, hidden]),
        ("embeddings.LayerNorm.weight".into(), vec![hidden]),
        ("embeddings.LayerNorm.bias".into(), vec![hidden]),
    ];
    let p = "encoder.layer.0";
    for name in [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
    ] {
        shapes.push((format!("{p}.{name}.weight"), vec![hidden, hidden]));
        shapes.push((format!("{p}.{name}.bias"), vec![hidden]));
    }
    shapes.push((format!("{p}.intermediate.dense.weight"), vec![16, hidden]));
    shapes.push((format!("{p}.intermediate.dense.bias"), vec![16]));
    shapes.push((format!("{p}.output.dense.weight"), vec![hidden, 16]));
    shapes.push((format!("{p}.output.dense.bias"), vec![hidden]));
    for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
        shapes.push((format!("{p}.{norm}.weight"), vec![hidden]));
        shapes.push((format!("{p}.{norm}.bias"), vec![hidden]));
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let tensors: HashMap<String, Tensor> = shapes
        .into_iter()
        .map(|(name, mut shape)| {
            if bad_shape == Some(name.as_str()) {
                shape[0] += 1;
            }
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 40) as f32 / (1u64 << 24) as f32 * 0.2 - 0.1
                })
                .collect();
            (name, Tensor::from_vec(data, shape, &Device::Cpu).unwrap())
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

#[test]
fn another_dimension_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(&dir.path().join("tiny"), 8, None);
    let tiny = SentenceEmbedder::load(&dir.path().join("tiny")).unwrap();
    assert_eq!(tiny.dimension(), 8);
    let v = tiny
        .embed(&["a lip balm".to_string(), "hair mask".to_string()])
        .unwrap();
    assert!(v.iter().all(|x| x.len() == 8));

    // A cache written by the 384-dimensional model refuses the 8-dimensional one.
    let real = SentenceEmbedder::load(&embedder_dir()).unwrap();
    assert_ne!(real.fingerprint(), tiny.fingerprint());
    let cache = dir.path().join("out.jsonl.emb");
    EmbeddingCache::new(real.fingerprint(), real.dimension())
        .save(&cache)
        .unwrap();
    let err = EmbeddingCache::open_for(&cache, tiny.fingerprint(), tiny.dimension()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("embedding model has dimension 8, expected 384"),
        "{text}"
    );
    assert!(text.contains("out.jsonl.emb"), "{text}");

    let err = tiny.check_dimension(384, "the terms prompt").unwrap_err();
    assert_eq!(
        err.to_string(),
        "embedding model has dimension 8, expected 384 (the terms prompt)"
    );
}

#[test]
fn bad_model_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = SentenceEmbedder::load(&dir.path().join("nowhere")).unwrap_err();
    assert!(matches!(err, NeighborsError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("scripts/fetch-model.sh"), "{err}");

    let bad = dir.path().join("bad-shape");
    tiny_model(&bad, 8, Some("encoder.layer.0.attention.self.key.weight"));
    let text = SentenceEmbedder::load(&bad).unwrap_err().to_string();
    assert!(text.contains("model.safetensors"), "{text}");
    assert!(
        text.contains("tensor encoder.layer.0.attention.self.key.weight has shape [9, 8], expected [8, 8]"),
        "{text}"
    );

    let heads = dir.path().join("bad-config");
    tiny_model(&heads, 8, None);
    std::fs::write(heads.join("config.json"), config_json(8, 3)).unwrap();
    let text = SentenceEmbedder::load(&heads).unwrap_err().to_string();
    assert!(
        text.contains("config.json") && text.contains("not a multiple of num_attention_heads 3"),
        "{text}"
    );

    std::fs::write(heads.join("config.json"), "{\"hidden_size\": 8}").unwrap();
    let text = SentenceEmbedder::load(&heads).unwrap_err().to_string();
    assert!(
        text.contains("config.json") && text.contains("num_hidden_layers"),
        "{text}"
    );

    let truncated = dir.path().join("truncated");
    tiny_model(&truncated, 8, None);
    let weights = truncated.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let text = SentenceEmbedder::load(&truncated).unwrap_err().to_string();
    assert!(text.contains("model.safetensors"), "{text}");

    std::fs::remove_file(truncated.join("tokenizer.json")).unwrap();
    let err = SentenceEmbedder::load(&truncated).unwrap_err();
    assert!(err.to_string().contains("tokenizer.json not found"), "{err}");
}
