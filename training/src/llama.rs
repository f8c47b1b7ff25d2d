//! A llama forward pass in candle that keeps gradients, on the weights of a GGUF file.
//!
//! candle's fused kernels (`rms_norm`, `softmax_last_dim`, `rope`, quantized matmuls) record
//! no backward pass, so each step runs either on plain tensor ops that do ([`Kernels::Plain`],
//! the reference, any device) or on the trainer's own fused CPU ops with their backward
//! passes ([`Kernels::Fused`], [`crate::kernels`]); a LoRA adapter on top receives gradients
//! through either (tests fail if one is dropped or the two disagree). Base weights are
//! dequantized to f32 constants (and held in bf16 too when oneDNN runs the frozen
//! products); only adapter tensors are variables. The blocks can run from any block on
//! ([`Llama::blocks_forward`]), so a frozen lower part can be computed once.
//!
//! The GGUF layout is llama.cpp's, not Hugging Face's: the converter permuted the query and
//! key projections so that llama.cpp's "normal" rope, which rotates adjacent pairs
//! `(x[2i], x[2i+1])`, gives the model's results. This forward rotates the same pairs.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::quantized::gguf_file;
use candle_core::{CpuStorage, CustomOp2, DType, Device, Layout, Shape, Tensor, Var, D};

use crate::kernels::ops::{CausalSoftmax, RmsNorm, Rope, SwiGlu};
use crate::kernels::{Bf16Linear, Bf16Weight};

/// The positions of a batch whose next token is learned, and those tokens.
pub struct Targets {
    /// Flattened positions (`row * longest + j`) of choices over the whole vocabulary.
    pub positions: Tensor,
    /// Their next tokens.
    pub tokens: Tensor,
    /// Choices among a trie node's children, if any.
    pub trie: Option<TrieTargets>,
}

/// Choices among trie children: every row's logits are computed over the union of the
/// batch's allowed tokens, and the tokens a row may not choose are masked out.
pub struct TrieTargets {
    /// Flattened positions.
    pub positions: Tensor,
    /// The union of allowed tokens, ascending.
    pub union: Vec<u32>,
    /// `[positions, union]`: 0 where the position may choose the token, −∞ elsewhere.
    pub mask: Tensor,
    /// The chosen token's column in `union`, per position.
    pub columns: Tensor,
}

/// Which kernels the passes run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// candle's plain tensor ops, f32 everywhere (the reference; any device).
    Plain,
    /// The trainer's fused CPU ops ([`crate::kernels::ops`]), and frozen products in bf16
    /// through oneDNN where it loads.
    #[default]
    Fused,
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a GGUF candle can read.
    #[error("{path}: not a readable GGUF model ({reason})")]
    Format {
        /// The file.
        path: PathBuf,
        /// What candle reported.
        reason: String,
    },
    /// The model is not a llama-architecture model.
    #[error("{path}: architecture {found:?} is not supported; grlm-train fine-tunes llama-architecture GGUF models (SmolLM2, Llama, ...)")]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// `general.architecture`.
        found: String,
    },
    /// A metadata key or tensor the model needs is missing or malformed.
    #[error("{path}: {what}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: String,
    },
    /// A tensor operation failed (shapes, device memory).
    #[error("tensor operation: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// The shape of a llama model, from its GGUF metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Vocabulary size.
    pub n_vocab: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_head_kv: usize,
    /// Feed-forward size.
    pub n_ff: usize,
    /// RMS norm epsilon.
    pub rms_eps: f64,
    /// Rope frequency base.
    pub rope_base: f64,
}

impl Config {
    /// Dimensions per attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }
}

/// A low-rank update on a projection: `x · Aᵀ · Bᵀ · scale`.
#[derive(Clone, Debug)]
pub struct LoraWeights {
    /// `[rank, in]`.
    pub a: Var,
    /// `[out, rank]`.
    pub b: Var,
    /// `alpha / rank`.
    pub scale: f64,
}

/// A projection `y = x · Wᵀ`, with an optional LoRA update.
#[derive(Clone, Debug)]
pub struct Linear {
    /// The GGUF tensor name without `.weight` (`blk.3.attn_q`): also the adapter's names.
    pub name: String,
    /// `[out, in]`, frozen.
    pub weight: Tensor,
    /// The adapter, when one is attached.
    pub lora: Option<LoraWeights>,
    /// The weight in bf16, when the frozen product runs through oneDNN.
    bf16: Option<Arc<Bf16Weight>>,
}

