#!/usr/bin/env bash
# Stages a self-contained bundle for training on one NVIDIA GPU (Hopper, sm_90) a machine with
# the driver, CUDA 13.0 and NVIDIA's CUDA libraries as Python packages, and nothing else: no
# Rust, no network. The bundle holds `grlm-train` built with `--features cuda`, the fine-tuning
# data of a whole data set, the base model, the tiny test model for a CPU dry run, and
# `run.sh`, packed as a tar cut into pieces of at most PIECE_MIB MiB (60: each piece then
# travels in one 64 MiB transfer) with their SHA-256 sums and `unpack.sh`, which checks and
# joins them.
#
#   ./scripts/gpu-bundle.sh OUT            the CUDA build (installs nvcc and the CUDA link
#                                          libraries from PyPI into .cuda-toolkit/)
#   ./scripts/gpu-bundle.sh --cpu OUT      the same bundle with a CPU build (what the test
#                                          suite's dry run uses: this machine has no GPU)
#
# On the GPU machine:  sh OUT/unpack.sh DIR && DIR/run.sh RESULTS   (DIR/run.sh --help)
#
# Environment: DATA [../shared/data/beauty], TIDS [$DATA/reference_tids.jsonl], TRANSITIONS
# min users [3], PIECE_MIB [60],
# GRLM_MODEL [models/SmolLM2-135M-Instruct.Q4_1.gguf].
set -euo pipefail
cd "$(dirname "$0")/.."

cpu=0
if [[ ${1:-} == --cpu ]]; then
    cpu=1
    shift
fi
[[ $# == 1 ]] || { echo "usage: $0 [--cpu] OUT" >&2; exit 2; }
out=$1
data=${DATA:-../shared/data/beauty}
tids=${TIDS:-$data/reference_tids.jsonl}
transitions=${TRANSITIONS:-3}
piece_mib=${PIECE_MIB:-60}
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}

./scripts/fetch-model.sh
stage=$(mktemp -d "${TMPDIR:-/tmp}/grlm-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/model" "$stage/dry-run"

if ((cpu)); then
    cargo build --release --locked -p grlm-train -p grlm-testkit
    cp target/release/grlm-train "$stage/bin/"
    echo cpu >"$stage/build"
else
    ./scripts/install-cuda-toolkit.sh
    eval "$(./scripts/install-cuda-toolkit.sh --env)"
    # Its own target folder, so that the CPU build of the test suite is left alone.
    CUDA_COMPUTE_CAP=90 cargo build --release --locked -p grlm-train --features cuda --target-dir target/cuda
    cargo build --release --locked -p grlm-testkit
    cp target/cuda/release/grlm-train "$stage/bin/"
    echo "cuda sm_90" >"$stage/build"
fi
# Line tables are for local debugging; the bundle travels in pieces.
strip "$stage/bin/grlm-train"
target/release/tiny-model "$stage/dry-run/tiny.gguf"
cp "$model" "$stage/model/base.gguf"
"$stage/bin/grlm-train" sft --items "$data/items.jsonl" --tids "$tids" \
    --sequences "$data/sequences.txt" --transitions "$transitions" --out "$stage/data" >"$stage/data.json"
cp scripts/gpu-bundle/run.sh "$stage/run.sh"
chmod +x "$stage/run.sh"

rm -rf "$out"
mkdir -p "$out"
tar -C "$stage" -cf - . | split -b "${piece_mib}M" -d -a 3 - "$out/bundle.tar."
(cd "$out" && sha256sum bundle.tar.* >SHA256SUMS)
cp scripts/gpu-bundle/unpack.sh "$out/unpack.sh"
echo "bundle: $(ls "$out"/bundle.tar.* | wc -l) pieces of at most $piece_mib MiB in $out ($(cat "$stage/build") build)" >&2
