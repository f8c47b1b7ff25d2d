//! The frozen blocks' output, computed once: with adapters on the top blocks only, the
//! blocks below never change, so the residual stream entering the first trained block is
//! a fixed function of an example's tokens. It is computed in one forward pass per example
//! (no gradients, batched by length) and kept in f16 beside the tokens; every step then
//! starts at the first trained block.
//!
//! With a store directory the values also go to disk, in chunks of examples written
//! crash-safe as they finish, so a resumed run reads them back instead of computing them
//! again. A chunk file is named by a hash of everything its values depend on (the model,
//! the kernels, the first trained block and the chunk's tokens), and one whose size or
//! checksum is wrong is computed again.
//!
//! ```text
//! chunk file: "GRLMPFX1", u64 LE value count, u32 LE CRC-32 of the values' bytes,
//!             then the values, f16 LE, example after example in chunk order
//! ```

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;

use super::data::Tokenized;
use crate::llama::{Llama, LlamaError};

/// Most padded tokens in one caching pass.
const PASS_TOKENS: usize = 4096;
/// Examples per chunk file.
const CHUNK_EXAMPLES: usize = 1024;
const MAGIC: &[u8; 8] = b"GRLMPFX1";
const HEADER: usize = 20;

/// Where cached values are kept on disk, and what they were computed with.
pub struct Store<'a> {
    /// The directory (created when missing).
    pub dir: &'a Path,
    /// A hash of the model and the kernels the values are computed with.
    pub model_key: u64,
}

/// Fills `prefix` of every example with the residual stream entering block `first`
/// (`first == 0`: nothing to cache, nothing done). Prints progress to stderr under `label`.
pub fn cache(llama: &Llama, examples: &mut [Tokenized], first: usize, label: &str) -> Result<(), LlamaError> {
    cache_in(llama, examples, first, label, None)
}

/// [`cache`], reading and writing chunks of values in `store`.
pub fn cache_in(
    llama: &Llama,
    examples: &mut [Tokenized],
    first: usize,
    label: &str,
    store: Option<&Store<'_>>,
) -> Result<(), LlamaError> {
    if first == 0 || examples.is_empty() {
        return Ok(());
    }
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| examples[i].tokens.len());
    let started = Instant::now();
    let mut progress = Progress::new(label, first, examples.len());
    for chunk in order.chunks(CHUNK_EXAMPLES) {
        let file = store.map(|s| chunk_file(s, llama, examples, chunk, first));
        if let Some(file) = &file {
            if read_chunk(file, examples, chunk, llama.config.n_embd) {
                progress.add(chunk.len(), started);
                continue;
            }
        }
        compute(llama, examples, chunk, first)?;
        if let Some(file) = &file {
            write_chunk(file, examples, chunk)?;
        }
        progress.add(chunk.len(), started);
    }
    Ok(())
}

/// Progress lines: in place on a terminal, every ~10 s otherwise.
struct Progress<'a> {
    label: &'a str,
    first: usize,
    done: usize,
    total: usize,
    tty: bool,
    last_line: Instant,
}

impl<'a> Progress<'a> {
    fn new(label: &'a str, first: usize, total: usize) -> Self {
        Progress {
            label,
            first,
            done: 0,
            total,
            tty: std::io::stderr().is_terminal(),
            last_line: Instant::now(),
        }
    }

    fn add(&mut self, n: usize, started: Instant) {
        self.done += n;
        if self.last_line.elapsed().as_secs() < 10 && self.done < self.total {
            return;
        }
        let line = format!(
            "{}: blocks 0..{} cached for {}/{} examples ({:.0} s)",
            self.label,
            self.first,
            self.done,
            self.total,
            started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr();
        let _ = match (self.tty, self.done < self.total) {
            (true, true) => write!(err, "\r\x1b[2K{line}"),
            (true, false) => writeln!(err, "\r\x1b[2K{line}"),
            (false, _) => writeln!(err, "{line}"),
        };
        self.last_line = Instant::now();
    }
}

fn chunk_file(store: &Store<'_>, llama: &Llama, examples: &[Tokenized], chunk: &[usize], first: usize) -> PathBuf {
    let mut h = grlm::fnv::Fnv64::new();
    h.write(&store.model_key.to_le_bytes());
    h.write(&(first as u64).to_le_bytes());
    h.write(&(llama.config.n_embd as u64).to_le_bytes());
    for &i in chunk {
        h.write_u32(examples[i].tokens.len() as u32);
        for &t in &examples[i].tokens {
            h.write_u32(t);
        }
    }
    store.dir.join(format!("{:016x}.f16", h.finish()))
}

/// Fills the chunk's examples from `file` if it holds exactly their values; false if not.
fn read_chunk(file: &Path, examples: &mut [Tokenized], chunk: &[usize], embd: usize) -> bool {
    std::fs::read(file).is_ok_and(|bytes| parse_chunk(&bytes, examples, chunk, embd))
}

/// [`read_chunk`] on the file's bytes.
pub(crate) fn parse_chunk(bytes: &[u8], examples: &mut [Tokenized], chunk: &[usize], embd: usize) -> bool {
    let values: usize = chunk.iter().map(|&i| examples[i].tokens.len() * embd).sum();
    let Some(body) = bytes.get(HEADER..) else {
        return false;
    };
    let count = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if &bytes[..8] != MAGIC || count != values as u64 || body.len() != values * 2 || crc32fast::hash(body) != crc {
        return false;
    }
    let mut at = 0;
    for &i in chunk {
        let n = examples[i].tokens.len() * embd;
        examples[i].prefix = body[at..at + 2 * n]
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]))
            .collect();
        at += 2 * n;
    }
    true
}

