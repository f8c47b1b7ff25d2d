#!/usr/bin/env bash
# The CPU quality run in one command, for one data set: fine-tuning data, a LoRA adapter for
# SmolLM2-135M trained on a subset of it (every transition that 3 or more users' training
# parts share, plus a seeded sample of sequences), catalogues with the collaborative prior
# (validation targets held out, and test targets held out), a sweep of the prior's weight on
# the validation split, then the test split: popularity and the prior alone (baselines of the
# same run), the untuned and the tuned backbone alone, and each fused with the prior at the
# weight chosen on validation — compared user by user (McNemar) and on the users whose target
# a transition from the history reaches ("seen") and the rest ("unseen").
#
#   ./scripts/quality-run.sh     (environment: DATA [../shared/data/beauty], USERS test users
#                                 [1000], VALID_USERS [500], WEIGHTS swept [0.5 1 2 4 8],
#                                 UNTUNED_WEIGHTS swept for the untuned model [WEIGHTS],
#                                 JOBS [2], THREADS per job [1], TRANSITIONS min users [3],
#                                 SEQUENCES examples [500], EPOCHS [2], LR [1e-3],
#                                 UNSEEN [unset]: when set, the SEQUENCES history examples are
#                                 `unseen` ones with this window (steps the counts miss, see
#                                 docs/training.md) instead of `sequence` ones,
#                                 TUNE [1]; 0 skips the fine-tuning and every step of the tuned
#                                 model, for a run on the untuned backbone and the baselines,
#                                 OUT [out/quality/<data set>], GRLM_BIN and GRLM_TRAIN_BIN
#                                 [target/release/grlm, grlm-train]: binaries to use, e.g.
#                                 copies that later builds cannot replace mid-run)
#
# Results land in $OUT: lora.json, sweep-*.json, test-*.json, ranks-*.jsonl and summary.md.
# Every finished step is kept: an interrupted run resumes (training from its checkpoint).
set -euo pipefail
cd "$(dirname "$0")/.."

data=${DATA:-../shared/data/beauty}
name=$(basename "$data")
out=${OUT:-out/quality/$name}
users=${USERS:-1000}
valid_users=${VALID_USERS:-500}
weights=${WEIGHTS:-0.5 1 2 4 8}
untuned_weights=${UNTUNED_WEIGHTS:-$weights}
jobs=${JOBS:-2}
threads=${THREADS:-1}
transitions=${TRANSITIONS:-3}
sequences=${SEQUENCES:-500}
unseen=${UNSEEN:-}
epochs=${EPOCHS:-2}
lr=${LR:-1e-3}
tune=${TUNE:-1}
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
grlm=${GRLM_BIN:-target/release/grlm}
train=${GRLM_TRAIN_BIN:-target/release/grlm-train}

./scripts/fetch-model.sh
cargo build --release --locked --workspace
mkdir -p "$out"

if [[ $tune == 1 ]]; then
    # The history task: whole sequences, or only the steps no other user's counts reach.
    history_task=sequence
    sft_options=()
    if [[ -n $unseen ]]; then
        history_task=unseen
        sft_options=(--unseen "$unseen")
    fi
    echo "== SFT data" >&2
    [[ -f $out/sft/meta.json ]] || $train sft --items "$data/items.jsonl" --tids "$data/reference_tids.jsonl" \
        --sequences "$data/sequences.txt" --transitions "$transitions" "${sft_options[@]}" --out "$out/sft" \
        >"$out/sft.json"

    echo "== LoRA: transitions and $sequences $history_task examples, $epochs epochs" >&2
    resume=()
    [[ -f $out/adapter.gguf.ckpt/state.json ]] && resume=(--resume)
    [[ -f $out/adapter.gguf ]] || $train lora --base "$model" --data "$out/sft" --out "$out/adapter.gguf" \
        --tasks "transitions,$history_task" --task-limit "$history_task=$sequences" \
        --batch 16 --micro-batch 16 --micro-batch-tokens 640 \
        --epochs "$epochs" --lr "$lr" \
        --warmup 10 --checkpoint-every 20 --threads 2 "${resume[@]}" >"$out/lora.json"
fi

