#!/usr/bin/env python3
"""A seeded choice of new items for the new-items protocol: a share of the catalogue's items
(those with a TID), drawn uniformly, one id a line in ascending order, for `grlm catalog
build --new-items`, `grlm-train sft --new-items` and `grlm eval --new-items`.

    scripts/new-items.py [--share 0.1] [--seed 42] TIDS.jsonl > new-items.txt

The same file and seed give the same list on every machine (Python's Mersenne Twister,
seeded with an integer, draws the same sample everywhere). Each drawn item keeps its TID and
its place in the token trie; the log is then read as if nobody had bought it before the
held-out items, so it is new in the sense that matters: the counts know nothing of it.
"""
import argparse
import json
import random
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("tids", help="the catalogue's TIDs, one JSON object with an `item` a line")
parser.add_argument("--share", type=float, default=0.1, help="share of items drawn (0, 1)")
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()
if not 0.0 < args.share < 1.0:
    sys.exit(f"--share {args.share} is outside (0, 1)")

items = set()
with open(args.tids, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            items.add(int(json.loads(line)["item"]))
        except (ValueError, KeyError, TypeError) as e:
            sys.exit(f"{args.tids}:{number}: not a TID line with an `item` ({e})")
if not items:
    sys.exit(f"{args.tids}: no items")

chosen = random.Random(args.seed).sample(sorted(items), max(1, round(len(items) * args.share)))
print(f"# {len(chosen)} of {len(items)} items of {args.tids}, share {args.share}, seed {args.seed}")
for item in sorted(chosen):
    print(item)
