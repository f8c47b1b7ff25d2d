//! `grlm-train lora`: the training loop — batches of SFT examples, loss on answer tokens,
//! AdamW with warm-up and linear decay, checkpoints, resume, progress, and the adapter GGUF
//! at the end.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor, Var};

use super::checkpoint::{self, RunIdentity, RunState};
use super::data::{self, Tokenized};
use super::optim::{AdamW, AdamWConfig};
use super::{attach, save_adapter, LoraConfig, LoraError, Target};
use crate::llama::{Kernels, Llama};
use crate::sft::Task;

/// Where the computation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The CPU (candle's own kernels, all cores unless `--threads`).
    Cpu,
    /// An NVIDIA GPU (builds with `--features cuda` only).
    Cuda,
}

/// `grlm-train lora`: fine-tune a LoRA adapter for a GGUF backbone on SFT data.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct LoraArgs {
    /// The base model (llama architecture GGUF, any quantization candle reads).
    #[cfg_attr(feature = "cli", arg(long, value_name = "M.gguf"))]
    pub base: PathBuf,
    /// The directory `grlm-train sft` wrote (train.jsonl, valid.jsonl).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR"))]
    pub data: PathBuf,
    /// The adapter to write (llama.cpp LoRA GGUF); checkpoints go to `<out>.ckpt/`.
    #[cfg_attr(feature = "cli", arg(long, value_name = "adapter.gguf"))]
    pub out: PathBuf,
    /// Rank of every update.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 16))]
    pub rank: usize,
    /// Updates are scaled by alpha / rank.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 32.0))]
    pub alpha: f64,
    /// Adapt only the last N blocks; the blocks below are run once per example and their
    /// output cached (default: every block).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub train_layers: Option<usize>,
    /// The catalogue (built with this backbone's token trie) whose TIDs the history tasks
    /// answer with: each answer token is then learned as constrained decoding chooses it,
    /// among its trie node's children, and forced tokens are not learned.
    #[cfg_attr(feature = "cli", arg(long, value_name = "C.grlm"))]
    pub catalog: Option<PathBuf>,
    /// Projections to adapt, comma-separated from q,k,v,o,gate,up,down.
    #[cfg_attr(
        feature = "cli",
        arg(long, default_value = "q,k,v,o,gate,up,down", value_delimiter = ',')
    )]
    pub targets: Vec<Target>,
    /// Peak learning rate.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 2e-4))]
    pub lr: f64,
    /// Passes over the training examples.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1))]
    pub epochs: usize,
    /// Examples per optimizer step.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 8))]
    pub batch: usize,
    /// Examples per forward/backward pass; a step accumulates its batch's gradient over
    /// passes of this size. Memory grows with it; the gradient does not (up to float rounding).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1))]
    pub micro_batch: usize,
    /// Also keeps a forward/backward pass under this many tokens (examples × the longest
    /// one's length), so that one setting suits short and long examples: short examples
    /// then share a pass, which is much faster per token than passes of two.
    #[cfg_attr(feature = "cli", arg(long, value_name = "TOKENS"))]
    pub micro_batch_tokens: Option<usize>,
    /// Examples longer than this many tokens are skipped (and counted).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 512))]
    pub max_tokens: usize,
    /// Train on at most this many examples (a fixed seeded subset), for short runs.
    #[cfg_attr(feature = "cli", arg(long))]
    pub limit: Option<usize>,
    /// Tasks to train on, comma-separated from terms,sequence,neighbors,transitions,unseen.
    #[cfg_attr(
        feature = "cli",
        arg(long, default_value = "terms,sequence,neighbors,transitions", value_delimiter = ',')
    )]
    pub tasks: Vec<Task>,
    /// Caps one task's examples (a fixed seeded subset of them), e.g. `sequence=700`;
    /// comma-separated or repeated. Applied before `--limit`.
    #[cfg_attr(feature = "cli", arg(long, value_name = "TASK=N", value_delimiter = ','))]
    pub task_limit: Vec<TaskLimit>,
    /// Warm-up steps (linear from 0 to --lr), then linear decay to 0.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 20))]
    pub warmup: u64,
    /// Save a checkpoint every this many steps (and at the end).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 50))]
    pub checkpoint_every: u64,
    /// Every this many steps, also write the adapter to `<out>.snapshots/step-N.gguf` and
    /// a line of `<out>.snapshots/curve.jsonl` (step, tokens, training seconds, training
    /// and validation loss): the learning curve of a long run.
    #[cfg_attr(feature = "cli", arg(long, value_name = "STEPS"))]
    pub snapshot_every: Option<u64>,
    /// Continue from the checkpoint in `<out>.ckpt/`.
    #[cfg_attr(feature = "cli", arg(long))]
    pub resume: bool,
    /// Validation examples whose loss is reported before and after training (0: none).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 64))]
    pub valid: usize,
    /// Seed of the adapter's initialisation and the example order.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1))]
    pub seed: u64,
    /// CPU threads for candle (default: all cores).
    #[cfg_attr(feature = "cli", arg(long))]
    pub threads: Option<usize>,
    /// Where to compute.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = DeviceKind::Cpu))]
    pub device: DeviceKind,
    /// The CPU kernels: the trainer's fused ops, or candle's plain ops (the reference).
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Kernels::Fused))]
    pub kernels: Kernels,
    /// Frozen products in bf16 through oneDNN (with fused kernels, where libdnnl.so.2
    /// loads), or in f32 on candle's kernels.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Precision::Bf16))]
    pub matmul: Precision,
    /// Also write the base model with the adapter merged in, as Q8_0 GGUF.
    #[cfg_attr(feature = "cli", arg(long, value_name = "merged.gguf"))]
    pub merge_q8: Option<PathBuf>,
    /// What the history tasks learn when --catalog is given: the trie objective, or the
    /// full softmax over the vocabulary (validation losses use the trie objective either
    /// way, so runs of both compare on the decoder's own terms).
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Objective::Trie))]
    pub objective: Objective,
    /// Stop after this many seconds of training in this invocation (the checkpoint is
    /// saved; resume with --resume): equal-time comparisons and time-boxed sittings.
    #[cfg_attr(feature = "cli", arg(long, value_name = "SECONDS"))]
    pub time_limit: Option<f64>,
    /// Stop after this many steps of this invocation (the checkpoint is saved; resume with
    /// --resume). For tests and time-boxed runs.
    #[cfg_attr(feature = "cli", arg(long, hide = true))]
    pub stop_after: Option<u64>,
}

