#!/usr/bin/env python3
"""The summary of a quality run (scripts/quality-run.sh) as Markdown: the validation sweep of
the prior's weight, the test metrics of every method with 95% intervals, McNemar's exact test
of the pairs that matter, and recall@10 on the users whose target a transition from the
history reaches ("seen") and on the rest ("unseen").

    scripts/quality-summary.py OUT WEIGHT...
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rankstats import gain, hit, mcnemar, mean_interval, wilson  # noqa: E402

out, weights = sys.argv[1], sys.argv[2:]


def done(name):
    return os.path.exists(f"{out}/{name}.json")


def load(name):
    with open(f"{out}/{name}.json") as f:
        return json.load(f)


def ranks(name):
    with open(f"{out}/ranks-{name}.jsonl") as f:
        return [json.loads(line) for line in f]


def cell(name, key):
    return f"{load(name)[key]:.4f}" if done(name) else "not run"


print(f"# Quality run: {out}\n")

# The sweep.
print("## Validation: the prior's weight λ\n")
base = load("sweep-untuned-0")
print(f"{base['users']} users, seed 42, validation split (catalogue with validation and test targets held out).\n")
print("| λ | untuned R@10 | untuned N@10 | tuned R@10 | tuned N@10 |")
print("|---|---|---|---|---|")
for w in ["0"] + weights:
    u, t = f"sweep-untuned-{w}", f"sweep-tuned-{w}"
    print(f"| {w} | {cell(u, 'recall@10')} | {cell(u, 'ndcg@10')} | {cell(t, 'recall@10')} | {cell(t, 'ndcg@10')} |")
for name in ("transitions", "popularity"):
    b = base["baseline"][name]
    label = "prior alone" if name == "transitions" else name
    print(f"| {label} | {b['recall@10']:.4f} | {b['ndcg@10']:.4f} | | |")

for w in weights:
    if done(f"sweep-tuned-{w}-beams10"):
        e = load(f"sweep-tuned-{w}-beams10")
        print(f"\nThe tuned model fused at λ {w} with 10 beams instead of 20: R@10 {e['recall@10']:.4f}, "
              f"N@10 {e['ndcg@10']:.4f} (20 beams: {cell(f'sweep-tuned-{w}', 'recall@10')}, "
              f"{cell(f'sweep-tuned-{w}', 'ndcg@10')}).")

# The test split, from the per-user ranks, so that every method is on the same users.
untuned = ranks("test-untuned")
methods = [
    ("popularity", [r["popularity_rank"] for r in untuned]),
    ("prior alone", [r["transitions_rank"] for r in untuned]),
    ("untuned LLM", [r["rank"] for r in untuned]),
]
users = [r["user"] for r in untuned]
missing = []
for run, label in (("test-tuned", "tuned LLM"), ("test-fused-untuned", "fused untuned"),
                   ("test-fused-tuned", "fused tuned")):
    if not done(run):
        missing.append(f"{label} ({run})")
        continue
    if run.startswith("test-fused"):
        label = f"{label} (λ {load(run)['prior_weight']})"
    assert [r["user"] for r in ranks(run)] == users, f"{run}: different users"
    methods.append((label, [r["rank"] for r in ranks(run)]))
n = len(users)
print(f"\n## Test: {n} users, seed 42\n")
if missing:
    print("Not run yet: " + ", ".join(missing) + ".\n")
print("| method | R@5 | R@10 (95% interval) | R@20 | N@5 | N@10 (95% interval) | N@20 |")
print("|---|---|---|---|---|---|---|")
for name, rs in methods:
    r10 = sum(hit(r, 10) for r in rs)
    lo, hi = wilson(r10, n)
    n10, nlo, nhi = mean_interval([gain(r, 10) for r in rs])
    cells = [
        f"{sum(hit(r, 5) for r in rs) / n:.4f}",
        f"{r10 / n:.4f} ({lo:.4f}–{hi:.4f})",
        f"{sum(hit(r, 20) for r in rs) / n:.4f}",
        f"{sum(gain(r, 5) for r in rs) / n:.4f}",
        f"{n10:.4f} ({nlo:.4f}–{nhi:.4f})",
        f"{sum(gain(r, 20) for r in rs) / n:.4f}",
    ]
    print(f"| {name} | " + " | ".join(cells) + " |")

print("\n## Paired: McNemar's exact test (users only the first hits / only the second, p)\n")
by_name = dict(methods)
fused = [name for name, _ in methods if name.startswith("fused")]
pairs = [(name, "prior alone") for name in fused]
if "tuned LLM" in by_name:
    pairs.append(("tuned LLM", "untuned LLM"))
if len(fused) == 2:
    pairs.append((fused[1], fused[0]))
print("| first | second | @5 | @10 | @20 |")
print("|---|---|---|---|---|")
for a, b in pairs:
    cells = []
    for k in (5, 10, 20):
        only_a = sum(hit(x, k) and not hit(y, k) for x, y in zip(by_name[a], by_name[b]))
        only_b = sum(hit(y, k) and not hit(x, k) for x, y in zip(by_name[a], by_name[b]))
        cells.append(f"{only_a} / {only_b}, p = {mcnemar(only_a, only_b):.3f}")
    print(f"| {a} | {b} | " + " | ".join(cells) + " |")

print("\n## Recall@10 where the counts know the target and where they do not\n")
seen = [r.get("seen") for r in untuned]
print("| method | seen | unseen |")
print("|---|---|---|")
n_seen = sum(1 for s in seen if s)
n_unseen = sum(1 for s in seen if s is False)
print(f"| users | {n_seen} | {n_unseen} |")
for name, rs in methods:
    s = sum(hit(r, 10) for r, f in zip(rs, seen) if f) / max(n_seen, 1)
    u = sum(hit(r, 10) for r, f in zip(rs, seen) if f is False) / max(n_unseen, 1)
    print(f"| {name} | {s:.4f} | {u:.4f} |")
