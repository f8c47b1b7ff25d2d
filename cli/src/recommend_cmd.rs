//! `grlm recommend`: the next items for one history.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use grlm::engine::recommend_by_prior;
use grlm::prior::{Fusion, PriorParams};
use grlm::{Catalog, Engine, EngineParams, Mode, RecommendParams, SessionParams};

use crate::{print_json, FilterArgs};

/// Options shared by the commands that run the backbone.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// The backbone GGUF (default: $GRLM_MODEL, else models/SmolLM2-135M-Instruct.Q4_1.gguf).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A LoRA adapter GGUF for the backbone.
    #[arg(long)]
    pub lora: Option<PathBuf>,
    /// The adapter's scale.
    #[arg(long, default_value_t = 1.0, requires = "lora")]
    pub lora_scale: f32,
    /// The catalogue, built with the backbone's tokenizer (`grlm catalog build --model`).
    #[arg(long)]
    pub catalog: PathBuf,
    /// CPU threads for llama.cpp (default: all cores).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Show item titles in the prompt (as the model was trained).
    #[arg(long)]
    pub titles: bool,
    /// KV cache cells per session.
    #[arg(long, default_value_t = 2048)]
    pub n_ctx: u32,
}

/// The default backbone's path.
pub const DEFAULT_MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

impl EngineArgs {
    pub fn model_path(&self) -> PathBuf {
        self.model
            .clone()
            .or_else(|| std::env::var_os("GRLM_MODEL").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL))
    }

    pub fn open(&self) -> Result<Engine, String> {
        let mut params = EngineParams::new(self.model_path(), &self.catalog);
        params.lora = self.lora.clone();
        params.lora_scale = self.lora_scale;
        Engine::open(&params).map_err(|e| e.to_string())
    }

    pub fn session_params(&self, max_beams: usize) -> SessionParams {
        let mut params = SessionParams {
            max_beams: max_beams.clamp(1, 255) as u32,
            n_ctx: self.n_ctx,
            titles: self.titles,
            ..SessionParams::default()
        };
        if let Some(threads) = self.threads {
            params.threads = threads;
        }
        params
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Beam search inside the catalogue's token trie.
    #[default]
    Constrained,
    /// Unconstrained beams, then grounding (the paper's setting).
    Free,
    /// The catalogue's collaborative prior alone (no model is loaded; `--model` is not
    /// needed).
    Prior,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Constrained => Mode::Constrained,
            ModeArg::Free => Mode::Free,
            ModeArg::Prior => Mode::Prior,
        }
    }
}

/// How a request uses the catalogue's collaborative prior (`grlm::prior` has the
/// formula).
#[derive(Args, Clone, Copy, Debug)]
pub struct PriorArgs {
    /// λ, the prior's weight in constrained decoding (0: the model alone). Default: the
    /// library's default when the catalogue has a prior, 0 when it has none.
    #[arg(long, value_name = "λ", allow_negative_numbers = true)]
    pub prior_weight: Option<f64>,
    /// History items the prior looks back over.
    #[arg(long, default_value_t = grlm::prior::DEFAULT_WINDOW, value_name = "W")]
    pub prior_window: usize,
    /// Weight of each step further back, in (0, 1].
    #[arg(long, default_value_t = grlm::prior::DEFAULT_DECAY, value_name = "d", allow_negative_numbers = true)]
    pub prior_decay: f64,
    /// Share of popularity in the prior, in [0, 1].
    #[arg(long, default_value_t = grlm::prior::DEFAULT_SMOOTHING, value_name = "α", allow_negative_numbers = true)]
    pub prior_smoothing: f64,
    /// Transition mass at which the prior keeps half its weight (λ·ΣT/(ΣT+κ)); 0: a
    /// constant weight.
    #[arg(long, default_value_t = grlm::prior::DEFAULT_EVIDENCE, value_name = "κ", allow_negative_numbers = true)]
    pub prior_evidence: f64,
    /// How the model and the prior are combined: `product` (s_LLM + λ·ln P) or `mixture`
    /// (ln((1−β)·P + β·P_LLM), where an item the counts know nothing of can still rank).
    #[arg(long, value_enum, default_value_t = FusionArg::from(PriorParams::default().fusion))]
    pub fusion: FusionArg,
    /// β, the model's share of the mixture, in [0, 1].
    #[arg(long, default_value_t = grlm::prior::DEFAULT_MODEL_SHARE, value_name = "β", allow_negative_numbers = true)]
    pub model_share: f64,
    /// Places at the end of a fused list kept for items the counts never saw (a new item),
    /// ranked by the model among them; at most `k`. Default: one place in ten (none when
    /// `k` is below 10).
    #[arg(long, value_name = "N")]
    pub cold_slots: Option<usize>,
    /// m, in nats: a cold item takes its slot only where the model's log-probability of
    /// its TID is at least m above that of the item it would push out (`-inf`: always).
    #[arg(long, default_value_t = grlm::prior::DEFAULT_COLD_MARGIN, value_name = "m", allow_negative_numbers = true)]
    pub cold_margin: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FusionArg {
    /// Product of experts: s_LLM + λ·ln P.
    Product,
    /// Mixture: ln((1−β)·P + β·P_LLM).
    Mixture,
}

impl From<Fusion> for FusionArg {
    fn from(fusion: Fusion) -> Self {
        match fusion {
            Fusion::Product => FusionArg::Product,
            Fusion::Mixture => FusionArg::Mixture,
        }
    }
}

impl PriorArgs {
    pub fn params(&self) -> PriorParams {
        PriorParams {
            weight: self.prior_weight,
            window: self.prior_window,
            decay: self.prior_decay,
            smoothing: self.prior_smoothing,
            evidence: self.prior_evidence,
            fusion: match self.fusion {
                FusionArg::Product => Fusion::Product,
                FusionArg::Mixture => Fusion::Mixture,
            },
            model_share: self.model_share,
            cold_slots: self.cold_slots,
            cold_margin: self.cold_margin,
        }
    }
}

#[derive(Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// The user's history: item ids, oldest first, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    history: Vec<u32>,
    /// Items to return.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Beam width [default: 10 when the prior is fused, else 20; at least k in constrained
    /// mode].
    #[arg(long)]
    beams: Option<usize>,
    /// Decoding mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Constrained)]
    mode: ModeArg,
    /// Only the last N history items are shown to the model (all are excluded).
    #[arg(long, default_value_t = 20)]
    max_history: usize,
    /// Allow the history's items in the results.
    #[arg(long)]
    keep_history: bool,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    prior: PriorArgs,
    /// Keep the session between runs in this file: restored before the request when it
    /// exists (so only what the history added since is evaluated), saved after it
    /// (atomically). A state from another model, adapter or catalogue, or a damaged one, is
    /// reported and the request runs cold.
    #[arg(long, value_name = "FILE")]
    session_state: Option<PathBuf>,
    /// Print JSON: {"results":[{"item","score","tid","title"}], ...}.
    #[arg(long)]
    json: bool,
}

