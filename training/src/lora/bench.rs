//! `grlm-train lora-bench`: training configurations side by side on the same examples.
//!
//! Every configuration takes the same optimizer steps on the same batches, one step each in
//! turn (so a busy machine slows all of them alike), and the report gives per-step medians
//! of tokens/s and targets/s (answer lines) and their ratio to the first configuration.
//! A configuration that freezes the lower blocks pays for caching their output once; that
//! cost is reported per token beside the step rate, and folded into a rate per epoch.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Var;

use super::data::{self, Tokenized};
use super::optim::{AdamW, AdamWConfig};
use super::train::{load_backbone, open_catalog, step_gradients, MicroBatch, Pass, TrainError};
use super::{attach, LoraConfig};
use crate::llama::Kernels;
use crate::sft::Task;

/// `grlm-train lora-bench`: time training configurations on the same batches.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct BenchArgs {
    /// The base model.
    #[cfg_attr(feature = "cli", arg(long, value_name = "M.gguf"))]
    pub base: PathBuf,
    /// The directory `grlm-train sft` wrote.
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR"))]
    pub data: PathBuf,
    /// The catalogue for configurations with the trie objective.
    #[cfg_attr(feature = "cli", arg(long, value_name = "C.grlm"))]
    pub catalog: PathBuf,
    /// Configurations, comma-separated: `today` (plain ops, f32, every block, full softmax),
    /// `fused`, `bf16`, `trie`, `topN` (e.g. `top8`: adapters on the last N blocks, the rest
    /// cached) — each today's configuration with that one change — and `default` (all of
    /// them, with --train-layers blocks). `NAME@T` runs a configuration with passes of at
    /// most T padded tokens instead of --micro-batch-tokens (e.g. `default@2048`: with
    /// most blocks frozen, a pass needs a fraction of the memory). The first is the
    /// baseline of the ratios.
    #[cfg_attr(feature = "cli", arg(long, default_value = "today,default", value_delimiter = ','))]
    pub configs: Vec<String>,
    /// Optimizer steps per configuration.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 8))]
    pub steps: usize,
    /// Examples per step.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 16))]
    pub batch: usize,
    /// Most padded tokens per forward/backward pass.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 640))]
    pub micro_batch_tokens: usize,
    /// Adapted blocks of `default`.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 8))]
    pub train_layers: usize,
    /// Tasks the examples are drawn from.
    #[cfg_attr(feature = "cli", arg(long, default_value = "terms,sequence", value_delimiter = ','))]
    pub tasks: Vec<Task>,
    /// Epochs over which `default`'s one-off caching is spread in the per-epoch rate.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 3))]
    pub epochs: usize,
    /// Seed of the examples drawn.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 7))]
    pub seed: u64,
    /// CPU threads (default: all cores).
    #[cfg_attr(feature = "cli", arg(long))]
    pub threads: Option<usize>,
}

/// One configuration's timings.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchRun {
    /// Its name.
    pub config: String,
    /// Median tokens per second of its steps.
    pub tokens_per_second: f64,
    /// Median answer lines (targets) per second.
    pub targets_per_second: f64,
    /// Seconds per token of caching the frozen blocks (0 without).
    pub cache_seconds_per_token: f64,
    /// Tokens per second over `--epochs` epochs with the caching paid once.
    pub tokens_per_second_over_epochs: f64,
    /// Ratios to the baseline (first configuration): step rate, and with caching paid.
    pub ratio: f64,
    /// See `ratio`.
    pub ratio_over_epochs: f64,
    /// Mean loss of its steps (its own objective).
    pub mean_loss: f64,
    /// Whether the frozen products ran in bf16.
    pub bf16: bool,
}

/// The report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// Steps per configuration.
    pub steps: usize,
    /// Examples per step.
    pub batch: usize,
    /// Tokens per step (same for every configuration).
    pub tokens: Vec<usize>,
    /// One entry per configuration, in the order given.
    pub runs: Vec<BenchRun>,
    /// The kernel oneDNN chose for bf16 products, if it loaded.
    pub bf16_kernel: Option<String>,
}

