#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test (unit, property, CLI, fuzz-corpus
# smoke, real-data and real-model integration) and warning-free API docs. Everything builds
# in the release profile, so tests and benches share one build (and one llama.cpp build).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/fetch-model.sh
# The OpenAI-compatible server that `grlm-train terms --endpoint` is tested against.
./scripts/install-server.sh
# DuckDB, to check that counts made where the logs live give the same catalogue.
./scripts/install-duckdb.sh
# The shipped adapter is the file its README describes.
(cd adapters && sha256sum --check --quiet SHA256SUMS)
cargo fmt --all -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings
# The training library without its command line (no clap), and the core's tools without
# llama.cpp: the latter in a target directory of its own, so that it does not replace the
# full `grlm` binary in target/ (and never builds llama.cpp: `cargo tree` shows none).
cargo clippy --release --locked -p grlm-train --no-default-features --lib --tests -- -D warnings
CARGO_TARGET_DIR=target/core-only cargo build --release --locked -p grlm-cli --no-default-features
target/core-only/release/grlm --version | grep -q "core only"
RUSTDOCFLAGS="-D warnings" cargo doc --release --locked --workspace --no-deps
# The C, C++ and Kotlin tests link libgrlm.so, which `cargo test` alone does not build.
cargo build --release --locked --workspace
cargo test --release --locked --workspace
# llama.cpp's CPU kernels built per instruction-set level and chosen at run time: lints of
# that configuration, the package, then every variant this CPU runs against the portable one
# and the moved package from C and from the CLI.
CARGO_TARGET_DIR=target/variants cargo clippy --release --locked -p grlm -p grlm-cli \
    --features grlm-cli/cpu-variants --all-targets -- -D warnings
./scripts/package-linux.sh target/variants/pkg
GRLM_PACKAGE_DIR=target/variants/pkg CARGO_TARGET_DIR=target/variants cargo test --release --locked \
    -p grlm-cli --features cpu-variants --test integration -- --include-ignored variants::
# The GPU training bundle, checked without a GPU: pieces, checksums, the CPU dry run.
./scripts/test-gpu-bundle.sh
# The same library cross-built for aarch64 and run under qemu.
./scripts/arm64.sh
