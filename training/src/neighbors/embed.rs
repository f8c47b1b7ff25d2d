//! Sentence embeddings with all-MiniLM-L6-v2 (or any BERT model in the same layout), as
//! sentence-transformers computes them: BERT encoder → mean of the last hidden states over
//! real (non-padding) tokens → L2 normalisation. Texts longer than [`MAX_SEQ_LEN`] tokens
//! (special tokens included) are cut there, as sentence-transformers' `max_seq_length` does
//! for this model.
//!
//! The forward pass is written here with candle-core tensor ops on the CPU in f32; candle
//! spreads its matrix products over the CPU threads itself (`RAYON_NUM_THREADS` caps them).
//! Texts are sorted by token count and embedded in batches of similar length, so little
//! work goes into padding; results come back in input order. A text's vector does not
//! depend on its batch beyond float rounding (padding is masked out of attention and
//! pooling), at the 1e-7 level.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::cache::Fnv64;
use super::NeighborsError;

/// Longest input in tokens, `[CLS]` and `[SEP]` included: sentence-transformers'
/// `max_seq_length` for all-MiniLM-L6-v2 (the model was trained on at most 128; BERT's
/// positions allow 512).
pub const MAX_SEQ_LEN: usize = 256;

/// Texts per forward pass when the caller does not choose.
pub const DEFAULT_BATCH: usize = 32;

/// Bumped whenever this file's arithmetic changes what a text's vector is (pooling,
/// truncation), so a cache made by an older version is never reused.
const FORWARD_VERSION: &[u8] = b"grlm-bert-mean-l2/1";

/// A padding position's attention score: exp of it after subtracting the row maximum is
/// exactly 0 in f32, so padding gets no weight (HF BERT adds the dtype's minimum instead;
/// both give exact zeros).
const MASKED_SCORE: f32 = -1e30;

/// The parts of a BERT `config.json` this encoder uses.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Width of every hidden state (the embedding dimension).
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; `hidden_size` must be a multiple.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Number of learned positions.
    pub max_position_embeddings: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Rows of the word embedding table.
    pub vocab_size: usize,
    /// Rows of the token type table (BERT: 2).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Activation; only BERT's erf GELU is implemented.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Position encoding; only learned absolute positions are implemented.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_act() -> String {
    "gelu".into()
}
fn default_position_type() -> String {
    "absolute".into()
}

/// Upper bound on any configured size: far above real BERTs, low enough that a corrupt
/// config cannot make shape arithmetic overflow.
const MAX_CONFIG_SIZE: usize = 1 << 20;

impl BertConfig {
    /// Parses and checks `config.json` (`path` labels errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, NeighborsError> {
        let bad = |reason: String| NeighborsError::Config {
            path: path.to_owned(),
            reason,
        };
        let c: BertConfig = serde_json::from_str(text).map_err(|e| bad(format!("not a BERT config: {e}")))?;
        for (name, v) in [
            ("hidden_size", c.hidden_size),
            ("num_hidden_layers", c.num_hidden_layers),
            ("num_attention_heads", c.num_attention_heads),
            ("intermediate_size", c.intermediate_size),
            ("max_position_embeddings", c.max_position_embeddings),
            ("vocab_size", c.vocab_size),
            ("type_vocab_size", c.type_vocab_size),
        ] {
            if v == 0 || v > MAX_CONFIG_SIZE {
                return Err(bad(format!("{name} = {v} is out of range 1..={MAX_CONFIG_SIZE}")));
            }
        }
        if c.hidden_size % c.num_attention_heads != 0 {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                c.hidden_size, c.num_attention_heads
            )));
        }
        if !(c.layer_norm_eps.is_finite() && c.layer_norm_eps > 0.0) {
            return Err(bad(format!(
                "layer_norm_eps {} is not a positive number",
                c.layer_norm_eps
            )));
        }
        if c.hidden_act != "gelu" {
            return Err(bad(format!(
                "hidden_act {:?} is not supported (only \"gelu\")",
                c.hidden_act
            )));
        }
        if c.position_embedding_type != "absolute" {
            return Err(bad(format!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                c.position_embedding_type
            )));
        }
        Ok(c)
    }
}

/// `x · Wᵀ + b`, with `Wᵀ` stored contiguous (`[in, out]`) so the product needs no copy.
struct Linear {
    weight_t: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.weight_t)?.broadcast_add(&self.bias)
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Over the last dimension of a `[rows, hidden]` tensor. Written out rather than
    /// fused so that it computes in the same order as PyTorch (mean, then biased variance
    /// of the centred values).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

