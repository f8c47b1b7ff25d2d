//! `grlm bench`: a portable benchmark. A fixed, seeded workload of real histories — each a
//! cold request, then a warm one after appending the user's next item, then that warm
//! request again on a session restored from the state saved after the cold one (a user
//! returning to a closed app) — timed against the same llama.cpp calls replayed bare in the
//! same process, with load time, memory and the machine, as one JSON document (schema
//! `grlm-bench/5`, documented in docs/bench.md) that compares across devices. With
//! `--prior-weights`, each request runs once per weight, the variants alternating request
//! by request so that they share the machine's state.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use grlm::prior::PriorParams;
use grlm::rng::sample_sorted;
use grlm::sequences::read_sequences;
use grlm::sequences::Sequence;
use grlm::{Catalog, RecommendParams};
use serde::Serialize;

use crate::bench_svg;
use crate::recommend_cmd::EngineArgs;

/// The `schema` field of the JSON output; bumped whenever a documented field changes.
pub const SCHEMA: &str = "grlm-bench/5";

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// sequences.txt: users whose histories make the workload.
    #[arg(long)]
    sequences: PathBuf,
    /// Users in the workload (each gives one cold and one warm request), drawn with `--seed`
    /// from those whose first `--history`+1 items are all in the catalogue.
    #[arg(long, alias = "users", default_value_t = 20)]
    requests: usize,
    /// Seed of the draw: the same file, seed and sizes give the same workload everywhere.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Items in the cold history; the warm request appends the next one.
    #[arg(long, default_value_t = 20)]
    history: usize,
    /// Items to return.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Beam width [default: each weight's own default width, 10 fused with the prior and 20
    /// for the model alone, at least -k].
    #[arg(long)]
    beams: Option<usize>,
    /// Thread counts to time, comma-separated.
    #[arg(long = "thread-counts", value_delimiter = ',', default_value = "1,2")]
    thread_counts: Vec<u32>,
    /// Prior weights to time, comma-separated (0: the model alone; needs a catalogue with a
    /// prior for any other). Default: 0 only.
    #[arg(long, value_delimiter = ',', default_value = "0", allow_negative_numbers = true)]
    prior_weights: Vec<f64>,
    /// Cold slots of every fused request (`--cold-slots` of `grlm recommend`; default: the
    /// library's, one place in ten): their second search is timed with the rest.
    #[arg(long, value_name = "N")]
    cold_slots: Option<usize>,
    /// Skip replaying each request's llama.cpp calls bare (halves the run; no overhead ratio).
    #[arg(long)]
    no_baseline: bool,
    /// A free-form name for the device or setting, copied into the output ("pixel-8", "qemu").
    #[arg(long)]
    label: Option<String>,
    /// Print the result as one line of JSON instead of indented JSON plus progress.
    #[arg(long)]
    json: bool,
    /// Also draw the latency distributions (cumulative, cold and warm) as SVG into FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// Latencies and counts of one thread count's requests, in workload order.
