#!/usr/bin/env bash
# Installs the part of the CUDA 13.0 toolkit that building `--features cuda` needs (nvcc,
# its NVVM back end, the runtime and C++ library headers) into .cuda-toolkit/, from
# NVIDIA's PyPI wheels, on a machine without a system toolkit. 13.0 is the newest CUDA
# that a 580-series driver runs; cudarc 0.19 knows versions up to 13.4.
#
#   ./scripts/install-cuda-toolkit.sh
#   eval "$(./scripts/install-cuda-toolkit.sh --env)"
#   CUDA_COMPUTE_CAP=90 cargo build --release -p grlm-train --features cuda
#
# Linking needs the GPU driver's libcuda.so and cuBLAS/cuRAND/NVRTC, which a GPU machine
# has; without them `cargo check --features cuda` still compiles every kernel and all Rust.
# CUDA_COMPUTE_CAP picks the one architecture the kernels are built for (90: H100/H200);
# without it candle asks nvidia-smi, which only a GPU machine has.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$PWD/.cuda-toolkit
root=$dir/nvidia/cu13
wheels=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-cuda-runtime==13.0.96
    nvidia-cuda-cccl==13.0.85
)

if [[ ${1:-} == --env ]]; then
    [[ -x $root/bin/nvcc ]] || { echo "run $0 first" >&2; exit 1; }
    echo "export CUDA_PATH=$root CUDA_ROOT=$root PATH=$root/bin:\$PATH"
    exit 0
fi
if [[ -x $root/bin/nvcc && -x $root/nvvm/bin/cicc ]] &&
    "$root/bin/nvcc" --version | grep -q 'release 13.0,'; then
    echo "CUDA toolkit present: $root" >&2
    exit 0
fi
echo "installing nvcc 13.0 from PyPI into $dir" >&2
rm -rf "$dir"
mkdir -p "$dir/wheels"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2010_x86_64 --platform manylinux_2_12_x86_64 \
    -d "$dir/wheels" "${wheels[@]}"
for wheel in "$dir"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$dir"
done
chmod +x "$root"/bin/* "$root"/nvvm/bin/*
rm -rf "$dir/wheels"
"$root/bin/nvcc" --version | tail -2 >&2 # fails loudly if the toolkit is unusable
