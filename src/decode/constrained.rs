//! Beam search inside the catalogue's token trie, returning ranked items.
//!
//! A beam's LLM score is the log-probability of its tokens with each step's distribution
//! renormalised over the children the request may enter: `Σ (logit − logsumexp(live
//! children))`. That is the model's probability of the TID given that it names an eligible
//! catalogue item, so scores of different TIDs are comparable. A forced step (one live
//! child) contributes `ln 1 = 0`, which is why forced tokens are fed without sampling, why
//! a beam ends the moment its prefix names one TID (the trie stores no nodes below that),
//! and why none of this changes the ranking.
//!
//! With the collaborative prior as a product (weight λ), beams are ranked by
//! `s_LLM(prefix) + λ · ln M(prefix)`, `M` being the prior mass of the eligible items below
//! the prefix, and an item scores `s_LLM(its TID) + λ · ln P(item)`. As a mixture (prior share `a`),
//! a prefix scores `ln(a · M(prefix) + (1 − a) · exp(s_LLM(prefix)))` and an item
//! `ln(a · P(item) + (1 − a) · exp(s_LLM(its TID)) · P(item) / M(its TID))`: the model's
//! probability of a TID is shared among its items as the prior shares `M`, so the items
//! below a prefix add up to it. Every part only falls along a path, so a prefix's score
//! bounds every item below it and the early stop stays exact. Without the prior the
//! scores are the LLM's alone, computed exactly as they always were.

use crate::catalog::{Catalog, TokenTrie};
use crate::filter::ItemFilter;
use crate::llm::{BatchToken, Context, Token};
use crate::prior::{Combine, HistoryPrior, NodeMasses};

use super::beams::{advance, log_sum_exp, Beam, Candidate, Pending, SeqPool};
use super::prune::Pruning;
use super::{DecodeError, SearchStats, Start};

/// The collaborative prior of a request and how it is combined with the model.
#[derive(Clone, Copy)]
pub(crate) struct Fused<'a> {
    scoring: Scoring,
    prior: &'a HistoryPrior<'a>,
    masses: &'a NodeMasses<'a>,
}

impl<'a> Fused<'a> {
    pub(crate) fn new(combine: Combine, prior: &'a HistoryPrior<'a>, masses: &'a NodeMasses<'a>) -> Self {
        Fused {
            scoring: Scoring::new(combine),
            prior,
            masses,
        }
    }
}

/// A fusion with its constants taken once. The mixture's logarithms of its shares are then
/// no per-node work, and a search without the prior never evaluates them: hoisted out of
/// the loop by the compiler, they were taken of an unset share (harmless, but valgrind
/// reports it).
#[derive(Clone, Copy)]
enum Scoring {
    Product { weight: f64 },
    Mixture { ln_prior_share: f64, ln_model_share: f64 },
}

impl Scoring {
    fn new(combine: Combine) -> Self {
        match combine {
            Combine::Product { weight } => Scoring::Product { weight },
            Combine::Mixture { prior_share } => Scoring::Mixture {
                ln_prior_share: prior_share.ln(),
                ln_model_share: (1.0 - prior_share).ln(),
            },
        }
    }

    /// The fused score of prior mass `mass` and LLM score `llm`: `llm + λ · ln mass`, or
    /// `ln(a · mass + (1 − a) · exp(llm))` in log space, so that a long path's tiny
    /// probabilities neither underflow nor lose the larger part.
    fn score(self, mass: f64, llm: f64) -> f64 {
        match self {
            Scoring::Product { weight } => llm + weight * mass.ln(),
            Scoring::Mixture {
                ln_prior_share,
                ln_model_share,
            } => log_sum_exp([ln_prior_share + mass.ln(), ln_model_share + llm].into_iter()),
        }
    }
}

/// What the search is asked for.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    /// Items wanted (fewer come back when fewer are eligible).
    pub k: usize,
    /// Beams kept per step.
    pub width: usize,
    /// The items the request may return.
    pub filter: &'a ItemFilter,
    /// The prior to fuse, if any.
    pub fusion: Option<Fused<'a>>,
    /// A subset of the eligible items to search alone, scored exactly as among all of
    /// them: the model's steps stay renormalised over every eligible child, and the
    /// prior's mass is the whole request's (the cold slots' search).
    pub within: Option<Within<'a>>,
}