struct Layer {
    /// Query, key and value projections in one product (`[hidden, 3·hidden]`).
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    ffn_norm: LayerNorm,
}

struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

/// A loaded sentence embedder. Immutable once loaded, so it can be shared across threads.
pub struct SentenceEmbedder {
    config: BertConfig,
    bert: Bert,
    tokenizer: Tokenizer,
    pad_id: u32,
    max_tokens: usize,
    fingerprint: u64,
    dir: PathBuf,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("dir", &self.dir)
            .field("dimension", &self.config.hidden_size)
            .field("layers", &self.config.num_hidden_layers)
            .field("fingerprint", &format_args!("{:016x}", self.fingerprint))
            .finish()
    }
}

fn read_model_file(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>), NeighborsError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok((path, bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(NeighborsError::MissingFile { path }),
        Err(source) => Err(NeighborsError::Io { path, source }),
    }
}

impl SentenceEmbedder {
    /// Loads `dir/config.json`, `dir/model.safetensors` and `dir/tokenizer.json`.
    pub fn load(dir: &Path) -> Result<Self, NeighborsError> {
        let (config_path, config_bytes) = read_model_file(dir, "config.json")?;
        let (weights_path, weights_bytes) = read_model_file(dir, "model.safetensors")?;
        let (tokenizer_path, tokenizer_bytes) = read_model_file(dir, "tokenizer.json")?;

        let config_text = std::str::from_utf8(&config_bytes).map_err(|_| NeighborsError::Config {
            path: config_path.clone(),
            reason: "not UTF-8".into(),
        })?;
        let config = BertConfig::parse(config_text, &config_path)?;

        let weights_err = |reason: String| NeighborsError::Weights {
            path: weights_path.clone(),
            reason,
        };
        let header = safetensors_header(&weights_bytes).map_err(weights_err)?;
        let mut tensors = candle_core::safetensors::load_buffer(&weights_bytes, &Device::Cpu)
            .map_err(|e| weights_err(format!("not a safetensors file: {e}")))?;
        let bert = Bert::from_tensors(&config, &mut tensors).map_err(weights_err)?;

        let tokenizer_err = |reason: String| NeighborsError::Tokenizer {
            path: tokenizer_path.clone(),
            reason,
        };
        let mut tokenizer =
            Tokenizer::from_bytes(&tokenizer_bytes).map_err(|e| tokenizer_err(format!("not a tokenizer: {e}")))?;
        // tokenizer.json ships with padding and truncation to 128 (the training length);
        // sentence-transformers overrides both: pad to the batch's longest, cut at 256.
        let max_tokens = MAX_SEQ_LEN.min(config.max_position_embeddings);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| tokenizer_err(e.to_string()))?;
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
        if pad_id as usize >= config.vocab_size {
            return Err(tokenizer_err(format!(
                "[PAD] is token {pad_id}, outside the model's {} word embeddings",
                config.vocab_size
            )));
        }

        let mut h = Fnv64::new();
        h.write(FORWARD_VERSION);
        for part in [&config_bytes[..], &tokenizer_bytes[..], header] {
            h.write(&(part.len() as u64).to_le_bytes());
            h.write(part);
        }
        h.write(&(weights_bytes.len() as u64).to_le_bytes());
        // The header and size alone would miss weights edited in place; a CRC of the
        // content costs about 10 ms for 90 MB.
        h.write(&crc32fast::hash(&weights_bytes).to_le_bytes());