#[derive(Default)]
pub struct Samples {
    pub cold: Vec<f64>,
    pub warm: Vec<f64>,
    pub restored: Vec<f64>,
    pub restored_prompt_tokens: Vec<f64>,
    pub state_bytes: Vec<f64>,
    pub save_ms: Vec<f64>,
    pub restore_ms: Vec<f64>,
    pub bare_cold: Vec<f64>,
    pub bare_warm: Vec<f64>,
    pub cold_prompt_tokens: Vec<f64>,
    pub warm_prompt_tokens: Vec<f64>,
    pub beam_tokens: Vec<f64>,
    pub cold_calls: Vec<f64>,
    pub cold_logits_rows: Vec<f64>,
    pub beam_steps: Vec<f64>,
    pub cold_prompt_rate: Vec<f64>,
    pub warm_prompt_rate: Vec<f64>,
    pub cold_generation_rate: Vec<f64>,
    pub warm_generation_rate: Vec<f64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank quantile (`q` in 0..=1) of unsorted values; NaN when there are none.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// Quantiles and mean of a list of latencies (ms) or counts.
#[derive(Serialize)]
struct Summary {
    p50: f64,
    p90: f64,
    p95: f64,
    p99: f64,
    mean: f64,
    min: f64,
    max: f64,
}

fn summary(values: &[f64]) -> Summary {
    Summary {
        p50: quantile(values, 0.5),
        p90: quantile(values, 0.9),
        p95: quantile(values, 0.95),
        p99: quantile(values, 0.99),
        mean: values.iter().sum::<f64>() / values.len() as f64,
        min: quantile(values, 0.0),
        max: quantile(values, 1.0),
    }
}

/// The `grlm-bench/5` document. NaN (nothing measured) is written as null.
#[derive(Serialize)]
struct Report {
    schema: &'static str,
    label: Option<String>,
    machine: Machine,
    workload: Workload,
    load: Load,
    memory: MemoryReport,
    runs: Vec<Run>,
    seconds: f64,
}

#[derive(Serialize)]
struct Workload {
    model: String,
    model_bytes: Option<u64>,
    catalog: String,
    catalog_bytes: Option<u64>,
    catalog_items: usize,
    catalog_has_prior: bool,
    sequences: String,
    seed: u64,
    requests: usize,
    history: usize,
    k: usize,
    beams: Option<usize>,
    mode: &'static str,
    prior_weights: Vec<f64>,
    cold_slots: usize,
}

#[derive(Serialize)]
struct Load {
    engine_open_ms: f64,
}

#[derive(Serialize)]
struct MemoryReport {
    points: Vec<MemoryPoint>,
    peak_rss_mb: Option<f64>,
}

#[derive(Serialize)]
struct MemoryPoint {
    at: &'static str,
    rss_mb: Option<f64>,
    anon_mb: Option<f64>,
    file_mb: Option<f64>,
    model_mb: Option<f64>,
    catalog_mb: Option<f64>,
}

#[derive(Serialize)]
struct Machine {
    target: &'static str,
    arch: &'static str,
    os: &'static str,
    kernel: Option<String>,
    cpu: Option<String>,
    logical_cores: Option<usize>,
    backends: Vec<&'static str>,
    /// The instruction sets llama.cpp's kernels were built for (this build, not the CPU).
    cpu_features: Option<String>,
    /// The CPU kernels that ran: a `cpu-variants` build's choice for this CPU, or
    /// `built-in`.
    cpu_variant: Option<&'static str>,
    grlm_version: &'static str,
}

/// One thread count and prior weight.
#[derive(Serialize)]
struct Run {
    threads: u32,
    prior_weight: f64,
    beams: usize,
    session_ms: f64,
    cold_ms: Summary,
    warm_ms: Summary,
    restored_ms: Summary,
    state: StateReport,
    prompt_tokens_per_s: ColdWarm,
    generation_tokens_per_s: ColdWarm,
    tokens: Tokens,
    bare_llama: Option<Bare>,
    samples: SampleLists,
}

/// The saved session states: one per user, saved after the cold request.
#[derive(Serialize)]
struct StateReport {
    bytes: Summary,
    save_ms: Summary,
    restore_ms: Summary,
    restored_prompt_tokens: f64,
}

#[derive(Serialize)]
struct ColdWarm {
    cold: f64,
    warm: f64,
}

#[derive(Serialize)]
struct Tokens {
    cold_prompt: f64,
    warm_prompt: f64,
    beam_steps: f64,
    beam_tokens: f64,
    cold_calls: f64,
    cold_logits_rows: f64,
}

/// The same llama.cpp calls replayed without the engine, and the engine's time over theirs.
#[derive(Serialize)]
struct Bare {
    cold_ms_p50: f64,
    warm_ms_p50: f64,
    overhead_cold: f64,
    overhead_warm: f64,
}

#[derive(Serialize)]
struct SampleLists {
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    restored_ms: Vec<f64>,
}

/// Tokens per second, or NaN (JSON null) when no time was measured.
fn rate(tokens: u64, time: Duration) -> f64 {
    if time.is_zero() {
        f64::NAN
    } else {
        tokens as f64 / time.as_secs_f64()
    }
}

/// Memory of this process from /proc/self/status, in MB; None off Linux.
struct Memory {
    rss: f64,
    anon: f64,
    file: f64,
    peak: f64,
}

fn memory() -> Option<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        anon: field("RssAnon:")?,
        file: field("RssFile:")?,
        peak: field("VmHWM:")?,
    })
}

