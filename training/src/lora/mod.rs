//! LoRA adapters on the candle llama: which projections get one, how they start, and the
//! llama.cpp adapter GGUF they are saved as (what `grlm recommend --lora` and the C API's
//! `lora_path` load).

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod merge;
pub mod optim;
pub mod prefix;
pub mod train;

use std::path::Path;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Tensor, Var};

use crate::llama::{Llama, LlamaError, LoraWeights};

/// A projection that can carry an adapter, by its GGUF name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// `attn_q`
    Q,
    /// `attn_k`
    K,
    /// `attn_v`
    V,
    /// `attn_output`
    O,
    /// `ffn_gate`
    Gate,
    /// `ffn_up`
    Up,
    /// `ffn_down`
    Down,
}

impl Target {
    /// Every projection of a llama block.
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    /// The tensor name's last part in GGUF (`blk.N.<this>.weight`).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Target::Q => "attn_q",
            Target::K => "attn_k",
            Target::V => "attn_v",
            Target::O => "attn_output",
            Target::Gate => "ffn_gate",
            Target::Up => "ffn_up",
            Target::Down => "ffn_down",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    /// Parses `q`, `k`, `v`, `o`, `gate`, `up` or `down`.
    fn from_str(text: &str) -> Result<Target, String> {
        Ok(match text.trim() {
            "q" => Target::Q,
            "k" => Target::K,
            "v" => Target::V,
            "o" => Target::O,
            "gate" => Target::Gate,
            "up" => Target::Up,
            "down" => Target::Down,
            other => return Err(format!("unknown target {other:?} (one of q, k, v, o, gate, up, down)")),
        })
    }
}

/// The adapter's shape.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    /// Rank of every update.
    pub rank: usize,
    /// Scale numerator: updates are multiplied by `alpha / rank`.
    pub alpha: f64,
    /// Projections that get an adapter.
    pub targets: Vec<Target>,
    /// Adapt only the last this many blocks (all when `None`): the blocks below are frozen
    /// whole, so their output can be computed once ([`prefix`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 16,
            alpha: 32.0,
            targets: Target::ALL.to_vec(),
            layers: None,
        }
    }
}

/// Why an adapter could not be made, saved or used.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    /// The model failed.
    #[error(transparent)]
    Llama(#[from] LlamaError),
    /// A tensor operation failed.
    #[error("tensor operation: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The configuration is unusable.
    #[error("invalid LoRA configuration: {0}")]
    Config(String),
    /// Saved tensors do not fit this model and configuration.
    #[error("adapter tensor {name} has shape {found:?}, but this model and rank need {expected:?}")]
    Shape {
        /// The tensor.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The shape this model needs.
        expected: Vec<usize>,
    },
    /// A file could not be written or read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
}

impl LoraConfig {
    /// The same configuration at another rank.
    pub fn with_rank(mut self, rank: usize) -> Self {
        self.rank = rank;
        self
    }

    /// Checks the configuration against a model.
    pub fn check(&self, llama: &Llama) -> Result<(), LoraError> {
        let smallest = llama
            .linears()
            .map(|l| {
                let (o, i) = l.dims();
                o.min(i)
            })
            .min()
            .unwrap_or(0);
        if self.rank == 0 || self.rank > smallest {
            return Err(LoraError::Config(format!(
                "rank {} outside 1..={smallest} (the model's narrowest projection)",
                self.rank
            )));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(LoraError::Config(format!(
                "alpha {} is not a positive number",
                self.alpha
            )));
        }
        if self.targets.is_empty() {
            return Err(LoraError::Config("no target projections".into()));
        }
        let blocks = llama.config.n_layer;
        if let Some(n) = self.layers.filter(|&n| n == 0 || n > blocks) {
            return Err(LoraError::Config(format!(
                "{n} adapted blocks outside 1..={blocks} (the model's blocks)"
            )));
        }
        Ok(())
    }

    /// The first block that gets an adapter.
    pub fn first_block(&self, n_layer: usize) -> usize {
        n_layer - self.layers.unwrap_or(n_layer).min(n_layer)
    }
}

fn targets_of(name: &str, targets: &[Target]) -> bool {
    targets.iter().any(|t| name.ends_with(&format!(".{}", t.gguf_name())))
}

