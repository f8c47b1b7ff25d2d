#!/usr/bin/env bash
# TIDs for items a model never saw, written into the catalogue of the others, measured
# against the reference TIDs and (optionally) downstream. The items of NEW_ITEMS.txt are
# the new ones; every other item of DATA keeps its reference TID and makes the catalogue
# whose words the new TIDs may use (`grlm-train terms --catalog`).
#
#   ./scripts/new-item-tids.sh NEW_ITEMS.txt NAME [ADAPTER.gguf]   (NAME `reference`: the
#       reference TIDs themselves, for the downstream run's baseline; environment: DATA
#       [../shared/data/beauty], OUT [out/new-tids], THREADS [2], GRLM_BIN
#       [target/release/grlm], GRLM_TRAIN_BIN [target/release/grlm-train], GRLM_MODEL
#       [models/SmolLM2-135M-Instruct.Q4_1.gguf], USERS [none: no downstream run; N: the
#       new slice of the N-user test sample (seed 42), as adapter-eval.sh draws it, ranked
#       alone and with SETTING], LORA [none: the adapter the downstream run recommends with,
#       whoever wrote the TIDs], BEAMS [20], SETTING [alone; or a fused setting as `grlm
#       eval --also` takes it, e.g. `mixture:0.5@2`])
#
# Writes, under OUT:
#   known-items.jsonl, known-tids.jsonl, known.grlm   the catalogue the new items join
#   new-items.jsonl, new-reference.jsonl              the new items and their reference TIDs
#   NAME.jsonl                                        their written TIDs (resumed if stopped)
#   NAME-stats.json                                   terms-stats against the reference
#   NAME-test.grlm                                    the whole catalogue with NAME's TIDs
#                                                     for the new items (prior: --holdout 1)
#   NAME-slice.json, NAME-slice-ranks.jsonl           with USERS: `grlm eval --slice new`
#
# Each finished file is kept, so the script resumes where it stopped when run again.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: new-item-tids.sh NEW_ITEMS.txt NAME [ADAPTER.gguf]"
new_items=${1:?$usage}
name=${2:?$usage}
adapter=${3:-}
data=${DATA:-../shared/data/beauty}
out=${OUT:-out/new-tids}
grlm=${GRLM_BIN:-target/release/grlm}
train=${GRLM_TRAIN_BIN:-target/release/grlm-train}
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
mkdir -p "$out"

if [[ ! -f $out/new-reference.jsonl ]]; then
    python3 - "$new_items" "$data" "$out" <<'PY'
import json, os, sys
listed, data, out = sys.argv[1:]
new = {int(l) for l in open(listed) if l.strip() and not l.lstrip().startswith("#")}
for source, known_name, new_name in [("items.jsonl", "known-items.jsonl", "new-items.jsonl"),
                                     ("reference_tids.jsonl", "known-tids.jsonl", "new-reference.jsonl")]:
    with open(os.path.join(data, source)) as f, open(os.path.join(out, known_name + ".tmp"), "w") as known, \
            open(os.path.join(out, new_name + ".tmp"), "w") as fresh:
        for line in f:
            if line.strip():
                (fresh if json.loads(line)["item"] in new else known).write(line)
for name in ["known-items.jsonl", "known-tids.jsonl", "new-items.jsonl", "new-reference.jsonl"]:
    os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
PY
fi
[[ -f $out/known.grlm ]] || "$grlm" catalog build --items "$out/known-items.jsonl" --tids "$out/known-tids.jsonl" \
    --model "$model" --out "$out/known.grlm" >&2

writer=()
[[ -n $adapter ]] && writer=(--lora "$adapter")
if [[ $name == reference && ! -f $out/$name.jsonl ]]; then
    cp "$out/new-reference.jsonl" "$out/$name.jsonl"
elif [[ ! -f $out/$name.jsonl ]]; then
    resume=()
    [[ -f $out/$name.jsonl.partial ]] && resume=(--resume)
    echo "== $name: TIDs of $(wc -l <"$out/new-items.jsonl") new items" >&2
    nice "$train" terms --items "$out/new-items.jsonl" --model "$model" "${writer[@]}" --catalog "$out/known.grlm" \
        --threads "${THREADS:-2}" --out "$out/$name.jsonl" "${resume[@]}" >&2
fi
[[ -f $out/$name-stats.json ]] || "$train" terms-stats "$out/$name.jsonl" --items "$out/new-items.jsonl" \
    --reference "$out/new-reference.jsonl" --json >"$out/$name-stats.json"

if [[ ! -f $out/$name-test.grlm ]]; then
    cat "$out/known-tids.jsonl" "$out/$name.jsonl" >"$out/$name-tids.jsonl"
    "$grlm" catalog build --items "$data/items.jsonl" --tids "$out/$name-tids.jsonl" --model "$model" \
        --sequences "$data/sequences.txt" --holdout 1 --new-items "$new_items" --out "$out/$name-test.grlm" >&2
fi

if [[ -n ${USERS:-} && ! -f $out/$name-slice.json ]]; then
    setting=${SETTING:-alone}
    # The model alone is the run's own method; SETTING rides along (`grlm eval --also`).
    also=()
    [[ $setting == alone ]] || also=(--also "$setting")
    echo "== $name: the new slice of $USERS test users, $setting" >&2
    lora=()
    [[ -n ${LORA:-} ]] && lora=(--lora "$LORA")
    nice "$grlm" eval --model "$model" "${lora[@]}" --catalog "$out/$name-test.grlm" \
        --sequences "$data/sequences.txt" --split test --users "$USERS" --seed 42 --slice new \
        --new-items "$new_items" --jobs 2 --threads 1 --beams "${BEAMS:-20}" --prior-weight 0 "${also[@]}" --baseline transitions \
        --ranks "$out/$name-slice-ranks.jsonl" --journal "$out/$name-slice-journal.jsonl" \
        --summary "$out/$name-slice.json.tmp" >&2
    mv "$out/$name-slice.json.tmp" "$out/$name-slice.json"
fi
# One line to read: agreement with the reference, how the TIDs read beside the reference's,
# and TIDs equal to a known item's (the catalogue's TIDs are not part of the run's
# collision resolution, so such a TID names two items).
python3 - "$out" "$name" <<'PY'
import json, os, sys
out, name = sys.argv[1:]
s = json.load(open(os.path.join(out, f"{name}-stats.json")))
tids = lambda f: {tuple(json.loads(l)["terms"]) for l in open(os.path.join(out, f)) if l.strip()}
taken = len(tids(f"{name}.jsonl") & tids("known-tids.jsonl"))
p, r, a = s["properties"], s["reference_properties"], s["reference"]
print(f"{name}: {s['items']} items, valid {s['validity']:.3f}, unique TIDs {s['unique_tids']}, "
      f"equal to a known item's {taken}; reference agreement >=1 {a['share_at_least_1']:.3f}, "
      f">=3 {a['share_at_least_3']:.3f}, exact {a['exact']:.3f}, mean shared {a['mean_shared_terms']:.2f}; "
      f"own-text terms {p['terms_in_own_text']:.3f} (reference {r['terms_in_own_text']:.3f}), "
      f"borrowed words {p['borrowed_words']:.3f} ({r['borrowed_words']:.3f}), "
      f"breaking rules {p['breaking_rules']:.3f} ({r['breaking_rules']:.3f}), "
      f"words per term {p['words_per_term']:.2f} ({r['words_per_term']:.2f})")
PY
