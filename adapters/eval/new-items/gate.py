#!/usr/bin/env python3
"""A cold slot that opens only where the model is surer of its cold pick than of the item
the pick would push out: open when pick − pushed ≥ m, both the model's own log-probability
of the item's TID. Weighed after the run from `grlm eval --ranks … --lists` with the
product without slots as the run's own list (`run`) and `--also product:32@1`: the pick is
the @1 list's last item where the @0 list lacks it, the pushed-out item the @0 list's last.
A user's gated list is the @1 list where the slot opens and the @0 list where it does not.

    python3 adapters/eval/new-items/gate.py RANKS.jsonl              # every margin
    python3 adapters/eval/new-items/gate.py RANKS.jsonl --margin M   # one, with McNemar

The margin is chosen on validation: the middle of the widest range of margins with the
highest R@10 (then N@10), so that it sits as far as it can from the users that decide it.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts"))
from rankstats import gain, hit, mcnemar, wilson  # noqa: E402

SLOT = "product:32@1"


def rank(items, target):
    return next((i + 1 for i, (item, _) in enumerate(items) if item == target), None)


def read(path):
    """Per user: its target, the @0 and @1 lists, the new flag and the pick's margin over
    the item it pushes out (None when the slot pushes nothing out or picks nothing)."""
    users = []
    with open(path) as f:
        for line in f:
            # A journal (`--journal`) wraps each line in `outcome`, after a header.
            r = json.loads(line)
            r = r.get("outcome", r)
            if "lists" not in r:
                continue
            plain, slotted = r["lists"]["run"], r["lists"][SLOT]
            # The pick ends the @1 list (its prior mass is the smallest there is) and pushes
            # out the @0 list's last item; the two searches may also order the head a
            # little differently, as two runs of llama.cpp's batches do.
            fresh = slotted and plain and slotted[-1][0] not in {i for i, _ in plain}
            margin = slotted[-1][1] - plain[-1][1] if fresh and len(plain) == len(slotted) else None
            users.append({
                "new": r.get("new", False),
                "plain": rank(plain, r["target"]),
                "slotted": rank(slotted, r["target"]),
                "margin": margin,
            })
    return users


def opens(u, m):
    return u["margin"] is not None and u["margin"] >= m


def gated(u, m):
    return u["slotted"] if opens(u, m) else u["plain"]


def summary(users, ranks, k=10):
    hits = sum(hit(r, k) for r in ranks)
    lo, hi = wilson(hits, len(users))
    ndcg = sum(gain(r, k) for r in ranks) / len(users)
    return hits, hits / len(users), lo, hi, ndcg


def table(users):
    """R@10 and N@10 for each range of margins that gives the same lists: rows of (low,
    high, R@10, N@10, share of users with the slot open), the slot open where margin ≥ m
    for any m in (low, high]."""
    cuts = sorted({u["margin"] for u in users if u["margin"] is not None
                   and (hit(u["plain"], 10), gain(u["plain"], 10)) != (hit(u["slotted"], 10), gain(u["slotted"], 10))})
    bounds = [-math.inf] + cuts + [math.inf]
    rows = []
    for low, high in zip(bounds, bounds[1:]):
        ranks = [gated(u, high) for u in users]
        _, r10, _, _, n10 = summary(users, ranks)
        opened = sum(opens(u, high) for u in users) / len(users)
        rows.append((low, high, r10, n10, opened))
    return rows


def choose(users):
    """The middle of the widest range of margins with the best (R@10, N@10); a range open
    at one end is taken to reach 1 nat past its finite end."""
    rows = table(users)
    best = max((r10, n10) for _, _, r10, n10, _ in rows)
    ranges = []
    for low, high, r10, n10, _ in rows:
        if (r10, n10) != best:
            continue
        if low == -math.inf and high == math.inf:
            low, high = -0.5, 0.5
        elif low == -math.inf:
            low = high - 1
        elif high == math.inf:
            high = low + 1
        ranges.append((high - low, low, high))
    _, low, high = max(ranges)
    return (low + high) / 2, rows


def report(users, m):
    for name, keep in [("all", lambda u: True), ("known", lambda u: not u["new"]), ("new", lambda u: u["new"])]:
        group = [u for u in users if keep(u)]
        if not group:
            continue
        line = [f"{name} ({len(group)})"]
        for label, ranks in [("gated", [gated(u, m) for u in group]),
                             ("@0", [u["plain"] for u in group]),
                             ("@1", [u["slotted"] for u in group])]:
            hits, r10, lo, hi, n10 = summary(group, ranks)
            line.append(f"{label} R@10 {r10:.4f} ({lo:.4f}–{hi:.4f}) N@10 {n10:.4f} [{hits}]")
        print("; ".join(line))
        g = [hit(gated(u, m), 10) for u in group]
        for label, key in [("@0", "plain"), ("@1", "slotted")]:
            other = [hit(u[key], 10) for u in group]
            wins = sum(a and not b for a, b in zip(g, other))
            losses = sum(b and not a for a, b in zip(g, other))
            print(f"    gated vs {label}: {wins} won / {losses} lost, McNemar p = {mcnemar(wins, losses):.3g}")
    opened = sum(opens(u, m) for u in users)
    print(f"slot open for {opened} of {len(users)} users ({opened / len(users):.3f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ranks")
    parser.add_argument("--margin", type=float, help="report this margin instead of choosing one")
    args = parser.parse_args()
    users = read(args.ranks)
    if args.margin is None:
        m, rows = choose(users)
        print("| margin m in | R@10 | N@10 | slot open |")
        print("|---|---|---|---|")
        for low, high, r10, n10, opened in rows:
            print(f"| ({low:.3f}, {high:.3f}] | {r10:.4f} | {n10:.4f} | {opened:.3f} |")
        deciding = sorted((u["margin"], u["new"], u["plain"], u["slotted"]) for u in users
                          if u["margin"] is not None and u["plain"] != u["slotted"])
        print("users the slot moves (margin, new, @0 rank, @1 rank):",
              ", ".join(f"{d:.3f} {'new' if n else 'known'} {a} {b}" for d, n, a, b in deciding))
        print(f"chosen margin: {m:.3f}")
    else:
        m = args.margin
    report(users, m)


if __name__ == "__main__":
    main()
