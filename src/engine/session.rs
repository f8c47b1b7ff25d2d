//! A session: one KV cache, the prompt it holds, and the requests run on it.

use std::sync::Arc;
use std::time::Instant;

use super::state::SavedState;
use super::{EngineError, Shared, StateError};
use crate::catalog::Catalog;
use crate::decode::{constrained, free, prune::Pruning, SearchStats, SeqPool, Start, PROMPT_SEQ};
use crate::filter::ItemFilter;
use crate::llm::{BatchToken, Context, ContextParams, Token};
use crate::prior::{HistoryPrior, PriorParams};
use crate::prompt::{self, PromptItem};
use crate::tid::Tid;

/// Most CPU threads a session may ask for.
pub const MAX_THREADS: u32 = 256;
/// Beam width of a request that does not choose one, unless it fuses the prior.
pub const DEFAULT_BEAMS: usize = 20;
/// Beam width of a constrained request fused with the prior that does not choose one (never
/// below its `k`): the prior keeps good candidates among the beams, so half the width scored
/// within noise of 20 on the Beauty validation split, and decodes 77 beam tokens a request
/// in `grlm bench` instead of 131 (docs/results.md).
pub const DEFAULT_FUSED_BEAMS: usize = 10;

/// How a session is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionParams {
    /// CPU threads for llama.cpp.
    pub threads: u32,
    /// Most beams a request may ask for (each beam is a KV sequence; at most 255).
    pub max_beams: u32,
    /// KV cache cells: the prompt plus room for every beam.
    pub n_ctx: u32,
    /// Show item titles after the TIDs in the prompt (must match how the model was trained).
    pub titles: bool,
}

impl Default for SessionParams {
    fn default() -> Self {
        SessionParams {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            max_beams: 32,
            n_ctx: 2048,
            titles: false,
        }
    }
}

/// How the model's output becomes items.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Beam search inside the catalogue's token trie: every answer is a real, eligible item.
    #[default]
    Constrained,
    /// The paper's setting: unconstrained beams, then grounding of the generated texts.
    Free,
    /// The collaborative prior alone ranks every eligible item; the model is not run.
    Prior,
}

/// One request.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendParams {
    /// Items to return (at most; fewer when fewer are eligible).
    pub k: usize,
    /// Beam width, at most the session's `max_beams` and at least `k` in constrained mode.
    /// `None`: [`DEFAULT_FUSED_BEAMS`] for a constrained search fused with the prior,
    /// [`DEFAULT_BEAMS`] otherwise, raised to `k` in constrained mode
    /// ([`RecommendParams::beam_width`]).
    pub beams: Option<usize>,
    /// Constrained or free decoding.
    pub mode: Mode,
    /// Leave the history's items out of the results.
    pub exclude_history: bool,
    /// Further exclusions and an optional allow-list; in constrained mode they prune the
    /// trie, so beams are never spent on ineligible items.
    pub filter: ItemFilter,
    /// Only the last `max_history` history items are shown to the model (the paper uses
    /// 20); all of them are still excluded from the results.
    pub max_history: usize,
    /// Free mode: most tokens a beam may generate.
    pub max_tokens: usize,
    /// How the catalogue's collaborative prior is used: its weight in constrained
    /// decoding, and its window, decay and smoothing (also in prior mode).
    pub prior: PriorParams,
}

impl Default for RecommendParams {
    fn default() -> Self {
        RecommendParams {
            k: 10,
            beams: None,
            mode: Mode::Constrained,
            exclude_history: true,
            filter: ItemFilter::none(),
            max_history: 20,
            max_tokens: 48,
            prior: PriorParams::default(),
        }
    }
}

impl RecommendParams {
    /// The beam width this request searches with on a catalogue that has a prior
    /// (`has_prior`) or not: `beams` when it is set, else the default for its mode and
    /// prior weight.
    pub fn beam_width(&self, has_prior: bool) -> usize {
        if let Some(beams) = self.beams {
            return beams;
        }
        let fused = self.prior.weight_for(has_prior).is_some_and(|w| w > 0.0);
        match self.mode {
            Mode::Constrained if fused => DEFAULT_FUSED_BEAMS.max(self.k),
            Mode::Constrained => DEFAULT_BEAMS.max(self.k),
            Mode::Free | Mode::Prior => DEFAULT_BEAMS,
        }
    }
}

