//! `grlm bench`: request latency on real histories — cold, and warm after appending one
//! item — against the same llama.cpp calls replayed bare, in the same process.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use grlm::eval::read_sequences;
use grlm::RecommendParams;

use crate::print_json;
use crate::recommend_cmd::EngineArgs;

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// sequences.txt: users whose histories are replayed.
    #[arg(long)]
    sequences: PathBuf,
    /// Users to time (the first ones in the file with a long enough history).
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Items in the cold history; the warm request appends the next one.
    #[arg(long, default_value_t = 20)]
    history: usize,
    /// Items to return.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Beam width.
    #[arg(long, default_value_t = 20)]
    beams: usize,
    /// Thread counts to time, comma-separated.
    #[arg(long = "thread-counts", value_delimiter = ',', default_value = "1,2")]
    thread_counts: Vec<u32>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Peak resident set size of this process, from /proc (Linux); None elsewhere.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[derive(Default)]
struct Samples {
    cold: Vec<f64>,
    warm: Vec<f64>,
    raw_cold: Vec<f64>,
    raw_warm: Vec<f64>,
    cold_prompt_tokens: Vec<f64>,
    warm_prompt_tokens: Vec<f64>,
    cold_beam_tokens: Vec<f64>,
    cold_steps: Vec<f64>,
    cold_decode: Vec<f64>,
    warm_decode: Vec<f64>,
}

pub fn bench(args: BenchArgs) -> Result<(), String> {
    let sequences = read_sequences(&args.sequences).map_err(|e| e.to_string())?;
    let engine = args.engine.open()?;
    let catalog = engine.catalog();
    let users: Vec<&[u32]> = sequences
        .iter()
        .map(|s| s.items.as_slice())
        .filter(|items| items.len() > args.history && items[..=args.history].iter().all(|&i| catalog.contains(i)))
        .take(args.users)
        .collect();
    if users.is_empty() {
        return Err(format!("no user has more than {} items", args.history));
    }
    // The window must not slide when the warm request appends an item.
    let params = RecommendParams {
        k: args.k,
        beams: args.beams,
        max_history: args.history + 1,
        ..RecommendParams::default()
    };
    let mut runs = Vec::new();
    for &threads in &args.thread_counts {
        let mut engine_args = args.engine.clone();
        engine_args.threads = Some(threads);
        let mut session = engine
            .session(engine_args.session_params(args.beams))
            .map_err(|e| e.to_string())?;
        // Warm-up: page in the weights, size llama.cpp's buffers.
        session
            .recommend(&users[0][..args.history], &params)
            .map_err(|e| e.to_string())?;
        let mut s = Samples::default();
        for (n, items) in users.iter().enumerate() {
            let (cold_history, warm_history) = (&items[..args.history], &items[..=args.history]);
            session.clear();
            session.start_recording();
            let cold = session.recommend(cold_history, &params).map_err(|e| e.to_string())?;
            let cold_ops = session.take_recording();
            session.start_recording();
            let warm = session.recommend(warm_history, &params).map_err(|e| e.to_string())?;
            let warm_ops = session.take_recording();
            session.clear();
            let raw_cold = session.replay(&cold_ops).map_err(|e| e.to_string())?;
            let raw_warm = session.replay(&warm_ops).map_err(|e| e.to_string())?;
            s.cold.push(ms(cold.stats.total_time));
            s.warm.push(ms(warm.stats.total_time));
            s.raw_cold.push(ms(raw_cold));
            s.raw_warm.push(ms(raw_warm));
            s.cold_prompt_tokens.push(cold.stats.prompt_tokens as f64);
            s.warm_prompt_tokens.push(warm.stats.prompt_tokens as f64);
            s.cold_beam_tokens.push(cold.stats.evaluated as f64);
            s.cold_steps.push(f64::from(cold.stats.steps));
            s.cold_decode.push(ms(cold.stats.decode_time));
            s.warm_decode.push(ms(warm.stats.decode_time));
            if !args.json {
                eprintln!(
                    "threads {threads} user {}/{}: cold {:.0} ms (raw {:.0}), warm {:.0} ms (raw {:.0})",
                    n + 1,
                    users.len(),
                    ms(cold.stats.total_time),
                    ms(raw_cold),
                    ms(warm.stats.total_time),
                    ms(raw_warm)
                );
            }
        }
        let p50 = |v: &[f64]| quantile(v, 0.5);
        let ratio = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>();
        runs.push(serde_json::json!({
            "threads": threads,
            "cold_ms": {"p50": p50(&s.cold), "p90": quantile(&s.cold, 0.9)},
            "warm_ms": {"p50": p50(&s.warm), "p90": quantile(&s.warm, 0.9)},
            "raw_llama_cold_ms": {"p50": p50(&s.raw_cold)},
            "raw_llama_warm_ms": {"p50": p50(&s.raw_warm)},
            "overhead_cold": p50(&ratio(&s.cold, &s.raw_cold)),
            "overhead_warm": p50(&ratio(&s.warm, &s.raw_warm)),
            "where_the_time_goes": {
                "cold_prompt_tokens": p50(&s.cold_prompt_tokens),
                "warm_prompt_tokens": p50(&s.warm_prompt_tokens),
                "beam_steps": p50(&s.cold_steps),
                "beam_tokens": p50(&s.cold_beam_tokens),
                "cold_llama_decode_ms": p50(&s.cold_decode),
                "warm_llama_decode_ms": p50(&s.warm_decode),
            },
        }));
    }
    let out = serde_json::json!({
        "model": args.engine.model_path().display().to_string(),
        "users": users.len(),
        "history": args.history,
        "k": args.k,
        "beams": args.beams,
        "runs": runs,
        "peak_rss_mb": peak_rss_mb(),
    });
    if args.json {
        print_json(&out)
    } else {
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
        Ok(())
    }
}
