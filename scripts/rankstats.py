"""What the quality scripts compute from per-user ranks (`grlm eval --ranks`): hits and
gains at a cut-off, Wilson's 95% interval for a recall, a normal interval for a mean gain,
and McNemar's exact test of two methods on the same users."""
import math


def hit(rank, k):
    return rank is not None and rank <= k


def gain(rank, k):
    return 1 / math.log2(rank + 1) if hit(rank, k) else 0.0


def wilson(hits, n, z=1.959963984540054):
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values, z=1.959963984540054):
    n = len(values)
    mean = sum(values) / n
    var = max(0.0, sum(v * v for v in values) / n - mean * mean)
    half = z * math.sqrt(var / n)
    return mean, max(0.0, mean - half), mean + half


def mcnemar(a, b):
    n = a + b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a, b) + 1)) / 2**n
    return min(1.0, 2 * tail)