/// One recommended item.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// The item id.
    pub item: u32,
    /// Constrained mode: the log-probability of its TID renormalised over eligible TIDs,
    /// plus `λ · ln P(item)` when the prior is fused (items sharing a TID then come most
    /// probable first; without the prior they share the score and come in ascending id
    /// order). Free mode: the generating beam's plain log-probability. Prior mode:
    /// `ln P(item)`.
    pub score: f64,
    /// The item's TID.
    #[serde(serialize_with = "tid_text")]
    pub tid: Tid,
    /// Its title, if the catalogue has one.
    pub title: Option<String>,
}

fn tid_text<S: serde::Serializer>(tid: &Tid, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&tid.to_string())
}

/// A free-mode beam before grounding.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Generated {
    /// What the model wrote.
    pub text: String,
    /// Its log-probability.
    pub score: f64,
    /// Whether it parses as a TID of the catalogue's length.
    pub valid: bool,
    /// Whether it names a catalogue TID exactly.
    pub direct: bool,
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Response {
    /// Best first.
    pub results: Vec<Recommendation>,
    /// Free mode: every beam's text (empty in constrained mode, where every beam is valid).
    pub generated: Vec<Generated>,
    /// What the request cost.
    pub stats: SearchStats,
}

/// One KV cache and the prompt in it. `Send`, not `Sync`: use it from one thread at a time.
///
/// A session remembers the last prompt it evaluated. The next request evaluates only the
/// tokens after the longest common prefix — appending one item to a history costs that
/// item's tokens — and its results are identical to those of a fresh session.
pub struct Session {
    // Declared before `shared`: the context points into the model held there.
    ctx: Context,
    shared: Arc<Shared>,
    params: SessionParams,
    pool: SeqPool,
    /// Tokens at positions 0.. of the prompt sequence.
    cached: Vec<Token>,
    /// The cache holds something other than `cached` (after a replay).
    stale: bool,
    header: Vec<Token>,
    /// The history of the last request answered, for [`Session::save_state`].
    history: Vec<u32>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("params", &self.params)
            .field("cached_tokens", &self.cached.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(super) fn new(shared: Arc<Shared>, params: SessionParams) -> Result<Self, EngineError> {
        if params.max_beams == 0 || params.max_beams >= crate::llm::MAX_SEQUENCES {
            return Err(EngineError::InvalidRequest(format!(
                "max_beams {} outside 1..{}",
                params.max_beams,
                crate::llm::MAX_SEQUENCES
            )));
        }
        let trained = shared.model.trained_context();
        if params.n_ctx < 64 || (trained > 0 && params.n_ctx > trained) {
            return Err(EngineError::InvalidRequest(format!(
                "n_ctx {} outside 64..={trained} (the model's trained context)",
                params.n_ctx
            )));
        }
        if params.threads == 0 || params.threads > MAX_THREADS {
            return Err(EngineError::InvalidRequest(format!(
                "{} threads; use 1..={MAX_THREADS}",
                params.threads
            )));
        }
        let n_seq = params.max_beams + 1;
        let ctx = Context::new(
            &shared.model,
            ContextParams {
                n_ctx: params.n_ctx,
                // A beam step may exceed 512 tokens only with very wide beams; keep one call.
                n_batch: params.n_ctx,
                n_seq,
                threads: params.threads,
            },
            shared.adapter.as_ref().map(|(a, scale)| (a, *scale)),
        )?;
        let header = prompt::header();
        let header = shared.model.tokenize(&header.text, header.begins_text);
        Ok(Session {
            ctx,
            pool: SeqPool::new(n_seq),
            shared,
            params,
            cached: Vec::new(),
            stale: false,
            header,
            history: Vec::new(),
        })
    }

    /// The session's parameters.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// Tokens of the prompt currently cached.
    pub fn cached_tokens(&self) -> usize {
        self.cached.len()
    }

    /// Starts logging the session's cache operations, for [`Session::replay`].
    pub fn start_recording(&mut self) {
        self.ctx.start_recording();
    }

    /// Stops logging and returns the operations since [`Session::start_recording`].
    pub fn take_recording(&mut self) -> Vec<crate::llm::CacheOp> {
        self.ctx.take_recording()
    }

    /// Replays recorded operations with bare llama.cpp calls on this session's context, as
    /// they are (clear the session first to replay a cold request), and returns their time:
    /// the benchmark's baseline. Afterwards the session no longer trusts its cache.
    pub fn replay(&mut self, ops: &[crate::llm::CacheOp]) -> Result<std::time::Duration, EngineError> {
        // Whatever the ops left in the cache, the next request starts from an empty one.
        self.stale = true;
        Ok(self.ctx.replay(ops)?)
    }

    /// The session's state, for a later [`Session::restore_state`] (in this process or
    /// another, on this engine's model, adapter and catalogue): the history of the last
    /// request, the prompt tokens cached for it and their KV cells (about 23 KB a token for
    /// SmolLM2-135M). Versioned and checksummed ([`state`](super::state) has the format).
    pub fn save_state(&self) -> Result<Vec<u8>, EngineError> {
        self.save_state_with(&self.history)
    }

    /// [`Session::save_state`] with `history` as the history saved (a C session's own,
    /// which may have grown since its last request).
    pub(crate) fn save_state_with(&self, history: &[u32]) -> Result<Vec<u8>, EngineError> {
        // After a replay the cache holds the replayed cells, not `cached`: save none.
        let (tokens, kv) = if self.stale || self.cached.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (self.cached.clone(), self.ctx.seq_state(PROMPT_SEQ)?)
        };
        let state = SavedState {
            binding: self.binding(),
            history: history.to_vec(),
            tokens,
            kv: &kv,
        };
        Ok(state.to_bytes()?)
    }

