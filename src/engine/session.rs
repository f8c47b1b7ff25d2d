//! A session: one KV cache, the prompt it holds, and the requests run on it.

use std::sync::Arc;
use std::time::Instant;

use super::request::{rank_by_prior, recommendation, Generated, Mode, Plan, RecommendParams, Recommendation, Response};
use super::state::SavedState;
use super::{EngineError, Shared, StateError};
use crate::decode::{constrained, free, prune::Pruning, SearchStats, SeqPool, Start, PROMPT_SEQ};
use crate::filter::ItemFilter;
use crate::llm::{BatchToken, Context, ContextParams, Token};
use crate::prior::HistoryPrior;
use crate::prompt::{self, PromptItem};

/// Most CPU threads a session may ask for.
pub const MAX_THREADS: u32 = 256;
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
        let n_seq = sequences(params.max_beams);
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

    /// Starts logging the session's cache operations, for [`Session::replay`] (the `bench`
    /// feature: `grlm bench` measures bare llama.cpp calls with it).
    #[cfg(feature = "bench")]
    pub fn start_recording(&mut self) {
        self.ctx.start_recording();
    }

    /// Stops logging and returns the operations since [`Session::start_recording`].
    #[cfg(feature = "bench")]
    pub fn take_recording(&mut self) -> Vec<crate::llm::CacheOp> {
        self.ctx.take_recording()
    }

    /// Replays recorded operations with bare llama.cpp calls on this session's context, as
    /// they are (clear the session first to replay a cold request), and returns their time:
    /// the benchmark's baseline. Afterwards the session no longer trusts its cache.
    #[cfg(feature = "bench")]
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
        self.pool = SeqPool::new(sequences(self.params.max_beams));
        self.stale = false;
    }

    /// The next items for a user whose history is `history` (item ids, oldest first).
    pub fn recommend(&mut self, history: &[u32], params: &RecommendParams) -> Result<Response, EngineError> {
        let started = Instant::now();
        let plan = Plan::new(&self.shared.catalog, history, params, Some(self.params.max_beams))?;
        if self.stale {
            self.clear();
        }
        let before = self.ctx.stats();
        let result = self.run(history, &plan);
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

    fn run(&mut self, history: &[u32], plan: &Plan) -> Result<Response, EngineError> {
        if plan.mode == Mode::Prior {
            return rank_by_prior(&self.shared.catalog, history, plan);
        }
        let mut stats = SearchStats::default();
        let start = self.prepare_prompt(plan.shown(history), plan, &mut stats)?;
        let (results, generated) = match plan.mode {
            Mode::Free => self.decode_free(start, plan, &mut stats)?,
            _ => (self.decode_constrained(history, start, plan, &mut stats)?, Vec::new()),
        };
        Ok(Response {
            results,
            generated,
            stats,
        })
    }

    /// Brings the cached prompt up to date with the `shown` history and checks that the
    /// plan's beams fit; returns where the search starts.
    fn prepare_prompt(&mut self, shown: &[u32], plan: &Plan, stats: &mut SearchStats) -> Result<Start, EngineError> {
        let shared = Arc::clone(&self.shared);
        let trie = shared.catalog.token_trie().ok_or(EngineError::NoTokenTrie)?;
        let mut desired = self.prompt_tokens(shown)?;
        let room = match plan.mode {
            Mode::Free => plan.width.saturating_mul(plan.max_tokens.saturating_add(1)),
            _ => {
                desired.extend_from_slice(&shared.root_chain);
                search_room(plan.width, &trie)
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

    /// Constrained beam search, fused with the prior when the plan weighs it.
    fn decode_constrained(
        &mut self,
        history: &[u32],
        start: Start,
        plan: &Plan,
        stats: &mut SearchStats,
    ) -> Result<Vec<Recommendation>, EngineError> {
        let shared = Arc::clone(&self.shared);
        let catalog = &shared.catalog;
        let trie = catalog.token_trie().ok_or(EngineError::NoTokenTrie)?;
        let pruning = Pruning::new(catalog, &trie, &plan.filter)?;
        if !pruning.alive(shared.root_node) {
            return Ok(Vec::new());
        }
        let prior = match plan.weight > 0.0 {
            true => Some(HistoryPrior::new(catalog, history, &plan.filter, &plan.prior)?),
            false => None,
        };
        // None when it comes down to the model alone (then exactly as at λ = 0).
        let combine = prior
            .as_ref()
            .and_then(|p| plan.prior.combine(plan.weight, p.transition_total()));
        let prior = prior.filter(|_| combine.is_some());
        let masses = prior.as_ref().map(|p| p.node_masses(&trie)).transpose()?;
        let request = constrained::Request {
            k: plan.k,
            width: plan.width,
            filter: &plan.filter,
            fusion: match (combine, &prior, &masses) {
                (Some(combine), Some(prior), Some(masses)) => Some(constrained::Fused::new(combine, prior, masses)),
                _ => None,
            },
            within: None,
        };
        // The request's filter is applied here, so the allow-list alone says it all.
        let eligible_cold = || shared.cold.iter().copied().filter(|&item| plan.filter.permits(item));
        let slots = plan.prior.cold_slots_for(plan.k).min(plan.k);
        // The searches of this request, from `start`, each list best first.
        let search =
            |ctx: &mut Context, pool: &mut SeqPool, start, requests: &[&constrained::Request], stats: &mut _| {
                constrained::search(ctx, pool, catalog, &trie, &pruning, start, requests, stats)
            };
        let ranked = if request.fusion.is_none() || slots == 0 || eligible_cold().next().is_none() {
            search(&mut self.ctx, &mut self.pool, start, &[&request], stats)?
                .pop()
                .unwrap_or_default()
        } else {
            // The model's best cold items (the counts never saw them), by the same fused
            // scores, from a second search confined to them.
            let cold = ItemFilter::none().allow(eligible_cold());
            let cold_pruning = Pruning::new(catalog, &trie, &cold)?;
            let confined = constrained::Request {
                k: slots,
                within: Some(constrained::Within {
                    filter: &cold,
                    pruning: &cold_pruning,
                }),
                ..request
            };
            let both_fit = 2 * plan.width < sequences(self.params.max_beams) as usize
                && (start.pos as usize).saturating_add(search_room(plan.width, &trie).saturating_mul(2))
                    <= self.params.n_ctx as usize;
            let (ranked, picks) = if both_fit {
                let mut lists = search(&mut self.ctx, &mut self.pool, start, &[&request, &confined], stats)?;
                let picks = lists.pop().unwrap_or_default();
                (lists.pop().unwrap_or_default(), picks)
            } else {
                // No room for both searches' beams at once: one after the other, the
                // second from the prompt's last token evaluated again for its logits.
                let ranked = search(&mut self.ctx, &mut self.pool, start, &[&request], stats)?
                    .pop()
                    .unwrap_or_default();
                let mut prompt = SearchStats::default();
                let start = self.prepare_prompt(plan.shown(history), plan, &mut prompt)?;
                stats.prompt_tokens += prompt.prompt_tokens;
                stats.prompt_time += prompt.prompt_time;
                let picks = search(&mut self.ctx, &mut self.pool, start, &[&confined], stats)?
                    .pop()
                    .unwrap_or_default();
                (ranked, picks)
            };
            with_cold_slots(ranked, &picks, plan.k, slots, plan.prior.cold_margin)
        };
        ranked
            .into_iter()
            .map(|r| recommendation(catalog, r.index, r.item, r.score, Some(r.llm)))
            .collect()
    }

    /// The paper's free decoding: unconstrained beams, each text grounded
    /// ([`free::ground`]); returns the results and every beam's text.
    fn decode_free(
        &mut self,
        start: Start,
        plan: &Plan,
        stats: &mut SearchStats,
    ) -> Result<(Vec<Recommendation>, Vec<Generated>), EngineError> {
        let shared = Arc::clone(&self.shared);
        let catalog = &shared.catalog;
        let beams = free::search(
            &mut self.ctx,
            &mut self.pool,
            &shared.model,
            start,
            plan.width,
            plan.max_tokens,
            stats,
        )?;
        let (ranked, beams) = free::ground(catalog, beams, plan.k, &plan.filter)?;
        let results = ranked
            .into_iter()
            .map(|r| recommendation(catalog, r.index, r.item, r.score, None))
            .collect::<Result<_, _>>()?;
        let generated = beams
            .into_iter()
            .map(|b| Generated {
                text: b.text,
                score: b.score,
                valid: b.valid,
                direct: b.direct,
            })
            .collect();
        Ok((results, generated))
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

/// The KV cells a constrained search of `width` beams may write below the prompt: each
/// beam at most one token per trie level, and one more.
fn search_room(width: usize, trie: &crate::catalog::TokenTrie<'_>) -> usize {
    width.saturating_mul(trie.depth() as usize + 1)
}

/// The KV sequences of a session whose requests search up to `max_beams` beams: the prompt's,
/// and room for a cold-slot search's beams beside the main search's, as far as llama.cpp
/// allows (a unified cache makes a sequence an id, not memory).
fn sequences(max_beams: u32) -> u32 {
    max_beams
        .saturating_mul(2)
        .saturating_add(1)
        .min(crate::llm::MAX_SEQUENCES)
}

/// A fused list with up to `slots` of the cold `picks` (best first) that it lacks, `k`
/// items in all: as many picks as fit once the list's head makes room for them and as the
/// margin lets in, in score order (a pick outside the head scores no higher than the
/// head's last item, unless the first search missed it). The i-th pick is let in only
/// where the model's score of it is at least `margin` above that of the list's i-th last
/// item, which it pushes out; a place the list leaves empty lets it in.
fn with_cold_slots(
    fused: Vec<constrained::Ranked>,
    picks: &[constrained::Ranked],
    k: usize,
    slots: usize,
    margin: f64,
) -> Vec<constrained::Ranked> {
    // The item the i-th pick would push out: the list's i-th last.
    let pushed = |i: usize| k.checked_sub(i + 1).and_then(|place| fused.get(place));
    let mut n = slots.min(picks.len());
    loop {
        let head = &fused[..k.saturating_sub(n).min(fused.len())];
        let fresh: Vec<constrained::Ranked> = picks
            .iter()
            .filter(|p| head.iter().all(|h| h.item != p.item))
            .take(n)
            .copied()
            .collect();
        let admitted = fresh
            .iter()
            .enumerate()
            .take_while(|&(i, pick)| pushed(i).is_none_or(|out| pick.llm - out.llm >= margin))
            .count();
        // A shorter head can only hold fewer picks, and the margin let in fewer still, so n
        // falls until it holds.
        if admitted == n {
            let mut out = head.to_vec();
            out.extend(fresh);
            out.sort_by(constrained::Ranked::by_rank);
            return out;
        }
        n = admitted;
    }
}