impl Linear {
    /// `x` is `[..., in]`; the leading dimensions are flattened into one matrix product.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut dims = x.dims().to_vec();
        let input = dims.pop().unwrap_or(0);
        let rows = x.reshape(((), input))?;
        let mut y = match &self.bf16 {
            Some(weight) => rows.contiguous()?.apply_op1(Bf16Linear {
                weight: weight.clone(),
                transposed: false,
            })?,
            None => frozen_matmul(&rows, &self.weight)?,
        };
        if let Some(l) = &self.lora {
            // The scale is applied to the rank-wide intermediate, not the output-wide update:
            // the same product, with one narrow pass instead of a wide one (each way).
            let low = (rows.matmul(&l.a.as_tensor().t()?)? * l.scale)?;
            y = (y + low.matmul(&l.b.as_tensor().t()?)?)?;
        }
        dims.push(self.weight.dims()[0]);
        y.reshape(dims)
    }

    /// `(out, in)`.
    pub fn dims(&self) -> (usize, usize) {
        let d = self.weight.dims();
        (d[0], d[1])
    }
}

/// One transformer block.
#[derive(Clone, Debug)]
pub struct Block {
    attn_norm: Tensor,
    attn_norm_fused: Arc<Vec<f32>>,
    ffn_norm_fused: Arc<Vec<f32>>,
    /// Query, key, value and output projections.
    pub attn: [Linear; 4],
    ffn_norm: Tensor,
    /// Gate, up and down projections.
    pub ffn: [Linear; 3],
}

/// A llama model whose forward pass keeps gradients.
#[derive(Clone, Debug)]
pub struct Llama {
    /// Its shape.
    pub config: Config,
    token_embd: Tensor,
    /// The blocks, first to last.
    pub blocks: Vec<Block>,
    output_norm: Tensor,
    output_norm_fused: Arc<Vec<f32>>,
    /// `[vocab, embd]`; the token embedding when the model ties them.
    output: Tensor,
    /// `output` in bf16, when frozen products run through oneDNN.
    output_bf16: Option<Arc<Bf16Weight>>,
    device: Device,
    kernels: Kernels,
}

fn meta<'a>(
    path: &Path,
    md: &'a HashMap<String, gguf_file::Value>,
    key: &str,
) -> Result<&'a gguf_file::Value, LlamaError> {
    md.get(key).ok_or_else(|| LlamaError::Missing {
        path: path.to_owned(),
        what: format!("metadata {key} is missing"),
    })
}

