//! A tiny llama-architecture model, written as GGUF in a few milliseconds: unit tests run
//! the real llama.cpp code path on it without downloading anything, and examples can show
//! the API without a 100 MB file. Its weights are seeded random numbers, so what it
//! "recommends" means nothing — but it is deterministic, which is what tests need.
//!
//! The tokenizer is GPT-2 style byte-level BPE: the 256 byte tokens, merges learned from a
//! corpus the caller passes (so TID terms become multi-byte tokens, as with a real model),
//! and an `<|endoftext|>` control token.

use std::collections::HashMap;
use std::path::Path;

use crate::gguf::GgufWriter;
use grlm_core::rng::SplitMix64;

/// Shape and seed of a tiny model.
#[derive(Clone, Debug)]
pub struct TinyModelSpec {
    /// Seed of the weights.
    pub seed: u64,
    /// Hidden size.
    pub n_embd: u32,
    /// Transformer blocks.
    pub n_layer: u32,
    /// Attention heads.
    pub n_head: u32,
    /// Key/value heads (grouped-query attention when below `n_head`).
    pub n_head_kv: u32,
    /// Feed-forward size.
    pub n_ff: u32,
    /// BPE merges to learn from the corpus.
    pub merges: usize,
}

impl Default for TinyModelSpec {
    fn default() -> Self {
        TinyModelSpec {
            seed: 42,
            n_embd: 64,
            n_layer: 2,
            n_head: 4,
            n_head_kv: 2,
            n_ff: 128,
            merges: 200,
        }
    }
}

/// GPT-2's reversible map from bytes to printable characters used as token text.
fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        out[b as usize] = if printable {
            char::from(b)
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap_or('?')
        };
    }
    out
}

/// Splits text roughly as GPT-2's pre-tokenizer does: an optional space followed by a run
/// of letters, of digits, or of other symbols; other whitespace alone.
fn pre_tokens(text: &str) -> Vec<&str> {
    #[derive(PartialEq)]
    enum Class {
        Letter,
        Digit,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphabetic() {
            Class::Letter
        } else if c.is_numeric() {
            Class::Digit
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        if chars[j].1 == ' ' && j + 1 < chars.len() && class(chars[j + 1].1) != Class::Space {
            j += 1;
        }
        let c = class(chars[j].1);
        j += 1;
        while j < chars.len() && class(chars[j].1) == c && c != Class::Space {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |&(at, _)| at);
        out.push(&text[start..end]);
        start = end;
        i = j;
    }
    out
}

/// Learns `count` BPE merges from `corpus` (most frequent adjacent pair first, ties by
/// pair text), returning them as `"left right"` strings over byte-char token texts.
fn learn_merges(corpus: &[&str], count: usize) -> Vec<(String, String)> {
    let chars = byte_chars();
    let mut words: HashMap<Vec<String>, u64> = HashMap::new();
    for text in corpus {
        for word in pre_tokens(text) {
            let symbols = word.bytes().map(|b| chars[b as usize].to_string()).collect();
            *words.entry(symbols).or_default() += 1;
        }
    }
    let mut words: Vec<(Vec<String>, u64)> = words.into_iter().collect();
    words.sort();
    let mut merges = Vec::new();
    while merges.len() < count {
        let mut pairs: HashMap<(&str, &str), u64> = HashMap::new();
        for (symbols, n) in &words {
            for w in symbols.windows(2) {
                *pairs.entry((&w[0], &w[1])).or_default() += n;
            }
        }
        let best = pairs
            .into_iter()
            .filter(|&(_, n)| n >= 2)
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
        let Some(((left, right), _)) = best else { break };
        let (left, right) = (left.to_owned(), right.to_owned());
        for (symbols, _) in &mut words {
            let mut merged = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if i + 1 < symbols.len() && symbols[i] == left && symbols[i + 1] == right {
                    merged.push(format!("{left}{right}"));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut symbols[i]));
                    i += 1;
                }
            }
            *symbols = merged;
        }
        merges.push((left, right));
    }
    merges
}

/// Writes a tiny model to `path` (atomically), its merges learned from `corpus`.
pub fn write_tiny_model(path: &Path, corpus: &[&str], spec: &TinyModelSpec) -> std::io::Result<()> {
    let bytes = tiny_model_bytes(corpus, spec);
    grlm_core::atomic_write::write_atomically(path, |w| w.write_all(&bytes))
}

/// The GGUF bytes of a tiny model whose tokenizer learned `tids` as the model writes them
/// and the prompt header: TID terms become multi-byte tokens, as with a real backbone.
#[cfg(feature = "engine")]
pub fn tiny_model_for_tids<'a>(tids: impl IntoIterator<Item = &'a grlm_core::Tid>, spec: &TinyModelSpec) -> Vec<u8> {
    let mut corpus: Vec<String> = tids
        .into_iter()
        .map(|t| format!("{}\n", grlm::prompt::target(t)))
        .collect();
    corpus.push(grlm::prompt::HEADER.to_owned());
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    tiny_model_bytes(&texts, spec)
}