/// What the history tasks' answers are trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Each branching token among its trie node's children (needs --catalog).
    Trie,
    /// Every answer token over the whole vocabulary.
    Full,
}

/// The precision of the frozen products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 operands, f32 accumulation (oneDNN).
    Bf16,
    /// f32 (candle).
    F32,
}

/// What a run did, printed as JSON at the end.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LoraSummary {
    /// The adapter written.
    pub adapter: PathBuf,
    /// The merged model, if one was written.
    pub merged: Option<PathBuf>,
    /// Whether the run finished (false when it stopped early for --stop-after).
    pub finished: bool,
    /// Steps done, of the run's total.
    pub steps: u64,
    /// Steps in the run.
    pub total_steps: u64,
    /// Training examples used; skipped ones by reason.
    pub examples: usize,
    /// Examples over --max-tokens.
    pub skipped_too_long: usize,
    /// Tokens trained on (padding excluded), over the whole run.
    pub train_tokens: u64,
    /// Training tokens per second of this invocation.
    pub tokens_per_second: f64,
    /// Seconds of training over the whole run (resumes included).
    pub train_seconds: f64,
    /// Mean training loss of the first and last logged intervals.
    pub first_loss: Option<f32>,
    /// See `first_loss`.
    pub last_loss: Option<f32>,
    /// Mean loss on validation examples before and after this invocation.
    pub valid_loss_before: Option<f32>,
    /// See `valid_loss_before`.
    pub valid_loss_after: Option<f32>,
    /// The device used.
    pub device: DeviceKind,
    /// The kernels used.
    pub kernels: Kernels,
    /// What the validation losses measure: `trie` with --catalog, else `full`.
    pub valid_objective: Objective,
    /// Whether the frozen products ran in bf16, and oneDNN's kernel for them.
    pub bf16_kernel: Option<String>,
}

impl From<crate::llama::LlamaError> for TrainError {
    fn from(e: crate::llama::LlamaError) -> Self {
        TrainError::Lora(e.into())
    }
}

/// Why `lora` failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Model or adapter trouble.
    #[error(transparent)]
    Lora(#[from] LoraError),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// The engine could not load the base model's tokenizer.
    #[error(transparent)]
    Tokenizer(#[from] grlm::llm::LlmError),
    /// A tensor operation failed.
    #[error("tensor operation: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A bad argument.
    #[error("{0}")]
    Args(String),
    /// Training diverged.
    #[error("the loss became {loss} at step {step}: training diverged; lower --lr (now {lr}) or check the data")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Diverged { step: u64, loss: f32, lr: f64 },
}

/// At most `examples` examples of `task` (a fixed seeded subset): `sequence=700`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskLimit {
    /// The task capped.
    pub task: Task,
    /// Its most examples.
    pub examples: usize,
}

impl std::str::FromStr for TaskLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<TaskLimit, String> {
        let (task, n) = text.split_once('=').ok_or_else(|| format!("{text:?} is not TASK=N"))?;
        let examples = n
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {:?} is not a count of examples", n.trim()))?;
        Ok(TaskLimit {
            task: task.parse()?,
            examples,
        })
    }
}

fn device(kind: DeviceKind) -> Result<Device, TrainError> {
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => Ok(Device::new_cuda(0)?),
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(TrainError::Args(
            "this grlm-train was built without CUDA; rebuild with `--features cuda`".into(),
        )),
    }
}

