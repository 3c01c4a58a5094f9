"""Tumbling and hopping windows: fixed-size windows aligned to the epoch, kept by start time.

State is `buckets[start][key] = accumulators`. A batch is added by one compiled loop (the time,
the key and the reducers written inline, as a person would write the loop by hand); windows
close when the watermark passes their end plus the allowed lateness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from pump.windows.aggregate import Aggregate
from pump.windows.extract import MAX_TIME, Extract

Bucket = dict[Hashable, list[Any]]
_NUMBER = {int, float}


class BadTime(ValueError):
    """An event time that is not a finite time."""


def _bad_time(t: Any) -> BadTime:
    return BadTime(
        f"event time {t!r} is out of range (not a finite time before the year 30,000,000)"
    )


class FixedWindows:
    """Tumbling (`hop == size`) or hopping (`hop < size`) windows over keyed accumulators."""

    def __init__(
        self,
        size: float,
        hop: float | None,
        aggregate: Aggregate,
        extract: Extract,
        lateness: float = 0.0,
        out_of_orderness: float = 0.0,
        track: bool = False,
    ) -> None:
        hop = size if hop is None else hop
        if not size > 0 or not hop > 0:
            raise ValueError(f"window size and hop must be positive, got {size} and {hop}")
        if hop > size:
            raise ValueError(f"hop ({hop}) must not be longer than the window ({size})")
        self.size = size
        self.hop = hop
        self.aggregate = aggregate
        self.lateness = lateness
        self.delay = out_of_orderness
        #: True: every (start, key) changed goes into the `touched` set of `add` (early results).
        self.track = track
        self._run = self._compile(extract)

    def windows_of(self, t: float) -> list[float]:
        """Starts of the windows that hold time `t`, newest first."""
        last = t - t % self.hop
        starts = []
        j = 0
        s = last
        while s > t - self.size:
            starts.append(s)
            j += 1
            s = last - j * self.hop
        return starts

    def add(
        self,
        buckets: dict[Any, Any],
        dirty: set[Any],
        events: list[Any],
        contexts: list[Any] | None,
        watermark: float,
        latest: float,
        cap: float = math.inf,
        now: float = 0.0,
        touched: set[Any] | None = None,
    ) -> tuple[float, float, list[int], dict[int, BaseException]]:
        """Add a batch of one partition to its windows `buckets` (start → key → accumulators;
        the starts of changed windows go into `dirty`). `latest` is the partition's latest
        event time so far, `cap` the lowest watermark of the other partitions. Returns
        (latest, watermark, indexes of late events, failed events by index)."""
        late: list[int] = []
        failed: dict[int, BaseException] = {}
        latest, watermark = self._run(
            events, contexts, buckets, dirty, late, failed, latest, watermark, cap, now, touched
        )
        return latest, watermark, late, failed

    def closable(self, buckets: dict[Any, Any], watermark: float) -> list[float]:
        """Starts of the windows complete at `watermark` (end + lateness ≤ watermark), oldest
        first (keys of `buckets` that are not numbers are skipped)."""
        edge = watermark - self.lateness - self.size
        return sorted(s for s in buckets if type(s) in _NUMBER and s <= edge)

    def rows(
        self, start: float, bucket: Bucket
    ) -> Iterator[tuple[Hashable, float, float, dict[str, Any]]]:
        """(key, start, end, results) of each key of a window."""
        results = self.aggregate.results
        end = start + self.size
        for key, accs in bucket.items():
            yield key, start, end, results(accs)

    # -- the compiled loop ----------------------------------------------------------------------

    def _compile(self, extract: Extract) -> Callable[..., tuple[float, float]]:
        ns: dict[str, Any] = dict(extract.namespace)
        ns.update(SIZE=self.size, HOP=self.hop, DELAY=self.delay, LS=self.lateness + self.size)
        ns.update(MAX_TIME=MAX_TIME, bad_time=_bad_time, nan=math.nan)
        reads, first, adds = self.aggregate.code(ns)
        body: list[str] = []
        if extract.uses_context:
            body.append("ctx = contexts[i]")
        body += extract.time_lines + extract.key_lines + reads
        if self.hop == self.size:
            # tumbling: one window per event; the current window's dict is kept at hand, and
            # the watermark is worked out only when the window changes: per event, a new
            # latest time is just compared with `edge`, the time that closes the window at hand
            body += [
                "if t > latest:",
                "    latest = t",
                "    if t >= edge:",
                "        if t >= MAX_TIME: raise bad_time(t)",
                "        last_s = nan",
                "s = t - t % SIZE",
                "if s != last_s:",
                "    if s != s: raise bad_time(t)",
                "    w = latest - DELAY",
                "    if w > cap: w = cap",
                "    if w > watermark: watermark = w",
                "    if s <= watermark - LS:",
                "        late.append(i)",
                "        continue",
                "    bucket = buckets.get(s)",
                "    if bucket is None: bucket = buckets[s] = {}",
                "    dirty.add(s)",
                "    last_s = s",
                "    e = s + LS",
                "    edge = e + DELAY if cap >= e else MAX_TIME",
                "    if edge > MAX_TIME: edge = MAX_TIME",
                "acc = bucket.get(k)",
                "if acc is None:",
                f"    bucket[k] = {first}",
                "else:",
                *("    " + line for line in adds),
                *(["touched.add((s, k))"] if self.track else []),
            ]
        else:
            # hopping: every window that holds t and is still open, newest first
            body += [
                "if t > latest:",
                "    if t >= MAX_TIME: raise bad_time(t)",
                "    latest = t",
                "    w = t - DELAY",
                "    if w > cap: w = cap",
                "    if w > watermark:",
                "        watermark = w",
                "        late_below = w - LS",
                "last = t - t % HOP",
                "if last != last: raise bad_time(t)",
                "if last <= late_below:",
                "    late.append(i)",
                "    continue",
                "s = last",
                "j = 0",
                "while s > t - SIZE and s > late_below:",
                "    bucket = buckets.get(s)",
                "    if bucket is None: bucket = buckets[s] = {}",
                "    dirty.add(s)",
                "    acc = bucket.get(k)",
                "    if acc is None:",
                f"        bucket[k] = {first}",
                "    else:",
                *("        " + line for line in adds),
                *(["    touched.add((s, k))"] if self.track else []),
                "    j += 1",
                "    s = last - j * HOP",
            ]
        lines = [
            "def run(events, contexts, buckets, dirty, late, failed, latest, watermark, cap, now,"
            " touched):",
            "    late_below = watermark - LS",
            "    last_s = nan",
            "    edge = MAX_TIME",
            "    bucket = None",
            *("    " + line for line in extract.setup_lines),
            "    for i in range(len(events)):",
            "        ev = events[i]",
            "        try:",
            *("            " + line for line in body),
            "        except Exception as exc:",
            "            failed[i] = exc",
            "    w = latest - DELAY",
            "    if w > cap: w = cap",
            "    if w > watermark: watermark = w",
            "    return latest, watermark",
        ]
        source = "\n".join(lines) + "\n"
        exec(compile(source, "<pump window loop>", "exec"), ns)
        self.source = source
        run: Callable[..., tuple[float, float]] = ns["run"]
        return run