echo "== catalogues with the prior: validation and test targets held out (valid.grlm), test targets (test.grlm)" >&2
for holdout in 2 1; do
    catalog=$out/$([[ $holdout == 2 ]] && echo valid || echo test).grlm
    [[ -f $catalog ]] || $grlm catalog build --items "$data/items.jsonl" --tids "$data/reference_tids.jsonl" \
        --model "$model" --sequences "$data/sequences.txt" --holdout "$holdout" --out "$catalog" >&2
done

# One evaluation, kept once finished: NAME SPLIT CATALOG USERS then grlm eval options.
evaluate() {
    local name=$1 split=$2 catalog=$3 n=$4
    shift 4
    [[ -f $out/$name.json ]] && return
    echo "== $name" >&2
    $grlm eval --model "$model" --catalog "$catalog" --sequences "$data/sequences.txt" --split "$split" \
        --users "$n" --seed 42 --jobs "$jobs" --threads "$threads" --ranks "$out/ranks-$name.jsonl" --json "$@" \
        >"$out/$name.json.tmp"
    mv "$out/$name.json.tmp" "$out/$name.json"
}

# The weight of a model: the best validation recall@10 (then NDCG@10, then the larger weight,
# which trusts the prior more).
choose() {
    local model=$1
    shift
    python3 - "$out" "$model" "$@" <<'PY'
import json, sys
out, model, weights = sys.argv[1], sys.argv[2], sys.argv[3:]
scored = []
for w in weights:
    e = json.load(open(f"{out}/sweep-{model}-{w}.json"))
    scored.append((e["recall@10"], e["ndcg@10"], float(w), w))
print(max(scored)[3])
PY
}

# The steps run in the order of what they tell, so a run stopped early already holds the main
# comparison (fused tuned, or without tuning fused untuned, against both baselines); the
# summary marks what has not run.
echo "== validation: the untuned model alone and the baselines, $valid_users users" >&2
evaluate sweep-untuned-0 valid "$out/valid.grlm" "$valid_users" --prior-weight 0 --baseline popularity,transitions
if [[ $tune == 1 ]]; then
    echo "== validation sweep of the tuned model's prior weight" >&2
    for w in $weights; do
        evaluate "sweep-tuned-$w" valid "$out/valid.grlm" "$valid_users" --prior-weight "$w" --lora "$out/adapter.gguf"
    done
    tuned_w=$(choose tuned $weights)
    echo "== chosen on validation: tuned $tuned_w" >&2

    echo "== test, $users users: the baselines and the untuned model, then fused tuned" >&2
    evaluate test-untuned test "$out/test.grlm" "$users" --prior-weight 0 --baseline popularity,transitions
    evaluate test-fused-tuned test "$out/test.grlm" "$users" --prior-weight "$tuned_w" --lora "$out/adapter.gguf"
fi

echo "== the untuned model with the prior: validation sweep" >&2
for w in $untuned_weights; do
    evaluate "sweep-untuned-$w" valid "$out/valid.grlm" "$valid_users" --prior-weight "$w"
done
untuned_w=$(choose untuned $untuned_weights)
echo "== chosen on validation: untuned $untuned_w" >&2

if [[ $tune == 1 ]]; then
    # A prior that keeps good candidates among the beams may let fewer beams do (at least k).
    evaluate "sweep-tuned-$tuned_w-beams10" valid "$out/valid.grlm" "$valid_users" --prior-weight "$tuned_w" \
        --lora "$out/adapter.gguf" --beams 10
    echo "== test, $users users: the tuned model alone, the untuned one fused" >&2
    evaluate test-tuned test "$out/test.grlm" "$users" --prior-weight 0 --lora "$out/adapter.gguf"
else
    echo "== test, $users users: the baselines and the untuned model, alone and fused" >&2
    evaluate test-untuned test "$out/test.grlm" "$users" --prior-weight 0 --baseline popularity,transitions
fi
evaluate test-fused-untuned test "$out/test.grlm" "$users" --prior-weight "$untuned_w"
[[ $tune == 1 ]] && evaluate sweep-tuned-0 valid "$out/valid.grlm" "$valid_users" --prior-weight 0 --lora "$out/adapter.gguf"

# Every weight either model was swept at, once, in order.
swept=$untuned_weights
[[ $tune == 1 ]] && swept="$weights $swept"
python3 scripts/quality-summary.py "$out" $(printf '%s\n' $swept | sort -gu) |
    tee "$out/summary.md"
