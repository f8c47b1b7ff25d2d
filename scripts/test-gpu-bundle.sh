#!/usr/bin/env bash
# The GPU bundle, checked on a machine without a GPU (the test command runs this): a bundle
# of the fixture data with a CPU build, every piece within the limit, a damaged piece refused
# before anything is unpacked, the CPU dry run (train, interrupt, resume, adapter), and the
# GPU run refused with the missing CUDA libraries named.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=out/gpu-bundle-test
rm -rf "$dir"
DATA=tests/fixtures TIDS=tests/fixtures/tids.jsonl TRANSITIONS=1 ./scripts/gpu-bundle.sh --cpu "$dir/bundle"

limit=$((60 * 1024 * 1024))
pieces=0
for piece in "$dir"/bundle/bundle.tar.*; do
    size=$(stat -c %s "$piece")
    ((size <= limit)) || { echo "FAIL: $piece is $size bytes, over 60 MiB" >&2; exit 1; }
    pieces=$((pieces + 1))
done
((pieces >= 2)) || { echo "FAIL: the 98 MB model should need at least 2 pieces, got $pieces" >&2; exit 1; }

# A damaged piece: refused, nothing unpacked.
cp -r "$dir/bundle" "$dir/damaged"
printf 'x' | dd of="$dir/damaged/bundle.tar.000" bs=1 seek=1000 conv=notrunc status=none
if sh "$dir/damaged/unpack.sh" "$dir/damaged-out" 2>"$dir/damaged.err"; then
    echo "FAIL: a damaged piece was unpacked" >&2
    exit 1
fi
grep -q "missing or damaged" "$dir/damaged.err" || { cat "$dir/damaged.err" >&2; exit 1; }
[[ ! -e $dir/damaged-out ]] || { echo "FAIL: something was unpacked from a damaged bundle" >&2; exit 1; }

sh "$dir/bundle/unpack.sh" "$dir/unpacked"
cmp -s "$dir/unpacked/model/base.gguf" models/SmolLM2-135M-Instruct.Q4_1.gguf ||
    { echo "FAIL: the joined model differs from the original" >&2; exit 1; }
"$dir/unpacked/run.sh" --dry-run "$dir/dry-run"
python3 - "$dir/dry-run" <<'PY'
import json, sys
first = json.load(open(f"{sys.argv[1]}/first.json"))
done = json.load(open(f"{sys.argv[1]}/lora.json"))
assert not first["finished"] and first["steps"] == 2, first
assert done["finished"] and done["steps"] == done["total_steps"] > 2, done
PY

# The GPU run on this machine: the missing libraries are named, nothing is trained.
if GRLM_CUDA_LIB_DIRS=/nonexistent "$dir/unpacked/run.sh" "$dir/gpu" 2>"$dir/gpu.err"; then
    echo "FAIL: the GPU run started without CUDA" >&2
    exit 1
fi
grep -q "libcublas.so.13 (pip package nvidia-cublas)" "$dir/gpu.err" || { cat "$dir/gpu.err" >&2; exit 1; }
[[ ! -e $dir/gpu/adapter.gguf ]]
echo "test-gpu-bundle.sh: the bundle's pieces, checksums, dry run and CUDA checks passed" >&2