/// The items a search is confined to, with the pruning of the trie to them.
#[derive(Clone, Copy)]
pub(crate) struct Within<'a> {
    pub filter: &'a ItemFilter,
    pub pruning: &'a Pruning,
}

/// One result of the search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Ranked {
    /// The item's position in the catalogue.
    pub index: usize,
    /// Its external id.
    pub item: u32,
    /// The TID index it carries.
    pub tid: u32,
    /// Its score: the TID's LLM score, or its fusion with the prior.
    pub score: f64,
    /// The TID's LLM score alone: its log-probability renormalised over eligible TIDs.
    pub llm: f64,
    /// Its place among the items of its TID (ascending id without the prior, most
    /// probable first with it): ties between items are broken by TID, then by this.
    rank_in_tid: u32,
}

impl Ranked {
    /// Best first: by score, then TID, then place within the TID.
    pub(crate) fn by_rank(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.score
            .total_cmp(&a.score)
            .then(a.tid.cmp(&b.tid))
            .then(a.rank_in_tid.cmp(&b.rank_in_tid))
    }
}

/// Where a beam stands: its trie node and the LLM's part of its score (its `score` field is
/// the rank score, the LLM's part plus the prior's).
#[derive(Clone, Copy, Debug)]
struct At {
    node: u32,
    llm: f64,
}

/// The search over one catalogue's trie for one request.
struct Search<'s> {
    catalog: &'s Catalog,
    trie: &'s TokenTrie<'s>,
    pruning: &'s Pruning,
    request: &'s Request<'s>,
}

/// Runs one search per request from `start` (a trie node whose next-token logits are
/// ready) and returns up to each request's `k` items, best first. The searches run in
/// lockstep: each keeps its own beams, early stop and results, exactly as it would alone,
/// while every step's new tokens of all of them go to llama.cpp in one call, so a second
/// search adds tokens to the calls rather than calls. Their beams hold up to the sum of
/// their widths of the pool's sequences.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search(
    ctx: &mut Context,
    pool: &mut SeqPool,
    catalog: &Catalog,
    trie: &TokenTrie<'_>,
    pruning: &Pruning,
    start: Start,
    requests: &[&Request<'_>],
    stats: &mut SearchStats,
) -> Result<Vec<Vec<Ranked>>, DecodeError> {
    let searches: Vec<Search> = requests
        .iter()
        .map(|&request| Search {
            catalog,
            trie,
            pruning,
            request,
        })
        .collect();
    let mut finished: Vec<Vec<Ranked>> = vec![Vec::new(); searches.len()];
    if let Some(tid) = trie.leaf_tid(start.node)? {
        for (search, finished) in searches.iter().zip(&mut finished) {
            if search.enters(start.node) {
                search.finish(tid, 0.0, finished)?;
            }
        }
    } else {
        let root = At {
            node: start.node,
            llm: 0.0,
        };
        let mut beams: Vec<Vec<Beam<At>>> = Vec::with_capacity(searches.len());
        for search in &searches {
            beams.push(match search.enters(start.node) {
                true => vec![Beam {
                    seq: start.seq,
                    pos: start.pos,
                    logits: start.logits,
                    score: search.rank_score(root)?,
                    state: root,
                }],
                false => Vec::new(),
            });
        }
        let mut batch: Vec<BatchToken> = Vec::new();
        while beams.iter().any(|b| !b.is_empty()) {
            stats.steps += 1;
            // Every search's beams and continuations side by side, each search's parents
            // indexed past the beams of the searches before it.
            let mut parents: Vec<Beam<At>> = Vec::new();
            let mut pending: Vec<Pending<At>> = Vec::new();
            let mut continuing = vec![0usize; searches.len()];
            for (s, search) in searches.iter().enumerate() {
                let own = std::mem::take(&mut beams[s]);
                if own.is_empty() {
                    continue;
                }
                let next = search.step(ctx, &own, &mut finished[s])?;
                if next.is_empty() {
                    pool.release(ctx, own)?;
                    continue;
                }
                continuing[s] = next.len();
                let offset = parents.len();
                pending.extend(next.into_iter().map(|p| Pending {
                    parent: p.parent + offset,
                    ..p
                }));
                parents.extend(own);
            }
            if pending.is_empty() {
                break;
            }
            // The next beams come back in the order of `pending`, so search by search.
            let mut next = advance(ctx, pool, parents, pending, &mut batch)?.into_iter();
            for (s, &n) in continuing.iter().enumerate() {
                beams[s] = next.by_ref().take(n).collect();
            }
            stats.evaluated += batch.len() as u64;
        }
    }
    Ok(searches
        .iter()
        .zip(finished)
        .map(|(search, finished)| search.best(finished))
        .collect())
}

