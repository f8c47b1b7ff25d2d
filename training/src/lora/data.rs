//! SFT examples as token ids: each segment tokenized on its own by the backbone's own
//! tokenizer (llama.cpp's, through the engine), exactly as the engine tokenizes prompts,
//! and the positions whose next token carries loss.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use grlm::catalog::input::InputError;

use crate::llama::{Targets, TrieTargets};
use crate::sft::{Example, Task};

/// Why examples could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Io { path: PathBuf, source: std::io::Error },
    /// A line is not an example.
    #[error("{path}:{line}: not an SFT example ({reason}); make the data with `grlm-train sft`")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Line { path: PathBuf, line: u64, reason: String },
    /// Nothing to train on.
    #[error("{0}")]
    Empty(String),
}

/// One example as tokens.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tokenized {
    /// Token ids.
    pub tokens: Vec<u32>,
    /// `loss[j]`: token `j` is an answer token (its prediction from `j - 1` is trained).
    pub loss: Vec<bool>,
    /// `nodes[j]`: the token-trie node answer token `j` is chosen at, its loss taken over
    /// that node's children only; [`FULL`] for a choice over the whole vocabulary. Empty
    /// when every answer token is a choice over the whole vocabulary.
    pub nodes: Vec<u32>,
    /// Answer lines (target items) in the example.
    pub targets: u32,
    /// The residual stream entering the first trained block, `[tokens, embd]` in f16, when
    /// the blocks below it are frozen and their output cached ([`crate::lora::prefix`]).
    pub prefix: Vec<half::f16>,
}

/// In [`Tokenized::nodes`], a token chosen over the whole vocabulary.
pub const FULL: u32 = u32::MAX;

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
    parse_examples(std::io::BufReader::new(file), path, tasks)
}

/// [`read_examples`] on any reader; `path` names it in errors. Lines go through the
/// engine's bounded line reader, and each example must keep the format's promises (see
/// [`check_example`]): a hand-made or damaged file fails here, on its line, rather than
/// training on something the engine never shows the model.
pub fn parse_examples(reader: impl BufRead, path: &Path, tasks: &[Task]) -> Result<Vec<Example>, DataError> {
    let mut out = Vec::new();
    grlm::catalog::input::for_each_line(reader, path, |_, text| {
        let example: Example = serde_json::from_str(text).map_err(|e| e.to_string())?;
        check_example(&example)?;
        if tasks.contains(&example.task) {
            out.push(example);
        }
        Ok(())
    })
    .map_err(|e| match e {
        InputError::Io { path, source } => DataError::Io { path, source },
        InputError::Line { path, line, reason } => DataError::Line { path, line, reason },
    })?;
    Ok(out)
}

/// What every example promises ([`crate::sft`]'s native format): at least one segment
/// carries loss, and only the first may begin a text (a start-of-text token in the middle
/// of an example is a prompt the engine never writes).
pub fn check_example(example: &Example) -> Result<(), String> {
    if !example.segments.iter().any(|s| s.loss) {
        return Err("no segment has \"loss\": true".into());
    }
    if let Some(i) = example.segments.iter().skip(1).position(|s| s.begins_text) {
        return Err(format!(
            "segment {} has \"begins_text\": true; only the first segment may",
            i + 2
        ));
    }
    Ok(())
}

/// Tokenizes `example` with `tokenize(text, with_bos)`.
pub fn tokenize(example: &Example, tokenize: &dyn Fn(&str, bool) -> Vec<u32>) -> Tokenized {
    tokenize_segments(example, tokenize).0
}

/// [`tokenize`], and the token range of each segment.
fn tokenize_segments(
    example: &Example,
    tokenize: &dyn Fn(&str, bool) -> Vec<u32>,
) -> (Tokenized, Vec<std::ops::Range<usize>>) {
    let mut tokens = Vec::new();
    let mut loss = Vec::new();
    let mut spans = Vec::with_capacity(example.segments.len());
    for segment in &example.segments {
        let ids = tokenize(&segment.text, segment.begins_text);
        loss.extend(std::iter::repeat_n(segment.loss, ids.len()));
        spans.push(tokens.len()..tokens.len() + ids.len());
        tokens.extend(ids);
    }
    let targets = example.loss_lines().len() as u32;
    let out = Tokenized {
        tokens,
        loss,
        nodes: Vec::new(),
        targets,
        prefix: Vec::new(),
    };
    (out, spans)
}

/// Whether `task`'s answers are catalogue TIDs, which constrained decoding chooses inside
/// the token trie (the other tasks write TIDs or lists that need not be in any catalogue).
pub fn answers_in_trie(task: Task) -> bool {
    matches!(task, Task::Sequence | Task::Transitions | Task::Unseen)
}