/// Resident MB of this process's mappings of `file`, from /proc/self/smaps; None off Linux.
fn mapped_mb(file: &Path) -> Option<f64> {
    let file = std::fs::canonicalize(file).ok()?;
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    let mut kb = 0.0;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: address range, perms, offset, device, inode, then the
            // path, which may hold spaces.
            inside = line.find('/').is_some_and(|at| Path::new(&line[at..]) == file);
        } else if inside && first == "Rss:" {
            kb += fields.next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        }
    }
    Some(kb / 1024.0)
}

fn memory_point(at: &'static str, model: &Path, catalog: &Path) -> MemoryPoint {
    let m = memory();
    MemoryPoint {
        at,
        rss_mb: m.as_ref().map(|m| m.rss),
        anon_mb: m.as_ref().map(|m| m.anon),
        file_mb: m.as_ref().map(|m| m.file),
        model_mb: mapped_mb(model),
        catalog_mb: mapped_mb(catalog),
    }
}

/// What the numbers were measured on. The CPU name comes from /proc/cpuinfo where it has
/// one; under user-mode emulation that may describe the host, so say so with `--label`.
fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = ["model name", "Hardware", "Processor", "cpu model", "uarch"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
            })
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    Machine {
        target: grlm::BUILD_TARGET,
        arch: std::env::consts::ARCH,
        os: std::env::consts::OS,
        kernel,
        cpu,
        logical_cores: std::thread::available_parallelism().map(|n| n.get()).ok(),
        backends: grlm::llm::backends(),
        cpu_features: grlm::llm::cpu_features().ok(),
        cpu_variant: grlm::llm::cpu_variant().ok(),
        grlm_version: grlm::VERSION,
    }
}

