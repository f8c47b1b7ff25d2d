#!/usr/bin/env bash
# The CPU quality run of the fine-tuning path, in one command: SFT data from the Beauty
# data, a LoRA adapter for SmolLM2-135M trained on a subset of it (every transition that 3
# or more users' training parts share, plus a seeded sample of sequences), then `grlm eval`
# (constrained decoding) of the untuned and the tuned backbone on the same users, with the
# popularity baseline, compared user by user. Results land in out/quality/
# (eval-untuned.json, eval-tuned.json, ranks-*.jsonl per user, lora.json with training
# tokens, tokens/s and time). An interrupted run resumes from its
# last checkpoint when started again.
#
#   ./scripts/quality-run.sh     (environment: TRANSITIONS min users [3], SEQUENCES
#                                 examples [500], EPOCHS [2], USERS [1000], THREADS [2],
#                                 LR [1e-3], DATA [../shared/data/beauty])
set -euo pipefail
cd "$(dirname "$0")/.."

transitions=${TRANSITIONS:-3}
sequences=${SEQUENCES:-500}
epochs=${EPOCHS:-2}
users=${USERS:-1000}
threads=${THREADS:-2}
lr=${LR:-1e-3}
data=${DATA:-../shared/data/beauty}
out=out/quality
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
grlm=target/release/grlm
train=target/release/grlm-train

./scripts/fetch-model.sh
cargo build --release --locked --workspace
mkdir -p "$out"

echo "== SFT data" >&2
$train sft --items "$data/items.jsonl" --tids "$data/reference_tids.jsonl" \
    --sequences "$data/sequences.txt" --transitions "$transitions" --out "$out/sft" >"$out/sft.json"

echo "== catalogue with the backbone's token trie" >&2
[[ -f $out/beauty.grlm ]] || $grlm catalog build --items "$data/items.jsonl" \
    --tids "$data/reference_tids.jsonl" --out "$out/beauty.grlm" --model "$model" >&2

echo "== LoRA: transitions and $sequences sequences, $epochs epochs" >&2
resume=()
[[ -f $out/adapter.gguf.ckpt/state.json ]] && resume=(--resume)
[[ -f $out/adapter.gguf ]] || $train lora --base "$model" --data "$out/sft" --out "$out/adapter.gguf" \
    --tasks transitions,sequence --task-limit "sequence=$sequences" \
    --batch 16 --micro-batch 16 --micro-batch-tokens 640 \
    --epochs "$epochs" --lr "$lr" \
    --warmup 10 --checkpoint-every 20 --threads "$threads" "${resume[@]}" >"$out/lora.json"

echo "== evaluation on $users users: untuned (with popularity), then tuned" >&2
eval_args=(eval --model "$model" --catalog "$out/beauty.grlm" --sequences "$data/sequences.txt"
    --users "$users" --seed 42 --threads "$threads" --json)
$grlm "${eval_args[@]}" --baseline popularity --ranks "$out/ranks-untuned.jsonl" >"$out/eval-untuned.json"
$grlm "${eval_args[@]}" --lora "$out/adapter.gguf" --ranks "$out/ranks-tuned.jsonl" >"$out/eval-tuned.json"
cat "$out/lora.json" "$out/eval-untuned.json" "$out/eval-tuned.json"

# The same users, user by user: hits only one side has, and McNemar's exact two-sided
# p-value (a binomial test on those discordant users).
python3 - "$out/ranks-tuned.jsonl" "$out/ranks-untuned.jsonl" <<'PY'
import json, math, sys
tuned = [json.loads(line) for line in open(sys.argv[1])]
untuned = [json.loads(line) for line in open(sys.argv[2])]
assert [r["user"] for r in tuned] == [r["user"] for r in untuned], "different users"
def hit(rank, k):
    return rank is not None and rank <= k
def mcnemar(only_a, only_b):
    n = only_a + only_b
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)
for other, key, rows in [("untuned", "rank", untuned), ("popularity", "popularity_rank", untuned)]:
    for k in (5, 10, 20):
        a = sum(hit(t["rank"], k) and not hit(o[key], k) for t, o in zip(tuned, rows))
        b = sum(hit(o[key], k) and not hit(t["rank"], k) for t, o in zip(tuned, rows))
        print(f"tuned vs {other} @{k}: only tuned {a}, only {other} {b}, McNemar p = {mcnemar(a, b):.4f}")
PY