/// One configuration's settings.
struct Config {
    name: String,
    pass_tokens: Option<usize>,
    kernels: Kernels,
    bf16: bool,
    trie: bool,
    layers: Option<usize>,
}

fn parse_config(full: &str, default_layers: usize) -> Option<Config> {
    let (name, pass_tokens) = match full.split_once('@') {
        Some((name, tokens)) => (name, Some(tokens.parse().ok().filter(|&t| t > 0)?)),
        None => (full, None),
    };
    let config = parse_named(name, default_layers)?;
    Some(Config {
        name: full.to_owned(),
        pass_tokens,
        ..config
    })
}

fn parse_named(name: &str, default_layers: usize) -> Option<Config> {
    let today = |name: &str| Config {
        name: name.to_owned(),
        pass_tokens: None,
        kernels: Kernels::Plain,
        bf16: false,
        trie: false,
        layers: None,
    };
    Some(match name {
        "today" => today(name),
        "fused" => Config {
            kernels: Kernels::Fused,
            ..today(name)
        },
        "bf16" => Config {
            kernels: Kernels::Fused,
            bf16: true,
            ..today(name)
        },
        "trie" => Config {
            trie: true,
            ..today(name)
        },
        "default" => Config {
            name: name.to_owned(),
            pass_tokens: None,
            kernels: Kernels::Fused,
            bf16: true,
            trie: true,
            layers: Some(default_layers),
        },
        _ => Config {
            layers: Some(name.strip_prefix("top")?.parse().ok().filter(|&n| n > 0)?),
            ..today(name)
        },
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A configuration ready to step: its model, adapter, optimizer and examples.
struct Live {
    config: Config,
    llama: crate::llama::Llama,
    vars: Vec<Var>,
    adam: AdamW,
    examples: Vec<Tokenized>,
    /// The first adapted block: examples carry the residual stream entering it.
    first: usize,
    cache_seconds: f64,
    seconds: Vec<f64>,
    losses: Vec<f64>,
    bf16: bool,
}

/// Runs `grlm-train lora-bench`.
pub fn run(args: &BenchArgs) -> Result<BenchReport, TrainError> {
    let configs: Vec<Config> = args
        .configs
        .iter()
        .map(|c| {
            parse_config(c.trim(), args.train_layers)
                .ok_or_else(|| TrainError::Args(format!("unknown configuration {c:?}")))
        })
        .collect::<Result<_, _>>()?;
    if configs.is_empty() || args.steps == 0 || args.batch == 0 {
        return Err(TrainError::Args(
            "give at least one configuration, step and example".into(),
        ));
    }
    let device = candle_core::Device::Cpu;
    let (base, vocab) = load_backbone(&args.base, &device)?;
    let catalog = open_catalog(&args.catalog, &vocab)?;
    let trie = catalog.token_trie().expect("open_catalog checked it");
    let tokenize = |text: &str, bos: bool| vocab.tokenize(text, bos);
    let all = data::read_examples(&args.data.join("train.jsonl"), &args.tasks)?;
    let wanted = args.steps * args.batch;
    let order = data::permutation(all.len(), args.seed);
    let chosen: Vec<&crate::sft::Example> = order.iter().take(wanted).map(|&i| &all[i]).collect();
    let plain: Vec<Tokenized> = chosen.iter().map(|e| data::tokenize(e, &tokenize)).collect();
    let with_trie: Vec<Tokenized> = chosen
        .iter()
        .map(|e| data::tokenize_for_trie(e, &tokenize, &trie).map_err(TrainError::Args))
        .collect::<Result<_, _>>()?;
    let mut live = Vec::new();
    let mut bf16_kernel = None;
    for config in configs {
        let mut llama = base.clone();
        let bf16 = llama.set_kernels(config.kernels, config.bf16)?;
        if bf16 {
            bf16_kernel = crate::kernels::dnnl::get().map(|d| d.kernel.clone());
        }
        let lora = LoraConfig {
            layers: config.layers,
            ..LoraConfig::default()
        };
        let vars = attach(&mut llama, &lora, 1)?;
        let adam = AdamW::new(&vars, AdamWConfig::default())?;
        let mut examples = if config.trie { with_trie.clone() } else { plain.clone() };
        let first = lora.first_block(llama.config.n_layer);
        let started = Instant::now();
        super::prefix::cache(&llama, &mut examples, first, &config.name)?;
        live.push(Live {
            first,
            cache_seconds: started.elapsed().as_secs_f64(),
            config,
            llama,
            vars,
            adam,
            examples,
            seconds: Vec::new(),
            losses: Vec::new(),
            bf16,
        });
    }
    let mut step_tokens = Vec::new();
    let mut step_targets = Vec::new();
    for step in 0..args.steps {
        let range = step * args.batch..(step + 1) * args.batch;
        step_tokens.push(plain[range.clone()].iter().map(|t| t.tokens.len()).sum::<usize>());
        step_targets.push(plain[range.clone()].iter().map(|t| t.targets as usize).sum::<usize>());
        for l in &mut live {
            let rows: Vec<&Tokenized> = l.examples[range.clone()].iter().collect();
            let pass = Pass {
                llama: &l.llama,
                first: l.first,
                trie: Some(&trie),
                device: &device,
            };
            let micro = MicroBatch {
                examples: args.batch,
                tokens: Some(l.config.pass_tokens.unwrap_or(args.micro_batch_tokens)),
            };
            let started = Instant::now();
            let (loss, grads, _) = step_gradients(&pass, &l.vars, &rows, micro)?;
            l.adam.step(&l.vars, &grads, 1e-4)?;
            l.seconds.push(started.elapsed().as_secs_f64());
            l.losses.push(f64::from(loss));
            eprintln!(
                "step {}/{} {}: {:.2} s",
                step + 1,
                args.steps,
                l.config.name,
                l.seconds.last().unwrap_or(&0.0)
            );
        }
    }
    let total_tokens: usize = step_tokens.iter().sum();
    let rate =
        |l: &Live, per_step: &[usize]| median(per_step.iter().zip(&l.seconds).map(|(&n, &s)| n as f64 / s).collect());
    let mut runs: Vec<BenchRun> = live
        .iter()
        .map(|l| {
            let tokens_per_second = rate(l, &step_tokens);
            let cache_seconds_per_token = l.cache_seconds / total_tokens.max(1) as f64;
            let per_epoch = 1.0 / tokens_per_second + cache_seconds_per_token / args.epochs.max(1) as f64;
            BenchRun {
                config: l.config.name.clone(),
                tokens_per_second,
                targets_per_second: rate(l, &step_targets),
                cache_seconds_per_token,
                tokens_per_second_over_epochs: 1.0 / per_epoch,
                ratio: 0.0,
                ratio_over_epochs: 0.0,
                mean_loss: l.losses.iter().sum::<f64>() / l.losses.len().max(1) as f64,
                bf16: l.bf16,
            }
        })
        .collect();
    let (base_rate, base_epochs) = (runs[0].targets_per_second, runs[0].tokens_per_second_over_epochs);
    for r in &mut runs {
        r.ratio = r.targets_per_second / base_rate;
        r.ratio_over_epochs = r.tokens_per_second_over_epochs / base_epochs;
    }
    Ok(BenchReport {
        steps: args.steps,
        batch: args.batch,
        tokens: step_tokens,
        runs,
        bf16_kernel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_parse_by_name() {
        let c = parse_config("top6", 8).unwrap();
        assert_eq!(
            (c.layers, c.kernels, c.bf16, c.trie),
            (Some(6), Kernels::Plain, false, false)
        );
        let d = parse_config("default", 8).unwrap();
        assert_eq!(
            (d.layers, d.kernels, d.bf16, d.trie),
            (Some(8), Kernels::Fused, true, true)
        );
        assert!(parse_config("top0", 8).is_none() && parse_config("fast", 8).is_none());
        let t = parse_config("default@2048", 8).unwrap();
        assert_eq!(
            (t.name.as_str(), t.pass_tokens, t.layers),
            ("default@2048", Some(2048), Some(8))
        );
        assert!(parse_config("default@0", 8).is_none() && parse_config("default@x", 8).is_none());
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