fn file_bytes(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

pub fn bench(args: BenchArgs) -> Result<(), String> {
    let started = Instant::now();
    if args.requests == 0 {
        return Err("--requests must be at least 1".into());
    }
    if args.thread_counts.is_empty() || args.thread_counts.contains(&0) {
        return Err("--thread-counts must list thread counts of at least 1".into());
    }
    if args.prior_weights.is_empty() || args.prior_weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err("--prior-weights must list finite weights of at least 0".into());
    }
    let model = args.engine.model_path();
    let point = |at: &'static str| memory_point(at, &model, &args.engine.catalog);
    let mut memory_points = vec![point("start")];
    let sequences = read_sequences(&args.sequences).map_err(|e| e.to_string())?;
    let opened = Instant::now();
    let engine = args.engine.open()?;
    let engine_open = opened.elapsed();
    memory_points.push(point("after_open"));
    let catalog = engine.catalog();
    let users = workload(&args, &sequences, catalog)?;

    let mut runs = Vec::new();
    let mut curves = Vec::new();
    for &threads in &args.thread_counts {
        let mut engine_args = args.engine.clone();
        engine_args.threads = Some(threads);
        let variants: Vec<RecommendParams> = args.prior_weights.iter().map(|&w| request(&args, w)).collect();
        let widths: Vec<usize> = variants
            .iter()
            .map(|v| v.beam_width(catalog.transitions().is_some()))
            .collect();
        let created = Instant::now();
        let mut session = engine
            .session(engine_args.session_params(widths.iter().copied().max().unwrap_or(1)))
            .map_err(|e| e.to_string())?;
        let session_time = created.elapsed();
        // Warm-up, not timed: pages in the weights and sizes llama.cpp's buffers.
        for params in &variants {
            session
                .recommend(&users[0][..args.history], params)
                .map_err(|e| e.to_string())?;
        }
        if runs.is_empty() {
            memory_points.push(point("after_first_request"));
        }
        let mut samples: Vec<Samples> = variants.iter().map(|_| Samples::default()).collect();
        for (n, items) in users.iter().enumerate() {
            // The variants alternate request by request, so they share the machine's state.
            for (params, s) in variants.iter().zip(&mut samples) {
                time_request(&args, &mut session, items, params, s)?;
                if !args.json {
                    eprintln!(
                        "threads {threads} weight {} request {}/{}: cold {:.0} ms, warm {:.0} ms, restored {:.0} ms",
                        params.prior.weight.unwrap_or(0.0),
                        n + 1,
                        users.len(),
                        s.cold.last().copied().unwrap_or(f64::NAN),
                        s.warm.last().copied().unwrap_or(f64::NAN),
                        s.restored.last().copied().unwrap_or(f64::NAN),
                    );
                }
            }
        }
        for ((&weight, &width), s) in args.prior_weights.iter().zip(&widths).zip(samples) {
            runs.push(run_report(threads, weight, width, session_time, &s, !args.no_baseline));
            let label = match args.prior_weights.len() {
                1 => format!("{threads} thr"),
                _ => format!("{threads} thr λ={weight}"),
            };
            curves.push(bench_svg::Curve {
                label,
                cold: s.cold,
                warm: s.warm,
            });
        }
    }
    memory_points.push(point("end"));

    let report = Report {
        schema: SCHEMA,
        label: args.label.clone(),
        machine: machine(),
        workload: Workload {
            model: model.display().to_string(),
            model_bytes: file_bytes(&model),
            catalog: args.engine.catalog.display().to_string(),
            catalog_bytes: file_bytes(&args.engine.catalog),
            catalog_items: catalog.len(),
            catalog_has_prior: catalog.transitions().is_some(),
            sequences: args.sequences.display().to_string(),
            seed: args.seed,
            requests: users.len(),
            history: args.history,
            k: args.k,
            beams: args.beams,
            mode: "constrained",
            prior_weights: args.prior_weights.clone(),
            cold_slots: args
                .cold_slots
                .unwrap_or_else(|| grlm::prior::default_cold_slots(args.k)),
        },
        load: Load {
            engine_open_ms: ms(engine_open),
        },
        memory: MemoryReport {
            points: memory_points,
            peak_rss_mb: memory().map(|m| m.peak),
        },
        runs,
        seconds: started.elapsed().as_secs_f64(),
    };
    if let Some(path) = &args.svg {
        let title = format!(
            "grlm bench{} — {} on {}",
            args.label.as_ref().map(|l| format!(" [{l}]")).unwrap_or_default(),
            model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            report.machine.target,
        );
        let svg = bench_svg::latency_svg(&title, &curves);
        grlm::atomic_write::write_atomically(path, |w| w.write_all(svg.as_bytes()))
            .map_err(|e: std::io::Error| format!("cannot write {}: {e}", path.display()))?;
    }
    let text = if args.json {
        serde_json::to_string(&report)
    } else {
        serde_json::to_string_pretty(&report)
    };
    println!("{}", text.map_err(|e| e.to_string())?);
    Ok(())
}

/// The seeded users whose first `--history`+1 items are all in the catalogue.
fn workload<'s>(args: &BenchArgs, sequences: &'s [Sequence], catalog: &Catalog) -> Result<Vec<&'s [u32]>, String> {
    let eligible: Vec<usize> = (0..sequences.len())
        .filter(|&u| {
            let items = &sequences[u].items;
            items.len() > args.history && items[..=args.history].iter().all(|&i| catalog.contains(i))
        })
        .collect();
    if eligible.is_empty() {
        return Err(format!(
            "no user in {} has more than {} items, all in the catalogue",
            args.sequences.display(),
            args.history
        ));
    }
    Ok(sample_sorted(eligible, args.requests, args.seed)
        .into_iter()
        .map(|u| sequences[u].items.as_slice())
        .collect())
}

/// The request of one variant. The window must not slide when the warm request appends an
/// item, so the model sees one more than `--history`.
fn request(args: &BenchArgs, weight: f64) -> RecommendParams {
    RecommendParams {
        k: args.k,
        beams: args.beams,
        max_history: args.history + 1,
        prior: PriorParams {
            weight: Some(weight),
            cold_slots: args.cold_slots,
            ..PriorParams::default()
        },
        ..RecommendParams::default()
    }
}