        Ok(SentenceEmbedder {
            config,
            bert,
            tokenizer,
            pad_id,
            max_tokens,
            fingerprint: h.finish(),
            dir: dir.to_owned(),
        })
    }

    /// Length of every vector this embedder returns.
    pub fn dimension(&self) -> usize {
        self.config.hidden_size
    }

    /// The model's configuration.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Identifies the model: a hash of `config.json`, `tokenizer.json`, the safetensors
    /// header, size and CRC32, and this encoder's version. Equal fingerprints give equal
    /// vectors.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// An error unless this embedder's vectors have `expected` components; `context` says
    /// who expects them.
    pub fn check_dimension(&self, expected: usize, context: &str) -> Result<(), NeighborsError> {
        if self.dimension() == expected {
            Ok(())
        } else {
            Err(NeighborsError::Dimension {
                actual: self.dimension(),
                expected,
                context: context.to_owned(),
            })
        }
    }

    /// Token ids of `text` as the model sees it: `[CLS] … [SEP]`, cut at [`MAX_SEQ_LEN`].
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, NeighborsError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| NeighborsError::Tokenizer {
                path: self.dir.join("tokenizer.json"),
                reason: e.to_string(),
            })?;
        let ids = encoding.get_ids();
        // Out-of-range ids would make the embedding lookup fail; a tokenizer that does not
        // belong to the model is a setup error worth naming.
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= self.config.vocab_size) {
            return Err(NeighborsError::Tokenizer {
                path: self.dir.join("tokenizer.json"),
                reason: format!(
                    "token id {bad} is outside the model's {} word embeddings",
                    self.config.vocab_size
                ),
            });
        }
        Ok(ids[..ids.len().min(self.max_tokens)].to_vec())
    }

    /// Embeds `texts` (unit vectors, in input order) in batches of [`DEFAULT_BATCH`].
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, NeighborsError> {
        self.embed_batched(texts, DEFAULT_BATCH, |_, _| {})
    }

    /// Embeds `texts` in batches of `batch` texts of similar length; `progress(done, total)`
    /// is called after each batch.
    pub fn embed_batched(
        &self,
        texts: &[String],
        batch: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Vec<f32>>, NeighborsError> {
        let tokens = texts.iter().map(|t| self.tokenize(t)).collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| (tokens[i].len(), i));
        let mut out = vec![Vec::new(); texts.len()];
        let mut done = 0;
        for chunk in order.chunks(batch.max(1)) {
            let seqs: Vec<&[u32]> = chunk.iter().map(|&i| &tokens[i][..]).collect();
            let vectors = self.forward(&seqs)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
            done += chunk.len();
            progress(done, texts.len());
        }
        Ok(out)
    }

    /// One padded batch through the encoder, pooled and normalised.
    fn forward(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, NeighborsError> {
        let batch = seqs.len();
        let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(batch * len);
        let mut mask = Vec::with_capacity(batch * len);
        for s in seqs {
            ids.extend_from_slice(s);
            ids.extend(std::iter::repeat_n(self.pad_id, len - s.len()));
            mask.extend(std::iter::repeat_n(1f32, s.len()));
            mask.extend(std::iter::repeat_n(0f32, len - s.len()));
        }
        let ids = Tensor::from_vec(ids, batch * len, &Device::Cpu)?;
        let mask = Tensor::from_vec(mask, (batch, len), &Device::Cpu)?;
        let hidden = self.bert.forward(&ids, &mask, batch, len)?;
        Ok(pool_and_normalise(&hidden, &mask)?.to_vec2::<f32>()?)
    }
}

/// Mean over the real tokens of each sequence, then division by the L2 norm, with
/// sentence-transformers' guards (token count at least 1e-9, norm at least 1e-12).
fn pool_and_normalise(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let summed = hidden.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
    let counts = mask.sum_keepdim(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norm)
}

