//! Unconstrained beam search, the paper's setting: beams over the whole vocabulary, scored by
//! plain log-probabilities, each ending at the `]` that closes a TID (or a newline, an
//! end-of-generation token, or the length cap). [`ground`] then maps the texts to items.

use crate::catalog::Catalog;
use crate::filter::ItemFilter;
use crate::llm::{BatchToken, Context, Model, Token};
use crate::tid::Tid;

use super::beams::{advance, log_sum_exp, Beam, Candidate, Pending, SeqPool};
use super::{DecodeError, SearchStats, Start};

/// A finished free-mode beam.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FreeBeam {
    pub score: f64,
    /// The generated text (lossy UTF-8), through the closing `]` when there is one.
    pub text: String,
}

/// Runs the search; returns up to `width` beams, best first.
pub(crate) fn search(
    ctx: &mut Context,
    pool: &mut SeqPool,
    model: &Model,
    start: Start,
    width: usize,
    max_tokens: usize,
    stats: &mut SearchStats,
) -> Result<Vec<FreeBeam>, DecodeError> {
    let mut beams = vec![Beam {
        seq: start.seq,
        pos: start.pos,
        logits: start.logits,
        score: 0.0,
        state: Vec::<u8>::new(),
    }];
    let mut finished: Vec<FreeBeam> = Vec::new();
    let mut batch: Vec<BatchToken> = Vec::new();
    let mut step = 0;
    while !beams.is_empty() {
        stats.steps += 1;
        step += 1;
        let mut candidates: Vec<Candidate<()>> = Vec::new();
        for (b, beam) in beams.iter().enumerate() {
            let logits = ctx
                .logits(beam.logits)
                .ok_or_else(|| DecodeError::Internal("beam logits missing".into()))?;
            let lse = log_sum_exp(logits.iter().map(|&l| f64::from(l)));
            // Only a beam's `width` best tokens can be among the `width` best candidates.
            let mut best: Vec<(f32, Token)> = logits.iter().enumerate().map(|(t, &l)| (l, t as Token)).collect();
            let by_logit = |a: &(f32, Token), b: &(f32, Token)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
            if best.len() > width {
                best.select_nth_unstable_by(width - 1, by_logit);
                best.truncate(width);
            }
            for (logit, token) in best {
                candidates.push(Candidate {
                    score: beam.score + (f64::from(logit) - lse),
                    beam: b,
                    token,
                    state: (),
                });
            }
        }
        candidates.sort_unstable_by(Candidate::by_rank);
        candidates.truncate(width);

        let mut pending: Vec<Pending<Vec<u8>>> = Vec::new();
        for c in candidates {
            let mut text = beams[c.beam].state.clone();
            let ended_by_token = model.is_end_of_generation(c.token);
            let piece = model.token_bytes(c.token);
            let close = piece.iter().position(|&b| b == b']' || b == b'\n');
            match close {
                Some(at) => text.extend_from_slice(&piece[..=at]),
                None => text.extend_from_slice(&piece),
            }
            if ended_by_token || close.is_some() || step >= max_tokens {
                let text = String::from_utf8_lossy(&text).trim_end_matches('\n').to_owned();
                finished.push(FreeBeam { score: c.score, text });
            } else {
                pending.push(Pending {
                    parent: c.beam,
                    score: c.score,
                    tokens: vec![c.token],
                    state: text,
                });
            }
        }
        finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        if finished.len() >= width {
            let bar = finished[width - 1].score;
            pending.retain(|p| p.score > bar);
        }
        if pending.is_empty() {
            pool.release(ctx, beams)?;
            break;
        }
        beams = advance(ctx, pool, beams, pending, &mut batch)?;
        stats.evaluated += batch.len() as u64;
    }
    finished.truncate(width);
    Ok(finished)
}

/// A free-mode beam's text, read as a TID of the catalogue.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReadBeam {
    pub text: String,
    pub score: f64,
    /// It parses as a TID of the catalogue's length.
    pub valid: bool,
    /// It names a catalogue TID exactly.
    pub direct: bool,
}

/// An item found by grounding a beam, with that beam's score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FoundItem {
    /// The item's position in the catalogue.
    pub index: usize,
    pub item: u32,
    pub score: f64,
}

/// Grounds every beam's text to at most `k` eligible items and interleaves them: every
/// beam's best item (beams best first) before any beam's second, each item once, `k` at
/// most. Returns the items and every beam as read.
pub(crate) fn ground(
    catalog: &Catalog,
    beams: Vec<FreeBeam>,
    k: usize,
    filter: &ItemFilter,
) -> Result<(Vec<FoundItem>, Vec<ReadBeam>), DecodeError> {
    let mut read = Vec::with_capacity(beams.len());
    let mut grounded = Vec::with_capacity(beams.len());
    for beam in beams {
        let parsed = Tid::parse(&beam.text, None).ok();
        let hits = match &parsed {
            Some(tid) => catalog.ground(tid, k, filter)?,
            None => Vec::new(),
        };
        let valid = parsed.as_ref().is_some_and(|t| t.len() == catalog.tid_len());
        let direct = match &parsed {
            Some(tid) if valid => !catalog.items_with_tid(tid)?.is_empty(),
            _ => false,
        };
        grounded.push((beam.score, hits));
        read.push(ReadBeam {
            text: beam.text,
            score: beam.score,
            valid,
            direct,
        });
    }
    let mut found: Vec<FoundItem> = Vec::with_capacity(k);
    let deepest = grounded.iter().map(|g| g.1.len()).max().unwrap_or(0);
    'ranks: for rank in 0..deepest {
        for (score, hits) in &grounded {
            let Some(hit) = hits.get(rank) else { continue };
            if found.iter().any(|f| f.item == hit.item) {
                continue;
            }
            let index = catalog
                .item_index(hit.item)
                .ok_or_else(|| DecodeError::Internal(format!("grounded item {} is not in the catalogue", hit.item)))?;
            found.push(FoundItem {
                index,
                item: hit.item,
                score: *score,
            });
            if found.len() == k {
                break 'ranks;
            }
        }
    }
    Ok((found, read))
}