/// Times one user's cold request and the warm one after appending their next item, and
/// (unless `--no-baseline`) the same llama.cpp calls replayed bare.
fn time_request(
    args: &BenchArgs,
    session: &mut grlm::Session,
    items: &[u32],
    params: &RecommendParams,
    s: &mut Samples,
) -> Result<(), String> {
    let (cold_history, warm_history) = (&items[..args.history], &items[..=args.history]);
    session.clear();
    session.start_recording();
    let cold = session.recommend(cold_history, params).map_err(|e| e.to_string())?;
    let cold_ops = session.take_recording();
    // What an app saves when the user leaves after the cold request.
    let saving = Instant::now();
    let state = session.save_state().map_err(|e| e.to_string())?;
    s.save_ms.push(ms(saving.elapsed()));
    s.state_bytes.push(state.len() as f64);
    session.start_recording();
    let warm = session.recommend(warm_history, params).map_err(|e| e.to_string())?;
    let warm_ops = session.take_recording();
    // The user returns to a closed app: an empty session, the state restored, the request.
    session.clear();
    let restoring = Instant::now();
    session.restore_state(&state).map_err(|e| e.to_string())?;
    let restore = restoring.elapsed();
    s.restore_ms.push(ms(restore));
    let restored = session.recommend(warm_history, params).map_err(|e| e.to_string())?;
    s.restored.push(ms(restore + restored.stats.total_time));
    s.restored_prompt_tokens.push(restored.stats.prompt_tokens as f64);
    if !args.no_baseline {
        session.clear();
        s.bare_cold
            .push(ms(session.replay(&cold_ops).map_err(|e| e.to_string())?));
        s.bare_warm
            .push(ms(session.replay(&warm_ops).map_err(|e| e.to_string())?));
    }
    let (c, w) = (cold.stats, warm.stats);
    s.cold.push(ms(c.total_time));
    s.warm.push(ms(w.total_time));
    s.cold_prompt_tokens.push(c.prompt_tokens as f64);
    s.warm_prompt_tokens.push(w.prompt_tokens as f64);
    s.beam_tokens.push(c.evaluated as f64);
    s.cold_calls.push(c.calls as f64);
    s.cold_logits_rows.push(c.logits_rows as f64);
    s.beam_steps.push(f64::from(c.steps));
    s.cold_prompt_rate.push(rate(c.prompt_tokens, c.prompt_time));
    s.warm_prompt_rate.push(rate(w.prompt_tokens, w.prompt_time));
    s.cold_generation_rate
        .push(rate(c.evaluated, c.decode_time - c.prompt_time));
    s.warm_generation_rate
        .push(rate(w.evaluated, w.decode_time - w.prompt_time));
    Ok(())
}

/// The report of one thread count, weight and beam width.
fn run_report(threads: u32, weight: f64, beams: usize, session_time: Duration, s: &Samples, bare: bool) -> Run {
    let ratio = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>();
    Run {
        threads,
        prior_weight: weight,
        beams,
        session_ms: ms(session_time),
        cold_ms: summary(&s.cold),
        warm_ms: summary(&s.warm),
        restored_ms: summary(&s.restored),
        state: StateReport {
            bytes: summary(&s.state_bytes),
            save_ms: summary(&s.save_ms),
            restore_ms: summary(&s.restore_ms),
            restored_prompt_tokens: median(&s.restored_prompt_tokens),
        },
        prompt_tokens_per_s: ColdWarm {
            cold: median(&s.cold_prompt_rate),
            warm: median(&s.warm_prompt_rate),
        },
        generation_tokens_per_s: ColdWarm {
            cold: median(&s.cold_generation_rate),
            warm: median(&s.warm_generation_rate),
        },
        tokens: Tokens {
            cold_prompt: median(&s.cold_prompt_tokens),
            warm_prompt: median(&s.warm_prompt_tokens),
            beam_steps: median(&s.beam_steps),
            beam_tokens: median(&s.beam_tokens),
            cold_calls: median(&s.cold_calls),
            cold_logits_rows: median(&s.cold_logits_rows),
        },
        bare_llama: bare.then(|| Bare {
            cold_ms_p50: median(&s.bare_cold),
            warm_ms_p50: median(&s.bare_warm),
            overhead_cold: median(&ratio(&s.cold, &s.bare_cold)),
            overhead_warm: median(&ratio(&s.warm, &s.bare_warm)),
        }),
        samples: SampleLists {
            cold_ms: s.cold.clone(),
            warm_ms: s.warm.clone(),
            restored_ms: s.restored.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 51.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