/// Tokenizes `example` for the constrained decoder's objective: each answer TID's tokens
/// are walked down `trie`, a token is learned only where its node has more than one child
/// (a forced token costs nothing at inference and teaches nothing), and over those
/// children only; the newline after a TID, never generated by the decoder, is not learned.
/// Examples of other tasks are tokenized as [`tokenize`] does. Fails when an answer TID is
/// not in the trie: data and catalogue disagree.
pub fn tokenize_for_trie(
    example: &Example,
    tokenize: &dyn Fn(&str, bool) -> Vec<u32>,
    trie: &grlm::catalog::TokenTrie<'_>,
) -> Result<Tokenized, String> {
    let (mut out, spans) = tokenize_segments(example, tokenize);
    if !answers_in_trie(example.task) {
        return Ok(out);
    }
    out.nodes = vec![FULL; out.tokens.len()];
    for (segment, span) in example.segments.iter().zip(spans) {
        if !segment.loss {
            continue;
        }
        out.loss[span.clone()].iter_mut().for_each(|l| *l = false);
        if !segment.text.starts_with('[') {
            continue;
        }
        let mut node = 0u32;
        for j in span {
            let (children, _) = trie.children(node).map_err(|e| e.to_string())?;
            if children.len() > 1 {
                out.loss[j] = true;
                out.nodes[j] = node;
            }
            node = trie
                .child(node, out.tokens[j])
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("the answer {:?} is not in the catalogue's token trie", segment.text))?;
            if trie.leaf_tid(node).map_err(|e| e.to_string())?.is_some() {
                break;
            }
        }
        if trie.leaf_tid(node).map_err(|e| e.to_string())?.is_none() {
            return Err(format!(
                "the answer {:?} ends inside the catalogue's token trie, not at a TID",
                segment.text
            ));
        }
    }
    Ok(out)
}

/// A padded batch ready for [`crate::llama::Llama::loss_sum`].
pub struct Batch {
    /// `[rows, longest]` token ids, right-padded.
    pub tokens: Tensor,
    /// `[rows, longest, embd]`: the cached residual stream entering the first trained
    /// block, when the examples carry one.
    pub prefix: Option<Tensor>,
    /// What the batch learns.
    pub targets: Targets,
    /// Tokens in the batch, padding excluded.
    pub real_tokens: usize,
    /// Answer tokens.
    pub loss_tokens: usize,
}

/// Pads `examples` into one batch on `device`; `trie` gives the children of the nodes
/// that [`tokenize_for_trie`] recorded.
pub fn batch(
    examples: &[&Tokenized],
    trie: Option<&grlm::catalog::TokenTrie<'_>>,
    device: &Device,
) -> candle_core::Result<Batch> {
    let longest = examples.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
    let mut tokens = Vec::with_capacity(examples.len() * longest);
    let (mut positions, mut targets) = (Vec::new(), Vec::new());
    let mut choices: Vec<(u32, u32, u32)> = Vec::new();
    for (row, e) in examples.iter().enumerate() {
        tokens.extend_from_slice(&e.tokens);
        tokens.resize((row + 1) * longest, 0);
        for j in 1..e.tokens.len() {
            if !e.loss[j] {
                continue;
            }
            let position = (row * longest + j - 1) as u32;
            match e.nodes.get(j).copied().unwrap_or(FULL) {
                FULL => {
                    positions.push(position);
                    targets.push(e.tokens[j]);
                }
                node => choices.push((position, node, e.tokens[j])),
            }
        }
    }
    let full = targets.len();
    let loss_tokens = full + choices.len();
    let trie_targets = match (choices.is_empty(), trie) {
        (true, _) => None,
        (false, None) => candle_core::bail!("trie targets without a trie"),
        (false, Some(trie)) => Some(trie_targets(&choices, trie, device)?),
    };
    let prefix = match examples.first().map(|e| e.prefix.len() / e.tokens.len().max(1)) {
        Some(embd) if embd > 0 => {
            let mut values = vec![0f32; examples.len() * longest * embd];
            for (row, e) in examples.iter().enumerate() {
                if e.prefix.len() != e.tokens.len() * embd {
                    candle_core::bail!("a batch mixes examples with and without a cached prefix");
                }
                let dst = &mut values[row * longest * embd..][..e.prefix.len()];
                half::slice::HalfFloatSliceExt::convert_to_f32_slice(&e.prefix[..], dst);
            }
            Some(Tensor::from_vec(values, (examples.len(), longest, embd), device)?)
        }
        _ => None,
    };
    Ok(Batch {
        tokens: Tensor::from_vec(tokens, (examples.len(), longest), device)?,
        prefix,
        targets: Targets {
            positions: Tensor::from_vec(positions, full, device)?,
            tokens: Tensor::from_vec(targets, full, device)?,
            trie: trie_targets,
        },
        real_tokens: examples.iter().map(|e| e.tokens.len()).sum(),
        loss_tokens,
    })
}