    /// Loads a state saved by [`Session::save_state`] and returns the history it was saved
    /// with. The next request for that history, or for it with items appended, evaluates
    /// only what is new and answers exactly as a session that never stopped would.
    ///
    /// Refused ([`EngineError::State`]) when the bytes are damaged or were saved by a
    /// session of another model, adapter, adapter scale, catalogue, titles setting or
    /// libgrlm version; the session is then empty (cold) and usable.
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<Vec<u32>, EngineError> {
        self.clear();
        self.history.clear();
        let state = SavedState::parse(bytes)?;
        if state.binding != self.binding() {
            return Err(StateError::OtherEngine.into());
        }
        if state.tokens.len() >= self.params.n_ctx as usize {
            return Err(StateError::TooLong {
                tokens: state.tokens.len(),
                n_ctx: self.params.n_ctx,
            }
            .into());
        }
        if !state.tokens.is_empty() {
            if let Err(e) = self.ctx.load_seq_state(PROMPT_SEQ, state.kv) {
                self.clear();
                return Err(e.into());
            }
        }
        self.cached = state.tokens;
        self.history.clone_from(&state.history);
        Ok(state.history)
    }

    /// What a saved state is bound to: this libgrlm, the model's and the adapter's weights
    /// (and scale), the catalogue's content and the titles setting.
    fn binding(&self) -> u64 {
        let mut hash = crate::fnv::Fnv64::new();
        hash.write(env!("CARGO_PKG_VERSION").as_bytes());
        hash.write_u64(self.shared.model.identity());
        match &self.shared.adapter {
            Some((adapter, scale)) => {
                hash.write_u64(adapter.identity());
                hash.write_u32(scale.to_bits());
            }
            None => hash.write_u64(0),
        }
        hash.write_u64(self.shared.catalog.content_fingerprint());
        hash.write(&[u8::from(self.params.titles)]);
        hash.finish()
    }

    /// Forgets the cached prompt (the next request is a cold one).
    pub fn clear(&mut self) {
        self.ctx.clear();
        self.cached.clear();
        self.pool = SeqPool::new(self.params.max_beams + 1);
        self.stale = false;
    }

    /// The next items for a user whose history is `history` (item ids, oldest first).
    pub fn recommend(&mut self, history: &[u32], params: &RecommendParams) -> Result<Response, EngineError> {
        let started = Instant::now();
        self.check(history, params)?;
        if self.stale {
            self.clear();
        }
        let before = self.ctx.stats();
        let result = self.run(history, params);
        if result
            .as_ref()
            .is_err_and(|e| !matches!(e, EngineError::PromptTooLong { .. }))
        {
            // A failure inside the search may leave beams in the cache, or half of what a
            // failed llama.cpp call wrote: start the next request from nothing.
            self.clear();
        }
        let mut response = result?;
        self.history.clear();
        self.history.extend_from_slice(history);
        let after = self.ctx.stats();
        response.stats.decode_time = after.time - before.time;
        response.stats.calls = after.calls - before.calls;
        response.stats.logits_rows = after.logits_rows - before.logits_rows;
        response.stats.total_time = started.elapsed();
        Ok(response)
    }

