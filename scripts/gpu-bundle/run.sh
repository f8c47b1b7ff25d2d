#!/bin/sh
# Trains a LoRA adapter for the bundled base model on the bundled data, on the GPU, and writes
# the adapter GGUF (which `grlm recommend --lora` and the C API load) and the run's summary
# to RESULTS. Checkpoints go to RESULTS too: an interrupted run started again resumes.
#
#   run.sh RESULTS              train on CUDA device 0
#   run.sh --dry-run RESULTS    the same steps on the CPU with the tiny test model, a few
#                               examples, an interruption and a resume: checks the bundle
#                               without a GPU
#
# The CUDA libraries are looked up in GRLM_CUDA_LIB_DIRS (colon-separated), then in the
# nvidia/*/lib folders of the Python packages python3 sees (nvidia-cublas, nvidia-curand,
# nvidia-cuda-nvrtc, nvidia-cuda-runtime), then where the system linker looks; the driver's
# libcuda.so.1 comes from the system. A missing one is named before anything runs.
#
# The recipe (environment): EPOCHS [2], LR [5e-4], BATCH [32], MICRO_TOKENS [8192], RANK [12],
# TASKS [terms,sequence,transitions], CHECKPOINT_EVERY [50]. Rank 12 keeps SmolLM2-135M's F32
# adapter at 14.7 MB, under the 16 MiB a file may have to travel back in (rank 16: 19.5 MB).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dry=0
if [ "${1:-}" = --dry-run ]; then
    dry=1
    shift
fi
if [ $# -ne 1 ] || [ "$1" = --help ]; then
    sed -n '2,18p' "$0"
    exit 2
fi
results=$1
mkdir -p "$results"
train=$here/bin/grlm-train

if [ $dry -eq 1 ]; then
    echo "dry run on the CPU: tiny model, 24 examples, interrupted after 2 steps, then resumed" >&2
    common="lora --device cpu --base $here/dry-run/tiny.gguf --data $here/data --out $results/adapter.gguf
        --limit 24 --batch 4 --epochs 1 --valid 4 --warmup 1 --checkpoint-every 1 --threads 1"
    # shellcheck disable=SC2086
    "$train" $common --stop-after 2 >"$results/first.json"
    # shellcheck disable=SC2086
    "$train" $common --resume >"$results/lora.json"
    [ -s "$results/adapter.gguf" ] || { echo "error: no adapter was written" >&2; exit 1; }
    echo "dry run ok: $results/adapter.gguf" >&2
    exit 0
fi

dirs=${GRLM_CUDA_LIB_DIRS:-}
python_dirs=$(python3 -c 'import glob, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()] + sys.path
print(":".join(sorted({d for r in roots for d in glob.glob(r + "/nvidia/*/lib")})))' 2>/dev/null || true)
dirs=$dirs${dirs:+:}$python_dirs
# Whether library $1 is in one of $dirs or known to the system linker.
have() {
    for d in $(echo "$dirs" | tr ':' ' '); do
        [ -e "$d/$1" ] && return 0
    done
    ldconfig -p 2>/dev/null | grep -q " $1 "
}
missing=""
# Every library the CUDA build loads, with what ships it.
while IFS=: read -r lib what; do
    have "$lib" || missing="$missing
  $lib ($what)"
done <<LIBS
libcuda.so.1:the NVIDIA driver
libcudart.so.13:pip package nvidia-cuda-runtime
libcublas.so.13:pip package nvidia-cublas
libcublasLt.so.13:pip package nvidia-cublas
libcurand.so.10:pip package nvidia-curand
libnvrtc.so.13:pip package nvidia-cuda-nvrtc
LIBS
if [ -n "$missing" ]; then
    echo "error: CUDA libraries not found:$missing" >&2
    echo "install the packages named (pip install ...) or set GRLM_CUDA_LIB_DIRS to the folders that hold them" >&2
    exit 1
fi
if [ "$(cat "$here/build")" = cpu ]; then
    echo "error: this bundle's grlm-train was built for the CPU (gpu-bundle.sh --cpu); build one without --cpu" >&2
    exit 1
fi
export LD_LIBRARY_PATH="$dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
resume=""
[ -f "$results/adapter.gguf.ckpt/state.json" ] && resume=--resume
# shellcheck disable=SC2086
"$train" lora --device cuda --base "$here/model/base.gguf" --data "$here/data" --out "$results/adapter.gguf" \
    --tasks "${TASKS:-terms,sequence,transitions}" --epochs "${EPOCHS:-2}" --lr "${LR:-5e-4}" \
    --batch "${BATCH:-32}" --micro-batch "${BATCH:-32}" --micro-batch-tokens "${MICRO_TOKENS:-8192}" \
    --rank "${RANK:-12}" --checkpoint-every "${CHECKPOINT_EVERY:-50}" $resume >"$results/lora.json"
cat "$results/lora.json"
