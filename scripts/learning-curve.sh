#!/usr/bin/env bash
# The learning curve of a long `grlm-train lora --snapshot-every` run: every snapshot adapter
# (OUT.snapshots/step-N.gguf) evaluated alone (no prior) on the validation split, and a table
# of step, tokens, training hours, validation loss and R@10 / N@10 with 95% intervals.
# Finished evaluations are kept, so the script can be run again as snapshots arrive.
#
#   ./scripts/learning-curve.sh ADAPTER.gguf CATALOG.grlm   (environment: DATA
#       [../shared/data/beauty], USERS [300], EVERY [1: evaluate the snapshots whose step
#       is a multiple of EVERY; ADAPTER itself, once written, always], JOBS [2], THREADS [1],
#       GRLM_BIN [target/release/grlm], GRLM_MODEL [models/SmolLM2-135M-Instruct.Q4_1.gguf])
#
# CATALOG must never have counted validation targets (`grlm catalog build --holdout 2`); the
# model alone does not read its prior, but the same catalogue serves the fused runs.
set -euo pipefail
cd "$(dirname "$0")/.."

adapter=${1:?usage: learning-curve.sh ADAPTER.gguf CATALOG.grlm}
catalog=${2:?usage: learning-curve.sh ADAPTER.gguf CATALOG.grlm}
data=${DATA:-../shared/data/beauty}
users=${USERS:-300}
jobs=${JOBS:-2}
threads=${THREADS:-1}
grlm=${GRLM_BIN:-target/release/grlm}
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
snapshots=$adapter.snapshots
[[ -f $snapshots/curve.jsonl ]] || { echo "no $snapshots/curve.jsonl: train with --snapshot-every" >&2; exit 1; }

for snapshot in "$snapshots"/step-*.gguf; do
    result=${snapshot%.gguf}.eval.json
    [[ -f $result ]] && continue
    step=${snapshot##*/step-}
    step=$((10#${step%.gguf}))
    (( step % ${EVERY:-1} == 0 )) || continue
    echo "== $(basename "$snapshot")" >&2
    nice "$grlm" eval --model "$model" --catalog "$catalog" --sequences "$data/sequences.txt" --split valid \
        --users "$users" --seed 42 --jobs "$jobs" --threads "$threads" --prior-weight 0 \
        --lora "$snapshot" --json >"$result.tmp"
    mv "$result.tmp" "$result"
done
# The finished run's adapter, the curve's last point.
if [[ -f $adapter && ! -f $snapshots/final.eval.json ]]; then
    echo "== $(basename "$adapter")" >&2
    nice "$grlm" eval --model "$model" --catalog "$catalog" --sequences "$data/sequences.txt" --split valid \
        --users "$users" --seed 42 --jobs "$jobs" --threads "$threads" --prior-weight 0 \
        --lora "$adapter" --json >"$snapshots/final.eval.json.tmp"
    mv "$snapshots/final.eval.json.tmp" "$snapshots/final.eval.json"
fi

python3 - "$snapshots" <<'PY'
import json, os, sys
snapshots = sys.argv[1]
points = {}
for line in open(os.path.join(snapshots, "curve.jsonl")):
    p = json.loads(line)
    points[p["step"]] = p  # a step redone after a crash: its last line counts
print("| step | tokens | training hours | validation loss | R@10 (95%) | N@10 (95%) |")
print("|---|---|---|---|---|---|")
rows = [(str(step), os.path.join(snapshots, f"step-{step:06d}.eval.json"), points[step]) for step in sorted(points)]
rows.append(("final", os.path.join(snapshots, "final.eval.json"), None))
for step, result, p in rows:
    if not os.path.exists(result):
        continue
    e = json.load(open(result))
    r, (rlo, rhi) = e["recall@10"], e["ci95"]["recall@10"]
    n, (nlo, nhi) = e["ndcg@10"], e["ci95"]["ndcg@10"]
    tokens = hours = loss = ""
    if p:
        tokens, hours = f"{p['tokens']:,}", f"{p['seconds'] / 3600:.2f}"
        loss = "" if p["valid_loss"] is None else f"{p['valid_loss']:.3f}"
    print(f"| {step} | {tokens} | {hours} | {loss} "
          f"| {r:.4f} ({rlo:.4f}–{rhi:.4f}) | {n:.4f} ({nlo:.4f}–{nhi:.4f}) |")
PY
