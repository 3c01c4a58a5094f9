"""Watermarks: how far event time has surely come, per source partition and combined.

The partitions counted are the source's: those it was assigned (`assign`, with the latest
time their restored state holds, or NEVER), and any other that delivers (a source without
partitions delivers in partition ""). A revoked partition leaves (`revoke`).

Each partition's watermark is its latest event time minus the allowed disorder
(`out_of_orderness`). The combined watermark is the lowest of the partitions that are not idle:
a partition is idle once it delivered nothing for `idle_timeout` seconds (processing time)
since it was assigned or last delivered, unless its source says events of it are waiting
(`backlog`: held up by a busy pipeline, they are not silence). So an assigned partition that
has not delivered yet holds the watermark back until it delivers or goes idle. When all are
idle, the highest counts (nothing is on its way). While the partitions stay the same it never
goes back: a partition that comes back from idleness with older times finds its events late
instead. An assigned partition that is behind takes it back to its own (its events are not
late because others got further).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable

NEVER = -math.inf


class Watermarks:
    """Per-partition latest event times and the combined watermark derived from them."""

    __slots__ = ("backlog", "delay", "idle_timeout", "latest", "seen", "value")

    def __init__(
        self,
        out_of_orderness: float = 0.0,
        idle_timeout: float = 0.0,
        backlog: Callable[[Hashable], bool] | None = None,
    ) -> None:
        self.delay = out_of_orderness
        #: Seconds of silence after which a partition is idle (0: never).
        self.idle_timeout = idle_timeout
        #: Whether events of a partition wait in its source (then it is not idle).
        self.backlog = backlog
        #: Per partition counted: the latest event time seen (NEVER: none yet).
        self.latest: dict[Hashable, float] = {}
        #: Per partition counted: the processing time it was assigned or last delivered at.
        self.seen: dict[Hashable, float] = {}
        #: The combined watermark: windows ending at or before it are complete.
        self.value = NEVER

    def assign(self, partition: Hashable, latest: float, now: float) -> None:
        """`partition` is the source's from processing time `now`; `latest` is the latest event
        time it delivered before (restored state; NEVER: none). It holds the watermark back
        until it delivers or goes idle; one behind the watermark takes it back."""
        known = self.latest.get(partition, NEVER)
        if known > latest:
            latest = known
        self.latest[partition] = latest
        self.seen[partition] = now
        if latest - self.delay < self.value:
            self.value = latest - self.delay

    def revoke(self, partition: Hashable, now: float) -> float:
        """`partition` is no longer the source's: it holds nothing back; returns the combined
        watermark after it."""
        self.latest.pop(partition, None)
        self.seen.pop(partition, None)
        return self.advance(now)

    def others(self, partition: Hashable, now: float) -> float:
        """The lowest watermark of the active partitions other than `partition` (inf: none)."""
        low = math.inf
        timeout = self.idle_timeout
        delay = self.delay
        for other, latest in self.latest.items():
            if other == partition:
                continue
            if timeout and now - self.seen[other] >= timeout and self._idle(other, now):
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
            if timeout and now - self.seen[partition] >= timeout and self._idle(partition, now):
                continue
            if latest < low:
                low = latest
        if low == math.inf and self.latest:
            # every partition is idle: nothing is on its way, the most advanced one counts
            low = max(self.latest.values())
        if low != math.inf and low - self.delay > self.value:
            self.value = low - self.delay
        return self.value

    def _idle(self, partition: Hashable, now: float) -> bool:
        """`partition`, silent for the idle timeout: idle unless events of it wait."""
        backlog = self.backlog
        if backlog is not None and backlog(partition):
            self.seen[partition] = now  # not silence: look again after another timeout
            return False
        return True