/// The GGUF bytes of a tiny model.
pub fn tiny_model_bytes(corpus: &[&str], spec: &TinyModelSpec) -> Vec<u8> {
    let chars = byte_chars();
    let merges = learn_merges(corpus, spec.merges);
    let mut tokens: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
    let mut seen: std::collections::HashSet<String> = tokens.iter().cloned().collect();
    for (l, r) in &merges {
        let t = format!("{l}{r}");
        if seen.insert(t.clone()) {
            tokens.push(t);
        }
    }
    let eot = tokens.len() as u32;
    tokens.push("<|endoftext|>".into());
    let mut token_types = vec![1i32; tokens.len()];
    token_types[eot as usize] = 3;
    let n_vocab = tokens.len() as u64;

    let mut g = GgufWriter::default();
    g.kv_str("general.architecture", "llama");
    g.kv_str("general.name", "grlm-tiny");
    g.kv_u32("general.alignment", crate::gguf::ALIGN as u32);
    g.kv_u32("llama.context_length", 4096);
    g.kv_u32("llama.embedding_length", spec.n_embd);
    g.kv_u32("llama.block_count", spec.n_layer);
    g.kv_u32("llama.feed_forward_length", spec.n_ff);
    g.kv_u32("llama.attention.head_count", spec.n_head);
    g.kv_u32("llama.attention.head_count_kv", spec.n_head_kv);
    g.kv_u32("llama.rope.dimension_count", spec.n_embd / spec.n_head);
    g.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5);
    g.kv_f32("llama.rope.freq_base", 10000.0);
    g.kv_str("tokenizer.ggml.model", "gpt2");
    g.kv_str("tokenizer.ggml.pre", "gpt-2");
    g.kv_str_array("tokenizer.ggml.tokens", &tokens);
    g.kv_i32_array("tokenizer.ggml.token_type", &token_types);
    let merge_texts: Vec<String> = merges.iter().map(|(l, r)| format!("{l} {r}")).collect();
    g.kv_str_array("tokenizer.ggml.merges", &merge_texts);
    g.kv_u32("tokenizer.ggml.bos_token_id", eot);
    g.kv_u32("tokenizer.ggml.eos_token_id", eot);
    g.kv_bool("tokenizer.ggml.add_bos_token", false);

    let mut rng = SplitMix64::new(spec.seed);
    let mut random =
        |n: u64, scale: f32| -> Vec<f32> { (0..n).map(|_| (rng.unit() as f32 * 2.0 - 1.0) * scale).collect() };
    let (e, ff) = (spec.n_embd as u64, spec.n_ff as u64);
    let kv = e / spec.n_head as u64 * spec.n_head_kv as u64;
    let ones = |n: u64| vec![1.0f32; n as usize];
    g.tensor_f32("token_embd.weight", &[e, n_vocab], random(e * n_vocab, 1.0));
    g.tensor_f32("output_norm.weight", &[e], ones(e));
    let w = |fan_in: u64| 2.0 / (fan_in as f32).sqrt();
    for layer in 0..spec.n_layer {
        let name = |t: &str| format!("blk.{layer}.{t}.weight");
        g.tensor_f32(&name("attn_norm"), &[e], ones(e));
        g.tensor_f32(&name("attn_q"), &[e, e], random(e * e, w(e)));
        g.tensor_f32(&name("attn_k"), &[e, kv], random(e * kv, w(e)));
        g.tensor_f32(&name("attn_v"), &[e, kv], random(e * kv, w(e)));
        g.tensor_f32(&name("attn_output"), &[e, e], random(e * e, w(e)));
        g.tensor_f32(&name("ffn_norm"), &[e], ones(e));
        g.tensor_f32(&name("ffn_gate"), &[e, ff], random(e * ff, w(e)));
        g.tensor_f32(&name("ffn_up"), &[e, ff], random(e * ff, w(e)));
        g.tensor_f32(&name("ffn_down"), &[ff, e], random(ff * e, w(ff)));
    }
    g.finish()
}

/// The GGUF bytes of a LoRA adapter for the tiny model of `spec`: rank `rank` on every
/// attention query and value projection, seeded by `seed`, with alpha = rank (scale 1).
pub fn tiny_lora_bytes(spec: &TinyModelSpec, rank: u32, seed: u64) -> Vec<u8> {
    let mut g = GgufWriter::default();
    g.kv_str("general.architecture", "llama");
    g.kv_str("general.type", "adapter");
    g.kv_str("adapter.type", "lora");
    g.kv_f32("adapter.lora.alpha", rank as f32);
    let mut rng = SplitMix64::new(seed);
    let (e, r) = (spec.n_embd as u64, rank as u64);
    let kv = e / spec.n_head as u64 * spec.n_head_kv as u64;
    for layer in 0..spec.n_layer {
        for (name, out) in [("attn_q", e), ("attn_v", kv)] {
            let mut random = |n: u64| -> Vec<f32> { (0..n).map(|_| rng.unit() as f32 * 2.0 - 1.0).collect() };
            g.tensor_f32(&format!("blk.{layer}.{name}.weight.lora_a"), &[e, r], random(e * r));
            g.tensor_f32(&format!("blk.{layer}.{name}.weight.lora_b"), &[r, out], random(r * out));
        }
    }
    g.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_chars_are_a_bijection() {
        let chars = byte_chars();
        let set: std::collections::HashSet<char> = chars.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(chars[b'a' as usize], 'a');
    }

    #[test]
    fn pre_tokens_keep_every_byte() {
        let text = "[hair-mask, color-lock]\n 12ab  x";
        let parts = pre_tokens(text);
        assert_eq!(parts.concat(), text);
        assert!(parts.contains(&" color"), "{parts:?}");
    }

    #[test]
    fn merges_follow_frequency() {
        let merges = learn_merges(&["aaa aaa aaa", "ab ab"], 3);
        assert_eq!(merges[0], ("a".to_owned(), "a".to_owned()));
    }
}