/// FNV-1a over every example's tokens and loss flags: a resumed run must see the same data.
fn data_hash(examples: &[Tokenized]) -> u64 {
    let mut h = grlm::fnv::Fnv64::new();
    for e in examples {
        h.write_u32(e.tokens.len() as u32);
        for (&t, &l) in e.tokens.iter().zip(&e.loss) {
            h.write_u32(t);
            h.write_u32(u32::from(l));
        }
        for &n in &e.nodes {
            h.write_u32(n);
        }
    }
    h.finish()
}

/// The learning rate at `step` (1-based): linear warm-up, then linear decay to zero.
pub fn learning_rate(peak: f64, step: u64, warmup: u64, total: u64) -> f64 {
    if warmup > 0 && step <= warmup {
        return peak * step as f64 / warmup as f64;
    }
    let left = total.saturating_sub(step) as f64;
    let span = total.saturating_sub(warmup).max(1) as f64;
    peak * (left + 1.0) / (span + 1.0)
}

/// What a forward pass needs besides its examples.
pub(crate) struct Pass<'a> {
    pub llama: &'a Llama,
    /// The first trained block: examples carry the residual stream entering it.
    pub first: usize,
    pub trie: Option<&'a grlm::catalog::TokenTrie<'a>>,
    pub device: &'a Device,
}

impl Pass<'_> {
    /// The batch of `rows` and its summed loss.
    fn loss_sum(&self, rows: &[&Tokenized]) -> Result<(data::Batch, Tensor), TrainError> {
        let b = data::batch(rows, self.trie, self.device)?;
        let llama = self.llama;
        let hidden = match &b.prefix {
            Some(x) => llama.final_norm(&llama.blocks_forward(x.clone(), self.first..llama.config.n_layer)?)?,
            None => llama.hidden(&b.tokens)?,
        };
        let loss = llama.loss_sum(&hidden, &b.targets)?;
        Ok((b, loss))
    }
}

/// Mean loss over the answer tokens of `examples`, in the training passes' sizes (with an
/// adapter attached, candle keeps a pass's activations until its loss is dropped, so
/// evaluation needs the training pass's small batches too).
fn mean_loss(pass: &Pass<'_>, examples: &[Tokenized], micro: MicroBatch) -> Result<Option<f32>, TrainError> {
    if examples.is_empty() {
        return Ok(None);
    }
    let (mut sum, mut count) = (0.0f64, 0usize);
    let all: Vec<&Tokenized> = examples.iter().collect();
    for refs in micro.split(&all) {
        let (b, loss) = pass.loss_sum(&refs)?;
        if b.loss_tokens == 0 {
            continue;
        }
        sum += f64::from(loss.to_scalar::<f32>()?);
        count += b.loss_tokens;
    }
    Ok((count > 0).then(|| (sum / count as f64) as f32))
}

/// The mean loss over the answer tokens of `rows` and its gradient for every variable,
/// computed `micro` examples at a time and summed: the same gradient as one pass over the
/// whole batch, in the memory of one micro-batch (candle keeps every activation and its
/// gradient until the pass ends).
pub(crate) fn step_gradients(
    pass: &Pass<'_>,
    vars: &[Var],
    rows: &[&Tokenized],
    micro: MicroBatch,
) -> Result<(f32, Vec<Tensor>, usize), TrainError> {
    let total: usize = rows.iter().map(|r| r.loss_tokens()).sum();
    let mut sums: Vec<Option<Tensor>> = vec![None; vars.len()];
    let (mut loss_sum, mut real_tokens) = (0.0f64, 0usize);
    for part in micro.split(rows) {
        let (b, loss) = pass.loss_sum(&part)?;
        if b.loss_tokens == 0 {
            continue;
        }
        let loss = (loss / total as f64)?;
        loss_sum += f64::from(loss.to_scalar::<f32>()?);
        real_tokens += b.real_tokens;
        let grads = loss.backward()?;
        for (sum, var) in sums.iter_mut().zip(vars) {
            if let Some(g) = grads.get(var.as_tensor()) {
                *sum = Some(match sum.take() {
                    Some(s) => (s + g)?,
                    None => g.clone(),
                });
            }
        }
    }
    let g = sums
        .into_iter()
        .zip(vars)
        .map(|(s, v)| s.map_or_else(|| v.as_tensor().zeros_like(), Ok))
        .collect::<candle_core::Result<_>>()?;
    Ok((loss_sum as f32, g, real_tokens))
}