impl Llama {
    /// Loads the llama model at `path` onto `device`, dequantizing every weight to f32.
    pub fn load(path: &Path, device: &Device) -> Result<Self, LlamaError> {
        let io = |source| LlamaError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let format = |e: candle_core::Error| LlamaError::Format {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let content = gguf_file::Content::read(&mut file).map_err(format)?;
        let md = &content.metadata;
        let arch = meta(path, md, "general.architecture")?
            .to_string()
            .map_err(format)?
            .clone();
        if arch != "llama" {
            return Err(LlamaError::UnsupportedArchitecture {
                path: path.to_owned(),
                found: arch,
            });
        }
        let u = |key: &str| -> Result<usize, LlamaError> {
            Ok(meta(path, md, &format!("llama.{key}"))?.to_u32().map_err(format)? as usize)
        };
        let f = |key: &str, default: f32| -> Result<f64, LlamaError> {
            match md.get(&format!("llama.{key}")) {
                Some(v) => Ok(f64::from(v.to_f32().map_err(format)?)),
                None => Ok(f64::from(default)),
            }
        };
        let n_head = u("attention.head_count")?;
        let mut tensor = |name: &str| -> Result<Tensor, LlamaError> {
            if !content.tensor_infos.contains_key(name) {
                return Err(LlamaError::Missing {
                    path: path.to_owned(),
                    what: format!("tensor {name} is missing"),
                });
            }
            let q = content.tensor(&mut file, name, device).map_err(format)?;
            Ok(q.dequantize(device)?)
        };
        let token_embd = tensor("token_embd.weight")?;
        let n_vocab = token_embd.dims()[0];
        let config = Config {
            n_vocab,
            n_embd: u("embedding_length")?,
            n_layer: u("block_count")?,
            n_head,
            n_head_kv: md
                .get("llama.attention.head_count_kv")
                .map(|v| v.to_u32().map(|n| n as usize))
                .transpose()
                .map_err(format)?
                .unwrap_or(n_head),
            n_ff: u("feed_forward_length")?,
            rms_eps: f("attention.layer_norm_rms_epsilon", 1e-5)?,
            rope_base: f("rope.freq_base", 10_000.0)?,
        };
        let mut blocks = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let mut linear = |part: &str| -> Result<Linear, LlamaError> {
                let name = format!("blk.{i}.{part}");
                Ok(Linear {
                    weight: tensor(&format!("{name}.weight"))?,
                    name,
                    lora: None,
                    bf16: None,
                })
            };
            let attn = [
                linear("attn_q")?,
                linear("attn_k")?,
                linear("attn_v")?,
                linear("attn_output")?,
            ];
            let ffn = [linear("ffn_gate")?, linear("ffn_up")?, linear("ffn_down")?];
            let (attn_norm, ffn_norm) = (
                tensor(&format!("blk.{i}.attn_norm.weight"))?,
                tensor(&format!("blk.{i}.ffn_norm.weight"))?,
            );
            blocks.push(Block {
                attn_norm_fused: Arc::new(attn_norm.to_vec1()?),
                ffn_norm_fused: Arc::new(ffn_norm.to_vec1()?),
                attn_norm,
                attn,
                ffn_norm,
                ffn,
            });
        }
        let output = if content.tensor_infos.contains_key("output.weight") {
            tensor("output.weight")?
        } else {
            token_embd.clone()
        };
        let output_norm = tensor("output_norm.weight")?;
        Ok(Llama {
            config,
            token_embd,
            blocks,
            output_norm_fused: Arc::new(output_norm.to_vec1()?),
            output_norm,
            output,
            output_bf16: None,
            device: device.clone(),
            kernels: Kernels::Plain,
        })
    }

    /// Runs the passes on `kernels`; with [`Kernels::Fused`] on the CPU, the frozen products
    /// run in bf16 through oneDNN when `bf16` is set and oneDNN loads. Returns whether they do.
    pub fn set_kernels(&mut self, kernels: Kernels, bf16: bool) -> Result<bool, LlamaError> {
        let fused_cpu = kernels == Kernels::Fused && self.device.is_cpu();
        self.kernels = if fused_cpu { Kernels::Fused } else { Kernels::Plain };
        let use_bf16 = fused_cpu && bf16 && crate::kernels::dnnl::get().is_some();
        for linear in self.linears_mut() {
            linear.bf16 = match use_bf16 {
                true => Some(Arc::new(Bf16Weight::new(&linear.weight)?)),
                false => None,
            };
        }
        self.output_bf16 = match use_bf16 {
            true => Some(Arc::new(Bf16Weight::new(&self.output)?)),
            false => None,
        };
        Ok(use_bf16)
    }

    /// The kernels the passes run on.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Every projection, block by block (attention then feed-forward).
    pub fn linears_mut(&mut self) -> impl Iterator<Item = &mut Linear> {
        self.blocks
            .iter_mut()
            .flat_map(|b| b.attn.iter_mut().chain(b.ffn.iter_mut()))
    }

