"""Shared helpers of the benchmarks: interleaved best-of-N timing and the closing JSON line."""

from __future__ import annotations

import argparse
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


def add_arguments(parser: argparse.ArgumentParser, contestants: list[str], rounds: int) -> None:
    """`--rounds` and `--only` (one contestant alone, e.g. under callgrind or perf)."""
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument(
        "--only",
        choices=contestants,
        help="run this contestant alone (no ratio): for instruction counts under callgrind",
    )


def interleave(contestants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each round runs every contestant once, in turn (so all see the same machine state).

    A contestant returns its events/s for that run; the result lists them per round.
    """
    rates: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, run in contestants.items():
            rates[name].append(run())
    return rates


def report(
    name: str,
    results: dict[str, float] | dict[str, list[float]],
    reference: str,
    subject: str,
    **extra: Any,
) -> None:
    """Print one line per contestant (the best rate), then the JSON summary as the last line.

    Given per-round rates (from `interleave`), the spread is shown too: each contestant's
    slowest..fastest round and the ratio of every round's pair, lowest..highest.
    """
    rounds = {k: v if isinstance(v, list) else [v] for k, v in results.items()}
    best = {k: max(v) for k, v in rounds.items()}
    for key, rates in rounds.items():
        spread = f"  (rounds {min(rates):,.0f}..{max(rates):,.0f})" if len(rates) > 1 else ""
        print(f"{name}: {key:<28} {best[key]:>14,.0f} events/s{spread}")
    summary: dict[str, Any] = {"bench": name, **{f"{k}_eps": round(v) for k, v in best.items()}}
    if subject in best and reference in best:
        ratio = best[subject] / best[reference]
        pairs = [s / r for s, r in zip(rounds[subject], rounds[reference], strict=False)]
        print(
            f"{name}: ratio {subject}/{reference} = {ratio:.3f} (best of each; per round "
            f"{min(pairs):.3f}..{max(pairs):.3f})"
        )
        summary["ratio"] = round(ratio, 3)
        if len(pairs) > 1:
            summary["ratio_rounds"] = [round(min(pairs), 3), round(max(pairs), 3)]
    summary.update(python=platform.python_version(), **extra)
    print(json.dumps(summary))