    /// The request checks that depend on the session: beams within its `max_beams`.
    fn check(&self, history: &[u32], params: &RecommendParams) -> Result<(), EngineError> {
        check_request(&self.shared.catalog, history, params)?;
        if params.mode == Mode::Prior {
            return Ok(());
        }
        let invalid = |m: String| Err(EngineError::InvalidRequest(m));
        let width = self.width(params);
        if width == 0 || width > self.params.max_beams as usize {
            return invalid(format!(
                "{width} beams{}; this session allows 1..={} (SessionParams::max_beams)",
                if params.beams.is_none() {
                    " (the default width for this request)"
                } else {
                    ""
                },
                self.params.max_beams
            ));
        }
        if params.mode == Mode::Constrained && params.k > width {
            return invalid(format!(
                "k = {} exceeds the beam width {width}: constrained search finds at most about one TID per beam; raise beams",
                params.k
            ));
        }
        if params.mode == Mode::Free && params.max_tokens == 0 {
            return invalid("max_tokens must be at least 1".into());
        }
        Ok(())
    }

    /// The request's beam width on this session's catalogue.
    fn width(&self, params: &RecommendParams) -> usize {
        params.beam_width(self.shared.catalog.transitions().is_some())
    }

    fn run(&mut self, history: &[u32], params: &RecommendParams) -> Result<Response, EngineError> {
        let mut filter = params.filter.clone();
        if params.exclude_history {
            filter = filter.exclude(history.iter().copied());
        }
        if params.mode == Mode::Prior {
            return rank_by_prior(&self.shared.catalog, history, &filter, params);
        }
        // Resolved once, for the prompt's room and the search alike.
        let width = self.width(params);
        let mut stats = SearchStats::default();
        let start = self.prepare_prompt(history, params, width, &mut stats)?;
        let results = match params.mode {
            Mode::Free => return self.decode_free(start, &filter, params, width, stats),
            _ => self.decode_constrained(history, start, &filter, params, width, &mut stats)?,
        };
        Ok(Response {
            results,
            generated: Vec::new(),
            stats,
        })
    }

    /// Brings the cached prompt up to date with `history` and checks that `width` beams
    /// fit; returns where the search starts.
    fn prepare_prompt(
        &mut self,
        history: &[u32],
        params: &RecommendParams,
        width: usize,
        stats: &mut SearchStats,
    ) -> Result<Start, EngineError> {
        let shared = Arc::clone(&self.shared);
        let trie = shared.catalog.token_trie().ok_or(EngineError::NoTokenTrie)?;
        let shown = &history[history.len().saturating_sub(params.max_history)..];
        let mut desired = self.prompt_tokens(shown)?;
        let room = match params.mode {
            Mode::Free => width.saturating_mul(params.max_tokens.saturating_add(1)),
            _ => {
                desired.extend_from_slice(&shared.root_chain);
                width.saturating_mul(trie.depth() as usize + 1)
            }
        };
        if desired.len().saturating_add(room) > self.params.n_ctx as usize {
            return Err(EngineError::PromptTooLong {
                prompt: desired.len(),
                beams: room,
                n_ctx: self.params.n_ctx,
            });
        }
        let (pos, logits) = self.sync_prompt(desired, stats)?;
        Ok(Start {
            node: shared.root_node,
            seq: PROMPT_SEQ,
            pos,
            logits,
        })
    }

