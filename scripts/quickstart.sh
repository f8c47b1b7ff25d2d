#!/usr/bin/env bash
# From a public dataset to recommendations, on the engine's own backbone: fetch MovieLens-100K
# (it ships inside the PyPI wheel recbole==1.2.1), write Term IDs for the most-rated movies
# with `grlm-train terms`, build the catalogue with the collaborative prior of the ratings,
# recommend for a sample user, with titles, and evaluate popularity, the prior alone and the
# backbone fused with the prior on the same users.
#
#   ./scripts/quickstart.sh [MOVIES]    (default 200: the 200 most-rated of 1,682 movies)
#
# Needs the release build and the default backbone (scripts/setup.sh runs this after both).
# A subset keeps it to about a quarter of an hour on two cores: the untuned 135M backbone
# writes about one TID per second, and the evaluation takes about 6 s a user. Idempotent:
# finished steps are kept, and an interrupted TID run resumes.
set -euo pipefail
cd "$(dirname "$0")/.."

movies=${1:-200}
model=${GRLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
out=out/ml-100k
wheel_version=1.2.1
wheel_sha=9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407
mkdir -p "$out"

if [[ ! -f $out/ml-100k.item || ! -f $out/ml-100k.inter ]]; then
    echo "== fetch MovieLens-100K (recbole==$wheel_version from PyPI)"
    tmp=$(mktemp -d "$out/.fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "recbole==$wheel_version --hash=sha256:$wheel_sha" >"$tmp/req.txt"
    python3 -m pip download --quiet --no-deps --require-hashes -r "$tmp/req.txt" -d "$tmp"
    python3 - "$tmp" <<'PY'
import glob, sys, zipfile
tmp = sys.argv[1]
(wheel,) = glob.glob(f"{tmp}/*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in ("ml-100k.item", "ml-100k.inter"):
        with z.open(f"recbole/dataset_example/ml-100k/{name}") as src, open(f"{tmp}/{name}", "wb") as dst:
            dst.write(src.read())
PY
    mv "$tmp/ml-100k.item" "$tmp/ml-100k.inter" "$out/"
fi

echo "== items.jsonl and sequences.txt for the $movies most-rated movies"
python3 - "$out" "$movies" <<'PY'
import collections, json, os, sys
out, movies = sys.argv[1], int(sys.argv[2])

def rows(name):
    with open(f"{out}/{name}", encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            yield dict(zip(header, line.rstrip("\n").split("\t")))

ratings = [(int(r["user_id:token"]), int(r["item_id:token"]), float(r["timestamp:float"]))
           for r in rows("ml-100k.inter")]
counts = collections.Counter(item for _, item, _ in ratings)
kept = {item for item, _ in sorted(counts.items(), key=lambda c: (-c[1], c[0]))[:movies]}

def write(name, lines):
    # Beside the destination, then renamed: an interrupted run leaves the old file or none.
    with open(f"{out}/{name}.tmp", "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(f"{out}/{name}.tmp", f"{out}/{name}")

items = []
for r in rows("ml-100k.item"):
    item = int(r["item_id:token"])
    if item in kept:
        title = f'{r["movie_title:token_seq"]} ({r["release_year:token"]})'
        genres = r["class:token_seq"].split()
        items.append(json.dumps({"item": item, "title": title, "categories": [["Movies"] + genres]}) + "\n")
write("items.jsonl", items)

# Each user's rated movies of the subset, oldest first: the history a recommender sees.
history = collections.defaultdict(list)
for user, item, ts in sorted(ratings, key=lambda r: (r[0], r[2], r[1])):
    if item in kept:
        history[user].append(item)
write("sequences.txt", [f"{u} {' '.join(map(str, its))}\n" for u, its in sorted(history.items()) if len(its) >= 5])
print(f"{len(items)} movies, {sum(len(h) >= 5 for h in history.values())} users")
PY

if [[ ! -f $out/tids.jsonl ]]; then
    echo "== Term IDs for $movies movies with the backbone (grlm-train terms; about 1 movie/s on 2 cores)"
    resume=()
    [[ -f $out/tids.jsonl.partial ]] && resume=(--resume)
    target/release/grlm-train terms --items "$out/items.jsonl" --model "$model" --out "$out/tids.jsonl" "${resume[@]}"
fi
target/release/grlm-train terms-stats "$out/tids.jsonl" --json

echo "== the catalogue, with the backbone's token trie and the prior of the ratings (each user's last movie held out)"
target/release/grlm catalog build --items "$out/items.jsonl" --tids "$out/tids.jsonl" --out "$out/movies.grlm" \
    --model "$model" --sequences "$out/sequences.txt" --holdout 1

# A sample user: the first with at least 11 movies; the last one is held out.
read -r user history target < <(awk 'NF >= 12 {
    h = ""; for (i = NF - 10; i < NF; i++) h = h (h == "" ? "" : ",") $i
    print $1, h, $NF; exit }' "$out/sequences.txt")
echo "== user $user watched (oldest first; movie $target, held out, came next):"
python3 - "$out/items.jsonl" "$history" "$target" <<'PY'
import json, sys
titles = {}
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        row = json.loads(line)
        titles[row["item"]] = row["title"]
for item in sys.argv[2].split(","):
    print(f"   {titles[int(item)]}")
print(f"   (next: {titles[int(sys.argv[3])]})")
PY
echo "== recommended for user $user (the backbone fused with the prior)"
target/release/grlm recommend --model "$model" --catalog "$out/movies.grlm" --history "$history" -k 10

users=${QUICKSTART_USERS:-100}
echo "== leave-one-out on $users users: popularity, the prior alone, the backbone fused with it"
target/release/grlm eval --model "$model" --catalog "$out/movies.grlm" --sequences "$out/sequences.txt" \
    --users "$users" --baseline popularity,transitions --json >"$out/eval.json"
python3 - "$out/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
rows = [("popularity", e["baseline"]["popularity"]), ("prior alone", e["baseline"]["transitions"]),
        (f"fused (weight {e['prior_weight']})", e)]
print(f"   {e['users']} users   {'R@10':>6} {'95% interval':>16} {'N@10':>7}")
for name, m in rows:
    lo, hi = m["ci95"]["recall@10"]
    print(f"   {name:<22} {m['recall@10']:.3f}   [{lo:.3f}, {hi:.3f}]   {m['ndcg@10']:.3f}")
PY