/// Restores `path` into `session` when it exists; a refused state is reported, not fatal.
fn restore(session: &mut grlm::Session, path: &std::path::Path) -> Result<(), String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if let Err(e) = session.restore_state(&bytes) {
        eprintln!("note: {}: {e}", path.display());
    }
    Ok(())
}

pub fn recommend(args: RecommendArgs) -> Result<(), String> {
    let params = RecommendParams {
        k: args.k,
        beams: args.beams,
        mode: args.mode.into(),
        exclude_history: !args.keep_history,
        filter: args.filter.filter(),
        max_history: args.max_history,
        prior: args.prior.params(),
        ..RecommendParams::default()
    };
    if args.mode == ModeArg::Prior && args.session_state.is_some() {
        return Err("--session-state keeps the model's cache; --mode prior runs no model".into());
    }
    let response = if args.mode == ModeArg::Prior {
        let catalog = Catalog::open(&args.engine.catalog).map_err(|e| e.to_string())?;
        recommend_by_prior(&catalog, &args.history, &params).map_err(|e| e.to_string())?
    } else {
        let engine = args.engine.open()?;
        let width = params.beam_width(engine.catalog().transitions().is_some());
        let mut session = engine
            .session(args.engine.session_params(width))
            .map_err(|e| e.to_string())?;
        if let Some(path) = &args.session_state {
            restore(&mut session, path)?;
        }
        let response = session.recommend(&args.history, &params).map_err(|e| e.to_string())?;
        if let Some(path) = &args.session_state {
            let bytes = session.save_state().map_err(|e| e.to_string())?;
            grlm::atomic_write::write_atomically(path, |w| w.write_all(&bytes))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        response
    };
    if args.json {
        return print_json(&response);
    }
    for (rank, r) in response.results.iter().enumerate() {
        println!(
            "{:>3}. item {:<8} score {:>9.4}  {}  {}",
            rank + 1,
            r.item,
            r.score,
            r.tid,
            r.title.as_deref().unwrap_or("")
        );
    }
    if response.results.is_empty() {
        println!("no eligible item");
    }
    let s = &response.stats;
    eprintln!(
        "{} prompt tokens evaluated ({} cached), {} beam steps, {} beam tokens, {} llama.cpp calls, {} logits rows, {:.1} ms ({:.1} ms in llama.cpp)",
        s.prompt_tokens,
        s.cached_tokens,
        s.steps,
        s.evaluated,
        s.calls,
        s.logits_rows,
        s.total_time.as_secs_f64() * 1e3,
        s.decode_time.as_secs_f64() * 1e3
    );
    Ok(())
}
