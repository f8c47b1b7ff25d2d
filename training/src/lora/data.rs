//! SFT examples as token ids: each segment tokenized on its own by the backbone's own
//! tokenizer (llama.cpp's, through the engine), exactly as the engine tokenizes prompts,
//! and the positions whose next token carries loss.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::sft::{Example, Task};

/// Why examples could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not an example.
    #[error("{path}:{line}: not an SFT example ({reason}); make the data with `grlm-train sft`")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Nothing to train on.
    #[error("{0}")]
    Empty(String),
}

/// One example as tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokenized {
    /// Token ids.
    pub tokens: Vec<u32>,
    /// `loss[j]`: token `j` is an answer token (its prediction from `j - 1` is trained).
    pub loss: Vec<bool>,
}

impl Tokenized {
    /// Answer tokens (the first token can never be one: nothing predicts it).
    pub fn loss_tokens(&self) -> usize {
        self.loss.iter().skip(1).filter(|&&l| l).count()
    }
}

/// Reads the examples of `path` (one JSON [`Example`] per line) whose task is in `tasks`.
pub fn read_examples(path: &Path, tasks: &[Task]) -> Result<Vec<Example>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| DataError::Io {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let example: Example = serde_json::from_str(&line).map_err(|e| DataError::Line {
            path: path.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        if tasks.contains(&example.task) {
            out.push(example);
        }
    }
    Ok(out)
}

/// Tokenizes `example` with `tokenize(text, with_bos)`.
pub fn tokenize(example: &Example, tokenize: &dyn Fn(&str, bool) -> Vec<u32>) -> Tokenized {
    let mut tokens = Vec::new();
    let mut loss = Vec::new();
    for segment in &example.segments {
        let ids = tokenize(&segment.text, segment.begins_text);
        loss.extend(std::iter::repeat_n(segment.loss, ids.len()));
        tokens.extend(ids);
    }
    Tokenized { tokens, loss }
}

/// A padded batch ready for [`crate::llama::Llama::loss`].
pub struct Batch {
    /// `[rows, longest]` token ids, right-padded.
    pub tokens: Tensor,
    /// Flattened positions whose next token is an answer token.
    pub positions: Tensor,
    /// The answer tokens, one per position.
    pub targets: Tensor,
    /// Tokens in the batch, padding excluded.
    pub real_tokens: usize,
    /// Answer tokens.
    pub loss_tokens: usize,
}

/// Pads `examples` into one batch on `device`.
pub fn batch(examples: &[&Tokenized], device: &Device) -> candle_core::Result<Batch> {
    let longest = examples.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
    let mut tokens = Vec::with_capacity(examples.len() * longest);
    let (mut positions, mut targets) = (Vec::new(), Vec::new());
    for (row, e) in examples.iter().enumerate() {
        tokens.extend_from_slice(&e.tokens);
        tokens.resize((row + 1) * longest, 0);
        for j in 1..e.tokens.len() {
            if e.loss[j] {
                positions.push((row * longest + j - 1) as u32);
                targets.push(e.tokens[j]);
            }
        }
    }
    let loss_tokens = targets.len();
    Ok(Batch {
        tokens: Tensor::from_vec(tokens, (examples.len(), longest), device)?,
        positions: Tensor::from_vec(positions, loss_tokens, device)?,
        targets: Tensor::from_vec(targets, loss_tokens, device)?,
        real_tokens: examples.iter().map(|e| e.tokens.len()).sum(),
        loss_tokens,
    })
}

/// A seeded permutation of `0..n` (Fisher–Yates with the engine's generator): the same
/// seed gives the same order on every machine, which resuming relies on.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = grlm::rng::SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// `examples` with at most `cap` of those `chosen` picks: a seeded subset of them, every
/// other example kept, order unchanged.
pub fn seeded_subset(examples: Vec<Example>, chosen: impl Fn(&Example) -> bool, cap: usize, seed: u64) -> Vec<Example> {
    let candidates: Vec<usize> = (0..examples.len()).filter(|&i| chosen(&examples[i])).collect();
    let mut dropped = vec![false; examples.len()];
    for &k in permutation(candidates.len(), seed).iter().skip(cap) {
        dropped[candidates[k]] = true;
    }
    examples
        .into_iter()
        .zip(dropped)
        .filter_map(|(e, drop)| (!drop).then_some(e))
        .collect()
}

/// The batches of one epoch, as indices into `examples`: a seeded shuffle, then within
/// windows of 32 batches, examples sorted by length so a batch pads little (attention costs
/// grow with the square of the padded length), then the windows' batches in shuffled order.
pub fn epoch_batches(examples: &[Tokenized], batch: usize, seed: u64) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let order = permutation(examples.len(), seed);
    let mut batches = Vec::with_capacity(examples.len().div_ceil(batch));
    for window in order.chunks(batch * 32) {
        let mut sorted = window.to_vec();
        sorted.sort_by_key(|&i| examples[i].tokens.len());
        batches.extend(sorted.chunks(batch).map(<[usize]>::to_vec));
    }
    let shuffle = permutation(batches.len(), seed.rotate_left(17) ^ 0xb47c);
    shuffle.into_iter().map(|i| std::mem::take(&mut batches[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sft::Segment;

    fn seg(text: &str, loss: bool) -> Segment {
        Segment {
            text: text.into(),
            begins_text: false,
            loss,
        }
    }

    #[test]
    fn loss_marks_the_positions_before_answer_tokens() {
        let example = Example {
            task: Task::Sequence,
            segments: vec![seg("ab", false), seg("cd", true)],
        };
        // One token per character.
        let t = tokenize(&example, &|text, _| text.bytes().map(u32::from).collect());
        assert_eq!(t.tokens, vec![97, 98, 99, 100]);
        assert_eq!(t.loss_tokens(), 2);
        let other = Tokenized {
            tokens: vec![1, 2],
            loss: vec![false, true],
        };
        let b = batch(&[&t, &other], &Device::Cpu).unwrap();
        assert_eq!(
            b.tokens.to_vec2::<u32>().unwrap(),
            vec![vec![97, 98, 99, 100], vec![1, 2, 0, 0]]
        );
        // Row 0 predicts c from position 1 and d from 2; row 1 predicts 2 from position 0.
        assert_eq!(b.positions.to_vec1::<u32>().unwrap(), vec![1, 2, 4]);
        assert_eq!(b.targets.to_vec1::<u32>().unwrap(), vec![99, 100, 2]);
        assert_eq!((b.real_tokens, b.loss_tokens), (6, 3));
    }

    #[test]
    fn epoch_batches_cover_every_example_once_with_little_padding() {
        let examples: Vec<Tokenized> = (0..100)
            .map(|i| Tokenized {
                tokens: vec![1; 1 + (i * 37) % 90],
                loss: vec![true; 1 + (i * 37) % 90],
            })
            .collect();
        let batches = epoch_batches(&examples, 8, 3);
        assert_eq!(batches, epoch_batches(&examples, 8, 3));
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 8));
        let padded: usize = batches
            .iter()
            .map(|b| b.iter().map(|&i| examples[i].tokens.len()).max().unwrap() * b.len())
            .sum();
        let real: usize = examples.iter().map(|e| e.tokens.len()).sum();
        assert!(padded < real * 11 / 10, "{padded} padded vs {real} real tokens");
    }

    #[test]
    fn seeded_subsets_cap_only_the_chosen_and_keep_order() {
        let examples: Vec<Example> = (0..40)
            .map(|i| Example {
                task: if i % 4 == 0 { Task::Terms } else { Task::Sequence },
                segments: vec![Segment {
                    text: i.to_string(),
                    begins_text: true,
                    loss: true,
                }],
            })
            .collect();
        let ids = |v: &[Example]| {
            v.iter()
                .map(|e| e.segments[0].text.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        };
        let kept = seeded_subset(examples.clone(), |e| e.task == Task::Sequence, 7, 3);
        let ids_kept = ids(&kept);
        assert_eq!(kept.iter().filter(|e| e.task == Task::Terms).count(), 10);
        assert_eq!(kept.iter().filter(|e| e.task == Task::Sequence).count(), 7);
        assert!(ids_kept.windows(2).all(|w| w[0] < w[1]), "order kept: {ids_kept:?}");
        assert_eq!(
            ids(&seeded_subset(examples.clone(), |e| e.task == Task::Sequence, 7, 3)),
            ids_kept
        );
        assert_ne!(
            ids(&seeded_subset(examples.clone(), |e| e.task == Task::Sequence, 7, 4)),
            ids_kept
        );
        assert_eq!(seeded_subset(examples.clone(), |_| true, 100, 3).len(), 40);
        assert!(seeded_subset(examples, |_| true, 0, 3).is_empty());
    }

    #[test]
    fn permutations_are_seeded_and_complete() {
        let p = permutation(100, 9);
        assert_eq!(p, permutation(100, 9));
        assert_ne!(p, permutation(100, 10));
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
