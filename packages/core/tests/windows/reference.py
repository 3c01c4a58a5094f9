"""Brute-force window semantics, written from the definitions (no accumulators, no merging
shortcuts): the reference the window engines are compared with."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

# event: (t, key, value); results per window: dict of reducer outputs over its events

#: (ts, user, amount) of events out of order: 9 and 8 come after 12 and 13.
DISORDERED = [(1, "a", 5), (3, "a", 7), (12, "a", 1), (9, "a", 100), (13, "b", 2), (8, "a", 3)]


def amounts(rows: list[tuple[float, str, Any]]) -> list[dict[str, Any]]:
    """Events `{"ts", "user", "amount"}` of (ts, user, amount) rows."""
    return [{"ts": t, "user": u, "amount": a} for t, u, a in rows]


def reduce_events(events: list[tuple[int, float, Any, Any]], limit: int) -> dict[str, Any]:
    """The reference reducers over (arrival, t, key, value) tuples of one window."""
    values = [e[3] for e in events]
    by_time = sorted(events, key=lambda e: (e[1], e[0]))
    first = by_time[0]
    # last: the latest time, of equal times the last to arrive
    last = max(events, key=lambda e: (e[1], e[0]))
    counts = Counter(values)
    top = max(counts, key=lambda v: (counts[v], -values.index(v)))
    return {
        "count": len(events),
        "sum": sum(values),
        "min": min(values),
        "max": max(values),
        "mean": sum(values) / len(values),
        "first": first[3],
        "last": last[3],
        "collect": values[:limit],
        "distinct": len(set(values)),
        "top": top,
        "histogram": dict(counts),
    }


def fixed_reference(
    stream: list[tuple[float, Any, Any]],
    size: float,
    hop: float,
    delay: float,
    lateness: float,
    cap: float = math.inf,
) -> tuple[dict[tuple[Any, float], list[tuple[int, float, Any, Any]]], int]:
    """Windows (key, start) → their events, and the number of late events; `cap` is the
    watermark of other partitions (the watermark never passes it)."""
    windows: dict[tuple[Any, float], list[tuple[int, float, Any, Any]]] = {}
    watermark = -math.inf
    late = 0
    for arrival, (t, key, value) in enumerate(stream):
        # every aligned start s with s <= t < s + size
        starts = []
        s = math.floor(t / hop) * hop
        while s > t - size:
            starts.append(s)
            s -= hop
        open_starts = [s for s in starts if s + size + lateness > watermark]
        if not open_starts:
            late += 1
        for s in open_starts:
            windows.setdefault((key, s), []).append((arrival, t, key, value))
        watermark = max(watermark, min(t - delay, cap))
    return windows, late


def session_reference(
    stream: list[tuple[float, Any, Any]], gap: float, delay: float, lateness: float
) -> tuple[list[tuple[Any, float, float, list[tuple[int, float, Any, Any]]]], int]:
    """Sessions (key, start, end, events) and the number of late events."""
    closed: list[tuple[Any, float, float, list[Any]]] = []
    open_: dict[Any, list[list[Any]]] = {}  # key → sessions as lists of events
    watermark = -math.inf
    late = 0

    def end(session: list[Any]) -> float:
        return max(e[1] for e in session) + gap

    for arrival, (t, key, value) in enumerate(stream):
        edge = watermark - lateness
        # sessions complete by now are closed for good
        for k in list(open_):
            keep = []
            for s in open_[k]:
                if end(s) <= edge:
                    closed.append((k, min(e[1] for e in s), end(s), s))
                else:
                    keep.append(s)
            open_[k] = keep
        event = (arrival, t, key, value)
        sessions = open_.setdefault(key, [])
        touching = [s for s in sessions if min(e[1] for e in s) - gap < t < end(s)]
        merged = sorted([event] + [e for s in touching for e in s], key=lambda e: e[0])
        if end(merged) <= edge:
            late += 1
        else:
            open_[key] = [s for s in sessions if all(s is not x for x in touching)] + [merged]
        watermark = max(watermark, t - delay)
    for k, sessions in open_.items():
        for s in sessions:
            closed.append((k, min(e[1] for e in s), end(s), s))
    return closed, late
