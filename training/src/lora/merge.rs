//! `--merge-q8`: the base model with the adapter folded into its weights, as one GGUF that
//! needs no adapter at inference (one less matrix product per projection per token).

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;

use super::LoraError;
use crate::llama::Llama;

/// Writes `base` with every adapted projection replaced by `W + scale · B · A`, quantized
/// to Q8_0 (F32 where a row is not a multiple of Q8_0's 32-value block); every other tensor
/// and all metadata are copied unchanged. Crash-safe.
pub fn write_merged_q8(base: &Path, llama: &Llama, out: &Path) -> Result<(), LoraError> {
    let file_error = |e: &dyn std::fmt::Display| LoraError::File {
        path: base.to_owned(),
        reason: e.to_string(),
    };
    let mut file = std::io::BufReader::new(std::fs::File::open(base).map_err(|e| file_error(&e))?);
    let content = gguf_file::Content::read(&mut file).map_err(|e| file_error(&e))?;
    let mut merged: HashMap<String, QTensor> = HashMap::new();
    for linear in llama.linears() {
        let Some(l) = &linear.lora else { continue };
        let update = (l.b.as_tensor().matmul(l.a.as_tensor())? * l.scale)?;
        let w = (&linear.weight + update)?.to_device(&Device::Cpu)?;
        let dtype = if w.dims()[1] % 32 == 0 {
            GgmlDType::Q8_0
        } else {
            GgmlDType::F32
        };
        merged.insert(format!("{}.weight", linear.name), QTensor::quantize(&w, dtype)?);
    }
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort_by_key(|n| content.tensor_infos[*n].offset);
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let t = match merged.remove(name) {
            Some(t) => t,
            None => content
                .tensor(&mut file, name, &Device::Cpu)
                .map_err(|e| file_error(&e))?,
        };
        tensors.push((name.clone(), t));
    }
    let mut metadata: Vec<(&str, &gguf_file::Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    metadata.sort_by_key(|(k, _)| *k);
    super::write_gguf(out, &metadata, &tensors)
}
