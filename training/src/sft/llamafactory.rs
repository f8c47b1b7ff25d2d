//! `--format llamafactory`: the same examples as LlamaFactory's alpaca records, for
//! training on a cluster.
//!
//! Alpaca records have one answer each, so every answer line of an example
//! ([`Example::loss_lines`]) becomes its own [`Record`]: `instruction` is all the text
//! before that line, `output` the line. A sequence example with 20 targets becomes 20
//! records whose instructions grow by one history line each; a `neighbors` example becomes
//! one record per neighbour. The loss LlamaFactory computes (on outputs only) is then the
//! native example's loss, line for line. Records keep the order of the shuffled training
//! examples.
//!
//! Files in `DIR`: `grlm_train.json` and `grlm_valid.json` (JSON arrays, one record per
//! line) and `dataset_info.json` naming them as datasets `grlm_train` and `grlm_valid`
//! (`"formatting": "alpaca"`, columns `prompt` → `instruction`, `response` → `output`).
//!
//! The round trip back into libgrlm:
//!
//! 1. `grlm-train sft ... --format llamafactory --out data/grlm`.
//! 2. Train in LlamaFactory with DeepSpeed and `template: empty`, which adds no chat
//!    markup or system prompt, so the model sees the engine's prompt text and nothing else
//!    (`stage: sft`, `finetuning_type: lora`, `dataset_dir: data/grlm`,
//!    `dataset: grlm_train`, `eval_dataset: grlm_valid`, `deepspeed: <ds config>`).
//! 3. Convert the adapter with llama.cpp:
//!    `python convert_lora_to_gguf.py OUTPUT_DIR --base BASE_HF_DIR --outfile grlm-lora.gguf`.
//! 4. Serve it: `grlm recommend --model BASE.gguf --lora grlm-lora.gguf --catalog C.grlm ...`
//!    (C API: `grlm_engine_params.lora_path`), with the same `--titles` and
//!    `--max-history` as the data, a GGUF of the same base model, and a catalogue built
//!    with its tokenizer (`grlm catalog build --model`).
//!
//! LlamaFactory tokenizes an instruction as one string where the engine tokenizes each
//! segment alone. Segments meet at newlines and at the `[` that opens a TID, which common
//! BPE pre-tokenizers split at anyway, so the tokens normally agree; the native format is
//! the exact one.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{write_atomically, Example, SftError};

/// The training records' file.
pub const TRAIN_FILE: &str = "grlm_train.json";
/// The validation records' file.
pub const VALID_FILE: &str = "grlm_valid.json";
/// LlamaFactory's dataset registry, naming both files.
pub const DATASET_INFO_FILE: &str = "dataset_info.json";
/// The training dataset's name in `dataset_info.json` (`dataset:` in a LlamaFactory config).
pub const TRAIN_DATASET: &str = "grlm_train";
/// The validation dataset's name (`eval_dataset:`).
pub const VALID_DATASET: &str = "grlm_valid";

/// One alpaca record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Everything before the answer line.
    pub instruction: String,
    /// The answer line.
    pub output: String,
}

/// One record per answer line of `example`.
pub fn records(example: &Example) -> Vec<Record> {
    let text_of =
        |range: std::ops::Range<usize>| -> String { example.segments[range].iter().map(|s| s.text.as_str()).collect() };
    example
        .loss_lines()
        .into_iter()
        .map(|line| Record {
            instruction: text_of(0..line.start),
            output: text_of(line),
        })
        .collect()
}

/// `dataset_info.json`'s content.
pub fn dataset_info() -> serde_json::Value {
    let entry = |file: &str| {
        serde_json::json!({
            "file_name": file,
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "response": "output"},
        })
    };
    serde_json::json!({ TRAIN_DATASET: entry(TRAIN_FILE), VALID_DATASET: entry(VALID_FILE) })
}

/// Writes the three files; returns their names and the record counts (train, valid).
pub(crate) fn write(dir: &Path, train: &[Example], valid: &[Example]) -> Result<(Vec<String>, (u64, u64)), SftError> {
    let train_records = write_records(&dir.join(TRAIN_FILE), train)?;
    let valid_records = write_records(&dir.join(VALID_FILE), valid)?;
    write_atomically(&dir.join(DATASET_INFO_FILE), |w| {
        serde_json::to_writer_pretty(&mut *w, &dataset_info())?;
        w.write_all(b"\n")
    })?;
    let files = [TRAIN_FILE, VALID_FILE, DATASET_INFO_FILE].map(str::to_owned).to_vec();
    Ok((files, (train_records, valid_records)))
}

/// A JSON array with one record per line: a valid JSON file that still diffs and greps
/// line by line.
fn write_records(path: &Path, examples: &[Example]) -> Result<u64, SftError> {
    let mut written = 0u64;
    write_atomically(path, |w| {
        w.write_all(b"[")?;
        for record in examples.iter().flat_map(records) {
            w.write_all(if written == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut *w, &record)?;
            written += 1;
        }
        w.write_all(b"\n]\n")
    })?;
    Ok(written)
}