/// Opens the catalogue of `--catalog` and checks that its token trie was built with this
/// backbone's tokenizer.
pub(crate) fn open_catalog(path: &Path, vocab: &grlm::llm::Model) -> Result<grlm::catalog::Catalog, TrainError> {
    let catalog = grlm::catalog::Catalog::open(path)
        .map_err(|e| TrainError::Args(format!("--catalog {}: {e}", path.display())))?;
    catalog
        .verify()
        .map_err(|e| TrainError::Args(format!("--catalog {}: {e}", path.display())))?;
    let Some(trie) = catalog.token_trie() else {
        return Err(TrainError::Args(format!(
            "--catalog {} has no token trie; build it with --model",
            path.display()
        )));
    };
    let (expected, actual) = (trie.fingerprint(), vocab.fingerprint());
    if !expected.same_tokenizer(&actual) {
        return Err(TrainError::Args(format!(
            "--catalog {}: its token trie is for tokenizer {expected}, the backbone's is {actual}",
            path.display()
        )));
    }
    Ok(catalog)
}

/// How a step's examples are split into forward/backward passes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MicroBatch {
    /// Most examples in a pass.
    pub examples: usize,
    /// Most padded tokens in a pass (a longer single example still gets its own).
    pub tokens: Option<usize>,
}

impl MicroBatch {
    /// `rows` shortest first, cut into passes that respect both limits.
    fn split<'a>(self, rows: &[&'a Tokenized]) -> Vec<Vec<&'a Tokenized>> {
        let mut sorted = rows.to_vec();
        sorted.sort_by_key(|r| r.tokens.len());
        let mut parts: Vec<Vec<&Tokenized>> = Vec::new();
        for row in sorted {
            let fits = parts.last().is_some_and(|p| {
                // Sorted, so this row is the longest of the part it would join.
                p.len() < self.examples.max(1) && self.tokens.is_none_or(|t| (p.len() + 1) * row.tokens.len() <= t)
            });
            match parts.last_mut() {
                Some(part) if fits => part.push(row),
                _ => parts.push(vec![row]),
            }
        }
        parts
    }
}

/// Prints progress: in place on a terminal, a line every ~10 s otherwise.
struct Progress {
    tty: bool,
    last_line: Instant,
}

impl Progress {
    fn show(&mut self, line: &str, force: bool) {
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            if force {
                let _ = writeln!(err);
            }
        } else if force || self.last_line.elapsed().as_secs() >= 10 {
            let _ = writeln!(err, "{line}");
            self.last_line = Instant::now();
        }
    }
}

fn eta(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
}

/// Runs `grlm-train lora`: loads the model and the examples, starts or resumes the run,
/// trains, and writes the adapter when the run is complete.
pub fn run(args: &LoraArgs) -> Result<LoraSummary, TrainError> {
    let lora = checked_lora_config(args)?;
    let device = device(args.device)?;
    let (mut llama, vocab) = load_backbone(&args.base, &device)?;
    let bf16_kernel = llama
        .set_kernels(args.kernels, args.matmul == Precision::Bf16)?
        .then(|| crate::kernels::dnnl::get().map(|d| d.kernel.clone()))
        .flatten();
    let tokenize = |text: &str, bos: bool| vocab.tokenize(text, bos);
    let catalog = args.catalog.as_deref().map(|p| open_catalog(p, &vocab)).transpose()?;
    let trie = catalog.as_ref().and_then(|c| c.token_trie());
    let mut data = load_examples(args, &tokenize, trie.as_ref())?;
    let vars: Vec<Var> = attach(&mut llama, &lora, args.seed)?;
    let first = lora.first_block(llama.config.n_layer);
    let store_dir = checkpoint_dir(&args.out).join("prefix");
    let store = super::prefix::Store {
        dir: &store_dir,
        model_key: {
            let mut h = grlm::fnv::Fnv64::new();
            h.write(
                format!(
                    "{:?} {:?} {}",
                    llama.kernels(),
                    bf16_kernel,
                    backbone_identity(&args.base, &vocab)
                )
                .as_bytes(),
            );
            h.finish()
        },
    };
    super::prefix::cache_in(&llama, &mut data.train, first, "training examples", Some(&store))?;
    super::prefix::cache_in(&llama, &mut data.valid, first, "validation examples", Some(&store))?;
    let pass = Pass {
        llama: &llama,
        first,
        trie: trie.as_ref(),
        device: &device,
    };
    let mut run = Run::start_or_resume(args, &lora, &vocab, &data.train, &vars)?;
    let micro = MicroBatch {
        examples: args.micro_batch,
        tokens: args.micro_batch_tokens,
    };
    let valid_loss_before = mean_loss(&pass, &data.valid, micro)?;
    let finished = run.train(args, &pass, &vars, &data, &lora, micro)?;
    let valid_loss_after = mean_loss(&pass, &data.valid, micro)?;
    if finished {
        save_adapter(&llama, &lora, &args.out)?;
        if let Some(merged) = &args.merge_q8 {
            super::merge::write_merged_q8(&args.base, &llama, merged)?;
        }
    }
    let state = &run.state;
    Ok(LoraSummary {
        adapter: args.out.clone(),
        merged: args.merge_q8.clone().filter(|_| finished),
        finished,
        steps: state.step,
        total_steps: state.total_steps,
        examples: data.train.len(),
        skipped_too_long: data.skipped_too_long,
        train_tokens: state.tokens,
        tokens_per_second: run.session_tokens as f64 / run.started.elapsed().as_secs_f64().max(1e-9),
        train_seconds: state.seconds,
        first_loss: state.losses.first().copied(),
        last_loss: state.losses.last().copied(),
        valid_loss_before,
        valid_loss_after,
        device: args.device,
        kernels: llama.kernels(),
        valid_objective: if trie.is_some() {
            Objective::Trie
        } else {
            Objective::Full
        },
        bf16_kernel,
    })
}

