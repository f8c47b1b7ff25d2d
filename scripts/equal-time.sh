#!/usr/bin/env bash
# Today's trainer configuration against the default, given the same wall time on the same
# examples: which reaches the lower validation loss. `today` is plain ops, f32 products,
# rank 16 on every block and the full softmax; `default` is what `grlm-train lora` does
# without flags (fused kernels, bf16 products, the top 8 blocks adapted above a cache of the
# frozen ones, the trie objective). Both report their validation loss on the trie objective
# (--catalog), so the two numbers compare on the decoder's own terms.
#
# The default first caches its frozen blocks, and that time counts against it: the default
# trains for MINUTES, and today's configuration then trains for MINUTES plus the default's
# caching time.
#
#   ./scripts/equal-time.sh   (environment: DATA [out/full/sft: a `grlm-train sft` directory],
#       CATALOG [out/full/valid.grlm], EXAMPLES [4000: a seeded sample of DATA's training
#       examples, the same for both], MINUTES [20], OUT [out/equal-time], GRLM_TRAIN_BIN
#       [target/release/grlm-train], GRLM_MODEL [models/SmolLM2-135M-Instruct.Q4_1.gguf])
#
# Writes OUT/{default,today}.json (each run's summary) and prints both losses.
set -euo pipefail
cd "$(dirname "$0")/.."

data=${DATA:-out/full/sft}
catalog=${CATALOG:-out/full/valid.grlm}
out=${OUT:-out/equal-time}
train=${GRLM_TRAIN_BIN:-target/release/grlm-train}
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
seconds=$(python3 -c "print(round(float('${MINUTES:-20}') * 60, 1))")
mkdir -p "$out/data"

# The same seeded sample of training examples for both, and the same validation file.
python3 - "$data/train.jsonl" "$out/data/train.jsonl" "${EXAMPLES:-4000}" <<'PY'
import random, sys
source, dest, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(source).readlines()
random.Random(42).shuffle(lines)
open(dest, "w").writelines(lines[:n])
PY
cp "$data/valid.jsonl" "$out/data/valid.jsonl"

common=(--base "$model" --data "$out/data" --catalog "$catalog" --tasks terms,sequence --rank 16 --alpha 32
    --batch 32 --micro-batch 32 --micro-batch-tokens 640 --lr 1e-3 --warmup 50 --epochs 100 --valid 256
    --threads 2)
run() {
    local name=$1 limit=$2
    shift 2
    rm -rf "$out/$name.gguf" "$out/$name.gguf.ckpt"
    echo "== $name: $limit s of training" >&2
    "$train" lora "${common[@]}" --out "$out/$name.gguf" --time-limit "$limit" "$@" \
        >"$out/$name.json" 2>"$out/$name.log"
}

run default "$seconds" --train-layers 8
caching=$(grep -o 'training examples: blocks [0-9.]* cached for \([0-9]*\)/\1 examples ([0-9.]* s)' \
    "$out/default.log" | tail -1 | sed 's/.*(\([0-9.]*\) s)/\1/')
caching=${caching:-0}
run today "$(python3 -c "print($seconds + $caching)")" --kernels plain --matmul f32 --objective full

python3 - "$out" "$caching" <<'PY'
import json, sys
out, caching = sys.argv[1], float(sys.argv[2])
print(f"the default's caching: {caching:.0f} s, counted against it")
print("| configuration | steps | tokens | training s | valid loss before | after |")
print("|---|---|---|---|---|---|")
for name in ["default", "today"]:
    s = json.load(open(f"{out}/{name}.json"))
    print(f"| {name} | {s['steps']} | {s['train_tokens']} | {s['train_seconds']:.0f} "
          f"| {s['valid_loss_before']:.4f} | {s['valid_loss_after']:.4f} |")
PY
