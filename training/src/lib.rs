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
//! - [`terms`]: term generation — sentence embeddings of item text (all-MiniLM-L6-v2 in
//!   candle), each item's nearest neighbours (`grlm-train neighbors`), TIDs written by the
//!   backbone under a grammar (`grlm-train terms`) and their statistics (`terms-stats`).

#![deny(missing_docs)]

#[doc(hidden)]
pub mod fuzz;
pub mod kernels;
pub mod llama;
pub mod lora;
pub mod prompts;
pub mod sft;
pub mod terms;