    /// Every projection.
    pub fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.blocks.iter().flat_map(|b| b.attn.iter().chain(b.ffn.iter()))
    }

    /// Hidden states after the final norm, `[batch, seq, embd]`, for `tokens`
    /// (`[batch, seq]`, u32). Sequences in a batch are right-padded: with a causal mask a
    /// real token never attends to the padding after it, so no padding mask is needed.
    pub fn hidden(&self, tokens: &Tensor) -> Result<Tensor, LlamaError> {
        let x = self.embed(tokens)?;
        let x = self.blocks_forward(x, 0..self.blocks.len())?;
        self.final_norm(&x)
    }

    /// The token embeddings of `tokens` (`[batch, seq]`, u32): the residual stream that
    /// enters the first block, `[batch, seq, embd]`.
    pub fn embed(&self, tokens: &Tensor) -> Result<Tensor, LlamaError> {
        let (batch, seq) = tokens.dims2()?;
        Ok(self
            .token_embd
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((batch, seq, self.config.n_embd))?)
    }

    /// The residual stream `x` (`[batch, seq, embd]`, entering block `layers.start`) after
    /// the blocks `layers`.
    pub fn blocks_forward(&self, mut x: Tensor, layers: Range<usize>) -> Result<Tensor, LlamaError> {
        let (_, seq, _) = x.dims3()?;
        let rope = self.rope_tables(seq)?;
        let mask = match self.kernels {
            Kernels::Plain => Some(causal_mask(seq, &self.device)?),
            Kernels::Fused => None,
        };
        for block in &self.blocks[layers] {
            let h = self.norm(&x, &block.attn_norm, &block.attn_norm_fused)?;
            let attn = self.attention(block, &h, &rope, mask.as_ref())?;
            x = (x + attn)?;
            let h = self.norm(&x, &block.ffn_norm, &block.ffn_norm_fused)?;
            let [gate, up, down] = &block.ffn;
            let act = match self.kernels {
                Kernels::Plain => silu(&gate.forward(&h)?)?.mul(&up.forward(&h)?)?,
                Kernels::Fused => gate.forward(&h)?.apply_op2(&up.forward(&h)?, SwiGlu)?,
            };
            x = (x + down.forward(&act)?)?;
        }
        Ok(x)
    }

    /// The final norm of the residual stream.
    pub fn final_norm(&self, x: &Tensor) -> Result<Tensor, LlamaError> {
        Ok(self.norm(x, &self.output_norm, &self.output_norm_fused)?)
    }

    fn norm(&self, x: &Tensor, weight: &Tensor, fused: &Arc<Vec<f32>>) -> candle_core::Result<Tensor> {
        match self.kernels {
            Kernels::Plain => rms_norm(x, weight, self.config.rms_eps),
            Kernels::Fused => x.contiguous()?.apply_op1(RmsNorm {
                weight: fused.clone(),
                eps: self.config.rms_eps as f32,
            }),
        }
    }

    /// Next-token logits `[n, vocab]` for hidden states `[n, embd]`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor, LlamaError> {
        Ok(match &self.output_bf16 {
            Some(weight) => hidden.contiguous()?.apply_op1(Bf16Linear {
                weight: weight.clone(),
                transposed: false,
            })?,
            None => frozen_matmul(hidden, &self.output)?,
        })
    }

    /// Mean negative log-likelihood of `targets` (u32, `[n]`) as the next tokens after the
    /// flattened positions `positions` (u32 indices into `batch * seq`) of `tokens`, each
    /// a choice over the whole vocabulary.
    pub fn loss(&self, tokens: &Tensor, positions: &Tensor, targets: &Tensor) -> Result<Tensor, LlamaError> {
        let hidden = self.hidden(tokens)?;
        let targets = Targets {
            positions: positions.clone(),
            tokens: targets.clone(),
            trie: None,
        };
        Ok((self.loss_sum(&hidden, &targets)? / targets.tokens.dims1()? as f64)?)
    }

    /// The summed negative log-likelihood of `targets` given final hidden states
    /// (`[batch, seq, embd]`). Only the learned positions go through the vocabulary
    /// projection: answer tokens are a fraction of a prompt, and the projection is the
    /// widest matrix of a small model; a trie choice goes through the rows of its batch's
    /// allowed tokens only.
    pub fn loss_sum(&self, hidden: &Tensor, targets: &Targets) -> Result<Tensor, LlamaError> {
        let (batch, seq, embd) = hidden.dims3()?;
        let rows = hidden.reshape((batch * seq, embd))?;
        let mut total = Tensor::zeros((), DType::F32, &self.device)?;
        if targets.tokens.dims1()? > 0 {
            let picked = rows.index_select(&targets.positions, 0)?;
            let logits = self.logits(&picked)?;
            total = (total + nll_sum(&logits, &targets.tokens)?)?;
        }
        if let Some(trie) = &targets.trie {
            let picked = rows.index_select(&trie.positions, 0)?;
            let logits = match &self.output_bf16 {
                Some(weight) => picked.contiguous()?.apply_op1(Bf16Linear {
                    weight: Arc::new(weight.gather_rows(&trie.union)),
                    transposed: false,
                })?,
                None => {
                    let union = Tensor::new(trie.union.as_slice(), &self.device)?;
                    frozen_matmul(&picked, &self.output.index_select(&union, 0)?)?
                }
            };
            total = (total + nll_sum(&logits.broadcast_add(&trie.mask)?, &trie.columns)?)?;
        }
        Ok(total)
    }

    fn attention(
        &self,
        block: &Block,
        x: &Tensor,
        rope: &RopeTables,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        match mask {
            Some(mask) => self.attention_plain(block, x, rope, mask),
            None => self.attention_fused(block, x, rope),
        }
    }

    fn attention_plain(
        &self,
        block: &Block,
        x: &Tensor,
        rope_t: &RopeTables,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let (batch, seq, _) = x.dims3()?;
        let d = c.head_dim();
        let [wq, wk, wv, wo] = &block.attn;
        let (cos, sin) = (&rope_t.cos, &rope_t.sin);
        let heads = |t: Tensor, n: usize| t.reshape((batch, seq, n, d))?.transpose(1, 2);
        let q = rope(&heads(wq.forward(x)?, c.n_head)?, cos, sin)?;
        let k = rope(&heads(wk.forward(x)?, c.n_head_kv)?, cos, sin)?;
        let v = heads(wv.forward(x)?, c.n_head_kv)?;
        // Grouped-query attention: query head h reads key/value head h / group.
        let group = c.n_head / c.n_head_kv;
        let repeat = |t: Tensor| -> candle_core::Result<Tensor> {
            if group == 1 {
                return Ok(t);
            }
            t.unsqueeze(2)?
                .broadcast_as((batch, c.n_head_kv, group, seq, d))?
                .reshape((batch, c.n_head, seq, d))
        };
        let (k, v) = (repeat(k)?, repeat(v)?);
        let scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?;
        let probs = softmax_last(&scores.broadcast_add(mask)?)?;
        let out = probs.matmul(&v.contiguous()?)?;
        let out = out.transpose(1, 2)?.reshape((batch, seq, c.n_embd))?;
        wo.forward(&out)
    }

    /// Attention on the fused ops: rope (with the score scale folded into the queries'
    /// rotation) on the projections' own layout, the query heads of one key/value head
    /// stacked along rows so no key or value is copied, and a causal softmax that never
    /// builds a mask.
    fn attention_fused(&self, block: &Block, x: &Tensor, rope_t: &RopeTables) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let (batch, seq, _) = x.dims3()?;
        let d = c.head_dim();
        let (hq, hk) = (c.n_head, c.n_head_kv);
        let group = hq / hk;
        let [wq, wk, wv, wo] = &block.attn;
        let q = wq
            .forward(x)?
            .reshape((batch, seq, hq, d))?
            .apply_op1(rope_t.fused(true))?;
        let k = wk
            .forward(x)?
            .reshape((batch, seq, hk, d))?
            .apply_op1(rope_t.fused(false))?;
        let v = wv.forward(x)?.reshape((batch, seq, hk, d))?;
        let q = q.transpose(1, 2)?.contiguous()?.reshape((batch, hk, group * seq, d))?;
        let k = k.transpose(1, 2)?.contiguous()?;
        let v = v.transpose(1, 2)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?;
        let probs = scores.apply_op1(CausalSoftmax { queries: seq })?;
        let out = probs.matmul(&v)?.reshape((batch, hq, seq, d))?;
        let out = out.transpose(1, 2)?.contiguous()?.reshape((batch, seq, c.n_embd))?;
        wo.forward(&out)
    }

    /// `cos` and `sin` of every position and frequency, `[seq, head_dim / 2]`.
    fn rope_tables(&self, seq: usize) -> candle_core::Result<RopeTables> {
        let d = self.config.head_dim();
        let inv: Vec<f32> = (0..d / 2)
            .map(|i| (1.0 / self.config.rope_base.powf(2.0 * i as f64 / d as f64)) as f32)
            .collect();
        let inv = Tensor::from_vec(inv, (1, d / 2), &self.device)?;
        let pos = Tensor::arange(0u32, seq as u32, &self.device)?
            .to_dtype(DType::F32)?
            .reshape((seq, 1))?;
        let angles = pos.broadcast_mul(&inv)?;
        let (cos, sin) = (angles.cos()?, angles.sin()?);
        let (cos_v, sin_v) = match self.kernels {
            Kernels::Fused => (cos.flatten_all()?.to_vec1()?, sin.flatten_all()?.to_vec1()?),
            Kernels::Plain => (Vec::new(), Vec::new()),
        };
        let scale = 1.0 / (d as f32).sqrt();
        Ok(RopeTables {
            cos,
            sin,
            cos_q: Arc::new(cos_v.iter().map(|v| v * scale).collect()),
            sin_q: Arc::new(sin_v.iter().map(|v| v * scale).collect()),
            cos_v: Arc::new(cos_v),
            sin_v: Arc::new(sin_v),
        })
    }
}