/// The run's adapter shape, once its settings are checked.
fn checked_lora_config(args: &LoraArgs) -> Result<LoraConfig, TrainError> {
    if args.batch == 0 || args.epochs == 0 || args.max_tokens < 2 {
        return Err(TrainError::Args(
            "--batch and --epochs must be at least 1, --max-tokens at least 2".into(),
        ));
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(TrainError::Args(format!("--lr {} is not a positive number", args.lr)));
    }
    Ok(LoraConfig {
        rank: args.rank,
        alpha: args.alpha,
        targets: args.targets.clone(),
        layers: args.train_layers,
    })
}

/// The trainable model (candle) and the engine's tokenizer for it (llama.cpp's own, so
/// training tokens are the inference tokens).
pub(crate) fn load_backbone(base: &Path, device: &Device) -> Result<(Llama, grlm::llm::Model), TrainError> {
    // candle first: it says clearly when the architecture is not llama.
    let llama = Llama::load(base, device).map_err(LoraError::from)?;
    let vocab = grlm::llm::Model::load(
        base,
        &grlm::llm::ModelParams {
            vocab_only: true,
            ..Default::default()
        },
    )?;
    if vocab.vocab_size() as usize != llama.config.n_vocab {
        return Err(TrainError::Args(format!(
            "the tokenizer has {} tokens but the embedding {} rows",
            vocab.vocab_size(),
            llama.config.n_vocab
        )));
    }
    Ok((llama, vocab))
}

/// The tokenized examples a run trains and validates on.
struct Examples {
    train: Vec<Tokenized>,
    valid: Vec<Tokenized>,
    skipped_too_long: usize,
}

/// Reads `train.jsonl` (the chosen tasks, their caps and `--limit` applied, examples over
/// `--max-tokens` dropped and counted) and the first `--valid` validation examples.
fn load_examples(
    args: &LoraArgs,
    tokenize: &dyn Fn(&str, bool) -> Vec<u32>,
    trie: Option<&grlm::catalog::TokenTrie<'_>>,
) -> Result<Examples, TrainError> {
    let tokenized = |e: &crate::sft::Example, file: &Path, trie: Option<&grlm::catalog::TokenTrie<'_>>| match trie {
        None => Ok(data::tokenize(e, tokenize)),
        Some(trie) => data::tokenize_for_trie(e, tokenize, trie)
            .map_err(|reason| TrainError::Args(format!("{}: {reason}", file.display()))),
    };
    let train_trie = trie.filter(|_| args.objective == Objective::Trie);
    let train_path = args.data.join("train.jsonl");
    let mut examples = data::read_examples(&train_path, &args.tasks)?;
    for limit in &args.task_limit {
        examples = data::seeded_subset(examples, |e| e.task == limit.task, limit.examples, args.seed ^ 0x7a5c);
    }
    if let Some(limit) = args.limit {
        examples = data::seeded_subset(examples, |_| true, limit, args.seed ^ 0x5eed);
    }
    let mut skipped_too_long = 0;
    let mut train: Vec<Tokenized> = Vec::with_capacity(examples.len());
    for e in &examples {
        let t = tokenized(e, &train_path, train_trie)?;
        let keep = t.tokens.len() <= args.max_tokens;
        skipped_too_long += usize::from(!keep);
        if keep && t.loss_tokens() > 0 {
            train.push(t);
        }
    }
    if train.is_empty() {
        return Err(data::DataError::Empty(format!(
            "{}: no training examples of tasks {} within --max-tokens {}",
            train_path.display(),
            args.tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(","),
            args.max_tokens
        ))
        .into());
    }
    let valid_path = args.data.join("valid.jsonl");
    let mut valid: Vec<Tokenized> = Vec::new();
    if args.valid > 0 {
        for e in data::read_examples(&valid_path, &[Task::Sequence])?
            .iter()
            .take(args.valid)
        {
            let t = tokenized(e, &valid_path, trie)?;
            if t.tokens.len() <= args.max_tokens {
                valid.push(t);
            }
        }
    }
    Ok(Examples {
        train,
        valid,
        skipped_too_long,
    })
}

/// A run in progress: its checkpointed state, its optimizer, and what this invocation did.
struct Run {
    state: RunState,
    adam: AdamW,
    checkpoints: PathBuf,
    steps_per_epoch: u64,
    started: Instant,
    session_tokens: u64,
}

