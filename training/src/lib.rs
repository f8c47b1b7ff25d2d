//! grlm-train: what libgrlm's models learn from and how they learn it.
//!
//! - [`sft`]: supervised fine-tuning examples — term internalisation (item metadata → TID)
//!   and sequence prediction (history → next TID) — in the engine's own prompt format, and
//!   their export for LlamaFactory.
//! - [`llama`]: a llama forward pass in candle that keeps gradients, on weights read from
//!   the same GGUF llama.cpp runs.
//! - [`kernels`]: the trainer's CPU kernels — frozen products in bf16 through oneDNN where
//!   it loads, and fused norm, rope, softmax and gating with their own backward passes.
//! - [`lora`]: LoRA adapters on that model, their training loop, and the llama.cpp adapter
//!   GGUF they are saved as.
//! - [`prompts`]: the prompts only training builds (term internalisation, collaborative
//!   neighbours, term generation), beside the engine's recommendation prompt.
//! - [`neighbors`]: every item's nearest neighbours by sentence embeddings of its text
//!   (all-MiniLM-L6-v2 in candle; `grlm-train neighbors`).
//! - [`terms`]: TIDs written by the backbone under a grammar, shown each item's neighbours
//!   (`grlm-train terms`).
//! - [`terms_stats`]: what a TID file looks like, against a reference (`terms-stats`).
//! - [`requantize`]: the backbone's block matrices in Q4_0, which llama.cpp's repacked
//!   kernels run faster (`grlm-train requantize`).

#![deny(missing_docs)]

#[doc(hidden)]
pub mod fuzz;
pub mod kernels;
pub mod llama;
pub mod lora;
pub mod neighbors;
pub mod prompts;
pub mod requantize;
pub mod sft;
pub mod terms;
pub mod terms_stats;