impl Bert {
    fn from_tensors(c: &BertConfig, t: &mut HashMap<String, Tensor>) -> Result<Self, String> {
        let h = c.hidden_size;
        let ln = |t: &mut HashMap<String, Tensor>, prefix: &str| -> Result<LayerNorm, String> {
            Ok(LayerNorm {
                weight: take(t, &format!("{prefix}.weight"), &[h])?,
                bias: take(t, &format!("{prefix}.bias"), &[h])?,
                eps: c.layer_norm_eps,
            })
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for l in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let q = linear(t, &format!("{p}.attention.self.query"), h, h)?;
            let k = linear(t, &format!("{p}.attention.self.key"), h, h)?;
            let v = linear(t, &format!("{p}.attention.self.value"), h, h)?;
            let qkv = Linear {
                weight_t: Tensor::cat(&[&q.weight_t, &k.weight_t, &v.weight_t], 1).map_err(|e| e.to_string())?,
                bias: Tensor::cat(&[&q.bias, &k.bias, &v.bias], 0).map_err(|e| e.to_string())?,
            };
            layers.push(Layer {
                qkv,
                attn_out: linear(t, &format!("{p}.attention.output.dense"), h, h)?,
                attn_norm: ln(t, &format!("{p}.attention.output.LayerNorm"))?,
                ffn_in: linear(t, &format!("{p}.intermediate.dense"), h, c.intermediate_size)?,
                ffn_out: linear(t, &format!("{p}.output.dense"), c.intermediate_size, h)?,
                ffn_norm: ln(t, &format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Bert {
            word: take(t, "embeddings.word_embeddings.weight", &[c.vocab_size, h])?,
            position: take(
                t,
                "embeddings.position_embeddings.weight",
                &[c.max_position_embeddings, h],
            )?,
            token_type: take(t, "embeddings.token_type_embeddings.weight", &[c.type_vocab_size, h])?,
            embed_norm: ln(t, "embeddings.LayerNorm")?,
            layers,
            heads: c.num_attention_heads,
            hidden: h,
        })
    }

    /// Last hidden states `[batch, len, hidden]` for flat token ids `[batch·len]` and a
    /// `[batch, len]` mask of real tokens (1) and padding (0). Every sequence is a single
    /// segment, so token type 0 throughout, as sentence-transformers passes it.
    fn forward(&self, ids: &Tensor, mask: &Tensor, batch: usize, len: usize) -> candle_core::Result<Tensor> {
        let (h, heads) = (self.hidden, self.heads);
        let head_dim = h / heads;
        let rows = batch * len;
        let words = self.word.index_select(ids, 0)?.reshape((batch, len, h))?;
        let positions = self.position.narrow(0, 0, len)?;
        let types = self.token_type.narrow(0, 0, 1)?;
        let x = words
            .broadcast_add(&positions)?
            .broadcast_add(&types)?
            .reshape((rows, h))?;
        let mut x = self.embed_norm.forward(&x)?;

        // Added to every query's scores: 0 for real keys, MASKED_SCORE for padding keys.
        let key_bias = ((mask - 1.0)? * f64::from(-MASKED_SCORE))?.reshape((batch, 1, 1, len))?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let split_heads = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, len, heads, head_dim))?.transpose(1, 2)?.contiguous()
        };
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x)?;
            let q = split_heads(qkv.narrow(1, 0, h)?)?;
            let k = split_heads(qkv.narrow(1, h, h)?)?;
            let v = split_heads(qkv.narrow(1, 2 * h, h)?)?;
            let scores = (q.matmul(&k.transpose(2, 3)?.contiguous()?)? * scale)?.broadcast_add(&key_bias)?;
            let context = softmax_last(&scores)?
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((rows, h))?;
            let attended = layer.attn_norm.forward(&(layer.attn_out.forward(&context)? + &x)?)?;
            let inner = layer.ffn_in.forward(&attended)?.gelu_erf()?;
            x = layer.ffn_norm.forward(&(layer.ffn_out.forward(&inner)? + &attended)?)?;
        }
        x.reshape((batch, len, h))
    }
}

fn softmax_last(x: &Tensor) -> candle_core::Result<Tensor> {
    let e = x.broadcast_sub(&x.max_keepdim(D::Minus1)?)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

fn linear(t: &mut HashMap<String, Tensor>, prefix: &str, input: usize, output: usize) -> Result<Linear, String> {
    let weight = take(t, &format!("{prefix}.weight"), &[output, input])?;
    Ok(Linear {
        weight_t: weight.t().and_then(|w| w.contiguous()).map_err(|e| e.to_string())?,
        bias: take(t, &format!("{prefix}.bias"), &[output])?,
    })
}

/// Removes tensor `name` (also accepted under a `bert.` prefix, as BertForX checkpoints
/// store it) and checks its shape; half-precision weights are widened to f32.
fn take(t: &mut HashMap<String, Tensor>, name: &str, shape: &[usize]) -> Result<Tensor, String> {
    let tensor = t
        .remove(name)
        .or_else(|| t.remove(&format!("bert.{name}")))
        .ok_or_else(|| format!("tensor {name} is missing"))?;
    if tensor.dims() != shape {
        return Err(format!(
            "tensor {name} has shape {:?}, expected {shape:?}",
            tensor.dims()
        ));
    }
    match tensor.dtype() {
        DType::F32 => Ok(tensor),
        DType::F16 | DType::BF16 | DType::F64 => tensor.to_dtype(DType::F32).map_err(|e| e.to_string()),
        other => Err(format!("tensor {name} has dtype {other:?}, expected a float type")),
    }
}

/// The JSON header of a safetensors file (what the fingerprint hashes: names, dtypes,
/// shapes, offsets), with the format's own bounds checks.
fn safetensors_header(bytes: &[u8]) -> Result<&[u8], String> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("shorter than a safetensors header (8 bytes)")?;
    let len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| "header length overflows")?;
    8usize
        .checked_add(len)
        .and_then(|end| bytes.get(8..end))
        .ok_or_else(|| {
            format!(
                "header of {len} bytes runs past the end of the file ({} bytes)",
                bytes.len()
            )
        })
}
