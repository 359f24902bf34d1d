"""A tiny benchmark harness: run a callable many times, print medians as ``bench:`` lines.

Each figure is printed as ``bench: NAME VALUE UNIT`` so runs can be compared over time
(``make bench | grep '^bench:'``). Medians and p90 of repeated runs, after a warm-up, keep
machine noise out of the comparison.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def report(name: str, value: float, unit: str) -> None:
    """Print one figure in the project's benchmark line format."""
    print(f"bench: {name} {value:.4g} {unit}", flush=True)


def measure(name: str, fn: Callable[[], object], *, repeat: int = 30, warmup: int = 3) -> float:
    """Time ``fn`` ``repeat`` times; print p50 and p90 in milliseconds; return p50 (ms)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    samples.sort()
    p50 = statistics.median(samples)
    p90 = samples[min(len(samples) - 1, int(0.9 * len(samples)))]
    report(f"{name}.p50", p50, "ms")
    report(f"{name}.p90", p90, "ms")
    return p50