/// The bytes of the chunk file of `chunk`'s examples.
pub(crate) fn chunk_bytes(examples: &[Tokenized], chunk: &[usize]) -> Vec<u8> {
    let mut body = Vec::new();
    for &i in chunk {
        body.extend(examples[i].prefix.iter().flat_map(|v| v.to_le_bytes()));
    }
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&((body.len() / 2) as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

fn write_chunk(file: &Path, examples: &[Tokenized], chunk: &[usize]) -> Result<(), LlamaError> {
    let io = |source| LlamaError::Io {
        path: file.to_owned(),
        source,
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let bytes = chunk_bytes(examples, chunk);
    grlm::atomic_write::write_atomically(file, |w| w.write_all(&bytes)).map_err(io)
}

/// Computes the prefix of the examples `chunk` (indices, shortest first).
fn compute(llama: &Llama, examples: &mut [Tokenized], order: &[usize], first: usize) -> Result<(), LlamaError> {
    let embd = llama.config.n_embd;
    let mut start = 0;
    while start < order.len() {
        let longest = |end: usize| examples[order[end - 1]].tokens.len();
        let mut end = start + 1;
        while end < order.len() && (end + 1 - start) * longest(end + 1) <= PASS_TOKENS {
            end += 1;
        }
        let rows = &order[start..end];
        let width = longest(end);
        let mut tokens = vec![0u32; rows.len() * width];
        for (r, &i) in rows.iter().enumerate() {
            tokens[r * width..][..examples[i].tokens.len()].copy_from_slice(&examples[i].tokens);
        }
        let input = Tensor::from_vec(tokens, (rows.len(), width), llama.device())?;
        let x = llama.blocks_forward(llama.embed(&input)?, 0..first)?;
        let values: Vec<f32> = x.flatten_all()?.to_vec1()?;
        for (r, &i) in rows.iter().enumerate() {
            let n = examples[i].tokens.len() * embd;
            let mut out = vec![half::f16::ZERO; n];
            half::slice::HalfFloatSliceExt::convert_from_f32_slice(&mut out[..], &values[r * width * embd..][..n]);
            examples[i].prefix = out;
        }
        start = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::tests::tiny_files;

    fn examples(n: usize) -> Vec<Tokenized> {
        (0..n)
            .map(|i| Tokenized {
                tokens: (0..(3 + i * 7 % 11) as u32)
                    .map(|t| (t * 5 + i as u32) % 60 + 1)
                    .collect(),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn stored_chunks_are_read_back_and_damaged_ones_computed_again() {
        let dir = tempfile::tempdir().unwrap();
        let llama = Llama::load(&tiny_files(dir.path()), &candle_core::Device::Cpu).unwrap();
        let store_dir = dir.path().join("prefix");
        let store = Store {
            dir: &store_dir,
            model_key: 7,
        };
        let mut fresh = examples(CHUNK_EXAMPLES + 5);
        cache(&llama, &mut fresh, 1, "test").unwrap();
        let mut stored = examples(CHUNK_EXAMPLES + 5);
        cache_in(&llama, &mut stored, 1, "test", Some(&store)).unwrap();
        assert_eq!(stored, fresh);
        let mut files: Vec<_> = std::fs::read_dir(&store_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(files.len(), 2, "one file per chunk");

        // Read back: the same values, without computing (a model that would give other
        // values proves they came from disk).
        let mut other = llama.clone();
        for linear in other.linears_mut() {
            linear.weight = linear.weight.zeros_like().unwrap();
        }
        let mut computed = examples(3);
        cache(&other, &mut computed, 1, "test").unwrap();
        assert_ne!(computed[..], fresh[..3], "the other model computes other values");
        let mut again = examples(CHUNK_EXAMPLES + 5);
        cache_in(&other, &mut again, 1, "test", Some(&store)).unwrap();
        assert_eq!(again, fresh);

        // A truncated chunk and a flipped byte are both computed again, and rewritten.
        let bytes = std::fs::read(&files[0]).unwrap();
        std::fs::write(&files[0], &bytes[..bytes.len() - 3]).unwrap();
        let mut flipped = std::fs::read(&files[1]).unwrap();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        std::fs::write(&files[1], &flipped).unwrap();
        let mut repaired = examples(CHUNK_EXAMPLES + 5);
        cache_in(&llama, &mut repaired, 1, "test", Some(&store)).unwrap();
        assert_eq!(repaired, fresh);
        assert_eq!(std::fs::read(&files[0]).unwrap(), bytes);

        // Another key (model, kernels) or another first block never reads these chunks.
        let other_key = Store {
            dir: &store_dir,
            model_key: 8,
        };
        let mut keyed = examples(3);
        cache_in(&llama, &mut keyed, 1, "test", Some(&other_key)).unwrap();
        assert_eq!(std::fs::read_dir(&store_dir).unwrap().count(), 3);
    }
}