/// Rope's angles for one sequence length, as tensors (plain ops) and as tables (fused op;
/// the queries' copy carries attention's `1/√head_dim`).
struct RopeTables {
    cos: Tensor,
    sin: Tensor,
    cos_v: Arc<Vec<f32>>,
    sin_v: Arc<Vec<f32>>,
    cos_q: Arc<Vec<f32>>,
    sin_q: Arc<Vec<f32>>,
}

impl RopeTables {
    fn fused(&self, queries: bool) -> Rope {
        let (cos, sin) = match queries {
            true => (&self.cos_q, &self.sin_q),
            false => (&self.cos_v, &self.sin_v),
        };
        Rope {
            cos: cos.clone(),
            sin: sin.clone(),
            inverse: false,
        }
    }
}

/// `−Σ log softmax(logits)[target]` over rows (`logits` `[n, classes]`, targets u32 `[n]`).
fn nll_sum(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let shifted = logits.broadcast_sub(&logits.max_keepdim(1)?.detach())?;
    let log_z = shifted.exp()?.sum_keepdim(1)?.log()?;
    let log_p = shifted.broadcast_sub(&log_z)?;
    log_p.gather(&targets.unsqueeze(1)?, 1)?.neg()?.sum_all()
}

/// `x · Wᵀ` for a frozen `W` (`[out, in]`), `x` being `[rows, in]`.
///
/// candle's own matmul backward also computes the gradient of its right-hand side, even
/// when nothing needs it: for frozen weights that is a third of the step's matrix work and
/// a weight-sized gradient per projection. This op returns only the input's gradient.
fn frozen_matmul(x: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
    x.apply_op2(&weight.t()?, FrozenMatmul)
}