    /// Constrained beam search, fused with the prior when the request weighs it.
    fn decode_constrained(
        &mut self,
        history: &[u32],
        start: Start,
        filter: &ItemFilter,
        params: &RecommendParams,
        width: usize,
        stats: &mut SearchStats,
    ) -> Result<Vec<Recommendation>, EngineError> {
        let shared = Arc::clone(&self.shared);
        let catalog = &shared.catalog;
        let trie = catalog.token_trie().ok_or(EngineError::NoTokenTrie)?;
        let pruning = Pruning::new(catalog, &trie, filter)?;
        if !pruning.alive(shared.root_node) {
            return Ok(Vec::new());
        }
        let weight = params
            .prior
            .weight_for(catalog.transitions().is_some())
            .ok_or(EngineError::NoPrior)?;
        let prior = match weight > 0.0 {
            true => Some(HistoryPrior::new(catalog, history, filter, &params.prior)?),
            false => None,
        };
        // None when it comes down to the model alone (then exactly as at λ = 0).
        let combine = prior
            .as_ref()
            .and_then(|p| params.prior.combine(weight, p.transition_total()));
        let prior = prior.filter(|_| combine.is_some());
        let masses = prior.as_ref().map(|p| p.node_masses(&trie)).transpose()?;
        let request = constrained::Request {
            k: params.k,
            width,
            filter,
            fusion: match (combine, &prior, &masses) {
                (Some(combine), Some(prior), Some(masses)) => Some(constrained::Fused { combine, prior, masses }),
                _ => None,
            },
        };
        let ranked = constrained::search(
            &mut self.ctx,
            &mut self.pool,
            catalog,
            &trie,
            &pruning,
            start,
            &request,
            stats,
        )?;
        ranked
            .into_iter()
            .map(|r| recommendation(catalog, r.index, r.item, r.score))
            .collect()
    }

    /// The paper's free decoding: unconstrained beams, each text grounded; results take
    /// every beam's best item before any beam's second.
    fn decode_free(
        &mut self,
        start: Start,
        filter: &ItemFilter,
        params: &RecommendParams,
        width: usize,
        stats: SearchStats,
    ) -> Result<Response, EngineError> {
        let shared = Arc::clone(&self.shared);
        let catalog = &shared.catalog;
        let mut stats = stats;
        let beams = free::search(
            &mut self.ctx,
            &mut self.pool,
            &shared.model,
            start,
            width,
            params.max_tokens,
            &mut stats,
        )?;
        let mut generated = Vec::with_capacity(beams.len());
        let mut grounded = Vec::with_capacity(beams.len());
        for beam in beams {
            let parsed = Tid::parse(&beam.text, None).ok();
            let hits = match &parsed {
                Some(tid) => catalog.ground(tid, params.k, filter)?,
                None => Vec::new(),
            };
            let valid = parsed.as_ref().is_some_and(|t| t.len() == catalog.tid_len());
            let direct = match &parsed {
                Some(tid) if valid => !catalog.items_with_tid(tid)?.is_empty(),
                _ => false,
            };
            generated.push(Generated {
                text: beam.text,
                score: beam.score,
                valid,
                direct,
            });
            grounded.push((beam.score, hits));
        }
        let mut results: Vec<Recommendation> = Vec::with_capacity(params.k);
        let deepest = grounded.iter().map(|g| g.1.len()).max().unwrap_or(0);
        'ranks: for rank in 0..deepest {
            for (score, hits) in &grounded {
                let Some(hit) = hits.get(rank) else { continue };
                if results.iter().any(|r| r.item == hit.item) {
                    continue;
                }
                let index = catalog.item_index(hit.item).ok_or_else(|| {
                    EngineError::Internal(format!("grounded item {} is not in the catalogue", hit.item))
                })?;
                results.push(recommendation(catalog, index, hit.item, *score)?);
                if results.len() == params.k {
                    break 'ranks;
                }
            }
        }
        Ok(Response {
            results,
            generated,
            stats,
        })
    }

    /// Tokens of the prompt for `shown`, each piece tokenized on its own (see
    /// [`crate::prompt`]).
    fn prompt_tokens(&self, shown: &[u32]) -> Result<Vec<Token>, EngineError> {
        let catalog = &self.shared.catalog;
        let model = &self.shared.model;
        let mut tokens = self.header.clone();
        for &item in shown {
            let index = catalog.item_index(item).ok_or(EngineError::UnknownItem(item))?;
            let tid = catalog.tid_at(catalog.item_tid_index(index)?)?;
            let title = if self.params.titles {
                catalog.title_at(index)?
            } else {
                None
            };
            for segment in prompt::item_segments(PromptItem { tid: &tid, title }, self.params.titles) {
                tokens.extend(model.tokenize(&segment.text, segment.begins_text));
            }
        }
        Ok(tokens)
    }

    /// Makes the prompt sequence hold exactly `desired`, evaluating only what differs from
    /// the cache, and returns the next position and the index of the last token's logits.
    fn sync_prompt(&mut self, desired: Vec<Token>, stats: &mut SearchStats) -> Result<(u32, usize), EngineError> {
        let common = self.cached.iter().zip(&desired).take_while(|(a, b)| a == b).count();
        // The last token is evaluated again when nothing changed: its logits are needed.
        let keep = common.min(desired.len() - 1);
        if keep < self.cached.len() {
            self.ctx.remove(PROMPT_SEQ, keep as u32)?;
        }
        self.cached.truncate(keep);
        let batch: Vec<BatchToken> = desired[keep..]
            .iter()
            .enumerate()
            .map(|(i, &token)| BatchToken {
                token,
                pos: (keep + i) as u32,
                seq: PROMPT_SEQ,
                logits: keep + i + 1 == desired.len(),
            })
            .collect();
        let before = self.ctx.stats().time;
        self.ctx.decode(&batch)?;
        stats.prompt_time = self.ctx.stats().time - before;
        stats.prompt_tokens = batch.len() as u64;
        stats.cached_tokens = keep as u64;
        let pos = desired.len() as u32;
        self.cached = desired;
        Ok((pos, batch.len() - 1))
    }
}

