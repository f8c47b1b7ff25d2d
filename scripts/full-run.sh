#!/usr/bin/env bash
# The full-scale Beauty training run on the CPU, resumable: run it again after an
# interruption and it continues from its checkpoint (the frozen blocks' output, stored as it
# is computed, is read back on the same machine). Joint fine-tuning as in the paper: the
# `terms` task and every user's `sequence` example (the training part: each sequence but
# its last two items; validation targets are not trained on), the trie objective for the
# sequence answers, rank-16 adapters on the top 8 blocks.
#
#   ./scripts/full-run.sh     (environment: DATA [../shared/data/beauty], OUT [out/full],
#                              EPOCHS [3], LAYERS [8], LR [1e-3], BATCH [32],
#                              NEW_ITEMS [none: a file of item ids the run must never
#                              see, as scripts/new-items.py writes them; they get no
#                              example and no count in the catalogue's prior],
#                              GRLM_TRAIN_BIN [a copy of target/release/grlm-train in OUT,
#                              so later builds cannot replace it mid-run])
#
# Writes OUT/adapter.gguf when done, OUT/adapter.gguf.snapshots/ every 200 steps (the
# learning curve: scripts/learning-curve.sh OUT/adapter.gguf OUT/valid.grlm), progress to
# stderr and the summary to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

data=${DATA:-../shared/data/beauty}
out=${OUT:-out/full}
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}

./scripts/fetch-model.sh
cargo build --release --locked -p grlm-train -p grlm-cli
mkdir -p "$out"
train=${GRLM_TRAIN_BIN:-$out/grlm-train.bin}
[[ -n ${GRLM_TRAIN_BIN:-} ]] || cp target/release/grlm-train "$train"

new_items=()
[[ -n ${NEW_ITEMS:-} ]] && new_items=(--new-items "$NEW_ITEMS")
[[ -f $out/sft/meta.json ]] || target/release/grlm-train sft --items "$data/items.jsonl" \
    --tids "$data/reference_tids.jsonl" --sequences "$data/sequences.txt" "${new_items[@]}" \
    --out "$out/sft" >"$out/sft.json"
# The catalogue of the trie objective; its prior never counted validation targets, so the
# same file serves the learning curve's evaluations.
[[ -f $out/valid.grlm ]] || target/release/grlm catalog build --items "$data/items.jsonl" \
    --tids "$data/reference_tids.jsonl" --model "$model" --sequences "$data/sequences.txt" --holdout 2 \
    "${new_items[@]}" --out "$out/valid.grlm" >&2

resume=()
[[ -f $out/adapter.gguf.ckpt/state.json ]] && resume=(--resume)
exec "$train" lora --base "$model" --data "$out/sft" --out "$out/adapter.gguf" --catalog "$out/valid.grlm" \
    --tasks terms,sequence --train-layers "${LAYERS:-8}" --rank 16 --alpha 32 \
    --batch "${BATCH:-32}" --micro-batch "${BATCH:-32}" --micro-batch-tokens 640 \
    --lr "${LR:-1e-3}" --warmup 50 --epochs "${EPOCHS:-3}" --checkpoint-every 50 --snapshot-every 200 \
    --valid 256 --threads 2 "${resume[@]}"