struct FrozenMatmul;

impl FrozenMatmul {
    fn dims(l1: &Layout, l2: &Layout) -> candle_core::Result<(usize, usize, usize)> {
        let (m, k) = l1.shape().dims2()?;
        let (k2, n) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("frozen matmul: [{m}, {k}] x [{k2}, {n}]");
        }
        Ok((m, k, n))
    }
}

impl CustomOp2 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k, n) = Self::dims(l1, l2)?;
        Ok((s1.matmul(s2, (1, m, n, k), l1, l2)?, Shape::from((m, n))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (m, k, n) = Self::dims(l1, l2)?;
        Ok((s1.matmul(s2, (1, m, n, k), l1, l2)?, Shape::from((m, n))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        weight_t: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(&weight_t.t()?)?), None))
    }
}

/// `x / rms(x) * weight` over the last dimension, with ops that backpropagate.
fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean_sq = x.sqr()?.mean_keepdim(D::Minus1)?;
    let inv = (mean_sq + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&inv)?.broadcast_mul(weight)
}

fn silu(x: &Tensor) -> candle_core::Result<Tensor> {
    x.silu()
}

/// Softmax over the last dimension, shifted by the row maximum for range.
fn softmax_last(x: &Tensor) -> candle_core::Result<Tensor> {
    let shifted = x.broadcast_sub(&x.max_keepdim(D::Minus1)?.detach())?;
    let e = shifted.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Rotates adjacent pairs `(x[2i], x[2i+1])` of `x` (`[batch, heads, seq, head_dim]`) by
/// the position's angles: llama.cpp's normal rope on GGUF-layout weights.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    let pairs = x.reshape((b, h, t, d / 2, 2))?;
    let x0 = pairs.narrow(4, 0, 1)?.squeeze(4)?;
    let x1 = pairs.narrow(4, 1, 1)?.squeeze(4)?;
    let (cos, sin) = (cos.reshape((1, 1, t, d / 2))?, sin.reshape((1, 1, t, d / 2))?);
    let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
    let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
    Tensor::stack(&[r0, r1], 4)?.reshape((b, h, t, d))
}

/// 0 on and below the diagonal, -inf above: `[seq, seq]`.
fn causal_mask(seq: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Tensor::from_vec(mask, (seq, seq), device)
}

#[cfg(test)]
pub(crate) mod tests;
