//! Loading GGUF models and adapters, and the tokenizer they carry.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaLoraAdapter, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::{backend, LlmError, Token};
use crate::fnv::Fnv64;
use crate::tokenizer::TokenizerFingerprint;

/// How to load a model.
#[derive(Clone, Debug)]
pub struct ModelParams {
    /// Layers to offload to a GPU in builds with a GPU backend (`cuda`, `metal`, `vulkan`
    /// features); ignored by CPU builds. Default: all.
    pub gpu_layers: u32,
    /// Load only the vocabulary: enough to tokenize (e.g. to build a catalogue's token
    /// trie), a few MB instead of the weights, and no evaluation.
    pub vocab_only: bool,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            gpu_layers: 999,
            vocab_only: false,
        }
    }
}

/// A loaded GGUF model. `Send + Sync`: load once and share; every [`super::Context`] made
/// from it shares the (memory-mapped) weights.
pub struct Model {
    // Declared first so that it is dropped before anything it might point into.
    pub(super) inner: LlamaModel,
    path: PathBuf,
    vocab_only: bool,
    identity: u64,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("vocab_only", &self.vocab_only)
            .finish_non_exhaustive()
    }
}

/// Checks that `path` is a readable GGUF file before llama.cpp sees it, so that the common
/// mistakes get a precise message instead of llama.cpp's generic failure. A file that
/// cannot be read is [`LlmError::File`]; one that is not a GGUF is `invalid(reason)`, the
/// caller's load error, so callers can tell a missing file from a wrong one.
fn check_gguf(path: &Path, invalid: impl Fn(String) -> LlmError) -> Result<(), LlmError> {
    use std::io::Read;
    let io = |e: std::io::Error| LlmError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let err = invalid;
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 8];
    let got = file.read(&mut head).map_err(io)?;
    if got == 0 {
        return Err(err("empty file, not a GGUF model".into()));
    }
    if got < 8 || &head[..4] != b"GGUF" {
        return Err(err("not a GGUF file (bad magic bytes)".into()));
    }
    let version = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if !(2..=3).contains(&version) {
        return Err(err(format!(
            "unsupported GGUF version {version} (llama.cpp reads 2 and 3)"
        )));
    }
    Ok(())
}

impl Model {
    /// Loads the model at `path`.
    pub fn load(path: impl AsRef<Path>, params: &ModelParams) -> Result<Self, LlmError> {
        let path = path.as_ref();
        check_gguf(path, |reason| LlmError::ModelLoad {
            path: path.to_owned(),
            reason,
        })?;
        let backend = backend()?;
        let llama_params = LlamaModelParams::default()
            .with_n_gpu_layers(params.gpu_layers)
            .with_vocab_only(params.vocab_only);
        let inner = LlamaModel::load_from_file(backend, path, &llama_params).map_err(|e| LlmError::ModelLoad {
            path: path.to_owned(),
            reason: match e {
                llama_cpp_2::LlamaModelLoadError::NullResult => {
                    "truncated or corrupt file, or an unsupported architecture".to_owned()
                }
                other => other.to_string(),
            },
        })?;
        let model = Model {
            inner,
            path: path.to_owned(),
            vocab_only: params.vocab_only,
            identity: file_identity(path)?,
        };
        if model.vocab_size() == 0 {
            return Err(LlmError::ModelLoad {
                path: path.to_owned(),
                reason: "the model has no vocabulary".into(),
            });
        }
        Ok(model)
    }

    /// Loads a LoRA adapter made for this model. Adapters must be loaded before contexts are
    /// created from the model.
    pub fn load_adapter(&mut self, path: impl AsRef<Path>) -> Result<LoraAdapter, LlmError> {
        let path = path.as_ref();
        check_gguf(path, |reason| LlmError::AdapterLoad {
            path: path.to_owned(),
            reason,
        })?;
        if self.vocab_only {
            return Err(LlmError::VocabOnly);
        }
        let adapter = self.inner.lora_adapter_init(path).map_err(|e| LlmError::AdapterLoad {
            path: path.to_owned(),
            reason: match e {
                llama_cpp_2::LlamaLoraAdapterInitError::NullResult => {
                    "not an adapter for this model, or a corrupt file".to_owned()
                }
                other => other.to_string(),
            },
        })?;
        Ok(LoraAdapter {
            inner: Mutex::new(adapter),
            path: path.to_owned(),
            identity: file_identity(path)?,
        })
    }

    /// Tells this model's weights from any other's ([`file_identity`] of its file), for
    /// state that only this model can reuse, such as a saved KV cache.
    pub fn identity(&self) -> u64 {
        self.identity
    }

    /// The file the model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether only the vocabulary was loaded.
    pub fn is_vocab_only(&self) -> bool {
        self.vocab_only
    }