/// A result with its TID and title, for the item at `index`.
fn recommendation(catalog: &Catalog, index: usize, item: u32, score: f64) -> Result<Recommendation, EngineError> {
    Ok(Recommendation {
        item,
        score,
        tid: catalog.tid_at(catalog.item_tid_index(index)?)?,
        title: catalog.title_at(index)?.map(str::to_owned),
    })
}

/// What every request needs, whatever runs it: a non-empty history of catalogue items, `k`
/// within the catalogue, valid prior parameters, and a prior when the request asks for one.
fn check_request(catalog: &Catalog, history: &[u32], params: &RecommendParams) -> Result<(), EngineError> {
    let invalid = |m: String| Err(EngineError::InvalidRequest(m));
    if history.is_empty() {
        return Err(EngineError::EmptyHistory);
    }
    if let Some(&unknown) = history.iter().find(|&&item| !catalog.contains(item)) {
        return Err(EngineError::UnknownItem(unknown));
    }
    if params.k == 0 {
        return invalid("k must be at least 1".into());
    }
    if params.k > catalog.len() {
        return invalid(format!(
            "k = {} exceeds the catalogue's {} items",
            params.k,
            catalog.len()
        ));
    }
    if params.max_history == 0 {
        return invalid("max_history must be at least 1".into());
    }
    params.prior.validate().map_err(EngineError::InvalidRequest)?;
    let has_prior = catalog.transitions().is_some();
    if params.prior.weight_for(has_prior).is_none() || (params.mode == Mode::Prior && !has_prior) {
        return Err(EngineError::NoPrior);
    }
    Ok(())
}

/// Prior mode without a model: the catalogue's prior ranks the items `params` allows for
/// `history` (its `mode` is ignored; beams and decoding fields are not used). The same
/// results as a session's prior mode.
pub fn recommend_by_prior(
    catalog: &Catalog,
    history: &[u32],
    params: &RecommendParams,
) -> Result<Response, EngineError> {
    let params = RecommendParams {
        mode: Mode::Prior,
        ..params.clone()
    };
    check_request(catalog, history, &params)?;
    let mut filter = params.filter.clone();
    if params.exclude_history {
        filter = filter.exclude(history.iter().copied());
    }
    rank_by_prior(catalog, history, &filter, &params)
}

/// Prior mode: the prior ranks the eligible items; no model call.
fn rank_by_prior(
    catalog: &Catalog,
    history: &[u32],
    filter: &ItemFilter,
    params: &RecommendParams,
) -> Result<Response, EngineError> {
    let started = Instant::now();
    let prior = HistoryPrior::new(catalog, history, filter, &params.prior)?;
    let results = prior
        .rank(params.k)?
        .into_iter()
        .map(|p| recommendation(catalog, p.index, p.item, p.probability.ln()))
        .collect::<Result<_, _>>()?;
    Ok(Response {
        results,
        generated: Vec::new(),
        stats: SearchStats {
            total_time: started.elapsed(),
            ..SearchStats::default()
        },
    })
}