impl Search<'_> {
    /// One step of the search from `beams`: finishes the best candidates that name a TID
    /// and returns the continuations worth evaluating (none: the search is over).
    fn step(
        &self,
        ctx: &Context,
        beams: &[Beam<At>],
        finished: &mut Vec<Ranked>,
    ) -> Result<Vec<Pending<At>>, DecodeError> {
        let width = self.request.width;
        let mut candidates = self.candidates(ctx, beams)?;
        if candidates.len() > width {
            candidates.select_nth_unstable_by(width - 1, Candidate::by_rank);
            candidates.truncate(width);
        }
        candidates.sort_unstable_by(Candidate::by_rank);

        let mut pending: Vec<Pending<At>> = Vec::new();
        for c in candidates {
            let (at, tokens) = self.follow_forced(c.state, c.token)?;
            match self.trie.leaf_tid(at.node)? {
                Some(tid) => self.finish(tid, at.llm, finished)?,
                None => pending.push(Pending {
                    parent: c.beam,
                    score: c.score,
                    tokens,
                    state: at,
                }),
            }
        }

        // Scores never rise along a path, so a beam below the k-th best finished item can
        // neither enter the top k nor push out a candidate that could.
        if let Some(bar) = kth_score(finished, self.request.k) {
            pending.retain(|p| p.score >= bar);
        }
        Ok(pending)
    }

    /// The rank score of a beam at `at`: its LLM score, or its fusion with the prior mass
    /// below the node.
    fn rank_score(&self, at: At) -> Result<f64, DecodeError> {
        let Some(f) = &self.request.fusion else {
            return Ok(at.llm);
        };
        Ok(f.scoring.score(f.masses.mass(at.node)?, at.llm))
    }

    /// Every live child of every beam, scored. Children the prior gives no mass to (only
    /// possible with smoothing 0) cannot lead to a result and are left out.
    fn candidates(&self, ctx: &Context, beams: &[Beam<At>]) -> Result<Vec<Candidate<At>>, DecodeError> {
        let mut candidates = Vec::new();
        let mut live: Vec<(Token, u32, f64)> = Vec::new();
        for (b, beam) in beams.iter().enumerate() {
            let logits = ctx
                .logits(beam.logits)
                .ok_or_else(|| DecodeError::Internal("beam logits missing".into()))?;
            let (tokens, first) = self.trie.children(beam.state.node)?;
            live.clear();
            for (i, token) in tokens.iter().enumerate() {
                let child = first + i as u32;
                if self.pruning.alive(child) {
                    let token = token.get();
                    let logit = *logits
                        .get(token as usize)
                        .ok_or_else(|| DecodeError::Internal(format!("token {token} beyond the logits")))?;
                    live.push((token, child, f64::from(logit)));
                }
            }
            let lse = log_sum_exp(live.iter().map(|l| l.2));
            for &(token, child, logit) in live.iter().filter(|l| self.enters(l.1)) {
                let at = At {
                    node: child,
                    llm: beam.state.llm + (logit - lse),
                };
                let score = self.rank_score(at)?;
                if score != f64::NEG_INFINITY {
                    candidates.push(Candidate {
                        score,
                        beam: b,
                        token,
                        state: at,
                    });
                }
            }
        }
        Ok(candidates)
    }

    /// Takes `token` into `at` and then every forced step (a node with one live child adds
    /// ln 1 to the LLM score and keeps all of the prior's mass); returns where that ends and
    /// the tokens to evaluate.
    fn follow_forced(&self, mut at: At, token: Token) -> Result<(At, Vec<Token>), DecodeError> {
        let mut tokens = vec![token];
        while self.trie.leaf_tid(at.node)?.is_none() {
            let (child_tokens, first) = self.trie.children(at.node)?;
            let mut live = child_tokens
                .iter()
                .enumerate()
                .map(|(i, t)| (t.get(), first + i as u32))
                .filter(|&(_, child)| self.pruning.alive(child));
            match (live.next(), live.next()) {
                (Some((token, child)), None) => {
                    tokens.push(token);
                    at.node = child;
                }
                _ => break,
            }
        }
        Ok((at, tokens))
    }

    /// Whether the search may enter trie node `node` (every live node, unless it is
    /// confined to a subset of the items).
    fn enters(&self, node: u32) -> bool {
        self.request.within.is_none_or(|w| w.pruning.alive(node))
    }

    /// Whether the search may return `item` (an eligible one).
    fn returns(&self, item: u32) -> bool {
        self.request.within.is_none_or(|w| w.filter.permits(item))
    }

    /// Adds the eligible items of TID `tid`, whose LLM score is `llm`, to `finished`.
    fn finish(&self, tid: u32, llm: f64, finished: &mut Vec<Ranked>) -> Result<(), DecodeError> {
        match &self.request.fusion {
            None => self.finish_alike(tid, llm, llm, finished)?,
            Some(f) => {
                let items = f.prior.tid_items(tid as usize)?;
                let tid_mass: f64 = items.iter().map(|p| p.probability).sum();
                if tid_mass == 0.0 {
                    // Smoothing 0 and no transition to any of them: the model's part is all
                    // there is (a product gives them nothing at all).
                    if let Scoring::Mixture { .. } = f.scoring {
                        self.finish_alike(tid, f.scoring.score(0.0, llm), llm, finished)?;
                    }
                    return Ok(());
                }
                for (rank, p) in items.into_iter().enumerate() {
                    if !self.returns(p.item) {
                        continue;
                    }
                    // The mixture shares the TID's probability among its items as the prior does.
                    let share = match f.scoring {
                        Scoring::Product { .. } => 0.0,
                        Scoring::Mixture { .. } => (p.probability / tid_mass).ln(),
                    };
                    let score = f.scoring.score(p.probability, llm + share);
                    finished.push(Ranked {
                        index: p.index,
                        item: p.item,
                        tid,
                        score,
                        llm,
                        rank_in_tid: rank as u32,
                    });
                }
            }
        }
        Ok(())
    }

    /// Adds the eligible items of TID `tid`, whose LLM score is `llm`, all scoring `score`,
    /// in ascending id order.
    fn finish_alike(&self, tid: u32, score: f64, llm: f64, finished: &mut Vec<Ranked>) -> Result<(), DecodeError> {
        let members = self.catalog.tid_members(tid as usize)?;
        let eligible = members.filter(|&(_, id)| self.request.filter.permits(id) && self.returns(id));
        for (rank, (index, item)) in eligible.enumerate() {
            finished.push(Ranked {
                index,
                item,
                tid,
                score,
                llm,
                rank_in_tid: rank as u32,
            });
        }
        Ok(())
    }

    /// The `k` best of `finished`.
    fn best(&self, mut finished: Vec<Ranked>) -> Vec<Ranked> {
        finished.sort_unstable_by(Ranked::by_rank);
        finished.truncate(self.request.k);
        finished
    }
}

/// The score of the k-th best finished item, once there are k.
fn kth_score(finished: &mut [Ranked], k: usize) -> Option<f64> {
    if finished.len() < k || k == 0 {
        return None;
    }
    finished.select_nth_unstable_by(k - 1, Ranked::by_rank);
    Some(finished[k - 1].score)
}
