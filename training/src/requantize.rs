//! `grlm-train requantize`: a backbone whose transformer matrices are Q4_0.
//!
//! llama.cpp repacks Q4_0 matrices when it loads them into interleaved rows that its GEMM
//! kernels read eight at a time (AVX2 and up on x86; dotprod and i8mm on ARM). Q4_1, the form
//! SmolLM2 ships in, has no such kernels, so the same model answers faster in Q4_0 at the
//! same size. Only the blocks' 2-D weight matrices change; the token embedding (which is
//! also the output layer), the norms and every metadata field are copied as they are, so
//! the tokenizer, the catalogue's token trie and LoRA adapters still fit.

use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;
use serde::Serialize;

/// `grlm-train requantize`: the options.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct RequantizeArgs {
    /// The backbone GGUF to read.
    #[cfg_attr(feature = "cli", arg(long))]
    pub model: PathBuf,
    /// The GGUF to write (replaced atomically).
    #[cfg_attr(feature = "cli", arg(long))]
    pub out: PathBuf,
}

/// What `requantize` wrote.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RequantizeSummary {
    /// Matrices written as Q4_0 (each was another type).
    pub converted: usize,
    /// Tensors copied unchanged (the embedding, norms, matrices already Q4_0).
    pub copied: usize,
    /// Size of the input file in bytes.
    pub bytes_in: u64,
    /// Size of the output file in bytes.
    pub bytes_out: u64,
    /// The largest change of any weight, over the largest magnitude of its matrix: the
    /// rounding the conversion added.
    pub max_relative_change: f64,
}

/// Why requantizing failed.
#[derive(Debug, thiserror::Error)]
pub enum RequantizeError {
    /// The input could not be read or is not a GGUF, or the output could not be written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A tensor could not be converted.
    #[error("tensor {name}: {reason}")]
    Tensor {
        /// The tensor.
        name: String,
        /// Why.
        reason: String,
    },
    /// Input and output are the same file.
    #[error("--out names the input file {0}; write to another path")]
    SameFile(PathBuf),
}

/// Whether `name` is a transformer block's weight matrix that Q4_0 can hold (rows of whole
/// 32-value blocks).
fn converts(name: &str, info: &gguf_file::TensorInfo) -> bool {
    let dims = info.shape.dims();
    name.starts_with("blk.")
        && name.ends_with(".weight")
        && dims.len() == 2
        && dims[1] % GgmlDType::Q4_0.block_size() == 0
        && info.ggml_dtype != GgmlDType::Q4_0
}