fn trie_targets(
    choices: &[(u32, u32, u32)],
    trie: &grlm::catalog::TokenTrie<'_>,
    device: &Device,
) -> candle_core::Result<TrieTargets> {
    let children = |node: u32| -> candle_core::Result<Vec<u32>> {
        let (edges, _) = trie
            .children(node)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok(edges.iter().map(|t| t.get()).collect())
    };
    let mut nodes: Vec<u32> = choices.iter().map(|c| c.1).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let allowed: Vec<Vec<u32>> = nodes.iter().map(|&n| children(n)).collect::<candle_core::Result<_>>()?;
    let mut union: Vec<u32> = allowed.iter().flatten().copied().collect();
    union.sort_unstable();
    union.dedup();
    let column = |token: u32| union.binary_search(&token).map(|c| c as u32);
    let mut mask = vec![f32::NEG_INFINITY; choices.len() * union.len()];
    let mut columns = Vec::with_capacity(choices.len());
    for (i, &(_, node, token)) in choices.iter().enumerate() {
        let k = nodes.binary_search(&node).expect("collected above");
        for &t in &allowed[k] {
            mask[i * union.len() + column(t).expect("in the union") as usize] = 0.0;
        }
        columns.push(
            column(token)
                .map_err(|_| candle_core::Error::Msg(format!("token {token} is not a child of trie node {node}")))?,
        );
    }
    let n = choices.len();
    Ok(TrieTargets {
        positions: Tensor::from_vec(choices.iter().map(|c| c.0).collect::<Vec<_>>(), n, device)?,
        mask: Tensor::from_vec(mask, (n, union.len()), device)?,
        columns: Tensor::from_vec(columns, n, device)?,
        union,
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
            ..Default::default()
        };
        let b = batch(&[&t, &other], None, &Device::Cpu).unwrap();
        assert_eq!(
            b.tokens.to_vec2::<u32>().unwrap(),
            vec![vec![97, 98, 99, 100], vec![1, 2, 0, 0]]
        );
        // Row 0 predicts c from position 1 and d from 2; row 1 predicts 2 from position 0.
        assert_eq!(b.targets.positions.to_vec1::<u32>().unwrap(), vec![1, 2, 4]);
        assert_eq!(b.targets.tokens.to_vec1::<u32>().unwrap(), vec![99, 100, 2]);
        assert!(b.targets.trie.is_none() && b.prefix.is_none());
        assert_eq!((b.real_tokens, b.loss_tokens), (6, 3));
    }

    #[test]
    fn trie_answers_are_learned_at_their_branching_tokens_only() {
        let dir = tempfile::tempdir().unwrap();
        let (model, catalog) = grlm_testkit::fixtures::tiny_engine_files(dir.path());
        let model = grlm::llm::Model::load(&model, &grlm::llm::ModelParams::default()).unwrap();
        let catalog = grlm::catalog::Catalog::open(&catalog).unwrap();
        let trie = catalog.token_trie().unwrap();
        let tokenize = |text: &str, bos: bool| model.tokenize(text, bos);
        let (a, b) = (
            catalog.tid_at(0).unwrap().to_string(),
            catalog.tid_at(1).unwrap().to_string(),
        );
        let seq = |answer: &str| Example {
            task: Task::Sequence,
            segments: vec![
                Segment {
                    text: grlm::prompt::HEADER.into(),
                    begins_text: true,
                    loss: false,
                },
                seg(&a, false),
                seg("\n", false),
                seg(answer, true),
                seg("\n", true),
            ],
        };
        let example = seq(&b);
        let plain = tokenize_for_trie(
            &Example {
                task: Task::Terms,
                ..example.clone()
            },
            &tokenize,
            &trie,
        )
        .unwrap();
        assert_eq!(
            plain,
            self::tokenize(
                &Example {
                    task: Task::Terms,
                    ..example.clone()
                },
                &tokenize
            )
        );
        let t = tokenize_for_trie(&example, &tokenize, &trie).unwrap();
        assert_eq!(t.tokens, plain.tokens);
        assert_eq!(t.targets, 1);
        // The answer's tokens, walked independently: a token is learned exactly where its
        // node branches, up to the leaf; nothing else is learned.
        let answer_tokens = model.tokenize(&b, false);
        let start = t.tokens.len() - answer_tokens.len() - model.tokenize("\n", false).len();
        let mut expected = vec![false; t.tokens.len()];
        let mut node = 0;
        for (j, &token) in answer_tokens.iter().enumerate() {
            let (children, _) = trie.children(node).unwrap();
            if children.len() > 1 {
                expected[start + j] = true;
                assert_eq!(t.nodes[start + j], node);
            }
            node = trie.child(node, token).unwrap().unwrap();
            if trie.leaf_tid(node).unwrap().is_some() {
                break;
            }
        }
        assert_eq!(t.loss, expected);
        assert!(t.loss_tokens() > 0);
        let b_batch = batch(&[&t], Some(&trie), &Device::Cpu).unwrap();
        let choices = b_batch.targets.trie.expect("trie choices");
        assert_eq!(b_batch.loss_tokens, t.loss_tokens());
        assert_eq!(b_batch.targets.tokens.dims1().unwrap(), 0);
        let union = &choices.union;
        let mask = choices.mask.to_vec2::<f32>().unwrap();
        let columns = choices.columns.to_vec1::<u32>().unwrap();
        let learned: Vec<usize> = (0..t.tokens.len()).filter(|&j| t.loss[j]).collect();
        for (row, &j) in learned.iter().enumerate() {
            let (children, _) = trie.children(t.nodes[j]).unwrap();
            let allowed: Vec<u32> = children.iter().map(|c| c.get()).collect();
            let open: Vec<u32> = (0..union.len())
                .filter(|&c| mask[row][c] == 0.0)
                .map(|c| union[c])
                .collect();
            assert_eq!(open, allowed, "row {row}: the mask opens exactly the node's children");
            assert_eq!(union[columns[row] as usize], t.tokens[j]);
        }

        let stranger = seq("[not, a, catalogue, item, here]");
        let err = tokenize_for_trie(&stranger, &tokenize, &trie).unwrap_err();
        assert!(err.contains("not in the catalogue's token trie"), "{err}");
    }

    #[test]
    fn examples_reader_names_the_line_that_breaks_the_format() {
        let parse = |text: &[u8]| parse_examples(text, Path::new("train.jsonl"), &[Task::Sequence]);
        let good = r#"{"task":"sequence","segments":[{"text":"h\n","begins_text":true,"loss":false},{"text":"[a]","begins_text":false,"loss":true}]}"#;
        let terms = good.replace("sequence", "terms");
        let text = format!("{good}\n\n  \n{terms}\n{good}\n");
        let read = parse(text.as_bytes()).unwrap();
        assert_eq!(read.len(), 2, "blank lines skipped, terms filtered out");
        assert_eq!(read[0].segments[1].text, "[a]");

        let no_loss = good.replace(r#""loss":true"#, r#""loss":false"#);
        let late_bos = good.replace(r#""begins_text":false"#, r#""begins_text":true"#);
        let unknown_task = good.replace("sequence", "poetry");
        for (line, reason) in [
            (no_loss.as_str(), "no segment has"),
            (late_bos.as_str(), "segment 2 has \"begins_text\": true"),
            (unknown_task.as_str(), "unknown variant `poetry`"),
            (r#"{"task":"sequence"}"#, "missing field `segments`"),
        ] {
            // The task filter does not hide a broken line of another task.
            let text = format!("{terms}\n{line}\n");
            let err = parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.starts_with("train.jsonl:2: not an SFT example"), "{err}");
            assert!(err.contains(reason), "{err}");
        }
        let mut bad_utf8 = format!("{good}\n").into_bytes();
        bad_utf8.extend(b"{\"task\":\"sequence\xff\"}\n");
        let err = parse(&bad_utf8).unwrap_err().to_string();
        assert!(err.contains("train.jsonl:2") && err.contains("invalid UTF-8"), "{err}");
        let endless = vec![b' '; grlm::catalog::input::MAX_LINE_BYTES + 2];
        let err = parse(&endless).unwrap_err().to_string();
        assert!(
            err.contains("train.jsonl:1") && err.contains("line longer than"),
            "{err}"
        );
    }

    #[test]
    fn epoch_batches_cover_every_example_once_with_little_padding() {
        let examples: Vec<Tokenized> = (0..100)
            .map(|i| Tokenized {
                tokens: vec![1; 1 + (i * 37) % 90],
                loss: vec![true; 1 + (i * 37) % 90],
                ..Default::default()
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
