"""Watermarks: how far event time has surely come, per source partition and combined.

Each partition's watermark is the latest event time it delivered minus the allowed disorder
(`out_of_orderness`). The combined watermark is the lowest of the partitions' that delivered
something within `idle_timeout` seconds (processing time): a partition that went quiet stops
holding the others back; when all are quiet, the highest counts (nothing is on its way). It
never goes back: a partition that comes back with older times finds its events late instead.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

NEVER = -math.inf


class Watermarks:
    """Per-partition maximum event times and the combined watermark derived from them."""

    __slots__ = ("delay", "idle_timeout", "latest", "seen", "value")

    def __init__(self, out_of_orderness: float = 0.0, idle_timeout: float = 0.0) -> None:
        self.delay = out_of_orderness
        #: Seconds of silence after which a partition is idle (0: never).
        self.idle_timeout = idle_timeout
        #: Per partition: the latest event time seen.
        self.latest: dict[Hashable, float] = {}
        #: Per partition: the processing time it last delivered at.
        self.seen: dict[Hashable, float] = {}
        #: The combined watermark: windows ending at or before it are complete.
        self.value = NEVER

    def others(self, partition: Hashable, now: float) -> float:
        """The lowest watermark of the active partitions other than `partition` (inf: none)."""
        low = math.inf
        timeout = self.idle_timeout
        delay = self.delay
        for other, latest in self.latest.items():
            if other == partition or (timeout and now - self.seen[other] >= timeout):
                continue
            if latest - delay < low:
                low = latest - delay
        return low

    def observe(self, partition: Hashable, latest: float, now: float) -> float:
        """`partition` delivered events up to `latest` at processing time `now`; returns the
        combined watermark after it."""
        if latest > self.latest.get(partition, NEVER):
            self.latest[partition] = latest
        self.seen[partition] = now
        return self.advance(now)

    def advance(self, now: float) -> float:
        """Recompute the combined watermark (idle partitions may have let it move)."""
        low = math.inf
        timeout = self.idle_timeout
        for partition, latest in self.latest.items():
            if timeout and now - self.seen[partition] >= timeout:
                continue
            if latest < low:
                low = latest
        if low == math.inf and self.latest:
            # every partition is idle: nothing is on its way, the most advanced one counts
            low = max(self.latest.values())
        if low != math.inf and low - self.delay > self.value:
            self.value = low - self.delay
        return self.value

    def forget(self, partition: Hashable) -> None:
        """The partition is gone (revoked): it no longer holds the watermark back."""
        self.latest.pop(partition, None)
        self.seen.pop(partition, None)
