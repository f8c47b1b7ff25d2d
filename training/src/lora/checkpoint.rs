//! Checkpoints of a LoRA run: the adapter, the optimizer's moments and where the run was,
//! in a directory beside the output. Each save writes a new tensor file, then atomically
//! replaces `state.json` that names it, then removes older tensor files: a crash at any
//! point leaves the previous checkpoint whole.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};

use super::optim::{AdamW, AdamWConfig};
use super::{LoraConfig, LoraError};

/// Everything about a run that must match for a checkpoint to be resumed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunIdentity {
    /// The adapter's shape.
    pub lora: LoraConfig,
    /// The optimizer.
    pub adam: AdamWConfig,
    /// Examples per step.
    pub batch: usize,
    /// Longest example kept, in tokens.
    pub max_tokens: usize,
    /// Seed of the adapter's initialisation and the example order.
    pub seed: u64,
    /// Epochs.
    pub epochs: usize,
    /// Training examples after filtering, and a hash of their tokens.
    pub examples: usize,
    /// FNV-1a of every kept example's tokens and loss flags.
    pub data_hash: u64,
    /// The base model's file size and tokenizer fingerprint.
    pub base: String,
}

/// Where a run stands.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunState {
    /// What the run is.
    pub identity: RunIdentity,
    /// Optimizer steps done.
    pub step: u64,
    /// Steps in the whole run.
    pub total_steps: u64,
    /// Tokens trained on so far (padding excluded).
    pub tokens: u64,
    /// Seconds of training so far, across resumes.
    pub seconds: f64,
    /// Mean loss of each logged interval, for the record.
    pub losses: Vec<f32>,
    /// The tensor file of this checkpoint, relative to the directory.
    pub tensors: String,
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> LoraError {
    LoraError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Saves `vars` (the adapter, in [`super::attach`]'s order), the optimizer and `state`.
pub fn save(dir: &Path, vars: &[Var], adam: &AdamW, state: &mut RunState) -> Result<(), LoraError> {
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (i, var) in vars.iter().enumerate() {
        tensors.insert(format!("var.{i}"), var.as_tensor().to_device(&Device::Cpu)?);
        tensors.insert(format!("m.{i}"), adam.m[i].to_device(&Device::Cpu)?);
        tensors.insert(format!("v.{i}"), adam.v[i].to_device(&Device::Cpu)?);
    }
    let name = format!("tensors-{:08}.safetensors", state.step);
    let tmp = dir.join(format!(".{name}.tmp"));
    candle_core::safetensors::save(&tensors, &tmp)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| file_error(&tmp, e))?;
    std::fs::rename(&tmp, dir.join(&name)).map_err(|e| file_error(&tmp, e))?;
    state.tensors = name.clone();
    let json = serde_json::to_vec_pretty(state).map_err(|e| file_error(dir, e))?;
    let state_path = dir.join("state.json");
    grlm::atomic_write::write_atomically(&state_path, |w| w.write_all(&json))
        .map_err(|e: std::io::Error| file_error(&state_path, e))?;
    // Only now is the new checkpoint the one on record; older tensor files can go.
    for entry in std::fs::read_dir(dir).map_err(|e| file_error(dir, e))?.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with("tensors-") && file != name {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// A checkpoint read back: where the run was, and its tensors by name.
pub type Saved = (RunState, HashMap<String, Tensor>);

/// The checkpoint in `dir`, if there is one.
pub fn load(dir: &Path) -> Result<Option<Saved>, LoraError> {
    let state_path = dir.join("state.json");
    let bytes = match std::fs::read(&state_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(&state_path, e)),
    };
    let state: RunState = serde_json::from_slice(&bytes).map_err(|e| file_error(&state_path, e))?;
    let tensor_path: PathBuf = dir.join(&state.tensors);
    let tensors =
        candle_core::safetensors::load(&tensor_path, &Device::Cpu).map_err(|e| file_error(&tensor_path, e))?;
    Ok(Some((state, tensors)))
}

/// Puts a loaded checkpoint's tensors into `vars` and `adam`, checking every shape.
pub fn restore(tensors: &HashMap<String, Tensor>, vars: &[Var], adam: &mut AdamW, step: u64) -> Result<(), LoraError> {
    for (i, var) in vars.iter().enumerate() {
        let device = var.as_tensor().device().clone();
        let expected = var.as_tensor().dims().to_vec();
        let get = |kind: &str| -> Result<Tensor, LoraError> {
            let name = format!("{kind}.{i}");
            let t = tensors.get(&name).ok_or_else(|| LoraError::Shape {
                name: name.clone(),
                found: vec![],
                expected: expected.clone(),
            })?;
            if t.dims() != expected.as_slice() {
                return Err(LoraError::Shape {
                    name,
                    found: t.dims().to_vec(),
                    expected: expected.clone(),
                });
            }
            Ok(t.to_device(&device)?)
        };
        var.set(&get("var")?)?;
        adam.m[i] = get("m")?;
        adam.v[i] = get("v")?;
    }
    if tensors.len() != 3 * vars.len() {
        return Err(LoraError::Config(format!(
            "the checkpoint holds {} tensors; this run has {} adapter variables",
            tensors.len() / 3,
            vars.len()
        )));
    }
    adam.step = step;
    Ok(())
}