impl Run {
    /// A fresh run, or the checkpointed one with `--resume` (which must be of the same
    /// model, data and settings).
    fn start_or_resume(
        args: &LoraArgs,
        lora: &LoraConfig,
        vocab: &grlm::llm::Model,
        train: &[Tokenized],
        vars: &[Var],
    ) -> Result<Self, TrainError> {
        let adam_config = AdamWConfig {
            lr: args.lr,
            ..Default::default()
        };
        let mut adam = AdamW::new(vars, adam_config.clone())?;
        let steps_per_epoch = train.len().div_ceil(args.batch) as u64;
        let identity = RunIdentity {
            lora: lora.clone(),
            adam: adam_config,
            batch: args.batch,
            max_tokens: args.max_tokens,
            seed: args.seed,
            epochs: args.epochs,
            examples: train.len(),
            data_hash: data_hash(train),
            base: backbone_identity(&args.base, vocab),
        };
        let checkpoints = checkpoint_dir(&args.out);
        let mut state = RunState {
            identity: identity.clone(),
            step: 0,
            total_steps: steps_per_epoch * args.epochs as u64,
            tokens: 0,
            seconds: 0.0,
            losses: Vec::new(),
            tensors: String::new(),
        };
        match checkpoint::load(&checkpoints)? {
            Some((saved, tensors)) if args.resume => {
                if saved.identity != identity {
                    return Err(TrainError::Args(format!(
                        "the checkpoint in {} is of another run (model, data or settings differ); \
                         remove it or use the settings it was made with: {}",
                        checkpoints.display(),
                        serde_json::to_string(&saved.identity).unwrap_or_default()
                    )));
                }
                checkpoint::restore(&tensors, vars, &mut adam, saved.step)?;
                state = saved;
            }
            Some(_) => {
                return Err(TrainError::Args(format!(
                    "{} holds a checkpoint: pass --resume to continue it, or remove it to start over",
                    checkpoints.display()
                )))
            }
            None if args.resume => {
                return Err(TrainError::Args(format!(
                    "--resume: no checkpoint in {}",
                    checkpoints.display()
                )));
            }
            None => {}
        }
        Ok(Run {
            state,
            adam,
            checkpoints,
            steps_per_epoch,
            started: Instant::now(),
            session_tokens: 0,
        })
    }

    /// Steps until the run is complete (true) or `--stop-after` steps of this invocation
    /// are done (false), checkpointing every `--checkpoint-every` steps and at the end.
    fn train(
        &mut self,
        args: &LoraArgs,
        pass: &Pass<'_>,
        vars: &[Var],
        data: &Examples,
        lora: &LoraConfig,
        micro: MicroBatch,
    ) -> Result<bool, TrainError> {
        let train = &data.train[..];
        // --time-limit counts training steps only, not the validation passes around them.
        let began = Instant::now();
        let mut progress = Progress {
            tty: std::io::stderr().is_terminal(),
            last_line: Instant::now(),
        };
        // Training time is added to the state at each checkpoint, so it survives resumes.
        let mut last_count = self.started;
        let (mut interval_loss, mut interval_n) = (0.0f64, 0u32);
        let mut done_this_call = 0u64;
        let mut finished = true;
        // The current epoch's batches: a pure function of the seed and the epoch, so a
        // resumed run picks up exactly where the interrupted one was.
        let mut batches: Option<(u64, Vec<Vec<usize>>)> = None;
        let steps_per_epoch = self.steps_per_epoch;
        while self.state.step < self.state.total_steps {
            let out_of_time = args
                .time_limit
                .is_some_and(|limit| began.elapsed().as_secs_f64() >= limit);
            if out_of_time || args.stop_after.is_some_and(|n| done_this_call >= n) {
                finished = false;
                break;
            }
            let epoch = self.state.step / steps_per_epoch;
            if batches.as_ref().is_none_or(|(e, _)| *e != epoch) {
                batches = Some((
                    epoch,
                    data::epoch_batches(train, args.batch, args.seed.wrapping_add(epoch)),
                ));
            }
            let this_epoch = &batches.as_ref().expect("just set").1;
            let rows: Vec<&Tokenized> = this_epoch[(self.state.step % steps_per_epoch) as usize]
                .iter()
                .map(|&i| &train[i])
                .collect();
            let lr = learning_rate(args.lr, self.state.step + 1, args.warmup, self.state.total_steps);
            let (value, g, real_tokens) = step_gradients(pass, vars, &rows, micro)?;
            if !value.is_finite() {
                return Err(TrainError::Diverged {
                    step: self.state.step + 1,
                    loss: value,
                    lr,
                });
            }
            self.adam.step(vars, &g, lr)?;
            self.state.step += 1;
            done_this_call += 1;
            self.state.tokens += real_tokens as u64;
            self.session_tokens += real_tokens as u64;
            interval_loss += f64::from(value);
            interval_n += 1;

            let elapsed = self.started.elapsed().as_secs_f64();
            let per_step = elapsed / done_this_call as f64;
            let line = format!(
                "step {}/{} epoch {} loss {value:.3} lr {lr:.2e} {:.0} tok/s ETA {}",
                self.state.step,
                self.state.total_steps,
                epoch + 1,
                self.session_tokens as f64 / elapsed.max(1e-9),
                eta(per_step * (self.state.total_steps - self.state.step) as f64)
            );
            let save_now =
                self.state.step % args.checkpoint_every.max(1) == 0 || self.state.step == self.state.total_steps;
            progress.show(&line, save_now);
            if save_now {
                self.state
                    .losses
                    .push((interval_loss / f64::from(interval_n.max(1))) as f32);
                (interval_loss, interval_n) = (0.0, 0);
                self.state.seconds += last_count.elapsed().as_secs_f64();
                last_count = Instant::now();
                if args.snapshot_every.is_some_and(|n| self.state.step % n.max(1) == 0) {
                    self.snapshot(args, pass, &data.valid, lora, micro)?;
                }
                checkpoint::save(&self.checkpoints, vars, &self.adam, &mut self.state)?;
            }
        }
        if interval_n > 0 {
            self.state.losses.push((interval_loss / f64::from(interval_n)) as f32);
            self.state.seconds += last_count.elapsed().as_secs_f64();
            checkpoint::save(&self.checkpoints, vars, &self.adam, &mut self.state)?;
        }
        Ok(finished)
    }
}