/// Reads `args.model`, writes `args.out` with its block matrices in Q4_0.
pub fn run(args: &RequantizeArgs) -> Result<RequantizeSummary, RequantizeError> {
    let file_error = |path: &Path| {
        let path = path.to_owned();
        move |e: &dyn std::fmt::Display| RequantizeError::File {
            path: path.clone(),
            reason: e.to_string(),
        }
    };
    let read_error = file_error(&args.model);
    if std::fs::canonicalize(&args.out).ok() == Some(std::fs::canonicalize(&args.model).map_err(|e| read_error(&e))?) {
        return Err(RequantizeError::SameFile(args.out.clone()));
    }
    let bytes_in = std::fs::metadata(&args.model).map_err(|e| read_error(&e))?.len();
    let mut file = std::io::BufReader::new(std::fs::File::open(&args.model).map_err(|e| read_error(&e))?);
    let content = gguf_file::Content::read(&mut file).map_err(|e| read_error(&e))?;

    // In file order, so that the output lists them as the input does.
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort_by_key(|n| content.tensor_infos[*n].offset);
    let (mut converted, mut copied, mut max_relative_change) = (0, 0, 0.0f64);
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let tensor = content
            .tensor(&mut file, name, &Device::Cpu)
            .map_err(|e| read_error(&e))?;
        if !converts(name, &content.tensor_infos[name]) {
            copied += 1;
            tensors.push((name.clone(), tensor));
            continue;
        }
        let (q4, change) = to_q4_0(&tensor).map_err(|e| RequantizeError::Tensor {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        max_relative_change = max_relative_change.max(change);
        converted += 1;
        tensors.push((name.clone(), q4));
    }

    let mut metadata: Vec<(&str, &gguf_file::Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    metadata.sort_by_key(|(k, _)| *k);
    let write_error = file_error(&args.out);
    crate::lora::write_gguf(&args.out, &metadata, &tensors).map_err(|e| match e {
        // Already names the file.
        crate::lora::LoraError::File { path, reason } => RequantizeError::File { path, reason },
        other => write_error(&other),
    })?;
    let bytes_out = std::fs::metadata(&args.out).map_err(|e| write_error(&e))?.len();
    Ok(RequantizeSummary {
        converted,
        copied,
        bytes_in,
        bytes_out,
        max_relative_change,
    })
}

/// The matrix in Q4_0, and its largest change over its largest magnitude.
fn to_q4_0(tensor: &QTensor) -> candle_core::Result<(QTensor, f64)> {
    let values = tensor.dequantize(&Device::Cpu)?;
    let flat: Vec<f32> = values.flatten_all()?.to_vec1()?;
    let bytes: Vec<u8> = flat.chunks(Q4_0_BLOCK).flat_map(encode_q4_0_block).collect();
    let q4 = candle_core::quantized::ggml_file::qtensor_from_ggml(
        GgmlDType::Q4_0,
        &bytes,
        values.dims().to_vec(),
        &Device::Cpu,
    )?;
    let back = q4.dequantize(&Device::Cpu)?;
    let largest = values.abs()?.max_all()?.to_scalar::<f32>()? as f64;
    let change = (&back - &values)?.abs()?.max_all()?.to_scalar::<f32>()? as f64;
    Ok((q4, if largest > 0.0 { change / largest } else { 0.0 }))
}

/// Values in a Q4_0 block.
const Q4_0_BLOCK: usize = 32;

/// One Q4_0 block (an f16 scale `d`, then 32 four-bit codes `q`, value `(q − 8)·d`, the
/// first 16 in the low nibbles): the scale with the least squared error among ggml's own
/// (the largest magnitude maps to −8) and nearby ones, each refitted by least squares to
/// its codes.
fn encode_q4_0_block(x: &[f32]) -> [u8; 18] {
    let extreme = x
        .iter()
        .copied()
        .fold(0f32, |m, v| if v.abs() > m.abs() { v } else { m });
    let codes_for = |d: f32| -> [u8; Q4_0_BLOCK] {
        let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
        std::array::from_fn(|i| (x[i] * inv + 8.5).floor().clamp(0.0, 15.0) as u8)
    };
    let error = |d: f32, q: &[u8; Q4_0_BLOCK]| -> f64 {
        x.iter()
            .zip(q)
            .map(|(&v, &c)| f64::from(v - (f32::from(c) - 8.0) * d).powi(2))
            .sum()
    };
    let half = |d: f32| half::f16::from_f32(d).to_f32();
    let mut best = (half(extreme / -8.0), codes_for(half(extreme / -8.0)));
    let mut best_error = error(best.0, &best.1);
    // Scales that map the extreme value to −9 … −6.5 or +6.5 … +7.5 (quarter steps).
    let steps = (-36..=-26).chain(26..=30).map(|k| k as f32 / 4.0);
    for step in steps {
        let codes = codes_for(extreme / step);
        // The scale that fits these codes best.
        let (num, den) = x.iter().zip(&codes).fold((0f64, 0f64), |(n, d), (&v, &c)| {
            let c = f64::from(c) - 8.0;
            (n + f64::from(v) * c, d + c * c)
        });
        if den == 0.0 {
            continue;
        }
        let d = half((num / den) as f32);
        let codes = codes_for(d);
        let e = error(d, &codes);
        if e < best_error {
            (best, best_error) = ((d, codes), e);
        }
    }
    let (d, q) = best;
    let mut block = [0u8; 18];
    block[..2].copy_from_slice(&half::f16::from_f32(d).to_le_bytes());
    for j in 0..Q4_0_BLOCK / 2 {
        block[2 + j] = q[j] | (q[j + Q4_0_BLOCK / 2] << 4);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;

    /// A GGUF with one Q4_1 block matrix, one F32 norm, one Q8_0 embedding and a string.
    fn write_input(path: &Path) -> Tensor {
        let device = Device::Cpu;
        let matrix = Tensor::randn(0f32, 0.05, (64, 96), &device).unwrap();
        let tensors = [
            (
                "token_embd.weight",
                QTensor::quantize(&Tensor::randn(0f32, 1., (16, 96), &device).unwrap(), GgmlDType::Q8_0).unwrap(),
            ),
            (
                "blk.0.ffn_up.weight",
                QTensor::quantize(&matrix, GgmlDType::Q4_1).unwrap(),
            ),
            (
                "blk.0.attn_norm.weight",
                QTensor::quantize(
                    &Tensor::ones(96, candle_core::DType::F32, &device).unwrap(),
                    GgmlDType::F32,
                )
                .unwrap(),
            ),
        ];
        let name = gguf_file::Value::String("tiny".into());
        let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (*k, v)).collect();
        let mut out = std::fs::File::create(path).unwrap();
        gguf_file::write(&mut out, &[("general.name", &name)], &refs).unwrap();
        tensors[1].1.dequantize(&device).unwrap()
    }

    fn read(path: &Path) -> (gguf_file::Content, std::io::BufReader<std::fs::File>) {
        let mut file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        (gguf_file::Content::read(&mut file).unwrap(), file)
    }

    #[test]
    fn block_matrices_become_q4_0_and_everything_else_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("in.gguf"), dir.path().join("out.gguf"));
        let q4_1_values = write_input(&input);
        let args = RequantizeArgs {
            model: input.clone(),
            out: output.clone(),
        };
        let summary = run(&args).unwrap();
        assert_eq!((summary.converted, summary.copied), (1, 2));
        // A refitted scale may clamp a block's extreme by more than ggml's half step, never
        // by a fifth of the matrix's largest weight (SmolLM2: 0.134).
        assert!(
            summary.max_relative_change > 0.0 && summary.max_relative_change <= 0.2,
            "{summary:?}"
        );

        let (before, mut before_file) = read(&input);
        let (after, mut after_file) = read(&output);
        assert_eq!(after.metadata.len(), before.metadata.len());
        assert!(matches!(after.metadata.get("general.name"), Some(gguf_file::Value::String(s)) if s == "tiny"));
        assert_eq!(after.tensor_infos["blk.0.ffn_up.weight"].ggml_dtype, GgmlDType::Q4_0);
        for name in ["token_embd.weight", "blk.0.attn_norm.weight"] {
            let a = before.tensor(&mut before_file, name, &Device::Cpu).unwrap();
            let b = after.tensor(&mut after_file, name, &Device::Cpu).unwrap();
            assert_eq!(a.dtype(), b.dtype(), "{name}");
            assert_eq!(a.data().unwrap(), b.data().unwrap(), "{name} is copied byte for byte");
        }
        let q4_0 = after
            .tensor(&mut after_file, "blk.0.ffn_up.weight", &Device::Cpu)
            .unwrap();
        let diff = (q4_0.dequantize(&Device::Cpu).unwrap() - &q4_1_values)
            .unwrap()
            .abs()
            .unwrap();
        let largest = q4_1_values
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff.max_all().unwrap().to_scalar::<f32>().unwrap() <= largest / 5.0);

        // Again on its own output: nothing left to convert.
        let again = run(&RequantizeArgs {
            model: output.clone(),
            out: dir.path().join("again.gguf"),
        })
        .unwrap();
        assert_eq!((again.converted, again.copied), (0, 3));
    }

    #[test]
    fn the_chosen_scale_is_never_worse_than_ggmls_and_decodes_as_ggml_does() {
        let device = Device::Cpu;
        // Q4_1 values, as the backbone holds them: on a grid offset from zero.
        let values = Tensor::randn(0.01f32, 0.05, (8, 256), &device).unwrap();
        let q4_1 = QTensor::quantize(&values, GgmlDType::Q4_1)
            .unwrap()
            .dequantize(&device)
            .unwrap();
        let ggml = QTensor::quantize(&q4_1, GgmlDType::Q4_0)
            .unwrap()
            .dequantize(&device)
            .unwrap();
        let (ours, _) = to_q4_0(&QTensor::quantize(&values, GgmlDType::Q4_1).unwrap()).unwrap();
        let ours = ours.dequantize(&device).unwrap();
        let squared = |t: &Tensor| -> Vec<f32> {
            let d = (t - &q4_1).unwrap().sqr().unwrap();
            d.reshape((8 * 256 / 32, 32))
                .unwrap()
                .sum(1)
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let (theirs, mine) = (squared(&ggml), squared(&ours));
        for (block, (t, m)) in theirs.iter().zip(&mine).enumerate() {
            assert!(m <= &(t * 1.0001 + 1e-12), "block {block}: {m} > {t}");
        }
        let (t, m): (f32, f32) = (theirs.iter().sum(), mine.iter().sum());
        assert!(m < t * 0.9, "total squared error {m} against ggml's {t}");
    }

    #[test]
    fn bad_input_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        write_input(&input);
        let same = run(&RequantizeArgs {
            model: input.clone(),
            out: input.clone(),
        })
        .unwrap_err();
        assert!(same.to_string().contains("names the input file"), "{same}");

        let garbage = dir.path().join("garbage.gguf");
        std::fs::write(&garbage, b"not a model").unwrap();
        let out = dir.path().join("out.gguf");
        let err = run(&RequantizeArgs {
            model: garbage.clone(),
            out: out.clone(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("garbage.gguf"), "{err}");
        let bytes = std::fs::read(&input).unwrap();
        std::fs::write(&garbage, &bytes[..bytes.len() / 2]).unwrap();
        let err = run(&RequantizeArgs {
            model: garbage,
            out: out.clone(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("garbage.gguf"), "{err}");
        let missing = run(&RequantizeArgs {
            model: dir.path().join("missing.gguf"),
            out: out.clone(),
        })
        .unwrap_err();
        assert!(missing.to_string().contains("missing.gguf"), "{missing}");
        assert!(!out.exists());
    }
}
