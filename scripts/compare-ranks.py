#!/usr/bin/env python3
"""Recall@K and NDCG@K with 95% intervals for each method of `grlm eval --ranks` files of the
same users, and McNemar's exact test of every method against the first one's.

    scripts/compare-ranks.py [--k 10] [--slice new|known|seen|unseen] NAME=RANKS.jsonl[:FIELD] ...

FIELD is the rank field to read (`rank`, the default, or `popularity_rank`,
`transitions_rank`); e.g. `ours=a.jsonl reference=b.jsonl prior=b.jsonl:transitions_rank`.
--slice keeps the users of one slice, read from the first file's `new` (runs with
--new-items) or `seen` (runs with a prior) field.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rankstats import gain, hit, mcnemar, mean_interval, wilson  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--k", type=int, default=10)
parser.add_argument("--slice", choices=["new", "known", "seen", "unseen"])
parser.add_argument("methods", nargs="+")
args = parser.parse_args()

methods = []
for spec in args.methods:
    name, _, source = spec.partition("=")
    path, _, field = source.partition(":")
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    methods.append((name, {(r["user"], r["target"]): r[field or "rank"] for r in rows}))

users = set(methods[0][1])
if args.slice:
    field, wanted = {"new": ("new", True), "known": ("new", False),
                     "seen": ("seen", True), "unseen": ("seen", False)}[args.slice]
    with open(args.methods[0].partition("=")[2].partition(":")[0]) as f:
        rows = [json.loads(line) for line in f]
    if any(field not in r for r in rows):
        sys.exit(f"--slice {args.slice}: the first file has no `{field}` field")
    keep = {(r["user"], r["target"]) for r in rows if r[field] == wanted}
    methods = [(name, {u: r for u, r in ranks.items() if u in keep}) for name, ranks in methods]
    users = keep
for name, ranks in methods[1:]:
    if set(ranks) != users:
        sys.exit(f"{name}: not the same users as {methods[0][0]}")
users = sorted(users)
if not users:
    sys.exit("no users to compare" + (f" in the {args.slice} slice" if args.slice else ""))
k = args.k
print(f"{len(users)} users\n")
print(f"| method | R@{k} (95% interval) | N@{k} (95% interval) | McNemar @{k} against {methods[0][0]} (only / only, p) |")
print("|---|---|---|---|")
first = methods[0][1]
for name, ranks in methods:
    hits = sum(hit(ranks[u], k) for u in users)
    lo, hi = wilson(hits, len(users))
    mean, nlo, nhi = mean_interval([gain(ranks[u], k) for u in users])
    test = ""
    if ranks is not first:
        a = sum(hit(ranks[u], k) and not hit(first[u], k) for u in users)
        b = sum(hit(first[u], k) and not hit(ranks[u], k) for u in users)
        test = f"{a} / {b}, p = {mcnemar(a, b):.2f}"
    print(f"| {name} | {hits / len(users):.4f} ({lo:.4f}–{hi:.4f}) | {mean:.4f} ({nlo:.4f}–{nhi:.4f}) | {test} |")
