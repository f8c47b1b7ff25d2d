//! A llama.cpp context: one KV cache holding several sequences, and the decode calls on it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::LlamaStateSeqFlags;

use super::{backend, LlmError, LoraAdapter, Model, Token};

/// Tokens llama.cpp computes at once inside a decode call. Its scratch buffers grow with
/// this; a prompt of a few hundred tokens still goes through in one piece.
const MAX_UBATCH: u32 = 512;

/// Most sequences one context holds (llama.cpp's limit is 256).
pub const MAX_SEQUENCES: u32 = 256;

/// Sizes and threads of a context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextParams {
    /// KV cache cells: the prompt plus every token of every live beam must fit.
    pub n_ctx: u32,
    /// Most tokens per llama.cpp decode call; longer inputs are split.
    pub n_batch: u32,
    /// Sequences (beams plus the prompt) the cache keeps apart, at most [`MAX_SEQUENCES`].
    pub n_seq: u32,
    /// CPU threads for evaluation.
    pub threads: u32,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            n_ctx: 2048,
            n_batch: 512,
            n_seq: 32,
            threads: 1,
        }
    }
}

/// One token of a batch: evaluated at `pos` in sequence `seq`; `logits` asks for the
/// next-token logits after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchToken {
    /// The token.
    pub token: Token,
    /// Its position in its sequence.
    pub pos: u32,
    /// The sequence (KV cache stream) it extends.
    pub seq: u32,
    /// Whether the logits after this token are wanted.
    pub logits: bool,
}

/// One operation on a context's cache, as recorded by [`Context::start_recording`] and
/// replayed by [`Context::replay`] (the benchmark's raw-llama.cpp baseline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOp {
    /// A decode call with these tokens.
    Decode(Vec<BatchToken>),
    /// [`Context::remove`].
    Remove {
        /// Sequence.
        seq: u32,
        /// First position removed.
        from: u32,
    },
    /// [`Context::fork`].
    Fork {
        /// Source sequence.
        src: u32,
        /// Destination sequence.
        dst: u32,
    },
    /// [`Context::clear`].
    Clear,
}

/// Time and tokens spent in llama.cpp decode calls.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DecodeStats {
    /// Decode calls.
    pub calls: u64,
    /// Tokens evaluated.
    pub tokens: u64,
    /// Of those, the ones whose next-token logits were computed (a row of the vocabulary
    /// projection each).
    pub logits_rows: u64,
    /// Wall time inside llama.cpp.
    pub time: Duration,
}

// llama.cpp may adjust the model while a context is created from it; `LlamaModel::new_context`
// documents that doing so from two threads at once is unsound. Creation is rare: serialise it.
static CREATE: Mutex<()> = Mutex::new(());

