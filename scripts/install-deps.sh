#!/usr/bin/env bash
# Installs the system packages the build and the tests need, on Debian/Ubuntu, skipping
# what is already there (so a warm machine pays nothing). Rust itself must already be
# installed (rustup with rustfmt and clippy): this script checks and says so.
set -euo pipefail

# valgrind and the JVM pieces run the C and Kotlin binding tests; the aarch64 cross
# compilers and qemu run the ARM64 build under emulation (scripts/arm64.sh). libdnnl2
# (oneDNN) gives grlm-train its bf16 matrix products; without it training runs in f32.
packages=(build-essential pkg-config cmake libclang-dev valgrind kotlin libjna-java libdnnl2)
if [[ $(uname -m) == x86_64 ]]; then
    packages+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

for tool in cargo rustfmt cargo-clippy; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "error: $tool not found; install Rust with rustup (components rustfmt, clippy)" >&2
        exit 1
    }
done

# The Rust standard library for the ARM64 cross build (a no-op once installed). Without it
# scripts/arm64.sh says so and skips, so a machine that cannot reach rustup's server still
# runs everything else.
if [[ $(uname -m) == x86_64 ]] && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu ||
        echo "warning: could not add the Rust target aarch64-unknown-linux-gnu; the ARM64 tests will be skipped" >&2
fi
