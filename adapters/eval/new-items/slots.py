#!/usr/bin/env python3
"""Cold slots on Beauty's validation split, from the runs in this folder: what N slots cost
the known slice (a slot takes one of the last N places, so a known target the product ranks
there drops out: valid-known-ranks.jsonl, the product without slots on the 2,709 known
users of the 3,000-user sample) and what they find on the new slice (valid-new-ranks.jsonl,
its 291 users), optionally only for histories whose window reaches fewer than T items
(valid-successors.jsonl: `grlm eval --mode prior` on the same 3,000 users). The stratified
R@10 weighs each slice by its share of the sample.

    python3 adapters/eval/new-items/slots.py
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "..", "scripts"))
from rankstats import hit  # noqa: E402


def lines(name):
    with open(os.path.join(here, name)) as f:
        return [json.loads(line) for line in f]


reach = {(r["user"], r["target"]): r["successors"] for r in lines("valid-successors.jsonl")}
new, known = lines("valid-new-ranks.jsonl"), lines("valid-known-ranks.jsonl")
share = len(new) / (len(new) + len(known))
known_r10 = sum(hit(r["rank"], 10) for r in known) / len(known)
print(f"known {len(known)} users, R@10 without slots {known_r10:.4f}; new {len(new)} users; "
      f"stratified R@10 without slots {(1 - share) * known_r10:.4f}")
print("| slots | only below T successors | histories | known cost | new hits | stratified R@10 |")
print("|---|---|---|---|---|---|")
for n in [1, 2, 3]:
    for t in [10, 20, 50, 100, 200, None]:
        below = lambda successors: t is None or successors < t  # noqa: E731
        opens = lambda r: below(reach[(r["user"], r["target"])])  # noqa: E731
        cost = sum(1 for r in known if r["rank"] is not None and r["rank"] > 10 - n and opens(r))
        found = sum(1 for r in new if hit(r[f"product:32@{n}_rank"], 10) and opens(r))
        opened = sum(1 for s in reach.values() if below(s)) / len(reach)
        strat = (1 - share) * (known_r10 - cost / len(known)) + share * found / len(new)
        print(f"| {n} | {t or 'any'} | {opened:.3f} | {cost} | {found} | {strat:.4f} |")
