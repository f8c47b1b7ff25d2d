//! The `grlm-train` tests, one binary: the embedder against sentence-transformers, LoRA and
//! terms from the command line, the term rules on the tiny model, the endpoint client,
//! SmolLM2, and the training fuzz corpora. One file a subject.

mod common;
mod embed;
mod fuzz_corpus;
mod lora_cli;
mod neighbors_cli;
mod smollm2;
mod term_rules;
mod terms_cli;
mod terms_endpoint;
