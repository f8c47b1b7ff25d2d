//! The library's integration tests, one binary (one link of llama.cpp, and one process whose
//! tests run side by side): the engine on the tiny model, Beauty, SmolLM2, the C API from C,
//! C++ and Kotlin, the Swift coverage check, header drift, layering and the fuzz corpora.
//! One file a subject; `cargo test --test integration engine::` runs one.

mod beauty;
mod c_api;
mod cpp;
mod engine;
mod fuzz_corpus;
mod header;
mod kotlin;
mod layers;
mod smollm2;
mod swift_coverage;