/// The base model as a checkpoint records it: file size and tokenizer fingerprint.
fn backbone_identity(base: &Path, vocab: &grlm::llm::Model) -> String {
    format!(
        "{} bytes, tokenizer {}",
        std::fs::metadata(base).map(|m| m.len()).unwrap_or(0),
        vocab.fingerprint()
    )
}

/// One point of a run's learning curve (`<out>.snapshots/curve.jsonl`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CurvePoint {
    /// Optimizer steps done.
    pub step: u64,
    /// Tokens trained on.
    pub tokens: u64,
    /// Seconds of training.
    pub seconds: f64,
    /// Mean training loss since the previous checkpoint.
    pub train_loss: Option<f32>,
    /// Mean validation loss.
    pub valid_loss: Option<f32>,
    /// The adapter at this step.
    pub adapter: PathBuf,
}

/// `<out>.snapshots`, beside the adapter.
pub fn snapshot_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".snapshots");
    out.with_file_name(name)
}

impl Run {
    /// Writes the adapter as it is now and its point of the learning curve (before the
    /// checkpoint of the same step: a crash in between redoes both).
    fn snapshot(
        &self,
        args: &LoraArgs,
        pass: &Pass<'_>,
        valid: &[Tokenized],
        lora: &LoraConfig,
        micro: MicroBatch,
    ) -> Result<(), TrainError> {
        let dir = snapshot_dir(&args.out);
        let io = |e: std::io::Error| {
            TrainError::Lora(LoraError::File {
                path: dir.clone(),
                reason: e.to_string(),
            })
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let adapter = dir.join(format!("step-{:06}.gguf", self.state.step));
        save_adapter(pass.llama, lora, &adapter)?;
        let point = CurvePoint {
            step: self.state.step,
            tokens: self.state.tokens,
            seconds: self.state.seconds,
            train_loss: self.state.losses.last().copied(),
            valid_loss: mean_loss(pass, valid, micro)?,
            adapter,
        };
        let mut line = serde_json::to_string(&point).map_err(|e| TrainError::Args(e.to_string()))?;
        line.push('\n');
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("curve.jsonl"))
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(io)?;
        eprintln!(
            "snapshot at step {}: validation loss {:?}",
            self.state.step, point.valid_loss
        );
        Ok(())
    }
}