/// Attaches a fresh adapter to every target projection of `llama` and returns its
/// variables (A then B, projection by projection). A starts uniform in ±1/√in (as PEFT's
/// Kaiming init), B at zero: the adapted model starts equal to the base model.
pub fn attach(llama: &mut Llama, config: &LoraConfig, seed: u64) -> Result<Vec<Var>, LoraError> {
    config.check(llama)?;
    let device = llama.device().clone();
    let mut rng = grlm::rng::SplitMix64::new(seed);
    let mut vars = Vec::new();
    let first = config.first_block(llama.config.n_layer);
    for linear in llama
        .blocks
        .iter_mut()
        .skip(first)
        .flat_map(|b| b.attn.iter_mut().chain(b.ffn.iter_mut()))
    {
        if !targets_of(&linear.name, &config.targets) {
            continue;
        }
        let (out, input) = linear.dims();
        let bound = 1.0 / (input as f64).sqrt();
        let a: Vec<f32> = (0..config.rank * input)
            .map(|_| ((rng.unit() * 2.0 - 1.0) * bound) as f32)
            .collect();
        let a = Var::from_tensor(&Tensor::from_vec(a, (config.rank, input), &device)?)?;
        let b = Var::from_tensor(&Tensor::zeros((out, config.rank), candle_core::DType::F32, &device)?)?;
        vars.push(a.clone());
        vars.push(b.clone());
        linear.lora = Some(LoraWeights {
            a,
            b,
            scale: config.alpha / config.rank as f64,
        });
    }
    Ok(vars)
}

/// The adapter's tensors under their llama.cpp names (`blk.N.attn_q.weight.lora_a`, ...).
pub fn named_tensors(llama: &Llama) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for linear in llama.linears() {
        if let Some(l) = &linear.lora {
            out.push((format!("{}.weight.lora_a", linear.name), l.a.as_tensor().clone()));
            out.push((format!("{}.weight.lora_b", linear.name), l.b.as_tensor().clone()));
        }
    }
    out
}

/// Writes the attached adapter as a llama.cpp LoRA adapter GGUF at `path`, crash-safe.
///
/// llama.cpp reads `lora_a` with ggml shape `[in, rank]` and `lora_b` with `[rank, out]`,
/// which are our row-major `[rank, in]` and `[out, rank]`: candle's writer reverses the
/// dimensions, so the tensors go out as they are. `adapter.lora.alpha` makes llama.cpp
/// scale by `alpha / rank`, as training did.
pub fn save_adapter(llama: &Llama, config: &LoraConfig, path: &Path) -> Result<(), LoraError> {
    let tensors = named_tensors(llama);
    if tensors.is_empty() {
        return Err(LoraError::Config("the model has no adapter attached".into()));
    }
    let quantized: Vec<(String, QTensor)> = tensors
        .iter()
        .map(|(name, t)| {
            Ok((
                name.clone(),
                QTensor::quantize(&t.to_device(&candle_core::Device::Cpu)?, GgmlDType::F32)?,
            ))
        })
        .collect::<Result<_, LoraError>>()?;
    let metadata = [
        ("general.architecture", gguf_file::Value::String("llama".into())),
        ("general.type", gguf_file::Value::String("adapter".into())),
        ("adapter.type", gguf_file::Value::String("lora".into())),
        ("adapter.lora.alpha", gguf_file::Value::F32(config.alpha as f32)),
    ];
    let md: Vec<(&str, &gguf_file::Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    write_gguf(path, &md, &quantized)
}

/// Writes a GGUF of `metadata` and `tensors` (in that order) at `path`, crash-safe.
pub(crate) fn write_gguf(
    path: &Path,
    metadata: &[(&str, &gguf_file::Value)],
    tensors: &[(String, QTensor)],
) -> Result<(), LoraError> {
    let qt: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut bytes = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut bytes, metadata, &qt)?;
    grlm::atomic_write::write_atomically(path, |w| w.write_all(bytes.get_ref())).map_err(|e: std::io::Error| {
        LoraError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    })
}

#[cfg(test)]
pub(crate) mod tests;