    /// `general.name` from the GGUF metadata, else the file name.
    pub fn name(&self) -> String {
        self.inner.meta_val_str("general.name").unwrap_or_else(|_| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> u32 {
        u32::try_from(self.inner.vocab().n_tokens()).unwrap_or(0)
    }

    /// The context length the model was trained with.
    pub fn trained_context(&self) -> u32 {
        self.inner.n_ctx_train()
    }

    /// Tokens of `text`, as the model reads it; `with_bos` adds the model's start token when
    /// its vocabulary asks for one. Special-token text is not parsed: user text stays text.
    pub fn tokenize(&self, text: &str, with_bos: bool) -> Vec<Token> {
        self.inner
            .vocab()
            .tokenize(text.as_bytes(), with_bos, false)
            .into_iter()
            .map(|t| t.0 as Token)
            .collect()
    }

    /// The bytes a token stands for (empty for control tokens). A multi-byte character may be
    /// split across tokens, so join pieces before decoding UTF-8.
    pub fn token_bytes(&self, token: Token) -> Vec<u8> {
        if token >= self.vocab_size() {
            return Vec::new();
        }
        self.inner.vocab().token_to_piece(LlamaToken(token as i32), false, None)
    }

    /// Whether `token` ends generation (end of text / turn).
    pub fn is_end_of_generation(&self, token: Token) -> bool {
        token < self.vocab_size() && self.inner.vocab().is_eog(LlamaToken(token as i32))
    }

    /// A fingerprint of the tokenizer: two models with equal fingerprints tokenize every
    /// text alike. Hashes the tokenizer type and pre-tokenizer names, every token's text and
    /// control flag, and the tokens of probe texts (which exercise the merge rules).
    pub fn fingerprint(&self) -> TokenizerFingerprint {
        let mut h = Fnv64::new();
        for key in ["tokenizer.ggml.model", "tokenizer.ggml.pre"] {
            h.write(self.inner.meta_val_str(key).unwrap_or_default().as_bytes());
            h.write(&[0xff]);
        }
        let vocab = self.inner.vocab();
        let n = self.vocab_size();
        h.write(&n.to_le_bytes());
        for t in 0..n {
            let token = LlamaToken(t as i32);
            h.write(vocab.text(token).map(|c| c.to_bytes()).unwrap_or_default());
            h.write(&[0xff, u8::from(vocab.is_control(token)), u8::from(vocab.is_eog(token))]);
        }
        for probe in FINGERPRINT_PROBES {
            for t in self.tokenize(probe, true) {
                h.write(&t.to_le_bytes());
            }
            h.write(&[0xfe]);
        }
        TokenizerFingerprint {
            hash: h.finish(),
            vocab_size: n,
            name: self.name(),
        }
    }
}

const FINGERPRINT_PROBES: &[&str] = &[
    "[hair-mask, color-lock, citrus, protein, unisex]\n",
    "[running-shoes, trail, lightweight, breathable, men]\n",
    " The quick brown fox jumps over the lazy dog's 12,345 tails; naïve café — ÅÇ 日本語 🙂",
    "anti-aging eye-cream spf-30 vitamin-c moisturizer 3-pack",
];

/// A LoRA adapter loaded for one [`Model`]. `Send + Sync`: share it; each context applies it
/// at its own scale when created.
pub struct LoraAdapter {
    pub(super) inner: Mutex<LlamaLoraAdapter>,
    path: PathBuf,
    identity: u64,
}

impl LoraAdapter {
    /// The adapter file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tells this adapter's weights from any other's ([`file_identity`] of its file).
    pub fn identity(&self) -> u64 {
        self.identity
    }
}

/// Bytes read from each of [`IDENTITY_SAMPLES`] places of a file for its identity.
const IDENTITY_BLOCK: u64 = 4096;
/// Places of a file read for its identity, evenly spaced from its start to its end.
const IDENTITY_SAMPLES: u64 = 256;

/// FNV-1a of a file's length and of 4 KiB at 256 evenly spaced places in it (its header,
/// its end and the weights between): two model files differ here unless they hold the
/// same weights, in practice, at the cost of reading 1 MiB however large the file.
pub fn file_identity(path: &Path) -> Result<u64, LlmError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e: std::io::Error| LlmError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut hash = crate::fnv::Fnv64::new();
    hash.write_u64(len);
    let mut block = vec![0u8; IDENTITY_BLOCK as usize];
    let span = len.saturating_sub(IDENTITY_BLOCK);
    for i in 0..IDENTITY_SAMPLES {
        let at = span / (IDENTITY_SAMPLES - 1) * i;
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        let n = (len - at).min(IDENTITY_BLOCK) as usize;
        file.read_exact(&mut block[..n]).map_err(io)?;
        hash.write(&block[..n]);
    }
    Ok(hash.finish())
}

impl std::fmt::Debug for LoraAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoraAdapter").field("path", &self.path).finish()
    }
}
