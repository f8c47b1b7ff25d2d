#!/usr/bin/env bash
# The quality protocol for a trained adapter on Beauty (or DATA): the fusion setting chosen on
# the validation split, then the test split reported with the baselines from the same run.
#
#   ./scripts/adapter-eval.sh ADAPTER.gguf   (environment: DATA [../shared/data/beauty],
#       OUT [out/eval], VALID_USERS [500], TEST_USERS [3000], SETTINGS [alone,product:8,
#       product:32,product:128,mixture:0.2,mixture:0.5; `product:λ:κ` and `mixture:β:κ` add
#       the evidence scale κ, and `@N` N cold slots (none: the library's default, `@0` for
#       no slots)], BEAMS [20: also the length of each
#       ranked list; cold slots take its last places, so compare them at the length a
#       product shows, e.g. 10], JOBS [2], THREADS [1], GRLM_BIN
#       [target/release/grlm], GRLM_MODEL [models/SmolLM2-135M-Instruct.Q4_1.gguf],
#       NEW_ITEMS [none: the new-items protocol's list, as the adapter was trained with;
#       the catalogues count them as never bought and the runs report the new and known
#       slices], NEW_VALID_USERS [3000: with NEW_ITEMS, the sample whose new slice is
#       validated on its own], TEST_ALSO [none: more settings for the test stage, e.g.
#       product:32@0 to compare the chosen one with], CHOSEN [none: a setting chosen
#       elsewhere, e.g. on Beauty's validation for a transfer to other data; the validation
#       stage is skipped], UNTUNED [0; 1: also the
#       untuned backbone, with the chosen setting and alone, on the test users, compared user
#       by user with the adapter])
#
# 1. Catalogues: OUT/valid.grlm (prior counted without the last two items of every sequence)
#    and OUT/test.grlm (without the last one), both with the backbone's token trie.
# 2. Validation: every setting in SETTINGS on the same VALID_USERS users (seed 42), one prompt
#    per user (`grlm eval --also`); the best R@10 (then N@10; then the first listed) is chosen.
#    With NEW_ITEMS, a tenth of a sample holds too few new-slice users to tell settings
#    apart there, so that slice is also run on its own (`--slice new`, the new slice of
#    NEW_VALID_USERS users) and each setting is scored by the stratified estimate
#    (1 − s)·R@10(known slice) + s·R@10(new slice run), s the new slice's share of its sample.
#    With CHOSEN set there is no validation stage and no valid catalogue.
# 3. Test: TEST_USERS users (seed 42), the chosen setting against the model alone, the
#    TEST_ALSO settings, the prior alone (`transitions`) and popularity, with 95% intervals,
#    McNemar and the slices; OUT/test-ranks.jsonl keeps every user's ranks for
#    scripts/compare-ranks.py.
# 4. With UNTUNED=1: the backbone without the adapter, with the chosen setting and alone, on
#    the same test users (OUT/untuned.json, OUT/untuned-ranks.jsonl), each compared user by
#    user with the adapter's.
#
# Finished stages are kept (OUT/valid.json, OUT/test.json) and each stage journals every
# user as it is evaluated (OUT/*-journal.jsonl), so an interrupted run is resumed where it
# stopped by running the script again.
set -euo pipefail
cd "$(dirname "$0")/.."

adapter=${1:?usage: adapter-eval.sh ADAPTER.gguf}
data=${DATA:-../shared/data/beauty}
out=${OUT:-out/eval}
settings=${SETTINGS:-alone,product:8,product:32,product:128,mixture:0.2,mixture:0.5}
grlm=${GRLM_BIN:-target/release/grlm}
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
new_items=()
[[ -n ${NEW_ITEMS:-} ]] && new_items=(--new-items "$NEW_ITEMS")
# The untuned backbone's run (UNTUNED=1) is the adapter's without --lora.
base=(--model "$model" --sequences "$data/sequences.txt" --seed 42 --jobs "${JOBS:-2}"
    --threads "${THREADS:-1}" --beams "${BEAMS:-20}" "${new_items[@]}")
run=("${base[@]}" --lora "$adapter")
mkdir -p "$out"

