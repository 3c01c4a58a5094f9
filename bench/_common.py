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


class Clock:
    """Wall time and CPU time (this process, every thread) of a `with` block."""

    wall = 0.0
    cpu = 0.0

    def __enter__(self) -> Clock:
        self.wall, self.cpu = -time.perf_counter(), -time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()


def interleave(
    contestants: dict[str, Callable[[], tuple[int, Clock]]],
    rounds: int,
    fewer: dict[str, int] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each round runs every contestant once, in turn (so all see the same machine state).

    A contestant returns how many events it handled and the Clock of its timed part; the
    result is each one's events/s per round by wall time, and by CPU time. A contestant named
    in `fewer` (name → rounds) runs in that many of the first rounds only (a slow reference).
    """
    wall: dict[str, list[float]] = {name: [] for name in contestants}
    cpu: dict[str, list[float]] = {name: [] for name in contestants}
    for round_ in range(rounds):
        for name, run in contestants.items():
            if fewer and round_ >= fewer.get(name, rounds):
                continue
            events, clock = run()
            wall[name].append(events / clock.wall)
            cpu[name].append(events / max(clock.cpu, 1e-9))
    return wall, cpu


def report(
    name: str,
    results: dict[str, float] | dict[str, list[float]],
    reference: str,
    subject: str,
    cpu: dict[str, list[float]] | None = None,
    **extra: Any,
) -> None:
    """Print one line per contestant (the best rate), then the JSON summary as the last line.

    Given per-round rates (from `interleave`), the spread is shown too: each contestant's
    slowest..fastest round and the ratio of every round's pair, lowest..highest. With `cpu`
    (rates by CPU time), the ratio by CPU time is shown as well: on a busy machine it is the
    steadier figure, and it is what the wall-time ratio becomes where no core is left over
    for pump's worker threads.
    """
    rounds = {k: v if isinstance(v, list) else [v] for k, v in results.items()}
    best = {k: max(v) for k, v in rounds.items()}
    for key, rates in rounds.items():
        spread = f"  (rounds {min(rates):,.0f}..{max(rates):,.0f})" if len(rates) > 1 else ""
        by_cpu = f"; by CPU time {max(cpu[key]):,.0f}/s" if cpu else ""
        print(f"{name}: {key:<28} {best[key]:>14,.0f} events/s{spread}{by_cpu}")
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
        if cpu:
            cpu_ratio = max(cpu[subject]) / max(cpu[reference])
            cpu_pairs = [s / r for s, r in zip(cpu[subject], cpu[reference], strict=False)]
            print(
                f"{name}: ratio {subject}/{reference} by CPU time = {cpu_ratio:.3f} (per round "
                f"{min(cpu_pairs):.3f}..{max(cpu_pairs):.3f})"
            )
            summary["cpu_ratio"] = round(cpu_ratio, 3)
            if len(cpu_pairs) > 1:
                summary["cpu_ratio_rounds"] = [round(min(cpu_pairs), 3), round(max(cpu_pairs), 3)]
    summary.update(python=platform.python_version(), **extra)
    print(json.dumps(summary))
