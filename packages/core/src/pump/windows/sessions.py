"""Session windows: per key, runs of events with less than `gap` between neighbours.

An event at time t opens the window [t, t + gap); windows of one key that overlap merge into
one (their accumulators merged). A session [start, last + gap) is complete when the watermark
passes its end plus the allowed lateness; an event whose session (after merging) would already
be complete is late.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

from pump.windows.aggregate import Aggregate
from pump.windows.extract import MAX_TIME, Extract
from pump.windows.fixed import _bad_time

# a session: [start (first event time), last event time, accumulators]
Session = list[Any]


class SessionWindows:
    """Open sessions per key, and when each may end."""

    def __init__(
        self,
        gap: float,
        aggregate: Aggregate,
        extract: Extract,
        lateness: float = 0.0,
        out_of_orderness: float = 0.0,
        sessions: dict[Any, Any] | None = None,
        dirty: set[Any] | None = None,
    ) -> None:
        if not gap > 0:
            raise ValueError(f"session gap must be positive, got {gap}")
        self.gap = gap
        self.aggregate = aggregate
        self.lateness = lateness
        self.delay = out_of_orderness
        self.extract = extract
        #: Key → its open sessions, by start (other keys of a shared dict are not touched).
        self.sessions: dict[Any, Any] = {}
        #: Keys whose sessions changed since `dirty` was last cleared (for checkpoints).
        self.dirty: set[Any] = set() if dirty is None else dirty
        # (end, key) of every extension; stale entries are skipped when popped
        self._ends: list[tuple[float, int, Hashable]] = []
        self._seq = 0
        #: When set, keys changed go into it too (early results).
        self.touched: set[Any] | None = None
        self._read = self._compile(extract)
        if sessions is not None:
            self.restore(sessions)

    def spawn(self, sessions: dict[Any, Any], dirty: set[Any]) -> SessionWindows:
        """The same windows over other state (another partition's), sharing the compiled code."""
        other = object.__new__(SessionWindows)
        other.__dict__.update(self.__dict__)
        other.dirty = dirty
        other._ends = []
        other._seq = 0
        other.restore(sessions)
        return other

    def add(
        self,
        events: list[Any],
        contexts: Sequence[Any] | None,
        watermark: float,
        latest: float,
        cap: float = math.inf,
        now: float = 0.0,
    ) -> tuple[float, float, list[int], dict[int, BaseException]]:
        """As FixedWindows.add."""
        late: list[int] = []
        failed: dict[int, BaseException] = {}
        aggregate = self.aggregate
        edge = watermark - self.lateness  # a session ending at or before it is complete
        for i, (t, k, ev) in enumerate(self._read(events, contexts, failed, now)):
            if ev is None:
                continue
            try:
                if t >= MAX_TIME or t != t or t == -math.inf:
                    raise _bad_time(t)
                if not self._put(k, t, ev, edge, aggregate):
                    late.append(i)
                    continue
            except Exception as exc:
                failed[i] = exc
                continue
            if t > latest:
                latest = t
                w = min(t - self.delay, cap)
                if w > watermark:
                    watermark = w
                    edge = w - self.lateness
        return latest, watermark, late, failed

    def _put(self, key: Hashable, t: float, event: Any, edge: float, aggregate: Aggregate) -> bool:
        """Add the event to its key's sessions (merging them); False if it is late."""
        gap = self.gap
        sessions = self.sessions.get(key)
        if sessions is None:
            if t + gap <= edge:
                return False
            self.sessions[key] = [[t, t, aggregate.first(event, t)]]
            self._expire_at(t + gap, key)
            self.dirty.add(key)
            if self.touched is not None:
                self.touched.add(key)
            return True
        # open sessions overlapping [t, t + gap): start - gap < t < last + gap; one complete
        # already is never joined, even before it is emitted (results must not depend on
        # when a batch ended)
        touching = [s for s in sessions if s[0] - gap < t < s[1] + gap and s[1] + gap > edge]
        if not touching:
            if t + gap <= edge:
                return False
            sessions.append([t, t, aggregate.first(event, t)])
            sessions.sort(key=_start)
            self._expire_at(t + gap, key)
            self.dirty.add(key)
            if self.touched is not None:
                self.touched.add(key)
            return True
        start = min(t, touching[0][0])
        last = max(t, max(s[1] for s in touching))
        if last + gap <= edge:
            return False
        values = aggregate.read(event, t)  # first: a missing field changes nothing
        accs = touching[0][2]
        for other in touching[1:]:
            accs = aggregate.merge(accs, other[2])
        aggregate.apply(accs, values)  # the new event last, as it came last
        merged = [start, last, accs]
        if len(touching) == 1:
            touching[0][:] = merged
        else:
            ids = {id(s) for s in touching}
            sessions[:] = sorted([s for s in sessions if id(s) not in ids] + [merged], key=_start)
        self._expire_at(last + gap, key)
        self.dirty.add(key)
        if self.touched is not None:
            self.touched.add(key)
        return True

    def _expire_at(self, end: float, key: Hashable) -> None:
        self._seq += 1
        heapq.heappush(self._ends, (end, self._seq, key))

    def closable(self, watermark: float) -> list[tuple[Hashable, Session]]:
        """Remove and return the sessions complete at `watermark`, by end."""
        edge = watermark - self.lateness
        ends = self._ends
        out: list[tuple[float, Hashable, Session]] = []
        while ends and ends[0][0] <= edge:
            _, _, key = heapq.heappop(ends)
            sessions = self.sessions.get(key)
            if not sessions:
                continue
            done = [s for s in sessions if s[1] + self.gap <= edge]
            if not done:
                continue
            left = [s for s in sessions if s[1] + self.gap > edge]
            if left:
                self.sessions[key] = left
            else:
                del self.sessions[key]
            self.dirty.add(key)
            out += [(s[1] + self.gap, key, s) for s in done]
        out.sort(key=lambda row: row[0])
        return [(key, s) for _, key, s in out]

    def rows(
        self, closed: list[tuple[Hashable, Session]]
    ) -> Iterator[tuple[Hashable, float, float, dict[str, Any]]]:
        """(key, start, end, results) of closed sessions."""
        results = self.aggregate.results
        for key, (start, last, accs) in closed:
            yield key, start, last + self.gap, results(accs)

    def restore(self, sessions: dict[Any, Any]) -> None:
        """Use `sessions` (key → open sessions; restored from a checkpoint)."""
        self.sessions = sessions
        self._ends = []
        for key, items in sessions.items():
            if not isinstance(items, list):
                continue  # not a key's sessions (the partition's latest time)
            for s in items:
                self._expire_at(s[1] + self.gap, key)

    # -- reading time and key -------------------------------------------------------------------

    def _compile(self, extract: Extract) -> Callable[..., Iterator[tuple[Any, Any, Any]]]:
        ns: dict[str, Any] = dict(extract.namespace)
        body = (["ctx = contexts[i]"] if extract.uses_context else []) + extract.time_lines
        body += extract.key_lines
        lines = [
            "def read(events, contexts, failed, now):",
            *("    " + line for line in extract.setup_lines),
            "    for i in range(len(events)):",
            "        ev = events[i]",
            "        try:",
            *("            " + line for line in body),
            "            hash(k)",
            "        except Exception as exc:",
            "            failed[i] = exc",
            "            yield None, None, None",
            "            continue",
            "        yield t, k, ev",
        ]
        exec(compile("\n".join(lines) + "\n", "<pump session read>", "exec"), ns)
        read: Callable[..., Iterator[tuple[Any, Any, Any]]] = ns["read"]
        return read


def _start(session: Session) -> float:
    return float(session[0])