/// A KV cache with its decode calls. `Send`, not `Sync`: one thread at a time.
pub struct Context {
    // Field order is drop order: the context must go before the model it points into.
    ctx: LlamaContext<'static>,
    batch: LlamaBatch<'static>,
    model: Arc<Model>,
    params: ContextParams,
    /// Batch rows of the last llama.cpp call whose logits are available; entry `i` is input
    /// `logit_offset + i` of the last [`Context::decode`].
    logit_rows: Vec<Option<i32>>,
    logit_offset: usize,
    stats: DecodeStats,
    recording: Option<Vec<CacheOp>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Creates a context with a unified KV cache (so sequences can share cells: a beam fork
    /// copies no data), optionally applying `lora` at its scale.
    pub fn new(model: &Arc<Model>, params: ContextParams, lora: Option<(&LoraAdapter, f32)>) -> Result<Self, LlmError> {
        if model.is_vocab_only() {
            return Err(LlmError::VocabOnly);
        }
        if params.n_seq == 0 || params.n_seq > MAX_SEQUENCES {
            return Err(LlmError::Limit(format!(
                "{} sequences requested; a context holds 1..={MAX_SEQUENCES}",
                params.n_seq
            )));
        }
        if params.n_ctx < 16 || params.n_batch == 0 || params.threads == 0 {
            return Err(LlmError::Limit(format!("unusable context parameters {params:?}")));
        }
        let threads = i32::try_from(params.threads).unwrap_or(i32::MAX);
        let n_batch = params.n_batch.min(params.n_ctx);
        let llama_params = LlamaContextParams::default()
            .with_n_ctx(std::num::NonZeroU32::new(params.n_ctx))
            .with_n_batch(n_batch)
            .with_n_ubatch(n_batch.min(MAX_UBATCH))
            .with_n_seq_max(params.n_seq)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_kv_unified(true)
            // On CPU, flash attention rounds queries to f16, which made scores depend on how
            // tokens were batched (up to 5e-3): without it a warm session matches a cold one.
            .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED);
        let ctx = {
            let _guard = CREATE.lock().unwrap_or_else(|e| e.into_inner());
            model
                .inner
                .new_context(backend()?, llama_params)
                .map_err(|e| LlmError::Context(e.to_string()))?
        };
        // SAFETY: `ctx` borrows the `LlamaModel` inside `model`'s Arc allocation, which never
        // moves. `Context` holds a clone of that Arc and declares `ctx` before it, so the
        // context is dropped while the model is still alive; the 'static lifetime never
        // escapes this struct (no method hands out the inner context).
        let mut ctx = unsafe { std::mem::transmute::<LlamaContext<'_>, LlamaContext<'static>>(ctx) };
        if let Some((adapter, scale)) = lora {
            let mut inner = adapter.inner.lock().unwrap_or_else(|e| e.into_inner());
            ctx.lora_adapter_set(&mut inner, scale)
                .map_err(|e| LlmError::Context(format!("applying {}: {e}", adapter.path().display())))?;
        }
        Ok(Context {
            ctx,
            batch: LlamaBatch::new(n_batch as usize, 1),
            model: Arc::clone(model),
            params: ContextParams { n_batch, ..params },
            logit_rows: Vec::new(),
            logit_offset: 0,
            stats: DecodeStats::default(),
            recording: None,
        })
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The parameters in force.
    pub fn params(&self) -> &ContextParams {
        &self.params
    }

    /// Evaluates `tokens`, split into calls of at most `n_batch`. Logits may be requested
    /// only for tokens of the last call (a prompt wants them for its last token only).
    /// On error the cache content is unspecified: clear it before reuse.
    pub fn decode(&mut self, tokens: &[BatchToken]) -> Result<(), LlmError> {
        self.logit_rows.clear();
        if tokens.is_empty() {
            return Ok(());
        }
        let vocab = self.model.vocab_size();
        let n_batch = self.params.n_batch as usize;
        let last_start = (tokens.len() - 1) / n_batch * n_batch;
        for t in tokens {
            if t.token >= vocab {
                return Err(LlmError::Limit(format!("token {} outside the vocabulary", t.token)));
            }
            if t.seq >= self.params.n_seq || t.pos >= self.params.n_ctx {
                return Err(LlmError::Limit(format!(
                    "sequence {} / position {} outside the context ({} sequences, {} cells)",
                    t.seq, t.pos, self.params.n_seq, self.params.n_ctx
                )));
            }
        }
        if tokens[..last_start].iter().any(|t| t.logits) {
            return Err(LlmError::Limit("logits requested outside the last batch".into()));
        }
        if let Some(log) = &mut self.recording {
            log.push(CacheOp::Decode(tokens.to_vec()));
        }
        let started = Instant::now();
        for (chunk_index, chunk) in tokens.chunks(n_batch).enumerate() {
            self.decode_chunk(chunk)?;
            if chunk_index * n_batch == last_start {
                self.logit_rows = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, t)| t.logits.then_some(i as i32))
                    .collect();
                self.logit_offset = last_start;
            }
        }
        self.stats.calls += tokens.len().div_ceil(n_batch) as u64;
        self.stats.tokens += tokens.len() as u64;
        self.stats.logits_rows += tokens.iter().filter(|t| t.logits).count() as u64;
        self.stats.time += started.elapsed();
        Ok(())
    }

    /// One llama.cpp decode call for at most `n_batch` tokens.
    fn decode_chunk(&mut self, chunk: &[BatchToken]) -> Result<(), LlmError> {
        self.batch.clear();
        for t in chunk {
            // The batch holds n_batch tokens and no chunk is longer: adding cannot fail.
            self.batch
                .add(LlamaToken(t.token as i32), t.pos as i32, &[t.seq as i32], t.logits)
                .map_err(|e| LlmError::Limit(e.to_string()))?;
        }
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| LlmError::Decode(e.to_string()))
    }

    /// Next-token logits after input `index` of the last [`Context::decode`] call, if they
    /// were requested there.
    pub fn logits(&self, index: usize) -> Option<&[f32]> {
        let row = (*self.logit_rows.get(index.checked_sub(self.logit_offset)?)?)?;
        Some(self.ctx.get_logits_ith(row))
    }

    /// Drops the cells of `seq` at positions `from..`.
    pub fn remove(&mut self, seq: u32, from: u32) -> Result<(), LlmError> {
        if let Some(log) = &mut self.recording {
            log.push(CacheOp::Remove { seq, from });
        }
        self.ctx
            .kv_cache_seq_rm(seq as i32, Some(from), None)
            .map_err(|e| LlmError::Decode(format!("removing sequence {seq}: {e}")))
    }

    /// Makes `dst` share all of `src`'s cells (no copy with a unified cache). `dst` should be
    /// empty.
    pub fn fork(&mut self, src: u32, dst: u32) -> Result<(), LlmError> {
        if let Some(log) = &mut self.recording {
            log.push(CacheOp::Fork { src, dst });
        }
        self.ctx
            .kv_cache_seq_cp(src as i32, dst as i32, None, None)
            .map_err(|e| LlmError::Decode(format!("forking sequence {src}: {e}")))
    }

    /// The cells of `seq` as llama.cpp serialises them (positions, sequence ids, and the
    /// keys and values of every layer), for [`Context::load_seq_state`].
    pub fn seq_state(&self, seq: u32) -> Result<Vec<u8>, LlmError> {
        let flags = LlamaStateSeqFlags::empty();
        let size = self.ctx.state_seq_get_size_ext(seq as i32, flags);
        let mut bytes = vec![0u8; size];
        // SAFETY: `bytes` holds `size` bytes, the size llama.cpp reported for this sequence;
        // it writes at most that many.
        let written = unsafe { self.ctx.state_seq_get_data_ext(bytes.as_mut_ptr(), seq as i32, flags) };
        if written != size {
            return Err(LlmError::Decode(format!(
                "saving sequence {seq}: llama.cpp wrote {written} of {size} bytes"
            )));
        }
        Ok(bytes)
    }

    /// Loads cells saved by [`Context::seq_state`] from a context of the same model, adapter
    /// and cache types into `seq`, which should be empty. llama.cpp checks the layout
    /// (layers, widths, types, room in the cache) and refuses what does not fit; the bytes
    /// are otherwise trusted, so callers check where they came from first.
    pub fn load_seq_state(&mut self, seq: u32, bytes: &[u8]) -> Result<(), LlmError> {
        // SAFETY: llama.cpp reads at most `bytes.len()` bytes from the slice; a malformed
        // state makes it throw, which it catches and reports as 0 bytes read.
        let loaded = unsafe {
            self.ctx
                .state_seq_set_data_ext(bytes, seq as i32, LlamaStateSeqFlags::empty())
        };
        if !loaded {
            return Err(LlmError::Decode(format!(
                "llama.cpp refused the saved state of sequence {seq} (another model, adapter or cache layout?)"
            )));
        }
        Ok(())
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        if let Some(log) = &mut self.recording {
            log.push(CacheOp::Clear);
        }
        self.ctx.clear_kv_cache();
    }

    /// Starts logging every cache operation (replacing an earlier log).
    pub fn start_recording(&mut self) {
        self.recording = Some(Vec::new());
    }

    /// Stops logging and returns the log.
    pub fn take_recording(&mut self) -> Vec<CacheOp> {
        self.recording.take().unwrap_or_default()
    }

    /// Performs `ops` with bare llama.cpp calls — no checks, no bookkeeping, nothing read
    /// back — and returns the time they took: the floor any engine driving llama.cpp with
    /// the same tokens would pay. The cache ends as the ops leave it.
    pub fn replay(&mut self, ops: &[CacheOp]) -> Result<Duration, LlmError> {
        let started = Instant::now();
        for op in ops {
            match op {
                CacheOp::Decode(tokens) => {
                    for chunk in tokens.chunks(self.params.n_batch as usize) {
                        self.decode_chunk(chunk)?;
                    }
                }
                CacheOp::Remove { seq, from } => {
                    self.ctx
                        .kv_cache_seq_rm(*seq as i32, Some(*from), None)
                        .map_err(|e| LlmError::Decode(e.to_string()))?;
                }
                CacheOp::Fork { src, dst } => {
                    self.ctx
                        .kv_cache_seq_cp(*src as i32, *dst as i32, None, None)
                        .map_err(|e| LlmError::Decode(e.to_string()))?;
                }
                CacheOp::Clear => self.ctx.clear_kv_cache(),
            }
        }
        Ok(started.elapsed())
    }

    /// Time and tokens spent decoding since the context was made or stats were reset.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Resets [`Context::stats`].
    pub fn reset_stats(&mut self) {
        self.stats = DecodeStats::default();
    }
}
