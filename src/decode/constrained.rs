//! Beam search inside the catalogue's token trie.
//!
//! A beam's score is the log-probability of its tokens with each step's distribution
//! renormalised over the children the request may enter: `Σ (logit − logsumexp(live
//! children))`. That is the model's probability of the TID given that it names an eligible
//! catalogue item, so scores of different TIDs are comparable. A forced step (one live
//! child) contributes `ln 1 = 0`, which is why forced tokens are fed without sampling, why
//! a beam ends the moment its prefix names one TID (the trie stores no nodes below that),
//! and why none of this changes the ranking.

use crate::catalog::TokenTrie;
use crate::llm::{BatchToken, Context, Token};

use super::beams::{advance, log_sum_exp, Beam, Candidate, Pending, SeqPool};
use super::prune::Pruning;
use super::{SearchStats, Start};
use crate::engine::EngineError;

/// A TID a beam finished on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Finished {
    pub score: f64,
    pub tid: u32,
}

/// The search's needs from the caller: how many results count (for the exact early stop)
/// and how many eligible items a TID holds.
pub(crate) struct Goal<'a> {
    pub k: usize,
    pub eligible_items: &'a dyn Fn(u32) -> Result<usize, EngineError>,
}

/// Runs the search from `start` (a trie node whose next-token logits are ready), keeping
/// `width` beams. Returns finished TIDs, best first (ties: lower TID index first).
#[allow(clippy::too_many_arguments)]
pub(crate) fn search(
    ctx: &mut Context,
    pool: &mut SeqPool,
    trie: &TokenTrie<'_>,
    pruning: &Pruning,
    start: Start,
    width: usize,
    goal: &Goal<'_>,
    stats: &mut SearchStats,
) -> Result<Vec<Finished>, EngineError> {
    let mut finished: Vec<Finished> = Vec::new();
    if let Some(tid) = trie.leaf_tid(start.node)? {
        return Ok(vec![Finished { score: 0.0, tid }]);
    }
    let mut beams = vec![Beam {
        seq: start.seq,
        pos: start.pos,
        logits: start.logits,
        score: 0.0,
        state: start.node,
    }];
    let mut batch: Vec<BatchToken> = Vec::new();
    let mut live: Vec<(Token, u32, f64)> = Vec::new();
    while !beams.is_empty() {
        stats.steps += 1;
        // A candidate's state is the trie node its token leads to.
        let mut candidates: Vec<Candidate<u32>> = Vec::new();
        for (b, beam) in beams.iter().enumerate() {
            let logits = ctx
                .logits(beam.logits)
                .ok_or_else(|| EngineError::Internal("beam logits missing".into()))?;
            let (tokens, first) = trie.children(beam.state)?;
            live.clear();
            for (i, token) in tokens.iter().enumerate() {
                let child = first + i as u32;
                if pruning.alive(child) {
                    let token = token.get();
                    let logit = *logits
                        .get(token as usize)
                        .ok_or_else(|| EngineError::Internal(format!("token {token} beyond the logits")))?;
                    live.push((token, child, f64::from(logit)));
                }
            }
            let lse = log_sum_exp(live.iter().map(|l| l.2));
            for &(token, child, logit) in &live {
                candidates.push(Candidate {
                    score: beam.score + (logit - lse),
                    beam: b,
                    token,
                    state: child,
                });
            }
        }
        let by_rank = Candidate::by_rank;
        if candidates.len() > width {
            candidates.select_nth_unstable_by(width - 1, by_rank);
            candidates.truncate(width);
        }
        candidates.sort_unstable_by(by_rank);

        let mut pending: Vec<Pending<u32>> = Vec::new();
        for c in candidates {
            let mut node = c.state;
            let mut tokens = vec![c.token];
            // Follow forced steps: a node with one live child adds ln 1 to the score.
            let done = loop {
                if let Some(tid) = trie.leaf_tid(node)? {
                    break Some(tid);
                }
                let (child_tokens, first) = trie.children(node)?;
                let mut only = None;
                let mut count = 0;
                for (i, t) in child_tokens.iter().enumerate() {
                    if pruning.alive(first + i as u32) {
                        count += 1;
                        only = Some((t.get(), first + i as u32));
                    }
                }
                match (count, only) {
                    (1, Some((token, child))) => {
                        tokens.push(token);
                        node = child;
                    }
                    _ => break None,
                }
            };
            match done {
                Some(tid) => finished.push(Finished { score: c.score, tid }),
                None => pending.push(Pending {
                    parent: c.beam,
                    score: c.score,
                    tokens,
                    state: node,
                }),
            }
        }

        // Scores never rise along a path, so a beam below the k-th best finished item can
        // neither enter the top k nor push out a candidate that could.
        if let Some(bar) = kth_item_score(&mut finished, goal)? {
            pending.retain(|p| p.score >= bar);
        }
        if pending.is_empty() {
            pool.release(ctx, beams)?;
            break;
        }
        beams = advance(ctx, pool, beams, pending, &mut batch)?;
        stats.evaluated += batch.len() as u64;
    }
    finished.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.tid.cmp(&b.tid)));
    Ok(finished)
}

/// The score of the k-th best eligible item among finished TIDs, once there are k.
fn kth_item_score(finished: &mut [Finished], goal: &Goal<'_>) -> Result<Option<f64>, EngineError> {
    finished.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.tid.cmp(&b.tid)));
    let mut items = 0;
    for f in finished.iter() {
        items += (goal.eligible_items)(f.tid)?;
        if items >= goal.k {
            return Ok(Some(f.score));
        }
    }
    Ok(None)
}
