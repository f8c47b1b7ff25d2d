#!/usr/bin/env bash
# A Linux x86-64 package of libgrlm whose CPU kernels are chosen at run time: built with
# the `cpu-variants` feature into target/variants/, then gathered into one directory that
# can be moved anywhere (every file finds the others through $ORIGIN):
#
#   OUT/grlm, OUT/libgrlm.so, OUT/grlm.h          the CLI, the library and its header
#   OUT/libllama.so.0, libggml.so.0, libggml-base.so.0   llama.cpp, shared
#   OUT/libggml-cpu-<variant>.so                  the CPU kernels, one per instruction-set
#                                                 level (x64 … sapphirerapids, zen4)
#
# At start-up the engine scores every libggml-cpu-*.so beside libgrlm (or beside the
# executable that links it statically) and loads the best the CPU runs; `grlm bench` and
# `grlm_engine_cpu_variant` name it, and GRLM_CPU_VARIANT=NAME pins one.
#
#   ./scripts/package-linux.sh OUT
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/package-linux.sh OUT}

export CARGO_TARGET_DIR=target/variants
cargo build --release --locked -p grlm -p grlm-cli --features grlm-cli/cpu-variants
build=$(ls -d target/variants/release/build/llama-cpp-sys-2-*/out/lib | head -1)
backends=$(dirname "$build")/backends
[[ -d $backends ]] || { echo "package-linux.sh: no $backends: not a cpu-variants build" >&2; exit 1; }

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
cp target/variants/release/grlm target/variants/release/libgrlm.so include/grlm.h "$out.tmp/"
# Each shared library under the name the others ask for (its soname), symlinks resolved.
for lib in libllama libggml libggml-base; do
    cp -L "$build/$lib.so.0" "$out.tmp/$lib.so.0"
done
cp "$backends"/libggml-cpu-*.so "$out.tmp/"
# llama.cpp builds with debug information; a package does not need it.
strip --strip-unneeded "$out.tmp"/*.so* "$out.tmp/grlm"
rm -rf "$out"
mv "$out.tmp" "$out"
du -sh "$out" >&2
