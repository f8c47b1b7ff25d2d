#!/usr/bin/env bash
# One command on a fresh Debian machine: install what the build needs, build, and run the
# main job on the shared Beauty data — build the catalogue, check it, and ground the TIDs
# that a model might write.
#
#   ./scripts/setup.sh [DATA_DIR]      (default: ../shared/data/beauty)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cargo build --release --locked

data=${1:-../shared/data/beauty}
grlm=target/release/grlm
mkdir -p out
echo "== build the catalogue from $data"
$grlm catalog build --items "$data/items.jsonl" --tids "$data/reference_tids.jsonl" --out out/beauty.grlm
echo "== inspect"
$grlm catalog inspect out/beauty.grlm
echo "== verify"
$grlm catalog verify out/beauty.grlm
echo "== ground an exact TID, then one with a plural and a misspelling"
$grlm ground out/beauty.grlm "[hair-mask, color-lock, citrus, protein, unisex]" -k 3
$grlm ground out/beauty.grlm "[hair-masks, color-lock, citrus, protien, unisex]" -k 5
echo "== grounding of perturbed TIDs: ours vs the paper's fallback"
$grlm ground-eval out/beauty.grlm --queries 300