/// `<out>.ckpt`, beside the adapter.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".ckpt");
    out.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::tests::tiny_files;
    use crate::lora::tests::{liven, relative_gap};

    /// Three examples of different lengths, every other token learned.
    fn three_rows() -> Vec<Tokenized> {
        [(3usize, 9usize), (7, 4), (2, 13)]
            .iter()
            .map(|&(start, len)| Tokenized {
                tokens: (start as u32..(start + len) as u32).collect(),
                loss: (0..len).map(|j| j % 2 == 1).collect(),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn micro_batches_give_the_whole_batch_gradient() {
        let dir = tempfile::tempdir().unwrap();
        let mut llama = Llama::load(&tiny_files(dir.path()), &Device::Cpu).unwrap();
        let vars = attach(&mut llama, &LoraConfig::default().with_rank(4), 5).unwrap();
        liven(&vars, 0.01);
        let rows = three_rows();
        let refs: Vec<&Tokenized> = rows.iter().collect();
        let micro = |examples, tokens| MicroBatch { examples, tokens };
        let pass = Pass {
            llama: &llama,
            first: 0,
            trie: None,
            device: &Device::Cpu,
        };
        let (whole, g_whole, tokens) = step_gradients(&pass, &vars, &refs, micro(3, None)).unwrap();
        // One example a pass, and passes of at most 20 padded tokens (4+9, then 13).
        for split in [micro(1, None), micro(3, Some(20))] {
            let (parts, g_parts, tokens_parts) = step_gradients(&pass, &vars, &refs, split).unwrap();
            assert_eq!(tokens, tokens_parts);
            assert!((whole - parts).abs() < 1e-5, "{whole} vs {parts}");
            for (a, b) in g_whole.iter().zip(&g_parts) {
                let diff: f32 = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
                let size: f32 = a.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
                assert!(diff <= 1e-4 * size.max(1e-6), "{diff} vs {size}");
            }
        }
    }

    #[test]
    fn the_cached_prefix_gives_the_gradient_of_the_whole_forward() {
        for kernels in [Kernels::Plain, Kernels::Fused] {
            let dir = tempfile::tempdir().unwrap();
            let mut llama = Llama::load(&tiny_files(dir.path()), &Device::Cpu).unwrap();
            llama.set_kernels(kernels, false).unwrap();
            let config = LoraConfig {
                layers: Some(1),
                ..LoraConfig::default().with_rank(4)
            };
            let vars = attach(&mut llama, &config, 5).unwrap();
            assert_eq!(vars.len(), 2 * 7, "one block adapted");
            liven(&vars, 0.01);
            let mut rows = three_rows();
            let micro = MicroBatch {
                examples: 2,
                tokens: None,
            };
            let whole = |first, rows: &[Tokenized]| {
                let pass = Pass {
                    llama: &llama,
                    first,
                    trie: None,
                    device: &Device::Cpu,
                };
                let refs: Vec<&Tokenized> = rows.iter().collect();
                step_gradients(&pass, &vars, &refs, micro).unwrap()
            };
            let (loss, g, _) = whole(0, &rows);
            let first = config.first_block(llama.config.n_layer);
            assert_eq!(first, 1);
            crate::lora::prefix::cache(&llama, &mut rows, first, "test").unwrap();
            assert!(rows
                .iter()
                .all(|r| r.prefix.len() == r.tokens.len() * llama.config.n_embd));
            let (cached, g_cached, _) = whole(first, &rows);
            // The cache holds f16: agreement to about its precision.
            assert!(
                (loss - cached).abs() < 1e-3 * loss.abs(),
                "{kernels:?}: {loss} vs {cached}"
            );
            let gap = relative_gap(&g, &g_cached);
            assert!(gap < 5e-3, "{kernels:?}: gradients differ by {gap}");
        }
    }

    #[test]
    fn task_limits_parse_as_task_equals_count() {
        let limit = |text: &str| text.parse::<TaskLimit>();
        let expect = |task, examples| Ok(TaskLimit { task, examples });
        assert_eq!(limit("sequence=500"), expect(Task::Sequence, 500));
        assert_eq!(limit(" transitions = 7 "), expect(Task::Transitions, 7));
        for bad in ["sequence", "bogus=3", "terms=x", "terms=-1", "=4"] {
            assert!(limit(bad).is_err(), "{bad}");
        }
        assert_eq!(limit("sequence").unwrap_err(), "\"sequence\" is not TASK=N");
        assert!(limit("bogus=3").unwrap_err().contains("unknown task \"bogus\""));
    }

    #[test]
    fn passes_respect_both_limits_shortest_first() {
        let rows: Vec<Tokenized> = [5usize, 30, 6, 7, 12, 40]
            .iter()
            .map(|&len| Tokenized {
                tokens: vec![1; len],
                loss: vec![true; len],
                ..Default::default()
            })
            .collect();
        let refs: Vec<&Tokenized> = rows.iter().collect();
        let lengths = |m: MicroBatch| -> Vec<Vec<usize>> {
            m.split(&refs)
                .iter()
                .map(|p| p.iter().map(|r| r.tokens.len()).collect())
                .collect()
        };
        let m = |examples, tokens| MicroBatch { examples, tokens };
        assert_eq!(lengths(m(2, None)), [vec![5, 6], vec![7, 12], vec![30, 40]]);
        assert_eq!(lengths(m(8, Some(48))), [vec![5, 6, 7, 12], vec![30], vec![40]]);
        assert_eq!(lengths(m(3, Some(36))), [vec![5, 6, 7], vec![12], vec![30], vec![40]]);
    }

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        assert_eq!(learning_rate(1.0, 1, 4, 10), 0.25);
        assert_eq!(learning_rate(1.0, 4, 4, 10), 1.0);
        assert!(learning_rate(1.0, 5, 4, 10) <= 1.0);
        assert!(learning_rate(1.0, 10, 4, 10) > 0.0);
        assert!(learning_rate(1.0, 10, 4, 10) < learning_rate(1.0, 6, 4, 10));
    }
}
