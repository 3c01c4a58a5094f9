"""Shared helpers of the benchmarks: best-of-N timing and the closing JSON line."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from typing import Any


def best_rate(run: Callable[[], int], rounds: int) -> float:
    """Run `run` (returns how many events it handled) `rounds` times; the best events/s."""
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        count = run()
        best = max(best, count / (time.perf_counter() - start))
    return best


def report(name: str, results: dict[str, float], reference: str, subject: str, **extra: Any) -> None:
    """Print one line per measurement, then the JSON summary as the last line."""
    for key, rate in results.items():
        print(f"{name}: {key:<28} {rate:>14,.0f} events/s")
    ratio = results[subject] / results[reference]
    print(f"{name}: ratio {subject}/{reference} = {ratio:.3f}")
    summary = {
        "bench": name,
        **{f"{k}_eps": round(v) for k, v in results.items()},
        "ratio": round(ratio, 3),
        "python": platform.python_version(),
        **extra,
    }
    print(json.dumps(summary))
