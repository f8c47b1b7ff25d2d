//! Beams as KV-cache sequences: forking, batching every beam's new tokens into one decode
//! call, and releasing sequences. Shared by the constrained and the free search.

use crate::llm::{BatchToken, Context, LlmError, Token};

/// The sequence that holds the session's prompt. Beams fork from it and never write to it.
pub(crate) const PROMPT_SEQ: u32 = 0;

/// A live beam: its own KV sequence, where its next token goes, and where its next-token
/// logits are in the last decode call.
#[derive(Debug)]
pub(crate) struct Beam<S> {
    pub seq: u32,
    pub pos: u32,
    pub logits: usize,
    pub score: f64,
    pub state: S,
}

/// A chosen continuation of a beam: the tokens to evaluate (the chosen token, then any
/// forced ones) and the state after them.
#[derive(Debug)]
pub(crate) struct Pending<S> {
    pub parent: usize,
    pub score: f64,
    pub tokens: Vec<Token>,
    pub state: S,
}

/// A possible next token of a beam, with the score the beam would have after it.
#[derive(Debug)]
pub(crate) struct Candidate<S> {
    pub score: f64,
    pub beam: usize,
    pub token: Token,
    pub state: S,
}

impl<S> Candidate<S> {
    /// Best score first; ties go to the earlier beam, then the lower token, so that a
    /// search is deterministic.
    pub(crate) fn by_rank(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.score
            .total_cmp(&a.score)
            .then(a.beam.cmp(&b.beam))
            .then(a.token.cmp(&b.token))
    }
}

/// Sequence ids other than the prompt's, handed to beams and taken back.
#[derive(Debug)]
pub(crate) struct SeqPool {
    free: Vec<u32>,
}

impl SeqPool {
    pub(crate) fn new(n_seq: u32) -> Self {
        SeqPool {
            free: (PROMPT_SEQ + 1..n_seq).rev().collect(),
        }
    }

    fn take(&mut self) -> Result<u32, LlmError> {
        self.free
            .pop()
            .ok_or_else(|| LlmError::Limit("more beams than the context has sequences".into()))
    }

    fn give(&mut self, ctx: &mut Context, seq: u32) -> Result<(), LlmError> {
        if seq != PROMPT_SEQ {
            ctx.remove(seq, 0)?;
            self.free.push(seq);
        }
        Ok(())
    }

    /// Releases every beam's sequence (end of a search).
    pub(crate) fn release<S>(&mut self, ctx: &mut Context, beams: Vec<Beam<S>>) -> Result<(), LlmError> {
        for beam in beams {
            self.give(ctx, beam.seq)?;
        }
        Ok(())
    }
}

/// Turns `pending` continuations of `beams` into the next beams: parents without
/// continuations give their sequence back, the first continuation of a parent inherits its
/// sequence and the others fork it, then all new tokens go to llama.cpp in one call with
/// logits for each beam's last token.
pub(crate) fn advance<S, T>(
    ctx: &mut Context,
    pool: &mut SeqPool,
    beams: Vec<Beam<S>>,
    pending: Vec<Pending<T>>,
    batch: &mut Vec<BatchToken>,
) -> Result<Vec<Beam<T>>, LlmError> {
    let mut children = vec![0usize; beams.len()];
    for p in &pending {
        children[p.parent] += 1;
    }
    for (beam, &n) in beams.iter().zip(&children) {
        if n == 0 {
            pool.give(ctx, beam.seq)?;
        }
    }
    let mut inherited = vec![false; beams.len()];
    let mut next = Vec::with_capacity(pending.len());
    batch.clear();
    for p in pending {
        let parent = &beams[p.parent];
        let seq = if parent.seq != PROMPT_SEQ && !inherited[p.parent] {
            inherited[p.parent] = true;
            parent.seq
        } else {
            let seq = pool.take()?;
            ctx.fork(parent.seq, seq)?;
            seq
        };
        let last = p.tokens.len() - 1;
        for (i, &token) in p.tokens.iter().enumerate() {
            batch.push(BatchToken {
                token,
                pos: parent.pos + i as u32,
                seq,
                logits: i == last,
            });
        }
        next.push(Beam {
            seq,
            pos: parent.pos + p.tokens.len() as u32,
            logits: batch.len() - 1,
            score: p.score,
            state: p.state,
        });
    }
    // Every fork above copied its parent before any new token was written: the order of
    // the batch does not matter.
    ctx.decode(batch)?;
    Ok(next)
}

/// `ln Σ exp(x)` over `values`, stable for large logits.
pub(crate) fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}
