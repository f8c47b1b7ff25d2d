#!/usr/bin/env bash
# Cross-builds libgrlm and the `grlm` CLI for aarch64-unknown-linux-gnu and runs them under
# qemu user-mode emulation: the library's unit tests and its engine tests (tiny model written
# at test time, no large files), then cli/tests/arm64.rs on the host, which drives the ARM64 build against the
# native one (catalogue bytes, a real recommendation, every C function, the benchmark).
#
# Needs Debian's gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu and qemu-user-static, and the
# Rust target (scripts/install-deps.sh installs all of them). Where they cannot be
# installed it says so and skips; on an aarch64 host the ordinary test suite covers it.
#
# GRLM_ARM64_TIMEOUT bounds each emulated stage, builds excluded (seconds, default 900).
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu
limit=${GRLM_ARM64_TIMEOUT:-900}

if [[ $(uname -m) == aarch64 ]]; then
    echo "arm64.sh: this host is aarch64; the native test suite already runs there" >&2
    exit 0
fi
missing=()
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ qemu-aarch64-static; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[[ -d $sysroot/lib ]] || missing+=("$sysroot (libc6-dev-arm64-cross)")
rustup target list --installed 2>/dev/null | grep -qx "$target" || missing+=("rust target $target")
if ((${#missing[@]})); then
    echo "arm64.sh: SKIPPED, missing: ${missing[*]}" >&2
    echo "arm64.sh: scripts/install-deps.sh installs them on Debian/Ubuntu" >&2
    exit 0
fi

# The cc and cmake crates read CC_<target>/CXX_<target>; bindgen needs the target's headers.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=$sysroot"
runner="qemu-aarch64-static -L $sysroot"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=$runner

# Builds first, so that the time limits bound only what runs under emulation.
cargo build --release --locked --target "$target" -p grlm -p grlm-cli
cargo test --release --locked --target "$target" -p grlm --lib --test integration --no-run
cargo test --release --locked --target "$target" -p grlm-core --lib --no-run
# The library's own tests and the engine's (one module of its integration tests).
timeout "$limit" cargo test --release --locked --target "$target" -p grlm --lib
timeout "$limit" cargo test --release --locked --target "$target" -p grlm --test integration -- engine::
# The catalogue, grounding and prior's own tests, which moved with them to the core.
timeout "$limit" cargo test --release --locked --target "$target" -p grlm-core --lib

# --workspace, as the test command builds: `-p grlm` alone would unify features differently
# and rebuild llama.cpp for the host.
cargo test --release --locked --workspace --test integration --no-run
GRLM_ARM64_DIR=$PWD/target/$target/release GRLM_ARM64_RUNNER=$runner GRLM_ARM64_CC=aarch64-linux-gnu-gcc \
    timeout "$limit" cargo test --release --locked --workspace --test integration -- --ignored arm64::
echo "arm64.sh: the aarch64 build passed under qemu" >&2
