//! The product's main job: given a user's history, the next items.
//!
//! An [`Engine`] holds what all users share — the backbone model, an optional LoRA adapter
//! and the catalogue — and is cheap to clone and `Send + Sync`. A [`Session`] holds one KV
//! cache: make one per thread, or per user to keep that user's prompt cached between
//! requests. Requests go through [`Session::recommend`].

mod error;
mod request;
mod session;
pub mod state;

pub use error::EngineError;
pub use request::{
    recommend_by_prior, Generated, Mode, RecommendParams, Recommendation, Response, DEFAULT_BEAMS, DEFAULT_FUSED_BEAMS,
};
pub use session::{Session, SessionParams};
pub use state::StateError;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{Catalog, TokenTrieSpec};
use crate::llm::{LoraAdapter, Model, ModelParams, Token};

/// What [`crate::CatalogBuilder::with_token_trie`] needs to build a catalogue for `model`:
/// its tokenizer's fingerprint, and each TID tokenized as the model writes it
/// ([`crate::prompt::target`]). A vocabulary-only model is enough.
pub fn token_trie_spec(model: &Arc<Model>) -> TokenTrieSpec {
    let model = Arc::clone(model);
    TokenTrieSpec {
        fingerprint: model.fingerprint(),
        tokenize: Box::new(move |tid| Ok(model.tokenize(&crate::prompt::target(tid), false))),
    }
}

/// What to open.
#[derive(Clone, Debug)]
pub struct EngineParams {
    /// The backbone GGUF.
    pub model: PathBuf,
    /// The catalogue, built with this model's tokenizer (`grlm catalog build --model`).
    pub catalog: PathBuf,
    /// A LoRA adapter GGUF for the backbone, if any.
    pub lora: Option<PathBuf>,
    /// The adapter's scale (1.0 = as trained).
    pub lora_scale: f32,
    /// Layers to offload in GPU builds (ignored on CPU).
    pub gpu_layers: u32,
}

impl EngineParams {
    /// Model and catalogue, no adapter, every layer on the GPU when there is one.
    pub fn new(model: impl Into<PathBuf>, catalog: impl Into<PathBuf>) -> Self {
        EngineParams {
            model: model.into(),
            catalog: catalog.into(),
            lora: None,
            lora_scale: 1.0,
            gpu_layers: ModelParams::default().gpu_layers,
        }
    }
}

/// Model, adapter and catalogue, shared by every session. Clone it freely (an `Arc` inside).
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub model: Arc<Model>,
    pub adapter: Option<(LoraAdapter, f32)>,
    pub catalog: Catalog,
    /// Tokens every TID starts with (the trie's root chain), fed after the prompt.
    pub root_chain: Vec<Token>,
    /// The trie node after them, where the search starts.
    pub root_node: u32,
    /// The items the prior's counts never saw, ascending (for cold slots).
    pub cold: Vec<u32>,
}

impl Engine {
    /// Opens the model, the adapter and the catalogue and checks that they fit together.
    pub fn open(params: &EngineParams) -> Result<Self, EngineError> {
        let catalog = Catalog::open(&params.catalog)?;
        let mut model = Model::load(
            &params.model,
            &ModelParams {
                gpu_layers: params.gpu_layers,
                vocab_only: false,
            },
        )?;
        let adapter = match &params.lora {
            Some(path) => {
                if !params.lora_scale.is_finite() {
                    return Err(EngineError::InvalidRequest(format!(
                        "LoRA scale {} is not a finite number",
                        params.lora_scale
                    )));
                }
                Some((model.load_adapter(path)?, params.lora_scale))
            }
            None => None,
        };
        Self::from_parts(model, adapter, catalog)
    }

    /// An engine from parts already loaded (adapters must come from `model`).
    pub fn from_parts(
        model: Model,
        adapter: Option<(LoraAdapter, f32)>,
        catalog: Catalog,
    ) -> Result<Self, EngineError> {
        let trie = catalog.token_trie().ok_or(EngineError::NoTokenTrie)?;
        let expected = trie.fingerprint();
        let actual = model.fingerprint();
        if !expected.same_tokenizer(&actual) {
            return Err(EngineError::TokenizerMismatch {
                catalog: expected.to_string(),
                model: actual.to_string(),
            });
        }
        let mut root_chain = Vec::new();
        let mut node = crate::catalog::TokenTrie::ROOT;
        while trie.leaf_tid(node)?.is_none() {
            let (tokens, first) = trie.children(node)?;
            let [only] = tokens else { break };
            root_chain.push(only.get());
            node = first;
        }
        let cold = crate::prior::cold_items(&catalog)?;
        Ok(Engine {
            inner: Arc::new(Shared {
                model: Arc::new(model),
                adapter,
                catalog,
                root_chain,
                root_node: node,
                cold,
            }),
        })
    }

    /// The catalogue.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The backbone.
    pub fn model(&self) -> &Model {
        &self.inner.model
    }

    /// The adapter file, if one is applied.
    pub fn adapter_path(&self) -> Option<&Path> {
        self.inner.adapter.as_ref().map(|(a, _)| a.path())
    }

    /// A new session (its own KV cache) on this engine.
    pub fn session(&self, params: SessionParams) -> Result<Session, EngineError> {
        Session::new(Arc::clone(&self.inner), params)
    }
}