holdouts=(1 2)
[[ -n ${CHOSEN:-} ]] && holdouts=(1)
for holdout in "${holdouts[@]}"; do
    catalog=$out/$([[ $holdout == 1 ]] && echo test || echo valid).grlm
    [[ -f $catalog ]] || "$grlm" catalog build --items "$data/items.jsonl" --tids "$data/reference_tids.jsonl" \
        --model "$model" --sequences "$data/sequences.txt" --holdout "$holdout" "${new_items[@]}" \
        --out "$catalog" >&2
done

# The first setting is the run's own; the others ride along on its prompt.
# `product:λ:κ` and `mixture:β:κ` add the evidence scale κ (`--prior-evidence`), and a
# fused setting ending in `@N` N cold slots (`--cold-slots`).
flags_of() {
    local setting=$1 extra=
    if [[ $setting == *@* ]]; then
        extra=" --cold-slots ${setting##*@}"
        setting=${setting%@*}
    fi
    if [[ $setting == *:*:* ]]; then
        extra+=" --prior-evidence ${setting##*:}"
        setting=${setting%:*}
    fi
    case $setting in
        alone) echo "--prior-weight 0" ;;
        product:*) echo "--prior-weight ${setting#product:}$extra" ;;
        mixture:*) echo "--fusion mixture --model-share ${setting#mixture:}$extra" ;;
        *) echo "unknown setting $1" >&2; exit 1 ;;
    esac
}
first=${settings%%,*}
rest=${settings#"$first"}
rest=${rest#,}

if [[ -z ${CHOSEN:-} && ! -f $out/valid.json ]]; then
    echo "== validation: $settings on ${VALID_USERS:-500} users" >&2
    # shellcheck disable=SC2046 # the flags are words on purpose
    nice "$grlm" eval "${run[@]}" --catalog "$out/valid.grlm" --split valid --users "${VALID_USERS:-500}" \
        $(flags_of "$first") ${rest:+--also "$rest"} --baseline transitions \
        --ranks "$out/valid-ranks.jsonl" --journal "$out/valid-journal.jsonl" --summary "$out/valid.json.tmp"
    mv "$out/valid.json.tmp" "$out/valid.json"
fi

if [[ -z ${CHOSEN:-} && -n ${NEW_ITEMS:-} && ! -f $out/valid-new.json ]]; then
    echo "== validation, the new slice of ${NEW_VALID_USERS:-3000} users: $settings" >&2
    # shellcheck disable=SC2046
    nice "$grlm" eval "${run[@]}" --catalog "$out/valid.grlm" --split valid --users "${NEW_VALID_USERS:-3000}" \
        --slice new $(flags_of "$first") ${rest:+--also "$rest"} --baseline transitions \
        --ranks "$out/valid-new-ranks.jsonl" --journal "$out/valid-new-journal.jsonl" \
        --summary "$out/valid-new.json.tmp"
    mv "$out/valid-new.json.tmp" "$out/valid-new.json"
fi

if [[ -n ${CHOSEN:-} ]]; then
    flags_of "$CHOSEN" >/dev/null
    chosen=$CHOSEN
else
new_run=
[[ -n ${NEW_ITEMS:-} ]] && new_run=$out/valid-new.json
chosen=$(python3 - "$out/valid.json" "$settings" $new_run <<'PY'
import json, sys
summary, settings = json.load(open(sys.argv[1])), sys.argv[2].split(",")
new_run = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else None

def metrics(run, setting, part=None):
    """A setting's metrics in a run's summary, or in one of its slices."""
    if part is not None:
        return run["slices"][part]["model" if setting == settings[0] else setting]
    return run if setting == settings[0] else run["also"][setting]

def score(setting):
    m = metrics(summary, setting)
    if new_run is None:
        return m["recall@10"], m["ndcg@10"]
    share = new_run["users"] / new_run["sampled_users"]
    known, new = metrics(summary, setting, "known"), metrics(new_run, setting)
    return tuple((1 - share) * known[k] + share * new[k] for k in ("recall@10", "ndcg@10"))

scores = {s: score(s) for s in settings}
best = settings[0]
for s in settings:  # ties go to the setting listed first
    if scores[s] > scores[best]:
        best = s
for s in settings:
    m = metrics(summary, s)
    line = f"  {s:<14} R@10 {m['recall@10']:.4f}  N@10 {m['ndcg@10']:.4f}"
    if new_run is not None:
        known, new = metrics(summary, s, "known"), metrics(new_run, s)
        line += (f"  known R@10 {known['recall@10']:.4f}  new R@10 {new['recall@10']:.4f} ({new_run['users']} users)"
                 f"  stratified R@10 {scores[s][0]:.4f}  N@10 {scores[s][1]:.4f}")
    print(line + ("  <- chosen" if s == best else ""), file=sys.stderr)
print(best)
PY
)
fi
if [[ -n ${CHOSEN:-} ]]; then
    echo "== setting given, not validated here: $chosen" >&2
else
    echo "== validation chose $chosen" >&2
fi

# The model alone, then every TEST_ALSO setting, on the chosen setting's prompt.
also=
test_also=${TEST_ALSO:-}
for setting in alone ${test_also//,/ }; do
    flags_of "$setting" >/dev/null
    [[ $setting == "$chosen" || ,$also, == *,$setting,* ]] || also=${also:+$also,}$setting
done
if [[ ! -f $out/test.json ]]; then
    echo "== test: $chosen on ${TEST_USERS:-3000} users, with ${also:-nothing else} of the model, the prior alone and popularity" >&2
    # shellcheck disable=SC2046
    nice "$grlm" eval "${run[@]}" --catalog "$out/test.grlm" --split test --users "${TEST_USERS:-3000}" \
        $(flags_of "$chosen") ${also:+--also "$also"} --baseline popularity,transitions \
        --ranks "$out/test-ranks.jsonl" --journal "$out/test-journal.jsonl" --summary "$out/test.json.tmp"
    mv "$out/test.json.tmp" "$out/test.json"
fi
python3 - "$out/test.json" "$chosen" <<'PY'
import json, sys
s, chosen = json.load(open(sys.argv[1])), sys.argv[2]
rows = [(chosen, s)] + list(s.get("also", {}).items()) + list(s.get("baseline", {}).items())
print(f"test split, {s['users']} users (seed {s['seed']}), lora {s.get('lora')}")
print("| method | R@5 | R@10 (95%) | R@20 | N@5 | N@10 (95%) | N@20 |")
print("|---|---|---|---|---|---|---|")
for name, m in rows:
    r, n = m["ci95"]["recall@10"], m["ci95"]["ndcg@10"]
    print(f"| {name} | {m['recall@5']:.4f} | {m['recall@10']:.4f} ({r[0]:.4f}–{r[1]:.4f}) | {m['recall@20']:.4f} "
          f"| {m['ndcg@5']:.4f} | {m['ndcg@10']:.4f} ({n[0]:.4f}–{n[1]:.4f}) | {m['ndcg@20']:.4f} |")
for other, p in s.get("paired", {}).items():
    print(f"McNemar {chosen} vs {other} at 10: {p['only_run@10']} / {p['only_other@10']}, p = {p['mcnemar_p']:.4f}")
for slice_name, t in s.get("slices", {}).items():
    line = ", ".join(f"{chosen if k == 'model' else k} {v['recall@10']:.4f}"
                     for k, v in t.items() if isinstance(v, dict) and "recall@10" in v)
    print(f"{slice_name} ({t['users']} users) R@10: {line}")
PY

if [[ ${UNTUNED:-0} == 1 ]]; then
    if [[ ! -f $out/untuned.json ]]; then
        echo "== test: the untuned backbone, $chosen and alone, on the same ${TEST_USERS:-3000} users" >&2
        # shellcheck disable=SC2046
        nice "$grlm" eval "${base[@]}" --catalog "$out/test.grlm" --split test --users "${TEST_USERS:-3000}" \
            $(flags_of "$chosen") ${also:+--also "$also"} --ranks "$out/untuned-ranks.jsonl" \
            --journal "$out/untuned-journal.jsonl" --summary "$out/untuned.json.tmp" >&2
        mv "$out/untuned.json.tmp" "$out/untuned.json"
    fi
    # Without --also (the chosen setting is `alone`) the model alone's rank is the run's own.
    alone=rank
    [[ $chosen != alone ]] && alone=alone_rank
    echo
    echo "the adapter against the untuned backbone, the same users, $chosen:"
    python3 scripts/compare-ranks.py "adapter=$out/test-ranks.jsonl" "untuned=$out/untuned-ranks.jsonl" \
        "prior=$out/test-ranks.jsonl:transitions_rank"
    if [[ $chosen != alone ]]; then
        echo
        echo "alone:"
        python3 scripts/compare-ranks.py "adapter=$out/test-ranks.jsonl:$alone" "untuned=$out/untuned-ranks.jsonl:$alone"
    fi
fi
